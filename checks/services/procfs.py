"""Probe side, processes: /proc (processes, their sockets and memory), the
kernel's boot time, the owners of ports, and systemd units. Everything goes
through the host, so a recorded tree works."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import time
from typing import Any

from diagnose.checks.services.common import INTERPRETER, LISTEN_STATE, SECRET_ARG, SHOW_PROPS, UNIT_DIRS
from diagnose.redact import redact_argv


def list_processes(host) -> list[dict[str, Any]]:
    """Every process's pid, comm, argv and state from /proc (proc(5))."""
    own = os.getpid() if host.live else None
    out = []
    for entry in host.listdir("/proc"):
        if not entry.isdigit() or int(entry) == own:
            continue
        try:
            stat = host.read_text(f"/proc/{entry}/stat")
            argv = host.read_bytes(f"/proc/{entry}/cmdline").split(b"\0")
        except OSError:
            continue  # exited meanwhile
        # The comm field is in parentheses and may itself hold ") ", so
        # split at the last ")".
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        rest = stat[stat.rindex(")") + 2:].split()
        out.append({"pid": int(entry), "comm": comm, "state": rest[0], "starttime": int(rest[19]),
                    "argv": [a.decode("utf-8", "replace") for a in argv if a]})
    return out


def matches_process(proc: dict[str, Any], want: str) -> bool:
    """Does *proc* run the program *want*? The kernel keeps only 15
    characters of the name; scripts show up as an interpreter argument."""
    if proc["comm"] == want[:15]:
        return True
    argv = proc["argv"]
    if not argv:
        return False
    base = os.path.basename(argv[0])
    if base == want:
        return True
    if INTERPRETER.match(base):
        script = next((a for a in argv[1:] if not a.startswith("-")), "")
        sbase = os.path.basename(script)
        return want in (sbase, os.path.splitext(sbase)[0])
    return False


def boot_time(host) -> float | None:
    for line in host.read_text("/proc/stat", missing="").splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    return None


def mem_total_kb(host) -> int | None:
    for line in host.read_text("/proc/meminfo", missing="").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return None


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).replace(microsecond=0).isoformat()


def _status_kb(host, pid: int) -> dict[str, int]:
    out = {}
    for line in host.read_text(f"/proc/{pid}/status", missing="").splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmSize"):
            out[key] = int(value.split()[0])
    return out


def socket_table(host, pid: "int | str") -> list[dict[str, Any]]:
    """Bound (listening) sockets in *pid*'s network namespace: proto,
    address, port, inode. /proc/<pid>/net is that process's namespace view."""
    rows = []
    for proto, state in LISTEN_STATE.items():
        text = host.read_text(f"/proc/{pid}/net/{proto}", missing="")
        for line in text.splitlines()[1:]:
            f = line.split()
            if len(f) < 10 or f[3] != state:
                continue
            addr_hex, port_hex = f[1].split(":")
            rows.append({"proto": proto, "address": _decode_addr(addr_hex), "port": int(port_hex, 16),
                         "inode": int(f[9])})
    return rows


def _decode_addr(h: str) -> str:
    # Addresses are the kernel's in-memory words printed in hex: each 32-bit
    # word is in host (little-endian here) byte order.
    raw = bytes.fromhex(h)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def socket_inodes(host, pid: int, errors: list[str] | None = None) -> set[int] | None:
    """Socket inodes among *pid*'s open files; None when not readable (another
    user's process without root: why is appended to *errors*)."""
    try:
        fds = host.listdir(f"/proc/{pid}/fd")
    except OSError as exc:
        if errors is not None:
            errors.append(exc.strerror or str(exc))
        return None
    inodes = set()
    for fd in fds:
        try:
            target = host.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _safe_argv(argv: list[str]) -> list[str]:
    # The whole argv first (a flag and its value are two words), each word
    # cut to a bounded length (an argument may be 128 KB).
    return [SECRET_ARG.sub(r"\1\3***", a) for a in redact_argv([a[:1000] for a in argv[:9]])[:8]]


def process_facts(host, proc: dict[str, Any], btime: float | None, clk: int) -> dict[str, Any]:
    pid = proc["pid"]
    table = socket_table(host, pid)
    fd_errors: list[str] = []
    inodes = socket_inodes(host, pid, fd_errors)
    mem = _status_kb(host, pid)
    try:
        cwd = host.readlink(f"/proc/{pid}/cwd")
    except OSError:
        cwd = None
    listening = sorted({(s["proto"], s["address"], s["port"]) for s in table
                        if inodes is not None and s["inode"] in inodes})
    return {
        "pid": pid, "name": proc["comm"], "state": proc["state"], "argv": _safe_argv(proc["argv"]),
        "started": _iso(btime + proc["starttime"] / clk) if btime is not None else None,
        "rss_kb": mem.get("VmRSS"), "vms_kb": mem.get("VmSize"), "cwd": cwd,
        "sockets_known": inodes is not None,
        "fd_error": fd_errors[0] if fd_errors else None,
        "listening": [{"proto": p, "address": a, "port": n} for p, a, n in listening],
        # Without access to its open files (another user's process, not
        # root), what its network namespace listens on is all there is.
        "netns_ports": None if inodes is not None else sorted({s["port"] for s in table}),
        "_table": table,
    }


def recheck_states(host, processes: list[dict[str, Any]], wait_s: float = 0.5) -> None:
    """A process in D (uninterruptible I/O) for an instant is normal; one still
    there *wait_s* later is stuck. Read those states once more ("state_again")."""
    if not any(p["state"] == "D" for p in processes):
        return
    if host.live:
        time.sleep(wait_s)
    for p in processes:
        if p["state"] == "D":
            stat = host.read_text(f"/proc/{p['pid']}/stat", missing="")
            p["state_again"] = stat[stat.rindex(")") + 2:].split()[0] if ")" in stat else None
            p["state_again_after_s"] = wait_s


def port_holders(host, ports: list[int], processes: list[dict[str, Any]],
                 procs: list[dict[str, Any]]) -> dict[str, Any]:
    """Who, if anyone, listens on each configured port the running service
    does not hold itself: another program in its namespace, or nobody.
    ``owner_visible`` is false when no process could be named as the holder
    while some processes' open files were unreadable (not root): the holder
    may be any of those, the service's own included."""
    own = {s["port"] for p in processes for s in p["listening"]}
    missing = [p for p in ports if p not in own]
    if not missing:
        return {}
    # Not running: a program holding its port is why it cannot start, so look
    # in this host's own namespace as well.
    table = processes[0]["_table"] if processes else socket_table(host, "self")
    out: dict[str, Any] = {}
    for port in missing:
        rows = [s for s in table if s["port"] == port]
        if not rows:
            out[str(port)] = None
            continue
        holder: dict[str, Any] = {"proto": rows[0]["proto"], "address": rows[0]["address"],
                                  "pid": None, "name": None}
        want = {s["inode"] for s in rows}
        hidden: list[str] = []
        for proc in procs:
            inodes = socket_inodes(host, proc["pid"], hidden)
            if inodes and inodes & want:
                holder.update(pid=proc["pid"], name=proc["comm"])
                break
        holder["owner_visible"] = holder["pid"] is not None or not hidden
        out[str(port)] = holder
    return out


def not_collected(processes: list[dict[str, Any]], holders: dict[str, Any]) -> list[dict[str, str]]:
    """What this user could not see about the service, in the words of the
    report: each process whose open files were unreadable, and owners of
    ports that could not be named."""
    out = [{"what": f"/proc/{p['pid']}/fd unreadable", "why": p.get("fd_error") or "unreadable"}
           for p in processes if not p["sockets_known"]]
    if any(h and h.get("owner_visible") is False for h in holders.values()):
        out.append({"what": "process owners of other users not visible",
                    "why": "/proc/<pid>/fd of other users' processes is unreadable without root"})
    return out


def systemd_unit(host, unit: str, systemd: bool) -> dict[str, Any]:
    """The unit's state from ``systemctl show`` when systemd runs, else
    whether a unit file exists at all."""
    facts: dict[str, Any] = {"name": unit, "file": None, "show": None, "error": None}
    for d in UNIT_DIRS:
        if host.exists(f"{d}/{unit}"):
            facts["file"] = f"{d}/{unit}"
            break
    if not systemd:
        return facts
    if not host.live:
        facts["error"] = "systemctl needs the live machine"
        return facts
    res = host.run(["systemctl", "show", unit, "-p", ",".join(SHOW_PROPS)], timeout=5)
    if not res.ok:
        facts["error"] = (res.stderr.strip() or f"systemctl exited {res.rc}")[:300]
        return facts
    show = {}
    for line in res.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            show[key] = value
    facts["show"] = show
    return facts
