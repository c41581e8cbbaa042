"""Secrets in watched files: a changed password is reported as changed, and
neither its old nor its new value appears in any report format, the facts
file, the baseline's files, `baseline diff` or `baseline restore`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diagnose.state import confdiff
from tests.conftest import run_cli
from tests.rigs import baseline as rig

OLD, NEW = "Fxo-Trunk-7731", "Changed-By-Site-42"
AMI_OLD, AMI_NEW = "ami-S3cret-1", "ami-S3cret-2"
VM_PIN = "90210"
PJSIP = f"""\
[trunk-auth]
type=auth
auth_type=userpass
username=office
password={OLD}

[trunk]
type=endpoint
outbound_auth=trunk-auth
; old: password=Legacy-Pw-0001
"""
MANAGER = f"[general]\nenabled=yes\n\n[cc-monitor]\nsecret = {AMI_OLD} ; AMI user of the wallboard\nread=agent\n"
VOICEMAIL = f"[default]\n101 => {VM_PIN},Support desk,support@example.org\n"
SECRETS = (OLD, NEW, AMI_OLD, AMI_NEW, VM_PIN, "Legacy-Pw-0001")


@pytest.fixture
def site(tmp_path):
    root = rig.make_tree(tmp_path / "tree")
    ast = root / "etc/asterisk"
    (ast / "pjsip.conf").write_text(PJSIP)
    (ast / "manager.conf").write_text(MANAGER)
    (ast / "voicemail.conf").write_text(VOICEMAIL)
    cfg = rig.config(tmp_path, root)
    env = {"DIAGNOSE_STATE_DIR": str(tmp_path / "state")}

    def cli(*args: str):
        return run_cli(*args, "--config", str(cfg), "--root", str(root), env=env)

    assert cli("baseline", "record", "--by", "integrator").returncode == 0
    rig.backdate(tmp_path / "state", 3600)
    return root, cli, tmp_path


def leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def test_a_changed_secret_is_reported_as_changed_and_never_shown(site):
    root, cli, tmp = site
    ctime = rig.edit(root / "etc/asterisk/pjsip.conf", f"password={OLD}", f"password={NEW}")
    rig.edit(root / "etc/asterisk/manager.conf", AMI_OLD, AMI_NEW)
    rig.write_wtmp(root, [("petr", "pts/2", ctime - 100, None)])
    outputs = {}
    for fmt in ("text", "json", "html", "junit", "nagios", "prometheus"):
        out = cli("run", "--only", "config.drift", "--format", fmt, "-v", "--save-facts", str(tmp / f"facts-{fmt}.json"))
        assert out.returncode == 1, out.stderr
        outputs[fmt] = out.stdout + out.stderr
        assert not leaks(outputs[fmt]), fmt
        assert not leaks((tmp / f"facts-{fmt}.json").read_text()), fmt
    report = json.loads(outputs["json"])
    f = {x["subject"]: x for x in report["findings"]}["/etc/asterisk/pjsip.conf"]
    (change,) = f["evidence"]["changes"]
    assert (change["section"], change["key"], change["secret"]) == ("trunk-auth", "password", True)
    # what the judge wrote, or the report's own redaction of a secret key's pair
    assert change["baseline"] in ("(secret)", "***") and change["current"] in ("(secret, changed)", "***")
    assert "secret password changed in [trunk-auth]" in f["title"]
    assert "kept only as a digest" in f["remedy"]
    m = {x["subject"]: x for x in report["findings"]}["/etc/asterisk/manager.conf"]
    assert m["evidence"]["changes"][0]["key"] == "secret"
    diff = cli("baseline", "diff")
    assert diff.returncode == 1 and "password=(secret)" in diff.stdout
    assert not leaks(diff.stdout + diff.stderr)
    for p in (tmp / "state").rglob("*"):
        if p.is_file():
            assert not leaks(p.read_bytes().decode("utf-8", "replace")), p
    assert oct((tmp / "state/baseline").stat().st_mode & 0o777) == "0o700"


def test_restore_brings_back_an_unchanged_secret_and_keeps_a_changed_one(site):
    root, cli, _ = site
    pj = root / "etc/asterisk/pjsip.conf"
    accepted = pj.read_bytes()
    rig.edit(pj, "username=office", "username=office2")
    out = cli("baseline", "restore", "/etc/asterisk/pjsip.conf", "--yes")
    assert out.returncode == 0 and not leaks(out.stdout)
    assert pj.read_bytes() == accepted  # the unchanged password came from the current file
    rig.edit(pj, f"password={OLD}", f"password={NEW}")
    rig.edit(pj, "username=office", "username=office3")
    out = cli("baseline", "restore", "/etc/asterisk/pjsip.conf", "--yes")
    assert out.returncode == 0 and not leaks(out.stdout)
    assert "[trunk-auth] password" in out.stdout and "set them back by hand" in out.stdout
    text = pj.read_text()
    assert "username=office\n" in text and f"password={NEW}" in text


def test_redaction_of_the_usual_places():
    salt = b"k" * 32
    text = ("[101]\nsecret=abc123\nmd5secret = 0f1e2d\nremotesecret=zzz ; peer\n"
            "url = mysql://cc:DbPass99@10.0.0.5/cc\npsk=wifi-pass\n;password=commented-out\n"
            "context=from-internal\n")
    red, n = confdiff.redact(text, salt)
    assert n == 6
    for s in ("abc123", "0f1e2d", "zzz", "DbPass99", "wifi-pass", "commented-out"):
        assert s not in red
    assert "context=from-internal" in red and "; peer" in red
    assert confdiff.redact(text, salt) == (red, n)  # same key, same digests
    assert confdiff.redact(text, b"other" * 8)[0] != red
    assert confdiff.is_secret_file("/etc/shadow") and confdiff.is_secret_file("/etc/asterisk/keys/srv.key")
    assert not confdiff.is_secret_file("/etc/asterisk/sip.conf")


def test_a_secret_file_keeps_only_its_digest(tmp_path):
    from diagnose.host import Host
    from diagnose.state.snapshot import snapshot

    (tmp_path / "etc").mkdir()
    Path(tmp_path / "etc/shadow").write_text("ivan:$6$salt$hash:19000:0:99999:7:::\n")
    snap, text = snapshot(Host(str(tmp_path)), "/etc/shadow", b"k" * 32, {}, {})
    assert text is None and snap["kind"] == "secret-file" and len(snap["sha256"]) == 64
