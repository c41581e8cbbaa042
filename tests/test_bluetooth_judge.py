"""bluetooth.interference: the judge from recorded facts, and the parsers of
the tools' output (btmgmt, nmcli, iw) from text in the tools' own formats.

The conformance test walks every scenario under
tests/data/bluetooth.interference/; these tests add what a scenario file
cannot say: thresholds moved by config, how each RSSI source is read, and
what the parsers make of real output lines.
"""

from __future__ import annotations

import copy
import json

import pytest

from diagnose.check import section_config
from diagnose.checks.bluetooth.check import BluetoothInterference
from diagnose.checks.bluetooth.judge import estimated_dbm, is_audio, is_headset
from diagnose.checks.bluetooth.radio import (
    _choose_rssi,
    freq_channel,
    parse_conn_info,
    parse_iw_link,
    parse_iw_scan,
    parse_nmcli_wifi,
)
from tests.conftest import DATA

CHECK = BluetoothInterference()
HEADSET = "00:1B:66:A1:00:01"


def scenario(name: str) -> dict:
    return json.loads((DATA / CHECK.name / f"{name}.json").read_text())


def judge(facts: dict, **config) -> dict:
    """Findings by subject."""
    return {f.subject: f for f in CHECK.judge(copy.deepcopy(facts), section_config(CHECK, config))}


def test_more_allowed_devices_turns_congestion_into_ok():
    facts = scenario("eight_headsets_in_range")["facts"]
    assert judge(facts)["radio"].status.name == "FAIL"
    radio = judge(facts, max_audio_devices=8)["radio"]
    assert radio.status.name == "OK" and radio.title.startswith("8 Bluetooth audio devices in range")


def test_congestion_evidence_names_every_device_and_the_24ghz_wifi():
    facts = scenario("eight_headsets_in_range")["facts"]
    facts["wifi"] = scenario("wifi_24ghz_link")["facts"]["wifi"]
    radio = judge(facts)["radio"]
    assert {d["address"] for d in radio.evidence["in_range"]} >= {HEADSET, "41:42:00:00:00:08"}
    assert radio.evidence["wifi_24ghz_channels"] == [1, 6]  # the 5 GHz network is not counted
    assert "2 2.4 GHz Wi-Fi networks" in radio.detail


def test_expected_false_silences_a_paired_headset_that_is_not_connected():
    facts = scenario("paired_not_connected")["facts"]
    assert judge(facts)["headset"].status.name == "WARN"
    assert "headset" not in judge(facts, expected=False)


def test_no_adapter_and_nothing_expected_is_ok():
    found = judge({"adapters": [], "devices": [], "rfkill": []})
    assert found["adapter"].status.name == "OK" and found["adapter"].evidence["expected"] is False


def test_hard_rfkill_block_names_the_switch():
    facts = scenario("adapter_powered_off")["facts"]
    facts["rfkill"] = [{"rfkill": "rfkill0", "name": "hci0", "soft": False, "hard": True}]
    f = judge(facts)["hci0"]
    assert f.fault.value == "site" and "hardware switch" in f.detail and "Fn key" in f.remedy


def test_approved_model_matches_by_modalias_id():
    facts = scenario("unapproved_model")["facts"]
    ok = judge(facts, approved_models=["000f:1200"])[f"{facts['devices'][0]['address']}/model"]
    assert ok.status.name == "OK" and ok.evidence["matched"] == "000f:1200"


def test_profile_codec_read_from_the_pipewire_profile_name():
    facts = scenario("pipewire_msbc_wideband")["facts"]
    card = facts["audio"]["cards"][0]
    card["codec"], card["active_profile"] = None, "headset-head-unit-cvsd"
    f = judge(facts)[f"{HEADSET}/profile"]
    assert f.status.name == "WARN" and f.evidence["codec"] == "cvsd"


# -- btmgmt conn-info and the choice of RSSI source -----------------------------

# btmgmt prints one line with tabs; older versions printed one value per line.
CONN_INFO_NEW = "Connection Information for 00:1B:66:A1:00:01 (BR/EDR)\n\tRSSI -7\tTX power 4\tmaximum TX power 10\n"
CONN_INFO_OLD = "Connection Information for 00:1B:66:A1:00:01 (LE Public)\n\tRSSI -81\n\tTX power 0\n\tmaximum TX power 9\n"


@pytest.mark.parametrize("text,expect", [
    (CONN_INFO_NEW, {"rssi": -7, "tx_power": 4, "link_type": "BR/EDR"}),
    (CONN_INFO_OLD, {"rssi": -81, "tx_power": 0, "link_type": "LE Public"}),
    ("Get Conn Info for 00:1B:66:A1:00:01 (BR/EDR) failed. status 0x02 (Not Connected)\n",
     {"rssi": None, "tx_power": None, "link_type": None}),
])
def test_parse_conn_info(text, expect):
    assert parse_conn_info(text) == expect


def _dev(device1=None, conn=None):
    return {"readings": {"device1": device1, **({"conn_info": conn} if conn else {})}}


def test_live_link_rssi_wins_and_keeps_its_scale():
    d = _dev(-50, {"rc": 0, **parse_conn_info(CONN_INFO_NEW)})
    _choose_rssi(d, discovered=False)
    assert (d["rssi"], d["rssi_source"], d["rssi_scale"]) == (-7, "conn-info", "golden_range")
    assert estimated_dbm(d) == -63  # -56 dBm lower limit of the golden range, 7 dB below it
    le = _dev(None, {"rc": 0, **parse_conn_info(CONN_INFO_OLD)})
    _choose_rssi(le, discovered=False)
    assert (le["rssi_scale"], estimated_dbm(le)) == ("dbm", -81)


def test_invalid_conn_info_reading_falls_back_to_bluez():
    d = _dev(-66, {"rc": 0, "rssi": 127, "tx_power": 127, "link_type": "BR/EDR"})
    _choose_rssi(d, discovered=True)
    assert (d["rssi"], d["rssi_source"], d["rssi_scale"]) == (-66, "discovery", "dbm")


def test_inside_or_above_the_golden_range_is_never_weak():
    assert estimated_dbm({"rssi": 0, "rssi_scale": "golden_range"}) == -56
    assert estimated_dbm({"rssi": 9, "rssi_scale": "golden_range"}) == -56


# -- device classes --------------------------------------------------------------

@pytest.mark.parametrize("dev,audio,headset", [
    ({"icon": "audio-headset"}, True, True),
    ({"class": 0x240404}, True, True),            # Audio/Video, wearable headset
    ({"class": 0x240418}, True, True),            # Audio/Video, headphones (minor 6)
    ({"class": 0x240414}, True, False),           # Audio/Video, loudspeaker
    ({"class": 0x5A020C, "icon": "phone"}, False, False),
    ({"audio_profiles": ["hfp_hf"]}, True, True),
])
def test_audio_and_headset_classes(dev, audio, headset):
    assert (is_audio(dev), is_headset(dev)) == (audio, headset)


# -- Wi-Fi -----------------------------------------------------------------------

@pytest.mark.parametrize("freq,ch", [(2412, 1), (2437, 6), (2472, 13), (2484, 14), (2437.0, 6),
                                     (5180, None), (None, None)])
def test_freq_channel(freq, ch):
    assert freq_channel(freq) == ch


def test_parse_nmcli_wifi_unescapes_colons():
    text = "*:Office\\:Guest:6:2437 MHz:74\n :Office:36:5180 MHz:80\n :::1:2412 MHz:40\n"
    nets = parse_nmcli_wifi(text)
    assert nets[0] == {"ssid": "Office:Guest", "in_use": True, "channel": 6, "freq_mhz": 2437,
                       "signal_percent": 74}
    assert [n["in_use"] for n in nets] == [True, False, False] and nets[2]["ssid"] == ""


IW_DUMP = """BSS 10:fe:ed:00:00:01(on wlp2s0) -- associated
\tlast seen: 1234 ms ago
\tfreq: 2437.0
\tsignal: -48.00 dBm
\tSSID: Office
BSS 10:fe:ed:00:00:02(on wlp2s0)
\tfreq: 5180
\tsignal: -61.00 dBm
\tSSID: Office-5G
"""
IW_LINK = "Connected to 10:fe:ed:00:00:01 (on wlp2s0)\n\tSSID: Office\n\tfreq: 2437.0\n\tsignal: -48 dBm\n"


def test_parse_iw_output():
    nets = parse_iw_scan(IW_DUMP)
    assert [(n["ssid"], n["channel"], n["in_use"], n["signal_dbm"]) for n in nets] == [
        ("Office", 6, True, -48.0), ("Office-5G", None, False, -61.0)]
    assert parse_iw_link(IW_LINK) == {"ssid": "Office", "freq_mhz": 2437.0, "channel": 6}
    assert parse_iw_link("Not connected.\n") is None


def test_every_finding_names_its_kind_for_attribution():
    kinds = {s: f.evidence["kind"] for s, f in judge(scenario("headset_head_unit_cvsd")["facts"]).items()}
    assert kinds == {"hci0": "adapter", "headset": "headset", HEADSET: "signal", "radio": "radio",
                     f"{HEADSET}/profile": "profile", "wifi": "wifi"}
