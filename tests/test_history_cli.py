"""The run history through the real CLI at simulated times (libfaketime):
marks and the "since the previous run" line, resolved findings, two runs at
once, a damaged database, a read-only state directory, --from-facts, and
``diagnose history``."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from tests.conftest import needs_root, run_cli
from tests.rigs.history import day, lines, needs_faketime  # noqa: F401  (fixture)
from tests.rigs.smtp import smtp_rig  # noqa: F401  (fixture)

pytestmark = needs_faketime


def report(proc) -> dict:
    assert proc.returncode in (0, 1, 2), proc.stderr
    return json.loads(proc.stdout)


def finding(rep: dict, fid: str) -> dict:
    return next(f for f in rep["findings"] if f["id"] == fid)


def runs_in(db) -> int:
    c = sqlite3.connect(f"file:{db}?immutable=1", uri=True)  # also on a read-only mount
    try:
        return c.execute("SELECT count(*) FROM runs").fetchone()[0]
    finally:
        c.close()


def test_new_then_recurring_marked_in_text_and_json(lines):
    lines.set("warn", "ok")
    first = lines.run(day(0), fmt="text")
    assert first.returncode == 1, first.stderr
    assert "[!] Line 0 is warn\n    demo.lines:line0, Site fault  [new]\n" in first.stdout
    assert "First run in the history: nothing to compare with yet." in first.stdout
    lines.set("ok", "ok")
    rep = report(lines.run(day(1)))
    assert rep["resolved"] == ["demo.lines:line0"] and rep["started"] == "2026-11-02T02:00:00+00:00"
    lines.set("warn", "fail")
    text = lines.run(day(2), fmt="text")
    assert "    demo.lines:line0, Site fault  [recurring: 2 of the last 3 runs]\n" in text.stdout
    assert "[✗] Line 1 is fail\n    demo.lines:line1, Site fault  [new]\n" in text.stdout
    assert "Since the previous run (2 Nov 2026, 02:00 UTC): 2 new, 0 resolved" in text.stdout
    rep = report(lines.run(day(3)))
    assert finding(rep, "demo.lines:line0")["history"] == {
        "state": "recurring", "first_seen": "2026-11-01T02:00:00+00:00",
        "last_seen": "2026-11-04T02:00:00+00:00", "runs_seen": 3, "runs_window": 4,
        "flap_percent": 12.1}  # changes in slots 18, 19: (1.197 + 1.224) / 20
    h = finding(rep, "demo.lines:line1")["history"]
    assert (h["state"], h["first_seen"], h["runs_seen"]) == ("persistent", "2026-11-03T02:00:00+00:00", 2)
    assert rep["history"]["previous_run"] == "2026-11-03T02:00:00+00:00"
    assert rep["history"]["recorded"] is True and rep["resolved"] == []


def test_a_resolved_finding_is_listed_once(lines):
    lines.set("fail")
    report(lines.run(day(0)))
    lines.set("ok")
    text = lines.run(day(1), fmt="text")
    assert "Since the previous run (1 Nov 2026, 02:00 UTC): 0 new, 1 resolved" in text.stdout
    assert "Resolved since the previous run: demo.lines:line0" in text.stdout
    rep = report(lines.run(day(2)))
    assert rep["resolved"] == [] and rep["history"]["resolved"] == 0
    html = lines.run(day(3), fmt="html")
    assert "0 new, 0 resolved" in html.stdout


def test_facts_judged_at_the_office_carry_the_same_marks(lines, tmp_path):
    lines.set("warn")
    report(lines.run(day(0)))
    lines.set("ok")
    report(lines.run(day(1)))
    lines.set("warn")
    facts = tmp_path / "facts.json"
    live = report(lines.run(day(2), "--save-facts", str(facts)))
    office = run_cli("run", "--from-facts", str(facts), "--format", "json",
                     env=lines.env(None, DIAGNOSE_STATE_DIR=str(tmp_path / "office")))
    again = report(office)
    assert again["findings"] == live["findings"]
    assert finding(again, "demo.lines:line0")["history"]["state"] == "recurring"
    assert again["history"]["recorded"] is False
    assert not (tmp_path / "office").exists()  # the office records nothing by default
    assert runs_in(lines.state / "history.db") == 3


def test_a_recorded_tree_is_neither_recorded_nor_marked(lines, tmp_path):
    root = tmp_path / "tree"
    (root / "etc").mkdir(parents=True)
    lines.set("warn")
    rep = report(lines.run(day(0), "--root", str(root)))
    assert "history" not in rep and "history" not in finding(rep, "demo.lines:line0")
    assert not lines.state.exists()


def test_two_runs_at_once_both_recorded(lines):
    lines.set(*(["warn", "ok"] * 20))
    env = dict(os.environ, **lines.env(day(0)))
    argv = [sys.executable, "-m", "diagnose", *lines.argv("--format", "json")]
    for _ in range(3):
        procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=env, cwd=str(lines.base)) for _ in range(2)]
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 1, err
            rep = json.loads(out)
            assert not any(f["check"] == "report.history" for f in rep["findings"]), err
            assert rep["history"]["recorded"] is True
    assert runs_in(lines.state / "history.db") == 6


def test_a_run_waits_for_another_runs_write(lines):
    lines.set("warn")
    report(lines.run(day(0)))
    db = sqlite3.connect(str(lines.state / "history.db"), isolation_level=None)
    db.execute("BEGIN IMMEDIATE")  # another run is writing
    env = dict(os.environ, **lines.env(day(1)))
    p = subprocess.Popen([sys.executable, "-m", "diagnose", *lines.argv("--format", "json")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         cwd=str(lines.base))
    time.sleep(1.5)
    assert p.poll() is None  # waiting for the writer, not failing
    db.execute("COMMIT")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 1, err
    rep = json.loads(out)
    assert rep["history"]["recorded"] is True and "note" not in rep["history"]
    assert finding(rep, "demo.lines:line0")["history"]["state"] == "persistent"
    db.close()


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_database_is_set_aside_and_a_new_one_started(lines, damage):
    lines.set(*(["warn", "ok"] * 25))
    for d in range(8):
        report(lines.run(day(d)))
    db = lines.state / "history.db"
    if damage == "truncated":
        with open(db, "r+b") as fh:
            fh.truncate(os.path.getsize(db) // 2)
    else:
        db.write_bytes(os.urandom(30000))
    proc = lines.run(day(8))
    rep = report(proc)
    assert proc.returncode == 1  # the lines' warnings; the history warning adds no worse
    warn = finding(rep, f"report.history:{db}")
    assert warn["status"] == "warn" and warn["fault"] == "undetermined"
    assert warn["title"] == "History database was damaged: set aside, a new one started"
    aside = warn["evidence"]["set_aside"]
    assert os.path.isfile(aside) and aside.startswith(f"{db}.damaged-")
    assert f"sqlite3 {aside} 'PRAGMA integrity_check'" in warn["remedy"]
    assert "was damaged" in proc.stderr and aside in proc.stderr
    # The report is complete: every line judged, and this run starts the new history.
    assert len([f for f in rep["findings"] if f["check"] == "demo.lines"]) == 50
    assert rep["history"]["recorded"] is True and runs_in(db) == 1
    # The next run is clean again.
    rep = report(lines.run(day(9)))
    assert not any(f["check"] == "report.history" for f in rep["findings"])
    assert finding(rep, "demo.lines:line0")["history"]["state"] == "persistent"


@needs_root
def test_a_read_only_state_directory_loses_no_report(lines, tmp_path):
    lines.state.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", f"dg-history-ro-{os.getpid()}",
                    str(lines.state)], check=True)
    try:
        lines.set("warn", "ok")
        report(lines.run(day(0)))
        report(lines.run(day(1)))
        subprocess.run(["mount", "-o", "remount,ro", str(lines.state)], check=True)
        lines.set("ok", "warn")
        out = tmp_path / "report.json"
        proc = lines.run(day(2), "--output", str(out))
        assert proc.returncode == 1 and proc.stdout == ""
        assert "history not recorded" in proc.stderr and "read-only" in proc.stderr
        rep = json.loads(out.read_text())
        warn = finding(rep, f"report.history:{lines.state}/history.db")
        assert warn["title"] == f"Run history not recorded: {lines.state} is read-only"
        assert f"findmnt -T {lines.state}" in warn["remedy"]
        # Marked from what was recorded before; nothing written.
        assert finding(rep, "demo.lines:line1")["history"]["state"] == "new"
        assert rep["resolved"] == ["demo.lines:line0"] and rep["history"]["recorded"] is False
        assert runs_in(lines.state / "history.db") == 2
        text = lines.run(day(3), fmt="text")
        assert "Line 1 is warn" in text.stdout and "is read-only" in text.stdout
    finally:
        subprocess.run(["umount", "-l", str(lines.state)], capture_output=True)


def test_history_can_be_switched_off(lines):
    lines.config.write_text(lines.config.read_text() + "\n[history]\nenabled = false\n")
    lines.set("warn")
    rep = report(lines.run(day(0)))
    assert "history" not in rep and rep["resolved"] == []
    assert not lines.state.exists()


def test_history_command_shows_the_timeline(lines):
    env = lines.env(None)
    none = run_cli("history", "--config", str(lines.config), env=env)
    assert none.returncode == 0 and "No run history in" in none.stdout
    for n, states in enumerate([("warn", "ok"), ("ok", "ok"), ("warn", "fail"), ("warn", "fail")]):
        lines.set(*states)
        report(lines.run(day(n)))
    text = run_cli("history", "--config", str(lines.config), env=env)
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("4 runs of ")
    assert ("demo.lines:line0: warn now; a problem in 3 of 4 runs, first 2026-11-01 02:00 UTC, "
            "last 2026-11-04 02:00 UTC\n"
            "  2026-11-01 02:00 UTC  warn   Line 0 is warn\n"
            "  2026-11-02 02:00 UTC  ok\n"
            "  2026-11-03 02:00 UTC  warn   Line 0 is warn\n") in text.stdout
    doc = json.loads(run_cli("history", "--config", str(lines.config), "--since", "2026-11-03",
                             "--check", "demo.lines", "--format", "json", env=env).stdout)
    assert [r["time"] for r in doc["runs"]] == ["2026-11-03T02:00:00+00:00", "2026-11-04T02:00:00+00:00"]
    [one, zero] = doc["findings"]  # newest last_seen first, then by id
    assert (one["id"], one["runs_seen"], one["first_seen"]) == (
        "demo.lines:line1", 2, "2026-11-03T02:00:00+00:00")
    assert zero["changes"] == [{"time": "2026-11-03T02:00:00+00:00", "status": "warn",
                                "fault": "site", "title": "Line 0 is warn"}]
    assert zero["first_ever"] == "2026-11-01T02:00:00+00:00"
    bad = run_cli("history", "--config", str(lines.config), "--since", "last tuesday", env=env)
    assert bad.returncode == 3 and "not a date" in bad.stderr
    typo = run_cli("history", "--config", str(lines.config), "--check", "demo.line", env=env)
    assert typo.returncode == 3 and "did you mean 'demo.lines'?" in typo.stderr


def test_on_change_mail_ignores_a_flapping_finding(lines, tmp_path, smtp_rig):
    srv = smtp_rig.start()
    lines.config.write_text(lines.config.read_text() + f"""
[email]
to = ["support@vendor.example"]
smtp_port = {srv.port}
when = "on-change"
reports_dir = "{tmp_path / 'reports'}"
""")
    mailed = []
    for n in range(8):  # warn, ok, warn, ...: flapping from the fifth run (24.2%)
        lines.set("warn" if n % 2 == 0 else "ok", "fail")
        before = len(srv.received)
        proc = lines.run(day(n), "--email")
        assert proc.returncode in (1, 2), proc.stderr
        mailed.append(len(srv.received) > before)
        if n >= 5:
            assert "flapping, not mailed each time: demo.lines:line0" in proc.stderr
    # Every change is mailed until the headset starts flapping (run 4, itself a
    # change); then its coming and going is not news.
    assert mailed == [True, True, True, True, True, False, False, False]
    # Like Nagios, no news while it flaps, even of a worse status.
    lines.set("fail", "fail")
    assert lines.run(day(8), "--email").returncode == 2
    assert len(srv.received) == 5
