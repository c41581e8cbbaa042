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
from diagnose.i18n import N_, _, _n, join
from diagnose.model import Fault, Finding, Status, step


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


def definitions(answer_within_s: float, servicelevel_s: float) -> tuple[str, str]:
    """What the two service levels mean, as the report says it."""
    ours = _("answered within {s:g} s of entering the queue, of all offered calls", s=answer_within_s)
    theirs = (_("answered within the queue's servicelevel ({s:g} s) of answered calls, as Asterisk's "
                "ServicelevelPerf", s=servicelevel_s) if servicelevel_s else
              _("servicelevel is not set in queues.conf"))
    return ours, theirs


def _show(name: str) -> str:
    return f"asterisk -rx 'queue show {name}'"


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
    ours, theirs = definitions(qcfg["answer_within_s"], sl_ast)
    return {
        "offered": offered, "answered": answered, "abandoned": abandoned,
        "timed_out": q["timed_out"], "left_empty": q["left_empty"], "exit_key": q["exit_key"],
        "asa_s": round(q["hold_sum_s"] / answered, 1) if answered else None,
        "ring_time_avg_s": round(q["ring_sum_s"] / answered, 1) if answered else None,
        "ring_time_p90_s": hist_percentile(q["ring_hist"], 90),
        "abandon_rate_percent": round(100.0 * abandoned / offered, 1) if offered else None,
        "service_level_percent": round(100.0 * within / offered, 1) if offered else None,
        "service_level_definition": str(ours),
        "asterisk_service_level_percent": (round(100.0 * hist_share_within(q["hold_hist"], sl_ast) / answered, 1)
                                           if answered and sl_ast else None),
        "asterisk_service_level_definition": str(theirs),
        "avg_abandon_wait_s": round(q["abandon_wait_sum_s"] / abandoned, 1) if abandoned else None,
        "peak_hours": [{"hour": h["hour"], "offered": h["offered"]} for h in peak],
        "per_hour": per_hour,
    }


class QueueKpi(Check):
    name = "queue.kpi"
    summary = N_("Asterisk queue figures: offered, answered, abandoned, ASA, ring time, service level per hour")
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
            return _("no {path} (or rotated copies) here: set [asterisk] queue_log", path=path)
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
                                        _("Queue {queue}: no calls in the last {hours:g} h", queue=name,
                                          hours=window["hours"]),
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
        summary = self._summary(ev)
        if ev["offered"] < qcfg["min_calls"]:
            return Finding(self.name, name, Status.OK,
                           _("Queue {queue}: {summary} (too few calls to judge the targets)", queue=name,
                             summary=summary),
                           detail=_("Fewer than [queues] min_calls = {min} calls in the window.",
                                    min=qcfg["min_calls"]),
                           evidence=ev)
        missed, texts, worst = [], [], Status.OK
        checks = [(N_("ASA"), ev["asa_s"], targets["asa_s"], "s", True),
                  (N_("ring time"), ev["ring_time_avg_s"], targets["ring_time_s"], "s", True),
                  (N_("abandon rate"), ev["abandon_rate_percent"], targets["abandon_percent"], "%", True),
                  (N_("service level"), ev["service_level_percent"], targets["service_level_percent"], "%", False)]
        for what, got, target, unit, lower_is_better in checks:
            if got is None:
                continue
            bad = got > target if lower_is_better else got < target
            if not bad:
                continue
            far = got >= 2 * target if lower_is_better else got < target / 2
            worst = max(worst, Status.FAIL if far else Status.WARN)
            text = (_("{what} {value:g} s (target {target:g} s)", what=_(what), value=got, target=target)
                    if unit == "s" else
                    _("{what} {value:g}% (target {target:g}%)", what=_(what), value=got, target=target))
            texts.append(text)
            missed.append({"what": what, "value": got, "target": target, "unit": unit, "text": str(text)})
        ev["missed"] = missed
        if not missed:
            return Finding(self.name, name, Status.OK,
                           _("Queue {queue} meets its targets: {summary}", queue=name, summary=summary),
                           detail=self._definitions(ev, qcfg, qconf), evidence=ev)
        fault, why, fix = self._why(name, q, qconf, ev)
        title = _n("Queue {queue} misses {n} target: {missed}", "Queue {queue} misses {n} targets: {missed}",
                   len(missed), queue=name, missed=join(", ", texts))
        return Finding(self.name, name, worst, title, fault,
                       detail=_("{why} Over the last {hours:g} h: {summary}. {definitions}", why=why,
                                hours=window["hours"], summary=summary,
                                definitions=self._definitions(ev, qcfg, qconf)),
                       evidence=ev, remedy=fix)

    @staticmethod
    def _summary(ev: dict[str, Any]) -> str:
        parts = [_("{offered} offered, {answered} answered, {abandoned} abandoned", offered=ev["offered"],
                   answered=ev["answered"], abandoned=ev["abandoned"])]
        if ev["asa_s"] is not None:
            parts.append(_("ASA {s:.0f} s", s=ev["asa_s"]))
        if ev["ring_time_avg_s"] is not None:
            parts.append(_("ring time {s:.0f} s", s=ev["ring_time_avg_s"]))
        if ev["abandon_rate_percent"] is not None:
            parts.append(_("abandon rate {p:g}%", p=ev["abandon_rate_percent"]))
        if ev["service_level_percent"] is not None:
            parts.append(_("service level {p:g}%", p=ev["service_level_percent"]))
        return join(", ", parts)

    @staticmethod
    def _definitions(ev: dict[str, Any], qcfg: dict[str, Any], qconf: dict[str, Any] | None) -> str:
        ours, theirs = definitions(qcfg["answer_within_s"], (qconf or {}).get("servicelevel_s") or 0)
        peaks = join(", ", [_n("{hour} ({n} call)", "{hour} ({n} calls)", p["offered"], hour=p["hour"][-5:])
                            for p in ev["peak_hours"]])
        if ev["asterisk_service_level_percent"] is not None:
            text = _("Service level = {ours}; Asterisk's own: {p:g}% ({theirs})", ours=ours,
                     p=ev["asterisk_service_level_percent"], theirs=theirs)
        else:
            text = _("Service level = {ours}", ours=ours)
        return _("{text}. Peak hours: {peaks}.", text=text, peaks=peaks) if peaks else text + "."

    @staticmethod
    def _why(name: str, q: dict[str, Any], qconf: dict[str, Any] | None,
             ev: dict[str, Any]) -> tuple[Fault, str, list[Any]]:
        members = q.get("members") or {}
        silent = sorted(m for m, st in members.items() if st.get("rna") and not st.get("connects"))
        if silent:
            rings = sum(members[m]["rna"] for m in silent)
            return (Fault.SITE,
                    _n("The log shows agents' phones ringing without an answer: {members} ({n} unanswered ring, "
                       "no call answered), so callers wait while empty seats ring.",
                       "The log shows agents' phones ringing without an answer: {members} ({n} unanswered rings, "
                       "no call answered), so callers wait while empty seats ring.", rings,
                       members=", ".join(silent)),
                    [step(_("See call.routing for queue {queue}: pause or remove the absent members. The queue "
                            "as Asterisk sees it:", queue=name), _show(name))])
        if q.get("none_available") and q["none_available"] * 4 >= max(1, q["offered"]):
            return (Fault.SITE,
                    _n("{none} of {offered} call came in while no member could answer (paused or logged off).",
                       "{none} of {offered} calls came in while no member could answer (paused or logged off).",
                       q["offered"], none=q["none_available"], offered=q["offered"]),
                    [step(_("Unpause or log in agents of queue {queue}; see call.routing.", queue=name))])
        peak = ev["peak_hours"][0] if ev["peak_hours"] else None
        row = next((h for h in ev["per_hour"] if peak and h["hour"] == peak["hour"]), None)
        if row and row["offered"] and row["all_busy"] * 4 >= row["offered"]:
            args = dict(hour=row["hour"][-5:], busy=row["all_busy"], offered=row["offered"],
                        most=row["max_in_call"])
            if qconf:
                why = _n("At the peak hour {hour} {busy} of {offered} call came in while every available agent "
                         "was on a call (up to {most} at once of {members} members): too few agents for the load.",
                         "At the peak hour {hour} {busy} of {offered} calls came in while every available agent "
                         "was on a call (up to {most} at once of {members} members): too few agents for the load.",
                         row["offered"], members=qconf["members"], **args)
            else:
                why = _n("At the peak hour {hour} {busy} of {offered} call came in while every available agent "
                         "was on a call (up to {most} at once): too few agents for the load.",
                         "At the peak hour {hour} {busy} of {offered} calls came in while every available agent "
                         "was on a call (up to {most} at once): too few agents for the load.",
                         row["offered"], **args)
            return (Fault.SITE, why,
                    [step(_("Staff queue {queue} for its peak hours ({hours}) or add members; check it live:",
                            queue=name, hours=", ".join(p["hour"][-5:] for p in ev["peak_hours"])), _show(name))])
        return (Fault.UNDETERMINED,
                _("The log does not show why: no unanswered rings, no all-busy peak, no hour without agents."),
                [step(_("Look at the calls per hour in this report and at the queue during the peak:"), _show(name))])

    @staticmethod
    def _log_finding(log: dict[str, Any]) -> Finding:
        health = log.get("health") or {}
        window = log.get("window")
        files = [f for f in log.get("files", []) if f.get("read")]
        ev = {"path": log.get("path"), "files": log.get("files", []), "window": window, "health": health}
        if not window:
            return Finding("queue.kpi", "queue_log", Status.WARN, _("No events in {path}", path=log.get("path")),
                           Fault.UNDETERMINED, detail=_("The log and its rotated copies hold no readable line."),
                           evidence=ev, remedy=[
                               step(_("Check that app_queue logs:"), "asterisk -rx 'logger show channels'"),
                               step(_("and that logger.conf sets queue_log = yes."))])
        notes = []
        if health.get("malformed"):
            notes.append(_n("{n} malformed line skipped", "{n} malformed lines skipped", health["malformed"]))
        unknown = health.get("unknown_events") or {}
        if unknown:
            notes.append(_n("{n} line with unknown events ({events}) skipped",
                            "{n} lines with unknown events ({events}) skipped", sum(unknown.values()),
                            events=", ".join(sorted(unknown)[:5])))
        if health.get("truncated"):
            notes.append(_("a last line without its end (being written, or cut) skipped"))
        if window.get("rotated"):
            notes.append(_("the window spans a rotation: read {files}", files=", ".join(f["path"] for f in files)))
        if window.get("covered_from") and window["covered_from"] > window["start"]:
            hrs = (window["end"] - window["covered_from"]) / 3600.0
            notes.append(_("the log covers only the last {covered:.1f} h of the {hours:g} h window", covered=hrs,
                           hours=window["hours"]))
        for err in health.get("read_errors") or []:
            notes.append(_("read error: {error}", error=err))
        lines = health.get("lines", 0)
        status = Status.WARN if health.get("malformed", 0) * 100 > max(lines, 1) or health.get("read_errors") else Status.OK
        title = (_n("queue_log: {n} line read; {notes}", "queue_log: {n} lines read; {notes}", lines,
                    notes=join("; ", notes)) if notes else
                 _n("queue_log: {n} line read", "queue_log: {n} lines read", lines))
        warn = status is Status.WARN
        return Finding("queue.kpi", "queue_log", status, title,
                       Fault.UNDETERMINED if warn else None,
                       detail=_("More than 1% of the lines could not be read: the figures may be off.")
                       if warn else "", evidence=ev,
                       remedy=_("Look at the malformed lines in the evidence; something besides app_queue "
                                "writes to this file, or it was damaged.") if warn else "")
