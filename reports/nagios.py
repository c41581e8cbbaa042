"""Nagios/Icinga plugin output (Nagios Plugin Development Guidelines).

First line: ``DIAGNOSE <STATE> - <headline> | <perfdata>``; then one line per
root cause as long output. Perfdata items are ``'label'=value[UOM];[warn];
[crit];[min];[max]`` separated by single spaces; a label is quoted with single
quotes when it contains a space, ``=`` or a quote, and a quote inside is doubled.
The plugin's exit code is the report's (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
"""

from __future__ import annotations

import re
from typing import Any

from diagnose.model import Report, Status
from diagnose.safetext import show

STATE = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}
_PLAIN_LABEL = re.compile(r"^[A-Za-z0-9_.:/-]+$")


def label(name: str) -> str:
    if _PLAIN_LABEL.match(name):
        return name
    return "'" + name.replace("'", "''") + "'"


def perf(name: str, value: float | int, uom: str = "", warn: str = "", crit: str = "",
         minimum: str = "", maximum: str = "") -> str:
    v = f"{value:g}" if isinstance(value, float) else str(value)
    item = f"{label(name)}={v}{uom};{warn};{crit};{minimum};{maximum}"
    return item.rstrip(";")


def _clean(s: str) -> str:
    # '|' starts perfdata and a newline ends the first line: neither may
    # appear in text; control characters show escaped (\n, \x1b).
    return show(s).replace("|", "/")


def render(report: Report, **_: Any) -> str:
    code = report.exit_code()
    v = report.verdict
    errors = sum(1 for c in report.checks if c.status is Status.ERROR)
    data = [
        perf("site_faults", v.site_faults, minimum="0"),
        perf("software_faults", v.software_faults, minimum="0"),
        perf("undetermined", v.undetermined, minimum="0"),
        perf("checks_error", errors, minimum="0"),
        perf("duration", round(report.duration_s, 3), "s", minimum="0"),
    ]
    lines = [f"DIAGNOSE {STATE[code]} - {_clean(v.headline)} | {' '.join(data)}"]
    for f in report.findings:
        if f.is_root_cause:
            fault = f.fault.value if f.fault else ""
            lines.append(_clean(f"{str(f.status).upper()} [{fault}] {f.title} - {f.remedy}"))
    for c in report.checks:
        if c.status is Status.ERROR:
            lines.append(_clean(f"ERROR {c.name}: {c.error}"))
    return "\n".join(lines) + "\n"


def render_site(site: Any, **_: Any) -> str:
    """``DIAGNOSE CRITICAL - Site …: … | site_faults=… seats_total=…``, then
    one line per site-level root cause."""
    code = site.exit_code()
    v = site.verdict
    data = [
        perf("site_faults", v.site_faults, minimum="0"),
        perf("software_faults", v.software_faults, minimum="0"),
        perf("undetermined", v.undetermined, minimum="0"),
        perf("seats_total", v.seats_total, minimum="0"),
        perf("seats_healthy", v.seats_healthy, minimum="0", maximum=str(v.seats_total)),
        perf("seats_offline", v.seats_offline, minimum="0", maximum=str(v.seats_total)),
        perf("duration", round(site.duration_s, 3), "s", minimum="0"),
    ]
    lines = [f"DIAGNOSE {STATE[code]} - {_clean(v.headline)} | {' '.join(data)}"]
    for f in site.findings:
        if f.is_root_cause:
            fault = f.fault.value if f.fault else ""
            lines.append(_clean(f"{str(f.status).upper()} [{fault}] {f.title} - {f.remedy}"))
    return "\n".join(lines) + "\n"
