"""The run history in process, with an injected clock: every simulated run
goes through the real path (judge, HistorySession.attach/finish, a real
SQLite database in a temporary state directory) at the time the test gives
it. Nagios' flap arithmetic is checked against hand-computed values."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

import pytest

from diagnose.check import Check, Key
from diagnose.config import load
from diagnose.model import Fault, Finding, Status
from diagnose.registry import Registry
from diagnose.runner import Collected, Collection, evaluate
from diagnose.state.annotate import classify, flap_percent
from diagnose.state.history import History
from diagnose.state.session import HistorySession

T0 = dt.datetime(2026, 11, 1, 2, 0, tzinfo=dt.timezone.utc)


class Seat(Check):
    """The check under test: facts {"subjects": {name: status}}."""

    name = "seat.demo"
    section = "seatdemo"
    schema = {"unused": Key(int, 0, "")}

    def judge(self, facts, cfg):
        out = []
        for subject, status in sorted(facts["subjects"].items()):
            st = Status.parse(status)
            out.append(Finding(self.name, subject, st, f"{subject} is {status}",
                               Fault.SITE if st.is_problem else None,
                               evidence={"rssi": -60, "label": subject}))
        return out


class Other(Seat):
    name = "other.demo"
    section = "otherdemo"


class Sim:
    """Simulated nightly runs through the real history code."""

    def __init__(self, tmp_path, monkeypatch, **history) -> None:
        monkeypatch.setenv("DIAGNOSE_STATE_DIR", str(tmp_path / "state"))
        self.state = tmp_path / "state"
        self.registry = Registry.of(Seat(), Other())
        self.config = load(None, self.registry.schemas(), set())
        self.config.sections["history"] = dict(self.config.section("history"), **history)
        self.n = 0

    def run(self, subjects: dict[str, str] | None = None, *, at: dt.datetime | None = None,
            other: dict[str, str] | None = None, seat_state: str = "ran"):
        when = at or T0 + dt.timedelta(days=self.n)
        self.n += 1
        col = Collection("cc-srv01", "", "server", when.isoformat(), 0.1, {}, "")
        if seat_state == "ran":
            col.results["seat.demo"] = Collected("seat.demo", "ran", {"subjects": subjects or {}})
        else:
            col.results["seat.demo"] = Collected("seat.demo", seat_state, error="boom",
                                                 skipped="not here")
        if other is not None:
            col.results["other.demo"] = Collected("other.demo", "ran", {"subjects": other})
        session = HistorySession.begin(self.config, self.registry, "live")
        session.attach(col)
        self.col = col
        report = evaluate(self.registry, col, self.config)
        return session.finish(report, col)

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(str(self.state / "history.db"))


def hist(report, fid):
    f = report.finding(fid)
    return None if f is None else f.history


# -- Nagios' arithmetic --------------------------------------------------------

def test_nagios_percent_state_change_hand_values():
    alternating = ["warn", "ok"] * 10 + ["warn"]
    assert len(alternating) == 21 and flap_percent(alternating) == pytest.approx(100.0)
    # One change, newest transition: weight 1.25 -> 1.25 / 20 = 6.25%.
    assert flap_percent(["ok"] * 20 + ["warn"]) == pytest.approx(6.25)
    # One change, oldest transition: weight 0.75 -> 3.75%.
    assert flap_percent(["warn"] + ["ok"] * 20) == pytest.approx(3.75)
    # The two newest: 0.75 + 18 * 0.5 / 19 = 1.22368..., + 1.25 -> 12.368%.
    assert flap_percent(["ok"] * 19 + ["warn", "ok"]) == pytest.approx(12.368, abs=1e-3)
    # warn -> fail is a change of state too (Nagios counts any state change).
    assert flap_percent(["ok"] * 19 + ["warn", "fail"]) == pytest.approx(12.368, abs=1e-3)
    # Only the newest 21 states count.
    assert flap_percent(["warn", "ok"] * 30 + ["ok"] * 21) == 0.0
    # A short history keeps the positions of the newest slots: 3 changes -> 18.36%.
    assert flap_percent(["ok", "warn", "ok", "warn"]) == pytest.approx(18.355, abs=1e-3)


def test_classification_of_recent_states():
    assert classify(["ok", "ok", "warn"], False) == "new"
    assert classify(["warn"], False) == "new"
    assert classify(["ok", "warn", "warn", "fail"], False) == "persistent"
    assert classify(["warn", "ok", "ok", "warn"], False) == "recurring"
    assert classify(["warn", "ok", "warn"], True) == "flapping"


# -- simulated runs ------------------------------------------------------------

def test_new_then_recurring_and_persistent(tmp_path, monkeypatch):
    sim = Sim(tmp_path, monkeypatch)
    fid = "seat.demo:headset"
    r = sim.run({"headset": "warn"})
    assert hist(r, fid) == {"state": "new", "first_seen": "2026-11-01T02:00:00+00:00",
                            "last_seen": "2026-11-01T02:00:00+00:00", "runs_seen": 1,
                            "runs_window": 1, "flap_percent": 0.0}
    assert r.history["previous_run"] is None and r.history["recorded"] is True
    r = sim.run({"headset": "ok"})
    assert hist(r, fid) is None and r.resolved == [fid]
    for _ in range(5):
        r = sim.run({"headset": "ok"})
    r = sim.run({"headset": "warn"})  # the Monday headset again
    h = hist(r, fid)
    assert (h["state"], h["runs_seen"], h["runs_window"]) == ("recurring", 2, 8)
    assert h["first_seen"] == "2026-11-01T02:00:00+00:00"
    assert h["last_seen"] == "2026-11-08T02:00:00+00:00"
    assert r.history["new"] == 1 and r.history["resolved"] == 0
    # A new finding stays "new" only on its first run; then it is persistent.
    r = sim.run({"headset": "ok", "mic": "fail"})
    assert hist(r, "seat.demo:mic")["state"] == "new"
    r = sim.run({"headset": "ok", "mic": "fail"})
    assert hist(r, "seat.demo:mic")["state"] == "persistent"
    assert hist(r, "seat.demo:mic")["runs_seen"] == 2


def test_a_resolved_finding_is_listed_once(tmp_path, monkeypatch):
    sim = Sim(tmp_path, monkeypatch)
    sim.run({"headset": "fail", "gw": "warn"})
    r = sim.run({"headset": "ok", "gw": "warn"})
    assert r.resolved == ["seat.demo:headset"]
    assert (r.history["new"], r.history["resolved"]) == (0, 1)
    r = sim.run({"headset": "ok", "gw": "warn"})
    assert r.resolved == [] and r.history["resolved"] == 0
    # A finding that disappears altogether is resolved too, once.
    r = sim.run({"headset": "ok"})
    assert r.resolved == ["seat.demo:gw"]
    assert sim.run({"headset": "ok"}).resolved == []


def test_alternating_finding_flaps_with_the_nagios_percentage_then_settles(tmp_path, monkeypatch):
    sim = Sim(tmp_path, monkeypatch)
    fid = "seat.demo:bt"
    seen = []
    for r_ in range(21):  # warn, ok, warn, ... warn: 21 runs
        r = sim.run({"bt": "warn" if r_ % 2 == 0 else "ok"})
        seen.append(hist(r, fid))
    # Runs 0-3: too few changes yet (run 3: three changes in the newest
    # slots, 18.4%); run 4: four changes, 24.2% >= 20: flapping.
    assert seen[0]["state"] == "new" and seen[2]["state"] == "recurring"
    assert seen[3] is None  # run 3 is ok and not flapping: nothing to mark
    assert seen[4]["state"] == "flapping" and seen[4]["flap_percent"] == 24.2
    assert seen[20]["state"] == "flapping" and seen[20]["flap_percent"] == 100.0
    # Settled to ok: still flapping while changes stay in the 21-run window...
    for _ in range(19):  # runs 21-39
        r = sim.run({"bt": "ok"})
        h = hist(r, fid)
        assert h is not None and h["state"] == "flapping", (sim.n, h)
    # ... run 39 holds two changes in its oldest slots (0.75 + 0.776 -> 7.6% > 5) ...
    assert h["flap_percent"] == 7.6
    # ... run 40 only one (0.75 -> 3.75% <= 5): flapping stops, nothing to mark.
    r = sim.run({"bt": "ok"})
    assert hist(r, fid) is None
    row = sim.db().execute("SELECT flapping FROM tracked WHERE fid = ?", (fid,)).fetchone()
    assert row == (0,)


def test_flapping_thresholds_are_configurable(tmp_path, monkeypatch):
    sim = Sim(tmp_path, monkeypatch, flap_start_percent=50, flap_stop_percent=30)
    for r_ in range(9):
        r = sim.run({"bt": "warn" if r_ % 2 == 0 else "ok"})
    # 8 changes in the newest slots (weights 1.066 ... 1.25): 46.3% < 50.
    h = hist(r, "seat.demo:bt")
    assert h["state"] == "recurring" and h["flap_percent"] == 46.3
    r = sim.run({"bt": "ok"})
    # 9 changes: 51.5% >= 50: flapping, marked even on a run where it is ok.
    h = hist(r, "seat.demo:bt")
    assert (h["state"], h["flap_percent"]) == ("flapping", 51.5)
    assert "seat.demo:bt" in r.resolved


def test_runs_in_which_the_check_did_not_run_say_nothing(tmp_path, monkeypatch):
    sim = Sim(tmp_path, monkeypatch)
    fid = "seat.demo:headset"
    sim.run({"headset": "warn"}, other={})
    r = sim.run(other={"x": "ok"}, seat_state="error")  # the check could not run
    assert r.resolved == []
    r = sim.run(other={"x": "ok"}, seat_state="skipped")
    assert r.resolved == []
    r = sim.run({"headset": "warn"}, other={})
    # The runs without the check are not ok runs between: still persistent.
    assert hist(r, fid)["state"] == "persistent" and hist(r, fid)["runs_window"] == 2


def test_the_history_context_travels_with_the_facts(tmp_path, monkeypatch):
    sim = Sim(tmp_path, monkeypatch)
    sim.run({"headset": "warn"})
    sim.run({"headset": "ok"})
    live = sim.run({"headset": "warn"})
    saved = json.loads(json.dumps(sim.col.to_dict()))
    again = Collection.from_dict(saved)
    assert again.history == sim.col.history and again.history["problems"]
    session = HistorySession.begin(sim.config, sim.registry, "facts")
    office = session.finish(evaluate(sim.registry, again, sim.config), again)
    assert [f.to_dict() for f in office.findings] == [f.to_dict() for f in live.findings]
    assert office.resolved == live.resolved and office.history["recorded"] is False
    assert hist(office, "seat.demo:headset")["state"] == "recurring"
    # Judging from facts records nothing (unless [history] record_from_facts).
    assert sim.db().execute("SELECT count(*) FROM runs").fetchone() == (3,)


def test_numbers_kept_per_finding_and_retention(tmp_path, monkeypatch):
    sim = Sim(tmp_path, monkeypatch, keep_days=30, keep_runs=1000)
    for i in range(40):
        sim.run({"headset": "warn" if i == 0 else "ok"})
    db = sim.db()
    runs = db.execute("SELECT min(time), max(time), count(*) FROM runs").fetchone()
    # keep_days = 30 at the last run (10 Dec): runs from 10 Nov on stay.
    assert runs == ("2026-11-10T02:00:00+00:00", "2026-12-10T02:00:00+00:00", 31)
    assert db.execute("SELECT count(*) FROM findings WHERE run NOT IN (SELECT id FROM runs)"
                      ).fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM tracked").fetchone() == (0,)  # last seen 1 Nov
    numbers = db.execute("SELECT numbers FROM findings ORDER BY run DESC LIMIT 1").fetchone()[0]
    assert json.loads(numbers) == {"rssi": -60}  # the numeric evidence only
    sim2 = Sim(tmp_path / "b", monkeypatch, keep_runs=5)
    for i in range(9):
        sim2.run({"headset": "ok"})
    assert sim2.db().execute("SELECT count(*) FROM runs").fetchone() == (5,)


def test_two_hosts_in_one_database_keep_apart(tmp_path, monkeypatch):
    sim = Sim(tmp_path, monkeypatch)
    sim.run({"headset": "warn"})
    store, troubles = History.open(str(sim.state))
    assert troubles == []
    ctx = store.context("ws-07", ["seat.demo"], 2e9, 30)
    assert ctx["runs"] == [] and ctx["problems"] == {} and ctx["previous"] is None
    ctx = store.context("cc-srv01", ["seat.demo"], 2e9, 30)
    assert ctx["problems"] == {"seat.demo:headset": {"check": "seat.demo", "runs": [[0, "warn"]]}}
    store.close()


def test_disabled_history_touches_nothing(tmp_path, monkeypatch):
    sim = Sim(tmp_path, monkeypatch, enabled=False)
    r = sim.run({"headset": "warn"})
    assert r.history is None and hist(r, "seat.demo:headset") is None
    assert not (tmp_path / "state").exists()


def _open_and_say(directory, queue):
    store, troubles = History.open(directory)
    queue.put([t.kind for t in troubles] + ([] if store else ["no store"]))


def test_runs_creating_the_database_at_once_all_get_it(tmp_path):
    # SQLite does not wait on its busy timeout for the switch to WAL: without
    # the retry one of four runs starting together saw "database is locked".
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    for i in range(15):
        queue = ctx.Queue()
        procs = [ctx.Process(target=_open_and_say, args=(str(tmp_path / str(i)), queue))
                 for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [queue.get(timeout=5) for _ in procs] == [[]] * 4
