"""Gain findings: configured gains outside the limits, driver gains outside
them, and live gains that differ from the files (changed at the Asterisk
console with ``dahdi set swgain``/``hwgain`` and not saved).

Every finding about a configured value carries ``evidence.file`` and
``evidence.key`` (and ``line``), so that a config.drift finding about that
file and key becomes its root cause.
"""

from __future__ import annotations

from typing import Any

from diagnose.checks.telephony.dahdicfg import ranges
from diagnose.checks.telephony.model import CHECK, chan_words, db, number
from diagnose.model import Fault, Finding, Status

NAMES = {"rxgain": "Receive gain", "txgain": "Transmit gain",
         "hwrxgain": "Hardware receive gain", "hwtxgain": "Hardware transmit gain"}
HEARS = {"rx": "what agents hear from the line", "tx": "what callers hear"}
WHY_LIMITS = ("G.711, the codec on the line, saturates at +3 dBm0 and speech at the nominal "
              "-20 dBm0 has peaks 12-15 dB higher, so above about +6 dB a loud talker's peaks "
              "hit that ceiling and clip (crackle, hiss); below about -6 dB speech sounds faint "
              "and DTMF and caller ID detection become unreliable")


def _effect(value: float, hi: float) -> str:
    return "speech will clip and crackle" if value > hi else "speech will sound faint"


def _set_cmd(kind: str, direction: str, chans: list[int], value: float) -> str:
    """One shell command setting the live gain of *chans* (``dahdi set swgain|hwgain``)."""
    if len(chans) == 1:
        return f'asterisk -rx "dahdi set {kind} {direction} {chans[0]} {value:g}"'
    return (f"for ch in {' '.join(map(str, chans))}; do asterisk -rx \"dahdi set {kind} {direction} "
            f"$ch {value:g}\"; done")


def file_limits(chans: dict[int, dict[str, Any]], lo: float, hi: float) -> list[Finding]:
    groups: dict[tuple, list[int]] = {}
    where: dict[tuple, dict[str, Any]] = {}
    for ch, rec in sorted(chans.items()):
        if rec["conf"] is None:
            continue
        for key in NAMES:
            v = rec["conf"]["values"].get(key)
            value = number(v["value"]) if v else None
            if value is None or lo <= value <= hi:
                continue
            k = (key, value, v["file"], v["line"])
            groups.setdefault(k, []).append(ch)
            where[k] = v
    out = []
    for (key, value, file, line), chs in groups.items():
        v = where[(key, value, file, line)]
        direction = "rx" if "rx" in key else "tx"
        kind = "hwgain" if key.startswith("hw") else "swgain"
        out.append(Finding(
            CHECK, f"{key}:{ranges(chs)}", Status.WARN,
            f"{NAMES[key]} {db(value)} on {chan_words(chs)}: {_effect(value, hi)}", Fault.UNDETERMINED,
            detail=(f"{key} = {v['value']} is set in {file} line {line} ([{v['section']}]) and applies "
                    f"to the `channel =>` lines that follow it: {chan_words(chs)}. It changes "
                    f"{HEARS[direction]}. The limits are {db(lo)} .. {db(hi)} ([telephony] min_gain_db, "
                    f"max_gain_db): {WHY_LIMITS}. The file alone does not say who set it; with an "
                    f"acceptance baseline, config.drift names the change and its author."),
            evidence={"file": file, "key": key, "line": line, "section": v["section"], "value": value,
                      "text": v["text"], "channels": chs, "min_gain_db": lo, "max_gain_db": hi},
            remedy=[(f"Set {key}=0.0 in {file} line {line} (the default of chan_dahdi and "
                     f"dahdi_genconf), or put back the accepted file:", f"diagnose baseline restore {file}"),
                    ("Apply it when no calls are up (a restart drops DAHDI calls):",
                     'asterisk -rx "dahdi restart"'),
                    ("Or at once, without a restart:", _set_cmd(kind, direction, chs, 0.0))]))
    return out


def module_limits(facts: dict[str, Any], chans: dict[int, dict[str, Any]], lo: float,
                  hi: float) -> list[Finding]:
    """Driver parameters fxorxgain/fxotxgain/fxsrxgain/fxstxgain (tenths of a dB)."""
    mods = facts.get("modules", {})
    out = []
    for drv, params in sorted(mods.get("parameters", {}).items()):
        for p in ("fxorxgain", "fxotxgain", "fxsrxgain", "fxstxgain"):
            raw = params.get(p)
            value = number(raw)
            if value is None:
                continue
            value /= 10.0
            kind = p[:3].upper()
            chs = sorted(c for c, r in chans.items() if r["kind"] == kind and r["on_card"])
            if lo <= value <= hi or not chs:
                continue
            opts = [o for o in mods.get("modprobe", []) if o["module"] == drv and p in o["options"]]
            src = opts[-1] if opts else None
            file = src["file"] if src else f"/sys/module/{drv}/parameters/{p}"
            direction = "rx" if "rx" in p else "tx"
            out.append(Finding(
                CHECK, f"{drv}.{p}", Status.WARN,
                f"{kind} port hardware gain {db(value)} ({drv} {p}={raw}) on {chan_words(chs)}: "
                f"{_effect(value, hi)}", Fault.UNDETERMINED,
                detail=(f"The {drv} driver runs with {p}={raw} (tenths of a dB: {db(value)}), "
                        + (f"set in {file} line {src['line']}" if src else
                           "not set in /etc/modprobe.d (given on the modprobe command line or "
                           "by a script)")
                        + f". It changes {HEARS[direction]} on every {kind} port. The limits are "
                          f"{db(lo)} .. {db(hi)}: {WHY_LIMITS}."),
                evidence={"file": file, "key": p, "line": src["line"] if src else None,
                          "text": src["text"] if src else None, "module": drv, "value": value,
                          "raw": raw, "channels": chs, "min_gain_db": lo, "max_gain_db": hi},
                remedy=[(f"Remove {p}={raw} from " + (f"{file} line {src['line']}" if src else
                                                       "where the driver is loaded"), None),
                        ("Reload the driver when no calls are up:",
                         f"systemctl stop asterisk; modprobe -r {drv}; modprobe {drv}; dahdi_cfg -vv; "
                         f"fxotune -s; systemctl start asterisk")]))
    return out


def _file_value(rec: dict[str, Any], key: str, default_file: str) -> tuple[float | None, dict[str, Any]]:
    v = rec["conf"]["values"].get(key) if rec["conf"] else None
    if v is None:
        return (0.0 if not key.startswith("hw") else None), {"file": default_file, "line": None,
                                                             "text": None, "value": None}
    if key.startswith("hw") and str(v["value"]).strip().lower() == "disabled":
        return None, v
    return number(v["value"]), v


def live_differs(facts: dict[str, Any], chans: dict[int, dict[str, Any]], lo: float,
                 hi: float) -> list[Finding]:
    default_file = facts.get("paths", {}).get("chan_dahdi_conf", "chan_dahdi.conf")
    groups: dict[tuple, list[int]] = {}
    where: dict[tuple, dict[str, Any]] = {}
    for ch, rec in sorted(chans.items()):
        live = rec["live"]
        if not live or rec["conf"] is None:
            continue
        for key, src in (("rxgain", ("sw_gain", "rx")), ("txgain", ("sw_gain", "tx")),
                         ("hwrxgain", ("hw_gain", "rx")), ("hwtxgain", ("hw_gain", "tx"))):
            if src[0] not in live:
                continue
            now = live[src[0]].get(src[1])
            was, v = _file_value(rec, key, default_file)
            same = (now is None and was is None) or (
                now is not None and was is not None and abs(now - was) < 0.05)
            if same or (now is None and src[0] == "sw_gain"):
                continue
            k = (key, now, was, v["file"], v["line"])
            groups.setdefault(k, []).append(ch)
            where[k] = v
    out = []
    for (key, now, was, file, line), chs in groups.items():
        direction = "rx" if "rx" in key else "tx"
        kind = "hwgain" if key.startswith("hw") else "swgain"
        now_s = "disabled" if now is None else db(now)
        was_s = ("not set (disabled)" if was is None and key.startswith("hw")
                 else db(was or 0.0) + ("" if line else " (not set: the default)"))
        limit = ""
        if now is not None and not lo <= now <= hi:
            limit = f" The live value is outside {db(lo)} .. {db(hi)}: {_effect(now, hi)}."
        out.append(Finding(
            CHECK, f"live-{key}:{ranges(chs)}", Status.WARN,
            f"{NAMES[key]} on {chan_words(chs)} is {now_s} live but {was_s} in {file}: changed at "
            f"the Asterisk console and not saved", Fault.SITE,
            detail=(f"Asterisk reports {NAMES[key].lower()} {now_s} for {chan_words(chs)} "
                    f"(`dahdi show channel`), while {file}" + (f" line {line}" if line else "")
                    + f" gives {was_s}. Someone changed it at the Asterisk console (`dahdi set "
                      f"{kind}`); it lasts until Asterisk restarts, and no file or baseline "
                      f"records it. It changes {HEARS[direction]}.{limit}"),
            evidence={"file": file, "key": key, "line": line, "live": now, "configured": was,
                      "channels": chs, "text": where[(key, now, was, file, line)].get("text"),
                      "min_gain_db": lo, "max_gain_db": hi},
            remedy=[("Put it back now:", _set_cmd(kind, direction, chs, was or 0.0))]
            + ([(f"Or, if {now_s} is wanted, write {key}={now:g} in {file} so that a restart "
                 f"keeps it", None)] if now is not None else [])))
    return out


def judge_gains(facts: dict[str, Any], cfg: dict[str, Any], chans: dict[int, dict[str, Any]]) -> list[Finding]:
    lo, hi = float(cfg["min_gain_db"]), float(cfg["max_gain_db"])
    return file_limits(chans, lo, hi) + module_limits(facts, chans, lo, hi) + live_differs(facts, chans, lo, hi)
