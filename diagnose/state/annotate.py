"""What the run history says about this run's findings: new, recurring,
persistent or flapping, and what was resolved since the previous run.

A pure function of the report and the history *context* (what the history
database knew of this host before this run, see
:meth:`diagnose.state.history.History.context`), so that a run judged again
with ``--from-facts`` (the context travels in the facts file) is marked
exactly the same way.

A finding's *states* are its statuses in the recent runs in which its check
ran (oldest first, this run last): ``warn``, ``fail`` or ``error`` when it was
a problem, ``ok`` when it was fine or absent. A run in which the check was
skipped or could not run says nothing about the finding and is left out.

- **new**: a problem now and in none of the earlier recent runs;
- **persistent**: a problem in every recent run since it first showed;
- **recurring**: a problem now and before, with ok runs between;
- **flapping**: Nagios' flap detection (below) says so; a finding that is
  flapping is marked so even in a run where it is ok.

Flap detection is Nagios' algorithm: over the last 21 states, each of the 20
transitions that is a change of state counts with a weight rising linearly
from 0.75 (the oldest) to 1.25 (the newest); the percent state change is the
weighted sum / 20 * 100. A finding starts flapping when it reaches
``flap_start_percent`` (20) and stops only when it falls to
``flap_stop_percent`` (5); in between it keeps its previous flapping state,
which the history database stores.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from diagnose.model import Report, Status

FLAP_STATES = 21  # Nagios' MAX_STATE_HISTORY_ENTRIES
LOW_WEIGHT, HIGH_WEIGHT = 0.75, 1.25
OK = "ok"
PROBLEM = ("warn", "fail", "error")
# Checks whose findings are about this run itself (its mail, its schedule,
# its history), not about the site: report.delivery, report.schedule ...
PSEUDO_PREFIX = "report."


def flap_percent(states: Sequence[str]) -> float:
    """Nagios' percent state change of the newest 21 *states* (oldest first).

    With fewer than 21 states the missing ones are the oldest slots of the
    window, so each change keeps the weight of its position: a finding with
    a short history is not called flapping sooner than Nagios would."""
    window = list(states)[-FLAP_STATES:]
    offset = FLAP_STATES - len(window)
    weighted = 0.0
    for i in range(1, len(window)):
        if window[i] != window[i - 1]:
            x = i + offset  # 1 (oldest transition) .. 20 (newest)
            weighted += LOW_WEIGHT + (x - 1) * (HIGH_WEIGHT - LOW_WEIGHT) / (FLAP_STATES - 2)
    return weighted * 100.0 / (FLAP_STATES - 1)


def still_flapping(percent: float, was_flapping: bool, start: float, stop: float) -> bool:
    """Nagios' hysteresis: start at >= *start*, stop at <= *stop*."""
    if was_flapping:
        return percent > stop
    return percent >= start


def classify(recent: Sequence[str], flapping: bool) -> str:
    """The history state of a finding from its recent states (this run last)."""
    if flapping:
        return "flapping"
    earlier = recent[:-1]
    if not any(s != OK for s in earlier):
        return "new"
    first = next(i for i, s in enumerate(recent) if s != OK)
    return "persistent" if all(s != OK for s in recent[first:]) else "recurring"


def state_of(status: Status | str) -> str:
    s = str(status)
    return s if s in PROBLEM else OK


def annotate(report: Report, context: Mapping[str, Any], cfg: Mapping[str, Any]) -> dict[str, bool]:
    """Fill ``history`` of the report's findings, ``report.resolved`` and the
    counts of ``report.history`` from *context*; return the new flapping
    state of every finding looked at (for the history database to keep)."""
    runs: list[dict[str, Any]] = context.get("runs") or []
    problems: dict[str, Any] = context.get("problems") or {}
    tracked: dict[str, Any] = context.get("tracked") or {}
    window = max(int(cfg.get("recent_runs", 30)), 1)
    span = max(window, FLAP_STATES) - 1  # earlier runs needed besides this one
    start = float(cfg.get("flap_start_percent", 20))
    stop = float(cfg.get("flap_stop_percent", 5))
    now = report.started

    ran = {c.name for c in report.checks if c.status not in (Status.SKIP, Status.ERROR)
           and not c.name.startswith(PSEUDO_PREFIX)}
    series: dict[str, list[int]] = {}
    for name in ran:
        series[name] = [i for i, r in enumerate(runs)
                        if r.get("checks", {}).get(name) not in (None, "skip", "error")][-span:]

    current = {f.id: f for f in report.findings if f.check in ran}
    looked = dict.fromkeys(current)
    for fid, p in problems.items():
        if p.get("check") in ran:
            looked.setdefault(fid)
    flags: dict[str, bool] = {}
    resolved: list[str] = []
    appeared = 0
    for fid in looked:
        f = current.get(fid)
        check = f.check if f is not None else problems[fid]["check"]
        past = {int(i): st for i, st in (problems.get(fid) or {}).get("runs", [])}
        states = [state_of(past.get(i, OK)) for i in series[check]]
        states.append(state_of(f.status) if f is not None else OK)
        percent = flap_percent(states)
        known = tracked.get(fid) or {}
        flapping = still_flapping(percent, bool(known.get("flapping")), start, stop)
        flags[fid] = flapping
        problem = states[-1] != OK
        before = len(states) > 1 and states[-2] != OK
        if before and not problem:
            resolved.append(fid)
        if problem and not before:
            appeared += 1
        if f is None or not (problem or flapping):
            continue
        recent = states[-window:]
        f.history = {
            "state": classify(recent, flapping),
            "first_seen": known.get("first_seen") or (now if problem else None),
            "last_seen": now if problem else known.get("last_seen"),
            "runs_seen": sum(1 for s in recent if s != OK),
            "runs_window": len(recent),
            "flap_percent": round(percent, 1),
        }
    report.resolved = sorted(resolved)
    summary = dict(report.history or {})
    summary.update(previous_run=(context.get("previous") or {}).get("time"),
                   previous_status=(context.get("previous") or {}).get("status"),
                   new=appeared, resolved=len(resolved))
    report.history = summary
    return flags
