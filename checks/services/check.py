"""application.services: do the call-center services run, listen, and stay up?

This is the software side of the verdict. For every ``[[service]]`` the probe
records what a support engineer would look at first: the matching processes
(from /proc, through the host, so a recorded tree works too), the TCP/UDP
ports they really listen on, the systemd unit state when systemd runs, the
last error lines and traceback of the service log, core dumps, and the OOM
killer's kills from the kernel log. The judge turns that into one finding
per service: running and listening (ok), crashed with a traceback or an exit
status (software), killed by the OOM killer (undetermined, with the memory
figures), stopped because its database is corrupt or its disk is full
(evidence ``databases``/``mounts`` let attribution make it a consequence of
the database or disk finding), or not installed (software).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from typing import Any

from diagnose.check import Check, Key, Needs
from diagnose.config import redact
from diagnose.model import Fault, Finding, Status

NAME = "application.services"

# Where systemd keeps unit files (systemd.unit(5)), checked when systemd is
# not running (a recorded tree, a container) to tell "not installed".
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
             "/usr/lib/systemd/system", "/lib/systemd/system")
COREDUMP_DIR = "/var/lib/systemd/coredump"
SHOW_PROPS = ("LoadState", "ActiveState", "SubState", "Result", "ExecMainStatus", "ExecMainCode",
              "NRestarts", "MainPID", "FragmentPath", "WorkingDirectory",
              "ExecMainStartTimestamp", "ExecMainExitTimestamp")
# A script's name is an argument of its interpreter: "python3 /opt/cc/ccserver.py".
INTERPRETER = re.compile(r"^(python[\d.]*|pypy[\d.]*|java|node|nodejs|perl|ruby|php[\d.]*|bash|sh|dash)$")
LOG_TAIL_BYTES = 256 * 1024
MAX_LINES = 20
MAX_TRACEBACK = 40

# Lines worth showing from a service log; the judge classifies them.
ERROR_LINE = re.compile(
    r"\b(ERROR|FATAL|CRITICAL|SEVERE|PANIC|errno|malformed|corrupt|crashed|Killed)\b|Error:|Exception"
    r"|No space left|Disk full|Segmentation fault|core dumped", re.IGNORECASE)
DISK_FULL = re.compile(r"No space left on device|errno[ =:]*28\b|\bENOSPC\b|Disk full|\berror 1021\b",
                       re.IGNORECASE)
DB_CORRUPT = re.compile(
    r"database disk image is malformed|file is not a database|is marked as crashed|"
    r"Table '[^']*' is corrupt|Incorrect key file|invalid page in block|unexpected zero page|"
    r"could not read block|index \S+ contains|SQLITE_CORRUPT|SQLITE_NOTADB|database .*corrupt",
    re.IGNORECASE)
# proc(5): /proc/<pid>/net/{tcp,udp}[6] socket states, hex. 0A = TCP_LISTEN;
# 07 = TCP_CLOSE, which for UDP means bound and unconnected, i.e. serving.
LISTEN_STATE = {"tcp": "0A", "tcp6": "0A", "udp": "07", "udp6": "07"}
OOM_KILL = re.compile(
    r"Killed process (?P<pid>\d+) \((?P<name>[^)]*)\)(?: total-vm:(?P<vm>\d+)kB, anon-rss:(?P<anon>\d+)kB,"
    r" file-rss:(?P<file>\d+)kB)?")
OOM_MEMCG = re.compile(r"oom-kill:.*?oom_memcg=(?P<memcg>[^,]*),.*?task=(?P<task>[^,]*),pid=(?P<pid>\d+)")
MEMCG_USAGE = re.compile(r"memory: usage (?P<usage>\d+)kB, limit (?P<limit>\d+)kB")
JAVA_FRAME = re.compile(r"^\s+at [\w$.<>/-]+\(")
SECRET_ARG = re.compile(r"(?i)(pass(word)?|secret|token|key)(=|:)\S+")


class ApplicationServices(Check):
    name = NAME
    summary = "the call-center services run, listen on their ports, and do not crash"
    section = "service"
    multi = True
    needs = Needs(section=True, role="server")
    timeout = 15.0
    schema = {
        "name": Key(str, "", "service name shown in reports (default: the unit or process)"),
        "process": Key(str, "", "process name as in ps/top (matched on the name or the script name)"),
        "unit": Key(str, "", "systemd unit, e.g. callcenter.service"),
        "executable": Key(str, "", "path of the service program, to tell 'not installed' when it is not on PATH"),
        "ports": Key(list, [], "TCP/UDP ports the service must listen on", item=int),
        "log": Key(str, "", "the service's log file"),
        "workdir": Key(str, "", "working directory, searched for core files (default: the process's or the unit's)"),
        "databases": Key(list, [], "names of the [[database]] entries the service depends on", item=str),
        "data_paths": Key(list, [], "directories the service writes its data to", item=str),
    }

    def applies(self, host, cfg):
        for n, item in enumerate(cfg["items"], 1):
            if not (item["process"] or item["unit"]):
                return (f"[[service]] #{n} ({item['name'] or 'unnamed'}) names no program: "
                        "set process = \"<name as in ps>\" or unit = \"<name>.service\"")
        return None

    # -- probe --------------------------------------------------------------
    def probe(self, host, cfg):
        systemd = host.exists("/run/systemd/system")
        procs = list_processes(host)
        clk = os.sysconf("SC_CLK_TCK")
        btime = boot_time(host)
        kernel = kernel_oom_kills(host)
        services = []
        for item in cfg["items"]:
            services.append(probe_service(host, item, procs, systemd, btime, clk))
        return {
            "systemd": systemd,
            "mem_total_kb": mem_total_kb(host),
            "kernel_log": kernel,
            "core_pattern": host.read_text("/proc/sys/kernel/core_pattern", missing="").strip(),
            "services": services,
        }

    # -- judge --------------------------------------------------------------
    def judge(self, facts, cfg):
        return [judge_service(svc, facts) for svc in facts["services"]]


def service_name(item: dict[str, Any]) -> str:
    return item.get("name") or item.get("unit") or item.get("process") or "service"


# ---------------------------------------------------------------------------
# probe helpers: everything goes through the host, so a recorded tree works.

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


def socket_table(host, pid: int) -> list[dict[str, Any]]:
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


def socket_inodes(host, pid: int) -> set[int] | None:
    """Socket inodes among *pid*'s open files; None when not readable."""
    try:
        fds = host.listdir(f"/proc/{pid}/fd")
    except OSError:
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
    return [SECRET_ARG.sub(r"\1\3***", redact(a)) for a in argv[:8]]


def process_facts(host, proc: dict[str, Any], btime: float | None, clk: int) -> dict[str, Any]:
    pid = proc["pid"]
    table = socket_table(host, pid)
    inodes = socket_inodes(host, pid)
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
        "listening": [{"proto": p, "address": a, "port": n} for p, a, n in listening],
        # Without access to its open files (another user's process, not
        # root), what its network namespace listens on is all there is.
        "netns_ports": None if inodes is not None else sorted({s["port"] for s in table}),
        "_table": table,
    }


def port_holders(host, ports: list[int], processes: list[dict[str, Any]],
                 procs: list[dict[str, Any]]) -> dict[str, Any]:
    """Who, if anyone, listens on each configured port the running service
    does not hold itself: another program in its namespace, or nobody."""
    own = {s["port"] for p in processes for s in p["listening"]}
    missing = [p for p in ports if p not in own]
    if not processes or not missing:
        return {}
    table = processes[0]["_table"]
    out: dict[str, Any] = {}
    for port in missing:
        rows = [s for s in table if s["port"] == port]
        if not rows:
            out[str(port)] = None
            continue
        holder: dict[str, Any] = {"proto": rows[0]["proto"], "address": rows[0]["address"],
                                  "pid": None, "name": None}
        want = {s["inode"] for s in rows}
        for proc in procs:
            inodes = socket_inodes(host, proc["pid"])
            if inodes and inodes & want:
                holder.update(pid=proc["pid"], name=proc["comm"])
                break
        out[str(port)] = holder
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
    lines = [redact(SECRET_ARG.sub(r"\1\3***", ln))[:500] for ln in lines]
    facts.update(exists=True, size=st.st_size, mtime=_iso(st.st_mtime),
                 last_lines=lines[-10:],
                 errors=[ln for ln in lines if ERROR_LINE.search(ln)][-MAX_LINES:],
                 traceback=last_traceback(lines))
    return facts


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


def probe_service(host, item: dict[str, Any], procs: list[dict[str, Any]], systemd: bool,
                  btime: float | None, clk: int) -> dict[str, Any]:
    unit = systemd_unit(host, item["unit"], systemd) if item["unit"] else None
    main_pid = None
    if unit and unit["show"]:
        main_pid = int(unit["show"].get("MainPID") or 0) or None
    matched = [p for p in procs
               if (item["process"] and matches_process(p, item["process"])) or p["pid"] == main_pid]
    processes = [process_facts(host, p, btime, clk) for p in matched[:20]]
    holders = port_holders(host, item["ports"], processes, procs)
    for p in processes:
        del p["_table"]

    program = None
    if item["process"] or item["executable"]:
        path = item["executable"] or host.which(item["process"])
        program = {"name": item["process"], "path": path,
                   "exists": bool(path) and host.exists(path)}

    workdirs = [item["workdir"]] if item["workdir"] else []
    workdirs += [p["cwd"] for p in processes if p["cwd"]]
    if unit and unit["show"] and unit["show"].get("WorkingDirectory"):
        workdirs.append(unit["show"]["WorkingDirectory"])
    comm = (item["process"] or (processes[0]["name"] if processes else ""))[:15]

    mounts = []
    for path in [item["log"], *item["data_paths"]]:
        if path:
            m = host.mount_of(path)
            if m and m.mountpoint not in mounts:
                mounts.append(m.mountpoint)
    return {
        "name": service_name(item),
        "process": item["process"] or None,
        "ports": item["ports"],
        "processes": processes,
        "port_holders": holders,
        "unit": unit,
        "program": program,
        "log": read_log(host, item["log"]) if item["log"] else None,
        "core_dumps": core_dumps(host, comm, list(dict.fromkeys(workdirs))) if comm else [],
        "databases": item["databases"],
        "data_paths": item["data_paths"],
        "mounts": mounts,
    }


# ---------------------------------------------------------------------------
# judge: pure, from the facts above.

def _ports(ps) -> str:
    ps = sorted(set(ps))
    return ", ".join(str(p) for p in ps) if ps else "none"


def exception_line(tb: list[str]) -> str:
    """The line naming the exception: the last of a Python traceback, the
    first of a Java stack trace (its deepest ``Caused by`` if any)."""
    if not tb:
        return ""
    if "Traceback (most recent call last):" in tb[0]:
        return tb[-1].strip()
    causes = [ln for ln in tb if ln.startswith("Caused by:")]
    return (causes[-1][len("Caused by:"):] if causes else tb[0]).strip()


def _parse_time(s: str | None) -> dt.datetime | None:
    if not s:
        return None
    try:
        t = dt.datetime.fromisoformat(s.replace(",", "."))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def judge_service(svc: dict[str, Any], facts: dict[str, Any]) -> Finding:
    name = svc["name"]
    unit = svc.get("unit") or {}
    show = unit.get("show") or {}
    log = svc.get("log") or {}
    procs = [p for p in svc["processes"] if p["state"] not in ("Z", "X")]
    comm = (svc.get("process") or (svc["processes"][0]["name"] if svc["processes"] else ""))[:15]
    kills = [k for k in facts["kernel_log"]["oom_kills"] if comm and k["name"] == comm]
    ev: dict[str, Any] = {
        "databases": list(svc["databases"]), "mounts": list(svc["mounts"]),
        "processes": svc["processes"], "ports_expected": svc["ports"],
    }
    if unit:
        ev["unit"] = {k: unit[k] for k in ("name", "file", "error") if unit.get(k)}
        ev["unit"].update({k: show[k] for k in SHOW_PROPS if k in show})
    if log:
        ev["log"] = {k: log[k] for k in ("path", "exists", "mtime", "error") if k in log}
    unit_cmds = (f"systemctl status {unit['name']}; journalctl -u {unit['name']} -n 100 --no-pager"
                 if unit else None)
    log_path = log.get("path")

    def find(status, title, fault=None, detail="", remedy="", reason="ok", **extra):
        ev["reason"] = reason
        ev.update(extra)
        return Finding(NAME, name, status, title, fault, detail, ev, remedy)

    if procs or show.get("ActiveState") == "active":
        return _judge_running(svc, procs, kills, facts, find, unit_cmds)

    # --- not running ---------------------------------------------------------
    # Only what the log said last: an old "disk full" from before a later
    # restart does not explain today's stop.
    lines = list(log.get("errors") or [])[-5:] + list(log.get("traceback") or [])
    disk = [ln for ln in lines if DISK_FULL.search(ln)]
    corrupt = [ln for ln in lines if DB_CORRUPT.search(ln)]
    tb = log.get("traceback") or []
    how_to_look = unit_cmds or (f"tail -n 100 {log_path}" if log_path else "")

    installed, missing_what = _installed(svc, unit, facts)
    if not installed:
        return find(Status.FAIL, f"{name} is not installed: {missing_what}", Fault.SOFTWARE,
                    f"{name} is configured here but {missing_what}, and no such process runs.",
                    "Install the call-center software (or fix the name in the [[service]] section: "
                    "process, unit, executable) and start it"
                    + (f": systemctl enable --now {unit['name']}" if unit else "") + ".",
                    reason="not-installed", program=svc.get("program"))
    if disk:
        return find(Status.FAIL, f"{name} stopped: no space left on its disk", Fault.UNDETERMINED,
                    f"{name} is not running and its log says the disk is full: {disk[-1].strip()}",
                    "Free space on the full filesystem first ("
                    + (f"one of {', '.join(svc['mounts'])}; " if len(svc["mounts"]) > 1 else
                       f"{svc['mounts'][0]}; " if svc["mounts"] else "")
                    + "df -h shows which; see the disk.space finding), then check its database and start the service"
                    + (f": systemctl start {unit['name']}" if unit else "") + ".",
                    reason="disk-full", log_lines=disk[-5:])
    if corrupt:
        dbs = ", ".join(svc["databases"]) or "its database"
        return find(Status.FAIL, f"{name} stopped: its database is corrupt", Fault.UNDETERMINED,
                    f"{name} is not running and its log reports database corruption: {corrupt[-1].strip()}",
                    f"Repair or restore {dbs} first (see the database.integrity finding), then start "
                    f"{name}" + (f": systemctl start {unit['name']}" if unit else "") + ".",
                    reason="database-corrupt", log_lines=corrupt[-5:])
    oom = kills[-1] if kills else None
    if oom and not _newer(log.get("mtime"), oom.get("time"), slack_s=5):
        mem = {k: oom.get(k) for k in ("pid", "time", "total_vm_kb", "anon_rss_kb", "file_rss_kb",
                                        "memcg", "usage_kb", "limit_kb") if oom.get(k) is not None}
        mem["mem_total_kb"] = facts.get("mem_total_kb")
        limit = f" (its memory limit is {oom['limit_kb'] // 1024} MiB)" if oom.get("limit_kb") else ""
        rss = f"{oom['anon_rss_kb'] // 1024} MiB" if oom.get("anon_rss_kb") is not None else "?"
        return find(Status.FAIL, f"{name} was killed by the OOM killer at {rss} resident{limit}",
                    Fault.UNDETERMINED,
                    f"The kernel killed {comm} (pid {oom['pid']}) for lack of memory"
                    f"{' at ' + oom['time'] if oom.get('time') else ''}. Either the machine or its "
                    "memory limit is too small for the load, or the service leaks memory.",
                    (f"It hit the {oom['limit_kb'] // 1024} MiB limit of memory cgroup {oom.get('memcg')}: "
                     "raise that limit if the load needs more. " if oom.get("limit_kb") else "")
                    + "Check what else uses memory (ps aux --sort=-rss | head)"
                    + (f" and the unit's memory limit (systemctl show -p MemoryMax {unit['name']})" if unit else "")
                    + ", then start it"
                    + (f" (systemctl start {unit['name']})" if unit else "") + " and watch its memory; "
                    "if it grows without bound, send the kernel log lines to the vendor.",
                    reason="oom-killed", memory=mem, oom_line=oom.get("line"))
    exit_status = _exit_status(show)
    if tb or exit_status or svc["core_dumps"]:
        what = exception_line(tb) or (log.get("errors") or [""])[-1].strip()
        if not what and svc["core_dumps"]:
            what = f"core dumped ({svc['core_dumps'][-1]['path']})"
        what = what or exit_status
        return find(Status.FAIL, f"{name} crashed: {what}"[:160], Fault.SOFTWARE,
                    f"{name} is not running; it ended with "
                    + "; ".join(x for x in (
                        exit_status,
                        f"a traceback in {log_path} (last written {log.get('mtime')})" if tb else "",
                        f"{len(svc['core_dumps'])} core dump(s)" if svc["core_dumps"] else "") if x) + ".",
                    (f"Look at the crash: {how_to_look}. " if how_to_look else "")
                    + f"Send this log excerpt ({log_path or 'the journal'}) to the vendor"
                    + (f" with the core dump {svc['core_dumps'][-1]['path']}" if svc["core_dumps"] else "")
                    + ", then start the service"
                    + (f": systemctl start {unit['name']}" if unit else "") + ".",
                    reason="crashed", exception=what, traceback=tb, log_errors=(log.get("errors") or [])[-10:],
                    core_dumps=svc["core_dumps"], core_pattern=facts.get("core_pattern"))
    return find(Status.FAIL, f"{name} is not running", Fault.UNDETERMINED,
                f"No {svc.get('process') or unit.get('name')} process runs and nothing in "
                + (f"{log_path}" if log_path else "its log") + " says why: it was stopped or never started.",
                (f"Start it: systemctl start {unit['name']}; then {unit_cmds}" if unit
                 else f"Start {name} the way the installation does, then check {log_path or 'its log'}")
                + ".", reason="stopped", log_last=(log.get("last_lines") or [])[-5:])


def _installed(svc, unit, facts) -> tuple[bool, str]:
    show = unit.get("show") if unit else None
    if unit:
        if show is not None:
            if show.get("LoadState") == "not-found":
                return False, f"systemd has no unit {unit['name']}"
            return True, ""
        if unit.get("file"):
            return True, ""
        if not facts["systemd"]:
            return False, f"no unit file {unit['name']} under /etc/systemd/system or /lib/systemd/system"
    prog = svc.get("program")
    if prog and not prog["exists"]:
        if prog["path"]:
            return False, f"{prog['path']} does not exist"
        # Not on PATH is weak evidence (vendors install under /opt); a log
        # the service wrote says it was installed after all.
        if not unit and not (svc.get("log") or {}).get("exists"):
            return False, f"no program {prog['name']} on PATH and no log"
    return True, ""


def _exit_status(show: dict[str, Any]) -> str:
    result = show.get("Result", "success")
    status = show.get("ExecMainStatus", "0")
    if result == "success" and status in ("0", ""):
        return ""
    code = show.get("ExecMainCode")
    restarts = int(show.get("NRestarts") or 0)
    again = f", after {restarts} restarts" if restarts else ""
    # ExecMainCode is a siginfo si_code: 1 exited, 2 killed, 3 dumped core.
    if code in ("2", "3"):
        return f"killed by signal {status} (systemd result {result}{again})"
    return f"exit status {status} (systemd result {result}{again})"


def _newer(a: str | None, b: str | None, slack_s: float) -> bool:
    """Is time *a* more than *slack_s* later than time *b*? False when either
    is unknown. dmesg's wall-clock times are boot time plus the monotonic
    clock, so they drift from file times by up to a few seconds."""
    ta, tb = _parse_time(a), _parse_time(b)
    return bool(ta and tb and (ta - tb).total_seconds() > slack_s)


def _judge_running(svc, procs, kills, facts, find, unit_cmds) -> Finding:
    name = svc["name"]
    pids = ", ".join(str(p["pid"]) for p in procs) or "?"
    listening = sorted({s["port"] for p in procs for s in p["listening"]})
    known = any(p["sockets_known"] for p in procs)
    holders = svc.get("port_holders") or {}
    missing = [p for p in svc["ports"] if p not in listening]
    if known and missing:
        foreign = {p: holders.get(str(p)) for p in missing if holders.get(str(p))}
        extra = {"ports_listening": listening, "ports_missing": missing, "port_holders": holders}
        if foreign:
            p, h = next(iter(foreign.items()))
            who = f"{h['name']} (pid {h['pid']})" if h.get("pid") else "another program"
            return find(Status.FAIL, f"{name} cannot have port {p}: {who} listens on it",
                        Fault.UNDETERMINED,
                        f"{name} runs (pid {pids}) but port {p} is held by {who}, so {name} "
                        f"listens on {_ports(listening)} instead of {_ports(svc['ports'])}.",
                        f"Find out why {who} uses port {p} (ss -ltnup 'sport = :{p}'); stop or "
                        f"reconfigure it, then restart {name}.", reason="port-taken", **extra)
        if listening:
            return find(Status.FAIL, f"{name} listens on port {_ports(listening)}, not on {_ports(missing)}",
                        Fault.SOFTWARE,
                        f"{name} runs (pid {pids}) and listens on {_ports(listening)}, but the site "
                        f"expects {_ports(svc['ports'])}: clients cannot reach it.",
                        f"Check the port in {name}'s configuration (ss -ltnup shows what it opened); "
                        f"set it back to {_ports(missing)} and restart it"
                        + (f" (systemctl restart {svc['unit']['name']})" if svc.get("unit") else "")
                        + ", or send the configuration to the vendor.", reason="wrong-port", **extra)
        return find(Status.FAIL, f"{name} runs but does not listen on {_ports(missing)}", Fault.SOFTWARE,
                    f"{name} runs (pid {pids}) but has no listening socket at all: it may be hung "
                    "while starting or waiting for its database.",
                    (f"Look at {unit_cmds}; " if unit_cmds else "Look at its log; ")
                    + f"restart it, and if it still does not listen send the log to the vendor.",
                    reason="not-listening", **extra)
    if not known and procs and svc["ports"]:
        netns = {n for p in procs for n in (p.get("netns_ports") or [])}
        unheard = [p for p in svc["ports"] if p not in netns]
        if unheard:
            return find(Status.FAIL, f"{name} runs but nothing listens on {_ports(unheard)}", Fault.SOFTWARE,
                        f"{name} runs (pid {pids}) but no program in its network namespace listens on "
                        f"{_ports(unheard)}: clients cannot reach it. (Its own sockets were not readable: "
                        "run as root to see which ports it opened.)",
                        (f"Look at {unit_cmds}; " if unit_cmds else "Look at its log; ")
                        + "restart it, and if it still does not listen send the log to the vendor.",
                        reason="not-listening", ports_missing=unheard, netns_ports=sorted(netns))
    rss = sum(p["rss_kb"] or 0 for p in procs)
    ports_txt = f" and listens on {_ports(listening)}" if svc["ports"] and known else ""
    if svc["ports"] and not known:
        ports_txt = f" and {_ports(svc['ports'])} is open (owner not verified: run as root)"
    if kills:
        last = kills[-1]
        return find(Status.WARN, f"{name} runs but was killed by the OOM killer {len(kills)}x since boot",
                    Fault.UNDETERMINED,
                    f"{name} runs (pid {pids}, {rss // 1024} MiB resident) but the kernel killed it for "
                    f"lack of memory, last at {last.get('time') or 'an unknown time'}.",
                    "Check what else uses memory (ps aux --sort=-rss | head) and whether the service's "
                    "memory grows over the day; send the kernel log lines to the vendor if it does.",
                    reason="oom-history", oom_kills=kills[-5:], ports_listening=listening,
                    memory={"rss_kb": rss, "mem_total_kb": facts.get("mem_total_kb")})
    return find(Status.OK, f"{name} runs (pid {pids}){ports_txt}"[:160],
                reason="ok", ports_listening=listening, memory={"rss_kb": rss})
