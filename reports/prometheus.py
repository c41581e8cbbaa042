"""Prometheus text exposition format (0.0.4) for node_exporter's textfile
collector. No sample timestamps (the collector rejects them); label values
escape backslash, double quote and newline. The CLI writes the file
atomically (temporary file in the same directory, then rename) so the
collector never reads half a file.
"""

from __future__ import annotations

from typing import Any

from diagnose.model import Report, Status


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def _labels(**kv: str) -> str:
    return "{" + ",".join(f'{k}="{escape(str(v))}"' for k, v in kv.items()) + "}"


def render(report: Report, **_: Any) -> str:
    out: list[str] = []

    def family(name: str, help_: str, samples: list[tuple[str, float]]) -> None:
        out.append(f"# HELP {name} {help_}")
        out.append(f"# TYPE {name} gauge")
        for labels, value in samples:
            out.append(f"{name}{labels} {value:g}")

    legend = "0 ok, 1 skip, 2 warn, 3 fail, 4 error"
    family("diagnose_up", "1 when the run completed and no check errored.",
           [("", 0 if report.verdict.status is Status.ERROR else 1)])
    family("diagnose_status", f"Worst status of the whole run: {legend}.",
           [(_labels(host=report.host), int(report.verdict.status))])
    family("diagnose_root_causes", "Root-cause findings by fault domain.",
           [(_labels(fault="site"), report.verdict.site_faults),
            (_labels(fault="software"), report.verdict.software_faults),
            (_labels(fault="undetermined"), report.verdict.undetermined)])
    family("diagnose_check_status", f"Worst status of each check: {legend}.",
           [(_labels(check=c.name), int(c.status)) for c in report.checks])
    family("diagnose_check_duration_seconds", "Time each check took.",
           [(_labels(check=c.name), round(c.duration_s, 4)) for c in report.checks])
    family("diagnose_finding_status", f"Status of each finding: {legend}.",
           [(_labels(id=f.id, check=f.check, subject=f.subject,
                     fault=f.fault.value if f.fault else "none"), int(f.status))
            for f in report.findings])
    family("diagnose_run_duration_seconds", "Time the whole run took.",
           [("", round(report.duration_s, 4))])
    return "\n".join(out) + "\n"
