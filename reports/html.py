"""HTML report: one self-contained page for browsers and mail clients.

Mail clients strip ``<style>`` blocks and block remote resources, so every
style the page needs is an inline ``style`` attribute and nothing is fetched
(no CSS, scripts, fonts or images). Strings from the inspected system
(directory names, owners, log lines) are untrusted: the template is rendered
with autoescape on. jinja2 is imported here only, so other output formats
never pay for it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from diagnose.model import Finding, Report, Status

TEMPLATES = Path(__file__).resolve().parent / "templates"

# Foreground and background colour per status: the banner, badges, table.
COLOURS = {
    Status.OK: ("#116329", "#dafbe1"),
    Status.SKIP: ("#57606a", "#eaeef2"),
    Status.WARN: ("#7d4e00", "#fff8c5"),
    Status.FAIL: ("#a40e26", "#ffebe9"),
    Status.ERROR: ("#6639ba", "#fbefff"),
}
FAULT_LABELS = {"site": "Site fault", "software": "Software fault", "undetermined": "Undetermined"}

_env = None


def _environment():
    global _env
    if _env is None:
        import jinja2

        _env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(TEMPLATES)),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        _env.filters["pretty"] = _pretty
    return _env


def _pretty(value: Any) -> str:
    """Evidence values: scalars as they are, structures as indented JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _colour(status: Status) -> dict[str, str]:
    fg, bg = COLOURS[status]
    return {"fg": fg, "bg": bg}


def _tree(report: Report) -> list[dict[str, Any]]:
    """Root causes (worst first, as the report orders them) with their
    consequences nested, each finding appearing once."""
    by_id = {f.id: f for f in report.findings}
    placed: set[str] = set()

    def node(f: Finding) -> dict[str, Any]:
        placed.add(f.id)
        children = [by_id[c] for c in f.consequences if c in by_id and c not in placed]
        return {"f": f, "colour": _colour(f.status),
                "children": [node(c) for c in children]}

    roots = [f for f in report.findings if f.status.is_problem and not f.caused_by]
    tree = [node(f) for f in roots]
    # A consequence whose cause is missing from the report still has to show.
    tree += [node(f) for f in report.findings
             if f.status.is_problem and f.id not in placed]
    return tree


def render(report: Report, **_options: object) -> str:
    """The report as one HTML document (str). The text format's layout
    options (colour, unicode, verbose, quiet) do not apply: the page always
    holds everything, with evidence and passed findings folded."""
    problems = _tree(report)
    passed = [f for f in report.findings if not f.status.is_problem]
    return _environment().get_template("report.html.j2").render(
        r=report,
        verdict_colour=_colour(report.verdict.status),
        problems=problems,
        passed=passed,
        checks=[{"c": c, "colour": _colour(c.status)} for c in report.checks],
        colour=_colour,
        fault_labels=FAULT_LABELS,
        **_history_helpers(),
    )


def _history_helpers() -> dict[str, Any]:
    """What templates/history.html.j2 calls: marks, sparklines, "since"."""
    from markupsafe import Markup

    from diagnose.reports import history, sparkline

    def lines(report: Report) -> list[Any]:
        return [m for m in (history.since(report), history.resolved(report), history.note(report)) if m]

    return {"history_mark": history.mark, "history_lines": lines,
            "sparkline": lambda f: Markup(sparkline.for_finding(f))}
