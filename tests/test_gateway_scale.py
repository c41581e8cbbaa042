"""gateway.power at site scale: 250 gateways, 25 of them powered off, in
network namespaces; every one judged right, as root and without
CAP_NET_RAW/CAP_NET_ADMIN (speed is measured in bench/bench_gateway.py)."""

from __future__ import annotations

import pytest

from tests.conftest import needs_root
from tests.rigs.gateway_farm import GatewayFarm

pytestmark = [needs_root, pytest.mark.root]

TOTAL = 250
DEAD = set(range(7, TOTAL, 10))  # 25 gateways spread over the range


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    rig = GatewayFarm(tmp_path_factory.mktemp("farm"), TOTAL, DEAD)
    try:
        yield rig
    finally:
        rig.close()


def misjudged(report: dict) -> list[str]:
    by_name = {f["subject"]: f for f in report["findings"] if f["check"] == "gateway.power"}
    wrong = []
    for i in range(TOTAL):
        f = by_name.get(f"gw{i:04d}")
        if f is None:
            wrong.append(f"gw{i:04d}: no finding")
        elif i in DEAD and not (f["status"] == "fail" and f["fault"] == "site"
                                and "powered off" in f["title"]):
            wrong.append(f"gw{i:04d} (dead): {f['status']} {f['title']}")
        elif i not in DEAD and not (f["status"] == "ok" and "200 OK" in f["title"]):
            wrong.append(f"gw{i:04d} (healthy): {f['status']} {f['title']}")
    return wrong


def test_250_gateways_as_root_none_misjudged(farm):
    report, rc = farm.report()
    assert misjudged(report) == []
    assert rc == 2
    assert report["verdict"]["site_faults"] == len(DEAD)
    ok = next(f for f in report["findings"] if f["subject"] == "gw0000")
    methods = {r["rung"]: r["method"] for r in ok["evidence"]["ladder"]}
    assert methods["arp"] == "packet-socket" and methods["icmp"] == "raw"


def test_250_gateways_unprivileged_none_misjudged(farm):
    farm.allow_ping_socket()
    report, rc = farm.report(unprivileged=True)
    assert misjudged(report) == []
    assert rc == 2
    dead = next(f for f in report["findings"] if f["subject"] == "gw0007")
    methods = {r["rung"]: r["method"] for r in dead["evidence"]["ladder"]}
    assert methods["arp"] is None or methods["arp"] == "neighbour-table"
    assert methods["icmp"] == "dgram"
    # A healthy gateway's ARP rung stops waiting once SIP has answered.
    ok = next(f for f in report["findings"] if f["subject"] == "gw0000")
    arp = next(r for r in ok["evidence"]["ladder"] if r["rung"] == "arp")
    assert arp["result"].startswith(("kernel neighbour entry confirmed", "skipped: SIP answered"))
