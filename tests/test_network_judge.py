"""network.connectivity's judge on facts recorded from the namespace rig
(tests/data/network.connectivity), and on those facts with one thing
changed to reach a case the rig does not stage (a stale ARP entry, ICMP
filtered by the server, a half-duplex link, other thresholds)."""

from __future__ import annotations

import copy
import json

import pytest

from diagnose.checks.network.check import NetworkConnectivity
from diagnose.check import section_config
from diagnose.model import Fault, Status
from tests.conftest import DATA

CHECK = NetworkConnectivity()
SCENARIOS = sorted((DATA / CHECK.name).glob("*.json"))


def load(name: str) -> dict:
    return json.loads((DATA / CHECK.name / f"{name}.json").read_text())


def judge(scenario: dict, **overrides):
    cfg = section_config(CHECK, {**scenario["config"], **overrides})
    return {f.subject: f for f in CHECK.judge(copy.deepcopy(scenario["facts"]), cfg)}


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_recorded_scenario_meets_its_expectations(path):
    scenario = json.loads(path.read_text())
    found = judge(scenario)
    for e in scenario["expect"]:
        f = found[e["subject"]]
        assert str(f.status) == e["status"], f
        assert (f.fault.value if f.fault else None) == e.get("fault"), f
        assert e.get("title_contains", "").lower() in f.title.lower()
    for f in found.values():
        assert f.evidence["scope"] in ("local", "remote"), f
        for cid in f.caused_by:
            cause = next(x for x in found.values() if x.id == cid)
            assert cause.fault == f.fault, "a consequence carries its root cause's fault domain"


def test_loss_threshold_is_configurable():
    scenario = load("loss-30")
    assert judge(scenario)[scenario["facts"]["gateway"]].status is Status.FAIL
    relaxed = judge(scenario, loss_percent=90)
    assert all(f.status is not Status.FAIL or "too poor" not in f.title for f in relaxed.values())


@pytest.mark.parametrize("key,word", [("rtt_ms", "RTT"), ("jitter_ms", "jitter")])
def test_rtt_and_jitter_limits(key, word):
    scenario = load("healthy")
    server = scenario["config"]["server"]
    f = judge(scenario, **{key: 0})[server]
    assert f.status is Status.FAIL and f.fault is Fault.SITE
    assert "too poor for voice" in f.title and word in f.title
    assert "ping -c 100" in f.remedy


def test_half_duplex_link_is_named_in_the_quality_remedy():
    scenario = load("loss-30")
    iface = scenario["facts"]["interface"]["names"][0]
    scenario["facts"]["interfaces"][iface]["duplex"] = "half"
    f = judge(scenario)[scenario["facts"]["gateway"]]
    assert "half duplex" in f.remedy


def test_gateway_with_only_a_stale_arp_entry_does_not_answer():
    scenario = load("server-gone")
    facts = scenario["facts"]
    gw = facts["gateway"]
    facts["neighbours"][gw]["state"] = "delay"
    facts["ping"]["gateway"].update(received=0, rtt_ms=[], loss_percent=100.0, avg_ms=None, max_ms=None,
                                    jitter_ms=None)
    found = judge(scenario)
    assert found[gw].status is Status.FAIL and found[gw].fault is Fault.SITE
    assert found[gw].title == f"Default gateway {gw} does not answer"
    server = found[scenario["config"]["server"]]
    assert server.caused_by == [found[gw].id]
    assert server.fault is Fault.SITE


def test_gateway_silent_without_arp_answer():
    scenario = load("server-gone")
    facts = scenario["facts"]
    gw = facts["gateway"]
    facts["neighbours"][gw] = {"state": "failed", "lladdr": None, "dev": "dgn-ws0"}
    facts["ping"]["gateway"].update(received=0, rtt_ms=[], loss_percent=100.0, avg_ms=None, jitter_ms=None)
    f = judge(scenario)[gw]
    assert "does not answer ARP" in f.title and f.fault is Fault.SITE
    assert f"ip neigh show {gw}" in f.remedy


def test_server_filtering_icmp_but_answering_tcp_is_ok():
    scenario = load("healthy")
    facts = scenario["facts"]
    facts["ping"]["server"].update(received=0, rtt_ms=[], loss_percent=100.0, avg_ms=None, jitter_ms=None)
    f = judge(scenario)[scenario["config"]["server"]]
    assert f.status is Status.OK
    assert "ICMP filtered" in f.title


def test_port_silent_while_server_answers_is_filtered():
    scenario = load("healthy")
    facts = scenario["facts"]
    facts["ports"][0].update(state="timeout", error="no answer within 1.0s")
    port = f"{scenario['config']['server']}:{facts['ports'][0]['port']}"
    f = judge(scenario)[port]
    assert f.status is Status.FAIL and f.fault is Fault.UNDETERMINED
    assert "filtered" in f.title and f.caused_by == []


def test_no_default_route_with_an_address():
    scenario = load("healthy")
    facts = scenario["facts"]
    facts["default_routes"] = []
    facts["route_to_server"] = {"error": "Network is unreachable"}
    iface = facts["interface"]["names"][0]
    f = judge(scenario)[iface]
    assert f.status is Status.FAIL and f.fault is Fault.SITE
    assert "No default route" in f.title
    without_server = judge(scenario, server="", ports=[])
    assert without_server[iface].status is Status.WARN


def test_unplugged_wifi_is_named_wifi():
    scenario = load("cable-pulled")
    iface = scenario["facts"]["interface"]["names"][0]
    scenario["facts"]["interfaces"][iface]["wireless"] = True
    f = judge(scenario)[iface]
    assert f.title.startswith("Wi-Fi") and "nmcli device wifi" in f.remedy


def test_no_interface_at_all():
    scenario = load("no-address")
    facts = scenario["facts"]
    facts["interface"]["names"] = []
    facts["interfaces"] = {k: v for k, v in facts["interfaces"].items() if v["loopback"]}
    found = judge(scenario)
    assert found["network"].status is Status.FAIL and found["network"].fault is Fault.SITE
    server = found[scenario["config"]["server"]]
    assert server.caused_by == [found["network"].id]


def test_server_that_is_the_gateway_gets_one_finding():
    scenario = load("healthy")
    facts = scenario["facts"]
    facts["server"]["address"] = facts["gateway"]
    found = CHECK.judge(copy.deepcopy(facts), section_config(CHECK, scenario["config"]))
    assert [f.subject for f in found].count(facts["gateway"]) == 0
    assert len({f.id for f in found}) == len(found)
    assert {f.subject for f in found} >= {scenario["config"]["server"]}


def test_without_an_icmp_socket_nothing_is_blamed():
    """An unprivileged user whose group may not open ping sockets sends no
    echo at all: with no port to try either, the server is not tested."""
    scenario = load("healthy")
    facts = scenario["facts"]
    no_socket = {"mode": None, "error": "no ICMP socket: Permission denied", "sent": 0, "received": 0,
                 "loss_percent": None, "rtt_ms": [], "avg_ms": None, "max_ms": None, "jitter_ms": None,
                 "unreachable": 0}
    facts["ping"] = {"gateway": dict(no_socket, address=facts["gateway"]),
                     "server": dict(no_socket, address=facts["server"]["address"])}
    facts["ports"] = []
    found = judge(scenario, ports=[])
    server = found[scenario["config"]["server"]]
    assert server.status is Status.SKIP and "ping_group_range" in server.detail
    # The report says what it could not collect, in the finding and so in the headline.
    assert server.evidence["not_collected"] == [{
        "what": f"ICMP echo to {facts['server']['address']} not permitted",
        "why": "no ICMP socket: Permission denied"}]
    assert found[facts["gateway"]].evidence["not_collected"][0]["what"].startswith("ICMP echo to ")
    # The ARP entry the kernel still holds proves the gateway answered.
    assert found[facts["gateway"]].status is Status.OK
    assert "no ICMP echo sent" in found[facts["gateway"]].title
    del facts["neighbours"][facts["gateway"]]
    assert judge(scenario, ports=[])[facts["gateway"]].status is Status.SKIP


def test_silent_server_behind_a_lossy_gateway_is_its_own_finding():
    scenario = load("server-gone")
    facts = scenario["facts"]
    facts["ping"]["gateway"].update(received=12, loss_percent=40.0)
    found = judge(scenario)
    gw, server = found[facts["gateway"]], found[scenario["config"]["server"]]
    assert "too poor for voice" in gw.title
    assert server.caused_by == [] and server.fault is Fault.UNDETERMINED
    assert "while the gateway" in server.title
