"""Numbers and tables of the Bluetooth specifications that both the probe and the judge use."""

from __future__ import annotations

BLUEZ = "org.bluez"
# How long the D-Bus part of the probe may take before it gives up.
DBUS_TIMEOUT_S = 4.0

# HCI Read RSSI on a BR/EDR link does not return dBm: it returns how far the
# signal is outside the "golden receive power range" (0 = inside it; Core
# spec v5.4 Vol 4 Part E 7.5.4). The range's lower limit lies between
# -56 dBm and 6 dB above the receiver's sensitivity (Vol 2 Part A, the
# receiver's RSSI section), so -56 + value is the highest the real level can
# be: an estimate that never makes a link look weaker than it is.
GOLDEN_RANGE_LOWER_DBM = -56
# btmgmt reports 127 when the controller gave no valid reading.
RSSI_INVALID = 127

# Service class UUIDs (Bluetooth Assigned Numbers) of the audio profiles.
AUDIO_UUIDS = {
    "0000110b-0000-1000-8000-00805f9b34fb": "a2dp_sink",
    "00001108-0000-1000-8000-00805f9b34fb": "hsp_hs",
    "0000111e-0000-1000-8000-00805f9b34fb": "hfp_hf",
    "00001131-0000-1000-8000-00805f9b34fb": "hsp_hs",
}
# Class of Device: major class 0x04 is Audio/Video; minor 1 wearable headset,
# 2 hands-free, 6 headphones.
MAJOR_AUDIO = 0x04
HEADSET_MINORS = {1, 2, 6}
HEADSET_ICONS = {"audio-headset", "audio-headphones"}

# Wideband speech codecs; CVSD (8 kHz) is the narrowband one.
CHECK = "bluetooth.interference"

WIDEBAND_CODECS = {"msbc", "lc3", "lc3_swb", "lc3-swb", "lc3swb"}
