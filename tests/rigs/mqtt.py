"""A real mosquitto (Debian ``mosquitto``) for the fleet tests: its own
config, password file, ACL and optional TLS in a temporary directory, on
loopback or inside a network namespace the test made, stopped and removed
(by pid) even when a test fails. ``openssl`` makes a throwaway CA and a
server certificate for the TLS listener; ``mosquitto_passwd`` the
password file, exactly as an administrator would.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need_mosquitto() -> None:
    if not shutil.which("mosquitto") or not shutil.which("mosquitto_passwd"):
        pytest.skip("needs Debian mosquitto (apt-get install mosquitto mosquitto-clients)")


def make_ca(folder: Path, host: str) -> dict[str, str]:
    """A CA and a server certificate for *host* (an IP address or a name)."""
    if not shutil.which("openssl"):
        pytest.skip("needs openssl for the TLS listener")
    ca_key, ca, key, csr, crt = (str(folder / n) for n in ("ca.key", "ca.crt", "server.key", "server.csr",
                                                            "server.crt"))
    run = lambda *a: subprocess.run(list(a), check=True, capture_output=True, timeout=60)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=diagnose test CA",
        "-keyout", ca_key, "-out", ca)
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={host}", "-keyout", key, "-out", csr)
    san = folder / "san.cnf"
    kind = "IP" if host.replace(".", "").isdigit() else "DNS"
    san.write_text(f"subjectAltName={kind}:{host}\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "2",
        "-out", crt, "-extfile", str(san))
    return {"ca": ca, "cert": crt, "key": key}


@dataclass
class Mosquitto:
    folder: Path
    host: str = "127.0.0.1"
    port: int = 0
    netns: str | None = None
    users: dict[str, str] = field(default_factory=dict)
    acl: str | None = None
    tls: dict[str, str] | None = None
    extra: str = ""
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    def write_config(self) -> Path:
        lines = [f"listener {self.port} {self.host}", "persistence false", "user root",
                 f"log_dest file {self.folder / 'mosquitto.log'}", "log_type all", "connection_messages true"]
        if self.users:
            pw = self.folder / "passwd"
            pw.write_text("")
            for user, password in self.users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(pw), user, password], check=True,
                               capture_output=True, timeout=30)
            lines += ["allow_anonymous false", f"password_file {pw}"]
        else:
            lines.append("allow_anonymous true")
        if self.acl is not None:
            acl = self.folder / "acl"
            acl.write_text(self.acl)
            lines.append(f"acl_file {acl}")
        if self.tls:
            lines += [f"cafile {self.tls['ca']}", f"certfile {self.tls['cert']}", f"keyfile {self.tls['key']}"]
        conf = self.folder / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n" + self.extra)
        return conf

    def start(self) -> None:
        conf = self.write_config()
        argv = ["mosquitto", "-c", str(conf)]
        if self.netns:
            argv = ["ip", "netns", "exec", self.netns] + argv
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.proc.stderr.read().decode()[-2000:]} "
                                   f"{self.log()[-2000:]}")
            if "mosquitto version" in self.log() and "Opening ipv4 listen socket" in self.log():
                return
            time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start: {self.log()[-2000:]}")

    def log(self) -> str:
        try:
            return (self.folder / "mosquitto.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


def start_broker(folder: Path, **kw) -> Mosquitto:
    need_mosquitto()
    folder.mkdir(parents=True, exist_ok=True)
    b = Mosquitto(folder=folder, **kw)
    if not b.port:
        b.port = free_port()
    b.start()
    return b


@pytest.fixture
def broker_dir():
    d = Path(tempfile.mkdtemp(prefix="dg-mqtt-"))
    brokers: list[Mosquitto] = []
    try:
        yield d, brokers
    finally:
        for b in brokers:
            b.stop()
        shutil.rmtree(d, ignore_errors=True)


def retained(url_host: str, port: int, topic: str, timeout: float = 3, extra: list[str] | None = None) -> list[str]:
    """Lines of ``mosquitto_sub -W`` reading retained messages (topic payload)."""
    argv = ["mosquitto_sub", "-h", url_host, "-p", str(port), "-t", topic, "-v", "--retained-only",
            "-W", str(int(timeout))] + (extra or [])
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 10)
    return out.stdout.splitlines()
