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

import os
from typing import Any

from diagnose.check import Check, Key, Needs
from diagnose.checks.services.access import load_baseline, probe_access
from diagnose.checks.services.common import NAME, service_name
from diagnose.checks.services.health import health
from diagnose.checks.services.judge import judge_service
from diagnose.checks.services.logs import core_dumps, kernel_oom_kills, read_log
from diagnose.checks.services.procfs import (
    boot_time,
    list_processes,
    matches_process,
    mem_total_kb,
    not_collected,
    port_holders,
    process_facts,
    recheck_states,
    systemd_unit,
)
from diagnose.i18n import N_, _


class ApplicationServices(Check):
    name = NAME
    summary = N_("the call-center services run, listen on their ports, and do not crash")
    section = "service"
    multi = True
    needs = Needs(section=True, role="server")
    timeout = 15.0
    # [[database]] tells where the databases a service depends on keep
    # their files: a full disk there stops the service too.
    # [[site]] tells where the acceptance baseline is: the owner and mode
    # the service's files had then.
    borrows = ("database", "site")
    # systemd looks for a unit in these, first found wins; drop-ins beside it.
    UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")

    def watched(self, cfg: dict[str, Any]) -> list[str]:
        """The configured services' unit files and their drop-ins."""
        out: list[str] = []
        for item in cfg.get("items", []):
            unit = item.get("unit") or ""
            if not unit:
                continue
            if "." not in unit:
                unit += ".service"
            for d in self.UNIT_DIRS:
                out += [f"{d}/{unit}", f"{d}/{unit}.d/*.conf"]
        return out
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
        "health_url": Key(str, "", "http(s) URL the service answers when it is healthy, e.g. "
                                   "http://127.0.0.1:8088/health (a service that accepts and never "
                                   "answers is hung)"),
        "health_timeout_s": Key((int, float), 3.0, "seconds to wait for the health URL's answer"),
        "user": Key(str, "", "the user the service runs as, to tell whether it may open its files "
                             "(default: its running process's, else its unit's User=)"),
    }

    def applies(self, host, cfg):
        for n, item in enumerate(cfg["items"], 1):
            if not (item["process"] or item["unit"]):
                return _("[[service]] #{n} ({name}) names no program: set process = \"<name as in ps>\" or "
                         "unit = \"<name>.service\"", n=n, name=item["name"] or _("unnamed"))
        return None

    # -- probe --------------------------------------------------------------
    def probe(self, host, cfg):
        systemd = host.exists("/run/systemd/system")
        procs = list_processes(host)
        clk = os.sysconf("SC_CLK_TCK")
        btime = boot_time(host)
        kernel = kernel_oom_kills(host)
        borrowed = cfg.get("_borrowed") or {}
        databases = {d.get("name"): d for d in (borrowed.get("database") or {}).get("items", [])}
        baseline = load_baseline(borrowed.get("site"))
        services = []
        for item in cfg["items"]:
            services.append(probe_service(host, item, procs, systemd, btime, clk, databases, baseline))
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


def probe_service(host, item: dict[str, Any], procs: list[dict[str, Any]], systemd: bool,
                  btime: float | None, clk: int, databases: dict[str, Any] | None = None,
                  baseline: dict[str, Any] | None = None) -> dict[str, Any]:
    unit = systemd_unit(host, item["unit"], systemd) if item["unit"] else None
    main_pid = None
    if unit and unit["show"]:
        main_pid = int(unit["show"].get("MainPID") or 0) or None
    matched = [p for p in procs
               if (item["process"] and matches_process(p, item["process"])) or p["pid"] == main_pid]
    processes = [process_facts(host, p, btime, clk) for p in matched[:20]]
    recheck_states(host, processes)
    holders = port_holders(host, item["ports"], processes, procs)
    for p in processes:
        del p["_table"]

    program = None
    unseen: list[dict[str, str]] = []
    if item["process"] or item["executable"]:
        path = item["executable"] or host.which(item["process"])
        program = {"name": item["process"], "path": path, "exists": bool(path)}
        if path:
            try:
                host.stat(path)
            except FileNotFoundError:
                program["exists"] = False
            except OSError as exc:
                # A folder on the way this user may not enter: the program may
                # well be there, so it is not "not installed".
                program["exists"] = None
                unseen.append({"what": f"program {path} not visible", "why": exc.strerror or str(exc)})

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
    db_mounts = database_mounts(host, item["databases"], databases or {})
    log = read_log(host, item["log"]) if item["log"] else None
    if log and log.get("error"):
        unseen.append({"what": f"log {item['log']} unreadable", "why": log["error"]})
    for mp in [*db_mounts.values(), *(r["mount"] for r in (log or {}).get("disk_full_files", []))]:
        if mp and mp not in mounts:
            mounts.append(mp)
    return {
        "name": service_name(item),
        "not_collected": not_collected(processes, holders) + unseen,
        "process": item["process"] or None,
        "ports": item["ports"],
        "processes": processes,
        "port_holders": holders,
        "unit": unit,
        "program": program,
        "log": log,
        "core_dumps": core_dumps(host, comm, list(dict.fromkeys(workdirs))) if comm else [],
        "databases": item["databases"],
        "data_paths": item["data_paths"],
        "mounts": mounts,
        "database_mounts": db_mounts,
        "access": probe_access(host, item, service_name(item), processes, unit, databases or {}, baseline),
        "health": health(host, item["health_url"], float(item["health_timeout_s"]))
        if item["health_url"] and processes and host.live else None,
    }


def database_mounts(host, names: list[str], databases: dict[str, Any]) -> dict[str, str | None]:
    """The mountpoint holding each named [[database]]'s files: the SQLite
    file's, or the server's data directory's (from its config files or its
    running process, without connecting). None when it cannot be told."""
    if not names:
        return {}
    # Here, not at the top: the database check's package only when a service names a database.
    from diagnose.checks.database.datadir import engine_of, mount_of_database

    out: dict[str, str | None] = {}
    for name in names:
        item = databases.get(name)
        if not item or not item.get("url"):
            continue
        url = item["url"]
        if engine_of(url) is None:
            continue
        out[name] = mount_of_database(host, engine_of(url), url, item.get("server_config") or "")
    return out
