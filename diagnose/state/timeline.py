"""``diagnose history``: the timeline of findings kept in the run history.

For every finding that was a problem at least once in the runs asked for,
the runs in which its status changed (the first one included), how many of
the runs of its check it was a problem in, when it was first and last seen,
and whether it is flapping now. Runs in which its check did not run (skipped,
could not run, or not selected with --only) are left out: they say nothing
about the finding.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from diagnose.i18n import _, _n, tr
from diagnose.state.history import PROBLEM, History

_RELATIVE = re.compile(r"^\s*(\d+)\s*([dhw])\s*$")


def parse_since(text: str, now: dt.datetime | None = None) -> float:
    """``2026-11-01``, ``2026-11-01T06:00`` (UTC unless it says otherwise),
    or ``7d`` / ``12h`` / ``2w`` ago; epoch seconds. ValueError otherwise."""
    m = _RELATIVE.match(text)
    if m:
        now = now or dt.datetime.now(dt.timezone.utc)
        unit = {"h": 3600, "d": 86400, "w": 7 * 86400}[m.group(2)]
        return now.timestamp() - int(m.group(1)) * unit
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since {text!r}: not a date (2026-11-01), a time (2026-11-01T06:00) "
                         "or an age (7d, 12h, 2w)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.timestamp()


def timeline(store: History, since: float | None = None, check: str | None = None) -> dict[str, Any]:
    """The timeline as a JSON-able document (see the module docstring)."""
    c = store.conn
    since = -1e300 if since is None else since
    runs = c.execute("SELECT id, host, ts, time, status, headline FROM runs WHERE ts >= ? "
                     "ORDER BY ts, id", (since,)).fetchall()
    q, args = "SELECT run, name, status FROM checks WHERE ts >= ?", [since]
    if check:
        q, args = q + " AND name = ?", args + [check]
    ran: dict[int, dict[str, str]] = {}
    for run, name, status in c.execute(q, args):
        ran.setdefault(run, {})[name] = status
    q = ("SELECT f.run, f.fid, f.check_name, f.status, f.fault, f.title FROM findings f "
         "JOIN runs r ON r.id = f.run WHERE r.ts >= ?")
    args = [since]
    if check:
        q, args = q + " AND f.check_name = ?", args + [check]
    seen: dict[tuple[str, str], dict[int, tuple[str, str | None, str]]] = {}
    checks_of: dict[str, str] = {}
    host_of = {r[0]: r[1] for r in runs}
    for run, fid, name, status, fault, title in c.execute(q, args):
        if run in host_of:
            seen.setdefault((host_of[run], fid), {})[run] = (status, fault, title)
            checks_of[fid] = name
    tracked = {(h, fid): (first, last, bool(fl)) for h, fid, first, last, fl in c.execute(
        "SELECT host, fid, first_seen, last_seen, flapping FROM tracked")}
    findings = []
    for (host, fid), by_run in seen.items():
        if not any(s[0] in PROBLEM for s in by_run.values()):
            continue
        name = checks_of[fid]
        changes, last, problems, count, first_t, last_t = [], None, 0, 0, None, None
        for run, h, _ts, when, _st, _hl in runs:
            status = (ran.get(run) or {}).get(name)
            if h != host or status is None or status in ("skip", "error"):
                continue
            st, fault, title = by_run.get(run, ("ok", None, ""))
            st = st if st in PROBLEM else "ok"
            count += 1
            if st != "ok":
                problems += 1
                first_t = first_t or when
                last_t = when
            if st != last:
                changes.append({"time": when, "status": st, "fault": fault,
                                "title": title if st != "ok" else ""})
                last = st
        t = tracked.get((host, fid))
        findings.append({"id": fid, "check": name, "host": host, "now": last,
                         "runs": count, "runs_seen": problems, "first_seen": first_t,
                         "last_seen": last_t, "first_ever": t[0] if t else first_t,
                         "flapping": bool(t and t[2]), "changes": changes})
    findings.sort(key=lambda f: (f["last_seen"] or "", f["id"]), reverse=True)
    return {"database": store.path, "check": check,
            "since": None if since < -1e299 else dt.datetime.fromtimestamp(
                since, dt.timezone.utc).isoformat(timespec="seconds"),
            "runs": [{"time": r[3], "host": r[1], "status": r[4], "headline": r[5]} for r in runs],
            "findings": findings}


def _t(iso: str | None) -> str:
    if not iso:
        return "-"
    try:
        when = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def render_text(doc: dict[str, Any], lang: str = "en") -> str:
    """The timeline as text in *lang*; finding ids, hosts and statuses stay
    as they are (they are what the JSON and the reports name)."""
    def t(message: Any) -> str:
        return tr(message, lang)

    runs = doc["runs"]
    out = []
    hosts = sorted({r["host"] for r in runs})
    if not runs:
        since = _t(doc["since"]) if doc["since"] else None
        if doc["check"]:
            out.append(t(_("No runs of {check} in {path} since {time}.", check=doc["check"], path=doc["database"],
                           time=since) if since else
                         _("No runs of {check} in {path}.", check=doc["check"], path=doc["database"])))
        else:
            out.append(t(_("No runs in {path} since {time}.", path=doc["database"], time=since) if since else
                         _("No runs in {path}.", path=doc["database"])))
        return "\n".join(out) + "\n"
    out.append(t(_n("{n} run of {hosts} from {first} to {last} in {path}",
                    "{n} runs of {hosts} from {first} to {last} in {path}", len(runs), hosts=", ".join(hosts),
                    first=_t(runs[0]["time"]), last=_t(runs[-1]["time"]), path=doc["database"])))
    if not doc["findings"]:
        out.append(t(_("No finding of {check} was a problem in these runs.", check=doc["check"]) if doc["check"]
                     else _("No finding was a problem in these runs.")))
        return "\n".join(out) + "\n"
    out.append("")
    for f in doc["findings"]:
        flap = "  " + t(_("[flapping]")) if f["flapping"] else ""
        line = (_("{id} on {host}: {now} now; a problem in {seen} of {runs} runs, first {first}, last {last}",
                  id=f["id"], host=f["host"], now=f["now"], seen=f["runs_seen"], runs=f["runs"],
                  first=_t(f["first_seen"]), last=_t(f["last_seen"])) if len(hosts) > 1 else
                _("{id}: {now} now; a problem in {seen} of {runs} runs, first {first}, last {last}", id=f["id"],
                  now=f["now"], seen=f["runs_seen"], runs=f["runs"], first=_t(f["first_seen"]),
                  last=_t(f["last_seen"])))
        out.append(t(line) + flap)
        for ch in f["changes"]:
            title = f"  {t(ch['title'])}" if ch["title"] else ""
            out.append(f"  {_t(ch['time'])}  {ch['status']:<5}{title}".rstrip())
        out.append("")
    return "\n".join(out)
