"""The judge of telephony.card: card presence, FXO lines, digital spans,
echo cancellers, and (in ``gains.py``) gains. A pure function of the facts.
"""

from __future__ import annotations

from typing import Any

from diagnose.checks.telephony import gains
from diagnose.checks.telephony.dahdicfg import ranges
from diagnose.checks.telephony.model import CHECK, FALSE, chan_words, channels, label, voice
from diagnose.model import Fault, Finding, Status

# Span alarms, worst first, in plain words (what the alarm means, who acts).
SPAN_ALARMS = {
    "RED": (Status.FAIL, Fault.SITE, "red alarm: no signal or no framing from the line",
            "This end receives nothing usable: the cable is unplugged, broken or in the wrong "
            "port, or the carrier's or PBX's end of the line is down.",
            [("Check the cable at port {span} of the card and at the carrier's NTU (smart jack) "
              "or the PBX, and reseat it", None),
             ("A loopback plug in the card's port clears RED if the card is fine; then the line "
              "is at fault: call the carrier", None),
             ("Watch the alarm clear:", "cat {file}")]),
    "BLUE": (Status.FAIL, Fault.SITE, "blue alarm (AIS): the carrier sends all ones",
             "The carrier's equipment answers but has no service behind it: a fault upstream in "
             "the carrier's network, not in this server.",
             [("Call the carrier with the circuit ID: they are sending AIS (blue alarm) on span "
               "{span}", None), ("Watch the alarm clear:", "cat {file}")]),
    "YELLOW": (Status.FAIL, Fault.SITE, "yellow alarm: the far end does not receive us",
               "The far end reports (remote alarm indication) that it gets nothing usable from "
               "this card: the transmit pair or the cable towards it is faulty, or framing and "
               "coding differ from the carrier's.",
               [("Check the cable's transmit pair, and that span={span},... in {system_conf} uses "
                 "the carrier's framing and coding (T1: esf,b8zs; E1: ccs,hdb3,crc4)", None),
                ("Load a corrected span line:", "dahdi_cfg -vv"),
                ("Watch the alarm clear:", "cat {file}")]),
    "LOOP": (Status.WARN, Fault.SITE, "in loopback: the line is looped for a test",
             "The carrier (or a setting) loops the line back, so no call can pass.",
             [("Ask the carrier to release the loopback on span {span}; check {system_conf} for "
               "a loopback setting", None)]),
    "RECOVERING": (Status.WARN, Fault.SITE, "recovering from an alarm",
                   "The span was in alarm moments ago; if it keeps coming back, the line flaps.",
                   [("Run the check again in a minute; if the alarm returns, check the cable "
                     "and call the carrier", None), ("Watch it:", "cat {file}")]),
    "NOTOPEN": (Status.WARN, Fault.UNDETERMINED, "not opened: nothing uses its channels",
                "No program holds the span's channels open: Asterisk is not running or chan_dahdi "
                "does not configure them.",
                [("Check that Asterisk runs and that {chan_dahdi_conf} has channel => lines for "
                  "span {span}'s channels:", 'asterisk -rx "dahdi show status"')]),
}


# Kernel messages saying a module cannot load into this kernel.
BUILD_ERRORS = ("disagrees about version of symbol", "Unknown symbol", "Invalid module format",
                "version magic")


def _kind(span: dict[str, Any]) -> str:
    if span.get("framing") in ("ESF", "D4"):
        return "T1"
    if span.get("coding") == "HDB3" or span.get("crc4"):
        return "E1"
    if span.get("framing") == "CCS" and span.get("coding") == "AMI":
        return "BRI"
    return "digital"


def _lsmod(mods: dict[str, Any]) -> list[str] | None:
    loaded = mods.get("loaded")
    if loaded is None:
        return None
    return [f"{m['name']} {m['size']} {m['used']} {','.join(m['used_by']) or '-'}" for m in loaded]


def card_presence(facts: dict[str, Any], chans: dict[int, dict[str, Any]]) -> list[Finding]:
    configured = sorted(c for c, r in chans.items() if r["conf"] is not None or r["system"] is not None)
    spans = facts.get("proc", {}).get("spans", [])
    if not configured:
        return []
    missing = [c for c in configured if not chans[c]["on_card"]]
    if not missing:
        return []
    mods, pci, klog = facts.get("modules", {}), facts.get("pci", {}), facts.get("kernel_log", {})
    paths = facts.get("paths", {})
    sources = [p for p, part in ((paths.get("system_conf"), facts.get("system_conf", {})),
                                 (paths.get("chan_dahdi_conf"), facts.get("chan_dahdi", {})))
               if part.get("channels")]
    loaded = {m["name"] for m in (mods.get("loaded") or [])}
    expected = [m for m in (mods.get("dahdi_modules") or []) if m != "dahdi"]
    devices = pci.get("devices", [])
    evidence = {"configured_channels": ranges(configured), "missing_channels": ranges(missing),
                "config_files": sources, "proc_dir": paths.get("proc_dir"),
                "proc_present": facts.get("proc", {}).get("present"), "spans": len(spans),
                "lsmod": _lsmod(mods), "dahdi_modules": mods.get("dahdi_modules"),
                "dmesg": klog.get("lines", [])[-15:], "kernel_log_source": klog.get("source"),
                "pci": devices if pci.get("readable") else None}
    if spans:
        return [Finding(
            CHECK, f"channels:{ranges(missing)}", Status.WARN,
            f"{chan_words(missing).capitalize()} named in the configuration are not on the card",
            Fault.UNDETERMINED,
            detail=(f"{', '.join(sources)} name {chan_words(missing)}, but no DAHDI span has them "
                    f"(the card shows {ranges([c for c, r in chans.items() if r['on_card']])}): a "
                    f"port module is missing or failed, or the configuration was written for "
                    f"another card."),
            evidence=evidence,
            remedy=[("Compare the ports the card has (FAILED ones too) with the configuration:",
                     "dahdi_scan"),
                    ("Regenerate the configuration for this card (dahdi_genconf keeps a .bak) and "
                     "load it when no calls are up:",
                     'dahdi_genconf && dahdi_cfg -vv && asterisk -rx "dahdi restart"')])]
    why = []
    if devices:
        bound = [d for d in devices if d.get("driver")]
        desc = ", ".join(f"{d['vendor_name']} {d['vendor'][2:]}:{d['device'][2:]} at {d['slot']}"
                         + (f", driver {d['driver']}" if d.get("driver") else "") for d in devices)
        why.append(f"The card is on the PCI bus ({desc})"
                   + ("; its driver is bound but registered no DAHDI span: it failed to start "
                      "the card (see the kernel log)." if bound else
                      " but no driver is bound to it: the driver did not load."))
    elif pci.get("readable"):
        why.append("No telephony card is on the PCI bus (no Digium, Sangoma, OpenVox or Tiger "
                   "Jet device): it is not seated, not powered, or dead.")
    drivers_loaded = sorted(n for n in loaded if n != "dahdi" and not n.startswith("dahdi_"))
    if mods.get("loaded") is not None:
        if "dahdi" not in loaded:
            why.append("The dahdi kernel module is not loaded.")
        else:
            why.append("dahdi is loaded" + (f", with {', '.join(drivers_loaded)}." if drivers_loaded else
                                             ", but no board driver is."))
    if not facts.get("proc", {}).get("present"):
        why.append(f"{paths.get('proc_dir')} does not exist.")
    build = [ln for ln in klog.get("lines", []) if any(s in ln for s in BUILD_ERRORS)]
    if build:
        why.append("The kernel refused the driver (" + build[-1].split("] ", 1)[-1][:160] + "): it "
                   "was built for another kernel, typically after a kernel update.")
    load = " ".join(expected) or (devices[0]["driver"] if devices and devices[0].get("driver") else "")
    return [Finding(
        CHECK, "card", Status.FAIL,
        "Telephony card not detected: not seated, or the driver did not load", Fault.UNDETERMINED,
        detail=(f"{', '.join(sources)} name {chan_words(configured)}, but DAHDI shows no span. "
                + " ".join(why)),
        evidence=evidence,
        remedy=_card_remedy(load, bool(build), devices, pci.get("readable"), bool(drivers_loaded)))]


def _card_remedy(load: str, build: bool, devices: list, pci_readable: bool | None,
                 driver_loaded: bool) -> list[tuple[str, str | None]]:
    steps: list[tuple[str, str | None]] = []
    if not devices and pci_readable:
        steps.append(("Power the server off, reseat the card (or try another slot), power on and "
                      "check that the PCI bus lists it (Digium d161, Sangoma 1923, OpenVox 1b74, "
                      "Tiger Jet e159):", "lspci -nn"))
    if build:
        steps.append(("Rebuild DAHDI for the running kernel (or reinstall the dahdi-linux package "
                      "for `uname -r`), then reboot:", "dkms autoinstall"))
    if not driver_loaded or devices:
        steps.append(("Load the drivers and configure the spans:", f"modprobe -a dahdi {load} && dahdi_cfg -vv")
                     if load else
                     ("Find the card's driver, modprobe it, then configure the spans:",
                      "dahdi_genconf modules && cat /etc/dahdi/modules"))
    steps.append(("See what the kernel says:", "dmesg | grep -iE 'dahdi|wct|opvx'; lsmod | grep dahdi"))
    return steps


def _down(rec: dict[str, Any]) -> bool:
    live = rec.get("live") or {}
    return bool(set(rec["alarms"]) & {"RED", "YELLOW", "BLUE"}) or bool(live.get("in_alarm"))


def fxo_lines(facts: dict[str, Any], chans: dict[int, dict[str, Any]]) -> list[Finding]:
    fxo = [r for _, r in sorted(chans.items()) if r["kind"] == "FXO" and r["on_card"]]
    down = [r for r in fxo if _down(r)]
    if not down:
        return []
    battery = {(b["span"], b["port"]): b for b in facts.get("kernel_log", {}).get("battery", [])}

    def ev(rec: dict[str, Any]) -> dict[str, Any]:
        b = battery.get((rec["span"], rec["port"]))
        return {"channel": rec["channel"], "name": rec["name"], "port": rec["port"], "span": rec["span"],
                "alarms": rec["alarms"], "proc_line": rec["proc_line"],
                "live_in_alarm": (rec["live"] or {}).get("in_alarm"),
                "kernel_battery": b["line"] if b else None}
    proc_files = sorted({s["file"] for s in facts.get("proc", {}).get("spans", [])
                         if any(c["channel"] in {r["channel"] for r in down} for c in s["channels"])})
    watch = " ".join(proc_files) or facts.get("paths", {}).get("proc_dir", "/proc/dahdi")
    if len(fxo) >= 2 and len(down) == len(fxo):
        chs = [r["channel"] for r in down]
        return [Finding(
            CHECK, f"fxo:{ranges(chs)}", Status.FAIL,
            f"All {len(down)} FXO lines to the office PBX have no battery ({chan_words(chs)}): the "
            f"PBX or its line card is off, or the lines are unplugged", Fault.SITE,
            detail=("Every FXO port of the card is in RED alarm: the driver measures no line "
                    "voltage (battery) on any of them. One cause for all at once is on the PBX "
                    "side (PBX or its analog line card powered off, a cable bundle or patch panel "
                    "unplugged), not in this server."),
            evidence={"channels": [ev(r) for r in down], "card": down[0]["card"]},
            remedy=[("Check that the office PBX and its analog line card are powered, and that the "
                     "cables from the card's ports to the PBX are plugged in at both ends (patch "
                     "panel, cable bundle)", None),
                    ("Plug an analog phone into one PBX line: no dial tone means the PBX side is "
                     "dead; a working line shows about 48 V DC between tip and ring while idle", None),
                    ("RED clears within seconds of battery returning:", f"cat {watch}")])]
    out = []
    for rec in down:
        red = "RED" in rec["alarms"] or (rec["live"] or {}).get("in_alarm")
        out.append(Finding(
            CHECK, f"fxo:{rec['channel']}", Status.FAIL,
            f"FXO line {rec['port']} to the office PBX has no battery: the line is unplugged or "
            f"the PBX port is dead", Fault.SITE,
            detail=(f"FXO {label(rec)} on {rec['card'] or 'the card'} is in "
                    f"{' '.join(rec['alarms']) or 'alarm'}{' (no battery: no line voltage)' if red else ''}"
                    f"; other FXO lines of the card are up, so the card works and this line or "
                    f"its PBX port is at fault."),
            evidence=ev(rec),
            remedy=[(f"Reseat the cable from port {rec['port']} of the card to its PBX port, at both "
                     f"ends", None),
                    ("Plug an analog phone into that PBX line: no dial tone means the PBX port is "
                     "dead or disabled; a working line shows about 48 V DC between tip and ring while "
                     "idle", None),
                    ("RED clears within seconds of battery returning:", f"cat {watch}")]))
    return out


def digital_spans(facts: dict[str, Any]) -> list[Finding]:
    paths = facts.get("paths", {})
    out = []
    for span in facts.get("proc", {}).get("spans", []):
        alarms = [a for a in SPAN_ALARMS if a in span.get("alarms", [])]
        if not span.get("digital") or not alarms:
            continue
        status, fault, words, why, fix = SPAN_ALARMS[alarms[0]]
        others = [SPAN_ALARMS[a][2] for a in alarms[1:]]
        kind = _kind(span)
        fmt = {"span": span["span"], "file": span.get("file"), "system_conf": paths.get("system_conf"),
               "chan_dahdi_conf": paths.get("chan_dahdi_conf")}
        out.append(Finding(
            CHECK, f"span:{span['span']}", status,
            f"{kind} span {span['span']} ({span.get('name')}) is in {words}", fault,
            detail=(f"{span.get('description')}: span {span['span']} reports "
                    f"{' '.join(span['alarms'])}. {why}"
                    + (f" Also: {'; '.join(others)}." if others else "")),
            evidence={"span": span["span"], "name": span.get("name"), "description": span.get("description"),
                      "kind": kind, "alarms": span["alarms"], "framing": span.get("framing"),
                      "coding": span.get("coding"), "crc4": span.get("crc4"),
                      "counters": span.get("counters", {}), "header": span.get("header"),
                      "file": span.get("file")},
            remedy=[(t.format(**fmt), c.format(**fmt) if c else None) for t, c in fix]))
    return out


def echo(facts: dict[str, Any], chans: dict[int, dict[str, Any]]) -> list[Finding]:
    paths = facts.get("paths", {})
    system_conf = paths.get("system_conf", "/etc/dahdi/system.conf")
    carrying = [r for _, r in sorted(chans.items()) if voice(r) and r["on_card"]]
    out = []
    missing = [r for r in carrying if r["ec"] is None]
    if missing:
        chs = [r["channel"] for r in missing]
        names = sorted({r["ec"]["name"].lower() for r in carrying if r["ec"]} |
                       {r["echocanceller"]["name"].lower() for r in carrying if r["echocanceller"]})
        name = (names[0] if names else "mg2").lower()
        in_file = [r["echocanceller"] for r in missing if r["echocanceller"]]
        if in_file:
            detail = (f"{system_conf} names an echo canceller for {chan_words([e['channel'] for e in in_file])} "
                      f"but the kernel has none attached: `dahdi_cfg` was not run after the change, "
                      f"or the echo canceller module (dahdi_echocan_{name}) is not loaded.")
            fix = [("Attach the configured echo canceller (calls pick it up at their next call):",
                    "dahdi_cfg -vv"),
                   ("If dahdi_cfg complains, load the module first and run it again:",
                    f"modprobe dahdi_echocan_{name}")]
        else:
            detail = (f"{system_conf} has no `echocanceller=` line for {chan_words(chs)} and the "
                      f"card shows no echo canceller there, so chan_dahdi's echocancel has nothing "
                      f"to switch on.")
            fix = [(f"Add the line echocanceller={name},{ranges(chs)} to {system_conf}", None),
                   ("Load it (calls on those lines pick it up at their next call):", "dahdi_cfg -vv")]
        out.append(Finding(
            CHECK, f"echo:{ranges(chs)}", Status.WARN,
            f"No echo canceller on {chan_words(chs)}"
            + (f" ({missing[0]['name']})" if len(missing) == 1 and missing[0]["name"] else "")
            + ": callers hear their own voice echo", Fault.UNDETERMINED,
            detail=detail + " On an analog line the 2-wire/4-wire hybrid reflects the caller's "
                            "voice; without an echo canceller they hear it back.",
            evidence={"file": system_conf, "key": "echocanceller", "channels": chs,
                      "line": in_file[0]["line"] if in_file else None,
                      "proc_lines": [r["proc_line"] for r in missing],
                      "configured": [e["text"] for e in in_file], "others_use": names},
            remedy=fix))
    off: dict[tuple, list[int]] = {}
    where: dict[tuple, dict[str, Any]] = {}
    for r in carrying:
        v = (r["conf"] or {}).get("values", {}).get("echocancel")
        live_none = ((r["live"] or {}).get("echo_cancel") or {}).get("taps") == 0
        file_off = v is not None and str(v["value"]).split(",")[0].strip().lower() in FALSE
        if file_off or live_none:
            k = (v["file"], v["line"]) if v else (paths.get("chan_dahdi_conf"), None)
            off.setdefault(k + (file_off,), []).append(r["channel"])
            where[k + (file_off,)] = v or {}
    for (file, line, file_off), chs in off.items():
        v = where[(file, line, file_off)]
        out.append(Finding(
            CHECK, f"echocancel:{ranges(chs)}", Status.WARN,
            f"Echo cancellation is off on {chan_words(chs)}: callers hear their own voice echo",
            Fault.UNDETERMINED,
            detail=((f"echocancel = {v['value']} in {file} line {line} applies to {chan_words(chs)}."
                     if file_off else
                     f"Asterisk runs {chan_words(chs)} with no echo cancellation (`dahdi show channel`: "
                     f"none) although {file} does not switch it off: the file changed after "
                     f"chan_dahdi read it.")
                    + " The DAHDI echo canceller is attached but chan_dahdi never enables it."),
            evidence={"file": file, "key": "echocancel", "line": line, "text": v.get("text"),
                      "channels": chs},
            remedy=[(f"Set echocancel=yes in {file}" + (f" line {line}" if line else ""), None),
                    ("Apply it when no calls are up:", 'asterisk -rx "dahdi restart"')]))
    return out


def summary(facts: dict[str, Any], chans: dict[int, dict[str, Any]], cfg: dict[str, Any]) -> Finding:
    spans = facts.get("proc", {}).get("spans", [])
    on = [r for r in chans.values() if r["on_card"]]
    kinds: dict[str, int] = {}
    for r in on:
        if r["kind"]:
            kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    parts = [f"{n} {k} {'channel' if k == 'digital' else 'line'}{'s' if n != 1 else ''} up"
             for k, n in sorted(kinds.items())]
    card = ", ".join(sorted({s.get("description") or s.get("name") or "?" for s in spans}))
    live = facts.get("live", {})
    title = (f"Telephony card {card}: " + ", ".join(parts + [
        f"gains within {cfg['min_gain_db']:+g} .. {cfg['max_gain_db']:+g} dB",
        "echo canceller on every line"]) if spans else
        "DAHDI is configured with no channels and no card: nothing to check")
    return Finding(
        CHECK, "card", Status.OK, title,
        detail=("Live values from Asterisk: " + (live.get("state") or "not read")
                + (f" ({live['error']})" if live.get("error") else "") + "."),
        evidence={"spans": [{"span": s["span"], "name": s.get("name"), "description": s.get("description"),
                             "alarms": s.get("alarms"), "channels": len(s.get("channels", [])),
                             "counters": s.get("counters")} for s in spans],
                  "live": live.get("state"), "kernel_log_source": facts.get("kernel_log", {}).get("source")})


def judge(facts: dict[str, Any], cfg: dict[str, Any]) -> list[Finding]:
    chans = channels(facts)
    findings = (card_presence(facts, chans) + fxo_lines(facts, chans) + digital_spans(facts)
                + gains.judge_gains(facts, cfg, chans) + echo(facts, chans))
    if not any(f.status.is_problem for f in findings):
        findings.append(summary(facts, chans, cfg))
    return findings
