"""The judge of telephony.card: card presence, FXO lines, digital spans,
echo cancellers, and (in ``gains.py``) gains. A pure function of the facts.
"""

from __future__ import annotations

from typing import Any

from diagnose.checks.telephony import gains
from diagnose.checks.telephony.dahdicfg import ranges
from diagnose.checks.telephony.model import (CHECK, FALSE, chan_words, channels, for_channels, label,
                                             voice, where)
from diagnose.i18n import N_, _, _n, join
from diagnose.model import Fault, Finding, Status, step

# Span alarms, worst first, in plain words (what the alarm means, who acts).
# The steps' {span}, {file}, {system_conf} and {chan_dahdi_conf} are filled in per span.
SPAN_ALARMS = {
    "RED": (Status.FAIL, Fault.SITE, N_("red alarm: no signal or no framing from the line"),
            N_("This end receives nothing usable: the cable is unplugged, broken or in the wrong "
               "port, or the carrier's or PBX's end of the line is down."),
            [(N_("Check the cable at port {span} of the card and at the carrier's NTU (smart jack) "
                 "or the PBX, and reseat it"), None),
             (N_("A loopback plug in the card's port clears RED if the card is fine; then the line "
                 "is at fault: call the carrier"), None),
             (N_("Watch the alarm clear:"), "cat {file}")]),
    "BLUE": (Status.FAIL, Fault.SITE, N_("blue alarm (AIS): the carrier sends all ones"),
             N_("The carrier's equipment answers but has no service behind it: a fault upstream in "
                "the carrier's network, not in this server."),
             [(N_("Call the carrier with the circuit ID: they are sending AIS (blue alarm) on span "
                  "{span}"), None), (N_("Watch the alarm clear:"), "cat {file}")]),
    "YELLOW": (Status.FAIL, Fault.SITE, N_("yellow alarm: the far end does not receive us"),
               N_("The far end reports (remote alarm indication) that it gets nothing usable from "
                  "this card: the transmit pair or the cable towards it is faulty, or framing and "
                  "coding differ from the carrier's."),
               [(N_("Check the cable's transmit pair, and that span={span},... in {system_conf} uses "
                    "the carrier's framing and coding (T1: esf,b8zs; E1: ccs,hdb3,crc4)"), None),
                (N_("Load a corrected span line:"), "dahdi_cfg -vv"),
                (N_("Watch the alarm clear:"), "cat {file}")]),
    "LOOP": (Status.WARN, Fault.SITE, N_("loopback: the line is looped for a test"),
             N_("The carrier (or a setting) loops the line back, so no call can pass."),
             [(N_("Ask the carrier to release the loopback on span {span}; check {system_conf} for "
                  "a loopback setting"), None)]),
    "RECOVERING": (Status.WARN, Fault.SITE, N_("recovery from an alarm"),
                   N_("The span was in alarm moments ago; if it keeps coming back, the line flaps."),
                   [(N_("Run the check again in a minute; if the alarm returns, check the cable "
                        "and call the carrier"), None), (N_("Watch it:"), "cat {file}")]),
    "NOTOPEN": (Status.WARN, Fault.UNDETERMINED, N_("NOTOPEN state: nothing uses its channels"),
                N_("No program holds the span's channels open: Asterisk is not running or chan_dahdi "
                   "does not configure them."),
                [(N_("Check that Asterisk runs and that {chan_dahdi_conf} has channel => lines for "
                     "span {span}'s channels:"), 'asterisk -rx "dahdi show status"')]),
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
    files = ", ".join(str(s) for s in sources)
    if spans:
        return [Finding(
            CHECK, f"channels:{ranges(missing)}", Status.WARN,
            for_channels(missing, N_("Channel {channels} named in the configuration is not on the card"),
                         N_("Channels {channels} named in the configuration are not on the card")),
            Fault.UNDETERMINED,
            detail=for_channels(
                missing, N_("{files} name channel {channels}, but no DAHDI span has it (the card shows "
                            "{present}): a port module is missing or failed, or the configuration "
                            "was written for another card."),
                N_("{files} name channels {channels}, but no DAHDI span has them (the card shows "
                   "{present}): a port module is missing or failed, or the configuration was written "
                   "for another card."),
                files=files, present=ranges([c for c, r in chans.items() if r["on_card"]])),
            evidence=evidence,
            remedy=[step(_("Compare the ports the card has (FAILED ones too) with the configuration:"),
                         "dahdi_scan"),
                    step(_("Regenerate the configuration for this card (dahdi_genconf keeps a .bak) "
                           "and load it when no calls are up:"),
                         'dahdi_genconf && dahdi_cfg -vv && asterisk -rx "dahdi restart"')])]
    why = []
    if devices:
        bound = [d for d in devices if d.get("driver")]
        desc = join(", ", [
            _("{vendor} {id} at {slot}, driver {driver}", driver=d["driver"], **_pci(d)) if d.get("driver")
            else _("{vendor} {id} at {slot}", **_pci(d)) for d in devices])
        why.append(_("The card is on the PCI bus ({devices}); its driver is bound but registered no "
                     "DAHDI span: it failed to start the card (see the kernel log).", devices=desc)
                   if bound else
                   _("The card is on the PCI bus ({devices}) but no driver is bound to it: the driver "
                     "did not load.", devices=desc))
    elif pci.get("readable"):
        why.append(_("No telephony card is on the PCI bus (no Digium, Sangoma, OpenVox or Tiger "
                     "Jet device): it is not seated, not powered, or dead."))
    drivers_loaded = sorted(n for n in loaded if n != "dahdi" and not n.startswith("dahdi_"))
    if mods.get("loaded") is not None:
        if "dahdi" not in loaded:
            why.append(_("The dahdi kernel module is not loaded."))
        elif drivers_loaded:
            why.append(_("dahdi is loaded, with {drivers}.", drivers=", ".join(drivers_loaded)))
        else:
            why.append(_("dahdi is loaded, but no board driver is."))
    if not facts.get("proc", {}).get("present"):
        why.append(_("{proc_dir} does not exist.", proc_dir=paths.get("proc_dir")))
    build = [ln for ln in klog.get("lines", []) if any(s in ln for s in BUILD_ERRORS)]
    if build:
        evidence["kernel_refused"] = build[-1].split("] ", 1)[-1][:160]
        why.append(_("The kernel refused the driver ({message}): it was built for another kernel, "
                     "typically after a kernel update.", message=evidence["kernel_refused"]))
    load = " ".join(expected) or (devices[0]["driver"] if devices and devices[0].get("driver") else "")
    return [Finding(
        CHECK, "card", Status.FAIL,
        _("Telephony card not detected: not seated, or the driver did not load"), Fault.UNDETERMINED,
        detail=join(" ", [for_channels(
            configured, N_("{files} name channel {channels}, but DAHDI shows no span."),
            N_("{files} name channels {channels}, but DAHDI shows no span."), files=files)] + why),
        evidence=evidence,
        remedy=_card_remedy(load, bool(build), devices, pci.get("readable"), bool(drivers_loaded)))]


def _pci(d: dict[str, Any]) -> dict[str, Any]:
    return {"vendor": d["vendor_name"], "id": f"{d['vendor'][2:]}:{d['device'][2:]}", "slot": d["slot"]}


def _card_remedy(load: str, build: bool, devices: list, pci_readable: bool | None,
                 driver_loaded: bool) -> list:
    steps = []
    if not devices and pci_readable:
        steps.append(step(_("Power the server off, reseat the card (or try another slot), power on "
                            "and check that the PCI bus lists it (Digium d161, Sangoma 1923, OpenVox "
                            "1b74, Tiger Jet e159):"), "lspci -nn"))
    if build:
        steps.append(step(_("Rebuild DAHDI for the running kernel (or reinstall the dahdi-linux "
                            "package for `uname -r`), then reboot:"), "dkms autoinstall"))
    if not driver_loaded or devices:
        steps.append(step(_("Load the drivers and configure the spans:"),
                          f"modprobe -a dahdi {load} && dahdi_cfg -vv")
                     if load else
                     step(_("Find the card's driver, modprobe it, then configure the spans:"),
                          "dahdi_genconf modules && cat /etc/dahdi/modules"))
    steps.append(step(_("See what the kernel says:"), "dmesg | grep -iE 'dahdi|wct|opvx'; lsmod | grep dahdi"))
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
            _n("All {n} FXO line to the office PBX has no battery ({channels}): the PBX or its line "
               "card is off, or the line is unplugged",
               "All {n} FXO lines to the office PBX have no battery ({channels}): the PBX or its line "
               "card is off, or the lines are unplugged", len(down), channels=chan_words(chs)),
            Fault.SITE,
            detail=_("Every FXO port of the card is in RED alarm: the driver measures no line "
                     "voltage (battery) on any of them. One cause for all at once is on the PBX "
                     "side (PBX or its analog line card powered off, a cable bundle or patch panel "
                     "unplugged), not in this server."),
            evidence={"channels": [ev(r) for r in down], "card": down[0]["card"]},
            remedy=[step(_("Check that the office PBX and its analog line card are powered, and that "
                           "the cables from the card's ports to the PBX are plugged in at both ends "
                           "(patch panel, cable bundle)")),
                    step(_("Plug an analog phone into one PBX line: no dial tone means the PBX side is "
                           "dead; a working line shows about 48 V DC between tip and ring while idle")),
                    step(_("RED clears within seconds of battery returning:"), f"cat {watch}")])]
    out = []
    for rec in down:
        red = "RED" in rec["alarms"] or (rec["live"] or {}).get("in_alarm")
        args = dict(channel=label(rec), card=rec["card"],
                    alarms=" ".join(rec["alarms"]) or _("alarm"),
                    battery=_(" (no battery: no line voltage)") if red else "")
        out.append(Finding(
            CHECK, f"fxo:{rec['channel']}", Status.FAIL,
            _("FXO line {port} to the office PBX has no battery: the line is unplugged or the PBX "
              "port is dead", port=rec["port"]), Fault.SITE,
            detail=(_("FXO {channel} on {card} is in {alarms}{battery}; other FXO lines of the card "
                      "are up, so the card works and this line or its PBX port is at fault.", **args)
                    if rec["card"] else
                    _("FXO {channel} on the card is in {alarms}{battery}; other FXO lines of the card "
                      "are up, so the card works and this line or its PBX port is at fault.", **args)),
            evidence=ev(rec),
            remedy=[step(_("Reseat the cable from port {port} of the card to its PBX port, at both "
                           "ends", port=rec["port"])),
                    step(_("Plug an analog phone into that PBX line: no dial tone means the PBX port "
                           "is dead or disabled; a working line shows about 48 V DC between tip and "
                           "ring while idle")),
                    step(_("RED clears within seconds of battery returning:"), f"cat {watch}")]))
    return out


def digital_spans(facts: dict[str, Any]) -> list[Finding]:
    paths = facts.get("paths", {})
    out = []
    for span in facts.get("proc", {}).get("spans", []):
        alarms = [a for a in SPAN_ALARMS if a in span.get("alarms", [])]
        if not span.get("digital") or not alarms:
            continue
        status, fault, words, why, fix = SPAN_ALARMS[alarms[0]]
        others = [_(SPAN_ALARMS[a][2]) for a in alarms[1:]]
        kind = _kind(span)
        fmt = {"span": span["span"], "file": span.get("file"), "system_conf": paths.get("system_conf"),
               "chan_dahdi_conf": paths.get("chan_dahdi_conf")}
        detail = _("{card}: span {span} reports {alarms}. {why}", card=span.get("description"),
                   span=span["span"], alarms=" ".join(span["alarms"]), why=_(why))
        title = dict(kind=kind, span=span["span"], name=span.get("name"), state=_(words))
        out.append(Finding(
            CHECK, f"span:{span['span']}", status,
            _("Digital span {span} ({name}) is in {state}", **title) if kind == "digital" else
            _("{kind} span {span} ({name}) is in {state}", **title), fault,
            detail=(detail + _(" Also: {alarms}.", alarms=join("; ", others))) if others else detail,
            evidence={"span": span["span"], "name": span.get("name"), "description": span.get("description"),
                      "kind": kind, "alarms": span["alarms"], "framing": span.get("framing"),
                      "coding": span.get("coding"), "crc4": span.get("crc4"),
                      "counters": span.get("counters", {}), "header": span.get("header"),
                      "file": span.get("file")},
            remedy=[step(_(t, **fmt), c.format(**fmt) if c else None) for t, c in fix]))
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
            detail = for_channels(
                [e["channel"] for e in in_file],
                N_("{file} names an echo canceller for channel {channels} but the kernel has none "
                   "attached: `dahdi_cfg` was not run after the change, or the echo canceller module "
                   "({module}) is not loaded."),
                N_("{file} names an echo canceller for channels {channels} but the kernel has none "
                   "attached: `dahdi_cfg` was not run after the change, or the echo canceller module "
                   "({module}) is not loaded."), file=system_conf, module=f"dahdi_echocan_{name}")
            fix = [step(_("Attach the configured echo canceller (calls pick it up at their next call):"),
                        "dahdi_cfg -vv"),
                   step(_("If dahdi_cfg complains, load the module first and run it again:"),
                        f"modprobe dahdi_echocan_{name}")]
        else:
            detail = for_channels(
                chs, N_("{file} has no `echocanceller=` line for channel {channels} and the card shows "
                        "no echo canceller there, so chan_dahdi's echocancel has nothing to switch on."),
                N_("{file} has no `echocanceller=` line for channels {channels} and the card shows no "
                   "echo canceller there, so chan_dahdi's echocancel has nothing to switch on."),
                file=system_conf)
            fix = [step(_("Add the line {line} to {file}", line=f"echocanceller={name},{ranges(chs)}",
                          file=system_conf)),
                   step(_("Load it (calls on those lines pick it up at their next call):"), "dahdi_cfg -vv")]
        named = len(missing) == 1 and missing[0]["name"]
        out.append(Finding(
            CHECK, f"echo:{ranges(chs)}", Status.WARN,
            _("No echo canceller on channel {channels} ({name}): callers hear their own voice echo",
              channels=ranges(chs), name=missing[0]["name"]) if named else
            for_channels(chs, N_("No echo canceller on channel {channels}: callers hear their own voice echo"),
                         N_("No echo canceller on channels {channels}: callers hear their own voice echo")),
            Fault.UNDETERMINED,
            detail=join(" ", [detail, _("On an analog line the 2-wire/4-wire hybrid reflects the "
                                        "caller's voice; without an echo canceller they hear it back.")]),
            evidence={"file": system_conf, "key": "echocanceller", "channels": chs,
                      "line": in_file[0]["line"] if in_file else None,
                      "proc_lines": [r["proc_line"] for r in missing],
                      "configured": [e["text"] for e in in_file], "others_use": names},
            remedy=fix))
    off: dict[tuple, list[int]] = {}
    seen: dict[tuple, dict[str, Any]] = {}
    for r in carrying:
        v = (r["conf"] or {}).get("values", {}).get("echocancel")
        live_none = ((r["live"] or {}).get("echo_cancel") or {}).get("taps") == 0
        file_off = v is not None and str(v["value"]).split(",")[0].strip().lower() in FALSE
        if file_off or live_none:
            k = (v["file"], v["line"]) if v else (paths.get("chan_dahdi_conf"), None)
            off.setdefault(k + (file_off,), []).append(r["channel"])
            seen[k + (file_off,)] = v or {}
    for (file, line, file_off), chs in off.items():
        v = seen[(file, line, file_off)]
        why = (for_channels(chs, N_("echocancel = {value} in {file} line {line} applies to channel {channels}."),
                            N_("echocancel = {value} in {file} line {line} applies to channels {channels}."),
                            value=v.get("value"), file=file, line=line)
               if file_off else
               for_channels(chs, N_("Asterisk runs channel {channels} with no echo cancellation (`dahdi "
                                    "show channel`: none) although {file} does not switch it off: the "
                                    "file changed after chan_dahdi read it."),
                            N_("Asterisk runs channels {channels} with no echo cancellation (`dahdi "
                               "show channel`: none) although {file} does not switch it off: the file "
                               "changed after chan_dahdi read it."), file=file))
        out.append(Finding(
            CHECK, f"echocancel:{ranges(chs)}", Status.WARN,
            for_channels(chs, N_("Echo cancellation is off on channel {channels}: callers hear their own "
                                 "voice echo"),
                         N_("Echo cancellation is off on channels {channels}: callers hear their own "
                            "voice echo")),
            Fault.UNDETERMINED,
            detail=join(" ", [why, _("The DAHDI echo canceller is attached but chan_dahdi never "
                                     "enables it.")]),
            evidence={"file": file, "key": "echocancel", "line": line, "text": v.get("text"),
                      "channels": chs},
            remedy=[step(_("Set echocancel=yes in {file}", file=where(file, line))),
                    step(_("Apply it when no calls are up:"), 'asterisk -rx "dahdi restart"')]))
    return out


def summary(facts: dict[str, Any], chans: dict[int, dict[str, Any]], cfg: dict[str, Any]) -> Finding:
    spans = facts.get("proc", {}).get("spans", [])
    on = [r for r in chans.values() if r["on_card"]]
    kinds: dict[str, int] = {}
    for r in on:
        if r["kind"]:
            kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    parts = [_n("{n} digital channel up", "{n} digital channels up", n) if k == "digital" else
             _n("{n} {kind} line up", "{n} {kind} lines up", n, kind=k)
             for k, n in sorted(kinds.items())]
    card = ", ".join(sorted({s.get("description") or s.get("name") or "?" for s in spans}))
    live = facts.get("live", {})
    title = (_("Telephony card {card}: {state}", card=card, state=join(", ", parts + [
        _("gains within {lo:+g} .. {hi:+g} dB", lo=cfg["min_gain_db"], hi=cfg["max_gain_db"]),
        _("echo canceller on every line")])) if spans else
        _("DAHDI is configured with no channels and no card: nothing to check"))
    return Finding(
        CHECK, "card", Status.OK, title,
        detail=_live_state(live),
        evidence={"spans": [{"span": s["span"], "name": s.get("name"), "description": s.get("description"),
                             "alarms": s.get("alarms"), "channels": len(s.get("channels", [])),
                             "counters": s.get("counters")} for s in spans],
                  "live": live.get("state"), "live_error": live.get("error"),
                  "kernel_log_source": facts.get("kernel_log", {}).get("source")})


def _live_state(live: dict[str, Any]) -> Any:
    state, error = live.get("state"), live.get("error")
    if state == "ok":
        return _("Live values read from Asterisk (`dahdi show channel`).")
    if state == "not-running":
        return _("Live values not read: Asterisk is not running ({error}).", error=error)
    if state == "no-asterisk":
        return _("Live values not read: asterisk is not installed here.")
    if state == "not-live":
        return _("Live values not read: the facts come from recorded files, not the live machine.")
    if error:
        return _("Live values from Asterisk: {state} ({error}).", state=state or "-", error=error)
    return _("Live values from Asterisk: {state}.", state=state or _("not read"))


def judge(facts: dict[str, Any], cfg: dict[str, Any]) -> list[Finding]:
    chans = channels(facts)
    findings = (card_presence(facts, chans) + fxo_lines(facts, chans) + digital_spans(facts)
                + gains.judge_gains(facts, cfg, chans) + echo(facts, chans))
    if not any(f.status.is_problem for f in findings):
        findings.append(summary(facts, chans, cfg))
    return findings
