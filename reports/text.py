"""Doctor-style text: one line per check, then root causes with their remedy
and consequences indented under them, then the headline to read aloud.

Colour only when asked (the CLI asks when stdout is a terminal and NO_COLOR is
unset). Marks fall back to ASCII when the output encoding cannot carry them,
as under cron with LANG=C.
"""

from __future__ import annotations

import textwrap
from typing import Any

from diagnose.model import Finding, Report, Status
from diagnose.reports import history

_UNICODE = {Status.OK: "✓", Status.SKIP: "-", Status.WARN: "!", Status.FAIL: "✗", Status.ERROR: "?"}
_ASCII = {Status.OK: "+", Status.SKIP: "-", Status.WARN: "!", Status.FAIL: "X", Status.ERROR: "?"}
_COLOUR = {Status.OK: "32", Status.SKIP: "90", Status.WARN: "33", Status.FAIL: "31", Status.ERROR: "35"}


class _Style:
    def __init__(self, colour: bool, unicode: bool) -> None:
        self.colour, self.marks = colour, (_UNICODE if unicode else _ASCII)
        self.arrow = "└─" if unicode else "`-"

    def mark(self, status: Status) -> str:
        m = f"[{self.marks[status]}]"
        return f"\033[{_COLOUR[status]}m{m}\033[0m" if self.colour else m

    def bold(self, s: str) -> str:
        return f"\033[1m{s}\033[0m" if self.colour else s


def _check_summary(report: Report, name: str) -> str:
    res = next(c for c in report.checks if c.name == name)
    if res.status is Status.SKIP and res.skipped:
        return f"skipped: {res.skipped}"
    if res.status is Status.ERROR and res.error:
        return f"could not run: {res.error}"
    mine = [f for f in report.findings if f.check == name]
    worst = max(mine, key=lambda f: f.status, default=None)
    if worst is None:
        return "nothing to check"
    if worst.status is Status.OK:
        return worst.title if len(mine) == 1 else f"{len(mine)} subjects ok ({worst.title}, …)"
    extra = sum(1 for f in mine if f.status.is_problem) - 1
    return worst.title + (f" (+{extra} more)" if extra > 0 else "")


def _wrap(label: str, text: str, indent: str) -> list[str]:
    if not text:
        return []
    body = textwrap.wrap(text, width=max(40, 100 - len(indent) - len(label)),
                         break_long_words=False, break_on_hyphens=False) or [""]
    pad = " " * len(label)
    return [indent + label + body[0]] + [indent + pad + line for line in body[1:]]


def _finding_block(f: Finding, report: Report, st: _Style, depth: int, verbose: bool,
                   seen: set[str]) -> list[str]:
    seen.add(f.id)
    indent = "    " * depth
    head = f"{st.arrow} " if depth else ""
    fault = f" {f.fault.value}" if f.fault else ""
    lines = [f"{indent}{head}{st.mark(f.status)} {st.bold(f.title)}  ({f.id}{',' if fault else ''}{fault})"]
    if history.mark(f):  # new / recurring / flapping, from the run history
        lines[0] += f"  [{history.mark(f)}]"
    sub = indent + ("   " if depth else "    ")
    lines += _wrap("Why: ", f.detail, sub)
    lines += _wrap("Fix: ", f.remedy, sub)
    if verbose and f.evidence:
        import json

        ev = json.dumps(f.evidence, ensure_ascii=False, default=str)
        lines += _wrap("Evidence: ", ev[:2000] + ("…" if len(ev) > 2000 else ""), sub)
    for cid in f.consequences:
        child = report.finding(cid)
        if child is not None and cid not in seen:
            lines += _finding_block(child, report, st, depth + 1, verbose, seen)
    return lines


def render(report: Report, colour: bool = False, unicode: bool = True, verbose: bool = False,
           quiet: bool = False, **_: Any) -> str:
    st = _Style(colour, unicode)
    out: list[str] = []
    if not quiet:
        where = report.host + (f" ({report.role})" if report.role else "")
        site = f", site {report.site}" if report.site else ""
        out.append(f"diagnose {report.tool_version} on {where}{site}, {report.started}")
        out.append(f"config: {report.config_file or 'none found, built-in defaults'}")
        out.append("")
        width = max((len(c.name) for c in report.checks), default=10)
        for c in report.checks:
            out.append(f"{st.mark(c.status)} {c.name.ljust(width)}  {_check_summary(report, c.name)}")
        out.append("")
    roots = [f for f in report.findings if f.is_root_cause]
    if roots:
        out.append(st.bold("Root causes, site faults first:"))
        seen: set[str] = set()
        for f in roots:
            out += _finding_block(f, report, st, 0, verbose, seen)
            out.append("")
    errors = [c for c in report.checks if c.status is Status.ERROR]
    if errors:
        out.append(st.bold("Checks that could not run:"))
        for c in errors:
            out += _wrap(f"{st.mark(c.status)} {c.name}: ", c.error or "", "")
            out.append(f"    Fix: run `diagnose run --only {c.name} -v` and send the output to the vendor")
        out.append("")
    if verbose:
        oks = [f for f in report.findings if f.status is Status.OK]
        if oks:
            out.append(st.bold("Looked at and fine:"))
            for f in oks:
                out += _finding_block(f, report, st, 0, verbose, set())
            out.append("")
    said = [m for m in (history.since(report), history.resolved(report), history.note(report)) if m]
    out += [str(m) for m in said] + ([""] if said else [])
    verdict = report.verdict.status  # skip: nothing was checked
    out.append(f"{st.mark(verdict)} Verdict: {st.bold(report.verdict.headline)}")
    return "\n".join(out) + "\n"
