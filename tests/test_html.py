"""The HTML report: content, escaping of hostile system strings,
self-containment, and how it renders in a real headless Chromium at desktop
and phone widths (tests/rigs/chromium.py)."""

from __future__ import annotations

import re
import struct
from html.parser import HTMLParser

import pytest

from diagnose.model import CheckResult, Fault, Finding, Report, Status, make_verdict
from diagnose.reports import html as html_report
from tests.rigs.chromium import chromium  # noqa: F401  (fixture)

HOSTILE = "<script>alert(1)</script>"


def sample_report() -> Report:
    """Site faults, a software fault, a consequence, an error and a skip,
    with a directory and an owner named like a script tag."""
    disk = Finding(
        "disk.space", "/srv", Status.FAIL, "Data disk /srv is 100% full", Fault.SITE,
        detail="98% of the used space is outside the application's paths, mostly video.",
        evidence={"free_percent": 0.1, "top_foreign": [
            {"path": f"/srv/share/{HOSTILE}", "owner": HOSTILE, "bytes": 41_200_000_000,
             "type": "video"}]},
        remedy=f"Move or delete /srv/share/{HOSTILE} (41.2 GB, owner {HOSTILE})",
        consequences=["database.integrity:callcenter"])
    db = Finding(
        "database.integrity", "callcenter", Status.FAIL, "Database callcenter is corrupt",
        Fault.SITE, detail="integrity_check reports 3 errors in index cdr_time.",
        evidence={"mount": "/srv", "errors": ["row 12 missing from index cdr_time"]},
        remedy="Free space on /srv, then restore callcenter from last night's backup",
        caused_by=["disk.space:/srv"])
    headset = Finding(
        "headset.presence", "seat-04", Status.FAIL, "Headset unplugged: Jabra Evolve2 40 was last seen",
        Fault.SITE, detail="No USB audio device with vendor 0b0e is attached.",
        evidence={"expected": "0b0e", "usb_audio": []},
        remedy="Plug the Jabra headset into a USB port on seat-04")
    service = Finding(
        "application.services", "ccserver", Status.FAIL, "ccserver crashed with a traceback",
        Fault.SOFTWARE, detail="The process exited with a Python traceback in its log.",
        evidence={"log_tail": ["Traceback (most recent call last):", "KeyError: 'queue'"]},
        remedy="Send /var/log/callcenter/server.log to the vendor; restart with "
               "`systemctl restart callcenter`")
    net = Finding("network.connectivity", "eth0", Status.OK, "eth0 is up, 1000 Mb/s, full duplex",
                  evidence={"carrier": True, "speed": 1000})
    findings = [disk, db, headset, service, net]
    checks = [
        CheckResult("application.services", Status.FAIL, 0.21),
        CheckResult("bluetooth.interference", Status.SKIP, 0.0,
                    skipped="not configured: add a [bluetooth] section"),
        CheckResult("database.integrity", Status.FAIL, 0.05),
        CheckResult("disk.space", Status.FAIL, 0.43),
        CheckResult("gateway.power", Status.ERROR, 10.0,
                    error="probe timed out after 10s and was abandoned (still hung)"),
        CheckResult("headset.presence", Status.FAIL, 0.02),
        CheckResult("network.connectivity", Status.OK, 0.12),
    ]
    return Report("0.1.0", "cc-srv01", "Sales office", "server", "2026-11-22T07:00:00+00:00",
                  10.9, findings, checks, make_verdict(findings, checks))


class _Collect(HTMLParser):
    """Elements with their attributes, plus all text, from HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(doc: str) -> _Collect:
    p = _Collect()
    p.feed(doc)
    return p


def test_report_shows_verdict_root_causes_consequence_and_every_check():
    report = sample_report()
    doc = html_report.render(report)
    p = parse(doc)
    text = " ".join(p.text)
    assert report.verdict.headline == "2 site faults, 1 software fault; 1 check could not run"
    assert report.verdict.headline in text
    findings = [a for t, a in p.tags if "data-finding" in a]
    assert [a["data-finding"] for a in findings] == [
        "disk.space:/srv", "database.integrity:callcenter", "headset.presence:seat-04",
        "application.services:ccserver", "network.connectivity:eth0"]
    checks = {a["data-check"]: a["data-status"] for t, a in p.tags if "data-check" in a}
    assert checks == {c.name: str(c.status) for c in report.checks}
    assert "probe timed out after 10s" in text and "not configured: add a [bluetooth] section" in text
    # a command quoted in a plain-string remedy shows as code, without backticks
    assert "`" not in text
    cmd = re.search(r'restart with\s*<(pre|code) data-role="command"[^>]*>(.*?)</(pre|code)>', doc, re.S)
    assert cmd and re.sub(r"<[^>]+>", "", cmd.group(2)) == "systemctl restart callcenter"
    # the consequence is nested inside its root cause's block
    nested = re.search(r'data-finding="disk.space:/srv".*?data-role="consequences".*?'
                       r'data-finding="database.integrity:callcenter"', doc, re.S)
    assert nested
    assert doc.count("<details") >= len(report.findings)  # evidence folds open


def test_hostile_system_strings_are_escaped():
    doc = html_report.render(sample_report())
    assert HOSTILE not in doc
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in doc
    assert "script" not in {t for t, _ in parse(doc).tags}


def test_page_is_self_contained_with_inline_styles():
    doc = html_report.render(sample_report())
    tags = parse(doc).tags
    assert not [t for t, _ in tags if t in ("link", "style", "script", "img", "iframe", "object")]
    # links only within the page (to the evidence appendix)
    assert not [a for _, a in tags if "src" in a or ("href" in a and not a["href"].startswith("#"))]
    assert not re.search(r"url\(|@import|https?://", doc)
    assert any("style" in a for t, a in tags if t == "body")


def test_all_clear_report_has_no_root_cause_section():
    ok = Finding("disk.space", "/", Status.OK, "/ has 62% free", evidence={"free_percent": 62})
    checks = [CheckResult("disk.space", Status.OK, 0.01)]
    report = Report("0.1.0", "ws-07", "", "workstation", "2026-11-22T07:00:00+00:00", 0.2,
                    [ok], checks, make_verdict([ok], checks))
    doc = html_report.render(report)
    assert "All checks passed" in doc
    assert "Root causes" not in doc
    assert 'data-finding="disk.space:/"' in doc


def _png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


@pytest.mark.parametrize("width,height", [(1280, 900), (390, 844)], ids=["desktop", "phone"])
def test_chromium_renders_report(chromium, tmp_path, width, height):
    report = sample_report()
    page = tmp_path / "report.html"
    page.write_text(html_report.render(report), encoding="utf-8")

    shot = chromium.screenshot(page, tmp_path / f"report-{width}.png", width, height)
    assert _png_size(shot) == (width, height)

    dom, layout = chromium.view(page, width, height)
    p = parse(dom)
    text = " ".join(p.text)
    assert report.verdict.headline in text
    assert len([a for _, a in p.tags if "data-finding" in a]) == len(report.findings)
    assert "script" not in {t for t, _ in p.tags}  # the hostile string stayed text
    # nothing wider than the window: no sideways scrolling on a phone
    assert layout["innerWidth"] == width
    assert layout["scrollWidth"] <= width
    # the remedy of every root cause is laid out on screen (not folded away)
    remedies = {r["finding"]: r for r in layout["remedies"]}
    assert set(remedies) == {"disk.space:/srv", "database.integrity:callcenter",
                             "headset.presence:seat-04", "application.services:ccserver"}
    for r in remedies.values():
        assert r["height"] > 0 and r["right"] <= width, r
    assert "Plug the Jabra headset into a USB port on seat-04" in remedies["headset.presence:seat-04"]["text"]
    # evidence is folded until opened
    assert layout["evidence_open"] == 0
