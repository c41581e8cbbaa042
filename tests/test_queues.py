"""call.routing and queue.kpi on FreePBX-style config trees and queue_log
days written by tests/queue_sim.py (as app_queue writes them): the story's
day (linear, 201-204 absent), a healthy ringall day, everyone paused, and
figures computed independently from the simulated calls."""

from __future__ import annotations

import gzip
import json
import math
import os

import pytest

from diagnose.attribution import attribute
from diagnose.check import section_config
from diagnose.checks.asterisk import probe as shared_probe
from diagnose.checks.asterisk.kpi import QueueKpi
from diagnose.checks.asterisk.routing import CallRouting
from diagnose.host import Host
from diagnose.model import Fault, Status
from tests.queue_sim import Day, freepbx_tree, support_queue

DAY = 1763683200  # 2025-11-21 00:00 UTC; the window ends at the day's last event
ROUTING, KPI = CallRouting(), QueueKpi()
ABSENT = ("201", "202", "203", "204")
ALL = ("201", "202", "203", "204", "205", "206", "207", "208")


def site(tmp_path, strategy, absent=(), paused=(), seed=7, split=None, mangle=None):
    freepbx_tree(tmp_path, strategy)
    day = Day([support_queue(strategy, absent=absent, paused=paused)], DAY, seed=seed).run()
    logdir = tmp_path / "var/log/asterisk"
    logdir.mkdir(parents=True, exist_ok=True)
    text = day.text()
    if mangle:
        text = mangle(text)
    if split:
        split(logdir, text)
    else:
        (logdir / "queue_log").write_text(text)
    return day


def run(root, queues=None, asterisk=None):
    host = Host(str(root))
    shared_probe._cache["key"] = None
    findings, facts = [], {}
    for check in (ROUTING, KPI):
        own = {"queues": dict(queues or {}), "asterisk": dict(asterisk or {})}
        values = dict(own["asterisk"] if check is ROUTING else own["queues"])
        values[("queues" if check is ROUTING else "asterisk")] = own["queues" if check is ROUTING else "asterisk"]
        cfg = section_config(check, values)
        assert check.applies(host, cfg) is None
        facts[check.name] = json.loads(json.dumps(check.probe(host, cfg)))
        findings += check.judge(facts[check.name], cfg)
    return {f.id: f for f in attribute(findings)}, facts


def test_linear_with_absent_agents_fails_and_kpi_misses_nest_under_it(tmp_path):
    site(tmp_path, "linear", absent=ABSENT)
    found, _ = run(tmp_path)
    route = found["call.routing:support"]
    assert route.status is Status.FAIL and route.fault is Fault.SITE
    assert route.title == ("Calls ring 4 absent agents first (201, 202, 203, 204): queue support uses "
                           "strategy linear; each call waits about 80 s longer")
    ev = route.evidence
    assert ev["strategy"] == "linear" and ev["extra_wait_s"] == 80
    assert [m["member"] for m in ev["absent_members"]] == list(ABSENT)
    assert all(m["rung_unanswered"] > 0 and m["answered"] == 0 for m in ev["absent_members"])
    assert ev["file"] == "/etc/asterisk/queues_additional.conf" and ev["key"] == "strategy"
    assert ev["section"] == "support"
    assert "queue pause member Local/201@from-queue/n queue support" in route.remedy
    assert "autopause=yes" in route.remedy and "Apply Config" in route.remedy
    kpi = found["queue.kpi:support"]
    assert kpi.caused_by == ["call.routing:support"] and kpi.fault is Fault.SITE
    assert kpi.status is Status.FAIL
    missed = {m["what"] for m in kpi.evidence["missed"]}
    assert {"ASA", "ring time"} <= missed
    assert kpi.title.startswith("Queue support misses") and "ASA" in kpi.title
    assert route.consequences == ["queue.kpi:support"]


def test_ringall_with_everyone_present_is_ok(tmp_path):
    site(tmp_path, "ringall")
    found, _ = run(tmp_path)
    assert found["call.routing:support"].status is Status.OK
    assert found["queue.kpi:support"].status is Status.OK, found["queue.kpi:support"].title
    assert found["call.routing:support"].evidence["absent_members"] == []


def test_all_members_paused_fails_site(tmp_path):
    site(tmp_path, "ringall", paused=ALL)
    found, _ = run(tmp_path)
    route = found["call.routing:support"]
    assert route.status is Status.FAIL and route.fault is Fault.SITE
    assert route.title == "No agent can answer queue support: all 8 members paused"
    assert route.evidence["calls_with_no_member_able"] == route.evidence["offered"] > 0
    kpi = found["queue.kpi:support"]
    assert kpi.caused_by == ["call.routing:support"]
    assert kpi.evidence["answered"] == 0


def independent(day, offset, answer_within=20, hours=None):
    """The figures straight from the simulated calls, not from the log."""
    calls = day.calls
    offered = len(calls)
    answered = [c for c in calls if c.outcome == "answered"]
    abandoned = [c for c in calls if c.outcome == "abandoned"]
    rings = sorted(int(c.ring_ms / 1000.0 + c.ringtime) for c in answered)
    per_hour = {}
    for c in calls:
        h = (c.enter + offset) // 3600
        per_hour[h] = per_hour.get(h, 0) + 1
    peak = max(per_hour.items(), key=lambda kv: (kv[1], -kv[0]))
    return {
        "offered": offered, "answered": len(answered), "abandoned": len(abandoned),
        "asa_s": round(sum(c.hold for c in answered) / len(answered), 1),
        "ring_time_avg_s": round(sum(c.ring_ms / 1000.0 + c.ringtime for c in answered) / len(answered), 1),
        "ring_time_p90_s": rings[math.ceil(0.9 * len(rings)) - 1],
        "abandon_rate_percent": round(100.0 * len(abandoned) / offered, 1),
        "service_level_percent": round(100.0 * sum(1 for c in answered if c.hold <= answer_within) / offered, 1),
        "peak_hour_start": peak[0] * 3600 - offset, "peak_offered": peak[1],
    }


@pytest.mark.parametrize("strategy,absent", [("linear", ABSENT), ("ringall", ()), ("rrmemory", ("203",))])
def test_figures_equal_those_computed_from_the_simulated_calls(tmp_path, strategy, absent):
    day = site(tmp_path, strategy, absent=absent, seed=11)
    found, _ = run(tmp_path, queues={"answer_within_s": 30})
    ev = found["queue.kpi:support"].evidence
    want = independent(day, ev["window"]["utc_offset_s"], answer_within=30)
    for key in ("offered", "answered", "abandoned", "asa_s", "ring_time_avg_s", "ring_time_p90_s",
                "abandon_rate_percent", "service_level_percent"):
        assert ev[key] == want[key], key
    assert ev["peak_hours"][0]["offered"] == want["peak_offered"]
    peak = next(h for h in ev["per_hour"] if h["hour"] == ev["peak_hours"][0]["hour"])
    assert peak["start"] == want["peak_hour_start"]
    assert sum(h["offered"] for h in ev["per_hour"]) == want["offered"]
    assert sum(h["answered"] for h in ev["per_hour"]) == want["answered"]


def test_rotation_mid_window_gives_the_same_figures_and_says_so(tmp_path):
    def split(logdir, text):
        lines = text.splitlines(keepends=True)
        third = len(lines) // 3
        with gzip.open(logdir / "queue_log.2.gz", "wt") as fh:
            fh.writelines(lines[:third])
        (logdir / "queue_log.1").write_text("".join(lines[third:2 * third]))
        (logdir / "queue_log").write_text("".join(lines[2 * third:]))
    day = site(tmp_path / "rotated", "linear", absent=ABSENT, split=split)
    found, _ = run(tmp_path / "rotated")
    whole = site(tmp_path / "whole", "linear", absent=ABSENT)
    ref, _ = run(tmp_path / "whole")
    assert len(day.calls) == len(whole.calls)
    for key in ("offered", "answered", "abandoned", "asa_s", "ring_time_avg_s", "service_level_percent"):
        assert found["queue.kpi:support"].evidence[key] == ref["queue.kpi:support"].evidence[key], key
    log = found["queue.kpi:queue_log"]
    assert log.evidence["window"]["rotated"] is True
    assert "queue_log.2.gz" in log.title and "spans a rotation" in log.title
    assert found["call.routing:support"].title == ref["call.routing:support"].title


def test_malformed_unknown_and_truncated_lines_are_counted_never_fatal(tmp_path):
    def mangle(text):
        lines = text.splitlines()
        lines.insert(10, "this is not a queue_log line")
        lines.insert(20, "17637|x")
        lines.insert(30, "notatime|1.2|support|NONE|ENTERQUEUE||1|1")
        lines.insert(40, f"{DAY + 8 * 3600}|1.9|support|NONE|FUTUREEVENT|a|b")
        lines.insert(50, f"{DAY + 8 * 3600}|1.9|support|201|RINGNOANSWER|notanumber")
        return "\n".join(lines) + "\n" + f"{DAY + 20 * 3600}|1.99|support|NONE|ENTERQ"
    site(tmp_path, "linear", absent=ABSENT, mangle=mangle)
    found, facts = run(tmp_path)
    health = facts["queue.kpi"]["log"]["health"]
    assert health["malformed"] == 3
    assert health["unknown_events"] == {"FUTUREEVENT": 1}
    assert health["truncated"] == 1
    log = found["queue.kpi:queue_log"]
    assert "3 malformed lines skipped" in log.title and "FUTUREEVENT" in log.title
    assert "last line without its end" in log.title
    assert log.status is Status.OK  # 3 of ~2500 lines: the figures stand
    assert found["call.routing:support"].status is Status.FAIL


def test_a_mostly_garbage_log_warns_that_figures_may_be_off(tmp_path):
    site(tmp_path, "ringall", mangle=lambda t: t + "garbage\n" * 200)
    found, _ = run(tmp_path)
    assert found["queue.kpi:queue_log"].status is Status.WARN


def test_members_whose_devices_do_not_exist(tmp_path):
    freepbx_tree(tmp_path, "ringall", extra_members=("299",))
    day = Day([support_queue("ringall")], DAY).run()
    (tmp_path / "var/log/asterisk").mkdir(parents=True)
    (tmp_path / "var/log/asterisk/queue_log").write_text(day.text())
    found, _ = run(tmp_path)
    f = found["call.routing:support/devices"]
    assert f.status is Status.FAIL and f.fault is Fault.UNDETERMINED
    assert "299" in f.title
    assert f.evidence["key"] == "member" and f.evidence["file"].endswith("queues_additional.conf")
    assert "no hint 299@ext-local" in f.detail


def test_selected_queue_missing_from_config(tmp_path):
    site(tmp_path, "ringall")
    found, _ = run(tmp_path, queues={"queues": ["sales"]})
    assert found["call.routing:sales"].status is Status.WARN


def test_watched_files_follow_config_dir():
    cfg = section_config(KPI, {"asterisk": {"config_dir": "/opt/ast"}})
    assert "/opt/ast/queues.conf" in KPI.watched(cfg) and "/opt/ast/queues_*.conf" in KPI.watched(cfg)
    assert "/etc/asterisk/pjsip.conf" in ROUTING.watches
    assert "/opt/ast/sip.conf" in ROUTING.watched(section_config(ROUTING, {"config_dir": "/opt/ast"}))


def test_skips_where_there_is_no_asterisk(tmp_path):
    host = Host(str(tmp_path))
    assert "queues.conf" in ROUTING.applies(host, section_config(ROUTING, {}))
    assert "queue_log" in KPI.applies(host, section_config(KPI, {}))


def test_cli_run_on_a_recorded_tree(tmp_path, cli):
    site(tmp_path, "linear", absent=ABSENT)
    cfg = tmp_path / "site.toml"
    cfg.write_text('[site]\nrole = "server"\n[asterisk]\nconfig_dir = "/etc/asterisk"\n[queues]\nasa_s = 30\n')
    proc = cli("run", "--config", str(cfg), "--root", str(tmp_path), "--only", "call.routing",
               "--only", "queue.kpi", "--format", "json",
               env={"DIAGNOSE_STATE_DIR": str(tmp_path / "state")})
    assert proc.returncode == 2, proc.stderr
    report = json.loads(proc.stdout)
    assert report["verdict"]["site_faults"] == 1
    ids = [f["id"] for f in report["findings"]]
    assert ids[0] == "call.routing:support" and ids[1] == "queue.kpi:support"


def test_facts_saved_on_site_judge_the_same_at_the_office(tmp_path, cli):
    site(tmp_path, "linear", absent=ABSENT)
    cfg = tmp_path / "site.toml"
    cfg.write_text('[site]\nrole = "server"\n[queues]\nasa_s = 25\n')
    env = {"DIAGNOSE_STATE_DIR": str(tmp_path / "state")}
    facts = tmp_path / "facts.json"
    first = cli("run", "--config", str(cfg), "--root", str(tmp_path), "--only", "call.routing", "--only",
                "queue.kpi", "--format", "json", "--save-facts", str(facts), env=env)
    again = cli("run", "--from-facts", str(facts), "--format", "json", env=env)
    assert first.returncode == again.returncode == 2, again.stderr
    a, b = json.loads(first.stdout), json.loads(again.stdout)
    assert [(f["id"], f["title"], f["caused_by"]) for f in a["findings"]] == \
           [(f["id"], f["title"], f["caused_by"]) for f in b["findings"]]
    kpi = next(f for f in b["findings"] if f["id"] == "queue.kpi:support")
    assert kpi["evidence"]["targets"]["asa_s"] == 25
