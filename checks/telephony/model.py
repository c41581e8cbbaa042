"""The judge's view of the facts: one record per DAHDI channel joining what
the kernel shows (/proc/dahdi), what the configuration says (system.conf,
chan_dahdi.conf) and what Asterisk holds live. Pure functions of the facts.
"""

from __future__ import annotations

import re
from typing import Any

from diagnose.checks.telephony.dahdicfg import ranges
from diagnose.checks.telephony.procfs import PORT_OF_SIG
from diagnose.i18n import N_, Message, _

CHECK = "telephony.card"
SYS_PORT = {"fxsks": "FXO", "fxsls": "FXO", "fxsgs": "FXO", "fxoks": "FXS", "fxols": "FXS",
            "fxogs": "FXS"}
TRUE = {"yes", "true", "y", "t", "1", "on"}
FALSE = {"no", "false", "n", "f", "0", "off"}


def number(text: Any) -> float | None:
    """The leading number of a config value, as Asterisk's ``%f`` reads it."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    m = re.match(r"\s*([-+]?(?:\d+\.?\d*|\.\d+))", str(text or ""))
    return float(m[1]) if m else None


def db(value: float) -> Message:
    """``+9.5 dB`` (``+9,5 дБ``)."""
    return _("{value:+.1f} dB", value=value) if value else _("0.0 dB")


def for_channels(numbers: list[int], one: str, many: str, **args: Any) -> Message:
    """Message *one* or *many* (both marked with ``N_``) with ``{channels}``
    the channel list (``1-4,7``). A list reads as one channel or several,
    whatever its count ends in: Russian's plural rule for counts would make
    "channels 1-21" singular, so a list chooses by one-or-more instead."""
    return _(one if len(set(numbers)) == 1 else many, channels=ranges(numbers), **args)


def chan_words(numbers: list[int]) -> Message:
    """``channel 3`` / ``channels 1-4``, where a sentence names them on their
    own (after a colon, in parentheses)."""
    return for_channels(numbers, N_("channel {channels}"), N_("channels {channels}"))


def where(file: Any, line: Any) -> Any:
    """``/etc/x.conf line 35`` (the file alone when the line is unknown)."""
    return _("{file} line {line}", file=file, line=line) if line else file


def channels(facts: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """channel number -> joined record."""
    out: dict[int, dict[str, Any]] = {}
    for span in facts.get("proc", {}).get("spans", []):
        for pos, c in enumerate(span.get("channels", []), 1):
            sig = c.get("signalling")
            out[c["channel"]] = {
                "channel": c["channel"], "name": c.get("name"), "span": span.get("span"),
                "span_name": span.get("name"), "card": span.get("description"), "port": pos,
                "signalling": sig, "digital": bool(span.get("digital")),
                "kind": "digital" if span.get("digital") else PORT_OF_SIG.get(sig or ""),
                "alarms": list(c.get("alarms", [])), "ec": c.get("ec"), "in_use": c.get("in_use"),
                "proc_line": c.get("line"), "on_card": True,
                "conf": None, "system": None, "echocanceller": None, "live": None}
    sysconf = facts.get("system_conf", {})
    for s in sysconf.get("channels", []):
        rec = out.setdefault(s["channel"], _absent(s["channel"]))
        rec["system"] = s
        if rec["kind"] is None:
            rec["kind"] = SYS_PORT.get(s["key"]) or ("digital" if s["key"] in ("bchan", "dchan", "hardhdlc") else None)
    for e in sysconf.get("echocancellers", []):
        out.setdefault(e["channel"], _absent(e["channel"]))["echocanceller"] = e
    for c in facts.get("chan_dahdi", {}).get("channels", []):
        rec = out.setdefault(c["channel"], _absent(c["channel"]))
        rec["conf"] = c
        if rec["kind"] is None:
            sig = (c["values"].get("signalling") or {}).get("value", "").lower()
            rec["kind"] = {"fxs": "FXO", "fxo": "FXS"}.get(sig[:3]) or (
                "digital" if sig.startswith(("pri", "bri", "ss7", "mfcr2")) else None)
    for live in facts.get("live", {}).get("channels", []):
        if "error" not in live and isinstance(live.get("channel"), int) and live["channel"] in out:
            out[live["channel"]]["live"] = live
    return out


def _absent(ch: int) -> dict[str, Any]:
    return {"channel": ch, "name": None, "span": None, "span_name": None, "card": None, "port": None,
            "signalling": None, "digital": False, "kind": None, "alarms": [], "ec": None,
            "in_use": None, "proc_line": None, "on_card": False, "conf": None, "system": None,
            "echocanceller": None, "live": None}


def voice(rec: dict[str, Any]) -> bool:
    """The channel carries calls (configured for Asterisk, not a D-channel)."""
    if rec["system"] is not None and rec["system"].get("data"):
        return False
    if rec["signalling"] in ("Hardware-assisted HDLC", "HDLCFCS", "HDLCRAW", "HDLCNET", "MTP2"):
        return False
    return rec["conf"] is not None or rec["system"] is not None


def label(rec: dict[str, Any]) -> Message:
    """``channel 2 (WCTDM/0/1, port 2)`` for titles and details."""
    ch, name, port = rec["channel"], rec.get("name"), rec.get("port")
    if name and port:
        return _("channel {channel} ({name}, port {port})", channel=ch, name=name, port=port)
    if name:
        return _("channel {channel} ({name})", channel=ch, name=name)
    if port:
        return _("channel {channel} (port {port})", channel=ch, port=port)
    return _("channel {channel}", channel=ch)
