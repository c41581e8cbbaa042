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
from diagnose.checks.telephony.model import CHECK, chan_words, db, for_channels, number, where
from diagnose.i18n import N_, Message, _
from diagnose.model import Fault, Finding, Status, step

NAMES = {"rxgain": N_("Receive gain"), "txgain": N_("Transmit gain"),
         "hwrxgain": N_("Hardware receive gain"), "hwtxgain": N_("Hardware transmit gain")}
# The same names inside a sentence.
NAMES_IN = {"rxgain": N_("receive gain"), "txgain": N_("transmit gain"),
            "hwrxgain": N_("hardware receive gain"), "hwtxgain": N_("hardware transmit gain")}
HEARS = {"rx": N_("what agents hear from the line"), "tx": N_("what callers hear")}
WHY_LIMITS = N_("G.711, the codec on the line, saturates at +3 dBm0 and speech at the nominal "
                "-20 dBm0 has peaks 12-15 dB higher, so above about +6 dB a loud talker's peaks "
                "hit that ceiling and clip (crackle, hiss); below about -6 dB speech sounds faint "
                "and DTMF and caller ID detection become unreliable")


def _effect(value: float, hi: float) -> Message:
    return _("speech will clip and crackle") if value > hi else _("speech will sound faint")


def _set_cmd(kind: str, direction: str, chans: list[int], value: float) -> str:
    """One shell command setting the live gain of *chans* (``dahdi set swgain|hwgain``)."""
    if len(chans) == 1:
        return f'asterisk -rx "dahdi set {kind} {direction} {chans[0]} {value:g}"'
    return (f"for ch in {' '.join(map(str, chans))}; do asterisk -rx \"dahdi set {kind} {direction} "
            f"$ch {value:g}\"; done")


def file_limits(chans: dict[int, dict[str, Any]], lo: float, hi: float) -> list[Finding]:
    groups: dict[tuple, list[int]] = {}
    seen: dict[tuple, dict[str, Any]] = {}
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
            seen[k] = v
    out = []
    for (key, value, file, line), chs in groups.items():
        v = seen[(key, value, file, line)]
        direction = "rx" if "rx" in key else "tx"
        kind = "hwgain" if key.startswith("hw") else "swgain"
        out.append(Finding(
            CHECK, f"{key}:{ranges(chs)}", Status.WARN,
            for_channels(chs, N_("{name} {value} on channel {channels}: {effect}"),
                  N_("{name} {value} on channels {channels}: {effect}"), name=_(NAMES[key]),
                  value=db(value), effect=_effect(value, hi)), Fault.UNDETERMINED,
            detail=_("{key} = {value} is set in {file} line {line} ([{section}]) and applies to the "
                     "`channel =>` lines that follow it: {channels}. It changes {hears}. The limits "
                     "are {lo} .. {hi} ([telephony] min_gain_db, max_gain_db): {why}. The file alone "
                     "does not say who set it; with an acceptance baseline, config.drift names the "
                     "change and its author.", key=key, value=v["value"], file=file, line=line,
                     section=v["section"], channels=chan_words(chs), hears=_(HEARS[direction]),
                     lo=db(lo), hi=db(hi), why=_(WHY_LIMITS)),
            evidence={"file": file, "key": key, "line": line, "section": v["section"], "value": value,
                      "text": v["text"], "channels": chs, "min_gain_db": lo, "max_gain_db": hi},
            remedy=[step(_("Set {key}=0.0 in {file} line {line} (the default of chan_dahdi and "
                           "dahdi_genconf), or put back the accepted file:", key=key, file=file, line=line),
                         f"diagnose baseline restore {file}"),
                    step(_("Apply it when no calls are up (a restart drops DAHDI calls):"),
                         'asterisk -rx "dahdi restart"'),
                    step(_("Or at once, without a restart:"), _set_cmd(kind, direction, chs, 0.0))]))
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
            setting = f"{p}={raw}"
            args = dict(driver=drv, setting=setting, value=db(value), kind=kind,
                        hears=_(HEARS[direction]), lo=db(lo), hi=db(hi), why=_(WHY_LIMITS))
            out.append(Finding(
                CHECK, f"{drv}.{p}", Status.WARN,
                for_channels(chs, N_("{kind} port hardware gain {value} ({driver} {setting}) on channel "
                              "{channels}: {effect}"),
                      N_("{kind} port hardware gain {value} ({driver} {setting}) on channels "
                         "{channels}: {effect}"), kind=kind, value=db(value), driver=drv,
                      setting=setting, effect=_effect(value, hi)), Fault.UNDETERMINED,
                detail=(_("The {driver} driver runs with {setting} (tenths of a dB: {value}), set in "
                          "{file} line {line}. It changes {hears} on every {kind} port. The limits are "
                          "{lo} .. {hi}: {why}.", file=file, line=src["line"], **args) if src else
                        _("The {driver} driver runs with {setting} (tenths of a dB: {value}), not set in "
                          "/etc/modprobe.d (given on the modprobe command line or by a script). It "
                          "changes {hears} on every {kind} port. The limits are {lo} .. {hi}: {why}.",
                          **args)),
                evidence={"file": file, "key": p, "line": src["line"] if src else None,
                          "text": src["text"] if src else None, "module": drv, "value": value,
                          "raw": raw, "channels": chs, "min_gain_db": lo, "max_gain_db": hi},
                remedy=[step(_("Remove {setting} from {file} line {line}", setting=setting, file=file,
                               line=src["line"]) if src else
                             _("Remove {setting} from where the driver is loaded", setting=setting)),
                        step(_("Reload the driver when no calls are up:"),
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
    seen: dict[tuple, dict[str, Any]] = {}
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
            seen[k] = v
    out = []
    for (key, now, was, file, line), chs in groups.items():
        direction = "rx" if "rx" in key else "tx"
        kind = "hwgain" if key.startswith("hw") else "swgain"
        now_s = _("disabled") if now is None else db(now)
        if was is None and key.startswith("hw"):
            was_s = _("not set (disabled)")
        else:
            was_s = db(was or 0.0) if line else _("{value} (not set: the default)", value=db(was or 0.0))
        limit = ""
        if now is not None and not lo <= now <= hi:
            limit = _(" The live value is outside {lo} .. {hi}: {effect}.", lo=db(lo), hi=db(hi),
                      effect=_effect(now, hi))
        out.append(Finding(
            CHECK, f"live-{key}:{ranges(chs)}", Status.WARN,
            for_channels(chs, N_("{name} on channel {channels} is {now} live but {was} in {file}: changed at "
                          "the Asterisk console and not saved"),
                  N_("{name} on channels {channels} is {now} live but {was} in {file}: changed at "
                     "the Asterisk console and not saved"),
                  name=_(NAMES[key]), now=now_s, was=was_s, file=file), Fault.SITE,
            detail=for_channels(chs, N_("Asterisk reports {name} {now} for channel {channels} (`dahdi show "
                                 "channel`), while {file} gives {was}. Someone changed it at the "
                                 "Asterisk console (`dahdi set {kind}`); it lasts until Asterisk "
                                 "restarts, and no file or baseline records it. It changes "
                                 "{hears}.{limit}"),
                         N_("Asterisk reports {name} {now} for channels {channels} (`dahdi show "
                            "channel`), while {file} gives {was}. Someone changed it at the "
                            "Asterisk console (`dahdi set {kind}`); it lasts until Asterisk "
                            "restarts, and no file or baseline records it. It changes "
                            "{hears}.{limit}"),
                         name=_(NAMES_IN[key]), now=now_s, file=where(file, line), was=was_s,
                         kind=kind, hears=_(HEARS[direction]), limit=limit),
            evidence={"file": file, "key": key, "line": line, "live": now, "configured": was,
                      "channels": chs, "text": seen[(key, now, was, file, line)].get("text"),
                      "min_gain_db": lo, "max_gain_db": hi},
            remedy=[step(_("Put it back now:"), _set_cmd(kind, direction, chs, was or 0.0))]
            + ([step(_("Or, if {now} is wanted, write {setting} in {file} so that a restart keeps it",
                       now=now_s, setting=f"{key}={now:g}", file=file))] if now is not None else [])))
    return out


def judge_gains(facts: dict[str, Any], cfg: dict[str, Any], chans: dict[int, dict[str, Any]]) -> list[Finding]:
    lo, hi = float(cfg["min_gain_db"]), float(cfg["max_gain_db"])
    return file_limits(chans, lo, hi) + module_limits(facts, chans, lo, hi) + live_differs(facts, chans, lo, hi)
