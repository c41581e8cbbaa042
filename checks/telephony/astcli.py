"""Parser for ``asterisk -rx "dahdi show channel N"``: the values chan_dahdi
holds for a channel right now.

The text is ``dahdi_show_channel()`` in Asterisk's channels/chan_dahdi.c
(Asterisk 13 and later)::

    Channel: %d
    ...
    InAlarm: %d
    Signalling Type: %s
    ...
    Busy Detection: yes|no
        Busy Count: %d                     (only with busy detection)
    ...
    HW Gains (RX/TX): %.1f|Disabled/%.1f|Disabled
    SW Gains (RX/TX): %.2f/%.2f
    Dynamic Range Compression (RX/TX): %.2f/%.2f
    DND: yes|no
    Echo Cancellation:
    \\t%u taps
    \\t\\t%s: %dd                         (one per echo canceller parameter)
    \\t[(unless TDM bridged) ]currently ON|OFF
      -- or, when echocancel=no --
    \\tnone

Asterisk 1.8-11 wrote ``Gains (RX/TX): %.2f/%.2f`` instead of the two gain
lines; it is read as the software gains. Gains changed with ``dahdi set
swgain`` / ``dahdi set hwgain`` show here and in no file.
"""

from __future__ import annotations

import re
from typing import Any

_NOT_RUNNING = ("Unable to connect to remote asterisk", "No such file or directory",
                "Permission denied")


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_show_channel(text: str) -> dict[str, Any]:
    """Facts from one answer; ``{"error": ...}`` when Asterisk did not give
    the channel (not found, chan_dahdi not loaded, no such command)."""
    lines = text.splitlines()
    out: dict[str, Any] = {}
    if not any(ln.startswith("Channel: ") for ln in lines):
        first = next((ln.strip() for ln in lines if ln.strip()), "no output")
        return {"error": first[:200]}
    ec: dict[str, Any] | None = None
    for i, raw in enumerate(lines):
        line = raw.strip()
        key, sep, value = line.partition(": ")
        if line == "Echo Cancellation:":
            ec = {"taps": None, "on": None, "unless_bridged": None, "params": {}}
            for sub in lines[i + 1:]:
                if not sub.startswith("\t"):
                    break
                s = sub.strip()
                m = re.fullmatch(r"(\d+) taps", s)
                if m:
                    ec["taps"] = int(m[1])
                elif s == "none":
                    ec["taps"] = 0
                elif "currently" in s:
                    ec["on"] = s.endswith("ON")
                    ec["unless_bridged"] = s.startswith("(unless TDM bridged)")
                elif ":" in s:
                    pk, _, pv = s.partition(":")
                    ec["params"][pk.strip()] = pv.strip()
            out["echo_cancel"] = ec
            continue
        if not sep:
            continue
        if key == "Channel":
            out["channel"] = int(value) if value.strip().isdigit() else value
        elif key == "InAlarm":
            out["in_alarm"] = value.strip() not in ("0", "")
        elif key == "Signalling Type":
            out["signalling"] = value.strip()
        elif key == "Span":
            out["span"] = int(value) if value.strip().isdigit() else value
        elif key == "Context":
            out["context"] = value
        elif key == "Busy Detection":
            out["busy_detection"] = value.strip() == "yes"
        elif key == "Busy Count":
            out["busy_count"] = int(value) if value.strip().isdigit() else value
        elif key in ("SW Gains (RX/TX)", "Gains (RX/TX)"):
            rx, _, tx = value.partition("/")
            out["sw_gain"] = {"rx": _num(rx), "tx": _num(tx)}
        elif key == "HW Gains (RX/TX)":
            rx, _, tx = value.partition("/")
            out["hw_gain"] = {"rx": None if rx == "Disabled" else _num(rx),
                              "tx": None if tx == "Disabled" else _num(tx)}
        elif key == "Hookstate (FXS only)":
            out["hookstate"] = value.strip()
    return out


def not_running(text: str) -> bool:
    """The answer says there is no Asterisk to ask (or no right to ask it)."""
    return any(s in text for s in _NOT_RUNNING)
