"""Parsers for what the DAHDI kernel side shows: the /proc/dahdi/<span>
files and the output of dahdi-tools' ``dahdi_scan``.

/proc/dahdi/<span> is written by ``dahdi_seq_show()`` in dahdi-linux
drivers/dahdi/dahdi-base.c::

    Span %d: %s "%s"[ (MASTER)][ B8ZS/|AMI/|HDB3/][ESF|D4|CCS][/CRC4] [ALARMS ][ClockSource ]
    \tBPV count: %d            (each counter line only when non-zero)
    \tCRC4 error count: %d
    \tE-bit error count: %d
    \tFAS error count: %d
    \tIRQ misses: %d
    \tTiming slips: %d
    <empty line>
    \t%4d %s SIGNALLING [Master ][(In use) ][(no pcm) ][ALARMS ][(EC: NAME - ACTIVE|INACTIVE) ]

Alarm words come from ``fill_alarm_string()``: BLUE, YELLOW, RED, LOOP,
RECOVERING, NOTOPEN (each followed by a space). Older releases wrote
``(SWEC: NAME)`` for a software echo canceller; both are read.
"""

from __future__ import annotations

import re
from typing import Any

ALARMS = ("BLUE", "YELLOW", "RED", "LOOP", "RECOVERING", "NOTOPEN")
# sigstr() in dahdi-base.c; multi-word and parenthesised names first.
SIGNALLINGS = ("Hardware-assisted HDLC", "SF (ToneOnly)", "FXSLS", "FXSKS", "FXSGS", "FXOLS",
               "FXOKS", "FXOGS", "E&M-E1", "E&M", "Clear", "HDLCRAW", "HDLCFCS", "HDLCNET",
               "MTP2", "Slave", "CAS", "DACS+RBS", "DACS", "Unconfigured", "Reserved")
# Signalling of the channel -> the kind of port it sits on. FXO hardware
# (a line from a PBX or the exchange) is driven with FXS signalling.
PORT_OF_SIG = {"FXSKS": "FXO", "FXSLS": "FXO", "FXSGS": "FXO",
               "FXOKS": "FXS", "FXOLS": "FXS", "FXOGS": "FXS"}

_SPAN = re.compile(r'^Span (?P<no>\d+): (?P<name>.*?) ?"(?P<desc>.*)"(?P<rest>.*)$')
_NONAME_SPAN = re.compile(r'^"(?P<desc>.*)"(?P<rest>.*)$')
_COUNTERS = {"BPV count": "bpv", "CRC4 error count": "crc4", "E-bit error count": "ebit",
             "FAS error count": "fas", "IRQ misses": "irq_misses", "Timing slips": "timing_slips"}
_CHAN = re.compile(r"^\s*(?P<no>\d+) (?P<name>\S+)(?: (?P<rest>.*))?$")
_EC = re.compile(r"\((?:EC: (?P<ec>.+?) - (?P<state>ACTIVE|INACTIVE)|SWEC: (?P<swec>[^)]*))\)")
_FRAMING = re.compile(r"^(?P<coding>B8ZS|AMI|HDB3)?/?(?P<framing>ESF|D4|CCS)?(?P<crc4>/CRC4)?$")


def _span_rest(rest: str, span: dict[str, Any]) -> None:
    for tok in rest.split():
        if tok == "(MASTER)":
            span["master"] = True
        elif tok == "ClockSource":
            span["clock_source"] = True
        elif tok in ALARMS:
            span["alarms"].append(tok)
        else:
            m = _FRAMING.match(tok)
            if m and (m["coding"] or m["framing"]):
                span["coding"] = m["coding"]
                span["framing"] = m["framing"]
                span["crc4"] = bool(m["crc4"])
            else:
                span.setdefault("other", []).append(tok)


def parse_channel_line(line: str) -> dict[str, Any] | None:
    """One channel line of a span file, or None when it is not one."""
    m = _CHAN.match(line)
    if not m:
        return None
    rest = m["rest"] or ""
    chan: dict[str, Any] = {"channel": int(m["no"]), "name": m["name"], "signalling": None,
                            "master": False, "in_use": False, "no_pcm": False, "alarms": [],
                            "ec": None, "line": line.strip()}
    ec = _EC.search(rest)
    if ec:
        if ec["ec"] is not None:
            chan["ec"] = {"name": ec["ec"], "state": ec["state"]}
        else:
            chan["ec"] = {"name": ec["swec"], "state": None}
        rest = rest[:ec.start()] + rest[ec.end():]
    if "(In use)" in rest:
        chan["in_use"] = True
        rest = rest.replace("(In use)", " ")
    if "(no pcm)" in rest:
        chan["no_pcm"] = True
        rest = rest.replace("(no pcm)", " ")
    rest = " " + rest.strip() + " "
    for sig in SIGNALLINGS:
        if f" {sig} " in rest:
            chan["signalling"] = sig
            rest = rest.replace(f" {sig} ", " ", 1)
            break
    for tok in rest.split():
        if tok in ALARMS:
            chan["alarms"].append(tok)
        elif tok == "Master":
            chan["master"] = True
        else:
            chan.setdefault("other", []).append(tok)
    return chan


def parse_span(text: str, file: str | None = None) -> dict[str, Any] | None:
    """A /proc/dahdi/<span> file; None when it holds no span header."""
    lines = text.splitlines()
    span: dict[str, Any] | None = None
    for i, line in enumerate(lines):
        m = _SPAN.match(line) or _NONAME_SPAN.match(line)
        if m:
            gd = m.groupdict()
            span = {"file": file, "span": int(gd["no"]) if gd.get("no") else None,
                    "name": gd.get("name") or None, "description": gd["desc"], "master": False,
                    "clock_source": False, "coding": None, "framing": None, "crc4": False,
                    "alarms": [], "counters": {}, "channels": [], "header": line.rstrip()}
            _span_rest(gd["rest"], span)
            body = lines[i + 1:]
            break
    if span is None:
        return None
    for line in body:
        if not line.strip():
            continue
        label, sep, value = line.strip().partition(": ")
        if sep and label in _COUNTERS and value.strip().lstrip("-").isdigit():
            span["counters"][_COUNTERS[label]] = int(value)
            continue
        chan = parse_channel_line(line)
        if chan is not None:
            span["channels"].append(chan)
    span["digital"] = bool(span["framing"] or span["coding"])
    return span


def parse_dahdi_scan(text: str) -> list[dict[str, Any]]:
    """``dahdi_scan`` output (dahdi-tools dahdi_scan.c): ``[N]`` sections of
    ``key=value`` lines; ``port=N,FXO|FXS|none[ FAILED]`` repeat per port."""
    spans: list[dict[str, Any]] = []
    cur: dict[str, Any] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]") and line[1:-1].isdigit():
            cur = {"span": int(line[1:-1]), "ports": []}
            spans.append(cur)
            continue
        if cur is None or "=" not in line:
            continue
        key, _, value = line.partition("=")
        if key == "port":
            no, _, kind = value.partition(",")
            kind_word, _, failed = kind.partition(" ")
            if no.strip().isdigit():
                cur["ports"].append({"channel": int(no), "type": kind_word or None,
                                     "failed": failed.strip() == "FAILED"})
        elif key in ("basechan", "totchans", "irq", "syncsrc"):
            cur[key] = int(value) if value.strip().lstrip("-").isdigit() else value
        else:
            cur[key] = value
    return spans
