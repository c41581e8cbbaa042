"""The seat agent's own behaviour against a real mosquitto on loopback (the
audit itself replaced by a counter, so each test takes seconds): run
requests, newest-report-only while the broker is away, backoff; and the
location parsers on recorded lldpctl and procfs output."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from diagnose.fleet import agent as agent_mod
from diagnose.fleet import location, mqtt
from diagnose.fleet.settings import FleetError, parse_broker, parse_interval
from tests.rigs.mqtt import broker_dir, retained, start_broker  # noqa: F401 - fixture
from tests.rigs.seats import fleet as make_fleet

DATA = Path(__file__).resolve().parent / "data" / "fleet"


def _agent(url: str, interval: str = "1h"):
    f = make_fleet(seat="ws-1", interval=interval, keepalive_s=2)
    f = type(f)(**{**f.__dict__, "broker": parse_broker(url)})
    runs: list[int] = []

    def audit() -> bytes:
        runs.append(len(runs) + 1)
        return json.dumps({"run": len(runs)}).encode()

    a = agent_mod.Agent(f, mqtt.Credentials("", None), audit)
    t = threading.Thread(target=a.serve, daemon=True)
    t.start()
    return a, t, runs, f


def _wait(pred, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def test_a_run_request_only_triggers_the_audit(broker_dir, tmp_path):
    folder, brokers = broker_dir
    b = start_broker(folder / "b")
    brokers.append(b)
    a, t, runs, f = _agent(b.url)
    try:
        assert _wait(lambda: a.link.connected.is_set() and runs == [1])
        target = tmp_path / "pwned"
        import subprocess

        for payload in (f"touch {target}", str(target), '{"cmd": "rm -rf /"}'):
            subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(b.port), "-t", f.cmd_topic, "-m", payload],
                           check=True, timeout=10)
        assert _wait(lambda: len(runs) >= 2)
        time.sleep(agent_mod.MIN_GAP_S + 0.5)
        assert len(runs) in (2, 3)  # three requests in a burst fold into one or two runs
        assert not target.exists()
        got = retained("127.0.0.1", b.port, f.topic("ws-1", "report"), timeout=1)
        assert json.loads(got[0].split(" ", 1)[1]) == {"run": len(runs)}
        status = retained("127.0.0.1", b.port, f.topic("ws-1", "status"), timeout=1)
        assert json.loads(status[0].split(" ", 1)[1])["state"] == "online"
    finally:
        a.stop()
        t.join(10)
    # A clean stop says so, with the time; the will is for a seat that vanishes.
    status = json.loads(retained("127.0.0.1", b.port, f.topic("ws-1", "status"), timeout=1)[0].split(" ", 1)[1])
    assert status["state"] == "offline" and status["reason"] == "agent stopped" and status["time"]


def test_while_the_broker_is_away_only_the_newest_report_is_kept(broker_dir):
    folder, brokers = broker_dir
    b = start_broker(folder / "b")
    brokers.append(b)
    a, t, runs, f = _agent(b.url)
    try:
        assert _wait(lambda: a.link.connected.is_set() and runs == [1])
        b.stop()
        assert _wait(lambda: not a.link.connected.is_set(), 15)
        for n in (2, 3, 4):
            a.request()
            assert _wait(lambda: len(runs) == n, 15)
        b.start()  # persistence off: the retained report of run 1 is gone too
        assert _wait(lambda: a.link.connected.is_set(), 30), "no reconnect within the backoff"
        assert _wait(lambda: a.link.delivered == 4, 10)
        got = retained("127.0.0.1", b.port, f.topic("ws-1", "report"), timeout=1)
        assert [json.loads(line.split(" ", 1)[1]) for line in got] == [{"run": 4}]
        assert a.link.connections == 2
        log = b.log()
        # One report publish after the restart, the newest: nothing piled up.
        after = log.split("mosquitto version")[-1]
        published = [ln for ln in after.splitlines() if "Received PUBLISH from diagnose-sales-office-ws-1" in ln
                     and f"'{f.topic('ws-1', 'report')}'" in ln]
        assert len(published) == 1, after[-3000:]
    finally:
        a.stop()
        t.join(10)


def test_backoff_doubles_to_a_minute_with_jitter():
    delays = agent_mod.backoff_delays(rng=lambda: 0.0)
    assert [next(delays) for _ in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    jittered = agent_mod.backoff_delays(rng=lambda: 1.0)
    assert next(jittered) == 1.25


def test_settings_parse_and_refuse():
    assert parse_interval("15m") == 900 and parse_interval("30s") == 30 and parse_interval("1h") == 3600
    assert str(parse_broker("mqtts://cc-srv01")) == "mqtts://cc-srv01:8883"
    for bad in ("http://x", "mqtt://user:pw@host", "mqtt://host:99999"):
        with pytest.raises(FleetError):
            parse_broker(bad)
    with pytest.raises(FleetError):
        parse_interval("soon")
    with pytest.raises(FleetError):
        make_fleet(seat="a/b")


def test_wrong_password_env_is_a_clear_error(tmp_path):
    from tests.conftest import run_cli

    cfg = tmp_path / "seat.toml"
    cfg.write_text('[fleet]\nbroker = "mqtt://127.0.0.1:1"\npassword_env = "NO_SUCH_VAR_15"\n')
    got = run_cli("agent", "--config", str(cfg), timeout=30)
    assert got.returncode == 3 and "NO_SUCH_VAR_15" in got.stderr and "Traceback" not in got.stderr


def test_lldpctl_json_one_neighbour_and_many():
    one = (DATA / "lldpctl-one.json").read_text()
    assert location.parse_lldp(one) == [{"interface": "eth0", "switch": "SW-B", "port": "swp1",
                                         "chassis_id": "0a:31:48:5d:a8:86"}]
    many = (DATA / "lldpctl-two.json").read_text()
    got = location.parse_lldp(many)
    assert [(n["interface"], n["switch"], n["port"]) for n in got] == [("eth0", "core-sw1", "Gi1/0/12"),
                                                                       ("eth1", "00:11:22:33:44:55", "7")]
    assert location.parse_lldp("not json") == []


def test_location_without_lldp_is_subnet_and_gateway_mac():
    route = (DATA / "proc-net-route").read_text()
    arp = (DATA / "proc-net-arp").read_text()
    assert location.parse_default_route(route) == {"interface": "eth0", "gateway": "198.51.100.1"}
    assert location.parse_arp(arp) == {"198.51.100.1": "02:aa:bb:cc:dd:01"}
    facts = {"lldp": [], "route": location.parse_default_route(route), "subnet": "198.51.100.0/24",
             "gateway_mac": "02:aa:bb:cc:dd:01"}
    seat = location.locate(facts, "ws-1", room="Hall 1")
    assert seat == {"name": "ws-1", "switch": "", "port": "", "subnet": "198.51.100.0/24", "room": "Hall 1",
                    "gateway_mac": "02:aa:bb:cc:dd:01", "located_by": "subnet"}
    assert location.locate(dict(facts, lldp=location.parse_lldp((DATA / "lldpctl-one.json").read_text())),
                           "ws-1")["switch"] == "SW-B"
    assert location.locate(facts, "ws-1", switch="SW-9")["located_by"] == "config"
    assert location.subnet_of([{"address": "203.0.113.77", "netmask": "255.255.255.192"}]) == "203.0.113.64/26"


def test_probe_on_a_recorded_tree_reads_procfs(tmp_path):
    from diagnose.host import Host

    (tmp_path / "proc/net").mkdir(parents=True)
    for name in ("route", "arp"):
        (tmp_path / "proc/net" / name).write_text((DATA / f"proc-net-{name}").read_text())
    facts = location.probe(Host(str(tmp_path)))
    assert facts["route"]["gateway"] == "198.51.100.1" and facts["gateway_mac"] == "02:aa:bb:cc:dd:01"
    assert os.path.exists(tmp_path / "proc/net/route")
