"""bluetooth.interference through the real CLI against BlueZ (python-dbusmock
bluez5 on a private dbus-daemon) and a real PulseAudio.

Each scenario shapes the mock's radio world the way a site would look, runs
``python -m diagnose run`` with DBUS_SYSTEM_BUS_ADDRESS pointing at the
private bus, and checks what the technician would read: status, fault
domain, title, evidence and the exit code. The same radio worlds (built in
tests/rigs/bluez.py) gave the recorded facts under
tests/data/bluetooth.interference/.
"""

from __future__ import annotations

import json
import shutil

import pytest

from diagnose.checks.bluetooth.check import BluetoothInterference
from diagnose.host import Host
from tests.conftest import run_cli
from tests.rigs.bluez import (HEADSET, bluez, eight_in_range, healthy, powered_off,  # noqa: F401 - fixtures
                              pulse_server, running_bluez, system_bus, unapproved, weak)

NAME = "bluetooth.interference"


def run_check(env: dict[str, str], tmp_path, section: str = "") -> tuple[int, dict, dict]:
    """The CLI's exit code, JSON report and saved facts for this check."""
    cfg = tmp_path / "site.toml"
    cfg.write_text(f'[site]\nrole = "workstation"\n\n[bluetooth]\n{section}\n')
    facts = tmp_path / "facts.json"
    proc = run_cli("run", "--config", str(cfg), "--only", NAME, "--format", "json",
                   "--save-facts", str(facts), env=env, timeout=60)
    assert proc.stdout, proc.stderr
    saved = json.loads(facts.read_text())["checks"][NAME] if facts.exists() else {}
    return proc.returncode, json.loads(proc.stdout), saved


def finding(report: dict, subject: str) -> dict:
    found = [f for f in report["findings"] if f["subject"] == subject]
    assert found, f"no finding about {subject}: {[f['id'] for f in report['findings']]}"
    return found[0]


def test_healthy_connected_headset_is_ok(bluez, tmp_path):
    healthy(bluez)
    rc, report, saved = run_check(bluez.bus.env, tmp_path)
    assert rc == 0, report
    f = finding(report, HEADSET)
    assert f["status"] == "ok" and "-52 dBm" in f["title"]
    assert f["evidence"]["rssi_source"] == "device1" and f["evidence"]["connected"] is True
    radio = finding(report, "radio")
    assert radio["status"] == "ok" and radio["evidence"]["count"] == 1  # the phone is no audio device
    assert finding(report, "hci0")["status"] == "ok"
    dev = next(d for d in saved["facts"]["devices"] if d["address"] == HEADSET)
    if shutil.which("btmgmt"):
        # No real controller behind the mock: btmgmt's failure is recorded
        # and the RSSI falls back to BlueZ's Device1 reading.
        assert dev["readings"]["conn_info"]["rc"] != 0 and dev["readings"]["conn_info"]["error"]


def test_weak_headset_is_a_site_fault(bluez, tmp_path):
    weak(bluez)
    rc, report, _ = run_check(bluez.bus.env, tmp_path)
    assert rc == 2
    f = finding(report, HEADSET)
    assert (f["status"], f["fault"]) == ("fail", "site")
    assert f["title"].startswith("Weak Bluetooth signal from Jabra Evolve2 65 (-84 dBm)")
    assert f["evidence"]["rssi"] == -84 and f["evidence"]["weak_rssi_dbm"] == -75
    assert "extension cable" in f["remedy"]
    assert report["verdict"]["site_faults"] >= 1 and report["verdict"]["software_faults"] == 0


def test_weak_threshold_is_configurable(bluez, tmp_path):
    weak(bluez)
    rc, report, _ = run_check(bluez.bus.env, tmp_path, "weak_rssi_dbm = -90")
    assert rc == 0 and finding(report, HEADSET)["status"] == "ok"


def test_eight_headsets_in_range_is_radio_congestion(bluez, tmp_path):
    eight_in_range(bluez)
    rc, report, saved = run_check(bluez.bus.env, tmp_path, "discovery_s = 0.3")
    assert rc == 2
    radio = finding(report, "radio")
    assert (radio["status"], radio["fault"]) == ("fail", "site")
    assert "8 Bluetooth audio devices in range" in radio["title"]
    assert radio["evidence"]["count"] == 8 and radio["evidence"]["discovery"]["ran"] is True
    assert finding(report, HEADSET)["status"] == "ok"  # its own link is strong
    assert {d["rssi_source"] for d in saved["facts"]["devices"]} == {"discovery"}


def test_adapter_powered_off_while_headset_paired(bluez, tmp_path):
    powered_off(bluez)
    rc, report, _ = run_check(bluez.bus.env, tmp_path)
    assert rc == 2
    f = finding(report, "hci0")
    assert (f["status"], f["fault"]) == ("fail", "site")
    assert f["title"] == "Bluetooth adapter hci0 is powered off"
    assert "bluetoothctl power on" in f["remedy"]
    assert "1 Bluetooth headset paired" in f["evidence"]["expected_because"]


def test_adapter_off_is_fine_when_no_headset_expected(bluez, tmp_path):
    powered_off(bluez)
    rc, report, _ = run_check(bluez.bus.env, tmp_path, "expected = false")
    assert rc == 0
    assert "not needed" in finding(report, "hci0")["title"]


def test_missing_adapter_when_headset_expected(bluez, tmp_path):
    rc, report, _ = run_check(bluez.bus.env, tmp_path, "expected = true")
    assert rc == 2
    f = finding(report, "adapter")
    assert (f["status"], f["fault"]) == ("fail", "site") and "No Bluetooth adapter" in f["title"]


def test_unapproved_model_warns(bluez, tmp_path):
    unapproved(bluez)
    rc, report, _ = run_check(bluez.bus.env, tmp_path, 'approved_models = ["Jabra Evolve2", "0b0e:24c8"]')
    assert rc == 1
    f = finding(report, "E8:07:BF:00:00:31/model")
    assert (f["status"], f["fault"]) == ("warn", "site")
    assert f["title"] == "Unapproved headset model: SoundPEATS Q30"


def test_no_bluez_on_the_bus_skips_with_why(system_bus, tmp_path):
    rc, report, _ = run_check(system_bus.env, tmp_path, "expected = true")
    assert rc == 3  # the only check asked for was skipped: nothing was checked (Nagios UNKNOWN)
    (result,) = report["checks"]
    assert result["status"] == "skip"
    assert "BlueZ is not running" in result["skipped"] and "systemctl start bluetooth" in result["skipped"]
    assert report["findings"] == []


class _HostWithoutDbusSend(Host):
    """This machine, as one where dbus-send is not installed."""

    def which(self, cmd):
        return None if cmd == "dbus-send" else super().which(cmd)


@pytest.mark.parametrize("host", [Host(), _HostWithoutDbusSend()], ids=["dbus-send", "dbus-fast"])
def test_applicability_asks_the_bus_whether_bluez_runs(system_bus, monkeypatch, host):
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", system_bus.address)
    check = BluetoothInterference()
    assert "BlueZ is not running" in check.applies(host, {})
    with running_bluez(system_bus):
        assert check.applies(host, {}) is None


def test_no_system_bus_at_all_skips_with_why(tmp_path, monkeypatch):
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path}/no-bus")
    reason = BluetoothInterference().applies(Host(), {})
    assert reason.startswith("there is no D-Bus system bus here") and "no-bus" in reason


@pytest.mark.skipif(not shutil.which("pulseaudio"), reason="needs pulseaudio (scripts/test-packages.txt)")
def test_profiles_are_read_from_the_real_sound_server(bluez, pulse_server, tmp_path):
    healthy(bluez)
    rc, report, saved = run_check(dict(bluez.bus.env, PULSE_SERVER=pulse_server), tmp_path)
    audio = saved["facts"]["audio"]
    assert audio["reachable"] is True and audio["server"] == pulse_server
    assert audio["server_name"] == "pulseaudio"
    # A null sink is no Bluetooth card: nothing to judge a profile on.
    assert audio["cards"] == [] and not [f for f in report["findings"] if f["subject"].endswith("/profile")]
    assert rc == 0
