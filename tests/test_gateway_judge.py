"""gateway.power's judge from facts recorded on the rig, and its SIP client
on loopback (real sockets, no namespace needed)."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from diagnose.checks.gateway import sip
from diagnose.checks.gateway.check import GatewayPower
from diagnose.attribution import attribute
from diagnose.check import section_config
from diagnose.host import Host
from diagnose.model import Finding, Status
from tests.conftest import load_scenarios

CHECK = GatewayPower()
SCENARIOS = load_scenarios("gateway.power")


def judged(name: str) -> list[Finding]:
    scenario = dict(SCENARIOS)[name]
    return CHECK.judge(json.loads(json.dumps(scenario["facts"])),
                       section_config(CHECK, scenario["config"]))


@pytest.mark.parametrize("name", [n for n, _ in SCENARIOS])
def test_every_finding_is_scoped_and_lists_the_ladder(name):
    for f in judged(name):
        if f.subject.startswith("link:"):
            assert f.evidence["scope"] == "local"
            continue
        assert f.evidence["scope"] == "remote"
        if f.status is not Status.ERROR:
            rows = f.evidence["ladder"]
            assert [r["rung"] for r in rows][:2] == ["arp", "icmp"]
            assert all("result" in r and "time_ms" in r for r in rows)


def test_unprivileged_run_names_the_evidence_it_lacks():
    f, = judged("unprivileged_healthy")
    assert f.status is Status.OK
    assert "Not collected without root: ICMP echo could not be sent" in f.detail
    assert "no fresh ARP request" in f.detail


def test_a_gateway_behind_a_router_skips_arp_and_says_so():
    f, = judged("routed_unprivileged_silent")
    assert f.evidence["ladder"][0]["result"] == ("skipped: not on a directly connected subnet: "
                                                 "routed via 203.0.113.254")
    assert "Run diagnose as root" in f.remedy


def test_options_not_implemented_still_proves_the_gateway_alive():
    scenario = json.loads(json.dumps(dict(SCENARIOS)["rejects_404"]))
    scenario["facts"]["gateways"][0]["rungs"]["sip_udp"]["response"].update(
        code=501, reason="Not Implemented")
    f, = CHECK.judge(scenario["facts"], section_config(CHECK, scenario["config"]))
    assert f.status is Status.OK
    assert "does not support OPTIONS" in f.title


def test_local_link_down_found_elsewhere_makes_the_gateway_a_consequence():
    gw, = judged("power_off")
    link = Finding("network.connectivity", "eth0", Status.FAIL, "Cable unplugged on eth0", "site",
                   "no carrier", {"scope": "local"}, "plug the cable")
    out = attribute([gw, link])
    assert out[0].id == "network.connectivity:eth0"
    assert gw.caused_by == ["network.connectivity:eth0"]


def test_several_gateways_behind_one_down_link():
    a = dict(SCENARIOS)["healthy"]["facts"]["gateways"][0]
    b = dict(SCENARIOS)["own_link_down"]["facts"]["gateways"][0]
    c = json.loads(json.dumps(b))
    c["name"] = "fxo-second"
    found = CHECK.judge({"gateways": [a, b, c]}, section_config(CHECK, {"items": []}))
    ids = [f.id for f in found]
    # One finding about the server's link, shared by both gateways behind it.
    assert ids.count("gateway.power:link:eth0") == 1
    assert {"gateway.power:fxo-office-pbx", "gateway.power:fxo-second"} <= set(ids)


# -- the SIP client ----------------------------------------------------------------

def test_options_request_is_rfc3261_shaped():
    msg = sip.build_options("192.0.2.20", 5060, "udp", "192.0.2.1", 40000,
                            branch="abc", tag="t1", call_id="cid").decode()
    head, _, body = msg.partition("\r\n\r\n")
    lines = head.split("\r\n")
    assert lines[0] == "OPTIONS sip:192.0.2.20 SIP/2.0"
    hdr = dict(line.split(": ", 1) for line in lines[1:])
    assert hdr["Via"] == "SIP/2.0/UDP 192.0.2.1:40000;branch=z9hG4bKabc;rport"
    assert hdr["Max-Forwards"] == "70"
    assert hdr["From"].endswith(";tag=t1")
    assert hdr["To"] == "<sip:192.0.2.20>"
    assert hdr["Call-ID"].startswith("cid@")
    assert hdr["CSeq"] == "1 OPTIONS"
    assert hdr["Accept"] == "application/sdp"
    assert hdr["Content-Length"] == "0" and body == ""


def test_compact_headers_are_understood():
    resp = sip.parse_response(b"SIP/2.0 200 OK\r\nv: SIP/2.0/UDP x;branch=z9hG4bKq\r\ni: abc@h\r\n"
                              b"Server: gw\r\n\r\n")
    assert (resp["code"], resp["call_id"], resp["server"]) == (200, "abc@h", "gw")
    assert sip.parse_response(b"HTTP/1.1 200 OK\r\n\r\n") is None


@pytest.fixture
def loopback_uas():
    """A UDP SIP responder on 127.0.0.1 that echoes Via/Call-ID/CSeq in a 200."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                data, src = sock.recvfrom(65535)
            except socket.timeout:
                continue
            hdrs = [line for line in data.decode().split("\r\n")
                    if line.split(":")[0] in ("Via", "From", "To", "Call-ID", "CSeq")]
            sock.sendto(("SIP/2.0 200 OK\r\n" + "\r\n".join(hdrs) +
                         "\r\nContent-Length: 0\r\n\r\n").encode(), src)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield sock.getsockname()[1]
    stop.set()
    t.join()
    sock.close()


def test_udp_options_gets_its_200(loopback_uas):
    out = sip.options_udp(Host(), "127.0.0.1", loopback_uas, time.monotonic() + 1.0)
    assert out["state"] == "answered"
    assert out["response"]["code"] == 200


def test_closed_udp_port_is_seen_through_ip_recverr():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: the kernel answers port unreachable
    out = sip.options_udp(Host(), "127.0.0.1", port, time.monotonic() + 1.0)
    assert out["state"] == "refused"
    assert out["icmp"]["meaning"] == "port unreachable"
    assert out["icmp"]["errno"] == "ECONNREFUSED"
    assert out["sent"] == 1  # ended by the ICMP error, before any retransmission
