"""queue.kpi: the call center's own figures per queue, from queue_log.

Offered, answered, abandoned, timed out and left empty; average speed of
answer (ASA); average and 90th-percentile ring time; abandon rate; service
level (answered within ``answer_within_s`` of all offered calls, and
Asterisk's own: answered within the queue's ``servicelevel`` of answered
calls); calls per hour with the peak hours. Targets from ``[queues]``. A
missed target says what the log shows; when call.routing finds the cause
(absent agents rung first) attribution nests this finding under it.
"""

from __future__ import annotations

import math
import time
from typing import Any

from diagnose.check import Check, Needs
from diagnose.checks.asterisk import logfiles, probe
from diagnose.checks.asterisk.settings import (ASTERISK, DEFAULT_WATCHES, QUEUES, asterisk_cfg,
                                                queues_cfg, watched)
from diagnose.model import Fault, Finding, Status


def hist_share_within(hist: list[int], limit: float) -> int:
    """Calls in a one-second histogram at or below *limit* seconds."""
    top = int(math.floor(limit))
    if top >= len(hist) - 1 and len(hist) == 601:
        top = len(hist) - 2
    return sum(hist[:top + 1])


def hist_percentile(hist: list[int], pct: float) -> int | None:
    """Nearest-rank percentile of a one-second histogram, in whole seconds."""
    n = sum(hist)
    if not n:
        return None
    rank = max(1, math.ceil(pct / 100.0 * n))
    seen = 0
    for sec, count in enumerate(hist):
        seen += count
        if seen >= rank:
            return sec
    return len(hist) - 1


def hour_label(start: int, offset: int) -> str:
    return time.strftime("%Y-%m-%d %H:00", time.gmtime(start + offset))


def figures(q: dict[str, Any], qconf: dict[str, Any] | None, qcfg: dict[str, Any],
            offset: int) -> dict[str, Any]:
    """The evidence of one queue: what the customer measures."""
    offered, answered, abandoned = q["offered"], q["answered"], q["abandoned"]
    within = hist_share_within(q["hold_hist"], qcfg["answer_within_s"])
    sl_ast = (qconf or {}).get("servicelevel_s") or 0
    per_hour = []
    for h in q["hours"]:
        per_hour.append({"hour": hour_label(h["start"], offset), "start": h["start"],
                         "offered": h["offered"], "answered": h["answered"], "abandoned": h["abandoned"],
                         "asa_s": round(h["hold_sum_s"] / h["answered"], 1) if h["answered"] else None,
                         "all_busy": h["all_busy"], "none_available": h["none_available"],
                         "max_in_call": h["max_in_call"]})
    peak = sorted((h for h in per_hour if h["offered"]), key=lambda h: (-h["offered"], h["start"]))[:3]
    return {
        "offered": offered, "answered": answered, "abandoned": abandoned,
        "timed_out": q["timed_out"], "left_empty": q["left_empty"], "exit_key": q["exit_key"],
        "asa_s": round(q["hold_sum_s"] / answered, 1) if answered else None,
        "ring_time_avg_s": round(q["ring_sum_s"] / answered, 1) if answered else None,
        "ring_time_p90_s": hist_percentile(q["ring_hist"], 90),
        "abandon_rate_percent": round(100.0 * abandoned / offered, 1) if offered else None,
        "service_level_percent": round(100.0 * within / offered, 1) if offered else None,
        "service_level_definition": f"answered within {qcfg['answer_within_s']:g} s of entering the queue, "
                                    f"of all offered calls",
        "asterisk_service_level_percent": (round(100.0 * hist_share_within(q["hold_hist"], sl_ast) / answered, 1)
                                           if answered and sl_ast else None),
        "asterisk_service_level_definition": (f"answered within the queue's servicelevel ({sl_ast:g} s) of "
                                              f"answered calls, as Asterisk's ServicelevelPerf"
                                              if sl_ast else "servicelevel is not set in queues.conf"),
        "avg_abandon_wait_s": round(q["abandon_wait_sum_s"] / abandoned, 1) if abandoned else None,
        "peak_hours": [{"hour": h["hour"], "offered": h["offered"]} for h in peak],
        "per_hour": per_hour,
    }


class QueueKpi(Check):
    name = "queue.kpi"
    summary = "Asterisk queue figures: offered, answered, abandoned, ASA, ring time, service level per hour"
    section = "queues"
    schema = QUEUES
    reads = {"asterisk": ASTERISK}
    needs = Needs(role="server")
    timeout = 60.0
    watches = DEFAULT_WATCHES

    def watched(self, cfg: dict[str, Any]) -> list[str]:
        return watched(cfg)

    def applies(self, host: Any, cfg: dict[str, Any]) -> str | None:
        path = asterisk_cfg(cfg)["queue_log"]
        if not logfiles.candidates(host, path):
            return f"no {path} (or rotated copies) here: set [asterisk] queue_log"
        return None

    def probe(self, host: Any, cfg: dict[str, Any]) -> dict[str, Any]:
        facts = dict(probe.gather(host, cfg))
        # The judge needs each queue's servicelevel and member count, not the whole config.
        facts["queues"] = {n: {"strategy": q["strategy"], "servicelevel_s": q["servicelevel_s"],
                               "members": len(q["members"]), "timeout_s": q["timeout_s"],
                               "retry_s": q["retry_s"]} for n, q in facts["queues"].items()}
        return facts

    def judge(self, facts: dict[str, Any], cfg: dict[str, Any]) -> list[Finding]:
        qcfg = queues_cfg(cfg)
        log = facts.get("log") or {}
        window = log.get("window")
        findings = [self._log_finding(log)]
        if not window:
            return findings
        offset = window["utc_offset_s"]
        wanted = list(qcfg.get("queues") or []) or sorted(log.get("queues") or {})
        for name in wanted:
            q = (log.get("queues") or {}).get(name)
            if q is None:
                findings.append(Finding(self.name, name, Status.OK,
                                        f"Queue {name}: no calls in the last {window['hours']:g} h",
                                        evidence={"queue": name, "offered": 0, "window": window}))
                continue
            findings.append(self._queue(name, q, (facts.get("queues") or {}).get(name), qcfg, window, offset))
        return findings

    def _queue(self, name: str, q: dict[str, Any], qconf: dict[str, Any] | None, qcfg: dict[str, Any],
               window: dict[str, Any], offset: int) -> Finding:
        ev = figures(q, qconf, qcfg, offset)
        ev["queue"] = name
        ev["window"] = window
        targets = {"asa_s": qcfg["asa_s"], "ring_time_s": qcfg["ring_time_s"],
                   "abandon_percent": qcfg["abandon_percent"],
                   "service_level_percent": qcfg["service_level_percent"]}
        ev["targets"] = targets
        summary = (f"{ev['offered']} offered, {ev['answered']} answered, {ev['abandoned']} abandoned"
                   + (f", ASA {ev['asa_s']:.0f} s" if ev["asa_s"] is not None else "")
                   + (f", ring time {ev['ring_time_avg_s']:.0f} s" if ev["ring_time_avg_s"] is not None else "")
                   + (f", abandon rate {ev['abandon_rate_percent']:g}%" if ev["abandon_rate_percent"] is not None else "")
                   + (f", service level {ev['service_level_percent']:g}%" if ev["service_level_percent"] is not None else ""))
        if ev["offered"] < qcfg["min_calls"]:
            return Finding(self.name, name, Status.OK,
                           f"Queue {name}: {summary} (too few calls to judge the targets)",
                           detail=f"Fewer than [queues] min_calls = {qcfg['min_calls']} calls in the window.",
                           evidence=ev)
        missed, worst = [], Status.OK
        checks = [("ASA", ev["asa_s"], targets["asa_s"], "s", True),
                  ("ring time", ev["ring_time_avg_s"], targets["ring_time_s"], "s", True),
                  ("abandon rate", ev["abandon_rate_percent"], targets["abandon_percent"], "%", True),
                  ("service level", ev["service_level_percent"], targets["service_level_percent"], "%", False)]
        for what, got, target, unit, lower_is_better in checks:
            if got is None:
                continue
            bad = got > target if lower_is_better else got < target
            if not bad:
                continue
            far = got >= 2 * target if lower_is_better else got < target / 2
            worst = max(worst, Status.FAIL if far else Status.WARN)
            sep = " " if unit == "s" else ""
            missed.append({"what": what, "value": got, "target": target, "unit": unit,
                           "text": f"{what} {got:g}{sep}{unit} (target {target:g}{sep}{unit})"})
        ev["missed"] = missed
        if not missed:
            return Finding(self.name, name, Status.OK, f"Queue {name} meets its targets: {summary}",
                           detail=self._definitions(ev), evidence=ev)
        fault, why, fix = self._why(name, q, qconf, ev)
        title = (f"Queue {name} misses {len(missed)} target{'s' if len(missed) != 1 else ''}: "
                 + ", ".join(m["text"] for m in missed))
        return Finding(self.name, name, worst, title, fault,
                       detail=f"{why} Over the last {window['hours']:g} h: {summary}. " + self._definitions(ev),
                       evidence=ev, remedy=fix)

    @staticmethod
    def _definitions(ev: dict[str, Any]) -> str:
        peaks = ", ".join(f"{p['hour'][-5:]} ({p['offered']} calls)" for p in ev["peak_hours"])
        text = f"Service level = {ev['service_level_definition']}"
        if ev["asterisk_service_level_percent"] is not None:
            text += (f"; Asterisk's own: {ev['asterisk_service_level_percent']:g}% "
                     f"({ev['asterisk_service_level_definition']})")
        return text + (f". Peak hours: {peaks}." if peaks else ".")

    @staticmethod
    def _why(name: str, q: dict[str, Any], qconf: dict[str, Any] | None,
             ev: dict[str, Any]) -> tuple[Fault, str, str]:
        members = q.get("members") or {}
        silent = sorted(m for m, st in members.items() if st.get("rna") and not st.get("connects"))
        if silent:
            rings = sum(members[m]["rna"] for m in silent)
            return (Fault.SITE,
                    f"The log shows agents' phones ringing without an answer: {', '.join(silent)} "
                    f"({rings} unanswered rings, no call answered), so callers wait while empty seats ring.",
                    f"See call.routing for queue {name}: pause or remove the absent members "
                    f"(`asterisk -rx 'queue show {name}'`).")
        if q.get("none_available") and q["none_available"] * 4 >= max(1, q["offered"]):
            return (Fault.SITE,
                    f"{q['none_available']} of {q['offered']} calls came in while no member could answer "
                    f"(paused or logged off).",
                    f"Unpause or log in agents of queue {name}; see call.routing.")
        peak = ev["peak_hours"][0] if ev["peak_hours"] else None
        row = next((h for h in ev["per_hour"] if peak and h["hour"] == peak["hour"]), None)
        if row and row["offered"] and row["all_busy"] * 4 >= row["offered"]:
            return (Fault.SITE,
                    f"At the peak hour {row['hour'][-5:]} {row['all_busy']} of {row['offered']} calls came in "
                    f"while every available agent was on a call (up to {row['max_in_call']} at once"
                    + (f" of {qconf['members']} members" if qconf else "") + "): too few agents for the load.",
                    f"Staff queue {name} for its peak hours ({', '.join(p['hour'][-5:] for p in ev['peak_hours'])}) "
                    f"or add members; check live with `asterisk -rx 'queue show {name}'`.")
        return (Fault.UNDETERMINED,
                "The log does not show why: no unanswered rings, no all-busy peak, no hour without agents.",
                f"Look at the hours in the evidence and at `asterisk -rx 'queue show {name}'` during the peak.")

    @staticmethod
    def _log_finding(log: dict[str, Any]) -> Finding:
        health = log.get("health") or {}
        window = log.get("window")
        files = [f for f in log.get("files", []) if f.get("read")]
        ev = {"path": log.get("path"), "files": log.get("files", []), "window": window, "health": health}
        if not window:
            return Finding("queue.kpi", "queue_log", Status.WARN, f"No events in {log.get('path')}",
                           Fault.UNDETERMINED, detail="The log and its rotated copies hold no readable line.",
                           evidence=ev, remedy="Check that app_queue logs: `asterisk -rx 'logger show channels'`"
                                               " and queue_log = yes in logger.conf")
        notes = []
        if health.get("malformed"):
            notes.append(f"{health['malformed']} malformed line{'s' if health['malformed'] != 1 else ''} skipped")
        unknown = health.get("unknown_events") or {}
        if unknown:
            notes.append(f"{sum(unknown.values())} lines with unknown events ({', '.join(sorted(unknown)[:5])}) skipped")
        if health.get("truncated"):
            notes.append("a last line without its end (being written, or cut) skipped")
        if window.get("rotated"):
            notes.append("the window spans a rotation: read " + ", ".join(f["path"] for f in files))
        if window.get("covered_from") and window["covered_from"] > window["start"]:
            hrs = (window["end"] - window["covered_from"]) / 3600.0
            notes.append(f"the log covers only the last {hrs:.1f} h of the {window['hours']:g} h window")
        for err in health.get("read_errors") or []:
            notes.append(f"read error: {err}")
        lines = health.get("lines", 0)
        status = Status.WARN if health.get("malformed", 0) * 100 > max(lines, 1) or health.get("read_errors") else Status.OK
        title = f"queue_log: {lines} lines read" + (f"; {'; '.join(notes)}" if notes else "")
        return Finding("queue.kpi", "queue_log", status, title,
                       Fault.UNDETERMINED if status is Status.WARN else None,
                       detail="More than 1% of the lines could not be read: the figures may be off."
                       if status is Status.WARN else "", evidence=ev,
                       remedy="Look at the malformed lines in the evidence; something besides app_queue "
                              "writes to this file, or it was damaged." if status is Status.WARN else "")
