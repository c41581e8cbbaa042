"""gateway.power against a real gateway: sipp in a network namespace behind
a bridge, diagnose run through the CLI in the server's namespace."""

from __future__ import annotations

import json

import pytest

from tests.conftest import needs_root
from tests.rigs.gateway import GW_ADDR, SRV_ADDR, gateway_rig  # noqa: F401 - fixture

pytestmark = [needs_root, pytest.mark.root]


def only_finding(report: dict, subject: str = "fxo-office-pbx") -> dict:
    found = [f for f in report["findings"] if f["subject"] == subject]
    assert len(found) == 1, report["findings"]
    return found[0]


def rung(finding: dict, name: str) -> dict:
    rows = [r for r in finding["evidence"]["ladder"] if r["rung"] == name]
    assert rows, finding["evidence"]["ladder"]
    return rows[0]


def test_healthy_gateway_answers_200(gateway_rig):
    gateway_rig.start_sipp("options_200.xml")
    report, rc = gateway_rig.report()
    f = only_finding(report)
    assert (rc, f["status"], f["fault"]) == (0, "ok", None)
    assert "answers SIP: 200 OK" in f["title"]
    assert f["evidence"]["scope"] == "remote"
    assert rung(f, "arp")["method"] == "packet-socket"
    assert rung(f, "arp")["result"].startswith("who-has answered by ")
    assert rung(f, "icmp")["result"].startswith("3/3 echo replies")
    assert rung(f, "sip/udp")["result"] == "200 OK"
    assert f["evidence"]["source"] == SRV_ADDR


def test_power_off_is_a_site_fault(gateway_rig):
    gateway_rig.start_sipp("options_200.xml")
    gateway_rig.power_off()
    report, rc = gateway_rig.report()
    f = only_finding(report)
    assert (rc, f["status"], f["fault"]) == (2, "fail", "site")
    assert "powered off or disconnected" in f["title"]
    assert rung(f, "arp")["result"] == "no ARP reply"
    assert rung(f, "icmp")["result"] == "0/3 echo replies"
    assert rung(f, "sip/udp")["result"].startswith("no answer to ")
    assert f"ip neigh show {GW_ADDR}" in f["remedy"]
    assert report["verdict"]["site_faults"] == 1


def test_address_removed_looks_like_a_silent_host(gateway_rig):
    gateway_rig.start_sipp("options_200.xml")
    gateway_rig.remove_address()
    report, rc = gateway_rig.report()
    f = only_finding(report)
    assert (rc, f["status"], f["fault"]) == (2, "fail", "site")
    assert "powered off or disconnected" in f["title"]
    assert "still has address" in f["remedy"]


def test_sipp_stopped_means_sip_service_dead(gateway_rig):
    gateway_rig.start_sipp("options_200.xml")
    gateway_rig.stop("sipp-u1")
    gateway_rig.start_http(8080)
    report, rc = gateway_rig.report(http_port=8080)
    f = only_finding(report)
    assert (rc, f["status"], f["fault"]) == (2, "fail", "site")
    assert "up, its SIP service is not answering" in f["title"]
    assert rung(f, "sip/udp")["result"] == "ICMP port unreachable"
    assert rung(f, "http")["result"] == "port open, HEAD / -> 200"
    assert "ARP" in f["detail"] and "HTTP admin port" in f["detail"]


def test_hung_sip_service_is_silent_but_host_answers(gateway_rig):
    gateway_rig.start_sipp("options_silent.xml")
    report, rc = gateway_rig.report()
    f = only_finding(report)
    assert (rc, f["status"], f["fault"]) == (2, "fail", "site")
    assert "up, its SIP service is not answering" in f["title"]
    assert rung(f, "sip/udp")["result"].startswith("no answer")


@pytest.mark.parametrize("scenario,title", [
    ("options_404.xml", "its SIP configuration rejects this server (404 Not Found)"),
    ("options_503.xml", "trunk or service unavailable (503 Service Unavailable)"),
])
def test_gateway_alive_but_refusing(gateway_rig, scenario, title):
    gateway_rig.start_sipp(scenario)
    report, rc = gateway_rig.report()
    f = only_finding(report)
    assert (rc, f["status"], f["fault"]) == (1, "warn", "site")
    assert title in f["title"]
    assert "sipsak -vv -s sip:" in f["remedy"]


def test_sip_over_tcp(gateway_rig):
    gateway_rig.start_sipp("options_200.xml", transport="t1")
    report, rc = gateway_rig.report(sip_transport="tcp")
    f = only_finding(report)
    assert (rc, f["status"]) == (0, "ok")
    assert rung(f, "sip/tcp")["result"] == "200 OK"


def test_both_transports_but_tcp_refused(gateway_rig):
    gateway_rig.start_sipp("options_200.xml")
    report, rc = gateway_rig.report(sip_transport="both")
    f = only_finding(report)
    assert (rc, f["status"], f["fault"]) == (1, "warn", "site")
    assert "answers SIP over UDP but not over TCP" in f["title"]
    assert rung(f, "sip/tcp")["result"] == "TCP connection refused"


def test_own_link_down_is_the_root_cause(gateway_rig):
    gateway_rig.start_sipp("options_200.xml")
    gateway_rig.unplug_server()
    report, rc = gateway_rig.report()
    link = only_finding(report, "link:eth0")
    gw = only_finding(report)
    assert rc == 2
    assert (link["status"], link["fault"], link["caused_by"]) == ("fail", "site", [])
    assert "This server's link eth0 is down" in link["title"]
    assert gw["caused_by"] == ["gateway.power:link:eth0"]
    assert "cannot be judged" in gw["title"]
    assert report["verdict"]["site_faults"] == 1


def test_unprivileged_healthy_says_what_it_could_not_collect(gateway_rig):
    gateway_rig.start_sipp("options_200.xml")
    report, rc = gateway_rig.report(unprivileged=True)
    f = only_finding(report)
    assert (rc, f["status"]) == (0, "ok")
    assert f["evidence"]["privileged"] is False
    assert rung(f, "arp")["method"] == "neighbour-table"
    assert rung(f, "arp")["result"].startswith("kernel neighbour entry confirmed by ")
    assert {m["rung"] for m in f["evidence"]["not_collected"]} == {"arp", "icmp"}
    assert "ping_group_range = 1 0" in f["detail"]


def test_unprivileged_power_off(gateway_rig):
    gateway_rig.start_sipp("options_200.xml")
    gateway_rig.allow_ping_socket()
    gateway_rig.power_off()
    report, rc = gateway_rig.report(unprivileged=True)
    f = only_finding(report)
    assert (rc, f["status"], f["fault"]) == (2, "fail", "site")
    assert "powered off or disconnected" in f["title"]
    assert rung(f, "icmp")["method"] == "dgram"
    assert rung(f, "arp")["result"] == "no ARP reply"


def test_text_report_names_the_gateway_and_the_fix(gateway_rig):
    gateway_rig.power_off()
    proc = gateway_rig.run("--format", "text")
    assert proc.returncode == 2
    assert "Gateway fxo-office-pbx powered off or disconnected" in proc.stdout
    assert "power supply and power LED" in proc.stdout


def test_facts_saved_on_site_judge_the_same_at_the_office(gateway_rig, tmp_path, cli):
    gateway_rig.start_sipp("options_503.xml")
    facts = tmp_path / "site-facts.json"
    on_site = gateway_rig.run("--format", "json", "--save-facts", str(facts))
    # The office has no namespace and no gateway: only the saved facts.
    office = cli("run", "--from-facts", str(facts), "--format", "json")
    assert office.returncode == on_site.returncode == 1
    a, b = json.loads(on_site.stdout)["findings"], json.loads(office.stdout)["findings"]
    assert [(f["id"], f["status"], f["title"]) for f in a] == [(f["id"], f["status"], f["title"]) for f in b]
