"""Site-level attribution and the site report, from seat reports judged by the
real checks on recorded facts (tests/rigs/seats.py). What a vendor reads:
which root causes, naming which seats, nested how, in which headline."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET

from diagnose.fleet.site import build
from diagnose.reports import render
from tests.conftest import run_cli
from tests.rigs.seats import fleet, gathered, seat_report

NET = {"network.connectivity": "healthy"}
PORT_CLOSED = {"network.connectivity": "port-closed"}
NOW = time.time()


def _roots(site):
    return [f for f in site.findings if f.is_root_cause]


def test_a_server_port_closed_for_most_seats_is_one_finding_about_the_server():
    seats = {f"ws-{i}": {"report": seat_report(f"ws-{i}", PORT_CLOSED if i <= 6 else NET,
                                               {"switch": "SW-A" if i <= 4 else "SW-B"})} for i in range(1, 9)}
    site = build(gathered(fleet(), seats), fleet(), NOW, now=NOW)
    [root] = _roots(site)
    assert root.id == "site.server:cc-srv.dgnet.test:57899"
    assert root.fault.value == "software" and root.seats == [f"ws-{i}" for i in range(1, 7)]
    assert root.title.endswith(": seen by 6 of 8 seats")
    assert sorted(root.consequences) == sorted(f"ws-{i}/network.connectivity:cc-srv.dgnet.test:57899"
                                               for i in range(1, 7))
    assert site.verdict.headline == ("Site Sales office: no site faults, 1 software fault "
                                     "(server cc-srv.dgnet.test:57899: 6 seats); 2 of 8 seats healthy")
    assert site.exit_code() == 2


def test_a_fault_on_a_single_seat_stays_that_seats():
    seats = {f"ws-{i}": {"report": seat_report(f"ws-{i}", PORT_CLOSED if i == 2 else NET)} for i in range(1, 9)}
    site = build(gathered(fleet(), seats), fleet(), NOW, now=NOW)
    [root] = _roots(site)
    assert root.id == "ws-2/network.connectivity:cc-srv.dgnet.test:57899" and root.seats == ["ws-2"]
    assert site.verdict.headline.startswith("Site Sales office: no site faults, 1 software fault (ws-2: ")
    assert site.verdict.seats_healthy == 7


def test_offline_seats_of_one_switch_at_one_minute_are_one_site_fault():
    seats = {f"ws-{i}": {"report": seat_report(f"ws-{i}", NET, {"switch": "SW-A" if i <= 4 else "SW-B"},
                                               started=NOW - 300)} for i in range(1, 9)}
    for i in range(5, 9):
        seats[f"ws-{i}"].update(state="offline", seen=NOW - 120 + i)
    site = build(gathered(fleet(), seats), fleet(), NOW, now=NOW)
    [root] = _roots(site)
    assert root.id == "site.switch:SW-B" and root.seats == ["ws-5", "ws-6", "ws-7", "ws-8"]
    assert root.evidence["since"] == json.loads(json.dumps(root.evidence))["since"]
    assert site.verdict.seats_offline == 4 and site.verdict.seats_healthy == 4


def test_seats_dropping_minutes_apart_are_separate_faults():
    seats = {f"ws-{i}": {"report": seat_report(f"ws-{i}", NET, {"switch": "SW-B"}, started=NOW - 3600)}
             for i in range(1, 5)}
    seats["ws-1"].update(state="offline", seen=NOW - 1800)
    seats["ws-2"].update(state="offline", seen=NOW - 600)
    site = build(gathered(fleet(), seats), fleet(), NOW, now=NOW)
    assert sorted(f.id for f in _roots(site)) == ["site.seat:ws-1", "site.seat:ws-2"]


def test_without_a_switch_the_subnet_groups_the_seats():
    seats = {f"ws-{i}": {"report": seat_report(f"ws-{i}", NET, {"subnet": "203.0.113.0/24" if i <= 3
                                                                  else "198.51.100.0/24"}, started=NOW - 300)}
             for i in range(1, 7)}
    for i in (1, 2, 3):
        seats[f"ws-{i}"].update(state="offline", seen=NOW - 100 + i)
    site = build(gathered(fleet(), seats), fleet(), NOW, now=NOW)
    [root] = _roots(site)
    assert root.id == "site.subnet:203.0.113.0/24" and root.title.startswith("Network 203.0.113.0/24: 3 seats")


def test_bluetooth_congestion_in_many_seats_of_one_room_is_one_room_finding():
    crowded = {"bluetooth.interference": "eight_headsets_in_range"}
    seats = {f"ws-{i}": {"report": seat_report(f"ws-{i}", crowded if i != 4 else NET, {"room": "Hall 1"})}
             for i in range(1, 5)}
    seats["ws-9"] = {"report": seat_report("ws-9", crowded, {"room": "Hall 2"})}
    seats["ws-10"] = {"report": seat_report("ws-10", NET, {"room": "Hall 2"})}
    seats["ws-11"] = {"report": seat_report("ws-11", NET, {"room": "Hall 2"})}
    site = build(gathered(fleet(), seats), fleet(), NOW, now=NOW)
    roots = {f.id: f for f in _roots(site)}
    assert set(roots) == {"site.room:Hall 1", "ws-9/bluetooth.interference:radio"}
    assert roots["site.room:Hall 1"].seats == ["ws-1", "ws-2", "ws-3"]
    assert roots["site.room:Hall 1"].title == "Room Hall 1: Bluetooth congestion on 3 of 4 seats"


def test_a_silent_seat_is_a_finding_with_its_last_report():
    seats = {"ws-1": {"report": seat_report("ws-1", NET, started=NOW - 900), "seen": NOW - 900},
             "ws-2": {"report": seat_report("ws-2", NET)}}
    site = build(gathered(fleet(), seats), fleet(), NOW, now=NOW)
    [root] = _roots(site)
    assert root.id == "site.seat:ws-1" and str(root.status) == "warn"
    assert root.title.startswith("Seat ws-1 is silent for 15 min")
    assert root.evidence["last_report"]["status"] == "ok"
    assert [r.state for r in site.seats] == ["silent", "online"]


def test_a_seat_shut_down_cleanly_is_not_a_cut_cable():
    seats = {"ws-1": {"report": seat_report("ws-1", NET), "state": "offline", "reason": "agent stopped"},
             "ws-2": {"report": seat_report("ws-2", NET)}}
    site = build(gathered(fleet(), seats), fleet(), NOW, now=NOW)
    [root] = _roots(site)
    assert root.title.startswith("Seat ws-1 was shut down") and str(root.status) == "warn"


def test_every_format_renders_a_site_report_and_escapes_seat_strings():
    hostile = "<script>alert(1)</script>"
    doc = seat_report("ws-1", PORT_CLOSED, {"switch": hostile, "room": 'Hall "1"\n'})
    doc["findings"][0]["title"] = hostile
    seats = {"ws-1": {"report": doc}, "ws-2": {"report": seat_report("ws-2", NET)},
             "ws-3": {"report": b"[1, 2]"}}
    site = build(gathered(fleet(), seats), fleet(), NOW, now=NOW)
    d = json.loads(render(site, "json"))
    assert d["schema"] == "diagnose.site/1"
    assert list(d["verdict"]) == ["status", "site_faults", "software_faults", "undetermined", "headline",
                                  "seats_total", "seats_healthy", "seats_offline"]
    assert {s["name"] for s in d["seats"]} == {"ws-1", "ws-2", "ws-3"}
    assert set(d["reports"]) == {"ws-1", "ws-2"}
    assert all("seats" in f for f in d["findings"])
    html = render(site, "html")
    assert hostile not in html and "&lt;script&gt;" in html
    assert 'data-seat="ws-3" data-status="fail" data-state="refused"' in html
    text = render(site, "text")
    assert "Report from ws-3 refused: not a report: a JSON list" in text
    nagios = render(site, "nagios").splitlines()[0]
    assert nagios.startswith("DIAGNOSE CRITICAL - Site Sales office: ") and "seats_total=3;;;0" in nagios
    suite = ET.fromstring(render(site, "junit").split("\n", 1)[1]).find("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("3", "2")
    from prometheus_client.parser import text_string_to_metric_families

    fams = {f.name: f for f in text_string_to_metric_families(render(site, "prometheus"))}
    up = {s.labels["seat"]: s for s in fams["diagnose_seat_up"].samples}
    assert up["ws-1"].labels["switch"] == hostile and up["ws-1"].labels["room"] == 'Hall "1"\n'
    assert {s.labels["state"]: s.value for s in fams["diagnose_site_seats"].samples} == \
           {"total": 3, "healthy": 1, "offline": 0}


def test_site_from_a_directory_of_report_files(tmp_path):
    for i in range(1, 4):
        (tmp_path / f"ws-{i}.json").write_text(json.dumps(seat_report(f"ws-{i}", NET)))
    (tmp_path / "ws-4.json").write_bytes(b"{" + b" " * (2 * 1024 * 1024) + b"}")
    (tmp_path / "notes.txt").write_text("not a report")
    got = run_cli("site", "--reports", str(tmp_path), "--format", "json")
    d = json.loads(got.stdout)
    assert got.returncode == 2
    assert [s["name"] for s in d["seats"]] == ["ws-1", "ws-2", "ws-3", "ws-4"]
    [f] = d["findings"]
    assert f["id"] == "site.report:ws-4" and "2.0 MB is over the limit of 1.0 MB" in f["title"]
    assert d["verdict"]["seats_healthy"] == 3
    got = run_cli("site", "--reports", str(tmp_path / "nope"))
    assert got.returncode == 3 and "not a directory" in got.stderr
    got = run_cli("site", "--reports", str(tmp_path), "--fresh")
    assert got.returncode == 3 and "--reports DIR" in got.stderr
