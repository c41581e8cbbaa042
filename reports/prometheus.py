"""Prometheus text exposition format (0.0.4) for node_exporter's textfile
collector. No sample timestamps (the collector rejects them); label values
escape backslash, double quote and newline. The CLI writes the file
atomically (temporary file in the same directory, then rename) so the
collector never reads half a file.

Values of every status metric are on the exit-code scale, so that a healthy
run exports only zeros: 0 ok (a skipped check counts as ok), 1 warn, 2 fail,
3 error. Series (docs/fleet.md lists them with their labels):

- ``diagnose_info{version, site, role, host} 1``
- ``diagnose_up`` 1 when no check errored; ``diagnose_status`` the worst;
- ``diagnose_last_run_timestamp_seconds`` when the run ended (Unix time);
- ``diagnose_run_duration_seconds``, ``diagnose_root_causes{fault}``;
- ``diagnose_check_status{check}``, ``diagnose_check_skipped{check}``,
  ``diagnose_check_duration_seconds{check}``;
- ``diagnose_finding_status{check, subject, status, fault, root}``: one
  series per finding with a problem (ok findings are not exported), at most
  MAX_FINDINGS of them, root causes first, subjects cut to MAX_SUBJECT
  characters; ``diagnose_findings_dropped`` counts the ones left out. The
  label set is bounded by the checks and their subjects (mounts, ports,
  devices), never by time, counters or free text.

A site report (``diagnose site --format prometheus``) exports the site's
figures with ``site`` on every series so that Alertmanager can group by site
and switch: ``diagnose_site_info``, ``diagnose_site_status``,
``diagnose_site_seats{state}``, ``diagnose_site_root_causes{fault}``,
``diagnose_seat_up{seat, switch, room}``, ``diagnose_seat_status{seat,
switch, room}``, ``diagnose_site_finding{check, subject, status, fault,
switch, room}`` and ``diagnose_last_run_timestamp_seconds``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from diagnose.model import Report, Status

MAX_FINDINGS = 100
MAX_SUBJECT = 80


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def _labels(**kv: Any) -> str:
    return "{" + ",".join(f'{k}="{escape(str(v))}"' for k, v in kv.items()) + "}"


def severity(status: Status) -> int:
    """The exit-code scale: ok and skip 0, warn 1, fail 2, error 3."""
    return {Status.WARN: 1, Status.FAIL: 2, Status.ERROR: 3}.get(status, 0)


def _epoch(started: str, duration_s: float) -> float:
    try:
        t = dt.datetime.fromisoformat(started)
    except (TypeError, ValueError):
        return 0.0
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return round(t.timestamp() + duration_s, 3)


def _number(value: float) -> str:
    """Full precision (a Unix time must not become 1.8e+09), no exponent for integers."""
    v = float(value)
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


class Exposition:
    """Metric families in the text format, HELP and TYPE first."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, help_: str, samples: list[tuple[str, float]], kind: str = "gauge") -> None:
        self.lines.append(f"# HELP {name} {help_}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            self.lines.append(f"{name}{labels} {_number(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


LEGEND = "0 ok or skipped, 1 warn, 2 fail, 3 error"


def _subject(s: str) -> str:
    return s if len(s) <= MAX_SUBJECT else s[:MAX_SUBJECT - 1] + "…"


def finding_samples(findings: list[Any], **extra: str) -> tuple[list[tuple[str, float]], int]:
    problems = [f for f in findings if f.status.is_problem]
    problems.sort(key=lambda f: (bool(f.caused_by), -int(f.status)))
    kept = problems[:MAX_FINDINGS]
    samples = [(_labels(**extra, check=f.check, subject=_subject(f.subject), status=str(f.status),
                        fault=f.fault.value if f.fault else "none",
                        root="false" if f.caused_by else "true"), severity(f.status)) for f in kept]
    return samples, len(problems) - len(kept)


def render(report: Report, **_: Any) -> str:
    x = Exposition()
    x.family("diagnose_info", "The diagnose run: version, site, role and host as labels; always 1.",
             [(_labels(version=report.tool_version, site=report.site, role=report.role, host=report.host), 1)])
    x.family("diagnose_up", "1 when the run completed and no check errored.",
             [("", 0 if any(c.status is Status.ERROR for c in report.checks) else 1)])
    x.family("diagnose_status", f"Worst status of the whole run: {LEGEND}.",
             [("", severity(report.verdict.status))])
    x.family("diagnose_last_run_timestamp_seconds", "When the last run ended, Unix time.",
             [("", _epoch(report.started, report.duration_s))])
    x.family("diagnose_run_duration_seconds", "Time the whole run took.", [("", round(report.duration_s, 4))])
    x.family("diagnose_root_causes", "Root-cause findings by fault domain.",
             [(_labels(fault="site"), report.verdict.site_faults),
              (_labels(fault="software"), report.verdict.software_faults),
              (_labels(fault="undetermined"), report.verdict.undetermined)])
    x.family("diagnose_check_status", f"Worst status of each check: {LEGEND}.",
             [(_labels(check=c.name), severity(c.status)) for c in report.checks])
    x.family("diagnose_check_skipped", "1 when the check did not apply here (not a problem).",
             [(_labels(check=c.name), 1 if c.status is Status.SKIP else 0) for c in report.checks])
    x.family("diagnose_check_duration_seconds", "Time each check took.",
             [(_labels(check=c.name), round(c.duration_s, 4)) for c in report.checks])
    samples, dropped = finding_samples(report.findings)
    x.family("diagnose_finding_status", f"Each finding with a problem: {LEGEND}; root=false for consequences.",
             samples)
    x.family("diagnose_findings_dropped", f"Problem findings not exported (over {MAX_FINDINGS}).", [("", dropped)])
    return x.text()


def render_site(site: Any, **_: Any) -> str:
    x = Exposition()
    s = site.site_id
    v = site.verdict
    x.family("diagnose_site_info", "The site report: version and site name as labels; always 1.",
             [(_labels(site=s, name=site.site, version=site.tool_version), 1)])
    x.family("diagnose_site_status", f"Worst status of the site: {LEGEND}.", [(_labels(site=s), severity(v.status))])
    x.family("diagnose_last_run_timestamp_seconds", "When the site report was made, Unix time.",
             [(_labels(site=s), _epoch(site.started, site.duration_s))])
    x.family("diagnose_site_seats", "Seats by state: total, healthy, offline (offline or silent).",
             [(_labels(site=s, state="total"), v.seats_total), (_labels(site=s, state="healthy"), v.seats_healthy),
              (_labels(site=s, state="offline"), v.seats_offline)])
    x.family("diagnose_site_root_causes", "Site-level root causes by fault domain.",
             [(_labels(site=s, fault="site"), v.site_faults), (_labels(site=s, fault="software"), v.software_faults),
              (_labels(site=s, fault="undetermined"), v.undetermined)])
    x.family("diagnose_seat_up", "1 when the seat's agent is online and reporting, 0 offline or silent.",
             [(_labels(site=s, seat=r.name, switch=r.switch, room=r.room),
               0 if r.state in ("offline", "stopped", "silent") else 1) for r in site.seats])
    x.family("diagnose_seat_status", f"Worst status of each seat: {LEGEND}.",
             [(_labels(site=s, seat=r.name, switch=r.switch, room=r.room), severity(r.status)) for r in site.seats])
    roots = [f for f in site.findings if f.status.is_problem and not f.seat and f.check != "site.seat"]
    x.family("diagnose_site_finding", f"Each site-level finding (switch, subnet, room, server, report): {LEGEND}.",
             [(_labels(site=s, check=f.check, subject=_subject(f.subject), status=str(f.status),
                       fault=f.fault.value if f.fault else "none",
                       switch=f.subject if f.check == "site.switch" else "",
                       room=f.subject if f.check == "site.room" else ""), severity(f.status))
              for f in roots[:MAX_FINDINGS]])
    return x.text()
