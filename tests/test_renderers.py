"""Every renderer on one report with site faults, a software fault, a
consequence, an error and a skip; formats checked against their rules."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from diagnose.model import Report
from diagnose.reports import render
from tests.rigs.sample import HOSTILE, sample_report


def test_json_report_matches_the_contract():
    report = sample_report()
    d = json.loads(render(report, "json"))
    assert d["schema"] == "diagnose.report/1"
    assert d["tool"] == {"name": "diagnose", "version": "0.1.0"}
    assert list(d["verdict"]) == ["status", "site_faults", "software_faults", "undetermined", "headline"]
    assert d["verdict"] == {"status": "error", "site_faults": 2, "software_faults": 1, "undetermined": 0,
                            "headline": "2 site faults, 1 software fault; 1 check could not run"}
    ids = [f["id"] for f in d["findings"]]
    # Root causes first (site before software), then the consequence, then what is fine.
    assert ids == ["disk.space:/srv", "application.services:callcenter", "network.connectivity:eth0",
                   "database.integrity:callcenter", "headset.presence:usb:1-2"]
    db = d["findings"][3]
    assert db["caused_by"] == ["disk.space:/srv"] and db["fault"] == "site"
    assert set(d["findings"][0]) == {"id", "check", "subject", "status", "fault", "title", "detail",
                                     "evidence", "remedy", "steps", "caused_by", "consequences"}
    checks = {c["name"]: c for c in d["checks"]}
    assert checks["gateway.power"]["error"].startswith("probe timed out")
    assert checks["bluetooth.interference"]["skipped"].startswith("BlueZ is not running")
    assert Report.from_dict(d).to_dict() == d


def test_text_puts_root_causes_first_with_consequences_indented():
    out = render(sample_report(), "text")
    lines = out.splitlines()
    assert lines[0] == "diagnose 0.1.0 on cc-srv01 (both), site Sales office"
    assert lines[1] == "22 Nov 2026, 07:00 UTC"
    assert "[-] bluetooth.interference  skipped: BlueZ is not running (org.bluez has no" in lines
    assert "[?] gateway.power           could not run: probe timed out after 10s and was" in lines
    # site faults first, under their own heading, then software faults
    assert lines.index("SITE FAULTS") < lines.index("SOFTWARE FAULTS")
    i_disk = lines.index("[✗] Data disk /srv is 100% full")
    assert lines[i_disk + 1] == "    disk.space:/srv, Site fault"
    assert lines[i_disk + 3].startswith("    Fix: Move or delete /srv/share/")
    assert lines[i_disk + 4] == "         <script>alert(1)</script>)"  # wrapped under "Fix: "
    assert lines[i_disk + 5] == "    └─ [✗] Database callcenter is corrupt"
    assert lines[i_disk + 6] == "       database.integrity:callcenter, Site fault"
    assert lines[i_disk + 8] == "            Consequence of disk.space:/srv: the database lives on the filesystem"
    assert lines[-1] == "[?] Verdict: 2 site faults, 1 software fault; 1 check could not run"
    assert max(len(line) for line in lines) <= 80
    assert "\033[" not in out
    ascii_out = render(sample_report(), "text", unicode=False, colour=True)
    assert "[X]" in ascii_out and "\033[31m" in ascii_out and "✗" not in ascii_out


# Nagios Plugin Development Guidelines: 'label'=value[UOM];[warn];[crit];[min];[max]
_PERF_ITEM = re.compile(r"""^('([^']|'')+'|[^'= ]+)=-?[0-9.]+(us|ms|s|%|B|KB|MB|TB|c)?(;[0-9.:~@-]*){0,4}$""")


def test_nagios_first_line_and_perfdata_follow_the_guidelines():
    out = render(sample_report(), "nagios")
    first, *rest = out.rstrip("\n").split("\n")
    text, _, perf = first.partition(" | ")
    assert text == "DIAGNOSE UNKNOWN - 2 site faults, 1 software fault; 1 check could not run"
    items = perf.split(" ")
    assert items[0] == "site_faults=2;;;0"
    for item in items:
        assert _PERF_ITEM.match(item), item
    assert "duration=12.34s;;;0" in items
    assert all("|" not in line for line in rest)
    assert rest[0].startswith("FAIL [site] Data disk /srv is 100% full - Move or delete")
    assert "ERROR gateway.power: probe timed out after 10s and was abandoned" in rest


def test_nagios_label_quoting():
    from diagnose.reports.nagios import label

    assert label("site_faults") == "site_faults"
    assert label("disk /srv") == "'disk /srv'"
    assert label("it's") == "'it''s'"


def test_prometheus_text_parses_and_has_no_timestamps():
    from prometheus_client.parser import text_string_to_metric_families

    text = render(sample_report(), "prometheus")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    status = {s.labels["check"]: s.value for s in families["diagnose_check_status"].samples}
    # The exit-code scale: a skipped check is 0, as an ok one (issue 15).
    assert status == {"disk.space": 2, "database.integrity": 2, "application.services": 2,
                      "network.connectivity": 1, "headset.presence": 0, "gateway.power": 3,
                      "bluetooth.interference": 0}
    skipped = {s.labels["check"]: s.value for s in families["diagnose_check_skipped"].samples}
    assert skipped["bluetooth.interference"] == 1 and skipped["disk.space"] == 0
    roots = {s.labels["fault"]: s.value for s in families["diagnose_root_causes"].samples}
    assert roots == {"site": 2, "software": 1, "undetermined": 0}
    assert families["diagnose_up"].samples[0].value == 0
    assert families["diagnose_status"].samples[0].value == 3
    info = families["diagnose_info"].samples[0]
    assert info.labels == {"version": "0.1.0", "site": "Sales office", "role": "both", "host": "cc-srv01"}
    # 2026-11-22T07:00:00+00:00 plus the run's duration, to the millisecond.
    ended = families["diagnose_last_run_timestamp_seconds"].samples[0].value
    assert 1795330800 <= ended < 1795330800 + 60
    findings = families["diagnose_finding_status"].samples
    hostile = [s for s in findings if s.labels["subject"] == "/srv"]
    assert hostile and hostile[0].labels == {"check": "disk.space", "subject": "/srv", "status": "fail",
                                             "fault": "site", "root": "true"}
    db = [s for s in findings if s.labels["check"] == "database.integrity"][0]
    assert db.labels["root"] == "false" and db.value == 2
    assert all(s.value > 0 for s in findings), "only findings with a problem are exported"
    for s in (s for f in families.values() for s in f.samples):
        assert s.timestamp is None
    for line in text.splitlines():  # sample lines: name{labels} value, nothing more
        if not line.startswith("#"):
            assert re.match(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? -?[0-9.e+]+$', line), line


def test_prometheus_escapes_label_values():
    from diagnose.reports.prometheus import escape

    assert escape('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


def test_junit_one_testcase_per_check():
    root = ET.fromstring(render(sample_report(), "junit").split("\n", 1)[1])
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == \
           ("7", "4", "1", "1")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert cases["gateway.power"].find("error").get("message").startswith("probe timed out")
    assert cases["bluetooth.interference"].find("skipped") is not None
    failure = cases["disk.space"].find("failure")
    assert failure.get("type") == "fail" and failure.get("message") == "Data disk /srv is 100% full"
    assert HOSTILE in failure.text  # escaped by the XML writer, intact once parsed
    db = cases["database.integrity"].find("failure").text
    assert "Consequence of: disk.space:/srv" in db
    assert cases["headset.presence"].find("failure") is None
