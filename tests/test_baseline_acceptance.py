"""The acceptance scenarios of the baseline: record on a recorded tree, change
settings the way a person would, and read what config.drift says about
what changed, when, who did it and how to put it back. The real CLI runs
on a tree under tmp_path; the state directory is a tmp dir too."""

from __future__ import annotations

import json
import os
import re

import pytest

from tests.conftest import needs_root, run_cli
from tests.rigs import baseline as rig

DAHDI = "/etc/asterisk/chan_dahdi.conf"
QUEUES = "/etc/asterisk/queues.conf"


@pytest.fixture
def site(tmp_path):
    root = rig.make_tree(tmp_path / "tree")
    cfg = rig.config(tmp_path, root)
    env = {"DIAGNOSE_STATE_DIR": str(tmp_path / "state")}

    def cli(*args: str):
        return run_cli(*args, "--config", str(cfg), "--root", str(root), env=env)

    rec = cli("baseline", "record", "--by", "integrator", "--note", "acceptance on site")
    assert rec.returncode == 0, rec.stderr
    assert "recorded baseline" in rec.stdout
    facts_line = [ln for ln in rec.stdout.splitlines() if ln.strip().startswith("facts:")][0]
    assert "audio.settings" not in facts_line  # a server: workstation checks do not apply
    rig.backdate(tmp_path / "state", 3600)
    return root, cli, tmp_path


def drift(cli) -> tuple[int, dict[str, dict]]:
    out = cli("run", "--only", "config.drift", "--format", "json")
    assert out.returncode in (0, 1, 2), out.stderr
    report = json.loads(out.stdout)
    return out.returncode, {f["subject"]: f for f in report["findings"]}


def change_both(root):
    c1 = rig.edit(root / "etc/asterisk/chan_dahdi.conf", "rxgain=0.0", "rxgain=9.5")
    c2 = rig.edit(root / "etc/asterisk/queues.conf", "strategy=ringall", "strategy=linear")
    return min(c1, c2), max(c1, c2)


def test_a_local_users_change_is_a_site_fault_with_the_accepted_value(site):
    root, cli, _ = site
    first, last = change_both(root)
    rig.write_wtmp(root, [("ivan", "pts/0", first - 900, None)])
    rig.append(root / "var/log/auth.log",
               rig.sudo_line(first - 60, "ivan", f"/usr/bin/vim {DAHDI}") +
               rig.sudo_line(first - 30, "ivan", "/usr/bin/nano queues.conf", pwd="/etc/asterisk"))
    code, found = drift(cli)
    assert code == 1
    d = found[DAHDI]
    assert d["status"] == "warn" and d["fault"] == "site"
    assert d["evidence"]["changes"] == [{"section": "channels", "key": "rxgain", "baseline": "0.0",
                                         "current": "9.5"}]
    assert "rxgain 0.0 -> 9.5 in [channels]" in d["title"] and "by ivan" in d["title"]
    by = d["evidence"]["changed_by"]
    assert (by["actor"], by["kind"], by["confidence"]) == ("ivan", "local", "high")
    assert {s["source"] for s in by["sources"] if s["result"] == "found"} >= {"sudo", "sessions"}
    assert "Changed on site after acceptance" in d["detail"]
    assert "[channels] rxgain = 0.0 (now 9.5)" in d["remedy"]
    assert f"diagnose baseline restore {DAHDI}" in d["remedy"]
    q = found[QUEUES]
    assert q["fault"] == "site" and q["evidence"]["changed_by"]["actor"] == "ivan"
    assert q["evidence"]["changes"] == [{"section": "support", "key": "strategy", "baseline": "ringall",
                                         "current": "linear"}]
    assert "[support] strategy = ringall (now linear)" in q["remedy"]
    assert d["evidence"]["changed_at"]["ctime"]


def test_no_session_and_no_sudo_line_is_undetermined_saying_what_was_missing(site):
    root, cli, _ = site
    change_both(root)
    code, found = drift(cli)
    d = found[DAHDI]
    assert d["fault"] == "undetermined"
    by = d["evidence"]["changed_by"]
    assert by["actor"] is None and by["kind"] == "unknown" and by["confidence"] == "low"
    assert "auditd" in d["detail"] and "auditctl -w /etc/asterisk -p wa" in d["detail"]
    looked = {s["source"]: s["result"] for s in by["sources"]}
    assert looked["sudo"] == "unavailable" and looked["sessions"] == "unavailable"


def test_the_installers_change_is_software(site):
    root, cli, _ = site
    first, _ = change_both(root)
    rig.write_wtmp(root, [("integrator", "pts/1", first - 300, first + 300)])
    rig.append(root / "var/log/auth.log", rig.sudo_line(first - 20, "integrator", f"/usr/bin/vi {DAHDI}",
                                                          pwd="/home/integrator", tty="pts/1"))
    _, found = drift(cli)
    d = found[DAHDI]
    assert d["fault"] == "software"
    assert d["evidence"]["changed_by"]["kind"] == "installer"
    # queues.conf: no sudo line, one session open (the installer's): medium.
    q = found[QUEUES]["evidence"]["changed_by"]
    assert (q["actor"], q["kind"], q["confidence"]) == ("integrator", "installer", "medium")


@needs_root
def test_restore_yes_puts_the_accepted_bytes_back_and_keeps_the_replaced_file(site):
    root, cli, _ = site
    path = root / "etc/asterisk/chan_dahdi.conf"
    accepted = path.read_bytes()
    change_both(root)
    os.chown(path, 1001, 1001)  # ivan's editor left the file as his
    os.chmod(path, 0o664)
    changed = path.read_bytes()
    out = cli("baseline", "restore", DAHDI, "--yes")
    assert out.returncode == 0, out.stderr
    assert "-rxgain=0.0" in out.stdout and "+rxgain=9.5" in out.stdout
    assert path.read_bytes() == accepted
    st = path.stat()
    assert oct(st.st_mode & 0o777) == "0o640" and (st.st_uid, st.st_gid) == (0, 0)
    copies = list(path.parent.glob("chan_dahdi.conf.replaced-*"))
    assert len(copies) == 1 and copies[0].read_bytes() == changed
    _, found = drift(cli)
    assert DAHDI not in found and QUEUES in found


def test_restore_asks_and_a_no_changes_nothing(site):
    root, cli, _ = site
    change_both(root)
    before = (root / "etc/asterisk/queues.conf").read_bytes()
    out = run_cli("baseline", "restore", QUEUES, "--config", str(site[2] / "site.toml"), "--root", str(root),
                  env={"DIAGNOSE_STATE_DIR": str(site[2] / "state")})
    assert out.returncode == 1 and "not restored" in out.stdout
    assert (root / "etc/asterisk/queues.conf").read_bytes() == before


def test_accept_makes_the_change_the_new_baseline(site):
    root, cli, _ = site
    change_both(root)
    out = cli("baseline", "accept", QUEUES, "--by", "petr", "--why", "linear ringing approved by the manager")
    assert out.returncode == 0, out.stderr
    _, found = drift(cli)
    assert QUEUES not in found and DAHDI in found
    show = json.loads(cli("baseline", "show", "--format", "json").stdout)
    assert len(show["recordings"]) == 2
    cur = [r for r in show["recordings"] if r["current"]][0]
    assert (cur["kind"], cur["by"], cur["target"]) == ("accept", "petr", QUEUES)


def test_without_a_baseline_the_check_is_skipped_with_the_command(tmp_path):
    root = rig.make_tree(tmp_path / "tree")
    cfg = rig.config(tmp_path, root)
    out = run_cli("run", "--only", "config.drift", "--format", "json", "--config", str(cfg), "--root", str(root),
                  env={"DIAGNOSE_STATE_DIR": str(tmp_path / "state")})
    check = json.loads(out.stdout)["checks"][0]
    assert check["status"] == "skip"
    assert "diagnose baseline record --by NAME" in check["skipped"] and str(root) in check["skipped"]


def test_who_changed_it_reads_in_russian(site):
    """The witnesses' words (sudo, sessions, what was missing) follow the
    report's language; commands, paths and names stay as they are."""
    from tests.test_cli_i18n_commands import english

    root, cli, _ = site
    first, _last = change_both(root)
    rig.write_wtmp(root, [("ivan", "pts/0", first - 900, None)])
    rig.append(root / "var/log/auth.log", rig.sudo_line(first - 60, "ivan", f"/usr/bin/vim {DAHDI}"))
    out = cli("--lang", "ru", "run", "--only", "config.drift")
    assert out.returncode == 1, out.stderr
    block = re.sub(r"\s+", " ", out.stdout[out.stdout.index(DAHDI):])
    assert "ivan выполнил `/usr/bin/vim /etc/asterisk/chan_dahdi.conf` от имени root" in block
    assert not english(out.stdout), english(out.stdout)
