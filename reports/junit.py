"""JUnit XML: one testcase per check, for CI dashboards and test-report viewers.

fail and warn findings become ``<failure>`` (type tells which), a check that
could not run ``<error>``, a skipped check ``<skipped>``. ElementTree does the
XML escaping; characters XML 1.0 forbids (and control characters a viewer
would act on) are shown escaped first (:func:`diagnose.safetext.xml_text`),
so the document is well-formed with any input.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from diagnose.model import Report, Status
from diagnose.safetext import show, xml_text


def _x(s: str | None) -> str:
    return xml_text(s or "")


def render(report: Report, **_: Any) -> str:
    suites = ET.Element("testsuites", name="diagnose")
    suite = ET.SubElement(suites, "testsuite", name=f"diagnose {_x(report.host)}",
                          hostname=_x(report.host), timestamp=_x(report.started),
                          time=f"{report.duration_s:.3f}")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for c in report.checks:
        counts["tests"] += 1
        case = ET.SubElement(suite, "testcase", classname="diagnose", name=_x(c.name),
                             time=f"{c.duration_s:.3f}")
        mine = [f for f in report.findings if f.check == c.name]
        if c.status is Status.ERROR:
            counts["errors"] += 1
            ET.SubElement(case, "error", message=_x(c.error or "check could not run"), type="error")
        elif c.status is Status.SKIP and c.skipped:
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message=_x(c.skipped))
        elif c.status in (Status.WARN, Status.FAIL):
            counts["failures"] += 1
            bad = [f for f in mine if f.status.is_problem]
            worst = max(bad, key=lambda f: f.status)
            el = ET.SubElement(case, "failure", message=_x(worst.title), type=str(c.status))
            # each field escaped on its own (a newline in a title is data), then joined
            el.text = _x("\n\n".join(
                f"{str(f.status).upper()} [{f.fault.value if f.fault else ''}] {show(f.title)}\n"
                f"{show(f.detail)}\nFix: {show(f.remedy)}"
                + (f"\nConsequence of: {show(', '.join(f.caused_by))}" if f.caused_by else "")
                for f in bad))
        if mine:
            out = ET.SubElement(case, "system-out")
            out.text = _x("\n".join(f"{f.status}: {show(f.title)}" for f in mine))
    for k, v in counts.items():
        suite.set(k, str(v))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def render_site(site: Any, **_: Any) -> str:
    """One testsuite for the site: a testcase per site-level root cause
    (classname ``site``) and one per seat (classname ``seat``), a seat
    failing with the findings that concern it."""
    suites = ET.Element("testsuites", name="diagnose site")
    suite = ET.SubElement(suites, "testsuite", name=f"diagnose site {_x(site.site)}", hostname=_x(site.site_id),
                          timestamp=site.started, time=f"{site.duration_s:.3f}")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}

    def case(classname: str, name: str, status: Status, message: str, body: str) -> None:
        counts["tests"] += 1
        el = ET.SubElement(suite, "testcase", classname=classname, name=_x(name), time="0.000")
        if status is Status.ERROR:
            counts["errors"] += 1
            ET.SubElement(el, "error", message=_x(message), type="error").text = _x(body)
        elif status.is_problem:
            counts["failures"] += 1
            ET.SubElement(el, "failure", message=_x(message), type=str(status)).text = _x(body)

    def text(f: Any) -> str:
        return (f"{str(f.status).upper()} [{f.fault.value if f.fault else ''}] {f.title}\n{f.detail}\n"
                f"Fix: {f.remedy}" + (f"\nConsequence of: {', '.join(f.caused_by)}" if f.caused_by else ""))

    for f in site.findings:
        if f.is_root_cause and not f.seat and len(f.seats) != 1:  # one seat's own: in its testcase
            case("site", f.id, f.status, f.title, text(f) + "\nSeats: " + ", ".join(f.seats))
    by_seat: dict[str, list[Any]] = {}
    for f in site.findings:
        if f.status.is_problem:
            for name in {f.seat, *f.seats} - {""}:
                by_seat.setdefault(name, []).append(f)
    for row in site.seats:
        mine = by_seat.get(row.name, [])
        worst = max(mine, key=lambda f: f.status, default=None)
        case("seat", row.name, row.status, worst.title if worst else "", "\n\n".join(text(f) for f in mine))
    for k, v in counts.items():
        suite.set(k, str(v))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
