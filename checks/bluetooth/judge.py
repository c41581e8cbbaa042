"""The judge of bluetooth.interference: a pure function of facts and config.

One method per question a technician asks (is the adapter there, is the
headset here, is its signal strong enough, is the band crowded, is the call
on the narrowband profile, is it an approved model, does Wi-Fi share the
channel).
"""

from __future__ import annotations

import re
from typing import Any

from diagnose.checks.bluetooth.common import (
    CHECK,
    GOLDEN_RANGE_LOWER_DBM,
    HEADSET_ICONS,
    HEADSET_MINORS,
    MAJOR_AUDIO,
    WIDEBAND_CODECS,
)
from diagnose.checks.bluetooth.radio import freq_channel
from diagnose.i18n import N_, _, _n, join
from diagnose.model import Fault, Finding, Status, step


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


SOURCE_WORDS = {"conn-info": N_("read from the live link with btmgmt conn-info"),
                "discovery": N_("seen in this run's discovery scan"),
                "device1": N_("BlueZ's reading from its last scan")}


def _who(dev: dict[str, Any]) -> str:
    return _("{name} ({address})", name=dev.get("name") or _("unnamed device"), address=dev.get("address"))


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
            self.expected_why = (_n("expected = \"auto\": {n} Bluetooth headset paired",
                                    "expected = \"auto\": {n} Bluetooth headsets paired", len(paired))
                                 if paired else _("expected = \"auto\" and no Bluetooth headset is paired"))

    def add(self, subject: str, status: Status, title: str, evidence: dict[str, Any],
            detail: str = "", remedy: Any = "", fault: Fault | None = None) -> None:
        # evidence.kind names the question (adapter, headset, signal, radio,
        # profile, model, wifi) so attribution rules can select findings.
        if subject in ("adapter", "headset", "radio", "wifi"):
            kind = subject
        elif "/" in subject:
            kind = subject.rsplit("/", 1)[1]
        else:
            kind = "adapter" if any(a.get("name") == subject for a in self.adapters) else "signal"
        evidence = {"kind": kind, **evidence}
        self.out.append(Finding(check=CHECK, subject=subject, status=status,
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
                self.add("adapter", Status.FAIL, _("No Bluetooth adapter: the headset has nothing to connect to"),
                         ev, fault=Fault.SITE,
                         detail=_("BlueZ runs but lists no Bluetooth adapter, while a Bluetooth headset is "
                                  "expected ({why}). A USB Bluetooth dongle was probably unplugged, or "
                                  "Bluetooth is disabled in the BIOS.", why=self.expected_why),
                         remedy=[step(_("Plug the Bluetooth USB adapter back in (or enable Bluetooth in "
                                        "the BIOS); this must list it:"), "lsusb"),
                                 step(_("Then confirm:"), "bluetoothctl list")])
            else:
                self.add("adapter", Status.OK, _("No Bluetooth adapter (no Bluetooth headset expected)"), ev)
            return False
        any_on = any(a.get("powered") for a in self.adapters)
        for a in self.adapters:
            name = a.get("name")
            aev = dict(ev, adapters=[a])
            if a.get("powered"):
                self.add(name, Status.OK, _("Bluetooth adapter {name} is on", name=name), aev)
            elif any_on or not self.expected:
                self.add(name, Status.OK,
                         _("Bluetooth adapter {name} is off (not needed: another adapter is on)", name=name)
                         if any_on else
                         _("Bluetooth adapter {name} is off (not needed: no Bluetooth headset expected)",
                           name=name), aev)
            else:
                hard = any(k["hard"] for k in kill)
                soft = any(k["soft"] for k in kill)
                if hard:
                    why = _("a hardware switch blocks the radio (rfkill hard block)")
                    fix = [step(_("Turn the PC's wireless switch or Fn key back on, then:"),
                                "bluetoothctl power on")]
                elif soft:
                    why = _("the radio is switched off in software (rfkill soft block)")
                    fix = [step(_("Unblock the radio and switch it on:"),
                                "rfkill unblock bluetooth; bluetoothctl power on")]
                else:
                    why = _("the adapter was powered off (a desktop toggle or bluetoothctl power off)")
                    fix = [step(_("Switch it on (or switch Bluetooth on in the desktop settings):"),
                                "bluetoothctl power on")]
                self.add(name, Status.FAIL, _("Bluetooth adapter {name} is powered off", name=name), aev,
                         fault=Fault.SITE,
                         detail=_("The Bluetooth adapter {name} ({address}) is off, so no headset can "
                                  "connect, while one is expected ({expected}); {why}.", name=name,
                                  address=a.get("address"), expected=self.expected_why, why=why),
                         remedy=fix)
        return any_on

    def headset_present(self) -> None:
        if not self.expected:
            return
        paired = [d for d in self.audio if d.get("paired")]
        ev = {"connected": [_dev_evidence(d) for d in self.connected],
              "paired": [_dev_evidence(d) for d in paired], "expected_because": self.expected_why}
        if self.connected:
            names = join(", ", [_who(d) for d in self.connected])
            self.add("headset", Status.OK, _("Bluetooth headset connected: {names}", names=names), ev)
        elif paired:
            names = join(", ", [_who(d) for d in paired])
            self.add("headset", Status.WARN, _("Bluetooth headset not connected: {names} is paired",
                                               names=names),
                     ev, fault=Fault.SITE,
                     detail=_("A Bluetooth headset is paired with this PC but not connected: it is "
                              "switched off, its battery is flat, or it is out of range."),
                     remedy=[step(_("Switch the headset on and charge it, bring it next to the PC, then:"),
                                  f"bluetoothctl connect {paired[0].get('address')}")])
        else:
            self.add("headset", Status.WARN, _("No Bluetooth headset paired with this PC"), ev,
                     fault=Fault.SITE,
                     detail=_("A Bluetooth headset is expected ({why}) but none is paired.",
                              why=self.expected_why),
                     remedy=[step(_("Put the headset in pairing mode and look for it:"), "bluetoothctl scan on"),
                             step(_("Then pair, trust and connect it:"),
                                  "bluetoothctl pair <address>; bluetoothctl trust <address>; "
                                  "bluetoothctl connect <address>")])

    def signal(self, dev: dict[str, Any]) -> None:
        weak = self.cfg.get("weak_rssi_dbm", -75)
        dbm = estimated_dbm(dev)
        ev = dict(_dev_evidence(dev), weak_rssi_dbm=weak)
        who = _who(dev)
        if dbm is None:
            self.add(dev["address"], Status.OK, _("{who} connected; signal strength not measured", who=who), ev,
                     detail=_("BlueZ gives no RSSI for a connected classic device. Run as root with "
                              "btmgmt (package bluez) installed, or set [bluetooth] discovery_s, to "
                              "measure it."))
            return
        shown = (_("about {dbm} dBm at most", dbm=dbm) if dev.get("rssi_scale") == "golden_range"
                 else _("{dbm} dBm", dbm=dbm))
        source = dev.get("rssi_source")
        if dbm <= weak:
            self.add(dev["address"], Status.FAIL,
                     _("Weak Bluetooth signal from {name} ({shown}): distance or obstacles between the "
                       "headset and its adapter", name=dev.get("name"), shown=shown), ev, fault=Fault.SITE,
                     detail=_("{who} reaches its adapter {adapter} at {shown} ({source}), at or below "
                              "{weak} dBm. Weak links lose voice packets: audio floats, drops and "
                              "crackles.", who=who, adapter=dev.get("adapter"), shown=shown,
                              source=_(SOURCE_WORDS[source]) if source in SOURCE_WORDS else source,
                              weak=weak),
                     remedy=_("Keep the headset within a few metres of the PC with nothing metal in "
                              "between: move the Bluetooth adapter from the back of the PC to the desk "
                              "with a USB extension cable, away from metal cabinets and desk frames."))
        else:
            self.add(dev["address"], Status.OK, _("{name} connected, signal {shown}", name=dev.get("name"),
                                                  shown=shown), ev)

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
            names = join(", ", [_who(d) for d in in_range[:10]])
            if n > 10:
                names = _("{names} and {n} more", names=names, n=n - 10)
            shared = (_n(", shared with {n} 2.4 GHz Wi-Fi network", ", shared with {n} 2.4 GHz Wi-Fi networks",
                         len(wifi24)) if wifi24 else "")
            self.add("radio", Status.FAIL,
                     _("Radio congestion: {n} Bluetooth audio devices in range (more than {limit})", n=n,
                       limit=limit), ev,
                     fault=Fault.SITE,
                     detail=_("{n} Bluetooth audio devices are within radio range of this PC: {names}. They "
                              "all hop over the same 79 MHz of the 2.4 GHz band{shared}; voice links get "
                              "little or no retransmission, so collisions become dropouts and crackle.",
                              n=n, names=names, shared=shared),
                     remedy=_("Switch off or unpair the headsets that are not in use and keep at most "
                              "{limit} Bluetooth headsets per area; spread seats with Bluetooth headsets "
                              "apart, or give dense rows wired USB headsets.", limit=limit))
        else:
            how = (_("after a discovery window") if disc.get("ran") else
                   _("as last seen by BlueZ; set discovery_s for a fresh count"))
            self.add("radio", Status.OK, _n("{n} Bluetooth audio device in range (limit {limit}, {how})",
                                            "{n} Bluetooth audio devices in range (limit {limit}, {how})",
                                            n, limit=limit, how=how), ev)

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
                what = (_("A2DP, high quality playback") if "a2dp" in profile.lower() else
                        _("profile {profile}", profile=profile))
                self.add(subject, Status.OK, _("{name}: {what}", name=name, what=what), ev)
            elif codec in WIDEBAND_CODECS:
                self.add(subject, Status.OK, _("{name}: headset profile with wideband speech ({codec})",
                                               name=name, codec=codec), ev)
            else:
                self.add(subject, Status.WARN,
                         _("Narrowband headset profile on {name}: expect metallic or quacking audio", name=name),
                         ev, fault=Fault.SITE,
                         detail=_("The sound card {card} runs {profile} (HSP/HFP) with {codec}: 8 kHz "
                                  "narrowband CVSD voice, which sounds metallic and quacks when packets are "
                                  "lost. Wideband speech (mSBC) needs both headset and adapter to support "
                                  "HFP 1.6.", card=card.get("name"), profile=profile,
                                  codec=_("codec {codec}", codec=codec.upper()) if codec
                                  else _("no wideband codec reported")),
                         remedy=[step(_("Use a headset and Bluetooth adapter that support wideband speech "
                                        "(mSBC, HFP 1.6) and pick it where offered:"),
                                      f"pactl set-card-profile {card.get('name')} headset-head-unit-msbc"),
                                 step(_("Or give the seat a wired USB headset for calls."))])

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
                self.add(subject, Status.OK, _("{name} is an approved headset model ({match})", name=name,
                                               match=match), ev)
            else:
                self.add(subject, Status.WARN, _("Unapproved headset model: {name}", name=name), ev,
                         fault=Fault.SITE,
                         detail=_("{who} (id {id}) is not among the approved models ({approved}); "
                                  "unapproved headsets are the cheap ones that interfere and drop out.",
                                  who=_who(dev), id=ident or _("unknown"), approved=", ".join(approved)),
                         remedy=[step(_("Replace it with an approved model ({approved}) and remove it:",
                                        approved=", ".join(approved)),
                                      f"bluetoothctl remove {dev.get('address')}")])

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
                     _("Wi-Fi link on 2.4 GHz (channel {channel}) shares the air with the Bluetooth headset",
                       channel=ch), ev,
                     fault=Fault.SITE,
                     detail=_("This PC is on Wi-Fi network {ssid} at {freq} MHz while a Bluetooth headset "
                              "is connected; Wi-Fi and Bluetooth then share one radio band (often one chip), "
                              "and voice packets lose out.", ssid=repr(ln.get("ssid")), freq=ln.get("freq_mhz")),
                     remedy=_("Connect this PC by cable, or to the 5 GHz network of the same access point."))
        elif links24:
            self.add("wifi", Status.OK, _("Wi-Fi link on 2.4 GHz, but no Bluetooth headset connected"), ev)
        elif w.get("links"):
            self.add("wifi", Status.OK, _("This PC's Wi-Fi link is not on 2.4 GHz"), ev)
        else:
            self.add("wifi", Status.OK, _("This PC has no Wi-Fi link"), ev)
