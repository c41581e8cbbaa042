"""Gathers the telephony card's facts through the host seam. Never compares
with a threshold: that is the judge's work. Every source that cannot be read
is recorded with the reason, and the rest goes on.

Files are read with ``host.read_text``/``listdir`` so that ``--root DIR``
reads a recorded tree; commands (``asterisk -rx``, ``dahdi_scan``,
``dmesg``) run through ``host.run`` and only on the live machine.
"""

from __future__ import annotations

import concurrent.futures as cf
import posixpath
from typing import Any

from diagnose.checks.telephony import astcli, chandahdi, dahdicfg, kernel, procfs
from diagnose.host import NotLive

FXOTUNE_CONF = "/etc/fxotune.conf"
MODPROBE_DIR = "/etc/modprobe.d"
DAHDI_MODULES = "/etc/dahdi/modules"
KERNEL_LOGS = ("/var/log/kern.log", "/var/log/messages", "/var/log/syslog")
# Analog board drivers and the module parameters that set hardware gains
# (tenths of a dB) and the line mode (dahdi-linux module_param()s).
GAIN_DRIVERS = ("wctdm24xxp", "wctdm", "wcaxx", "opvxa1200", "opvxa24xx", "wcfxo")
DRIVER_PARAMS = ("opermode", "fxorxgain", "fxotxgain", "fxsrxgain", "fxstxgain", "battthresh",
                 "battdebounce", "battalarm")
LIVE_MAX_CHANNELS = 96
LIVE_WORKERS = 4
LIVE_TIMEOUT_S = 3.0


def _run(host: Any, argv: list[str], timeout: float) -> Any:
    try:
        return host.run(argv, timeout=timeout)
    except NotLive:
        return None


def _read(host: Any, path: str, max_bytes: int = 4 * 1024 * 1024) -> tuple[str | None, str | None]:
    """(text, None), (None, None) when absent, (None, why) when unreadable."""
    try:
        return host.read_text(path, max_bytes=max_bytes), None
    except (FileNotFoundError, NotADirectoryError):
        return None, None
    except OSError as exc:
        return None, f"{path}: {exc.strerror or exc}"


def read_proc(host: Any, proc_dir: str) -> dict[str, Any]:
    out: dict[str, Any] = {"dir": proc_dir, "present": host.is_dir(proc_dir), "spans": [], "errors": []}
    if not out["present"]:
        return out
    try:
        names = [n for n in host.listdir(proc_dir) if n.isdigit()]
    except OSError as exc:
        out["errors"].append(f"{proc_dir}: {exc.strerror or exc}")
        return out
    for name in sorted(names, key=int):
        path = posixpath.join(proc_dir, name)
        text, err = _read(host, path, 1024 * 1024)
        if err:
            out["errors"].append(err)
        if text is None:
            continue
        span = procfs.parse_span(text, path)
        if span is None:
            out["errors"].append(f"{path}: no span header")
            continue
        if span["span"] is None:
            span["span"] = int(name)
        out["spans"].append(span)
    return out


def read_system_conf(host: Any, path: str) -> dict[str, Any]:
    text, err = _read(host, path)
    if text is None:
        return {"path": path, "present": False, "error": err}
    return {"path": path, "present": True, "error": None, **dahdicfg.parse_system_conf(text, path)}


def read_chan_dahdi(host: Any, path: str) -> dict[str, Any]:
    if not host.exists(path):
        return {"path": path, "present": False, "files": [], "channels": [], "errors": []}
    read, lister = chandahdi.host_reader(host)
    try:
        parsed = chandahdi.parse_chan_dahdi(path, read, lister)
    except OSError as exc:
        return {"path": path, "present": True, "files": [], "channels": [], "errors": [str(exc)]}
    return {"present": True, **parsed}


def read_modules(host: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"loaded": None, "parameters": {}, "modprobe": [], "dahdi_modules": None,
                           "errors": []}
    text, err = _read(host, "/proc/modules")
    if text is not None:
        out["loaded"] = kernel.parse_proc_modules(text)
    elif err:
        out["errors"].append(err)
    for drv in GAIN_DRIVERS:
        folder = f"/sys/module/{drv}/parameters"
        if not host.is_dir(folder):
            continue
        params = {}
        try:
            present = set(host.listdir(folder))
        except OSError as exc:
            out["errors"].append(f"{folder}: {exc.strerror or exc}")
            continue
        for p in DRIVER_PARAMS:
            if p in present:
                value, perr = _read(host, f"{folder}/{p}", 4096)
                params[p] = value.strip() if value is not None else None
                if perr:
                    out["errors"].append(perr)
        out["parameters"][drv] = params
    try:
        confs = [n for n in host.listdir(MODPROBE_DIR) if n.endswith(".conf")]
    except OSError:
        confs = []
    for name in confs:
        path = f"{MODPROBE_DIR}/{name}"
        text, err = _read(host, path, 256 * 1024)
        if text is not None:
            out["modprobe"] += [o for o in dahdicfg.parse_modprobe_options(text, path)
                                if kernel.MODULE_RE.match(o["module"])]
        elif err:
            out["errors"].append(err)
    text, _ = _read(host, DAHDI_MODULES, 64 * 1024)
    if text is not None:
        out["dahdi_modules"] = dahdicfg.parse_module_list(text)
    return out


def read_kernel_log(host: Any) -> dict[str, Any]:
    errors = []
    res = _run(host, ["dmesg"], 5.0)
    if res is not None:
        if res.ok and res.stdout.strip():
            return {"source": "dmesg", "errors": [], **kernel.filter_log(res.stdout.splitlines())}
        errors.append("dmesg: " + ((res.stderr or "").strip() or f"exit {res.rc}")[:200])
    for path in KERNEL_LOGS:
        try:
            lines = host.tail(path, 2 * 1024 * 1024)
        except FileNotFoundError:
            continue
        except OSError as exc:
            errors.append(f"{path}: {exc.strerror or exc}")
            continue
        return {"source": path, "errors": errors, **kernel.filter_log(lines)}
    errors.append("no kernel log file (" + ", ".join(KERNEL_LOGS) + ")")
    return {"source": None, "errors": errors, "lines": [], "matched": 0, "battery": []}


def read_dahdi_scan(host: Any) -> dict[str, Any]:
    if not host.live:
        return {"state": "not-live", "spans": []}
    if not host.which("dahdi_scan"):
        return {"state": "not-installed", "spans": []}
    res = _run(host, ["dahdi_scan"], 5.0)
    if res is None or not res.ok:
        why = "" if res is None else (res.stderr or res.stdout).strip()[:200]
        return {"state": "error", "error": why or "failed", "spans": []}
    return {"state": "ok", "spans": procfs.parse_dahdi_scan(res.stdout)}


def _ask(host: Any, channel: int) -> dict[str, Any]:
    res = _run(host, ["asterisk", "-rx", f"dahdi show channel {channel}"], LIVE_TIMEOUT_S)
    if res is None:
        return {"channel": channel, "error": "needs the live machine"}
    if res.timed_out:
        return {"channel": channel, "error": f"no answer within {LIVE_TIMEOUT_S:g}s", "timed_out": True}
    text = res.stdout or res.stderr
    if astcli.not_running(text) or res.missing:
        return {"channel": channel, "error": text.strip()[:200] or "asterisk not found",
                "not_running": True}
    parsed = astcli.parse_show_channel(text)
    parsed.setdefault("channel", channel)
    return parsed


def read_live(host: Any, channels: list[int]) -> dict[str, Any]:
    """``dahdi show channel N`` for each channel, asked concurrently; stops
    at the first answer saying Asterisk is not there."""
    if not host.which("asterisk"):
        return {"state": "no-asterisk" if host.live else "not-live", "channels": [],
                "error": "asterisk is not on PATH" if host.live else None}
    if not channels:
        return {"state": "ok", "channels": [], "error": None}
    wanted = channels[:LIVE_MAX_CHANNELS]
    first = _ask(host, wanted[0])
    if first.get("error") == "needs the live machine":
        return {"state": "not-live", "channels": [], "error": None}
    if first.get("not_running") or first.get("timed_out"):
        return {"state": "not-running", "channels": [], "error": first["error"]}
    answers = [first]
    with cf.ThreadPoolExecutor(max_workers=LIVE_WORKERS) as pool:
        answers += list(pool.map(lambda ch: _ask(host, ch), wanted[1:]))
    return {"state": "ok", "channels": answers, "error": None,
            "truncated": len(channels) > len(wanted)}


def collect(host: Any, cfg: dict[str, Any]) -> dict[str, Any]:
    proc = read_proc(host, cfg["proc_dir"])
    system = read_system_conf(host, cfg["system_conf"])
    chan = read_chan_dahdi(host, cfg["chan_dahdi_conf"])
    fxo_text, fxo_err = _read(host, FXOTUNE_CONF, 256 * 1024)
    wanted = sorted({c["channel"] for c in chan["channels"]} |
                    {c["channel"] for s in proc["spans"] for c in s["channels"]
                     if c["signalling"] not in (None, "Unconfigured", "Reserved")})
    return {
        "paths": {"proc_dir": cfg["proc_dir"], "system_conf": cfg["system_conf"],
                  "chan_dahdi_conf": cfg["chan_dahdi_conf"]},
        "proc": proc,
        "system_conf": system,
        "chan_dahdi": chan,
        "fxotune": {"path": FXOTUNE_CONF, "present": fxo_text is not None, "error": fxo_err,
                    "channels": dahdicfg.parse_fxotune(fxo_text) if fxo_text else []},
        "modules": read_modules(host),
        "kernel_log": read_kernel_log(host),
        "pci": kernel.pci_devices(host),
        "dahdi_scan": read_dahdi_scan(host),
        "live": read_live(host, wanted),
    }
