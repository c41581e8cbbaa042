"""What changed: ini-style configs per section and key, other files by line,
owner and mode, stable facts declared by checks; and the recording kept
beside them (every recording kept, one current, packages from dpkg)."""

from __future__ import annotations

import json
import os

from diagnose.check import Check, Needs
from diagnose.checks.drift.check import ConfigDrift
from diagnose.checks.drift.judge import extract, phrase
from diagnose.config import load
from diagnose.host import Host
from diagnose.model import Fault
from diagnose.registry import Registry
from diagnose.runner import collect, evaluate
from diagnose.state import baseline, confdiff
from tests.rigs import baseline as rig


def test_asterisk_syntax_per_section_and_key():
    old = ("[general]\n;-- a block\ncomment --;\n#include queues_custom.conf\n"
           "[support](!)\nstrategy = ringall ; how calls ring\nmember => PJSIP/101\nmember => PJSIP/102\n"
           "musicclass=default\\;jazz\n")
    new = ("[general]\n#include queues_custom.conf\n#include queues_extra.conf\n"
           "[support](!)\nstrategy=linear\nmember => PJSIP/102\nmember => PJSIP/101\n"
           "musicclass=default\\;jazz\nwrapuptime=15\n")
    rows = confdiff.parse_ini(old)
    assert ("support", "(template)", "!", 5) in rows and ("support", "musicclass", "default;jazz", 9) in rows
    changes = confdiff.compare(old, new)["changes"]
    assert changes == [
        {"section": "general", "key": "#include", "baseline": "queues_custom.conf",
         "current": ["queues_custom.conf", "queues_extra.conf"]},
        {"section": "support", "key": "strategy", "baseline": "ringall", "current": "linear"},
        {"section": "support", "key": "member", "baseline": ["PJSIP/101", "PJSIP/102"],
         "current": ["PJSIP/102", "PJSIP/101"]},
        {"section": "support", "key": "wrapuptime", "baseline": None, "current": "15"}]
    assert [phrase(c) for c in changes[1:]] == [
        "strategy ringall -> linear in [support]",
        "member PJSIP/101, PJSIP/102 -> PJSIP/102, PJSIP/101 in [support]",
        "wrapuptime = 15 added in [support]"]


def test_dahdi_system_conf_has_no_sections_and_comments_only_are_not_a_change():
    old = "# Span 1: TE2/0/1\nspan=1,1,0,esf,b8zs\nbchan=1-23\nloadzone=us\n"
    new = "# Span 1: TE2/0/1 (checked)\n\nspan=1,1,0,esf,b8zs\nbchan=1-23\nloadzone=us\n"
    assert confdiff.compare(old, new) == {"style": "ini", "changes": [], "comment_only": True}
    (c,) = confdiff.compare(old, new.replace("loadzone=us", "loadzone=de"))["changes"]
    assert phrase(c) == "loadzone us -> de in the top of the file"


def test_other_files_by_changed_lines():
    old = "auto eth0\niface eth0 inet static\n    address 192.0.2.10/24\n    gateway 192.0.2.1\n"
    new = "auto eth0\niface eth0 inet dhcp\n"
    out = confdiff.compare(old, new)
    assert out["style"] == "lines"
    assert out["changes"][0] == {"line": 2, "baseline": "iface eth0 inet static", "current": "iface eth0 inet dhcp"}
    assert {"line": 3, "baseline": "    address 192.0.2.10/24", "current": None} in out["changes"]


def test_stable_fact_paths_name_list_items():
    facts = {"gateways": [{"name": "fxo-office", "rungs": {"sip_udp": {"response": {"server": "Grandstream 1.0"}}}},
                          {"name": "fxo-2", "rungs": {"sip_udp": {"response": None}}}],
             "default_sink": "alsa_output.usb-Jabra"}
    assert extract(facts, "gateways.*.rungs.sip_udp.response.server") == {
        "gateways[fxo-office].rungs.sip_udp.response.server": "Grandstream 1.0"}
    assert extract(facts, "default_sink") == {"default_sink": "alsa_output.usb-Jabra"}


class Firmware(Check):
    """A stand-in check whose probe reads a device's firmware from the tree."""

    name = "fake.gateway"
    summary = "reads a firmware string"
    section = "fakegw"
    needs = Needs()
    stable = ("gateways.*.firmware",)

    def probe(self, host, cfg):
        return {"gateways": [{"name": "fxo-office", "firmware": host.read_text("/srv/fw").strip()}]}

    def judge(self, facts, cfg):
        return []


def _setup(tmp_path, monkeypatch):
    root = rig.make_tree(tmp_path / "tree")
    (root / "srv").mkdir()
    (root / "srv/fw").write_text("1.0.3.7\n")
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text(
        "Package: asterisk\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:20.6.0~dfsg-1\n\n"
        "Package: old-thing\nStatus: deinstall ok config-files\nVersion: 1\n\n")
    monkeypatch.setenv("DIAGNOSE_STATE_DIR", str(tmp_path / "state"))
    reg = Registry.of(Firmware(), ConfigDrift())
    cfg = load(str(rig.config(tmp_path, root)), reg.schemas(), reg.multi_sections())
    return root, reg, cfg


def _drift(reg, cfg, root):
    col = collect(reg, Host(str(root)), cfg)
    return {f.subject: f for f in evaluate(reg, col, cfg).findings if f.check == "config.drift"}


def test_a_stable_fact_that_changed_and_its_acceptance(tmp_path, monkeypatch):
    root, reg, cfg = _setup(tmp_path, monkeypatch)
    rec = baseline.record(reg, cfg, Host(str(root)), by="integrator", note="acceptance")
    assert rec["facts"]["fake.gateway"]["gateways"][0]["firmware"] == "1.0.3.7"
    assert rec["packages"] == {"manager": "dpkg", "items": {"asterisk": "1:20.6.0~dfsg-1"}}
    assert set(rec["files"]) == {"/etc/asterisk/chan_dahdi.conf", "/etc/asterisk/queues.conf"}
    assert "baseline" in _drift(reg, cfg, root)
    (root / "srv/fw").write_text("2.1.0.0\n")
    found = _drift(reg, cfg, root)
    f = found["fake.gateway:gateways[fxo-office].firmware"]
    assert f.status.is_problem and f.fault is Fault.UNDETERMINED
    assert "1.0.3.7 -> 2.1.0.0" in f.title
    assert "diagnose baseline accept 'fake.gateway:gateways[fxo-office].firmware' --by NAME" in f.remedy
    baseline.accept(cfg, Host(str(root)), "fake.gateway:gateways[fxo-office].firmware", by="petr",
                    why="gateway firmware upgrade approved", registry=reg)
    assert "baseline" in _drift(reg, cfg, root)
    store = baseline.Store(str(tmp_path / "state/baseline"))
    assert len(store.ids()) == 2 and store.load()["parent"] == rec["id"]
    assert store.load(rec["id"])["facts"]["fake.gateway"]["gateways"][0]["firmware"] == "1.0.3.7"


def test_owner_and_mode_changes_and_new_and_removed_files(tmp_path, monkeypatch):
    root, reg, cfg = _setup(tmp_path, monkeypatch)
    baseline.record(reg, cfg, Host(str(root)), by="integrator", collect_facts=False)
    os.chmod(root / "etc/asterisk/chan_dahdi.conf", 0o666)
    (root / "etc/asterisk/queues.conf").unlink()
    (root / "etc/asterisk/extra.conf").write_text("[x]\na=1\n")
    (root / "etc/asterisk/chan_dahdi.conf.replaced-20261122T070000Z").write_text("old copy\n")
    found = _drift(reg, cfg, root)
    mode = found["/etc/asterisk/chan_dahdi.conf"]
    assert mode.evidence["changes"] == [{"attribute": "mode", "baseline": "0640", "current": "0666"}]
    assert "mode 0640 (now 0666)" in mode.remedy
    assert found["/etc/asterisk/queues.conf"].evidence["state"] == "removed"
    assert found["/etc/asterisk/extra.conf"].evidence["state"] == "added"
    assert not any("replaced-" in s for s in found)
    diffs = {e["path"]: e for e in baseline.file_diff(cfg, Host(str(root)))}
    assert diffs["/etc/asterisk/chan_dahdi.conf"]["attributes"][0]["current"] == "0666"
    assert json.dumps(diffs)  # plain data for the CLI
