"""Doctor-style text: one line per check with a mark, then the root causes
grouped by who acts (site faults first), each with why and the remedy's
steps numbered on their own lines, consequences indented under their cause,
then the headline to read aloud.

Lines fit *width* columns (the CLI passes the terminal's width, 80 when the
output is not a terminal); only a word longer than a line (a long path) may
stick out. Commands are folded only between shell words, with ``\\``.
Colour only when asked; marks fall back to ASCII when the output encoding
cannot carry them (LANG=C, a non-UTF-8 terminal). Every system string shows
its control characters escaped (:func:`diagnose.safetext.show`).
"""

from __future__ import annotations

from typing import Any

from diagnose.i18n import N_
from diagnose.model import Finding, Report, Status
from diagnose.reports import history
from diagnose.reports.present import Node, Presenter, StepView
from diagnose.reports.textlayout import command_lines, evidence_lines, wrap
from diagnose.safetext import show

_UNICODE = {Status.OK: "✓", Status.SKIP: "-", Status.WARN: "!", Status.FAIL: "✗", Status.ERROR: "?"}
_ASCII = {Status.OK: "+", Status.SKIP: "-", Status.WARN: "!", Status.FAIL: "X", Status.ERROR: "?"}
_COLOUR = {Status.OK: "32", Status.SKIP: "90", Status.WARN: "33", Status.FAIL: "31", Status.ERROR: "35"}
_SECTION_COLOUR = {"site": "33", "software": "34", "undetermined": "35"}
DEFAULT_WIDTH = 80


class _Style:
    def __init__(self, colour: bool, unicode: bool) -> None:
        self.colour, self.marks = colour, (_UNICODE if unicode else _ASCII)
        self.arrow = "└─ " if unicode else "`- "

    def paint(self, code: str, s: str) -> str:
        return f"\033[{code}m{s}\033[0m" if self.colour and s else s

    def mark(self, status: Status) -> str:
        return self.paint(_COLOUR[status], f"[{self.marks[status]}]")

    def bold(self, s: str) -> str:
        return self.paint("1", s)


class _Text:
    def __init__(self, p: Presenter, st: _Style, width: int, verbose: bool) -> None:
        self.p, self.st, self.width, self.verbose = p, st, width, verbose

    def steps(self, steps: list[StepView], indent: str) -> list[str]:
        """The remedy: one step after "Fix:", several numbered on their own
        lines; a command on a line of its own below its words."""
        if not steps:
            return []
        label = self.p.label(N_("Fix:")) + " "
        out: list[str] = []
        several = len(steps) > 1
        if several:
            out.append(indent + label.rstrip())
        for i, sv in enumerate(steps, 1):
            first = indent + (f"  {i}. " if several else label)
            rest = " " * len(first)
            out += self._step(sv, first, rest)
        return out

    def _step(self, sv: StepView, first: str, rest: str) -> list[str]:
        out: list[str] = []
        prose = ""
        lead = first
        for kind, text in sv.segments:
            if kind == "code" and (" " in text and len(text) > 24):
                out += wrap(prose.rstrip(), self.width, lead, rest) if prose.strip() else \
                    ([lead.rstrip()] if lead.strip() and lead == first else [])
                out += [self.st.paint("36", ln) for ln in command_lines(text, self.width, rest + "  ")]
                prose, lead = "", rest
            elif kind == "code":
                prose += text.replace(" ", "\u00a0")  # a short command never wraps inside
            else:
                prose += text
        prose = prose.strip()
        if prose.startswith((";", ",", ".")):
            prose = prose[1:].strip()
        if prose:
            out += [ln.replace("\u00a0", " ") for ln in wrap(prose, self.width, lead, rest)]
        elif lead == first and not out:
            out.append(first.rstrip())
        if sv.command:
            out += [self.st.paint("36", ln) for ln in command_lines(sv.command, self.width, rest + "  ")]
        return out

    def node(self, n: Node, indent: str = "") -> list[str]:
        st, p = self.st, self.p
        head = indent + (st.arrow if n.depth else "")
        body = " " * len(head) if n.depth else indent + "    "
        mark = st.mark(n.f.status)
        title = wrap(n.title, self.width, head + "[x] ", body)
        lines = [title[0].replace("[x]", mark, 1)] + title[1:]
        if st.colour:
            lines = [ln[:len(head) + len(mark) + 1] + st.bold(ln[len(head) + len(mark) + 1:])
                     if i == 0 else st.bold(ln) for i, ln in enumerate(lines)]
        mark = history.mark(n.f)  # new / recurring / flapping, from the run history
        tag = f"[{p.s(mark)}]" if mark else ""
        if not p.customer:
            fid = show(n.f.id)  # the subject is a system string (a mountpoint, a path)
            lines += wrap((f"{fid}, {p.fault(n.f.fault)}" if n.f.fault else fid)
                          + ("  " + tag if tag else ""), self.width, body)
        elif tag:
            lines += wrap(tag, self.width, body)
        if n.detail:
            lines += wrap(n.detail, self.width, body + p.label(N_("Why:")) + " ")
        lines += self.steps(n.steps, body)
        if self.verbose and not p.customer and n.f.evidence:
            lines.append(body + p.label(N_("Evidence:")))
            lines += evidence_lines(n.f.evidence, self.width, body + "  ")
        if n.children and p.customer:
            lines.append(body + p.label(N_("This also caused:")))
        for child in n.children:
            lines += self.node(child, body if n.depth else indent + "    ")
        return lines

    def check_lines(self) -> list[str]:
        checks = self.p.report.checks
        width = max((len(c.name) for c in checks), default=10)
        out = []
        for c in checks:
            first = f"[x] {c.name.ljust(width)}  "
            rows = wrap(self.p.check_summary(c.name), self.width, first)
            rows[0] = rows[0].replace("[x]", self.st.mark(c.status), 1)
            out += rows
        return out

    def finding_line(self, f: Finding) -> list[str]:
        rows = wrap(self.p.s(f.title), self.width, "[x] ", "    ")
        rows[0] = rows[0].replace("[x]", self.st.mark(f.status), 1)
        rows += wrap(show(f.id), self.width, "    ")
        if self.verbose and f.evidence:
            rows += evidence_lines(f.evidence, self.width, "      ")
        return rows


def render(report: Report, colour: bool = False, unicode: bool = True, verbose: bool = False,
           quiet: bool = False, width: int | None = None, audience: str = "vendor", lang: str = "en",
           site_addresses: Any = (), vendor_domains: Any = (), **_: Any) -> str:
    p = Presenter(report, audience, lang, site_addresses, vendor_domains)
    st = _Style(colour, unicode)
    w = _Text(p, st, width or DEFAULT_WIDTH, verbose)
    out: list[str] = []
    if not quiet:
        where = p.s(report.host) + (f" ({p.s(report.role)})" if report.role and not p.customer else "")
        site = p.t(N_("site {name}"), name=p.s(report.site)) if report.site else ""
        out += wrap(p.t(N_("diagnose {version} on {host}"), version=report.tool_version, host=where)
                    + (", " + site if site else ""), w.width)
        out.append(p.started())
        if not p.customer:
            out += wrap(p.t(N_("config: {path}"), path=p.s(report.config_file)) if report.config_file
                        else p.label(N_("config: none found, built-in defaults")), w.width)
        out.append("")
        out += w.check_lines()
        out.append("")
    for domain, nodes in p.groups():
        out.append(st.paint(_SECTION_COLOUR[domain], st.bold(p.section(domain).upper()
                                                              if not p.customer else p.section(domain))))
        out += wrap(p.who_acts(domain), w.width)
        out.append("")
        for n in nodes:
            out += w.node(n)
            out.append("")
    errors = p.errors()
    if errors and not p.customer:
        out.append(st.bold(p.label(N_("Checks that could not run:"))))
        for c in errors:
            rows = wrap(p.s(c.error or ""), w.width, f"[x] {c.name}: ", "    ")
            rows[0] = rows[0].replace("[x]", st.mark(c.status), 1)
            out += rows
            out += wrap(p.label(N_("Run it alone and send the output to the vendor:")), w.width,
                        "    " + p.label(N_("Fix:")) + " ")
            out += [st.paint("36", ln) for ln in
                    command_lines(f"diagnose run --only {c.name} -v", w.width, "        ")]
        out.append("")
    if verbose and not p.customer:
        oks = p.passed()
        if oks:
            out.append(st.bold(p.label(N_("Looked at and fine:"))))
            for f in oks:
                out += w.finding_line(f)
            out.append("")
    said = [m for m in (history.since(report), history.resolved(report), history.note(report)) if m]
    for m in said:
        out += wrap(p.s(m), w.width)
    out += [""] if said else []
    verdict = wrap(p.headline(), w.width, "[x] " + p.label(N_("Verdict:")) + " ", "    ")
    verdict[0] = verdict[0].replace("[x]", st.mark(p.verdict_status()), 1)
    out += [st.bold(ln) if i else ln for i, ln in enumerate(verdict)]
    return "\n".join(out) + "\n"


def _seat_line(p: Presenter, row: Any, st: _Style, name_width: int, width: int) -> list[str]:
    where = "/".join(p.s(x) for x in (row.switch, row.port) if x) or p.s(row.subnet) or "-"
    what = {"offline": N_("offline"), "stopped": N_("shut down"), "silent": N_("silent"),
            "refused": N_("report refused")}.get(row.state)
    text = p.label(what) if what else p.s((row.verdict or {}).get("headline") or p.label(N_("no report")))
    rows = wrap(f"{where}  {text}", width, f"[x] {p.s(row.name).ljust(name_width)}  ")
    rows[0] = rows[0].replace("[x]", st.mark(row.status), 1)
    return rows


def render_site(site: Any, colour: bool = False, unicode: bool = True, verbose: bool = False,
                quiet: bool = False, width: int | None = None, audience: str = "vendor", lang: str = "en",
                site_addresses: Any = (), vendor_domains: Any = (), **_: Any) -> str:
    """The site report (``diagnose site``): a line per seat that is not
    healthy (every seat with -v), then the site-level root causes by fault
    domain with each seat's own findings nested under them, laid out by the
    same code as a run's, and the site's headline."""
    p = Presenter(site, audience, lang, site_addresses, vendor_domains)
    st = _Style(colour, unicode)
    w = _Text(p, st, width or DEFAULT_WIDTH, verbose)
    v = site.verdict
    out: list[str] = []
    if not quiet:
        out += wrap(p.t(N_("diagnose {version} site {name}: {n} seats"), version=site.tool_version,
                        name=p.s(site.site), n=v.seats_total)
                    + (f" ({p.s(site.source)})" if site.source and not p.customer else ""), w.width)
        out.append(p.started())
        out.append("")
        name_width = max((len(r.name) for r in site.seats), default=8)
        shown = [r for r in site.seats if verbose or not r.healthy]
        for r in shown:
            out += _seat_line(p, r, st, name_width, w.width)
        if len(shown) < len(site.seats):
            out.append(f"{st.mark(Status.OK)} " + p.t(N_("{n} more seats healthy (-v lists them)"),
                                                       n=len(site.seats) - len(shown)))
        out.append("")
    for domain, nodes in p.groups():
        out.append(st.paint(_SECTION_COLOUR[domain], st.bold(p.section(domain).upper()
                                                              if not p.customer else p.section(domain))))
        out += wrap(p.who_acts(domain), w.width)
        out.append("")
        for n in nodes:
            out += w.node(n)
            seats = getattr(n.f, "seats", [])
            if len(seats) > 1:
                out += wrap(", ".join(p.s(s) for s in seats), w.width, "    " + p.label(N_("Seats:")) + " ")
            out.append("")
    verdict = wrap(p.headline(), w.width, "[x] " + p.label(N_("Verdict:")) + " ", "    ")
    verdict[0] = verdict[0].replace("[x]", st.mark(v.status if v.status > Status.SKIP else Status.OK), 1)
    out += [st.bold(ln) if i else ln for i, ln in enumerate(verdict)]
    return "\n".join(out) + "\n"
