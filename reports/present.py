"""What the text, HTML and mail renderers share: the report as one reader
sees it, in their language and for their audience.

- ``vendor`` (default): everything, with evidence and finding ids.
- ``customer``: plain language; site faults first under "What your staff
  should do", software faults under "What the vendor will do"; no evidence,
  no secrets, no addresses but the site's own, callers' numbers masked
  (:mod:`diagnose.reports.redact`).

Every string shown goes through :meth:`Presenter.s`: translated
(:func:`diagnose.i18n.tr`), redacted for the customer, and control
characters escaped (:func:`diagnose.safetext.show`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from diagnose.i18n import N_, _, _n, tr, when
from diagnose.model import Fault, Finding, Remedy, Report, Status
from diagnose.reports.redact import Redactor
from diagnose.safetext import show

AUDIENCES = ("vendor", "customer")

STATUS_LABELS = {Status.OK: N_("ok"), Status.SKIP: N_("skipped"), Status.WARN: N_("warning"),
                 Status.FAIL: N_("fail"), Status.ERROR: N_("error")}
FAULT_LABELS = {"site": N_("Site fault"), "software": N_("Software fault"),
                "undetermined": N_("Undetermined")}
SECTIONS = {
    "vendor": {"site": N_("Site faults"), "software": N_("Software faults"),
               "undetermined": N_("Undetermined faults")},
    "customer": {"site": N_("What your staff should do"), "software": N_("What the vendor will do"),
                 "undetermined": N_("To be clarified with the vendor")},
}
WHO_ACTS = {
    "site": N_("Who acts: the site's staff. The cause is in the site's environment: power, "
               "cabling, peripherals, radio, local changes or foreign data."),
    "software": N_("Who acts: the vendor. The cause is in the delivered call-center software."),
    "undetermined": N_("Who acts: the vendor's support finds out, with the site's help."),
}

_ENUMERATION = re.compile(r"(?:^|\s)(\d{1,2})\)\s")
_CODE = re.compile(r"`([^`]+)`")


@dataclass
class StepView:
    """One step as shown: its words as (kind, text) segments, kind "text" or
    "code" (a command quoted inline), and the step's own command."""

    segments: list[tuple[str, str]]
    command: str | None = None

    @property
    def text(self) -> str:
        return "".join(t for _, t in self.segments)


@dataclass
class Node:
    """A finding as shown, with its consequences nested."""

    f: Finding
    title: str
    detail: str
    steps: list[StepView]
    children: list["Node"] = field(default_factory=list)
    depth: int = 0


def split_code(text: str) -> list[tuple[str, str]]:
    """Prose with `commands` in backticks (as plain-string remedies were
    written) as segments; the backticks themselves are never shown."""
    out: list[tuple[str, str]] = []
    pos = 0
    for m in _CODE.finditer(text):
        if m.start() > pos:
            out.append(("text", text[pos:m.start()]))
        out.append(("code", m.group(1)))
        pos = m.end()
    if pos < len(text):
        out.append(("text", text[pos:]))
    return out or [("text", "")]


def split_enumeration(text: str) -> list[str]:
    """``1) do this 2) then that`` as ["do this", "then that"]; other text as is."""
    marks = list(_ENUMERATION.finditer(text))
    numbers = [int(m.group(1)) for m in marks]
    if len(marks) < 2 or numbers != list(range(1, len(marks) + 1)) or text[:marks[0].start()].strip():
        return [text]
    parts = []
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        parts.append(text[m.end():end].strip())
    return [p for p in parts if p]


class Presenter:
    def __init__(self, report: Report, audience: str = "vendor", lang: str = "en",
                 site_addresses: Iterable[str] = (), vendor_domains: Iterable[str] = ()) -> None:
        if audience not in AUDIENCES:
            raise ValueError(f"unknown audience {audience!r}; choose one of {', '.join(AUDIENCES)}")
        self.report, self.audience, self.lang = report, audience, lang
        self.customer = audience == "customer"
        self.redact = Redactor(site_addresses, vendor_domains,
                               hidden_address=tr(_("[address hidden]"), lang)) if self.customer else None
        self.by_id = {f.id: f for f in report.findings}

    # --- strings ---------------------------------------------------------------

    def s(self, value: Any, keep_newlines: bool = False) -> str:
        """*value* as shown: translated, redacted for the customer, escaped."""
        text = tr(value, self.lang)
        if self.redact is not None:
            text = self.redact(text)
        return show(text, keep_newlines=keep_newlines)

    def t(self, template: str, **args: Any) -> str:
        """A renderer's own message (template marked with N_ or _)."""
        return tr(_(template, **args), self.lang)

    def label(self, constant: str) -> str:
        return tr(_(constant), self.lang)

    def status(self, status: Status) -> str:
        return self.label(STATUS_LABELS[status])

    def fault(self, fault: Fault | None) -> str:
        return self.label(FAULT_LABELS[fault.value]) if fault else ""

    def section(self, domain: str) -> str:
        return self.label(SECTIONS[self.audience][domain])

    def who_acts(self, domain: str) -> str:
        return self.label(WHO_ACTS[domain])

    def started(self) -> str:
        return tr(when(self.report.started), self.lang)

    def headline(self) -> str:
        return self.s(self.report.verdict.headline)

    def verdict_status(self) -> Status:
        """ok when healthy; skip only when nothing was checked at all."""
        return self.report.verdict.status

    # --- remedies ----------------------------------------------------------------

    def steps(self, remedy: Any, commands: bool = True) -> list[StepView]:
        out: list[StepView] = []
        for st in Remedy.of(remedy).steps:
            words = tr(st.text, self.lang)
            pieces = split_enumeration(words) if not st.command else [words]
            for i, piece in enumerate(pieces):
                segs = [(kind, self.s(text)) for kind, text in split_code(piece)]
                segs = [(k, t) for k, t in segs if t] or [("text", "")]
                cmd = st.command if i == len(pieces) - 1 and commands else None
                if not commands:
                    segs = [("text", t) for _, t in segs]
                out.append(StepView(segs, self.s(cmd) if cmd else None))
        return [v for v in out if v.text.strip() or v.command]

    # --- the tree of problems ------------------------------------------------------

    def node(self, f: Finding, placed: set[str], depth: int = 0) -> Node:
        placed.add(f.id)
        n = Node(f, self.s(f.title), self.s(f.detail), self.steps(f.remedy), depth=depth)
        for cid in f.consequences:
            child = self.by_id.get(cid)
            if child is not None and cid not in placed:
                n.children.append(self.node(child, placed, depth + 1))
        return n

    def groups(self) -> list[tuple[str, list[Node]]]:
        """Root causes by fault domain, site first, each with its
        consequences nested; a consequence whose cause is missing from the
        report still shows, under its own domain."""
        placed: set[str] = set()
        out: dict[str, list[Node]] = {"site": [], "software": [], "undetermined": []}
        for f in self.report.findings:
            if f.is_root_cause:
                out[(f.fault or Fault.UNDETERMINED).value].append(self.node(f, placed))
        for f in self.report.findings:
            if f.status.is_problem and f.id not in placed:
                out[(f.fault or Fault.UNDETERMINED).value].append(self.node(f, placed))
        return [(k, v) for k, v in out.items() if v]

    def passed(self) -> list[Finding]:
        return [f for f in self.report.findings if not f.status.is_problem]

    def errors(self):
        return [c for c in self.report.checks if c.status is Status.ERROR]

    def check_summary(self, name: str) -> str:
        res = next(c for c in self.report.checks if c.name == name)
        if res.status is Status.SKIP and res.skipped:
            return self.t(N_("skipped: {reason}"), reason=self.s(res.skipped))
        if res.status is Status.ERROR:
            if self.customer:
                return self.label(N_("could not run; the vendor will look at it"))
            return self.t(N_("could not run: {error}"), error=self.s(res.error or ""))
        mine = [f for f in self.report.findings if f.check == name]
        worst = max(mine, key=lambda f: f.status, default=None)
        if worst is None:
            return self.label(N_("nothing to check"))
        if worst.status is Status.OK:
            if len(mine) == 1:
                return self.s(worst.title)
            return tr(_n("{n} subject ok ({title}, …)", "{n} subjects ok ({title}, …)", len(mine),
                         title=self.s(worst.title)), self.lang)
        extra = sum(1 for f in mine if f.status.is_problem) - 1
        if extra > 0:
            return tr(_n("{title} (+{n} more)", "{title} (+{n} more)", extra,
                         title=self.s(worst.title)), self.lang)
        return self.s(worst.title)
