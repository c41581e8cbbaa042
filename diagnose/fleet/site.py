"""``diagnose site``: every seat's report and liveness -> one site report.

Reads the retained messages of the site's topics from the broker (``--fresh``
first asks every seat to run and waits up to ``--wait`` seconds for the
online ones), or the report files in ``--reports DIR``; judges liveness
(offline, silent, refused), lifts each seat's root causes, groups them with
:mod:`diagnose.fleet.siterules` and renders the ``diagnose.site/1`` report in
any format ``diagnose run`` has. Exit codes as ``run``.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from diagnose import __version__
from diagnose.attribution import order
from diagnose.fleet import siterules
from diagnose.fleet.collect import Gathered, SeatInput
from diagnose.fleet.settings import Fleet
from diagnose.fleet.sitemodel import SeatRow, SiteFinding, SiteReport, lift, make_site_verdict
from diagnose.model import Fault, Status

SILENT_INTERVALS = 2  # a seat unheard of for longer than this many intervals is "silent"

_BROKER_REMEDY = {
    "auth": "Check [fleet] user and the password in the variable [fleet] password_env names against the "
            "broker's password file (`mosquitto_passwd -b /etc/mosquitto/diagnose.passwd USER PASSWORD`, "
            "then reload mosquitto).",
    "tls": "Check that [fleet] ca_file is the CA that signed the broker's certificate and that the broker "
           "URL's host name is the one in the certificate: `openssl s_client -connect HOST:PORT -CAfile CA`.",
    "tcp": "Check that the broker runs and listens there (`systemctl status mosquitto`, `ss -ltnp`) and that "
           "[fleet] broker names the right host and port.",
    "timeout": "Check the scheme (mqtts:// for a TLS listener, mqtt:// otherwise) and the broker's log.",
}


_EPOCHS: dict[str, float | None] = {}  # seats of a site report at the same few times: parsed once


def _epoch(text: Any) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    _seen = _EPOCHS
    if text in _seen:
        return _seen[text]
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        _seen[text] = None
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    _seen[text] = t.timestamp()
    return _seen[text]


def _iso(ts: float | None) -> str | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.timezone.utc).replace(microsecond=0).isoformat()


def _last_report(s: SeatInput) -> dict[str, Any] | None:
    if s.report is None:
        return None
    r = s.report
    return {"started": r.started, "status": str(r.verdict.status), "headline": r.verdict.headline,
            "problems": [f.title for f in r.findings if f.is_root_cause][:10]}


def _seat_finding(s: SeatInput, state: str, last_seen: float | None, interval: float,
                  now: float) -> SiteFinding:
    where = ", ".join(x for x in (f"switch {s.seat.get('switch')}" if s.seat.get("switch") else "",
                                  f"port {s.seat.get('port')}" if s.seat.get("port") else "",
                                  s.seat.get("subnet") or "") if x)
    ev = {"state": state, "last_seen": _iso(last_seen), "status": s.status, "interval_s": interval,
          "switch": s.seat.get("switch") or "", "port": s.seat.get("port") or "",
          "subnet": s.seat.get("subnet") or "", "last_report": _last_report(s)}
    since = _iso(last_seen) or "an unknown time"
    if state == "offline":
        return SiteFinding("site.seat", s.name, Status.FAIL, f"Seat {s.name} is offline (last seen {since})",
                           Fault.SITE, detail=f"The broker declared {s.name} gone: its agent stopped answering"
                           f"{' (' + where + ')' if where else ''}. When no other seat on its switch dropped with "
                           "it, the cause is at this seat: the PC is off, or its network cable or switch port is dead.",
                           evidence=ev, remedy=f"At {s.name}: is the PC on, is the network cable clicked in at both "
                           "ends and the switch port LED lit? Once it is back, its agent reports by itself "
                           "(`systemctl status diagnose-agent` on the seat).", seats=[s.name],
                           label=f"{s.name}: offline")
    if state == "stopped":
        return SiteFinding("site.seat", s.name, Status.WARN, f"Seat {s.name} was shut down ({since})", Fault.SITE,
                           detail=f"The agent on {s.name} said goodbye: the PC was shut down or the agent stopped "
                           "on purpose. Nothing is known about the seat since.", evidence=ev,
                           remedy=f"If {s.name} should be working: switch the PC on, or `systemctl start "
                           "diagnose-agent` on it.", seats=[s.name], label=f"{s.name}: shut down")
    minutes = (now - last_seen) / 60 if last_seen else None
    return SiteFinding("site.seat", s.name, Status.WARN,
                       f"Seat {s.name} is silent" + (f" for {minutes:.0f} min" if minutes else "")
                       + f" (last report {s.report.started if s.report else 'never'})", Fault.UNDETERMINED,
                       detail=f"{s.name} has not reported for more than {SILENT_INTERVALS} of its intervals "
                       f"({interval:g}s each) although the broker does not say it is offline: its agent hangs "
                       "or its audit takes too long. Its last known report is in the evidence.",
                       evidence=ev, remedy=f"On {s.name}: `systemctl status diagnose-agent` and "
                       "`journalctl -u diagnose-agent -n 50`; restart the agent.", seats=[s.name],
                       label=f"{s.name}: silent")


def _refused(name: str, why: str, source: str, seat: str = "") -> SiteFinding:
    return SiteFinding("site.report", name, Status.FAIL, f"Report from {name} refused: {why}",
                       Fault.UNDETERMINED, detail=f"The report published as {source} is not accepted ({why}); "
                       "the rest of the site report does not depend on it. A seat's report is untrusted input: "
                       "an agent of another version, a damaged file, or someone publishing in its name.",
                       evidence={"source": source, "reason": why}, remedy=f"On {name}: run `diagnose run "
                       "--format json` and compare; check who else can write its topic (the broker's ACL).",
                       seats=[seat] if seat else [], label=f"{name}: report refused")


def build(g: Gathered, fleet: Fleet, started: float, now: float | None = None,
          mode: str = "broker") -> SiteReport:
    now = time.time() if now is None else now
    findings: list[SiteFinding] = []
    if g.broker_error:
        kind = g.broker_error["kind"]
        findings.append(SiteFinding(
            "site.broker", str(fleet.broker), Status.ERROR,
            f"Cannot read the site's reports from {fleet.broker}: {g.broker_error['message']}",
            Fault.UNDETERMINED, detail="Without the broker this site report knows no seat; nothing about the "
            "seats is judged.", evidence=dict(g.broker_error, broker=str(fleet.broker), user=fleet.user),
            remedy=_BROKER_REMEDY.get(kind, _BROKER_REMEDY["tcp"]), label="broker unreachable"))
    for i, r in enumerate(g.rejects, 1):
        findings.append(_refused(f"message {i}", r["reason"], r["source"]))
    seats_loc: dict[str, dict[str, Any]] = {}
    times: dict[str, float | None] = {}
    rows: list[SeatRow] = []
    reports: dict[str, Any] = {}
    reporting = 0
    for name in sorted(g.seats):
        s = g.seats[name]
        loc = dict(s.seat)
        seats_loc[name] = loc
        status = s.status or {}
        interval = float(loc.get("interval_s") or status.get("interval_s") or fleet.interval_s)
        seen = [t for t in (_epoch(s.seen), _epoch(status.get("time")),
                            _epoch(s.report.started) if s.report else None) if t is not None]
        last_seen = max(seen) if seen else None
        state = status.get("state") or "unknown"
        if state == "offline" and status.get("reason") == "agent stopped":
            state = "stopped"  # shut down cleanly: the PC was switched off, not cut off
        if state not in ("online", "offline", "stopped", "unknown"):
            state = "unknown"
        if state not in ("offline", "stopped") and s.refused is None and last_seen is not None and (
                mode == "broker" or loc.get("interval_s")) and \
                now - last_seen > SILENT_INTERVALS * interval + fleet.keepalive_s:
            state = "silent"
        mine: list[SiteFinding] = []
        if s.refused:
            mine.append(_refused(name, s.refused, s.source, seat=name))
        if state in ("offline", "stopped", "silent"):
            f = _seat_finding(s, state, last_seen, interval, now)
            mine.append(f)
            times[f.id] = last_seen
        elif s.report is None and not s.refused:
            mine.append(SiteFinding(
                "site.seat", name, Status.WARN, f"Seat {name} is {state} but has no report", Fault.UNDETERMINED,
                detail=f"The broker holds {name}'s status but no report: its agent has not finished a first audit "
                "yet, or the broker dropped retained messages (mosquitto's max_queued_messages, 1000 by default, "
                "is smaller than the number of the site's retained messages).",
                evidence={"state": state, "status": s.status, "last_seen": _iso(last_seen)},
                remedy="Run `diagnose site --fresh`; on the broker set `max_queued_messages 0` (or at least four "
                "times the number of seats) in mosquitto.conf and restart mosquitto.", seats=[name],
                label=f"{name}: no report"))
        elif s.report is not None:
            reporting += 1
            t = _epoch(s.report.started)
            for c in s.report.checks:
                if c.status is Status.ERROR:
                    mine.append(SiteFinding(c.name, "run", Status.ERROR, f"{c.name} could not run on {name}: "
                                            f"{c.error or 'error'}", Fault.UNDETERMINED, evidence={"error": c.error},
                                            remedy=f"On {name}: `diagnose run --only {c.name} -v`",
                                            seat=name, seats=[name]))
            for f in s.report.findings:
                if f.status.is_problem:
                    lifted = lift(f, name)
                    mine.append(lifted)
                    times[lifted.id] = t
        if s.raw is not None:
            reports[name] = s.raw
        findings.extend(mine)
        rows.append(SeatRow(
            name=name, state="refused" if s.refused and state in ("online", "unknown") else state,
            status=max([f.status for f in mine] + [s.report.verdict.status if s.report and state != "offline"
                                                      else Status.OK]),
            verdict=s.report.verdict.to_dict() if s.report else None,
            switch=str(loc.get("switch") or ""), port=str(loc.get("port") or ""),
            subnet=str(loc.get("subnet") or ""), room=str(loc.get("room") or ""),
            last_report=s.report.started if s.report else None, last_seen=_iso(last_seen)))
    site_made = siterules.apply(siterules.SITE_RULES, findings, seats_loc, times, reporting)
    findings.extend(site_made)
    siterules.inherit(findings)
    by_id = {f.id: f for f in findings}
    for f in findings:  # links to findings that are not in the site report (ok at the seat) are dropped
        f.caused_by = [c for c in f.caused_by if c in by_id]
        f.consequences = [c for c in f.consequences if c in by_id]
    findings = order(findings, by_id)  # type: ignore[arg-type]
    involved = {n for f in findings if f.status.is_problem for n in f.seats}
    for row in rows:
        row.healthy = (row.state in ("online", "unknown") and row.name in reports
                       and row.status <= Status.SKIP and row.name not in involved)
    worst: dict[str, Status] = {}  # each seat's worst finding, in one pass over the findings
    for f in findings:
        for n in f.seats:
            if f.status > worst.get(n, Status.OK):
                worst[n] = f.status
    for row in rows:
        if worst.get(row.name, Status.OK) > row.status:
            row.status = worst[row.name]
    verdict = make_site_verdict(fleet.site_name or fleet.site_id, findings, rows)
    return SiteReport(__version__, fleet.site_name or fleet.site_id, fleet.site_id,
                      _iso(started) or "", time.time() - started, findings, rows, reports, verdict, g.source)
