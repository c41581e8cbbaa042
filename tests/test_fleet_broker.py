"""The broker side with a stock Debian mosquitto on loopback: TLS with a CA
file, a password per seat, the ACL lines ``diagnose agent install`` prints,
and a site broker bridged to a central one. Agents are the real
``diagnose agent`` processes; every wait is bounded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.rigs.mqtt import broker_dir, make_ca, retained, start_broker  # noqa: F401 - fixture

SITE = "sales-office"
PASSWORDS = {"ws-1": "pw-one", "ws-2": "pw-two", "diagnose-site": "pw-site"}


def write_config(folder: Path, name: str, broker: str, ca: str = "", user: str = "", seat: str = "") -> Path:
    lines = ["[site]", 'name = "Sales office"', 'role = "workstation"', "[fleet]", f'broker = "{broker}"',
             'interval = "60s"', "keepalive_s = 2"]
    if seat:
        lines.append(f'seat = "{seat}"')
    if user:
        lines += [f'user = "{user}"', 'password_env = "DIAGNOSE_MQTT_PASSWORD"']
    if ca:
        lines.append(f'ca_file = "{ca}"')
    for sect in ("network", "headset", "audio", "bluetooth"):
        lines += [f"[{sect}]", "enabled = false"]
    path = folder / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


class Agent:
    def __init__(self, config: Path, password: str | None, log: Path) -> None:
        env = dict(os.environ)
        env.pop("DIAGNOSE_CONFIG", None)
        if password is not None:
            env["DIAGNOSE_MQTT_PASSWORD"] = password
        self.log = log
        with open(log, "wb") as fh:
            self.proc = subprocess.Popen([sys.executable, "-m", "diagnose", "agent", "--config", str(config)],
                                         stdout=fh, stderr=fh, env=env, cwd=str(config.parent))

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


@pytest.fixture
def agents():
    started: list[Agent] = []
    yield started
    for a in started:
        a.stop()


def wait_for(pred, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.2)
    return pred()


def _acl_from_install(root: Path, config: Path) -> tuple[str, list[str], list[str]]:
    """``diagnose agent install`` into a scratch root: the unit it wrote, the
    seat's ACL lines it printed and the site reader's (uncommented)."""
    got = run_cli("agent", "install", "--root", str(root), "--config", str(config),
                  env={"DIAGNOSE_MQTT_PASSWORD": "x"})
    assert got.returncode == 0, got.stderr
    unit = (root / "etc/systemd/system/diagnose-agent.service").read_text()
    seat = [ln for ln in got.stdout.splitlines() if ln.startswith(("user ", "topic "))]
    lines = got.stdout.splitlines()
    i = lines.index("# user diagnose-site")
    site = [ln[2:] for ln in lines[i:i + 3]]
    return unit, seat, site


def test_install_writes_the_unit_and_acl_lines(broker_dir, tmp_path):
    config = write_config(tmp_path, "ws-1", "mqtts://127.0.0.1:8883", ca="/etc/diagnose/ca.crt", user="ws-1",
                          seat="ws-1")
    unit, seat, site = _acl_from_install(tmp_path / "root", config)
    assert "ExecStart=" in unit and f"agent --config {config}" in unit
    assert "EnvironmentFile=-/etc/diagnose/agent.env" in unit and "Restart=always" in unit
    assert seat == ["user ws-1", f"topic write diagnose/{SITE}/ws-1/#", f"topic read diagnose/{SITE}/cmd/run"]
    assert site == ["user diagnose-site", f"topic read diagnose/{SITE}/#", f"topic write diagnose/{SITE}/cmd/run"]
    got = run_cli("agent", "remove", "--root", str(tmp_path / "root"))
    assert got.returncode == 0 and "removed" in got.stdout
    assert not (tmp_path / "root/etc/systemd/system/diagnose-agent.service").exists()


def test_tls_password_and_acl(broker_dir, tmp_path, agents):
    folder, brokers = broker_dir
    tls = make_ca(folder, "127.0.0.1")
    seat_cfg = {s: write_config(tmp_path, s, "mqtts://127.0.0.1:1", ca=tls["ca"], user=s, seat=s)
                for s in ("ws-1", "ws-2")}
    acl: list[str] = []
    for seat_name, cfg in seat_cfg.items():
        _, seat_lines, site_lines = _acl_from_install(tmp_path / f"root-{seat_name}", cfg)
        acl += seat_lines
    acl = "\n".join(acl + site_lines) + "\n"
    b = start_broker(folder / "tls", users=PASSWORDS, acl=acl, tls=tls)
    brokers.append(b)
    for s in ("ws-1", "ws-2"):
        seat_cfg[s] = write_config(tmp_path, s, b.url, ca=tls["ca"], user=s, seat=s)
        agents.append(Agent(seat_cfg[s], PASSWORDS[s], tmp_path / f"{s}.log"))
    site_cfg = write_config(tmp_path, "site", b.url, ca=tls["ca"], user="diagnose-site")

    def site(password: str, *args: str) -> subprocess.CompletedProcess:
        return run_cli("site", "--config", str(site_cfg), "--format", "json", *args,
                       env={"DIAGNOSE_MQTT_PASSWORD": password})

    def both_reported() -> bool:
        got = site(PASSWORDS["diagnose-site"])
        return got.stdout.startswith("{") and len(json.loads(got.stdout)["reports"]) == 2

    assert wait_for(both_reported, 40), (tmp_path / "ws-1.log").read_text() + b.log()[-2000:]
    got = site(PASSWORDS["diagnose-site"])
    site_doc = json.loads(got.stdout)
    assert got.returncode == 0 and site_doc["verdict"]["seats_healthy"] == 2

    # A wrong password: refused, one clear finding, exit 3 (the run could not be done).
    got = site("wrong")
    doc = json.loads(got.stdout)
    assert got.returncode == 3
    [f] = doc["findings"]
    assert f["id"] == f"site.broker:{b.url}" and f["status"] == "error"
    assert "refused the login" in f["title"] and "password" in f["remedy"]
    assert "wrong" not in got.stdout and PASSWORDS["diagnose-site"] not in got.stdout

    # A CA that did not sign the broker's certificate: a TLS finding, not a traceback.
    (tmp_path / "other").mkdir()
    other = make_ca(tmp_path / "other", "127.0.0.1")
    bad_ca = write_config(tmp_path, "badca", b.url, ca=other["ca"], user="diagnose-site")
    got = run_cli("site", "--config", str(bad_ca), "--format", "json",
                  env={"DIAGNOSE_MQTT_PASSWORD": PASSWORDS["diagnose-site"]})
    [f] = json.loads(got.stdout)["findings"]
    assert got.returncode == 3 and f["evidence"]["kind"] == "tls"
    assert "certificate" in f["title"] and "ca_file" in f["remedy"]

    # The ACL: ws-2 may write its own topics but not ws-1's.
    pub = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(b.port), "--cafile", tls["ca"], "-u", "ws-2",
           "-P", PASSWORDS["ws-2"], "-r", "-q", "1", "-m", '{"schema": "forged"}']
    subprocess.run(pub + ["-t", f"diagnose/{SITE}/ws-1/report"], check=True, capture_output=True, timeout=20)
    subprocess.run(pub + ["-t", f"diagnose/{SITE}/ws-2/report"], check=True, capture_output=True, timeout=20)
    doc = json.loads(site(PASSWORDS["diagnose-site"]).stdout)
    assert doc["reports"]["ws-1"]["schema"] == "diagnose.report/1"  # untouched
    refused = [f for f in doc["findings"] if f["check"] == "site.report"]
    assert [f["subject"] for f in refused] == ["ws-2"]  # its own topic: written, then refused as malformed
    assert "Denied PUBLISH from ws-2" in b.log() or "denied" in b.log().lower()


def test_bridge_site_broker_to_central(broker_dir, tmp_path, agents):
    folder, brokers = broker_dir
    central = start_broker(folder / "central")
    brokers.append(central)
    # The bridge as docs/fleet.md gives it (TLS and login left out on loopback).
    bridge = (f"connection central\naddress 127.0.0.1:{central.port}\n"
              f"topic diagnose/{SITE}/# out 1\ntopic diagnose/{SITE}/cmd/# in 1\n"
              "cleansession true\nrestart_timeout 1\n")
    docs = (Path(__file__).resolve().parent.parent / "docs" / "fleet.md").read_text()
    assert "topic diagnose/SITE_ID/# out 1" in docs and "topic diagnose/SITE_ID/cmd/# in 1" in docs
    site_broker = start_broker(folder / "site", extra=bridge)
    brokers.append(site_broker)
    wait_for(lambda: "Connecting bridge central" in site_broker.log(), 10)
    cfg = write_config(tmp_path, "ws-1", site_broker.url, seat="ws-1")
    agents.append(Agent(cfg, None, tmp_path / "ws-1.log"))
    assert wait_for(lambda: any("ws-1/report" in line for line in
                                retained("127.0.0.1", central.port, f"diagnose/{SITE}/#", timeout=1)), 30), \
        site_broker.log()[-2000:]
    central_cfg = write_config(tmp_path, "central", central.url)
    got = run_cli("site", "--config", str(central_cfg), "--format", "json")
    doc = json.loads(got.stdout)
    assert got.returncode == 0 and [s["name"] for s in doc["seats"]] == ["ws-1"]
    first = doc["reports"]["ws-1"]["started"]
    # A run requested at the central broker crosses the bridge the other way.
    time.sleep(1.1)  # report times have one-second resolution
    got = run_cli("site", "--config", str(central_cfg), "--format", "json", "--fresh", "--wait", "20")
    doc = json.loads(got.stdout)
    assert doc["reports"]["ws-1"]["started"] > first, doc["reports"]["ws-1"]["started"]
