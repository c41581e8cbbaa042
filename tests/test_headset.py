"""headset.presence against umockdev testbeds (tests/rigs/umockdev.py) through
the real CLI, on recorded /sys trees (--root), and its parsers."""

from __future__ import annotations

import json
from diagnose.compat import tomllib

from diagnose.checks.headset.probe import has_telephony_page, parse_usb_log
from tests.conftest import run_cli
from tests.rigs.umockdev import umockdev  # noqa: F401 - fixture


def write_config(tmp_path, expected: str, extra: str = "") -> str:
    cfg = tmp_path / "diagnose.toml"
    cfg.write_text(f'[site]\nrole = "workstation"\n[headset]\nexpected = "{expected}"\n{extra}\n')
    return str(cfg)


def run_headset(tmp_path, expected: str, prefix=None, args=(), extra: str = ""):
    proc = run_cli("run", "--config", write_config(tmp_path, expected, extra), "--only",
                   "headset.presence", "--format", "json", *args, prefix=prefix, timeout=60)
    assert proc.stdout, proc.stderr
    report = json.loads(proc.stdout)
    return proc.returncode, report, {f["subject"]: f for f in report["findings"]}


def test_jabra_present_is_ok_with_its_model(tmp_path, umockdev):
    rc, _, found = run_headset(tmp_path, "any", umockdev.prefix("jabra-evolve65"))
    assert rc == 0
    f = found["usb:1-2"]
    assert f["status"] == "ok"
    assert f["title"] == "Headset present: Jabra EVOLVE 65 (0b0e:0311) on USB port 1-2"
    assert f["evidence"]["id"] == "0b0e:0311"
    assert f["evidence"]["hid_telephony"] is True
    assert f["evidence"]["cards"] == ["card1"]


def test_expected_model_matches_exactly(tmp_path, umockdev):
    rc, _, found = run_headset(tmp_path, "0b0e:0311", umockdev.prefix("jabra-evolve65"))
    assert rc == 0 and found["usb:1-2"]["status"] == "ok"
    rc, _, found = run_headset(tmp_path, "0b0e:0312", umockdev.prefix("jabra-evolve65"))
    assert rc == 1 and found["usb:1-2"]["status"] == "warn"


def test_no_headset_is_a_site_fault(tmp_path, umockdev):
    rc, report, found = run_headset(tmp_path, "0b0e", umockdev.prefix())
    assert rc == 2
    f = found["headset"]
    assert (f["status"], f["fault"]) == ("fail", "site")
    assert f["title"].startswith("Headset unplugged")
    assert "Jabra" in f["title"]
    assert "Plug" in f["remedy"] and "lsusb" in f["remedy"]
    assert f["evidence"]["usb_audio"] == []
    assert report["verdict"]["site_faults"] == 1


def test_plantronics_where_jabra_expected_warns(tmp_path, umockdev):
    rc, _, found = run_headset(tmp_path, "0b0e", umockdev.prefix("plantronics-blackwire3220"))
    assert rc == 1
    f = found["usb:1-3"]
    assert (f["status"], f["fault"]) == ("warn", "site")
    assert "Other headset than expected: Plantronics Blackwire 3220 Series (047f:c056)" == f["title"]
    assert 'expected = "047f:c056"' in f["remedy"]


def test_webcam_microphone_is_not_a_headset(tmp_path, umockdev):
    rc, _, found = run_headset(tmp_path, "any", umockdev.prefix("logitech-webcam-c920"))
    assert rc == 2
    f = found["headset"]
    assert (f["status"], f["fault"]) == ("fail", "site")
    assert "HD Pro Webcam C920 (046d:082d)" in f["detail"]
    assert f["evidence"]["usb_audio"][0]["kind"] == "other"


def test_only_a_bluetooth_adapter_points_to_the_bluetooth_check(tmp_path, umockdev):
    rc, _, found = run_headset(tmp_path, "any", umockdev.prefix("bluetooth-only"))
    assert rc == 1
    f = found["headset"]
    assert (f["status"], f["fault"]) == ("warn", "site")
    assert f["title"].startswith("No wired headset: only a Bluetooth adapter")
    assert f["evidence"]["see"] == "bluetooth.interference"
    assert "diagnose run --only bluetooth.interference" in f["remedy"]


def test_recorded_tree_gives_the_same_facts_as_live_udev(tmp_path, umockdev):
    live_facts, tree_facts = tmp_path / "live.json", tmp_path / "tree.json"
    run_headset(tmp_path, "any", umockdev.prefix("jabra-evolve65"), args=("--save-facts", str(live_facts)))
    tree = umockdev.record_tree(tmp_path / "pc", "jabra-evolve65")
    rc, _, found = run_headset(tmp_path, "any", args=("--root", str(tree), "--save-facts", str(tree_facts)))
    assert rc == 0 and found["usb:1-2"]["status"] == "ok"
    live = json.loads(live_facts.read_text())["checks"]["headset.presence"]["facts"]
    recorded = json.loads(tree_facts.read_text())["checks"]["headset.presence"]["facts"]
    assert (live["source"], recorded["source"]) == ("udev", "sysfs")
    assert recorded["usb_devices"] == live["usb_devices"]
    assert recorded["usb_devices"][0]["cards"][0]["form_factor"] == "headset"


KERN_LOG = """\
Nov 22 08:01:12 ws07 kernel: [    3.112] usb 1-2: new full-speed USB device number 5 using xhci_hcd
Nov 22 08:01:12 ws07 kernel: [    3.301] usb 1-2: New USB device found, idVendor=0b0e, idProduct=0311, bcdDevice= 1.00
Nov 22 08:01:12 ws07 kernel: [    3.301] usb 1-2: New USB device strings: Mfr=1, Product=2, SerialNumber=3
Nov 22 08:01:12 ws07 kernel: [    3.301] usb 1-2: Product: Jabra EVOLVE 65
Nov 22 08:01:12 ws07 kernel: [    3.301] usb 1-2: Manufacturer: GN Netcom A/S
Nov 22 08:01:12 ws07 kernel: [    3.302] usb 1-4: New USB device found, idVendor=046d, idProduct=c077, bcdDevice=72.00
Nov 22 08:01:12 ws07 kernel: [    3.302] usb 1-4: Product: USB Optical Mouse
Nov 22 10:42:57 ws07 kernel: [ 9708.554] usb 1-2: USB disconnect, device number 5
"""


def test_unplugged_names_the_last_model_from_the_kernel_log(tmp_path, umockdev):
    tree = umockdev.record_tree(tmp_path / "pc")
    (tree / "var" / "log").mkdir(parents=True)
    (tree / "var" / "log" / "kern.log").write_text(KERN_LOG)
    rc, _, found = run_headset(tmp_path, "any", args=("--root", str(tree)))
    assert rc == 2
    f = found["headset"]
    assert f["title"] == "Headset unplugged: Jabra EVOLVE 65 was last seen on USB port 1-2"
    assert "disconnected at Nov 22 10:42:57" in f["detail"]
    assert f["evidence"]["usb_log_source"] == "/var/log/kern.log"
    assert "Jabra EVOLVE 65 (0b0e:0311)" in f["remedy"]


def test_an_invalid_expected_value_is_an_error_naming_the_key(tmp_path, umockdev):
    rc, report, _ = run_headset(tmp_path, "jabra", umockdev.prefix("jabra-evolve65"))
    assert rc == 3
    (check,) = report["checks"]
    assert check["status"] == "error" and "[headset] expected" in check["error"]


def test_site_vendor_table_names_the_brand(tmp_path, umockdev):
    rc, _, found = run_headset(tmp_path, "0d8c", umockdev.prefix(),
                               extra='vendors = { "0d8c" = "C-Media" }')
    assert rc == 2
    assert "C-Media headset (0d8c)" in found["headset"]["title"]


def test_telephony_usage_page_in_report_descriptors():
    headset = bytes.fromhex("050B0905A101150025010920092F750195028102C0")
    long_form = bytes.fromhex("060B000905A101C0")  # 2-byte Usage Page 0x000B
    keyboard = bytes.fromhex("05010906A101050719E029E7150025017501950881029501750881010508C0")
    after_long_item = bytes.fromhex("FE02AA0B0B050BC0")  # 0x0B inside the long item is data
    assert has_telephony_page(headset) and has_telephony_page(long_form)
    assert not has_telephony_page(keyboard)
    assert has_telephony_page(after_long_item)
    assert not has_telephony_page(bytes.fromhex("FE02AA0B0B"))


def test_usb_log_tracks_ports_and_reconnects():
    lines = KERN_LOG.splitlines() + [
        "2026-11-22T11:05:00,123456+00:00 usb 1-3: New USB device found, idVendor=0b0e, idProduct=0311",
        "2026-11-22T11:05:00,123999+00:00 usb 1-3: Product: Jabra EVOLVE 65",
    ]
    conns = parse_usb_log(lines, {"0b0e"})
    assert [(c["bus_path"], c["disconnected_at"]) for c in conns] == [
        ("1-2", "Nov 22 10:42:57"), ("1-3", None)]
    assert conns[1]["connected_at"] == "2026-11-22T11:05:00,123456+00:00"
    assert conns[1]["product"] == "Jabra EVOLVE 65"


def test_init_writes_the_detected_model_as_expected(tmp_path, umockdev):
    out = tmp_path / "site.toml"
    proc = run_cli("init", "--output", str(out), prefix=umockdev.prefix("jabra-evolve65"))
    assert proc.returncode == 0, proc.stderr
    cfg = tomllib().loads(out.read_text())
    assert cfg["headset"]["expected"] == "0b0e:0311"
    assert "Jabra EVOLVE 65" in out.read_text()
