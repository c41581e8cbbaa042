"""headset.presence: is the agent's USB headset plugged in, and is it the right one?

"No sound in or out" was, more than once, a headset pulled out of the PC.
The probe lists USB audio devices with their sound cards (through pyudev on
the live machine, by walking /sys under the host's root for a recorded tree),
their HID telephony interfaces (the hook-switch and mute buttons a softphone
listens to), Bluetooth adapters, and the kernel log's USB connect/disconnect
lines so a missing headset can be named. The judge compares that with
``[headset] expected``.
"""

from __future__ import annotations

import re
from typing import Any

from diagnose.check import Check, Key, Needs
from diagnose.checks.headset.probe import AUDIO_CLASS, WIRELESS_CLASS, collect
from diagnose.checks.headset.vendors import BLUETOOTH_DONGLES, HEADSET_ONLY, vendor_table
from diagnose.model import Fault, Finding, Status


def model_id(dev: dict[str, Any]) -> str:
    return f"{dev['vendor_id']}:{dev['product_id']}"


def model_name(dev: dict[str, Any], vendors: dict[str, str]) -> str:
    """What a technician reads on the device: product string, else the hwdb
    name, else vendor and id."""
    if dev.get("product"):
        return dev["product"]
    if dev.get("model_db"):  # the udev hwdb's name (usb.ids), when the device has no string
        return " ".join(filter(None, (dev.get("vendor_db"), dev["model_db"])))
    return f"{vendors.get(dev['vendor_id'], 'USB device')} {model_id(dev)}"


def classify(dev: dict[str, Any], brands: set[str] | frozenset[str] = HEADSET_ONLY) -> str:
    """headset | dongle | bluetooth | other, for one USB device's facts;
    *brands* are vendor ids whose every USB audio device is a headset."""
    if model_id(dev) in BLUETOOTH_DONGLES:
        return "dongle"
    classes = {i["class"] for i in dev["interfaces"]}
    bt = any(i["class"] == WIRELESS_CLASS and i["subclass"] == "01" and i["protocol"] == "01"
             for i in dev["interfaces"])
    if AUDIO_CLASS not in classes:
        return "bluetooth" if bt else "other"
    cards = dev["cards"]
    plays = any(c["playback"] for c in cards)
    records = any(c["capture"] for c in cards)
    if any(c.get("form_factor") in ("headset", "handset") for c in cards) or dev["hid_telephony"]:
        return "headset"
    if dev["vendor_id"] in brands and cards:
        return "headset"
    # Webcams record only, USB speakers only play: neither is a headset.
    if plays and records:
        return "headset"
    return "other"


def parse_expected(value: str) -> tuple[str, str | None, str | None]:
    """("any"|"none"|"vendor"|"model", vendor id, product id)."""
    v = value.strip().lower()
    if v in ("any", "none"):
        return v, None, None
    m = re.fullmatch(r"([0-9a-f]{4})(?::([0-9a-f]{4}))?", v)
    if not m:
        raise ValueError(f'[headset] expected = "{value}" is not "any", "none", '
                         'a vendor id like "0b0e" or a model like "0b0e:0311"')
    return ("model" if m[2] else "vendor"), m[1], m[2]


def _matches(dev: dict[str, Any], kind: str, vid: str | None, pid: str | None) -> bool:
    if kind == "any":
        return True
    if kind == "vendor":
        return dev["vendor_id"] == vid
    return dev["vendor_id"] == vid and dev["product_id"] == pid


def _expected_words(kind: str, vid: str | None, pid: str | None, vendors: dict[str, str]) -> str:
    if kind == "any":
        return "a USB headset"
    brand = vendors.get(vid or "", f"vendor {vid}")
    return f"a {brand} headset ({vid})" if kind == "vendor" else f"the {brand} headset {vid}:{pid}"


def _evidence(dev: dict[str, Any], kind: str) -> dict[str, Any]:
    return {"bus_path": dev["bus_path"], "id": model_id(dev), "kind": kind,
            "product": dev.get("product"), "manufacturer": dev.get("manufacturer"),
            "serial": dev.get("serial"), "cards": [c["card"] for c in dev["cards"]],
            "hid_telephony": dev["hid_telephony"]}


class HeadsetPresence(Check):
    name = "headset.presence"
    summary = "USB headset present (pyudev), which model, expected one missing"
    section = "headset"
    needs = Needs(role="workstation")
    timeout = 5.0
    schema = {
        "expected": Key(str, "any", 'what must be plugged in: "any" headset, "none", a USB vendor '
                        'id ("0b0e") or a vendor:product model ("0b0e:0311")'),
        "vendors": Key(dict, {}, 'extra headset brands by USB vendor id, e.g. { "0d8c" = "C-Media" }'),
    }

    def probe(self, host: Any, cfg: dict[str, Any]) -> dict[str, Any]:
        return collect(host, cfg.get("vendors"))

    def init_section(self, host: Any) -> str:
        """Expect the headset plugged in now, by model, when there is one."""
        vendors = vendor_table()
        found = [d for d in collect(host)["usb_devices"] if classify(d) == "headset"]
        lines = [f"# {self.name}: {self.summary}", "[headset]"]
        if found:
            d = found[0]
            lines.append(f'expected = "{model_id(d)}"  # {model_name(d, vendors)}, detected on '
                         f'USB port {d["bus_path"]}; "any" accepts every headset')
        else:
            lines.append('expected = "any"  # no USB headset detected now; or a vendor id ("0b0e") '
                         'or model ("0b0e:0311")')
        lines.append('# vendors = { "0d8c" = "C-Media" }  # extra headset brands by USB vendor id')
        return "\n".join(lines)

    def judge(self, facts: dict[str, Any], cfg: dict[str, Any]) -> list[Finding]:
        kind, vid, pid = parse_expected(cfg.get("expected") or "any")
        vendors = vendor_table(cfg.get("vendors"))
        # A brand the site adds is a headset maker: its USB audio devices count.
        brands = HEADSET_ONLY | {k.lower() for k in (cfg.get("vendors") or {})}
        devices = [(d, classify(d, brands)) for d in facts.get("usb_devices", [])]
        headsets = [d for d, k in devices if k == "headset"]
        dongles = [d for d, k in devices if k == "dongle"]
        bt_usb = [d for d, k in devices if k == "bluetooth"]
        expected_words = _expected_words(kind, vid, pid, vendors)
        context = {"expected": cfg.get("expected") or "any", "source": facts.get("source"),
                   "usb_audio": [_evidence(d, k) for d, k in devices],
                   "other_cards": facts.get("other_cards", [])}

        if kind == "none":
            names = ", ".join(model_name(d, vendors) for d in headsets) or "none present"
            return [Finding(self.name, "headset", Status.OK,
                            f"No headset expected on this seat ({names})", evidence=context)]

        out: list[Finding] = []
        good = [d for d in headsets if _matches(d, kind, vid, pid)]
        for d in headsets:
            name = model_name(d, vendors)
            ev = dict(_evidence(d, "headset"), expected=context["expected"])
            if good:
                out.append(Finding(self.name, f"usb:{d['bus_path']}", Status.OK,
                                   f"Headset present: {name} ({model_id(d)}) on USB port {d['bus_path']}",
                                   evidence=ev))
            else:
                out.append(Finding(
                    self.name, f"usb:{d['bus_path']}", Status.WARN,
                    f"Other headset than expected: {name} ({model_id(d)})", Fault.SITE,
                    detail=(f"The configuration expects {expected_words}; the headset on USB port "
                            f"{d['bus_path']} is {name} ({model_id(d)}). A swapped headset can have "
                            "other buttons, gains and softphone support."),
                    evidence=ev,
                    remedy=(f"Plug in {expected_words} on this workstation, or, if {name} is the "
                            f'approved replacement, set [headset] expected = "{model_id(d)}".')))
        if headsets:
            return out

        good_dongles = [d for d in dongles if _matches(d, kind, vid, pid)]
        for d in dongles:
            name = BLUETOOTH_DONGLES[model_id(d)]
            ev = dict(_evidence(d, "dongle"), expected=context["expected"], see="bluetooth.interference")
            if d in good_dongles:
                out.append(Finding(
                    self.name, f"usb:{d['bus_path']}", Status.OK,
                    f"Bluetooth headset adapter present: {name} on USB port {d['bus_path']}",
                    detail=("The adapter is plugged in; whether the wireless headset is switched on, "
                            "connected and heard clearly is for bluetooth.interference."),
                    evidence=ev))
        if good_dongles:
            return out

        if dongles or bt_usb or facts.get("bluetooth_controllers"):
            adapters = [BLUETOOTH_DONGLES[model_id(d)] for d in dongles] + \
                       [model_name(d, vendors) for d in bt_usb] or \
                       [c["name"] for c in facts.get("bluetooth_controllers", [])]
            adapters = list(dict.fromkeys(adapters))
            return [Finding(
                self.name, "headset", Status.WARN,
                f"No wired headset: only a Bluetooth adapter ({', '.join(adapters)})", Fault.SITE,
                detail=(f"The configuration expects {expected_words}, but the only headset hardware "
                        "on this workstation is Bluetooth. Cheap Bluetooth headsets drop out and "
                        "crackle when other radios or furniture get in the way."),
                evidence=dict(context, bluetooth_adapters=adapters,
                              bluetooth_controllers=facts.get("bluetooth_controllers", []),
                              see="bluetooth.interference"),
                remedy=("Check the Bluetooth headset's link with `diagnose run --only "
                        f"bluetooth.interference`; for a steady call, plug in {expected_words}."))]

        return [self._unplugged(facts, kind, vid, pid, vendors, brands, expected_words, context)]

    def _unplugged(self, facts: dict[str, Any], kind: str, vid: str | None, pid: str | None,
                   vendors: dict[str, str], brands: frozenset[str], expected_words: str,
                   context: dict[str, Any]) -> Finding:
        log = facts.get("usb_log") or {}
        last = None
        # The log does not say what class a device was: count a headset brand's
        # devices, and others (Logitech mice ...) only when named a headset.
        for conn in reversed(log.get("connections", [])):
            if not _matches(conn, kind, vid, pid) or model_id(conn) in BLUETOOTH_DONGLES:
                continue
            if conn["vendor_id"] in brands or "headset" in (conn.get("product") or "").lower():
                last = conn
                break
        evidence = dict(context, usb_log_source=log.get("source"), last_seen=last)
        if last:
            name = model_name(last, vendors)
            when = last.get("disconnected_at") or last.get("connected_at")
            title = f"Headset unplugged: {name} was last seen on USB port {last['bus_path']}"
            detail = (f"No headset is plugged into this workstation. The kernel log shows {name} "
                      f"({model_id(last)}) on USB port {last['bus_path']}"
                      + (f", disconnected at {last['disconnected_at']}." if last.get("disconnected_at")
                         else f", connected at {when}, and it is gone now."))
            what = f"{name} ({model_id(last)})"
        else:
            title = f"Headset unplugged: no {expected_words.split(' ', 1)[1]} on this workstation"
            detail = (f"The configuration expects {expected_words}; no USB headset is plugged in"
                      + (", and the kernel log names none." if log.get("source") else "."))
            what = expected_words
        others = [f"{e['product'] or 'USB device'} ({e['id']})" for e in context["usb_audio"]]
        if others:
            detail += f" USB audio that is not a headset: {', '.join(others)}."
        return Finding(
            self.name, "headset", Status.FAIL, title, Fault.SITE, detail=detail, evidence=evidence,
            remedy=(f"Plug {what} into a USB port of this PC. If it is plugged in, try another port "
                    "or cable; `lsusb` must list it."))
