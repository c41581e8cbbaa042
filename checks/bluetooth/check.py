"""bluetooth.interference: Bluetooth headsets that lose signal or crowd the air.

Settles the "audio floats, quacks and crackles" complaint on a workstation
with Bluetooth headsets: is the headset's signal weak (distance, a desk or a
metal cabinet in the way), are too many Bluetooth audio devices sharing the
2.4 GHz band, is the call running on the narrowband headset profile, is the
headset a model the site approved, is the adapter there and powered on.

Facts come from BlueZ over D-Bus (dbus-fast, the system bus named by
``DBUS_SYSTEM_BUS_ADDRESS`` or the standard socket), ``btmgmt conn-info`` for
the RSSI of live links, PulseAudio/PipeWire (pulsectl) for the active profile
of each Bluetooth card, and NetworkManager or ``iw`` for 2.4 GHz Wi-Fi.
Every RSSI is recorded with the source it came from, because the sources
measure different things (see :func:`_signal`).
"""

from __future__ import annotations

from diagnose.check import Check, Key, Needs
from diagnose.checks.bluetooth.common import CHECK
from diagnose.checks.bluetooth.dbus import bluez_absent_reason, bluez_objects
from diagnose.checks.bluetooth.judge import _Judge
from diagnose.checks.bluetooth.radio import _choose_rssi, conn_info, pulse_cards, rfkill, wifi
from diagnose.i18n import N_


class BluetoothInterference(Check):
    """Bluetooth headsets: signal, congestion, profile, model, adapter."""

    name = CHECK
    summary = N_("Bluetooth headsets: weak signal, too many in range, narrowband profile, "
               "unapproved models, adapter off")
    section = "bluetooth"
    needs = Needs(role="workstation", live=True)
    timeout = 10.0
    watches = ("/etc/bluetooth/main.conf", "/etc/bluetooth/input.conf")
    schema = {
        "weak_rssi_dbm": Key(int, -75, "a connected headset at or below this RSSI (dBm) has a weak signal"),
        "max_audio_devices": Key(int, 4, "more Bluetooth audio devices than this in range is congestion"),
        "approved_models": Key(list, [], "headset models the site approved: name substrings or "
                                         "vendor:product ids from the modalias (e.g. \"0b0e:24c8\")",
                               item=str),
        "expected": Key((bool, str), "auto", "a Bluetooth headset is expected: true, false, or \"auto\" "
                                             "(expected when a Bluetooth headset is paired)",
                             choices=("auto",)),
        "discovery_s": Key((int, float), 0, "seconds of discovery to count devices in range; 0 = off "
                                            "(discovery disturbs running audio links; keep below timeout_s)"),
    }

    def applies(self, host, cfg):
        return bluez_absent_reason(host)

    def probe(self, host, cfg):
        facts = bluez_objects(host, float(cfg.get("discovery_s") or 0))
        tool = host.which("btmgmt")
        facts["btmgmt"] = tool
        for dev in facts["devices"]:
            if dev["connected"] and tool:
                dev["readings"]["conn_info"] = conn_info(host, dev)
            _choose_rssi(dev, facts["discovery"]["ran"])
        facts["rfkill"] = rfkill(host)
        facts["audio"] = pulse_cards(host)
        facts["wifi"] = wifi(host)
        return facts

    def judge(self, facts, cfg):
        return _Judge(facts, cfg).run()


