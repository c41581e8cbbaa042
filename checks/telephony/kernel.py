"""What the kernel says about the card: its log lines, the loaded modules
(``lsmod`` reads /proc/modules) and the telephony cards on the PCI bus
(/sys/bus/pci/devices/*/vendor, device, driver).

Kernel log lines in the wording of dahdi-linux: ``dahdi: Telephony Interface
Registered on major 196`` and ``dahdi: Version: ...`` (dahdi-base.c), the
board drivers' ``Port %d: Installed -- AUTO FXO (%s mode)`` (wctdm24xxp;
``Module %d: ...`` in wctdm), ``NO BATTERY on %d/%d!`` and ``BATTERY on %d/%d
(%s)!`` (span/port, printed when the driver's debug parameter is set).
"""

from __future__ import annotations

import re
from typing import Any

# Kernel modules of DAHDI and its board drivers (dahdi-linux drivers/dahdi).
MODULE_RE = re.compile(r"^(dahdi\w*|wctdm\w*|wcaxx|wct\w+|wcte\w+|wcb4xxp|wcfxo|wcopenpci|opvx\w+|"
                       r"xpp\w*|xpd_\w+|xbus\w*|oct612x|voicebus|tor2|pciradio|wcxb)$")
LOG_RE = re.compile(r"\b(dahdi\w*|wctdm\w*|wcaxx|wct4xxp|wcte\w+|wcb4xxp|wcfxo|opvx\w+|xpp\w*|"
                    r"voicebus)\b|BATTERY on \d+/\d+|Wildcard", re.I)
BATTERY_RE = re.compile(r"(?P<no>NO )?BATTERY on (?P<span>\d+)/(?P<port>\d+)")
# PCI vendors of DAHDI cards: Digium, Tiger Jet (TDM400P, X100P and clones),
# Sangoma, OpenVox, Xorcom Astribank is USB and shows up as xpp modules.
TELEPHONY_VENDORS = {"0xd161": "Digium", "0xe159": "Tiger Jet", "0x1923": "Sangoma",
                     "0x1b74": "OpenVox"}
LOG_KEEP = 60


def parse_proc_modules(text: str) -> list[dict[str, Any]]:
    """/proc/modules lines of DAHDI modules: name, size, use count, users."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4 or not MODULE_RE.match(parts[0]):
            continue
        users = [u for u in parts[3].split(",") if u and u != "-"]
        out.append({"name": parts[0], "size": int(parts[1]) if parts[1].isdigit() else None,
                    "used": int(parts[2]) if parts[2].isdigit() else None, "used_by": users,
                    "state": parts[4] if len(parts) > 4 else None})
    return out


def filter_log(lines: list[str]) -> dict[str, Any]:
    """The card's lines from a kernel log, and battery events per span/port."""
    kept = [ln for ln in lines if LOG_RE.search(ln)]
    battery: dict[str, dict[str, Any]] = {}
    for ln in kept:
        m = BATTERY_RE.search(ln)
        if m:
            battery[f"{m['span']}/{m['port']}"] = {"span": int(m["span"]), "port": int(m["port"]),
                                                   "battery": not m["no"], "line": ln.strip()[:300]}
    return {"lines": [ln[:300] for ln in kept[-LOG_KEEP:]], "matched": len(kept),
            "battery": [battery[k] for k in sorted(battery)]}


def pci_devices(host: Any) -> dict[str, Any]:
    """Telephony cards on the PCI bus, with the driver bound to each."""
    base = "/sys/bus/pci/devices"
    out: dict[str, Any] = {"readable": False, "devices": [], "error": None}
    try:
        slots = host.listdir(base)
    except OSError as exc:
        out["error"] = f"{base}: {exc.strerror or exc}"
        return out
    out["readable"] = True
    for slot in slots:
        vendor = host.read_text(f"{base}/{slot}/vendor", missing="").strip().lower()
        if vendor not in TELEPHONY_VENDORS:
            continue
        device = host.read_text(f"{base}/{slot}/device", missing="").strip().lower()
        try:
            driver = host.readlink(f"{base}/{slot}/driver").rstrip("/").rsplit("/", 1)[-1]
        except OSError:
            driver = None
        out["devices"].append({"slot": slot, "vendor": vendor, "vendor_name": TELEPHONY_VENDORS[vendor],
                               "device": device, "driver": driver})
    return out
