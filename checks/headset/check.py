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
from diagnose.i18n import N_, _, join
from diagnose.model import Fault, Finding, Status, step


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
        return _("a USB headset")
    brand = vendors.get(vid or "", None) or _("vendor {id}", id=vid)
    if kind == "vendor":
        return _("a {brand} headset ({id})", brand=brand, id=vid)
    return _("the {brand} headset {id}", brand=brand, id=f"{vid}:{pid}")


def _no_headset_title(kind: str, vid: str | None, pid: str | None, vendors: dict[str, str]) -> str:
    if kind == "any":
        return _("Headset unplugged: no USB headset on this workstation")
    brand = vendors.get(vid or "", None) or _("vendor {id}", id=vid)
    if kind == "vendor":
        return _("Headset unplugged: no {brand} headset ({id}) on this workstation", brand=brand, id=vid)
    return _("Headset unplugged: no {brand} headset {id} on this workstation", brand=brand,
             id=f"{vid}:{pid}")


def _evidence(dev: dict[str, Any], kind: str) -> dict[str, Any]:
    return {"bus_path": dev["bus_path"], "id": model_id(dev), "kind": kind,
            "product": dev.get("product"), "manufacturer": dev.get("manufacturer"),
            "serial": dev.get("serial"), "cards": [c["card"] for c in dev["cards"]],
            "hid_telephony": dev["hid_telephony"]}


class HeadsetPresence(Check):
    name = "headset.presence"
    summary = N_("USB headset present (pyudev), which model, expected one missing")
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
            names = ", ".join(model_name(d, vendors) for d in headsets) or _("none present")
            return [Finding(self.name, "headset", Status.OK,
                            _("No headset expected on this seat ({names})", names=names), evidence=context)]

        out: list[Finding] = []
        good = [d for d in headsets if _matches(d, kind, vid, pid)]
        for d in headsets:
            name = model_name(d, vendors)
            ev = dict(_evidence(d, "headset"), expected=context["expected"])
            if good:
                out.append(Finding(self.name, f"usb:{d['bus_path']}", Status.OK,
                                   _("Headset present: {name} ({id}) on USB port {port}", name=name,
                                     id=model_id(d), port=d["bus_path"]),
                                   evidence=ev))
            else:
                out.append(Finding(
                    self.name, f"usb:{d['bus_path']}", Status.WARN,
                    _("Other headset than expected: {name} ({id})", name=name, id=model_id(d)), Fault.SITE,
                    detail=_("The configuration expects {expected}; the headset on USB port {port} is "
                             "{name} ({id}). A swapped headset can have other buttons, gains and "
                             "softphone support.", expected=expected_words, port=d["bus_path"], name=name,
                             id=model_id(d)),
                    evidence=ev,
                    remedy=_("Plug in {expected} on this workstation, or, if {name} is the approved "
                             "replacement, set [headset] expected = \"{id}\".", expected=expected_words,
                             name=name, id=model_id(d))))
        if headsets:
            return out

        good_dongles = [d for d in dongles if _matches(d, kind, vid, pid)]
        for d in dongles:
            name = BLUETOOTH_DONGLES[model_id(d)]
            ev = dict(_evidence(d, "dongle"), expected=context["expected"], see="bluetooth.interference")
            if d in good_dongles:
                out.append(Finding(
                    self.name, f"usb:{d['bus_path']}", Status.OK,
                    _("Bluetooth headset adapter present: {name} on USB port {port}", name=name,
                      port=d["bus_path"]),
                    detail=_("The adapter is plugged in; whether the wireless headset is switched on, "
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
                _("No wired headset: only a Bluetooth adapter ({adapters})", adapters=", ".join(adapters)),
                Fault.SITE,
                detail=_("The configuration expects {expected}, but the only headset hardware on this "
                         "workstation is Bluetooth. Cheap Bluetooth headsets drop out and crackle when "
                         "other radios or furniture get in the way.", expected=expected_words),
                evidence=dict(context, bluetooth_adapters=adapters,
                              bluetooth_controllers=facts.get("bluetooth_controllers", []),
                              see="bluetooth.interference"),
                remedy=[step(_("Check the Bluetooth headset's link:"),
                             "diagnose run --only bluetooth.interference"),
                        step(_("For a steady call, plug in {expected}.", expected=expected_words))])]

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
            title = _("Headset unplugged: {name} was last seen on USB port {port}", name=name,
                      port=last["bus_path"])
            if last.get("disconnected_at"):
                detail = _("No headset is plugged into this workstation. The kernel log shows {name} "
                           "({id}) on USB port {port}, disconnected at {time}.", name=name,
                           id=model_id(last), port=last["bus_path"], time=last["disconnected_at"])
            else:
                detail = _("No headset is plugged into this workstation. The kernel log shows {name} "
                           "({id}) on USB port {port}, connected at {time}, and it is gone now.",
                           name=name, id=model_id(last), port=last["bus_path"], time=when)
            what = f"{name} ({model_id(last)})"
        else:
            title = _no_headset_title(kind, vid, pid, vendors)
            detail = (_("The configuration expects {expected}; no USB headset is plugged in, and the "
                        "kernel log names none.", expected=expected_words) if log.get("source") else
                      _("The configuration expects {expected}; no USB headset is plugged in.",
                        expected=expected_words))
            what = expected_words
        others = [f"{e['product'] or 'USB device'} ({e['id']})" for e in context["usb_audio"]]
        if others:
            detail = join(" ", [detail, _("USB audio that is not a headset: {devices}.",
                                          devices=", ".join(others))])
        return Finding(
            self.name, "headset", Status.FAIL, title, Fault.SITE, detail=detail, evidence=evidence,
            remedy=[step(_("Plug {what} into a USB port of this PC.", what=what)),
                    step(_("If it is plugged in, try another port or cable; this must list it:"),
                         "lsusb")])
