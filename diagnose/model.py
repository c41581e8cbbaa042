"""The report model: statuses, fault domains, findings, check results, report.

This is the contract of DESIGN.md section 3. Field names and their order in
the JSON output are read by other tools; change them only with the design.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

SCHEMA = "diagnose.report/1"


class Status(enum.IntEnum):
    """Result states, ordered so that ``max()`` gives the worst."""

    OK = 0
    SKIP = 1
    WARN = 2
    FAIL = 3
    ERROR = 4

    def __str__(self) -> str:  # "fail", not "Status.FAIL"
        return self.name.lower()

    @classmethod
    def parse(cls, value: "str | Status") -> "Status":
        if isinstance(value, Status):
            return value
        return cls[str(value).upper()]

    @property
    def is_problem(self) -> bool:
        return self >= Status.WARN


class Fault(str, enum.Enum):
    """Who has to act: the customer's site, the vendor's software, or unknown."""

    SITE = "site"
    SOFTWARE = "software"
    UNDETERMINED = "undetermined"

    def __str__(self) -> str:
        return self.value


@dataclass
class Finding:
    """One judgement about one subject, with the evidence it rests on.

    ``fault`` is None exactly when the status is ok or skip. ``caused_by`` and
    ``consequences`` hold finding ids and are filled by attribution (or by a
    judge linking findings of its own check). ``history`` is filled from the
    run history (DESIGN.md section 9): ``{state: new|recurring|persistent|
    flapping, first_seen, last_seen, runs_seen, runs_window, flap_percent}``;
    None when no history was consulted or there is nothing to say.
    """

    check: str
    subject: str
    status: Status
    title: str
    fault: Fault | None = None
    detail: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    remedy: str = ""
    caused_by: list[str] = field(default_factory=list)
    consequences: list[str] = field(default_factory=list)
    history: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.status = Status.parse(self.status)
        if self.fault is not None and not isinstance(self.fault, Fault):
            self.fault = Fault(self.fault)
        if self.status.is_problem and self.fault is None:
            self.fault = Fault.UNDETERMINED
        if not self.status.is_problem:
            self.fault = None

    @property
    def id(self) -> str:
        return f"{self.check}:{self.subject}"

    @property
    def is_root_cause(self) -> bool:
        return self.status.is_problem and not self.caused_by

    def to_dict(self) -> dict[str, Any]:
        d = {
            "id": self.id,
            "check": self.check,
            "subject": self.subject,
            "status": str(self.status),
            "fault": None if self.fault is None else self.fault.value,
            "title": self.title,
            "detail": self.detail,
            "evidence": self.evidence,
            "remedy": self.remedy,
            "caused_by": list(self.caused_by),
            "consequences": list(self.consequences),
        }
        if self.history is not None:
            d["history"] = dict(self.history)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Finding":
        return cls(
            check=d["check"],
            subject=d["subject"],
            status=Status.parse(d["status"]),
            fault=None if d.get("fault") is None else Fault(d["fault"]),
            title=d["title"],
            detail=d.get("detail", ""),
            evidence=d.get("evidence", {}),
            remedy=d.get("remedy", ""),
            caused_by=list(d.get("caused_by", [])),
            consequences=list(d.get("consequences", [])),
            history=d.get("history"),
        )


@dataclass
class CheckResult:
    """How one check went: its worst status, timing, and why it errored or skipped."""

    name: str
    status: Status
    duration_s: float = 0.0
    error: str | None = None
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": str(self.status),
            "duration_s": round(self.duration_s, 3),
            "error": self.error,
            "skipped": self.skipped,
        }


@dataclass
class Verdict:
    status: Status
    site_faults: int
    software_faults: int
    undetermined: int
    headline: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": str(self.status),
            "site_faults": self.site_faults,
            "software_faults": self.software_faults,
            "undetermined": self.undetermined,
            "headline": self.headline,
        }


def _plural(n: int, word: str) -> str:
    if n == 0:
        return f"no {word}s"
    return f"{n} {word}" + ("" if n == 1 else "s")


def make_verdict(findings: list[Finding], checks: list[CheckResult]) -> Verdict:
    """Count root causes per fault domain and phrase a headline to read aloud."""
    roots = [f for f in findings if f.is_root_cause]
    site = sum(1 for f in roots if f.fault is Fault.SITE)
    soft = sum(1 for f in roots if f.fault is Fault.SOFTWARE)
    und = sum(1 for f in roots if f.fault is Fault.UNDETERMINED)
    statuses = [f.status for f in findings] + [c.status for c in checks]
    worst = max(statuses, default=Status.OK)
    if worst <= Status.SKIP:
        headline = "All checks passed: no site faults, no software faults"
    else:
        headline = f"{_plural(site, 'site fault')}, {_plural(soft, 'software fault')}"
        if und:
            headline += f", {und} undetermined"
        errors = sum(1 for c in checks if c.status is Status.ERROR)
        if errors:
            headline += f"; {_plural(errors, 'check')} could not run"
    return Verdict(worst, site, soft, und, headline)


@dataclass
class Report:
    """Everything a renderer needs; renderers never look anywhere else."""

    tool_version: str
    host: str
    site: str
    role: str
    started: str
    duration_s: float
    findings: list[Finding]
    checks: list[CheckResult]
    verdict: Verdict
    # From the run history: ids of findings that were a problem in the
    # previous run of their check and are not any more, and what history
    # did this run ({database, recorded, previous_run, new, resolved, note});
    # history is None when no history was consulted.
    resolved: list[str] = field(default_factory=list)
    history: dict[str, Any] | None = None

    def finding(self, fid: str) -> Finding | None:
        for f in self.findings:
            if f.id == fid:
                return f
        return None

    def roots(self) -> list[Finding]:
        """Findings that are not consequences of another, worst first."""
        return [f for f in self.findings if not f.caused_by]

    def exit_code(self) -> int:
        """Nagios plugin convention (DESIGN.md section 3)."""
        worst = self.verdict.status
        if worst is Status.ERROR:
            return 3
        if worst is Status.FAIL:
            return 2
        if worst is Status.WARN:
            return 1
        return 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "tool": {"name": "diagnose", "version": self.tool_version},
            "host": self.host,
            "site": self.site,
            "role": self.role,
            "started": self.started,
            "duration_s": round(self.duration_s, 3),
            "verdict": self.verdict.to_dict(),
            "findings": [f.to_dict() for f in self.findings],
            "checks": [c.to_dict() for c in self.checks],
            "resolved": list(self.resolved),
            **({"history": dict(self.history)} if self.history is not None else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Report":
        v = d["verdict"]
        return cls(
            tool_version=d["tool"]["version"],
            host=d["host"],
            site=d.get("site", ""),
            role=d.get("role", ""),
            started=d["started"],
            duration_s=d.get("duration_s", 0.0),
            findings=[Finding.from_dict(f) for f in d["findings"]],
            checks=[
                CheckResult(c["name"], Status.parse(c["status"]), c.get("duration_s", 0.0),
                            c.get("error"), c.get("skipped"))
                for c in d["checks"]
            ],
            verdict=Verdict(Status.parse(v["status"]), v["site_faults"], v["software_faults"],
                            v["undetermined"], v["headline"]),
            resolved=list(d.get("resolved", [])),
            history=d.get("history"),
        )
