"""A call-center server, a switch and an FXO/VoIP gateway, each in its own
network namespace, for gateway.power tests:

    [srv] eth0 203.0.113.1/24 --- p-srv [sw] br0 [sw] p-gw --- eth0 203.0.113.20/24 [gw]

The gateway namespace runs ``sipp`` (Debian sip-tester) with a UAS scenario
from tests/data/sipp/ answering SIP OPTIONS. The switch sits between so that
"power off" (the gateway's port going down) leaves the server's own carrier
up, as on a real LAN; pulling the server's cable is the switch port p-srv
going down. Every veth end lives in a namespace created here, nothing is
configured in the root namespace, and all traffic stays inside these three
namespaces. Names carry the pid and a counter, so parallel runs on one
machine never collide.

``diagnose`` runs inside the server namespace through
``run_cli(prefix=["ip", "netns", "exec", SRV])``.

Unprivileged runs: the interpreter lives under /root here (pyenv), which
``nobody`` cannot read, so ``setpriv --reuid=nobody`` is out. Instead the CLI
runs as root with CAP_NET_RAW and CAP_NET_ADMIN removed from the capability
bounding set (``setpriv --bounding-set -net_raw,-net_admin``): on exec, uid 0
only gets the capabilities left in the bounding set, so raw and packet
sockets fail with EPERM exactly as for an ordinary user, which is what
gateway.power's fallbacks (kernel neighbour table, ping socket) are about.
A new namespace starts with net.ipv4.ping_group_range = "1 0" (no ping
socket for anyone); ``allow_ping_socket()`` sets what Debian's systemd sets.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli

SRV_ADDR = "203.0.113.1"
GW_ADDR = "203.0.113.20"
SIP_PORT = 5060
SCENARIOS = ROOT / "tests" / "data" / "sipp"
UNPRIVILEGED = ["setpriv", "--bounding-set", "-net_raw,-net_admin",
                "--inh-caps", "-net_raw,-net_admin"]

_seq = itertools.count()


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check, timeout=20)


def _listening(pid: int, proto: str, port: int) -> bool:
    # /proc/<pid>/net/* shows the sockets of that process's network namespace;
    # local_address is "HEXIP:HEXPORT". TCP listeners have state 0A.
    try:
        lines = Path(f"/proc/{pid}/net/{proto}").read_text().splitlines()[1:]
    except OSError:
        return False
    for line in lines:
        f = line.split()
        if f[1].endswith(f":{port:04X}") and (proto == "udp" or f[3] == "0A"):
            return True
    return False


class GatewayRig:
    """Three namespaces and the processes started in them; ``close()``
    stops every process by pid and deletes the namespaces."""

    def __init__(self, workdir: Path) -> None:
        n = f"{os.getpid()}-{next(_seq)}"
        self.srv, self.sw, self.gw = f"dggw-srv-{n}", f"dggw-sw-{n}", f"dggw-gw-{n}"
        self.workdir = workdir
        self.procs: dict[str, subprocess.Popen] = {}
        self.namespaces: list[str] = []
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _build(self) -> None:
        for ns in (self.srv, self.sw, self.gw):
            sh("ip", "netns", "add", ns)
            self.namespaces.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", self.sw, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.sw, "link", "set", "br0", "up")
        for port, ns, addr in (("p-srv", self.srv, SRV_ADDR), ("p-gw", self.gw, GW_ADDR)):
            sh("ip", "-n", self.sw, "link", "add", port, "type", "veth", "peer", "name", "eth0",
               "netns", ns)
            sh("ip", "-n", self.sw, "link", "set", port, "master", "br0", "up")
            sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")

    # -- the gateway ------------------------------------------------------
    def start_sipp(self, scenario: str = "options_200.xml", transport: str = "u1") -> int:
        """sipp as UAS on the gateway's SIP port; returns its pid once it listens.
        ``ip netns exec`` execs sipp in place, so the Popen pid is sipp's."""
        key = f"sipp-{transport}"
        self.stop(key)
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.gw, "sipp", "-sf", str(SCENARIOS / scenario),
             "-i", GW_ADDR, "-p", str(SIP_PORT), "-t", transport, "-nostdin"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.workdir)
        self.procs[key] = proc
        self._wait_listening(proc, "udp" if transport.startswith("u") else "tcp", SIP_PORT)
        return proc.pid

    def start_http(self, port: int = 8080) -> int:
        """A web server standing in for the gateway's admin page."""
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.gw, "python3", "-m", "http.server", "--bind", GW_ADDR,
             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.workdir)
        self.procs["http"] = proc
        self._wait_listening(proc, "tcp", port)
        return proc.pid

    def _wait_listening(self, proc: subprocess.Popen, proto: str, port: int) -> None:
        end = time.monotonic() + 10
        while not _listening(proc.pid, proto, port):
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
            if time.monotonic() > end:
                raise RuntimeError(f"{proc.args} does not listen on {proto}/{port}")
            time.sleep(0.02)

    def stop(self, key: str) -> None:
        proc = self.procs.pop(key, None)
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def power_off(self) -> None:
        """The gateway's link goes down, as when its power is switched off."""
        sh("ip", "-n", self.gw, "link", "set", "eth0", "down")

    def remove_address(self) -> None:
        """The gateway is up and cabled but no longer holds its address."""
        sh("ip", "-n", self.gw, "addr", "del", f"{GW_ADDR}/24", "dev", "eth0")

    # -- the server ----------------------------------------------------------
    def unplug_server(self) -> None:
        """The server's switch port goes down: its own eth0 loses carrier."""
        sh("ip", "-n", self.sw, "link", "set", "p-srv", "down")

    def allow_ping_socket(self) -> None:
        """Let every group open unprivileged ICMP sockets in the server
        namespace, as Debian's systemd does for the root namespace."""
        sh("ip", "netns", "exec", self.srv, "sysctl", "-q", "-w",
           "net.ipv4.ping_group_range=0 2147483647")

    def config(self, **gateway: object) -> Path:
        """A site config with one [[gateway]] table for this rig's gateway."""
        values = {"name": "fxo-office-pbx", "address": GW_ADDR, **gateway}
        lines = ["[site]", 'role = "server"', "", "[[gateway]]"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
        path = self.workdir / f"{self.srv}.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def run(self, *args: str, unprivileged: bool = False, **gateway: object) -> subprocess.CompletedProcess:
        """``diagnose run --only gateway.power`` inside the server namespace."""
        prefix = ["ip", "netns", "exec", self.srv] + (UNPRIVILEGED if unprivileged else [])
        return run_cli("run", "--config", str(self.config(**gateway)), "--only", "gateway.power",
                       *args, prefix=prefix, timeout=60)

    def report(self, unprivileged: bool = False, **gateway: object) -> tuple[dict, int]:
        """The JSON report and exit code of one run."""
        proc = self.run("--format", "json", unprivileged=unprivileged, **gateway)
        try:
            return json.loads(proc.stdout), proc.returncode
        except json.JSONDecodeError:
            raise AssertionError(f"no JSON report (rc {proc.returncode}): {proc.stderr}") from None

    def close(self) -> None:
        for key in list(self.procs):
            self.stop(key)
        for ns in reversed(self.namespaces):
            sh("ip", "netns", "del", ns, check=False)
        self.namespaces.clear()


@pytest.fixture
def gateway_rig(tmp_path):
    """A fresh server/switch/gateway trio per test: a fresh kernel neighbour
    table too, as after a gateway has been off for a while."""
    rig = GatewayRig(tmp_path)
    try:
        yield rig
    finally:
        rig.close()
