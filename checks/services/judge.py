"""The judge of application.services: a pure function of the facts. One
finding per service: not installed, stopped, crashed (and why), deaf on its
ports, or running as configured."""

from __future__ import annotations

import datetime as dt
from typing import Any

from diagnose.checks.services.common import DB_CORRUPT, DISK_FULL, NAME, SHOW_PROPS
from diagnose.model import Fault, Finding, Status


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
                    + "restart it, and if it still does not listen send the log to the vendor.",
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
