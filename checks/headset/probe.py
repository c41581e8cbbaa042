"""Probe side of headset.presence: USB audio devices with their sound cards,
HID telephony interfaces and Bluetooth adapters, through pyudev on the live
machine or by walking /sys under the host's root for a recorded tree, and the
kernel log's USB connect/disconnect lines so a missing headset can be named.
"""

from __future__ import annotations

import os
import re
from typing import Any, Iterator

from diagnose.checks.headset.vendors import BLUETOOTH_DONGLES, vendor_table

AUDIO_CLASS = "01"
HID_CLASS = "03"
WIRELESS_CLASS = "e0"  # with subclass 01 / protocol 01: a Bluetooth controller
TELEPHONY_USAGE_PAGE = 0x0B
LOG_KEEP = 20



# The walk below needs only a few things from a device; two small adapters
# give them from pyudev (live) or from a sysfs tree under the host's root.

class _UdevDevice:
    def __init__(self, dev: Any) -> None:
        self._d = dev
        self.sys_path: str = dev.sys_path
        self.sys_name: str = dev.sys_name
        self.subsystem: str | None = dev.subsystem
        self.devtype: str | None = dev.device_type
        self.driver: str | None = dev.driver

    def attr(self, name: str) -> str | None:
        try:
            return self._d.attributes.asstring(name).strip()
        except (KeyError, UnicodeDecodeError):
            return None

    def prop(self, name: str) -> str | None:
        return self._d.properties.get(name)

    def parent(self) -> "_UdevDevice | None":
        p = self._d.parent
        return _UdevDevice(p) if p is not None else None

    def descendants(self) -> Iterator["_UdevDevice"]:
        # pyudev's children are all descendants (libudev match_parent), not
        # only the direct ones.
        for d in self._d.children:
            yield _UdevDevice(d)


class _SysfsDevice:
    """A device directory of a recorded /sys tree (real sysfs layout:
    ``subsystem`` and ``driver`` are symlinks, ``uevent`` holds KEY=value)."""

    def __init__(self, host: Any, sys_path: str) -> None:
        self._h = host
        self.sys_path = sys_path
        self.sys_name = os.path.basename(sys_path)
        self.subsystem = self._link_name("subsystem")
        self.driver = self._link_name("driver")
        self._uevent = dict(
            line.split("=", 1) for line in
            host.read_text(f"{sys_path}/uevent", missing="").splitlines() if "=" in line)
        self.devtype = self._uevent.get("DEVTYPE")

    def _link_name(self, name: str) -> str | None:
        try:
            return os.path.basename(self._h.readlink(f"{self.sys_path}/{name}"))
        except OSError:
            return None

    def attr(self, name: str) -> str | None:
        text = self._h.read_text(f"{self.sys_path}/{name}", missing=None)
        return None if text is None else text.strip()

    def prop(self, name: str) -> str | None:
        return self._uevent.get(name)

    def parent(self) -> "_SysfsDevice | None":
        # Grouping directories such as .../sound/ are not devices (no uevent).
        up = os.path.dirname(self.sys_path)
        while up.startswith("/sys/devices/"):
            if self._h.exists(f"{up}/uevent"):
                return _SysfsDevice(self._h, up)
            up = os.path.dirname(up)
        return None

    def descendants(self) -> Iterator["_SysfsDevice"]:
        try:
            entries = sorted(self._h.scandir(self.sys_path), key=lambda e: e.name)
        except OSError:
            return
        for e in entries:
            if e.is_dir(follow_symlinks=False) and self._h.exists(f"{self.sys_path}/{e.name}/uevent"):
                child = _SysfsDevice(self._h, f"{self.sys_path}/{e.name}")
                yield child
                yield from child.descendants()


def _udev_devices(host: Any) -> tuple[list, list, list]:
    import pyudev

    ctx = pyudev.Context()
    usb = [_UdevDevice(d) for d in ctx.list_devices(subsystem="usb", DEVTYPE="usb_device")]
    cards = [_UdevDevice(d) for d in ctx.list_devices(subsystem="sound")
             if re.fullmatch(r"card\d+", d.sys_name)]
    bt = [_UdevDevice(d) for d in ctx.list_devices(subsystem="bluetooth")
          if re.fullmatch(r"hci\d+", d.sys_name)]
    return usb, cards, bt


def _sysfs_devices(host: Any) -> tuple[list, list, list]:
    def under(cls_dir: str, pattern: str) -> list[_SysfsDevice]:
        try:
            names = host.listdir(cls_dir)
        except OSError:
            return []
        return [_SysfsDevice(host, host.realpath(f"{cls_dir}/{n}"))
                for n in names if re.fullmatch(pattern, n)]

    # /sys/bus/usb/devices holds devices ("1-2", "usb1") and interfaces ("1-2:1.0").
    usb = [d for d in under("/sys/bus/usb/devices", r"[^:]+") if d.attr("idVendor")]
    return usb, under("/sys/class/sound", r"card\d+"), under("/sys/class/bluetooth", r"hci\d+")




def has_telephony_page(desc: bytes) -> bool:
    """True when a HID report descriptor declares the Telephony usage page.

    HID 1.11 section 6.2.2: a short item is a prefix byte (size in bits 0-1,
    3 meaning 4 bytes; type in bits 2-3; tag in bits 4-7) and its data,
    little-endian; Usage Page is global item tag 0 (prefix 0x04-0x07);
    0xFE starts a long item whose data size is the next byte.
    """
    i = 0
    while i < len(desc):
        prefix = desc[i]
        if prefix == 0xFE:
            i += 3 + (desc[i + 1] if i + 1 < len(desc) else 0)
            continue
        size = (0, 1, 2, 4)[prefix & 3]
        if prefix & 0xFC == 0x04 and size:
            value = int.from_bytes(desc[i + 1:i + 1 + size], "little")
            if value == TELEPHONY_USAGE_PAGE:
                return True
        i += 1 + size
    return False


def _usb_ancestor(dev: Any) -> Any:
    cur = dev.parent()
    while cur is not None:
        if cur.subsystem == "usb" and cur.devtype == "usb_device":
            return cur
        cur = cur.parent()
    return None


def _card_facts(card: Any) -> dict[str, Any]:
    pcms = [d.sys_name for d in card.descendants() if d.sys_name.startswith("pcmC")]
    return {
        "card": card.sys_name,
        "id": card.attr("id"),
        "number": card.attr("number"),
        "form_factor": card.prop("SOUND_FORM_FACTOR"),
        "playback": any(p.endswith("p") for p in pcms),
        "capture": any(p.endswith("c") for p in pcms),
    }


def _usb_facts(host: Any, dev: Any) -> dict[str, Any]:
    interfaces, telephony = [], False
    for d in dev.descendants():
        # Only this device's own interfaces (direct children) and their HID
        # devices: a hub's descendants include the devices plugged into it.
        up = os.path.dirname(d.sys_path)
        if d.subsystem == "usb" and d.devtype == "usb_interface" and up == dev.sys_path:
            interfaces.append({
                "interface": d.sys_name,
                "class": (d.attr("bInterfaceClass") or "").lower(),
                "subclass": (d.attr("bInterfaceSubClass") or "").lower(),
                "protocol": (d.attr("bInterfaceProtocol") or "").lower(),
                "driver": d.driver,
            })
        elif d.subsystem == "hid" and os.path.dirname(up) == dev.sys_path:
            # Read the file itself: udev's attribute API stops at the first NUL byte.
            try:
                desc = host.read_bytes(f"{d.sys_path}/report_descriptor")
            except OSError:
                desc = b""
            telephony = telephony or has_telephony_page(desc)
    return {
        "bus_path": dev.sys_name,
        "vendor_id": (dev.attr("idVendor") or "").lower(),
        "product_id": (dev.attr("idProduct") or "").lower(),
        "manufacturer": dev.attr("manufacturer"),
        "product": dev.attr("product"),
        "serial": dev.attr("serial"),
        "vendor_db": dev.prop("ID_VENDOR_FROM_DATABASE"),
        "model_db": dev.prop("ID_MODEL_FROM_DATABASE"),
        "interfaces": interfaces,
        "hid_telephony": telephony,
        "cards": [],
    }


_LOG_RE = re.compile(
    r"^(?P<pre>.*?)\busb (?P<bus>\d+-[\d.]+): (?:"
    r"New USB device found, idVendor=(?P<vid>[0-9a-fA-F]{4}), idProduct=(?P<pid>[0-9a-fA-F]{4})(?:,.*)?"
    r"|Product: (?P<product>.*)|Manufacturer: (?P<manufacturer>.*)"
    r"|(?P<gone>USB disconnect), device number \d+)\s*$")


def _log_time(pre: str) -> str | None:
    # dmesg --time-format iso: "2026-11-22T10:42:01,123+00:00 "; syslog files:
    # "Nov 22 10:42:01 host kernel: [ 1.2] " or "2026-11-22T10:42:01+00:00 host kernel: ".
    pre = pre.split(" kernel:")[0].strip()
    if not pre:
        return None
    parts = pre.split()
    if re.match(r"\d{4}-\d\d-\d\dT", parts[0]):
        return parts[0]
    return " ".join(parts[:3]) if len(parts) >= 3 else pre


def parse_usb_log(lines: list[str], vendors: set[str]) -> list[dict[str, Any]]:
    """Connections of USB devices of *vendors* seen in kernel log lines,
    oldest first: who was on which port, when it came and when it went."""
    current: dict[str, dict[str, Any]] = {}
    seen: list[dict[str, Any]] = []
    for line in lines:
        m = _LOG_RE.match(line)
        if not m:
            continue
        bus = m["bus"]
        if m["vid"]:
            current[bus] = {"bus_path": bus, "vendor_id": m["vid"].lower(),
                            "product_id": m["pid"].lower(), "product": None, "manufacturer": None,
                            "connected_at": _log_time(m["pre"]), "disconnected_at": None}
            seen.append(current[bus])
        elif bus in current:
            if m["gone"]:
                current.pop(bus)["disconnected_at"] = _log_time(m["pre"])
            elif m["product"] is not None:
                current[bus]["product"] = m["product"].strip()
            elif m["manufacturer"] is not None:
                current[bus]["manufacturer"] = m["manufacturer"].strip()
    wanted = [c for c in seen if c["vendor_id"] in vendors]
    return wanted[-LOG_KEEP:]


def _usb_log(host: Any, vendors: set[str]) -> dict[str, Any]:
    tried = []
    if host.live:
        res = host.run(["dmesg", "--time-format", "iso"], timeout=3.0)
        if res.ok and res.stdout.strip():
            return {"source": "dmesg", "connections": parse_usb_log(res.stdout.splitlines(), vendors)}
        tried.append(f"dmesg: {(res.stderr or 'no output').strip()[:120]}")
    for path in ("/var/log/kern.log", "/var/log/syslog", "/var/log/messages"):
        try:
            lines = host.tail(path, max_bytes=2 * 1024 * 1024)
        except OSError:
            continue
        return {"source": path, "connections": parse_usb_log(lines, vendors)}
    tried.append("no kernel log file")
    return {"source": None, "connections": [], "error": "; ".join(tried)}


def collect(host: Any, extra_vendors: dict[str, str] | None = None) -> dict[str, Any]:
    """USB audio / telephony / Bluetooth devices, their sound cards, the
    other sound cards, Bluetooth controllers and the kernel's USB log."""
    source, error = "sysfs", None
    if host.live:
        try:
            usb, cards, bts = _udev_devices(host)
            source = "udev"
        except (ImportError, OSError) as exc:  # no libudev: the sysfs walk still works
            error = f"pyudev unavailable ({exc}); read /sys directly"
            usb, cards, bts = _sysfs_devices(host)
    else:
        usb, cards, bts = _sysfs_devices(host)

    devices: dict[str, dict[str, Any]] = {}
    for dev in usb:
        facts = _usb_facts(host, dev)
        classes = {i["class"] for i in facts["interfaces"]}
        if classes & {AUDIO_CLASS, WIRELESS_CLASS} or facts["hid_telephony"]:
            devices[dev.sys_path] = facts
    other_cards = []
    for card in cards:
        parent = _usb_ancestor(card)
        if parent is not None and parent.sys_path in devices:
            devices[parent.sys_path]["cards"].append(_card_facts(card))
        else:
            other = _card_facts(card)
            other["bus"] = "usb" if parent is not None else (card.prop("ID_BUS") or "other")
            other_cards.append(other)
    controllers = []
    for hci in bts:
        parent = _usb_ancestor(hci)
        controllers.append({"name": hci.sys_name,
                            "bus_path": parent.sys_name if parent is not None else None})
    log_vendors = set(vendor_table(extra_vendors)) | {k.split(":")[0] for k in BLUETOOTH_DONGLES}
    out = {
        "source": source,
        "usb_devices": sorted(devices.values(), key=lambda d: d["bus_path"]),
        "other_cards": other_cards,
        "bluetooth_controllers": controllers,
        "usb_log": _usb_log(host, log_vendors),
    }
    if error:
        out["source_error"] = error
    return out
