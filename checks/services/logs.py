"""Probe side, what a service left behind: its log's tail and last traceback
(Python and Java), core dumps, and the kernel's OOM kills."""

from __future__ import annotations

from typing import Any

from diagnose.checks.services.common import (
    COREDUMP_DIR,
    DISK_FULL,
    ERROR_LINE,
    JAVA_FRAME,
    LOG_PATH,
    LOG_TAIL_BYTES,
    MAX_LINE,
    MAX_LINES,
    MAX_TRACEBACK,
    MEMCG_USAGE,
    OOM_KILL,
    OOM_MEMCG,
    START_LINE,
)
from diagnose.checks.services.procfs import _iso
from diagnose.redact import redact_text


def read_log(host, path: str) -> dict[str, Any]:
    """The service log's size, time, last lines, error lines and last
    traceback (Python or Java), from a bounded tail of the file."""
    facts: dict[str, Any] = {"path": path, "exists": False, "error": None}
    try:
        st = host.stat(path)
        lines = host.tail(path, LOG_TAIL_BYTES)
    except FileNotFoundError:
        return facts
    except OSError as exc:
        facts.update(exists=True, error=exc.strerror or str(exc))
        return facts
    # Cut first: a 200 KB line costs no more than a short one (diagnose.redact).
    lines = [redact_text(ln[:2000])[:500] for ln in lines]
    # Only what the service wrote since it last started explains its state
    # now: an old "disk full" before a later restart is stale evidence.
    start = max((i for i, ln in enumerate(lines) if START_LINE.search(ln)), default=-1)
    since = lines[start + 1:] if start >= 0 else lines
    facts.update(exists=True, size=st.st_size, mtime=_iso(st.st_mtime),
                 last_lines=lines[-10:],
                 errors=[ln for ln in since if ERROR_LINE.search(ln)][-MAX_LINES:],
                 errors_before_start=len([ln for ln in lines[:start + 1] if ERROR_LINE.search(ln)]),
                 last_start=lines[start] if start >= 0 else None,
                 traceback=last_traceback(since),
                 disk_full_files=_disk_full_files(host, since))
    return facts


def _disk_full_files(host, lines: list[str]) -> list[dict[str, Any]]:
    """Files that disk-full lines name, with the mount holding each: which
    filesystem is full, in the service's own words."""
    out: list[dict[str, Any]] = []
    for ln in lines:
        if not DISK_FULL.search(ln[:MAX_LINE]):
            continue
        for m in LOG_PATH.finditer(ln[:MAX_LINE]):
            mnt = host.mount_of(m.group(1))
            row = {"path": m.group(1), "mount": mnt.mountpoint if mnt else None}
            if row not in out:
                out.append(row)
    return out[-5:]


def last_traceback(lines: list[str]) -> list[str]:
    """The last Python traceback (header, frames, exception line) or Java
    stack trace (exception line, ``at`` frames, ``Caused by`` blocks) in
    *lines*, whichever comes later."""
    py = max((i for i, ln in enumerate(lines) if "Traceback (most recent call last):" in ln), default=-1)
    java = max((i for i, ln in enumerate(lines) if _java_frame(ln)), default=-1)
    if java > py:
        start = java
        while start > 0 and _java_continued(lines[start]):
            start -= 1
        return lines[start:java + 1][-MAX_TRACEBACK:]
    if py < 0:
        return []
    out = [lines[py]]
    for ln in lines[py + 1:]:
        out.append(ln)
        if ln and not ln[0].isspace():
            break  # the exception line ends a Python traceback
    return out[:MAX_TRACEBACK]


def _java_frame(ln: str) -> bool:
    return JAVA_FRAME.match(ln) is not None


def _java_continued(ln: str) -> bool:
    # A Java trace: "Exception in thread ... X: msg", then "\tat" frames,
    # "\t... 3 more", and "Caused by:" / "Suppressed:" blocks of their own.
    s = ln.lstrip()
    return _java_frame(ln) or (ln[:1] in (" ", "\t") and s.startswith("...")) or \
        s.startswith(("Caused by:", "Suppressed:"))


def core_dumps(host, comm: str, workdirs: list[str]) -> list[dict[str, Any]]:
    """systemd-coredump files for this program (core.<comm>.<uid>.<boot>.<pid>.<time>[.zst])
    and ``core``/``core.*`` files (kernel.core_pattern "core", core_uses_pid)
    in its working directories."""
    found = []
    places = [(COREDUMP_DIR, lambda n: n.startswith(f"core.{comm}."))]
    places += [(d, lambda n: n == "core" or n.startswith("core.")) for d in workdirs]
    for folder, want in places:
        try:
            entries = list(host.scandir(folder))
        except OSError:
            continue
        for e in entries:
            if want(e.name):
                st = e.stat()
                found.append({"path": f"{folder.rstrip('/')}/{e.name}", "size": st.st_size,
                              "mtime": _iso(st.st_mtime)})
    found.sort(key=lambda c: c["mtime"] or "")
    return found[-5:]


def kernel_oom_kills(host) -> dict[str, Any]:
    """OOM killer kills from ``dmesg`` (live, readable) or /var/log/kern.log."""
    facts: dict[str, Any] = {"source": None, "errors": [], "oom_kills": []}
    lines: list[str] = []
    if host.live:
        res = host.run(["dmesg", "--time-format", "iso"], timeout=5)
        if res.ok:
            facts["source"], lines = "dmesg", res.stdout.splitlines()
        else:
            facts["errors"].append("dmesg: " + (res.stderr.strip() or f"exit {res.rc}")[:200])
    else:
        facts["errors"].append("dmesg: needs the live machine")
    if facts["source"] is None:
        try:
            lines = host.tail("/var/log/kern.log", 2 * 1024 * 1024)
            facts["source"] = "/var/log/kern.log"
        except FileNotFoundError:
            facts["errors"].append("/var/log/kern.log: not present")
        except OSError as exc:
            facts["errors"].append(f"/var/log/kern.log: {exc.strerror}")
    memcg: dict[str, Any] = {}
    usage: dict[str, int] = {}
    for ln in lines:
        ln = ln[:MAX_LINE]
        m = MEMCG_USAGE.search(ln)
        if m:
            usage = {"usage_kb": int(m["usage"]), "limit_kb": int(m["limit"])}
        m = OOM_MEMCG.search(ln)
        if m:
            memcg = {"memcg": m["memcg"], "pid": int(m["pid"])}
        m = OOM_KILL.search(ln)
        if m:
            kill = {"time": ln.split()[0] if ln[:1].isdigit() else None, "pid": int(m["pid"]),
                    "name": m["name"], "total_vm_kb": _int(m["vm"]), "anon_rss_kb": _int(m["anon"]),
                    "file_rss_kb": _int(m["file"]), "line": ln[:400]}
            if memcg.get("pid") == kill["pid"]:
                kill["memcg"] = memcg["memcg"]
                kill.update(usage)
            facts["oom_kills"].append(kill)
            memcg, usage = {}, {}
    facts["oom_kills"] = facts["oom_kills"][-50:]
    return facts


def _int(v: str | None) -> int | None:
    return None if v is None else int(v)
