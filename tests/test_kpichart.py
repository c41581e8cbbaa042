"""The queue day chart in the HTML report: inline SVG, no script, escaped
names, the hourly figures of queue.kpi's evidence, and a table fallback."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from diagnose.attribution import attribute
from diagnose.check import section_config
from diagnose.checks.asterisk.kpi import QueueKpi
from diagnose.model import CheckResult, Report, Status, make_verdict
from diagnose.reports import html as html_report
from diagnose.reports import kpichart
from tests.conftest import load_scenarios

SVG_NS = "{http://www.w3.org/2000/svg}"


def kpi_findings(name="linear-absent-first", rename=None):
    scenario = dict(load_scenarios("queue.kpi"))[name]
    facts = json.loads(json.dumps(scenario["facts"]))
    if rename:
        facts["log"]["queues"] = {rename: facts["log"]["queues"]["support"]}
    return attribute(QueueKpi().judge(facts, section_config(QueueKpi(), {})))


def report_of(findings):
    checks = [CheckResult("queue.kpi", max(f.status for f in findings), 0.1)]
    return Report("0.1.0", "cc-srv01", "Sales office", "server", "2025-11-21T18:00:00+00:00", 0.2,
                  findings, checks, make_verdict(findings, checks))


def test_svg_draws_every_hour_of_the_window():
    f = next(x for x in kpi_findings() if x.subject == "support")
    doc = ET.fromstring(kpichart.svg("support", f.evidence))
    assert doc.tag == SVG_NS + "svg"
    bars = [r for r in doc.iter(SVG_NS + "rect") if r.find(SVG_NS + "title") is not None]
    assert len(bars) == 3 * len(f.evidence["per_hour"])
    offered = {r.find(SVG_NS + "title").text for r in bars if " offered " in r.find(SVG_NS + "title").text}
    peak = f.evidence["peak_hours"][0]
    assert f"{peak['hour'][-5:-3]} offered {peak['offered']}" in offered
    line = doc.find(SVG_NS + "polyline")
    answered_hours = sum(1 for h in f.evidence["per_hour"] if h["answered"])
    assert len(line.get("points").split()) == answered_hours
    assert any("ASA target 30 s" == (t.text or "") for t in doc.iter(SVG_NS + "text"))


def test_html_report_embeds_the_chart_self_contained_and_escaped():
    hostile = '<script>alert("q")</script>'
    page = html_report.render(report_of(kpi_findings(rename=hostile)))
    assert page.count('data-role="kpi-chart"') == 1
    assert "<svg" in page and "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "Figures per hour" in page


def test_a_month_is_drawn_per_day():
    ev = {"per_hour": [{"hour": "", "start": 1763683200 + i * 3600, "offered": 1, "answered": 1,
                        "abandoned": 0, "asa_s": 10.0} for i in range(24 * 30)],
          "window": {"utc_offset_s": 0}, "targets": {"asa_s": 30}}
    rows, unit = kpichart.rows_of(ev)
    assert unit == "day" and len(rows) == 30 and rows[0]["offered"] == 24 and rows[0]["asa_s"] == 10.0
    ET.fromstring(kpichart.svg("q", ev))


def test_no_chart_without_kpi_findings():
    log_only = [f for f in kpi_findings("ringall-all-present") if f.subject == "queue_log"]
    assert kpichart.figures(report_of(log_only)) == []
