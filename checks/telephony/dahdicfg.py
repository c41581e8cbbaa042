"""Parsers for the DAHDI side's own configuration files.

- ``/etc/dahdi/system.conf``, read by dahdi-tools' ``dahdi_cfg``: ``key =
  value`` lines, ``#`` starts a comment. ``span=N,timing,lbo,framing,coding
  [,crc4][,yellow]``, a signalling keyword per channel list (``fxsks=1``,
  ``bchan=1-23``, ``dchan=24``, ``hardhdlc=3``) and ``echocanceller=NAME,
  CHANLIST``. ``dahdi_genconf`` writes one signalling line and one
  echocanceller line per analog channel (xpp/perl_modules/Dahdi/Config/Gen/
  System.pm).
- ``/etc/fxotune.conf``, written by ``fxotune -i`` and read by ``fxotune
  -s``: one ``%d=%d,%d,%d,%d,%d,%d,%d,%d,%d`` line per FXO channel (channel =
  acim, coef1..coef8; dahdi-tools fxotune.c).
- ``/etc/modprobe.d/*.conf``: ``options MODULE key=value ...`` (modprobe.d(5)).
- ``/etc/dahdi/modules``: the driver modules the dahdi init script loads,
  one per line.
"""

from __future__ import annotations

import re
from typing import Any

# dahdi_cfg keywords that give channels a signalling (or a role).
SIG_KEYS = {
    "fxsks": "FXSKS", "fxsls": "FXSLS", "fxsgs": "FXSGS", "fxoks": "FXOKS", "fxols": "FXOLS",
    "fxogs": "FXOGS", "e&m": "E&M", "e&me1": "E&M-E1", "em": "E&M", "em_e1": "E&M-E1",
    "sf": "SF", "cas": "CAS", "dacs": "DACS", "dacsrbs": "DACS+RBS", "clear": "Clear",
    "bchan": "Clear", "indclear": "Clear", "unused": "Unused", "rawhdlc": "HDLCRAW",
    "fcshdlc": "HDLCFCS", "nethdlc": "HDLCNET", "dchan": "HDLCFCS", "hardhdlc": "HARDHDLC",
    "mtp2": "MTP2",
}
# Channels that carry signalling, not calls: no echo canceller wanted.
DATA_KEYS = {"dchan", "hardhdlc", "rawhdlc", "fcshdlc", "nethdlc", "mtp2", "unused"}


def parse_chanlist(text: str) -> list[int]:
    """``1-4,6,8-10`` -> [1, 2, 3, 4, 6, 8, 9, 10]; non-numbers are skipped
    (``pseudo``, CAS idle bits after ``:``)."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip().split(":")[0].strip()
        m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
        if m:
            lo, hi = int(m[1]), int(m[2])
            if hi >= lo and hi - lo < 1024:
                out.extend(range(lo, hi + 1))
        elif part.isdigit():
            out.append(int(part))
    return out


def ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 5] -> ``1-3,5`` (for titles and remedies)."""
    nums = sorted(set(numbers))
    parts: list[str] = []
    i = 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        parts.append(str(nums[i]) if i == j else f"{nums[i]}-{nums[j]}")
        i = j + 1
    return ",".join(parts)


def parse_system_conf(text: str, path: str) -> dict[str, Any]:
    """Channels with their signalling line, echo cancellers, spans, zones."""
    channels: dict[int, dict[str, Any]] = {}
    echo: dict[int, dict[str, Any]] = {}
    spans: list[dict[str, Any]] = []
    other: dict[str, str] = {}
    errors: list[str] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep:
            errors.append(f"{path}:{n}: not a key=value line")
            continue
        key, value = key.strip().lower(), value.strip()
        where = {"file": path, "line": n, "text": raw.strip()}
        if key == "span":
            fields = [f.strip() for f in value.split(",")]
            span = {"span": int(fields[0]) if fields[0].isdigit() else None,
                    "timing": fields[1] if len(fields) > 1 else None,
                    "lbo": fields[2] if len(fields) > 2 else None,
                    "framing": fields[3].lower() if len(fields) > 3 else None,
                    "coding": fields[4].lower() if len(fields) > 4 else None,
                    "options": [f.lower() for f in fields[5:]], **where}
            spans.append(span)
        elif key == "echocanceller":
            name, _, chans = value.partition(",")
            for ch in parse_chanlist(chans):
                echo[ch] = {"name": name.strip(), **where}
        elif key in SIG_KEYS:
            for ch in parse_chanlist(value):
                channels[ch] = {"channel": ch, "key": key, "signalling": SIG_KEYS[key],
                                "data": key in DATA_KEYS, **where}
        else:
            other[key] = value
    return {"channels": [channels[c] for c in sorted(channels)],
            "echocancellers": [{"channel": c, **echo[c]} for c in sorted(echo)],
            "spans": spans, "other": other, "errors": errors}


_FXOTUNE = re.compile(r"^\s*(\d+)\s*=\s*(-?\d+(?:\s*,\s*-?\d+){8})\s*$")


def parse_fxotune(text: str) -> list[dict[str, Any]]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        m = _FXOTUNE.match(line)
        if m:
            values = [int(v) for v in m[2].split(",")]
            out.append({"channel": int(m[1]), "acim": values[0], "coefs": values[1:], "line": n})
    return out


def parse_modprobe_options(text: str, path: str) -> list[dict[str, Any]]:
    """``options MODULE k=v ...`` lines (with ``\\`` continuations)."""
    out = []
    joined: list[tuple[int, str]] = []
    buf, start = "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        if not buf:
            start = n
        if raw.rstrip().endswith("\\"):
            buf += raw.rstrip()[:-1] + " "
            continue
        joined.append((start, buf + raw))
        buf = ""
    for n, line in joined:
        words = line.split("#", 1)[0].split()
        if len(words) >= 3 and words[0] == "options":
            module = words[1].replace("-", "_")
            opts = {}
            for w in words[2:]:
                k, sep, v = w.partition("=")
                opts[k.replace("-", "_")] = v if sep else ""
            out.append({"file": path, "line": n, "module": module, "options": opts,
                        "text": line.strip()})
    return out


def parse_module_list(text: str) -> list[str]:
    """/etc/dahdi/modules: module names, ``#`` comments."""
    return [w for w in (ln.split("#", 1)[0].strip() for ln in text.splitlines()) if w]
