"""A workstation, a switch with the default gateway, and a call-center server,
each in its own network namespace, joined by veth pairs: real kernel links,
ARP, routes and TCP for network.connectivity tests.

    [ws]  dgn-ws0 198.51.100.10/24 --- p-ws  [sw] br0 198.51.100.1/24 (gateway)
                                       p-srv [sw] --- dgn-srv0 198.51.100.20/24 [srv]

The switch sits between so that deleting the server namespace (server off)
leaves the workstation's own link up and the gateway answering, as on a
real LAN. Every end of every veth pair lives in a namespace created here;
nothing is configured in the root namespace. Names carry the pid and a
counter so parallel runs on one machine never collide.

``ip netns exec NS`` bind-mounts the files of /etc/netns/NS over /etc, so the
workstation gets its own /etc/hosts (the server's name) and resolv.conf (a
nameserver that refuses at once, so unknown names fail fast).
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import is_root

WS_IF = "dgn-ws0"
SRV_IF = "dgn-srv0"
WS_ADDR = "198.51.100.10"
GW_ADDR = "198.51.100.1"
SRV_ADDR = "198.51.100.20"
SRV_NAME = "cc-srv.dgnet.test"

_seq = itertools.count()

# Listens on port 0 (the kernel picks a free one), says which, and accepts
# until killed: the call-center application's port on the server.
_LISTENER = """
import socket, sys
s = socket.socket()
s.bind((sys.argv[1], 0))
s.listen(16)
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    c.close()
"""


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check, timeout=20)


@dataclass
class NetRig:
    ws: str
    sw: str
    srv: str
    etc_dir: Path
    port: int = 0
    listener: subprocess.Popen | None = None
    namespaces: list[str] = field(default_factory=list)

    @property
    def prefix(self) -> list[str]:
        """Run a command inside the workstation namespace."""
        return ["ip", "netns", "exec", self.ws]

    def exec(self, ns: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return sh("ip", "netns", "exec", ns, *argv, check=check)

    # -- building -----------------------------------------------------------
    def build(self) -> None:
        for ns in (self.ws, self.sw, self.srv):
            sh("ip", "netns", "add", ns)
            self.namespaces.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", self.sw, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.sw, "addr", "add", f"{GW_ADDR}/24", "dev", "br0")
        sh("ip", "-n", self.sw, "link", "set", "br0", "up")
        for ns, ifname, peer, addr in ((self.ws, WS_IF, "p-ws", WS_ADDR), (self.srv, SRV_IF, "p-srv", SRV_ADDR)):
            sh("ip", "-n", ns, "link", "add", ifname, "type", "veth", "peer", "name", peer, "netns", self.sw)
            sh("ip", "-n", self.sw, "link", "set", peer, "master", "br0", "up")
            sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", ifname)
            sh("ip", "-n", ns, "link", "set", ifname, "up")
        sh("ip", "-n", self.ws, "route", "add", "default", "via", GW_ADDR)
        sh("ip", "-n", self.srv, "route", "add", "default", "via", GW_ADDR)
        self.etc_dir.mkdir(parents=True)
        (self.etc_dir / "hosts").write_text(f"127.0.0.1 localhost\n{SRV_ADDR} {SRV_NAME}\n")
        (self.etc_dir / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
        self.start_listener()

    def start_listener(self) -> None:
        self.listener = subprocess.Popen(
            ["ip", "netns", "exec", self.srv, sys.executable, "-c", _LISTENER, SRV_ADDR],
            stdout=subprocess.PIPE, text=True)
        self.port = int(self.listener.stdout.readline())

    # -- faults -------------------------------------------------------------
    def pull_cable(self) -> None:
        """The switch port goes dark: the workstation's end loses carrier."""
        sh("ip", "-n", self.sw, "link", "set", "p-ws", "down")

    def drop_address(self) -> None:
        """As if DHCP never answered: link up, no address (the routes go with it)."""
        sh("ip", "-n", self.ws, "addr", "flush", "dev", WS_IF)

    def stop_listener(self) -> None:
        if self.listener and self.listener.poll() is None:
            os.kill(self.listener.pid, signal.SIGTERM)
            self.listener.wait(timeout=10)
        self.listener = None

    def delete_server(self) -> None:
        """Server switched off: its namespace and its veth pair vanish."""
        self.stop_listener()
        sh("ip", "netns", "delete", self.srv)
        self.namespaces.remove(self.srv)

    def add_loss(self, percent: int) -> str:
        """Lose *percent* of the workstation's packets. tc netem on its egress
        where the kernel has netem; otherwise an nftables rule dropping that
        share of what arrives (kernels built without sch_netem)."""
        got = sh("tc", "-n", self.ws, "qdisc", "add", "dev", WS_IF, "root", "netem", "loss", f"{percent}%",
                 check=False)
        if got.returncode == 0:
            return "netem"
        if not shutil.which("nft"):
            pytest.skip(f"no sch_netem in this kernel ({got.stderr.strip()}) and no nft to drop packets")
        rules = ("table inet dgnet_loss {\n chain input {\n  type filter hook input priority 0;\n"
                 f"  iifname \"{WS_IF}\" numgen random mod 100 < {percent} drop\n }}\n}}\n")
        subprocess.run(["ip", "netns", "exec", self.ws, "nft", "-f", "-"], input=rules, text=True,
                       check=True, capture_output=True, timeout=20)
        return "nftables"

    # -- teardown -----------------------------------------------------------
    def close(self) -> None:
        self.stop_listener()
        for ns in reversed(self.namespaces):
            sh("ip", "netns", "delete", ns, check=False)
        self.namespaces.clear()
        shutil.rmtree(self.etc_dir, ignore_errors=True)
        try:
            self.etc_dir.parent.rmdir()  # /etc/netns, only when nobody else uses it
        except OSError:
            pass


def make_rig() -> NetRig:
    n = f"{os.getpid()}-{next(_seq)}"
    ws = f"dgnet-ws-{n}"
    rig = NetRig(ws=ws, sw=f"dgnet-sw-{n}", srv=f"dgnet-srv-{n}", etc_dir=Path("/etc/netns") / ws)
    try:
        rig.build()
    except BaseException:
        rig.close()
        raise
    return rig


@pytest.fixture
def netrig():
    """A fresh three-namespace LAN, torn down even when the test fails."""
    if not is_root() or not shutil.which("ip"):
        pytest.skip("needs root and iproute2 for network namespaces")
    rig = make_rig()
    try:
        yield rig
    finally:
        rig.close()


def wait_for(pred, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return pred()
