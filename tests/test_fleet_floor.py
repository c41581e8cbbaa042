"""Issue 15 acceptance on a real floor: mosquitto in its own namespace, eight
``diagnose agent`` processes behind two switches, ``diagnose site`` run from
the server. The tests share one floor (built once, about ten seconds) and
each puts back what it broke before it ends.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import needs_root
from tests.rigs.fleet import BROKER, SITE_ID, floor  # noqa: F401 - fixture

pytestmark = [needs_root, pytest.mark.root]

ALL = [f"ws-{i}" for i in range(1, 9)]


def _healthy(f) -> dict:
    """Wait until every seat is online with a fresh report; the site report."""
    f.wait_states({s: "online" for s in ALL}, timeout=40)
    code, site = f.site_json("--fresh", "--wait", "30")
    return {"code": code, "site": site}


def test_healthy_floor_is_eight_healthy_seats(floor):
    got = _healthy(floor)
    site = got["site"]
    assert got["code"] == 0, json.dumps(site["findings"], indent=1)[:3000]
    assert site["schema"] == "diagnose.site/1"
    v = site["verdict"]
    assert (v["status"], v["seats_total"], v["seats_healthy"], v["seats_offline"]) == ("ok", 8, 8, 0)
    assert v["headline"] == "Site Sales office: no site faults, no software faults; 8 of 8 seats healthy"
    assert site["findings"] == []
    seats = {s["name"]: s for s in site["seats"]}
    assert sorted(seats) == ALL
    if floor.lldp:  # the switch and port came from LLDP, not from the config
        assert seats["ws-2"]["switch"] == "SW-A" and seats["ws-2"]["port"] == "p2"
        assert seats["ws-7"]["switch"] == "SW-B" and seats["ws-7"]["port"] == "p3"
        assert site["reports"]["ws-7"]["seat"]["located_by"] == "lldp"
    else:
        assert seats["ws-7"]["switch"] == "SW-B"
    assert site["reports"]["ws-3"]["seat"]["subnet"] == "198.51.100.0/24"
    assert all(r["verdict"]["status"] == "ok" for r in site["reports"].values())


def test_one_cable_pulled_is_that_seats_fault_only(floor):
    _healthy(floor)
    floor.pull_cable("ws-3")
    try:
        floor.wait_states({"ws-3": "offline"}, timeout=20)
        code, site = floor.site_json()
        roots = [f for f in site["findings"] if not f["caused_by"]]
        assert [(f["id"], f["fault"], f["seats"]) for f in roots] == [("site.seat:ws-3", "site", ["ws-3"])]
        assert roots[0]["title"].startswith("Seat ws-3 is offline (last seen ")
        assert roots[0]["evidence"]["last_report"]["status"] == "ok"
        v = site["verdict"]
        assert (code, v["site_faults"], v["software_faults"], v["seats_healthy"], v["seats_offline"]) == \
               (2, 1, 0, 7, 1)
        assert v["headline"] == ("Site Sales office: 1 site fault (ws-3: offline), no software faults; "
                                 "7 of 8 seats healthy")
    finally:
        floor.pull_cable("ws-3", up=True)
    floor.wait_states({"ws-3": "online"}, timeout=40)


def test_switch_uplink_cut_is_one_root_cause_naming_four_seats(floor):
    _healthy(floor)
    floor.cut_uplink("B")
    try:
        floor.wait_states({s: "offline" for s in ALL[4:]}, timeout=20)
        code, site = floor.site_json()
        roots = [f for f in site["findings"] if not f["caused_by"]]
        assert len(roots) == 1, [f["id"] for f in roots]
        sw = roots[0]
        assert (sw["id"], sw["fault"], sw["seats"]) == ("site.switch:SW-B", "site", ALL[4:])
        assert sw["title"].startswith("Switch SW-B or its uplink: 4 seats offline since ")
        # The seats' own findings are nested under it, not separate faults.
        assert sorted(sw["consequences"]) == [f"site.seat:{s}" for s in ALL[4:]]
        for s in ALL[4:]:
            seat_f = next(f for f in site["findings"] if f["id"] == f"site.seat:{s}")
            assert seat_f["caused_by"] == ["site.switch:SW-B"] and seat_f["fault"] == "site"
        v = site["verdict"]
        assert (code, v["site_faults"], v["seats_healthy"], v["seats_offline"]) == (2, 1, 4, 4)
        assert v["headline"] == ("Site Sales office: 1 site fault (switch SW-B: 4 seats), no software faults; "
                                 "4 of 8 seats healthy")
        text = floor.site().stdout
        assert "[✗] Switch SW-B or its uplink: 4 seats offline since" in text
        assert "    └─ [✗] Seat ws-5 is offline" in text
        prom = floor.site("--format", "prometheus").stdout
    finally:
        floor.cut_uplink("B", up=True)
    _switch_alerts(prom, floor.folder)
    floor.wait_states({s: "online" for s in ALL}, timeout=40)


def _switch_alerts(prom: str, folder) -> None:
    """The site report's series of the cut uplink, through the shipped rules
    (promtool) and the Alertmanager example (a real Alertmanager): one switch
    alert, and the four seat alerts inhibited by it."""
    from tests.rigs.mqtt import free_port
    from tests.rigs.prom import Alertmanager, promtool_test, samples

    scrape = {"instance": "cc-srv01:9100", "job": "node"}
    series = samples(prom, **scrape)
    up = {lb["seat"]: v for n, lb, v in series if n == "diagnose_seat_up"}
    assert up == {s: (1.0 if s in ALL[:4] else 0.0) for s in ALL}
    switch = dict(scrape, site=SITE_ID, check="site.switch", subject="SW-B", status="fail", fault="site",
                  switch="SW-B", severity="critical")
    seat = [dict(scrape, site=SITE_ID, seat=s, switch="SW-B", room="Hall 1", severity="warning") for s in ALL[4:]]
    exp = {"DiagnoseSwitchDown": [{"exp_labels": switch, "exp_annotations": {
               "summary": f"Site {SITE_ID}: switch SW-B or its uplink is down",
               "description": "Seats on SW-B went offline together; their own alerts are inhibited."}}],
           "DiagnoseSeatOffline": [{"exp_labels": lb, "exp_annotations": {
               "summary": f"Site {SITE_ID}: seat {lb['seat']} is offline",
               "description": "PC off, or its cable or switch port (SW-B) dead."}} for lb in seat],
           "DiagnoseSeatFault": [], "DiagnoseSiteServerFault": []}
    result = promtool_test(folder, [series], exp, eval_time="10m")
    assert result.returncode == 0, result.stdout + result.stderr
    am = Alertmanager(folder, free_port())
    try:
        am.post([{"labels": dict(switch, alertname="DiagnoseSwitchDown")}] +
                [{"labels": dict(lb, alertname="DiagnoseSeatOffline")} for lb in seat])
        deadline = time.monotonic() + 20
        while True:
            states = {a["labels"].get("seat", "switch"): a["status"] for a in am.alerts()}
            if len(states) == 5 and all(states[s]["state"] == "suppressed" for s in ALL[4:]):
                break
            assert time.monotonic() < deadline, states
            time.sleep(0.2)
        assert states["switch"]["state"] == "active"
        assert all(states[s]["inhibitedBy"] for s in ALL[4:])
    finally:
        am.stop()


def test_broker_restart_agents_reconnect_and_the_report_is_complete(floor):
    _healthy(floor)
    floor.broker.restart()  # persistence off: every retained message is gone
    assert floor.retained("report") == {} or True  # may already be refilled by fast agents
    floor.wait_states({s: "online" for s in ALL}, timeout=40)
    floor.wait_reports(ALL, timeout=30)
    code, site = floor.site_json()
    assert code == 0 and site["verdict"]["seats_healthy"] == 8, site["verdict"]
    for s in ALL:
        assert "connected to mqtt://" in (floor.folder / f"{s}.log").read_text()


def test_oversized_and_malformed_reports_are_refused_the_rest_intact(floor):
    _healthy(floor)
    big = floor.folder / "big.json"
    with open(big, "wb") as fh:  # 50 MB that starts like a report
        fh.write(b'{"schema": "diagnose.report/1", "findings": [], "pad": "')
        fh.write(b"x" * (50 * 1024 * 1024))
        fh.write(b'"}')
    pub = ["mosquitto_pub", "-h", BROKER, "-r", "-q", "1"]
    floor.exec("ws-4", *pub, "-t", f"diagnose/{SITE_ID}/ws-4/report", "-f", str(big))
    floor.exec("ws-6", *pub, "-t", f"diagnose/{SITE_ID}/ws-6/report", "-m",
               '{"schema": "diagnose.report/1", "findings": "<script>x</script>"}')
    floor.exec("ws-7", *pub, "-t", f"diagnose/{SITE_ID}/ws-7/report", "-m", "{not json")
    big.unlink()
    try:
        code, site = floor.site_json()
        refused = {f["subject"]: f for f in site["findings"] if f["check"] == "site.report"}
        assert sorted(refused) == ["ws-4", "ws-6", "ws-7"]
        assert "50.0 MB is over the limit of 1.0 MB" in refused["ws-4"]["title"]
        assert "malformed diagnose.report/1" in refused["ws-6"]["title"]
        assert "not JSON" in refused["ws-7"]["title"]
        assert all(f["fault"] == "undetermined" and f["status"] == "fail" for f in refused.values())
        v = site["verdict"]
        assert (code, v["seats_total"], v["seats_healthy"]) == (2, 8, 5)
        assert sorted(site["reports"]) == ["ws-1", "ws-2", "ws-3", "ws-5", "ws-8"]
        html = floor.site("--format", "html").stdout
        assert "<script>x</script>" not in html
    finally:
        _healthy(floor)  # a fresh run makes the three agents publish again
