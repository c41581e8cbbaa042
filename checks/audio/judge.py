"""audio.settings: the judgement of what the sound server (or the ALSA mixer)
holds: default devices, mute and volume, a pure function of the facts."""

from __future__ import annotations

import shlex
from typing import Any

from diagnose.checks.headset.vendors import HEADSET_ONLY, vendor_table
from diagnose.i18n import N_, _, join
from diagnose.model import Fault, Finding, Status, step

NAME = "audio.settings"
CAPTURE_CONTROLS = ("Capture", "Mic", "Internal Mic", "Headset Mic", "Front Mic", "Rear Mic")
PLAYBACK_CONTROLS = ("Master", "PCM", "Speaker", "Headphone", "Headset")
ROLES = {"speaker": N_("speaker"), "microphone": N_("microphone")}
SIDES = {"capture": N_("capture"), "playback": N_("playback")}


def is_headset(dev: dict[str, Any], vendors: dict[str, str], match: str) -> bool:
    """Whether a sink/source is the headset, from its device properties."""
    props = dev.get("props", {})
    if match:
        return match.lower() in f"{dev['name']} {dev.get('description') or ''}".lower()
    if props.get("device.form_factor") in ("headset", "handset"):
        return True
    vid = (props.get("device.vendor.id") or "").lower()
    return props.get("device.bus") == "usb" and vid in vendors and (
        vid in HEADSET_ONLY or "headset" in (dev.get("description") or "").lower())


def _q(name: str) -> str:
    return shlex.quote(name)


def _tried(tried: list[dict]) -> str:
    return "; ".join(f"{t['address']}: {t['error']}" for t in tried)


def judge(facts: dict[str, Any], cfg: dict[str, Any]) -> list[Finding]:
    if facts.get("backend") == "pulse":
        return _judge_pulse(facts, cfg)
    if facts.get("backend") == "alsa":
        return _judge_alsa(facts, cfg)
    tried = facts.get("tried", [])
    if tried and all("Access denied" in t["error"] for t in tried):
        return [Finding(
            NAME, "sound-server", Status.WARN,
            _("Sound settings not readable: the sound server refused diagnose"), Fault.UNDETERMINED,
            detail=_("The desktop's sound server runs but refused this process (PulseAudio lets "
                     "another user in only with the session's cookie, and none was found): {tried}",
                     tried=_tried(tried)),
            evidence={"tried": tried},
            remedy=[step(_("Run the check as the desktop user, or as root with the user's home "
                           "readable (~/.config/pulse/cookie), or set [audio] user:"),
                         "diagnose run --only audio.settings")])]
    return [Finding(
        NAME, "sound-server", Status.FAIL,
        _("Sound server not answering on this workstation"), Fault.UNDETERMINED,
        detail=_("A sound server socket exists but nothing answered on it, and there is no ALSA mixer "
                 "to read: the softphone cannot play or record either. {tried}", tried=_tried(tried)),
        evidence={"tried": tried},
        remedy=[step(_("As the desktop user, restart the sound server (PipeWire):"),
                     "systemctl --user restart pipewire-pulse"),
                step(_("Or (PulseAudio):"), "pulseaudio -k; pulseaudio --start"),
                step(_("Or log out and in again."))])]


def pactl(facts: dict[str, Any]) -> str:
    """How to run pactl against the server that was read, from a shell
    like the one diagnose ran in (root from cron, or the user)."""
    if facts.get("desktop_user") and facts.get("desktop_uid") is not None:
        return (f"runuser -u {_q(facts['desktop_user'])} -- env "
                f"XDG_RUNTIME_DIR=/run/user/{facts['desktop_uid']} pactl")
    if facts.get("via") == "[audio] server":
        return f"PULSE_SERVER={_q(facts['address'])} pactl"
    return "pactl"


def _judge_pulse(facts: dict[str, Any], cfg: dict[str, Any]) -> list[Finding]:
    vendors = vendor_table()
    match = cfg.get("headset") or ""
    low = int(cfg.get("min_volume_percent", 10))
    server = {"server": f"{facts.get('server_name')} {facts.get('server_version')}",
              "via": facts.get("via"), "address": facts.get("address")}
    sinks = facts.get("sinks", [])
    sources = [s for s in facts.get("sources", []) if not s.get("monitor_of")]
    out = []
    for role, devices, default_name, kind in (
            ("speaker", sinks, facts.get("default_sink"), "sink"),
            ("microphone", sources, facts.get("default_source"), "source")):
        out.append(_judge_role(role, kind, devices, default_name, facts, vendors, match, low, server))
    return out


def _judge_role(role: str, kind: str, devices: list[dict], default_name: str | None,
                facts: dict[str, Any], vendors: dict[str, str], match: str, low: int,
                server: dict[str, Any]) -> Finding:
    cmd = pactl(facts)
    role_word = _(ROLES[role])
    default = next((d for d in devices if d["name"] == default_name), None)
    # A default source that is a sink's monitor records what the speakers play.
    monitor = next((s for s in facts.get("sources", [])
                    if s["name"] == default_name and s.get("monitor_of")), None)
    headsets = [d for d in devices if is_headset(d, vendors, match)]
    problems: list[tuple[str, str, str | None]] = []  # (tag, why, command)
    target = default
    if headsets and default not in headsets:
        target = headsets[0]
        was = (_("the monitor of {device}", device=monitor["monitor_of"]) if monitor else
               default["description"] if default else _("not set"))
        problems.append((_("moved off the headset to {was}", was=was),
                         _("the default {role} is {was}, not the headset {headset}", role=role_word,
                           was=was, headset=target["description"]),
                         f"{cmd} set-default-{kind} {_q(target['name'])}"))
    if target is None:
        return _no_device(role, kind, devices, default_name, monitor, server, facts)
    if target["mute"]:
        problems.append((_("muted"), _("{device} is muted", device=target["description"]),
                         f"{cmd} set-{kind}-mute {_q(target['name'])} 0"))
    loudest = max(target["volume"], default=0)
    if loudest <= low:
        problems.append((_("volume {volume}%", volume=loudest),
                         _("the {role} volume of {device} is {volume}%", role=role_word,
                           device=target["description"], volume=loudest),
                         f"{cmd} set-{kind}-volume {_q(target['name'])} 100%"))
    port = target.get("port") or {}
    jack = port.get("description") or port.get("name")
    if port.get("available") == "no":
        problems.append((_("jack empty"), _("nothing is plugged into {jack}", jack=jack), None))
    evidence = dict(server, device=_brief(target), default=default_name,
                    is_headset=target in headsets, headsets=[d["name"] for d in headsets],
                    min_volume_percent=low)
    if not problems:
        if headsets:
            title = (_("Speaker ready: {device} at {volume}%", device=target["description"],
                       volume=loudest) if role == "speaker" else
                     _("Microphone ready: {device} at {volume}%", device=target["description"],
                       volume=loudest))
        else:
            title = (_("Speaker ready: {device} at {volume}% (no headset among the devices)",
                       device=target["description"], volume=loudest) if role == "speaker" else
                     _("Microphone ready: {device} at {volume}% (no headset among the devices)",
                       device=target["description"], volume=loudest))
        return Finding(NAME, role, Status.OK, title, evidence=evidence)
    commands = [c for _t, _w, c in problems if c]
    steps = [step(_("Put the settings back:"), "; ".join(commands))] if commands else []
    if port.get("available") == "no":
        steps.append(step(_("Plug the headset into {jack}.", jack=jack)))
    tags = join(", ", [t for t, _w, _c in problems])
    if target is default:
        title = _("Sound settings changed on this workstation: {role} {what} ({device})",
                  role=role_word, what=tags, device=target["description"])
    else:
        title = _("Sound settings changed on this workstation: {role} {what}", role=role_word, what=tags)
    return Finding(
        NAME, role, Status.FAIL, title, Fault.SITE,
        detail=_("Someone changed the sound settings: {what}. The softphone plays and records through "
                 "these defaults.", what=join("; ", [w for _t, w, _c in problems])),
        evidence=evidence, remedy=steps)


def _no_device(role: str, kind: str, devices: list[dict], default_name: str | None,
               monitor: dict | None, server: dict[str, Any], facts: dict[str, Any]) -> Finding:
    evidence = dict(server, default=default_name, devices=[_brief(d) for d in devices],
                    missing_device=not devices)
    role_word = _(ROLES[role])
    if monitor and devices:
        return Finding(
            NAME, role, Status.FAIL,
            _("Sound settings changed on this workstation: the {role} is the monitor of {device}",
              role=role_word, device=monitor["monitor_of"]), Fault.SITE,
            detail=_("The default {role} records what the speakers play ({device}), not a microphone, "
                     "so callers hear the call itself.", role=role_word, device=default_name),
            evidence=evidence,
            remedy=[step(_("Put the setting back:"),
                         f"{pactl(facts)} set-default-{kind} {_q(devices[0]['name'])}")])
    if role == "speaker":
        title = _("No speaker on this workstation")
        detail = _("The sound server has no speaker device to use (default: {default}), so calls "
                   "have no sound.", default=default_name or _("none"))
    else:
        title = _("No microphone on this workstation")
        detail = _("The sound server has no microphone device to use (default: {default}), so calls "
                   "have no voice.", default=default_name or _("none"))
    return Finding(
        NAME, role, Status.FAIL, title, Fault.SITE, detail=detail, evidence=evidence,
        remedy=[step(_("Plug in the headset (see headset.presence).")),
                step(_("This must then list it:"), f"pactl list short {kind}s")])


def _judge_alsa(facts: dict[str, Any], cfg: dict[str, Any]) -> list[Finding]:
    low = int(cfg.get("min_volume_percent", 10))
    cards = facts.get("alsa", {}).get("cards", [])
    out = []
    for card in cards:
        issues, commands = [], []
        for c in card.get("controls", []):
            for side, names, on in (("capture", CAPTURE_CONTROLS, "cap"),
                                    ("playback", PLAYBACK_CONTROLS, "unmute")):
                val = c.get(side)
                if not val or c["name"] not in names:
                    continue
                ctl = _q(c["name"] if c["index"] == 0 else f"{c['name']},{c['index']}")
                if val.get("switch") == "off":
                    issues.append(_("{control} {side} switched off", control=c["name"], side=_(SIDES[side])))
                    commands.append(f"amixer -c {card['card']} sset {ctl} {on}")
                if val.get("percent") is not None and val["percent"] <= low:
                    issues.append(_("{control} {side} volume {volume}%", control=c["name"],
                                    side=_(SIDES[side]), volume=val["percent"]))
                    commands.append(f"amixer -c {card['card']} sset {ctl} 80%")
        subject = f"alsa:{card['id']}"
        ev = {"backend": "alsa", "card": card["card"], "id": card["id"],
              "description": card.get("description"), "controls": card.get("controls", []),
              "tried": facts.get("tried", []), "min_volume_percent": low}
        name = card.get("description") or card["id"]
        if issues:
            out.append(Finding(
                NAME, subject, Status.FAIL,
                _("Sound settings changed on this workstation: {what} ({card})",
                  what=join(", ", issues[:3]), card=name), Fault.SITE,
                detail=_("No sound server runs, and the ALSA mixer of card {card} has been changed: "
                         "{what}.", card=card["card"], what=join("; ", issues)),
                evidence=ev,
                remedy=[step(_("Put the mixer back:"), "; ".join(commands)),
                        step(_("Then keep it:"), "alsactl store")]))
        else:
            out.append(Finding(NAME, subject, Status.OK,
                               _("ALSA mixer of {card} looks normal", card=name), evidence=ev))
    if not out:
        out.append(Finding(NAME, "alsa", Status.FAIL, _("No sound card on this workstation"),
                           Fault.SITE, detail=_("Neither a sound server nor an ALSA card was found."),
                           evidence={"backend": "alsa", "tried": facts.get("tried", [])},
                           remedy=_("Plug in the headset (see headset.presence).")))
    return out


def _brief(d: dict[str, Any]) -> dict[str, Any]:
    return {"name": d["name"], "description": d.get("description"), "mute": d["mute"],
            "volume": d["volume"], "port": d.get("port"), "props": d.get("props", {})}
