"""audio.settings: has someone changed the sound settings of this workstation?

"No sound, nobody hears us" was, more than once, a mixer a manager had
changed to watch a film: the microphone muted, the volume at zero, or the
default output moved from the headset to the speakers. The probe reads the
sound server (PulseAudio, or PipeWire through its pulse protocol) with
pulsectl: defaults, devices, mute, volume and the device properties that say
which one is the headset. When no sound server runs it reads the ALSA mixer
with ``amixer``. It never changes a setting; the judge prints the ``pactl``
or ``amixer`` command that puts each one back.
"""

from __future__ import annotations

import os
import pwd
import re

from typing import Any


from diagnose.check import Check, Key, Needs
from diagnose.checks.audio.judge import (CAPTURE_CONTROLS, PLAYBACK_CONTROLS,  # noqa: F401 (API)
                                         is_headset, judge)
from diagnose.i18n import N_, _
from diagnose.model import Finding

NO_INDEX = 0xFFFFFFFF  # PA_INVALID_INDEX: "no card", "not a monitor"
PROPS = ("device.bus", "device.vendor.id", "device.product.id", "device.bus_path",
         "device.form_factor", "device.serial", "device.product.name", "device.class",
         "alsa.card", "api.alsa.card", "node.name")


# -- finding the sound server -------------------------------------------------

def server_candidates(host: Any, cfg: dict[str, Any], env: dict[str, str] | None = None) -> list[dict]:
    """Where a pulse-protocol server may listen, most specific first.

    A desktop session's server listens on $XDG_RUNTIME_DIR/pulse/native,
    that is /run/user/<uid>/pulse/native. Run as root (cron), this process
    has no session of its own, so it looks for the desktop users' sockets
    and their cookies (PulseAudio lets another uid in only with the server's
    cookie; PipeWire's pulse server does not ask for one).
    """
    env = dict(os.environ) if env is None else env
    out: list[dict] = []
    if cfg.get("server"):
        out.append({"via": "[audio] server", "address": cfg["server"]})
    if env.get("PULSE_SERVER"):
        out.append({"via": "PULSE_SERVER", "address": env["PULSE_SERVER"]})
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and host.exists(f"{runtime}/pulse/native"):
        out.append({"via": "XDG_RUNTIME_DIR", "address": f"unix:{runtime}/pulse/native"})
    if host.is_root_user() or cfg.get("user"):
        want = str(cfg.get("user") or "")
        try:
            uids = sorted((n for n in host.listdir("/run/user") if n.isdigit()), key=int)
        except OSError:
            uids = []
        for uid in uids:
            name = _user_name(int(uid))
            if want and want not in (uid, name):
                continue
            sock = f"/run/user/{uid}/pulse/native"
            if host.exists(sock):
                out.append({"via": f"desktop user {name or uid}", "address": f"unix:{sock}",
                            "uid": int(uid), "user": name, "cookie": _cookie_path(host, int(uid))})
    for sock in ("/run/pulse/native", "/var/run/pulse/native"):  # PulseAudio --system
        if host.exists(sock):
            out.append({"via": "system-wide server", "address": f"unix:{sock}"})
            break
    seen, unique = set(), []
    for c in out:
        if c["address"] not in seen:
            seen.add(c["address"])
            unique.append(c)
    return unique


def _user_name(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def _cookie_path(host: Any, uid: int) -> str | None:
    try:
        home = pwd.getpwuid(uid).pw_dir
    except KeyError:
        return None
    for p in (f"{home}/.config/pulse/cookie", f"{home}/.pulse-cookie"):
        if host.exists(p):
            return p
    return None


def _load_cookie(pulse: Any, path: str) -> None:
    # pulsectl does not wrap pa_context_load_cookie_from_file (libpulse >= 5);
    # it must run on the context before connecting.
    import ctypes
    import ctypes.util

    lib = ctypes.CDLL(ctypes.util.find_library("pulse") or "libpulse.so.0")
    fn = lib.pa_context_load_cookie_from_file
    fn.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    fn.restype = ctypes.c_int
    fn(ctypes.cast(pulse._ctx, ctypes.c_void_p), path.encode())


# -- reading it ----------------------------------------------------------------

def _percent(values: list[float]) -> list[int]:
    return [round(v * 100) for v in values]


def _port(obj: Any) -> dict | None:
    port = getattr(obj, "port_active", None)
    if port is None:
        return None
    # PA_PORT_AVAILABLE_*: 0 unknown, 1 no (jack empty), 2 yes
    available = {0: "unknown", 1: "no", 2: "yes"}.get(int(getattr(port, "available", 0) or 0), "unknown")
    return {"name": port.name, "description": port.description, "available": available}


def _device(obj: Any, cards: dict[int, dict]) -> dict[str, Any]:
    props = {k: obj.proplist[k] for k in PROPS if k in obj.proplist}
    card = cards.get(obj.card) if obj.card != NO_INDEX else None
    for k, v in (card or {}).items():
        props.setdefault(k, v)
    return {
        "name": obj.name,
        "description": obj.description,
        "mute": bool(obj.mute),
        "volume": _percent(list(obj.volume.values)),
        "port": _port(obj),
        "props": props,
    }


def read_pulse(address: str, cookie: str | None = None, timeout: float = 2.0) -> dict[str, Any]:
    """Defaults and devices of the pulse-protocol server at *address*."""
    import pulsectl

    class _Pulse(pulsectl.Pulse):
        # pulsectl's connect(timeout=) keeps polling until the timeout even
        # after the context is ready; stopping the loop on READY returns at once.
        def _pulse_state_cb(self, ctx: Any, userdata: Any) -> None:
            super()._pulse_state_cb(ctx, userdata)
            if self.connected:
                self._loop_stop = True

    pulse = _Pulse("diagnose", server=address, connect=False)
    try:
        if cookie:
            _load_cookie(pulse, cookie)
        try:
            pulse.connect(timeout=timeout)  # never autospawn: a check starts nothing
        except pulsectl.PulseError:
            # pulsectl says "Timed-out" for every failure; libpulse knows why.
            from pulsectl import _pulsectl

            why = _pulsectl.pa.strerror(_pulsectl.pa.context_errno(pulse._ctx))
            raise ConnectionError(f"cannot connect to {address}: {why}") from None
        info = pulse.server_info()
        cards = {c.index: {k: c.proplist[k] for k in PROPS if k in c.proplist}
                 for c in pulse.card_list()}
        sinks = [_device(s, cards) for s in pulse.sink_list()]
        sources = []
        for s in pulse.source_list():
            d = _device(s, cards)
            d["monitor_of"] = None if s.monitor_of_sink == NO_INDEX else s.monitor_of_sink_name
            sources.append(d)
        return {
            "server_name": info.server_name,
            "server_version": info.server_version,
            "user": info.user_name,
            "default_sink": info.default_sink_name,
            "default_source": info.default_source_name,
            "sinks": sinks,
            "sources": sources,
        }
    finally:
        pulse.close()


_AMIXER_CONTROL = re.compile(r"^Simple mixer control '(?P<name>[^']*)',(?P<index>\d+)")
_AMIXER_VALUE = re.compile(r"^\s+(?P<chan>[^:]+): (?P<kind>Playback|Capture)?\s*(?P<raw>-?\d+)?"
                           r"(?: \[(?P<pct>\d+)%\])?(?: \[[^\]]*dB\])?(?: \[(?P<sw>on|off)\])?\s*$")


def parse_amixer(text: str) -> list[dict[str, Any]]:
    """Controls from ``amixer -c N scontents``: per control, its playback
    and capture percent (loudest channel) and switch (on when any is on)."""
    controls: list[dict[str, Any]] = []
    cur: dict[str, Any] | None = None
    caps = ""
    for line in text.splitlines():
        m = _AMIXER_CONTROL.match(line)
        if m:
            cur = {"name": m["name"], "index": int(m["index"])}
            controls.append(cur)
            continue
        if cur is None:
            continue
        if line.strip().startswith("Capabilities:"):
            caps = line
            continue
        v = _AMIXER_VALUE.match(line)
        if not v or v["chan"].strip() in ("Limits", "Playback channels", "Capture channels"):
            continue
        kind = (v["kind"] or ("Capture" if "cvolume" in caps or "cswitch" in caps else "Playback")).lower()
        side = cur.setdefault(kind, {"percent": None, "switch": None})
        if v["pct"] is not None:
            side["percent"] = max(side["percent"] or 0, int(v["pct"]))
        if v["sw"] is not None:
            side["switch"] = "on" if v["sw"] == "on" or side["switch"] == "on" else "off"
    return [c for c in controls if "playback" in c or "capture" in c]


def read_alsa(host: Any) -> dict[str, Any]:
    """ALSA cards (/proc/asound/cards) and their mixer controls via amixer."""
    text = host.read_text("/proc/asound/cards", missing="")
    cards = []
    for m in re.finditer(r"^\s*(\d+) \[(\S+)\s*\]: (.*)$", text, re.M):
        number, card_id, desc = m.groups()
        res = host.run(["amixer", "-c", number, "scontents"], timeout=3.0)
        entry = {"card": int(number), "id": card_id, "description": desc.strip(),
                 "controls": parse_amixer(res.stdout) if res.ok else []}
        if not res.ok:
            entry["error"] = (res.stderr or "amixer failed").strip()[:200]
        cards.append(entry)
    return {"cards": cards}


def _has_alsa(host: Any) -> bool:
    cards = host.read_text("/proc/asound/cards", missing="")
    return bool(re.search(r"^\s*\d+ \[", cards, re.M)) and host.which("amixer") is not None


class AudioSettings(Check):
    name = "audio.settings"
    summary = N_("default source/sink is the headset, mic not muted, volume not zero (PulseAudio/PipeWire)")
    section = "audio"
    needs = Needs(role="workstation", live=True)
    timeout = 5.0
    # The mixer state ALSA restores at boot and the sound servers' config:
    # "no sound" was a mixer changed to watch a film.
    watches = ("/var/lib/alsa/asound.state", "/etc/asound.conf", "/etc/pulse/*.conf", "/etc/pulse/*.pa",
               "/etc/pipewire/*.conf", "/etc/pipewire/*.conf.d/*.conf", "/etc/wireplumber/**/*.conf",
               "/etc/wireplumber/**/*.lua")
    stable = ("default_sink", "default_source")
    schema = {
        "min_volume_percent": Key(int, 10, "a microphone or speaker volume at or below this is "
                                  "'near zero' (percent of normal, 100 = 0 dB)"),
        "headset": Key(str, "", "text in the headset's device name or description; default: "
                       "recognised from its USB vendor id and form factor"),
        "server": Key(str, "", "pulse server address (unix:/path or tcp:host); default: "
                      "$PULSE_SERVER, $XDG_RUNTIME_DIR, then desktop users' /run/user/<uid>"),
        "user": Key(str, "", "when run as root: whose sound server to read (name or uid); "
                    "default: every desktop user with a running one, lowest uid first"),
    }

    def applies(self, host: Any, cfg: dict[str, Any]) -> str | None:
        if server_candidates(host, cfg) or _has_alsa(host):
            return None
        return _("no sound server socket ($PULSE_SERVER, $XDG_RUNTIME_DIR/pulse/native, "
                 "/run/user/<uid>/pulse/native) and no ALSA sound card with amixer "
                 "(apt-get install alsa-utils); set [audio] server to point at one")

    def probe(self, host: Any, cfg: dict[str, Any]) -> dict[str, Any]:
        host.require_live("reading the sound server")
        tried = []
        for cand in server_candidates(host, cfg):
            try:
                state = read_pulse(cand["address"], cand.get("cookie"))
            except Exception as exc:  # pulsectl raises PulseError and ctypes errors
                tried.append({"via": cand["via"], "address": cand["address"],
                              "error": f"{type(exc).__name__}: {exc}"})
                continue
            return {"backend": "pulse", "via": cand["via"], "address": cand["address"],
                    "desktop_user": cand.get("user"), "desktop_uid": cand.get("uid"),
                    "tried": tried, **state}
        facts: dict[str, Any] = {"backend": None, "tried": tried}
        if _has_alsa(host):
            facts.update(backend="alsa", alsa=read_alsa(host))
        return facts

    def judge(self, facts: dict[str, Any], cfg: dict[str, Any]) -> list[Finding]:
        return judge(facts, cfg)
