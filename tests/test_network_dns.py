"""Issue 17, class 9, in real network namespaces: a name the DNS server says
does not exist (NXDOMAIN) is told apart from a DNS server that does not
answer or cannot be reached. The workstation's resolv.conf names 127.0.0.1 in
its own namespace; a small responder there answers NXDOMAIN or stays silent,
or nothing listens at all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.conftest import needs_root
from tests.rigs.netns import netrig  # noqa: F401 - fixture
from tests.test_network_rig import by_subject, run

pytestmark = needs_root

# Answers every question with the given rcode (3 = NXDOMAIN), or never
# answers (silent), as a DNS server would (RFC 1035 4.1.1 header).
RESPONDER = r"""
import socket, struct, sys
mode = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(512)
    if mode == "silent":
        continue
    ident, flags = struct.unpack("!HH", data[:4])
    reply = struct.pack("!HHHHHH", ident, 0x8180 | 3, 1, 0, 0, 0) + data[12:]
    s.sendto(reply, peer)
"""


@pytest.fixture
def responder(netrig):
    procs = []

    def start(mode: str) -> None:
        proc = subprocess.Popen(netrig.prefix + [sys.executable, "-c", RESPONDER, mode],
                                stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "ready"

    yield start
    for proc in procs:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def test_a_name_that_does_not_exist_says_the_configured_name_is_wrong(netrig, responder, tmp_path):
    responder("nxdomain")
    rc, report = run(netrig, tmp_path, "name-nxdomain", "The DNS server answers NXDOMAIN for the name.", [
        {"subject": "nosuch.dgnet.test", "status": "fail", "fault": "undetermined",
         "title_contains": "does not exist"}], server="nosuch.dgnet.test")
    f = by_subject(report)["nosuch.dgnet.test"]
    assert rc == 2
    assert f["title"] == ("Server name nosuch.dgnet.test does not exist: the DNS server 127.0.0.1 answers "
                          "that there is no such name")
    assert "[network] server" in f["remedy"]
    assert f["evidence"]["resolvers"][0]["state"] == "nxdomain"


@pytest.mark.parametrize("mode,words", [("silent", "does not answer"), ("none", "is not reachable")])
def test_an_unreachable_dns_server_is_a_site_fault_naming_its_address(netrig, responder, tmp_path, mode, words):
    if mode == "silent":
        responder("silent")
    rc, report = run(netrig, tmp_path, f"dns-{mode}", "The DNS server does not answer.", [
        {"subject": "nosuch.dgnet.test", "status": "fail", "fault": "site", "title_contains": words}],
        server="nosuch.dgnet.test")
    f = by_subject(report)["nosuch.dgnet.test"]
    assert rc == 2
    assert f["title"].startswith(f"DNS server 127.0.0.1 {words}")
    assert "server name nosuch.dgnet.test cannot be looked up" in f["title"]
    assert "ping -c 3 127.0.0.1" in f["remedy"]
