"""The site report model (schema ``diagnose.site/1``, DESIGN.md section 9).

A site report holds site-level findings (each naming its ``seats``), one row
per seat, and every seat's own report. Findings lifted from a seat's report
keep their check and subject; their id gains the seat (``seat-12/headset.
presence:usb``) so that the same fault on two seats stays two findings, and
links between them (``caused_by``) are rewritten the same way. Renderers
reuse their single-report code on it: it has ``findings``, ``finding()``,
``verdict`` and ``exit_code()`` like :class:`diagnose.model.Report`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from diagnose.model import Fault, Finding, Status, Verdict
from diagnose.reports.jsonfmt import Encoded

SITE_SCHEMA = "diagnose.site/1"


@dataclass
class SiteFinding(Finding):
    """A finding of the site report: ``seat`` is the seat it was lifted
    from (empty for a site-level finding), ``seats`` the seats it is about."""

    seat: str = ""
    seats: list[str] = field(default_factory=list)
    label: str = ""  # short form for the headline: "switch SW-2: 20 seats"

    @property
    def id(self) -> str:
        base = f"{self.check}:{self.subject}"
        return f"{self.seat}/{base}" if self.seat else base

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["seats"] = list(self.seats)
        if self.seat:
            d["seat"] = self.seat
        return d


def short(title: str, limit: int = 60) -> str:
    """A title cut at a word for the headline, first letter lowered."""
    if len(title) > limit:
        title = title[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return title[:1].lower() + title[1:] if title[1:2].islower() else title


def owner(f: Finding) -> str:
    """The one seat a finding is about, or ""."""
    seat = getattr(f, "seat", "")
    seats = getattr(f, "seats", [])
    return seat or (seats[0] if len(seats) == 1 else "")


def lift(f: Finding, seat: str) -> SiteFinding:
    """A seat's finding as a finding of the site report."""
    return SiteFinding(check=f.check, subject=f.subject, status=f.status, title=f.title, fault=f.fault,
                       detail=f.detail, evidence=f.evidence, remedy=f.remedy,
                       caused_by=[f"{seat}/{c}" for c in f.caused_by],
                       consequences=[f"{seat}/{c}" for c in f.consequences], seat=seat, seats=[seat],
                       label=f"{seat}: {short(f.title)}")


@dataclass
class SeatRow:
    name: str
    state: str               # online | offline | stopped | silent | refused | unknown
    status: Status
    verdict: dict[str, Any] | None
    switch: str = ""
    port: str = ""
    subnet: str = ""
    room: str = ""
    last_report: str | None = None
    last_seen: str | None = None
    healthy: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": str(self.status), "verdict": self.verdict,
                "switch": self.switch, "last_report": self.last_report, "state": self.state,
                "port": self.port, "subnet": self.subnet, "room": self.room, "last_seen": self.last_seen,
                "healthy": self.healthy}


@dataclass
class SiteVerdict(Verdict):
    seats_total: int = 0
    seats_healthy: int = 0
    seats_offline: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.update(seats_total=self.seats_total, seats_healthy=self.seats_healthy,
                 seats_offline=self.seats_offline)
        return d


def _plural(n: int, word: str) -> str:
    return f"no {word}s" if n == 0 else f"{n} {word}" + ("" if n == 1 else "s")


def _listed(roots: list[SiteFinding], limit: int = 3) -> str:
    labels = [r.label or r.title for r in roots[:limit]]
    more = len(roots) - limit
    return "; ".join(labels) + (f"; +{more} more" if more > 0 else "")


def make_site_verdict(site: str, findings: list[SiteFinding], seats: list[SeatRow]) -> SiteVerdict:
    """Counts root causes per fault domain and phrases the headline:
    "Site Sales office: 2 site faults (switch SW-2: 20 seats; seat-12:
    headset unplugged), no software faults; 148 of 170 seats healthy"."""
    roots = [f for f in findings if f.is_root_cause]
    by = {d: [f for f in roots if f.fault is d] for d in Fault}
    worst = max([f.status for f in findings] + [Status.OK])
    total = len(seats)
    healthy = sum(1 for s in seats if s.healthy)
    offline = sum(1 for s in seats if s.state in ("offline", "stopped", "silent"))
    parts = []
    for dom, word in ((Fault.SITE, "site fault"), (Fault.SOFTWARE, "software fault")):
        text = _plural(len(by[dom]), word)
        if by[dom]:
            text += f" ({_listed(by[dom])})"
        parts.append(text)
    if by[Fault.UNDETERMINED]:
        parts.append(f"{len(by[Fault.UNDETERMINED])} undetermined ({_listed(by[Fault.UNDETERMINED])})")
    name = f"Site {site}" if site else "Site"
    if worst <= Status.SKIP:
        headline = f"{name}: no site faults, no software faults"
    else:
        headline = f"{name}: " + ", ".join(parts)
    headline += f"; {healthy} of {total} seat{'s' if total != 1 else ''} healthy"
    return SiteVerdict(worst, len(by[Fault.SITE]), len(by[Fault.SOFTWARE]), len(by[Fault.UNDETERMINED]),
                       headline, total, healthy, offline)


@dataclass
class SiteReport:
    tool_version: str
    site: str
    site_id: str
    started: str
    duration_s: float
    findings: list[SiteFinding]
    seats: list[SeatRow]
    reports: dict[str, Any]
    verdict: SiteVerdict
    source: str = ""  # the broker URL or the reports directory

    # What the single-report renderers (and their Presenter) expect of a
    # report: a site report has no checks of its own, no role, no config file.
    role: str = ""
    config_file: str | None = None

    @property
    def host(self) -> str:
        return self.site_id

    @property
    def checks(self) -> list[Any]:
        return []

    def finding(self, fid: str) -> SiteFinding | None:
        index = self.__dict__.get("_index")
        if index is None or len(index) != len(self.findings):
            index = self.__dict__["_index"] = {f.id: f for f in self.findings}
        return index.get(fid)

    def roots(self) -> list[SiteFinding]:
        return [f for f in self.findings if not f.caused_by]

    def exit_code(self) -> int:
        worst = self.verdict.status
        return {Status.ERROR: 3, Status.FAIL: 2, Status.WARN: 1}.get(worst, 0)

    def to_dict(self, reports: bool = True) -> dict[str, Any]:
        """The ``diagnose.site/1`` document (without the seats' reports when
        *reports* is False: the JSON renderer writes those itself)."""
        d = {
            "schema": SITE_SCHEMA,
            "tool": {"name": "diagnose", "version": self.tool_version},
            "site": self.site,
            "site_id": self.site_id,
            "source": self.source,
            "started": self.started,
            "duration_s": round(self.duration_s, 3),
            "verdict": self.verdict.to_dict(),
            "findings": [f.to_dict() for f in self.findings],
            "seats": [s.to_dict() for s in self.seats],
        }
        if reports:
            d["reports"] = {k: v.value() if isinstance(v, Encoded) else v for k, v in self.reports.items()}
        return d
