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

import os
import re
from typing import Any

from diagnose.check import Check, Key, Needs
from diagnose.model import Fault, Finding, Status

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
WIDEBAND_CODECS = {"msbc", "lc3", "lc3_swb", "lc3-swb", "lc3swb"}


class BluetoothInterference(Check):
    """Bluetooth headsets: signal, congestion, profile, model, adapter."""

    name = "bluetooth.interference"
    summary = ("Bluetooth headsets: weak signal, too many in range, narrowband profile, "
               "unapproved models, adapter off")
    section = "bluetooth"
    needs = Needs(role="workstation", live=True)
    timeout = 10.0
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


# -- probe side: D-Bus ---------------------------------------------------------

def _unvariant(value: Any) -> Any:
    """dbus-fast Variants (possibly nested) to plain JSON-able values."""
    value = getattr(value, "value", value)
    if isinstance(value, dict):
        return {str(k): _unvariant(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_unvariant(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return value


async def _call(bus, path: str, iface: str, member: str, signature: str = "", body: list | None = None,
                dest: str = BLUEZ):
    from dbus_fast import Message, MessageFlag, MessageType

    # NO_AUTOSTART: asking must never start bluetoothd through bus activation.
    reply = await bus.call(Message(destination=dest, path=path, interface=iface, member=member,
                                   signature=signature, body=body or [],
                                   flags=MessageFlag.NO_AUTOSTART))
    if reply.message_type == MessageType.ERROR:
        text = " ".join(map(str, reply.body)).strip().splitlines()
        raise RuntimeError(f"{iface}.{member}: {reply.error_name}: {text[-1] if text else ''}"[:300])
    return reply.body


async def _has_bluez(bus) -> bool:
    body = await _call(bus, "/org/freedesktop/DBus", "org.freedesktop.DBus", "NameHasOwner", "s",
                       [BLUEZ], dest="org.freedesktop.DBus")
    return bool(body[0])


def _run_dbus(host, what: str, fn, timeout: float):
    """Run ``fn(bus)`` on a fresh system-bus connection inside its own event
    loop (probes run in worker threads, which have none)."""
    import asyncio

    host.require_live(what)

    async def main():
        from dbus_fast import BusType
        from dbus_fast.aio import MessageBus

        bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        try:
            return await fn(bus)
        finally:
            bus.disconnect()

    async def bounded():
        return await asyncio.wait_for(main(), timeout)

    return asyncio.run(bounded())


def bluez_absent_reason(host) -> str | None:
    """Why the check cannot ask BlueZ here, or None when org.bluez is on the bus.

    ``diagnose list`` asks this of every check, so it avoids importing
    dbus-fast: no socket means no bus, and dbus-send (shipped with the bus
    daemon) answers NameHasOwner for a few milliseconds; dbus-fast is the
    fallback where dbus-send is missing.
    """
    where = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or "unix:path=/run/dbus/system_bus_socket"
    sock = re.match(r"unix:path=([^,;]+)", where)
    if sock and not host.exists(sock.group(1)):
        return (f"there is no D-Bus system bus here (no socket {sock.group(1)}), so BlueZ cannot "
                "be asked; install and start dbus and bluez")
    unreachable = (f"the D-Bus system bus at {where} cannot be reached ({{}}), so BlueZ cannot be asked; "
                   "check `systemctl status dbus`")
    if host.which("dbus-send"):
        r = host.run(["dbus-send", "--system", "--print-reply", "--dest=org.freedesktop.DBus",
                      "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", "string:" + BLUEZ],
                     timeout=2)
        if not r.ok:
            return unreachable.format((r.stderr or "no answer within 2s").strip()[-200:])
        # The reply's body is printed as "   boolean true" / "   boolean false".
        running = re.search(r"^\s*boolean true\s*$", r.stdout, re.M) is not None
    else:
        try:
            running = _run_dbus(host, "asking D-Bus for BlueZ", _has_bluez, 2.0)
        except (OSError, TimeoutError, RuntimeError, EOFError, ValueError) as exc:
            return unreachable.format(f"{type(exc).__name__}: {exc}")
    if not running:
        return ("BlueZ is not running: nothing owns org.bluez on the system bus "
                "(start it with `systemctl start bluetooth`; install the bluez package if missing)")
    return None


def bluez_objects(host, discovery_s: float) -> dict[str, Any]:
    """Adapters and devices BlueZ knows, after an optional discovery window."""

    import asyncio

    async def read(bus):
        objects = (await _call(bus, "/", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects"))[0]
        discovery: dict[str, Any] = {"window_s": discovery_s, "ran": False, "adapters": [], "error": None}
        powered = [p for p, ifs in objects.items()
                   if "org.bluez.Adapter1" in ifs and _unvariant(ifs["org.bluez.Adapter1"].get("Powered"))]
        if discovery_s > 0 and powered:
            try:
                for path in powered:
                    # An empty filter is this client's own "no filter" (BR/EDR
                    # and LE); BlueZ drops it with our discovery session.
                    await _call(bus, path, "org.bluez.Adapter1", "SetDiscoveryFilter", "a{sv}", [{}])
                    await _call(bus, path, "org.bluez.Adapter1", "StartDiscovery")
                    discovery["adapters"].append(path.rsplit("/", 1)[-1])
                await asyncio.sleep(discovery_s)
                objects = (await _call(bus, "/", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects"))[0]
                discovery["ran"] = True
            except RuntimeError as exc:
                discovery["error"] = str(exc)
            finally:
                for path in powered:
                    try:
                        await _call(bus, path, "org.bluez.Adapter1", "StopDiscovery")
                    except RuntimeError:
                        pass  # not discovering (StartDiscovery failed): nothing to stop
        return objects, discovery

    objects, discovery = _run_dbus(host, "reading BlueZ over D-Bus", read, DBUS_TIMEOUT_S + discovery_s)
    adapters, devices = [], []
    for path, ifaces in sorted(objects.items()):
        if "org.bluez.Adapter1" in ifaces:
            a = _unvariant(ifaces["org.bluez.Adapter1"])
            adapters.append({"name": path.rsplit("/", 1)[-1], "path": path, "address": a.get("Address"),
                             "alias": a.get("Alias"), "powered": bool(a.get("Powered")),
                             "discovering": bool(a.get("Discovering"))})
        if "org.bluez.Device1" in ifaces:
            d = _unvariant(ifaces["org.bluez.Device1"])
            adapter = str(d.get("Adapter") or path.rsplit("/", 1)[0]).rsplit("/", 1)[-1]
            devices.append({
                "address": d.get("Address"), "name": d.get("Alias") or d.get("Name") or d.get("Address"),
                "adapter": adapter, "address_type": d.get("AddressType"), "icon": d.get("Icon"),
                "class": d.get("Class"), "modalias": d.get("Modalias"),
                "connected": bool(d.get("Connected")), "paired": bool(d.get("Paired")),
                "trusted": bool(d.get("Trusted")),
                "audio_profiles": sorted({AUDIO_UUIDS[u] for u in d.get("UUIDs") or [] if u in AUDIO_UUIDS}),
                "tx_power": d.get("TxPower"),
                "readings": {"device1": d.get("RSSI")},
            })
    return {"bluez": {"running": True}, "adapters": adapters, "devices": devices, "discovery": discovery}


# -- probe side: btmgmt, rfkill, sound server, Wi-Fi ----------------------------

_CONN_RSSI = re.compile(r"RSSI (-?\d+)")
_CONN_TX = re.compile(r"(?<!maximum )TX power (-?\d+)")
_CONN_TYPE = re.compile(r"Connection Information for \S+ \(([^)]*)\)")


def parse_conn_info(text: str) -> dict[str, Any]:
    """``btmgmt conn-info`` output: "Connection Information for ADDR (BR/EDR)"
    then RSSI, TX power and maximum TX power (tab- or line-separated,
    depending on the BlueZ version)."""
    rssi, tx, kind = _CONN_RSSI.search(text), _CONN_TX.search(text), _CONN_TYPE.search(text)
    return {"rssi": int(rssi.group(1)) if rssi else None,
            "tx_power": int(tx.group(1)) if tx else None,
            "link_type": kind.group(1) if kind else None}


def conn_info(host, dev: dict[str, Any]) -> dict[str, Any]:
    """RSSI of the live link from the kernel (HCI Read RSSI via btmgmt).
    Needs root (the mgmt socket wants CAP_NET_ADMIN)."""
    index = dev["adapter"][3:] if dev["adapter"].startswith("hci") else "0"
    # mgmt address types: 0 BR/EDR, 1 LE public, 2 LE random. Headsets are
    # BR/EDR; an LE-only device answers "Not Connected" there, so retry as LE.
    le_type = "2" if dev.get("address_type") == "random" else "1"
    out: dict[str, Any] = {}
    for kind in ("0", le_type):
        r = host.run(["btmgmt", "--index", index, "conn-info", "-t", kind, dev["address"]], timeout=3)
        text = (r.stderr + r.stdout).strip()
        out = {"argv": r.argv, "rc": r.rc, **parse_conn_info(r.stdout),
               "error": None if r.ok else (text or "timed out")[-300:]}
        if r.ok or "Not Connected" not in text:
            break
    return out


def _choose_rssi(dev: dict[str, Any], discovered: bool) -> None:
    """Pick the RSSI the judge uses: the live link's (conn-info) first, then
    BlueZ's Device1.RSSI, which is the last inquiry/advertising reading and
    only present while a discovery has recently seen the device."""
    ci = dev["readings"].get("conn_info") or {}
    if ci.get("rssi") is not None and ci["rssi"] != RSSI_INVALID:
        dev["rssi"] = ci["rssi"]
        dev["rssi_source"] = "conn-info"
        dev["rssi_scale"] = "golden_range" if ci.get("link_type") in (None, "BR/EDR") else "dbm"
    elif dev["readings"].get("device1") is not None:
        dev["rssi"] = dev["readings"]["device1"]
        dev["rssi_source"] = "discovery" if discovered else "device1"
        dev["rssi_scale"] = "dbm"
    else:
        dev["rssi"] = dev["rssi_source"] = dev["rssi_scale"] = None


def rfkill(host) -> list[dict[str, Any]]:
    """Bluetooth radio kill switches from /sys/class/rfkill (soft = software
    block, e.g. `rfkill block` or a desktop toggle; hard = a physical switch)."""
    base = "/sys/class/rfkill"
    if not host.is_dir(base):
        return []
    out = []
    for entry in host.listdir(base):
        kind = host.read_text(f"{base}/{entry}/type", missing="").strip()
        if kind != "bluetooth":
            continue
        out.append({"rfkill": entry, "name": host.read_text(f"{base}/{entry}/name", missing="").strip(),
                    "soft": host.read_text(f"{base}/{entry}/soft", missing="").strip() == "1",
                    "hard": host.read_text(f"{base}/{entry}/hard", missing="").strip() == "1"})
    return out


def _card_address(name: str, props: dict[str, str]) -> str | None:
    addr = props.get("api.bluez5.address") or props.get("device.string") or ""
    if re.fullmatch(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}", addr):
        return addr.upper()
    m = re.match(r"bluez_card\.([0-9A-Fa-f]{2}(?:_[0-9A-Fa-f]{2}){5})", name)
    return m.group(1).replace("_", ":").upper() if m else None


def pulse_cards(host) -> dict[str, Any]:
    """Bluetooth cards of the sound server and their active profile and codec.

    Tries $PULSE_SERVER, then each user's /run/user/<uid>/pulse/native
    (pipewire-pulse answers there too), then the system-wide socket. Only
    sockets that exist are tried: libpulse's own default search waits for
    its full timeout when nothing listens. Never autospawns a server.
    """
    host.require_live("asking the sound server")
    try:
        import pulsectl
    except ImportError as exc:
        return {"reachable": False, "server": None, "cards": [], "errors": [f"pulsectl: {exc}"]}
    servers = [os.environ["PULSE_SERVER"]] if os.environ.get("PULSE_SERVER") else []
    sockets = [f"/run/user/{u}/pulse/native" for u in
               (host.listdir("/run/user") if host.is_dir("/run/user") else [])] + ["/run/pulse/native"]
    servers += [f"unix:{p}" for p in sockets if host.exists(p)]
    errors = [] if servers else ["no sound server socket found ($PULSE_SERVER, /run/user/*/pulse/native)"]
    for server in servers:
        try:
            with pulsectl.Pulse("diagnose-bluetooth", server=server, connect=False) as pulse:
                pulse.connect(timeout=1.5)
                info = pulse.server_info()
                nodes = list(pulse.sink_list()) + list(pulse.source_list())
                cards = []
                for card in pulse.card_list():
                    props = dict(card.proplist)
                    if props.get("device.bus") != "bluetooth" and not card.name.startswith("bluez_card."):
                        continue
                    codecs = [n.proplist.get("bluetooth.codec") or n.proplist.get("api.bluez5.codec")
                              for n in nodes if n.card == card.index]
                    codec = (props.get("bluetooth.codec") or props.get("api.bluez5.codec")
                             or next((c for c in codecs if c), None))
                    cards.append({"name": card.name, "address": _card_address(card.name, props),
                                  "active_profile": card.profile_active.name if card.profile_active else None,
                                  "profiles": [p.name for p in card.profile_list],
                                  "codec": codec})
                return {"reachable": True, "server": server,
                        "server_name": info.server_name, "server_version": info.server_version,
                        "cards": cards, "errors": errors}
        except pulsectl.PulseError as exc:
            errors.append(f"{server}: {exc}")
    return {"reachable": False, "server": None, "cards": [], "errors": errors}


def freq_channel(freq_mhz: float | None) -> int | None:
    """2.4 GHz Wi-Fi channel of a centre frequency (channel 14 is off-grid)."""
    if freq_mhz is None or not 2400 <= freq_mhz < 2500:
        return None
    if round(freq_mhz) == 2484:
        return 14
    return int(round((freq_mhz - 2407) / 5))


def _split_terse(line: str) -> list[str]:
    # nmcli -t separates fields with ':' and escapes ':' and '\' inside values.
    fields, cur, i = [], [], 0
    while i < len(line):
        ch = line[i]
        if ch == "\\" and i + 1 < len(line):
            cur.append(line[i + 1])
            i += 2
            continue
        if ch == ":":
            fields.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    fields.append("".join(cur))
    return fields


def parse_nmcli_wifi(text: str) -> list[dict[str, Any]]:
    """``nmcli -t -f IN-USE,SSID,CHAN,FREQ,SIGNAL device wifi list`` rows."""
    nets = []
    for line in text.splitlines():
        f = _split_terse(line)
        if len(f) < 5:
            continue
        freq = re.match(r"(\d+)", f[3])
        nets.append({"ssid": f[1], "in_use": f[0].strip() == "*",
                     "channel": int(f[2]) if f[2].isdigit() else None,
                     "freq_mhz": int(freq.group(1)) if freq else None,
                     "signal_percent": int(f[4]) if f[4].isdigit() else None})
    return nets


def parse_iw_scan(text: str) -> list[dict[str, Any]]:
    """``iw dev IF scan dump``: one "BSS <bssid>(on IF)" block per network."""
    nets: list[dict[str, Any]] = []
    for line in text.splitlines():
        if line.startswith("BSS "):
            nets.append({"ssid": None, "in_use": "associated" in line, "freq_mhz": None,
                         "signal_dbm": None})
            continue
        if not nets:
            continue
        key, _, val = line.strip().partition(": ")
        if key == "freq":
            nets[-1]["freq_mhz"] = float(val.split()[0])
        elif key == "signal":
            nets[-1]["signal_dbm"] = float(val.split()[0])
        elif key == "SSID":
            nets[-1]["ssid"] = val
    for n in nets:
        n["channel"] = freq_channel(n["freq_mhz"])
    return nets


def parse_iw_link(text: str) -> dict[str, Any] | None:
    """``iw dev IF link``: "Not connected." or SSID/freq lines."""
    if not text.startswith("Connected to"):
        return None
    ssid = re.search(r"^\s*SSID: (.*)$", text, re.M)
    freq = re.search(r"^\s*freq: ([\d.]+)", text, re.M)
    f = float(freq.group(1)) if freq else None
    return {"ssid": ssid.group(1) if ssid else None, "freq_mhz": f, "channel": freq_channel(f)}


def wifi(host) -> dict[str, Any]:
    """Wi-Fi networks this PC sees and its own link, from NetworkManager's
    cached scan or iw's scan dump (neither triggers a new scan)."""
    errors = []
    if host.which("nmcli"):
        r = host.run(["nmcli", "-t", "-f", "IN-USE,SSID,CHAN,FREQ,SIGNAL", "device", "wifi", "list",
                      "--rescan", "no"], timeout=3)
        if r.ok:
            nets = parse_nmcli_wifi(r.stdout)
            return {"tool": "nmcli", "links": [n for n in nets if n["in_use"]], "networks": nets[:100],
                    "errors": errors}
        errors.append(f"nmcli: {(r.stderr or 'timed out').strip()[-200:]}")
    if host.which("iw"):
        r = host.run(["iw", "dev"], timeout=3)
        if not r.ok:
            errors.append(f"iw dev: {(r.stderr or r.stdout or 'timed out').strip()[-200:]}")
            return {"tool": "iw", "links": [], "networks": [], "errors": errors}
        links, nets = [], []
        for iface in re.findall(r"^\s*Interface (\S+)", r.stdout, re.M):
            link = parse_iw_link(host.run(["iw", "dev", iface, "link"], timeout=3).stdout)
            if link:
                links.append({"interface": iface, **link})
            dump = host.run(["iw", "dev", iface, "scan", "dump"], timeout=3)
            nets += parse_iw_scan(dump.stdout)
        return {"tool": "iw", "links": links, "networks": nets[:100], "errors": errors}
    return {"tool": None, "links": [], "networks": [], "errors": errors}


# -- judge -----------------------------------------------------------------------

def is_audio(dev: dict[str, Any]) -> bool:
    cls = dev.get("class") or 0
    return (str(dev.get("icon") or "").startswith("audio-") or (cls >> 8) & 0x1F == MAJOR_AUDIO
            or bool(dev.get("audio_profiles")))


def is_headset(dev: dict[str, Any]) -> bool:
    cls = dev.get("class") or 0
    return (dev.get("icon") in HEADSET_ICONS
            or ((cls >> 8) & 0x1F == MAJOR_AUDIO and (cls >> 2) & 0x3F in HEADSET_MINORS)
            or bool({"hsp_hs", "hfp_hf"} & set(dev.get("audio_profiles") or [])))


def estimated_dbm(dev: dict[str, Any]) -> int | None:
    """The device's RSSI in dBm; golden-range readings become the highest
    level they can stand for (see GOLDEN_RANGE_LOWER_DBM)."""
    if dev.get("rssi") is None:
        return None
    if dev.get("rssi_scale") == "golden_range":
        return GOLDEN_RANGE_LOWER_DBM + min(dev["rssi"], 0)
    return dev["rssi"]


def _modalias_id(modalias: str | None) -> str | None:
    # bluetooth:v000Fp1200d1436 -> "000f:1200" (vendor, product as hex)
    m = re.match(r"\w+:v([0-9A-Fa-f]{4})p([0-9A-Fa-f]{4})", modalias or "")
    return f"{m.group(1)}:{m.group(2)}".lower() if m else None


SOURCE_WORDS = {"conn-info": "read from the live link with btmgmt conn-info",
                "discovery": "seen in this run's discovery scan",
                "device1": "BlueZ's reading from its last scan"}


def _who(dev: dict[str, Any]) -> str:
    return f"{dev.get('name') or 'unnamed device'} ({dev.get('address')})"


def _dev_evidence(dev: dict[str, Any]) -> dict[str, Any]:
    keys = ("name", "address", "adapter", "icon", "class", "connected", "paired", "rssi",
            "rssi_source", "rssi_scale", "tx_power", "modalias")
    ev = {k: dev.get(k) for k in keys}
    ev["rssi_dbm_estimate"] = estimated_dbm(dev)
    return ev


class _Judge:
    """One pass over the facts; each method adds the findings of one question."""

    def __init__(self, facts: dict[str, Any], cfg: dict[str, Any]) -> None:
        self.facts, self.cfg = facts, cfg
        self.out: list[Finding] = []
        self.adapters = facts.get("adapters") or []
        self.devices = facts.get("devices") or []
        self.audio = [d for d in self.devices if is_audio(d)]
        self.connected = [d for d in self.audio if d.get("connected")]
        paired = [d for d in self.audio if d.get("paired") and is_headset(d)]
        exp = cfg.get("expected", "auto")
        if isinstance(exp, bool):
            self.expected, self.expected_why = exp, f"[bluetooth] expected = {str(exp).lower()}"
        else:
            self.expected = bool(paired)
            self.expected_why = (f"expected = \"auto\": {len(paired)} Bluetooth headset(s) paired"
                                 if paired else "expected = \"auto\" and no Bluetooth headset is paired")

    def add(self, subject: str, status: Status, title: str, evidence: dict[str, Any],
            detail: str = "", remedy: str = "", fault: Fault | None = None) -> None:
        # evidence.kind names the question (adapter, headset, signal, radio,
        # profile, model, wifi) so attribution rules can select findings.
        if subject in ("adapter", "headset", "radio", "wifi"):
            kind = subject
        elif "/" in subject:
            kind = subject.rsplit("/", 1)[1]
        else:
            kind = "adapter" if any(a.get("name") == subject for a in self.adapters) else "signal"
        evidence = {"kind": kind, **evidence}
        self.out.append(Finding(check=BluetoothInterference.name, subject=subject, status=status,
                                title=title, fault=fault, detail=detail, evidence=evidence, remedy=remedy))

    def run(self) -> list[Finding]:
        if not self.adapter_ok():
            return self.out
        self.headset_present()
        for dev in self.connected:
            self.signal(dev)
        self.congestion()
        self.profiles()
        self.models()
        self.wifi_overlap()
        return self.out

    # Adapter missing or off: nothing else can be judged when none is on.
    def adapter_ok(self) -> bool:
        kill = self.facts.get("rfkill") or []
        ev = {"adapters": self.adapters, "rfkill": kill, "expected": self.expected,
              "expected_because": self.expected_why}
        if not self.adapters:
            if self.expected:
                self.add("adapter", Status.FAIL, "No Bluetooth adapter: the headset has nothing to connect to",
                         ev, fault=Fault.SITE,
                         detail=f"BlueZ runs but lists no Bluetooth adapter, while a Bluetooth headset is "
                                f"expected ({self.expected_why}). A USB Bluetooth dongle was probably "
                                "unplugged, or Bluetooth is disabled in the BIOS.",
                         remedy="Plug the Bluetooth USB adapter back in (check with `lsusb`) or enable "
                                "Bluetooth in the BIOS, then confirm with `bluetoothctl list`.")
            else:
                self.add("adapter", Status.OK, "No Bluetooth adapter (no Bluetooth headset expected)", ev)
            return False
        any_on = any(a.get("powered") for a in self.adapters)
        for a in self.adapters:
            name = a.get("name")
            aev = dict(ev, adapters=[a])
            if a.get("powered"):
                self.add(name, Status.OK, f"Bluetooth adapter {name} is on", aev)
            elif any_on or not self.expected:
                self.add(name, Status.OK, f"Bluetooth adapter {name} is off (not needed: "
                         + ("another adapter is on)" if any_on else "no Bluetooth headset expected)"), aev)
            else:
                hard = any(k["hard"] for k in kill)
                soft = any(k["soft"] for k in kill)
                if hard:
                    why, fix = ("a hardware switch blocks the radio (rfkill hard block)",
                                "Turn the PC's wireless switch or Fn key back on, then `bluetoothctl power on`.")
                elif soft:
                    why, fix = ("the radio is switched off in software (rfkill soft block)",
                                "Run `rfkill unblock bluetooth`, then `bluetoothctl power on`.")
                else:
                    why, fix = ("the adapter was powered off (a desktop toggle or `bluetoothctl power off`)",
                                "Run `bluetoothctl power on` (or switch Bluetooth on in the desktop settings).")
                self.add(name, Status.FAIL, f"Bluetooth adapter {name} is powered off", aev, fault=Fault.SITE,
                         detail=f"The Bluetooth adapter {name} ({a.get('address')}) is off, so no headset can "
                                f"connect, while one is expected ({self.expected_why}); {why}.",
                         remedy=fix)
        return any_on

    def headset_present(self) -> None:
        if not self.expected:
            return
        paired = [d for d in self.audio if d.get("paired")]
        ev = {"connected": [_dev_evidence(d) for d in self.connected],
              "paired": [_dev_evidence(d) for d in paired], "expected_because": self.expected_why}
        if self.connected:
            names = ", ".join(_who(d) for d in self.connected)
            self.add("headset", Status.OK, f"Bluetooth headset connected: {names}", ev)
        elif paired:
            names = ", ".join(_who(d) for d in paired)
            self.add("headset", Status.WARN, f"Bluetooth headset not connected: {names} is paired",
                     ev, fault=Fault.SITE,
                     detail="A Bluetooth headset is paired with this PC but not connected: it is switched "
                            "off, its battery is flat, or it is out of range.",
                     remedy=f"Switch the headset on and charge it, bring it next to the PC, then "
                            f"`bluetoothctl connect {paired[0].get('address')}`.")
        else:
            self.add("headset", Status.WARN, "No Bluetooth headset paired with this PC", ev, fault=Fault.SITE,
                     detail=f"A Bluetooth headset is expected ({self.expected_why}) but none is paired.",
                     remedy="Put the headset in pairing mode and run `bluetoothctl scan on`, then "
                            "`bluetoothctl pair <address>`, `trust <address>`, `connect <address>`.")

    def signal(self, dev: dict[str, Any]) -> None:
        weak = self.cfg.get("weak_rssi_dbm", -75)
        dbm = estimated_dbm(dev)
        ev = dict(_dev_evidence(dev), weak_rssi_dbm=weak)
        who = _who(dev)
        if dbm is None:
            self.add(dev["address"], Status.OK, f"{who} connected; signal strength not measured", ev,
                     detail="BlueZ gives no RSSI for a connected classic device. Run as root with "
                            "`btmgmt` (package bluez) installed, or set [bluetooth] discovery_s, to measure it.")
            return
        shown = (f"about {dbm} dBm at most" if dev.get("rssi_scale") == "golden_range" else f"{dbm} dBm")
        if dbm <= weak:
            self.add(dev["address"], Status.FAIL,
                     f"Weak Bluetooth signal from {dev.get('name')} ({shown}): distance or obstacles "
                     "between the headset and its adapter", ev, fault=Fault.SITE,
                     detail=f"{who} reaches its adapter {dev.get('adapter')} at {shown} "
                            f"({SOURCE_WORDS.get(dev.get('rssi_source'), dev.get('rssi_source'))}), at or "
                            f"below {weak} dBm. Weak links lose "
                            "voice packets: audio floats, drops and crackles.",
                     remedy="Keep the headset within a few metres of the PC with nothing metal in between: "
                            "move the Bluetooth adapter from the back of the PC to the desk with a USB "
                            "extension cable, away from metal cabinets and desk frames.")
        else:
            self.add(dev["address"], Status.OK, f"{dev.get('name')} connected, signal {shown}", ev)

    def congestion(self) -> None:
        limit = self.cfg.get("max_audio_devices", 4)
        in_range = [d for d in self.audio if d.get("connected") or d.get("rssi") is not None]
        disc = self.facts.get("discovery") or {}
        wifi24 = [n for n in (self.facts.get("wifi") or {}).get("networks") or []
                  if freq_channel(n.get("freq_mhz"))]
        ev = {"in_range": [_dev_evidence(d) for d in in_range], "count": len(in_range),
              "max_audio_devices": limit, "discovery": disc,
              "wifi_24ghz_networks": len(wifi24),
              "wifi_24ghz_channels": sorted({freq_channel(n["freq_mhz"]) for n in wifi24})}
        n = len(in_range)
        if n > limit:
            names = ", ".join(_who(d) for d in in_range[:10]) + (f" and {n - 10} more" if n > 10 else "")
            self.add("radio", Status.FAIL,
                     f"Radio congestion: {n} Bluetooth audio devices in range (more than {limit})", ev,
                     fault=Fault.SITE,
                     detail=f"{n} Bluetooth audio devices are within radio range of this PC: {names}. They "
                            "all hop over the same 79 MHz of the 2.4 GHz band"
                            + (f", shared with {len(wifi24)} 2.4 GHz Wi-Fi networks" if wifi24 else "")
                            + "; voice links get little or no retransmission, so collisions become dropouts and crackle.",
                     remedy=f"Switch off or unpair the headsets that are not in use and keep at most {limit} "
                            "Bluetooth headsets per area; spread seats with Bluetooth headsets apart, or give "
                            "dense rows wired USB headsets.")
        else:
            how = ("after a discovery window" if disc.get("ran") else
                   "as last seen by BlueZ; set discovery_s for a fresh count")
            self.add("radio", Status.OK, f"{n} Bluetooth audio device{'s' if n != 1 else ''} in range "
                     f"(limit {limit}, {how})", ev)

    def profiles(self) -> None:
        audio = self.facts.get("audio") or {}
        by_addr = {str(d.get("address") or "").upper(): d for d in self.devices}
        for card in audio.get("cards") or []:
            dev = by_addr.get(str(card.get("address") or "").upper(), {})
            name = dev.get("name") or card.get("name")
            subject = f"{card.get('address') or card.get('name')}/profile"
            profile = str(card.get("active_profile") or "off")
            codec = str(card.get("codec") or "").lower() or None
            if not codec:
                for part in re.split(r"[-_]", profile.lower()):
                    if part in WIDEBAND_CODECS or part == "cvsd":
                        codec = part
            ev = {"card": card, "device": _dev_evidence(dev) if dev else None, "codec": codec,
                  "server": audio.get("server_name")}
            if not re.search(r"head.?unit|handsfree|hands.?free|headset", profile.lower()):
                what = ("A2DP, high quality playback" if "a2dp" in profile.lower() else f"profile {profile}")
                self.add(subject, Status.OK, f"{name}: {what}", ev)
            elif codec in WIDEBAND_CODECS:
                self.add(subject, Status.OK, f"{name}: headset profile with wideband speech ({codec})", ev)
            else:
                self.add(subject, Status.WARN,
                         f"Narrowband headset profile on {name}: expect metallic or quacking audio", ev,
                         fault=Fault.SITE,
                         detail=f"The sound card {card.get('name')} runs {profile} (HSP/HFP) with "
                                + (f"codec {codec.upper()}" if codec else "no wideband codec reported")
                                + ": 8 kHz narrowband CVSD voice, which sounds metallic and quacks when packets "
                                  "are lost. Wideband speech (mSBC) needs both headset and adapter to support "
                                  "HFP 1.6.",
                         remedy="Use a headset and Bluetooth adapter that support wideband speech (mSBC, "
                                "HFP 1.6) and pick it with `pactl set-card-profile "
                                f"{card.get('name')} headset-head-unit-msbc` where offered, or give the "
                                "seat a wired USB headset for calls.")

    def models(self) -> None:
        approved = [m for m in self.cfg.get("approved_models") or [] if m]
        if not approved:
            return
        for dev in self.audio:
            if not (dev.get("paired") or dev.get("connected")):
                continue
            name = str(dev.get("name") or "")
            ident = _modalias_id(dev.get("modalias"))
            match = next((m for m in approved if m.lower() == ident or m.lower() in name.lower()), None)
            ev = dict(_dev_evidence(dev), model_id=ident, approved_models=approved, matched=match)
            subject = f"{dev.get('address')}/model"
            if match:
                self.add(subject, Status.OK, f"{name} is an approved headset model ({match})", ev)
            else:
                self.add(subject, Status.WARN, f"Unapproved headset model: {name}", ev, fault=Fault.SITE,
                         detail=f"{_who(dev)} (id {ident or 'unknown'}) is not among the approved models "
                                f"({', '.join(approved)}); unapproved headsets are the cheap ones that "
                                "interfere and drop out.",
                         remedy=f"Replace it with an approved model ({', '.join(approved)}) and remove it: "
                                f"`bluetoothctl remove {dev.get('address')}`.")

    def wifi_overlap(self) -> None:
        w = self.facts.get("wifi") or {}
        if not w.get("tool"):
            return
        links24 = [ln for ln in w.get("links") or [] if freq_channel(ln.get("freq_mhz"))]
        ev = {"tool": w.get("tool"), "links": w.get("links"), "headsets_connected": len(self.connected),
              "wifi_24ghz_networks": sum(1 for n in w.get("networks") or [] if freq_channel(n.get("freq_mhz")))}
        if links24 and self.connected:
            ln = links24[0]
            ch = freq_channel(ln.get("freq_mhz"))
            self.add("wifi", Status.WARN,
                     f"Wi-Fi link on 2.4 GHz (channel {ch}) shares the air with the Bluetooth headset", ev,
                     fault=Fault.SITE,
                     detail=f"This PC is on Wi-Fi network {ln.get('ssid')!r} at {ln.get('freq_mhz')} MHz "
                            "while a Bluetooth headset is connected; Wi-Fi and Bluetooth then share one radio "
                            "band (often one chip), and voice packets lose out.",
                     remedy="Connect this PC by cable, or to the 5 GHz network of the same access point.")
        elif links24:
            self.add("wifi", Status.OK, "Wi-Fi link on 2.4 GHz, but no Bluetooth headset connected", ev)
        elif w.get("links"):
            self.add("wifi", Status.OK, "This PC's Wi-Fi link is not on 2.4 GHz", ev)
        else:
            self.add("wifi", Status.OK, "This PC has no Wi-Fi link", ev)
