"""A call-center floor in network namespaces: a core switch with the default
gateway, the broker and the call-center server on it, and two access
switches of four seats each, every seat running the real ``diagnose agent``.

    [brk] 198.51.100.2 (mosquitto) --+
    [srv] 198.51.100.3 (listener)  --+-- [core] br0 198.51.100.1
                         [swA] br0 --+-- upA      (uplink)
                         [swB] br0 --+-- upB      (uplink)
    [ws-1..ws-4] eth0 -- p1..p4 [swA]    [ws-5..ws-8] eth0 -- p1..p4 [swB]

lldpd runs in both switches (system names SW-A and SW-B, one frame a
second) and in every seat (receive only), each with its own control socket,
so the agents learn their switch and port from LLDP as on a real floor.
Everything lives in namespaces named with the pid and a counter; nothing is
configured in the root namespace. Teardown kills what was started, by pid
(children of lldpd's privilege separation too), then deletes the namespaces.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.rigs.mqtt import Mosquitto
from tests.rigs.netns import _LISTENER, sh

NET = "198.51.100"
GW, BROKER, SERVER = f"{NET}.1", f"{NET}.2", f"{NET}.3"
SITE_ID = "sales-office"
_seq = itertools.count()


@dataclass
class Floor:
    tag: str
    folder: Path
    namespaces: list[str] = field(default_factory=list)
    procs: list[subprocess.Popen] = field(default_factory=list)
    agents: dict[str, subprocess.Popen] = field(default_factory=dict)
    broker: Mosquitto | None = None
    port: int = 0
    lldp: bool = False

    def ns(self, role: str) -> str:
        return f"dgf-{self.tag}-{role}"

    def exec(self, role: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return sh("ip", "netns", "exec", self.ns(role), *argv, check=check)

    @property
    def seats(self) -> list[str]:
        return [f"ws-{i}" for i in range(1, 9)]

    @staticmethod
    def switch_of(seat: str) -> str:
        return "A" if int(seat.split("-")[1]) <= 4 else "B"

    # -- building --------------------------------------------------------------
    def _add_ns(self, role: str) -> str:
        name = self.ns(role)
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def build(self) -> None:
        core = self._add_ns("core")
        sh("ip", "-n", core, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", core, "addr", "add", f"{GW}/24", "dev", "br0")
        sh("ip", "-n", core, "link", "set", "br0", "up")
        for role, addr in (("brk", BROKER), ("srv", SERVER)):
            n = self._add_ns(role)
            sh("ip", "-n", n, "link", "add", "eth0", "type", "veth", "peer", "name", f"d{role}", "netns", core)
            sh("ip", "-n", core, "link", "set", f"d{role}", "master", "br0", "up")
            sh("ip", "-n", n, "addr", "add", f"{addr}/24", "dev", "eth0")
            sh("ip", "-n", n, "link", "set", "eth0", "up")
            sh("ip", "-n", n, "route", "add", "default", "via", GW)
        for sw in ("A", "B"):
            n = self._add_ns(f"sw{sw}")
            sh("ip", "-n", n, "link", "add", "br0", "type", "bridge")
            sh("ip", "-n", n, "link", "set", "br0", "up")
            sh("ip", "-n", n, "link", "add", "up0", "type", "veth", "peer", "name", f"up{sw}", "netns", core)
            sh("ip", "-n", n, "link", "set", "up0", "master", "br0", "up")
            sh("ip", "-n", core, "link", "set", f"up{sw}", "master", "br0", "up")
        for i, seat in enumerate(self.seats, 1):
            n = self._add_ns(seat)
            sw = self.ns(f"sw{self.switch_of(seat)}")
            port = f"p{(i - 1) % 4 + 1}"
            sh("ip", "-n", n, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", sw)
            sh("ip", "-n", sw, "link", "set", port, "master", "br0", "up")
            sh("ip", "-n", n, "addr", "add", f"{NET}.{10 + i}/24", "dev", "eth0")
            sh("ip", "-n", n, "link", "set", "eth0", "up")
            sh("ip", "-n", n, "route", "add", "default", "via", GW)
        listener = subprocess.Popen(["ip", "netns", "exec", self.ns("srv"), sys.executable, "-c", _LISTENER,
                                     SERVER], stdout=subprocess.PIPE, text=True)
        self.procs.append(listener)
        self.port = int(listener.stdout.readline())
        self.broker = Mosquitto(folder=self.folder / "broker", host=BROKER, port=1883, netns=self.ns("brk"))
        self.broker.folder.mkdir(parents=True)
        self.broker.start()
        self.lldp = bool(shutil.which("lldpd") and shutil.which("lldpctl"))
        if self.lldp:
            for sw in ("A", "B"):
                conf = self.folder / f"sw{sw}.lldp"
                conf.write_text(f"configure system hostname SW-{sw}\nconfigure lldp tx-interval 1\n")
                self._lldpd(f"sw{sw}", ["-O", str(conf)])
            for seat in self.seats:
                self._lldpd(seat, ["-r", "-O", "/dev/null"])
        for seat in self.seats:
            self.start_agent(seat)

    def _lldpd(self, role: str, extra: list[str]) -> None:
        sock = self.folder / f"{role}.lldp.sock"
        self.procs.append(subprocess.Popen(["ip", "netns", "exec", self.ns(role), "lldpd", "-d", "-u", str(sock),
                                            *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def config(self, seat: str | None = None) -> Path:
        """The seat's config file (or the site report's, for seat None)."""
        lines = ['[site]', 'name = "Sales office"', 'role = "workstation"', '[fleet]',
                 f'broker = "mqtt://{BROKER}:1883"', f'site_id = "{SITE_ID}"', 'interval = "60s"',
                 'keepalive_s = 2', 'room = "Hall 1"']
        if seat:
            lines.append(f'seat = "{seat}"')
            if self.lldp:
                lines.append(f'lldp_socket = "{self.folder / (seat + ".lldp.sock")}"')
            else:  # without lldpd the switch is set by hand, as an installer would
                lines.append(f'switch = "SW-{self.switch_of(seat)}"')
        lines += ['[network]', 'interface = "eth0"', f'server = "{SERVER}"', f'ports = [{self.port}]',
                  'ping_count = 5', 'probe_timeout_s = 1.0',
                  '[headset]', 'enabled = false', '[audio]', 'enabled = false', '[bluetooth]', 'enabled = false']
        path = self.folder / f"{seat or 'site'}.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start_agent(self, seat: str) -> None:
        log = open(self.folder / f"{seat}.log", "ab")
        env = dict(os.environ)
        env.pop("DIAGNOSE_CONFIG", None)
        env["DIAGNOSE_STATE_DIR"] = str(self.folder / f"state-{seat}")  # each seat's own, never the host's
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns(seat), sys.executable, "-m", "diagnose", "agent",
                                 "--config", str(self.config(seat))], stdout=log, stderr=log, env=env,
                                cwd=str(self.folder))
        log.close()
        self.agents[seat] = proc

    # -- looking ---------------------------------------------------------------
    def site(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
        """``diagnose site`` run from the server, as the vendor would."""
        env = dict(os.environ)
        env.pop("DIAGNOSE_CONFIG", None)
        return subprocess.run(["ip", "netns", "exec", self.ns("srv"), sys.executable, "-m", "diagnose", "site",
                               "--config", str(self.config()), *args], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=str(self.folder))

    def site_json(self, *args: str) -> tuple[int, dict]:
        got = self.site("--format", "json", *args)
        assert got.stdout.startswith("{"), got.stderr
        return got.returncode, json.loads(got.stdout)

    def retained(self, leaf: str) -> dict[str, dict]:
        """Seat -> retained JSON payload of ``<seat>/<leaf>``, read with mosquitto_sub."""
        out = self.exec("brk", "mosquitto_sub", "-h", BROKER, "-t", f"diagnose/{SITE_ID}/+/{leaf}", "-v",
                        "--retained-only", "-W", "1", check=False).stdout
        got = {}
        for line in out.splitlines():
            topic, _, payload = line.partition(" ")
            try:
                got[topic.split("/")[2]] = json.loads(payload)
            except ValueError:
                got[topic.split("/")[2]] = {"raw": payload[:100]}
        return got

    def wait_states(self, want: dict[str, str], timeout: float = 30) -> dict[str, dict]:
        end = time.monotonic() + timeout
        while True:
            status = self.retained("status")
            if all((status.get(s) or {}).get("state") == st for s, st in want.items()):
                return status
            if time.monotonic() > end:
                raise AssertionError(f"seats did not reach {want}: {status}\n{self.logs()}")
            time.sleep(0.5)

    def wait_reports(self, seats: list[str], timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while set(seats) - set(self.retained("report")):
            if time.monotonic() > end:
                raise AssertionError(f"no report from {set(seats) - set(self.retained('report'))}\n{self.logs()}")
            time.sleep(0.5)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}"
                         for p in sorted(self.folder.glob("ws-*.log")))

    # -- faults ----------------------------------------------------------------
    def pull_cable(self, seat: str, up: bool = False) -> None:
        i = int(seat.split("-")[1])
        sh("ip", "-n", self.ns(f"sw{self.switch_of(seat)}"), "link", "set", f"p{(i - 1) % 4 + 1}",
           "up" if up else "down")

    def cut_uplink(self, sw: str, up: bool = False) -> None:
        sh("ip", "-n", self.ns("core"), "link", "set", f"up{sw}", "up" if up else "down")

    # -- teardown --------------------------------------------------------------
    def close(self) -> None:
        import psutil

        everything = list(self.agents.values()) + self.procs
        for p in everything:
            try:
                kids = psutil.Process(p.pid).children(recursive=True)
            except psutil.Error:
                kids = []
            for k in [p] + kids:
                try:
                    os.kill(k.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in everything:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
        if self.broker:
            self.broker.stop()
        for ns in reversed(self.namespaces):
            sh("ip", "netns", "delete", ns, check=False)
        self.namespaces.clear()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="module")
def floor():
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("needs root and iproute2 for network namespaces")
    if not shutil.which("mosquitto"):
        pytest.skip("needs Debian mosquitto")
    f = Floor(tag=f"{os.getpid()}-{next(_seq)}", folder=Path(tempfile.mkdtemp(prefix="dg-floor-")))
    # lldpctl is setuid _lldpd: it must be able to reach the sockets in here.
    os.chmod(f.folder, 0o755)
    try:
        f.build()
        yield f
    finally:
        f.close()
