"""The drift attribution rule: a finding about a configured value (its
evidence names the file and key) becomes the consequence of the drift
finding that changed that key, and takes its fault domain; a whole-file
drift explains any finding about that file."""

from __future__ import annotations

import json

from diagnose.attribution import attribute
from diagnose.model import Fault, Finding, Status
from tests.conftest import run_cli
from tests.queue_sim import Day, freepbx_tree, support_queue
from tests.rigs import baseline as rig

Q = "/etc/asterisk/queues_additional.conf"


def drift(file: str, changes: list[dict], whole: bool = False, fault: Fault = Fault.SITE) -> Finding:
    return Finding("config.drift", file, Status.WARN, f"{file} changed", fault,
                   evidence={"file": file, "changes": changes, "whole_file": whole,
                             "keys": sorted({c["key"] for c in changes if "key" in c}),
                             "settings": [f"[{c['section']}] {c['key']}" for c in changes if "key" in c]})


def effect(check: str, subject: str, **ev) -> Finding:
    return Finding(check, subject, Status.FAIL, "effect", Fault.UNDETERMINED, evidence=ev)


def test_a_changed_key_explains_the_finding_about_it_and_gives_its_fault():
    d = drift("/etc/asterisk/chan_dahdi.conf", [{"section": "channels", "key": "rxgain", "baseline": "0.0",
                                                 "current": "9.5"}])
    gain = effect("telephony.card", "span1", file="/etc/asterisk/chan_dahdi.conf", key="rxgain",
                  section="channels")
    other_key = effect("telephony.card", "span2", file="/etc/asterisk/chan_dahdi.conf", key="txgain")
    other_file = effect("telephony.card", "span3", file="/etc/dahdi/system.conf", key="rxgain")
    out = {f.id: f for f in attribute([gain, other_key, other_file, d])}
    assert out["telephony.card:span1"].caused_by == [d.id]
    assert out["telephony.card:span1"].fault is Fault.SITE
    assert "was changed after acceptance" in out["telephony.card:span1"].detail
    assert out["telephony.card:span2"].caused_by == [] and out["telephony.card:span3"].caused_by == []
    assert out[d.id].consequences == ["telephony.card:span1"]


def test_the_section_must_agree_when_the_finding_names_one():
    d = drift(Q, [{"section": "sales", "key": "strategy", "baseline": "ringall", "current": "linear"}])
    support = effect("call.routing", "support", file=Q, key="strategy", section="support")
    sales = effect("call.routing", "sales", file=Q, key="strategy", section="sales")
    out = {f.id: f for f in attribute([support, sales, d])}
    assert out["call.routing:sales"].caused_by == [d.id]
    assert out["call.routing:support"].caused_by == []


def test_a_whole_file_drift_explains_any_finding_about_the_file():
    d = drift("/etc/asterisk/modules.conf", [{"line": 3, "baseline": "load => x", "current": None}], whole=True,
              fault=Fault.SOFTWARE)
    f = effect("application.services", "asterisk", file="/etc/asterisk/modules.conf", key="load")
    out = {x.id: x for x in attribute([f, d])}
    assert out["application.services:asterisk"].caused_by == [d.id]
    assert out["application.services:asterisk"].fault is Fault.SOFTWARE


def test_strategy_changed_by_a_site_user_explains_the_routing_failure(tmp_path):
    """End to end on a FreePBX tree: the installer accepted ringall, ivan
    switched the queue to linear with sudo; call.routing fails on absent
    agents rung first, and that failure nests under ivan's change."""
    root = tmp_path / "tree"
    freepbx_tree(root, "ringall")
    (root / "etc/passwd").write_text(rig.PASSWD)
    (root / "etc/group").write_text(rig.GROUP)
    (root / "var/log/asterisk").mkdir(parents=True)
    cfg = rig.config(tmp_path, root, extra="\n[asterisk]\nconfig_dir = \"/etc/asterisk\"\n")
    env = {"DIAGNOSE_STATE_DIR": str(tmp_path / "state")}

    def cli(*args):
        return run_cli(*args, "--config", str(cfg), "--root", str(root), env=env)

    assert cli("baseline", "record", "--by", "integrator").returncode == 0
    rig.backdate(tmp_path / "state", 3600)
    ctime = rig.edit(root / Q.lstrip("/"), "strategy=ringall", "strategy=linear")
    rig.write_wtmp(root, [("ivan", "pts/0", ctime - 600, None)])
    rig.append(root / "var/log/auth.log", rig.sudo_line(ctime - 30, "ivan", f"/usr/bin/nano {Q}"))
    day = Day([support_queue("linear", absent=("201", "202", "203", "204"))], 1763683200, seed=7).run()
    (root / "var/log/asterisk/queue_log").write_text(day.text())
    out = cli("run", "--only", "config.drift", "--only", "call.routing", "--only", "queue.kpi",
              "--format", "json")
    report = json.loads(out.stdout)
    by_id = {f["id"]: f for f in report["findings"]}
    cause = by_id[f"config.drift:{Q}"]
    assert cause["fault"] == "site" and cause["evidence"]["changed_by"]["actor"] == "ivan"
    routing = by_id["call.routing:support"]
    assert routing["status"] == "fail" and routing["caused_by"] == [cause["id"]]
    assert routing["fault"] == "site"
    assert report["findings"][0]["id"] == cause["id"]  # the root cause comes first
    assert report["verdict"]["site_faults"] == 1 and report["verdict"]["undetermined"] == 0
