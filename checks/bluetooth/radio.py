"""Probe side, everything but D-Bus: ``btmgmt conn-info`` for the RSSI of live
links, rfkill, the sound server's Bluetooth cards and their profile, and
2.4 GHz Wi-Fi from NetworkManager or ``iw``. The parsers are pure functions
of the tools' text so tests feed them recorded output.
"""

from __future__ import annotations

import os
import re
from typing import Any

from diagnose.checks.bluetooth.common import RSSI_INVALID

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


def _pulse_class(pulsectl):
    """pulsectl.Pulse whose connect returns as soon as the context is ready:
    pulsectl's connect(timeout=) otherwise keeps polling until the timeout
    (1.5 s here) even after it connected (as in checks/audio/check.py)."""

    class _Pulse(pulsectl.Pulse):
        def _pulse_state_cb(self, ctx: Any, userdata: Any) -> None:
            super()._pulse_state_cb(ctx, userdata)
            if self.connected:
                self._loop_stop = True

    return _Pulse


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
            with _pulse_class(pulsectl)("diagnose-bluetooth", server=server, connect=False) as pulse:
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
