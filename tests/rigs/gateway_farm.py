"""Hundreds of FXO/VoIP gateways for gateway.power at site scale:

    [srv] eth0 198.18.0.1/21 --- eth0 [farm] 198.18.1.0 ... (one address per live gateway)

The farm namespace holds the address of every live gateway on one
interface (its kernel answers ARP and ping for each) and one small Python
UDP responder answering SIP OPTIONS with 200 for all of them: bound to the
wildcard address, it reads each request's destination with IP_PKTINFO and
answers from that address, copying Via, From, To, Call-ID and CSeq as a SIP
UAS does (RFC 3261 section 8.2.6). A dead gateway is an address of the
subnet that nobody holds: no ARP, no ping, no SIP, as when it is powered
off. (sipp answers the single-gateway rig; one sipp per gateway would be
hundreds of processes.)

Addresses are from 198.18.0.0/15 (RFC 2544, benchmarking); everything stays
inside the two namespaces created here, whose names carry the pid and a
counter. ``close()`` stops the responder by pid and deletes the namespaces.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import run_cli
from tests.rigs.gateway import UNPRIVILEGED, _listening, sh

SRV_ADDR = "198.18.0.1"
FIRST_GW = ipaddress.IPv4Address("198.18.1.0")
PREFIX = 21

_seq = itertools.count()

RESPONDER = r"""
import socket, struct, sys
IP_PKTINFO = 8
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind(("0.0.0.0", 5060))
print("ready", flush=True)
KEEP = ("via", "v", "from", "f", "to", "t", "call-id", "i", "cseq")
while True:
    data, anc, _fl, src = s.recvmsg(65535, 256)
    dst = None
    for level, kind, cdata in anc:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
            dst = cdata[8:12]  # ipi_addr: where the request was sent
    lines = data.decode("utf-8", "replace").split("\r\n")
    if not lines[0].startswith("OPTIONS "):
        continue
    head = ["SIP/2.0 200 OK"]
    for line in lines[1:]:
        name = line.split(":", 1)[0].strip().lower()
        if name in KEEP:
            head.append(line + (";tag=farm" if name in ("to", "t") and "tag=" not in line else ""))
    head += ["Server: diagnose-gateway-farm", "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS",
             "Content-Length: 0", "", ""]
    out = "\r\n".join(head).encode()
    anc_out = [(socket.IPPROTO_IP, IP_PKTINFO, struct.pack("=I4s4s", 0, dst, b"\0" * 4))] if dst else []
    try:
        s.sendmsg([out], anc_out, 0, src)
    except OSError:
        pass
"""


def gateway_address(i: int) -> str:
    return str(FIRST_GW + i)


class GatewayFarm:
    """*total* gateways; those whose index is in *dead* hold no address."""

    def __init__(self, workdir: Path, total: int, dead: set[int]) -> None:
        n = f"{os.getpid()}-{next(_seq)}"
        self.srv, self.farm = f"dgfarm-srv-{n}", f"dgfarm-gw-{n}"
        self.workdir, self.total, self.dead = workdir, total, set(dead)
        self.namespaces: list[str] = []
        self.responder: subprocess.Popen | None = None
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _build(self) -> None:
        for ns in (self.srv, self.farm):
            sh("ip", "netns", "add", ns)
            self.namespaces.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", self.srv, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
           "netns", self.farm)
        sh("ip", "-n", self.srv, "addr", "add", f"{SRV_ADDR}/{PREFIX}", "dev", "eth0")
        batch = "".join(f"addr add {gateway_address(i)}/{PREFIX} dev eth0\n"
                        for i in range(self.total) if i not in self.dead)
        subprocess.run(["ip", "-n", self.farm, "-batch", "-"], input=batch, text=True, check=True,
                       capture_output=True, timeout=60)
        for ns in (self.srv, self.farm):
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
        self.responder = subprocess.Popen(
            ["ip", "netns", "exec", self.farm, sys.executable, "-c", RESPONDER],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.responder.stdout.readline()
        end = time.monotonic() + 10
        while not _listening(self.responder.pid, "udp", 5060):
            if time.monotonic() > end or self.responder.poll() is not None:
                raise RuntimeError("the SIP responder does not listen")
            time.sleep(0.02)

    def allow_ping_socket(self) -> None:
        sh("ip", "netns", "exec", self.srv, "sysctl", "-q", "-w", "net.ipv4.ping_group_range=0 2147483647")

    def config(self, step_timeout_s: float = 1.0) -> Path:
        lines = ["[site]", 'role = "server"', ""]
        for i in range(self.total):
            lines += ["[[gateway]]", f'name = "gw{i:04d}"', f'address = "{gateway_address(i)}"',
                      f"step_timeout_s = {json.dumps(step_timeout_s)}", ""]
        path = self.workdir / f"{self.srv}.toml"
        path.write_text("\n".join(lines))
        return path

    def command(self, unprivileged: bool = False) -> list[str]:
        """The prefix that runs a command in the server namespace."""
        return ["ip", "netns", "exec", self.srv] + (UNPRIVILEGED if unprivileged else [])

    def report(self, unprivileged: bool = False) -> tuple[dict, int]:
        proc = run_cli("run", "--config", str(self.config()), "--only", "gateway.power", "--format", "json",
                       prefix=self.command(unprivileged), timeout=120)
        try:
            return json.loads(proc.stdout), proc.returncode
        except json.JSONDecodeError:
            raise AssertionError(f"no JSON report (rc {proc.returncode}): {proc.stderr}") from None

    def close(self) -> None:
        if self.responder is not None and self.responder.poll() is None:
            os.kill(self.responder.pid, signal.SIGTERM)
            self.responder.wait(timeout=10)
        self.responder = None
        for ns in reversed(self.namespaces):
            sh("ip", "netns", "del", ns, check=False)
        self.namespaces.clear()
