"""The report model: statuses, fault domains, findings, check results, report.

This is the contract of DESIGN.md section 3. Field names and their order in
the JSON output are read by other tools; change them only with the design.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Iterable

from diagnose.i18n import _, _n

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


@dataclass(frozen=True)
class Step:
    """One thing to do: what, in words (translatable), and optionally the
    exact command to run (a technical token: never translated or wrapped)."""

    text: str
    command: str | None = None

    def flat(self) -> str:
        """The step on one line, in English: ``Check the disk: df -h /srv``."""
        if not self.command:
            return str(self.text)
        text = str(self.text).rstrip()
        if not text:
            return self.command
        return f"{text} {self.command}" if text.endswith(":") else f"{text}: {self.command}"

    def to_dict(self) -> dict[str, Any]:
        return {"text": str(self.text), "command": self.command}


def step(text: str, command: str | None = None) -> Step:
    return Step(text, command)


class Remedy(str):
    """A finding's remedy: a list of :class:`Step`. Its ``str`` value is the
    English text on one line (what the JSON ``remedy`` field holds, and what
    a remedy written as a plain string always was), so code that treats a
    remedy as a string keeps working; renderers show ``steps`` instead."""

    steps: tuple[Step, ...]

    def __new__(cls, steps: Iterable[Step] = ()) -> "Remedy":
        steps = tuple(steps)
        if len(steps) == 1:
            flat = steps[0].flat()
        else:
            flat = " ".join(f"{i}) {s.flat()}" for i, s in enumerate(steps, 1))
        self = super().__new__(cls, flat)
        self.steps = steps
        return self

    def __reduce__(self):
        return (Remedy, (self.steps,))

    @classmethod
    def of(cls, value: Any) -> "Remedy":
        """A remedy from what a judge (or a JSON report) gives: a Remedy, a
        string (one step), a list of steps, strings, ``(text, command)``
        pairs or ``{"text", "command"}`` dicts; None or "" for none."""
        if isinstance(value, Remedy):
            return value
        if not value:
            return cls(())
        if isinstance(value, str):
            return cls((Step(value),))
        if isinstance(value, Step):
            return cls((value,))
        steps = []
        for item in value:
            if isinstance(item, Step):
                steps.append(item)
            elif isinstance(item, str):
                steps.append(Step(item))
            elif isinstance(item, dict):
                steps.append(Step(item.get("text") or "", item.get("command") or None))
            else:
                text, command = item
                steps.append(Step(text, command or None))
        return cls(steps)


@dataclass
class Finding:
    """One judgement about one subject, with the evidence it rests on.

    ``fault`` is None exactly when the status is ok or skip. ``caused_by`` and
    ``consequences`` hold finding ids and are filled by attribution (or by a
    judge linking findings of its own check). ``remedy`` may be given as a
    string or a list of steps (see :class:`Remedy`); it is always a Remedy.
    Title, detail and step texts may be :mod:`diagnose.i18n` messages.
    ``history`` is filled from the run history (DESIGN.md section 9):
    ``{state: new|recurring|persistent|flapping, first_seen, last_seen,
    runs_seen, runs_window, flap_percent}``; None when no history was
    consulted or there is nothing to say.
    """

    check: str
    subject: str
    status: Status
    title: str
    fault: Fault | None = None
    detail: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    remedy: Any = ""
    caused_by: list[str] = field(default_factory=list)
    consequences: list[str] = field(default_factory=list)
    history: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.status = Status.parse(self.status)
        self.remedy = Remedy.of(self.remedy)
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
            "remedy": str(self.remedy),
            "steps": [s.to_dict() for s in self.remedy.steps],
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
            remedy=d["steps"] if d.get("steps") else d.get("remedy", ""),
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


def _site_faults(n: int) -> str:
    return _n("{n} site fault", "{n} site faults", n) if n else _("no site faults")


def _software_faults(n: int) -> str:
    return _n("{n} software fault", "{n} software faults", n) if n else _("no software faults")


def make_verdict(findings: list[Finding], checks: list[CheckResult]) -> Verdict:
    """Count root causes per fault domain and phrase a headline to read aloud."""
    roots = [f for f in findings if f.is_root_cause]
    site = sum(1 for f in roots if f.fault is Fault.SITE)
    soft = sum(1 for f in roots if f.fault is Fault.SOFTWARE)
    und = sum(1 for f in roots if f.fault is Fault.UNDETERMINED)
    statuses = [f.status for f in findings] + [c.status for c in checks]
    worst = max(statuses, default=Status.OK)
    if all(s is Status.SKIP for s in statuses):
        # Nothing ran: that is not a clean bill of health but "cannot tell"
        # (Nagios UNKNOWN, exit 3), and the verdict says so.
        return Verdict(Status.SKIP, 0, 0, 0,
                       _("Nothing was checked: every check was skipped (diagnose list says why)"))
    unseen = _not_collected(findings)
    if worst <= Status.SKIP:
        # Skipped checks alone are a clean bill of health: the verdict is ok.
        headline = _("All checks passed: no site faults, no software faults")
        return Verdict(Status.OK, site, soft, und, _with_unseen(headline, unseen))
    errors = sum(1 for c in checks if c.status is Status.ERROR)
    if und:
        headline = _("{site}, {software}, {undetermined}", site=_site_faults(site),
                     software=_software_faults(soft),
                     undetermined=_n("{n} undetermined", "{n} undetermined", und))
    else:
        headline = _("{site}, {software}", site=_site_faults(site), software=_software_faults(soft))
    if errors:
        headline = _("{headline}; {checks}", headline=headline,
                     checks=_n("{n} check could not run", "{n} checks could not run", errors))
    return Verdict(worst, site, soft, und, _with_unseen(headline, unseen))


def _not_collected(findings: list[Finding]) -> list[str]:
    """What the checks could not see (evidence ``not_collected`` of each
    finding: ``{what, why}``, or a gateway's ``{rung, why}``), once each."""
    out: list[str] = []
    for f in findings:
        items = f.evidence.get("not_collected") if isinstance(f.evidence, dict) else None
        for m in items if isinstance(items, list) else []:
            what = m.get("what") or str(m.get("rung") or "").upper() if isinstance(m, dict) else ""
            if what and what not in out:
                out.append(what)
    return out


def _with_unseen(headline: str, unseen: list[str]) -> str:
    """The headline, saying what could not be collected (the first two, and
    how many more): a clean verdict from partial evidence says so."""
    if not unseen:
        return headline
    what = ", ".join(unseen[:2])
    if len(unseen) > 2:
        what = _n("{what} and {n} more", "{what} and {n} more", len(unseen) - 2, what=what)
    return _("{headline}; not collected: {what}", headline=headline, what=what)


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
    config_file: str | None = None  # which config the run used; None: built-in defaults
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
        if worst in (Status.ERROR, Status.SKIP):  # SKIP: nothing was checked
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
            "config_file": self.config_file,
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
            config_file=d.get("config_file"),
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
