"""The judge of application.services: a pure function of the facts. One
finding per service: not installed, stopped, crashed (and why), deaf on its
ports, or running as configured."""

from __future__ import annotations

import datetime as dt
import shlex
from typing import Any

from diagnose.checks.services.common import ADDR_IN_USE, DB_CORRUPT, DB_FULL, DISK_FULL, NAME, SHOW_PROPS
from diagnose.checks.services.denied import PERM_LINE, access_finding
from diagnose.i18n import _, _n, join
from diagnose.model import Fault, Finding, Status, step


def _ports(ps) -> str:
    ps = sorted(set(ps))
    return ", ".join(str(p) for p in ps) if ps else _("none")


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
        "database_mounts": dict(svc.get("database_mounts") or {}),
        "processes": svc["processes"], "ports_expected": svc["ports"],
    }
    if unit:
        ev["unit"] = {k: unit[k] for k in ("name", "file", "error") if unit.get(k)}
        ev["unit"].update({k: show[k] for k in SHOW_PROPS if k in show})
    if log:
        ev["log"] = {k: log[k] for k in ("path", "exists", "mtime", "error", "last_start", "errors_before_start")
                     if k in log}
    unit_cmds = (f"systemctl status {unit['name']}; journalctl -u {unit['name']} -n 100 --no-pager"
                 if unit else None)
    start = f"systemctl start {unit['name']}" if unit else None
    log_path = log.get("path")

    def find(status, title, fault=None, detail="", remedy="", reason="ok", **extra):
        ev["reason"] = reason
        ev.update(extra)
        unseen = svc.get("not_collected") or []
        if unseen:  # what this user could not see is said, never guessed past
            ev["not_collected"] = unseen
            note = _("Not collected without root: {what}.", what="; ".join(m["what"] for m in unseen))
            detail = join(" ", [detail, note]) if detail else note
        return Finding(NAME, name, status, title, fault, detail, ev, remedy)

    if procs or show.get("ActiveState") == "active":
        return _judge_running(svc, procs, kills, facts, find, unit_cmds)

    # --- not running ---------------------------------------------------------
    # Only what the log said since the service last started (the probe cuts
    # there): an old "disk full" from before a later restart does not
    # explain today's stop.
    lines = list(log.get("errors") or [])[-5:] + list(log.get("traceback") or [])
    disk = [ln for ln in lines if DISK_FULL.search(ln)]
    corrupt = [ln for ln in lines if DB_CORRUPT.search(ln)]
    tb = log.get("traceback") or []
    how_to_look = unit_cmds or (f"tail -n 100 {log_path}" if log_path else "")

    installed, missing_what = _installed(svc, unit, facts)
    if not installed:
        return find(Status.FAIL, _("{name} is not installed: {what}", name=name, what=missing_what),
                    Fault.SOFTWARE,
                    _("{name} is configured here but {what}, and no such process runs.", name=name,
                      what=missing_what),
                    [step(_("Install the call-center software (or fix the name in the [[service]] "
                            "section: process, unit, executable) and start it") if not unit else
                          _("Install the call-center software (or fix the name in the [[service]] "
                            "section: process, unit, executable) and start it:"),
                          f"systemctl enable --now {unit['name']}" if unit else None)],
                    reason="not-installed", program=svc.get("program"))
    in_use = [ln for ln in lines if ADDR_IN_USE.search(ln)]
    holders = {p: h for p, h in (svc.get("port_holders") or {}).items() if h}
    if in_use or holders:
        found = _port_taken(name, svc, unit, in_use, holders, find)
        if found:
            return found
    if disk:
        mounts = full_mounts(svc, disk)
        where = (_("one of {mounts}", mounts=", ".join(mounts)) if len(mounts) > 1 else
                 mounts[0] if mounts else _("the full filesystem"))
        title = (_("{name} stopped: no space left on {mount}", name=name, mount=mounts[0]) if len(mounts) == 1
                 else _("{name} stopped: no space left on its disk", name=name))
        return find(Status.FAIL, title, Fault.UNDETERMINED,
                    _("{name} is not running and its log says the disk is full: {line}", name=name,
                      line=disk[-1].strip()),
                    [step(_("Free space on the full filesystem first ({where}; see the disk.space "
                            "finding); this shows how full:", where=where),
                          "df -h" + "".join(" " + shlex.quote(m) for m in mounts)),
                     step(_("Then check its database and start the service") if not start else
                          _("Then check its database and start the service:"), start)],
                    reason="disk-full", log_lines=disk[-5:], full_mounts=mounts)
    # Refused its own files (owner or mode changed on site): before corrupt
    # and crashed, because "unable to open database file" in a traceback is
    # the refusal, not a bug; but a traceback about something else wins.
    other = corrupt or (tb and not any(PERM_LINE.search(ln) for ln in tb))
    if any(PERM_LINE.search(ln) for ln in lines) or not other:
        found = access_finding(svc, lines, False, find, start)
        if found:
            return found
    if corrupt:
        dbs = ", ".join(svc["databases"]) or _("its database")
        return find(Status.FAIL, _("{name} stopped: its database is corrupt", name=name),
                    Fault.UNDETERMINED,
                    _("{name} is not running and its log reports database corruption: {line}",
                      name=name, line=corrupt[-1].strip()),
                    [step(_("Repair or restore {databases} first (see the database.integrity "
                            "finding)", databases=dbs)),
                     step(_("Then start {name}:", name=name) if start else
                          _("Then start {name}", name=name), start)],
                    reason="database-corrupt", log_lines=corrupt[-5:])
    oom = kills[-1] if kills else None
    if oom and not _newer(log.get("mtime"), oom.get("time"), slack_s=5):
        mem = {k: oom.get(k) for k in ("pid", "time", "total_vm_kb", "anon_rss_kb", "file_rss_kb",
                                        "memcg", "usage_kb", "limit_kb") if oom.get(k) is not None}
        mem["mem_total_kb"] = facts.get("mem_total_kb")
        rss = f"{oom['anon_rss_kb'] // 1024} MiB" if oom.get("anon_rss_kb") is not None else "?"
        title = (_("{name} was killed by the OOM killer at {rss} resident (its memory limit is "
                   "{limit} MiB)", name=name, rss=rss, limit=oom["limit_kb"] // 1024)
                 if oom.get("limit_kb") else
                 _("{name} was killed by the OOM killer at {rss} resident", name=name, rss=rss))
        detail = (_("The kernel killed {process} (pid {pid}) for lack of memory at {time}. Either the "
                    "machine or its memory limit is too small for the load, or the service leaks "
                    "memory.", process=comm, pid=oom["pid"], time=oom["time"]) if oom.get("time") else
                  _("The kernel killed {process} (pid {pid}) for lack of memory. Either the machine "
                    "or its memory limit is too small for the load, or the service leaks memory.",
                    process=comm, pid=oom["pid"]))
        steps = []
        if oom.get("limit_kb"):
            steps.append(step(_("It hit the {limit} MiB limit of memory cgroup {cgroup}: raise that "
                                "limit if the load needs more.", limit=oom["limit_kb"] // 1024,
                                cgroup=oom.get("memcg"))))
        steps.append(step(_("Check what else uses memory:"), "ps aux --sort=-rss | head"))
        if unit:
            steps.append(step(_("Check the unit's memory limit:"), f"systemctl show -p MemoryMax {unit['name']}"))
        steps.append(step(_("Then start it and watch its memory; if it grows without bound, send the "
                            "kernel log lines to the vendor") + (":" if start else ""), start))
        return find(Status.FAIL, title, Fault.UNDETERMINED, detail, steps,
                    reason="oom-killed", memory=mem, oom_line=oom.get("line"))
    exit_status = _exit_status(show)
    if tb or exit_status or svc["core_dumps"]:
        what = exception_line(tb) or (log.get("errors") or [""])[-1].strip()
        if not what and svc["core_dumps"]:
            what = _("core dumped ({path})", path=svc["core_dumps"][-1]["path"])
        what = what or exit_status
        title = _("{name} crashed: {what}", name=name, what=what)
        if len(title) > 160:
            title = _("{name} crashed: {what}", name=name, what=str(what)[:150 - len(name)])
        ended = [x for x in (
            exit_status,
            _("a traceback in {path} (last written {time})", path=log_path, time=log.get("mtime"))
            if tb else "",
            _n("{n} core dump", "{n} core dumps", len(svc["core_dumps"])) if svc["core_dumps"] else "")
            if x]
        steps = []
        if how_to_look:
            steps.append(step(_("Look at the crash:"), how_to_look))
        if svc["core_dumps"]:
            steps.append(step(_("Send this log excerpt ({log}) to the vendor with the core dump {core}",
                                log=log_path or _("the journal"), core=svc["core_dumps"][-1]["path"])))
        else:
            steps.append(step(_("Send this log excerpt ({log}) to the vendor",
                                log=log_path or _("the journal"))))
        steps.append(step(_("Then start the service:") if start else _("Then start the service"), start))
        return find(Status.FAIL, title, Fault.SOFTWARE,
                    _("{name} is not running; it ended with {how}.", name=name, how=join("; ", ended)),
                    steps,
                    reason="crashed", exception=what, traceback=tb, log_errors=(log.get("errors") or [])[-10:],
                    core_dumps=svc["core_dumps"], core_pattern=facts.get("core_pattern"))
    if unit:
        steps = [step(_("Start it:"), start), step(_("Then look at its status and journal:"), unit_cmds)]
    else:
        steps = [step(_("Start {name} the way the installation does, then check {log}", name=name,
                        log=log_path or _("its log")))]
    return find(Status.FAIL, _("{name} is not running", name=name), Fault.UNDETERMINED,
                _("No {process} process runs and nothing in {log} says why: it was stopped or never "
                  "started.", process=svc.get("process") or unit.get("name"),
                  log=log_path or _("its log")),
                steps, reason="stopped", log_last=(log.get("last_lines") or [])[-5:])


def full_mounts(svc: dict[str, Any], lines: list[str]) -> list[str]:
    """Which filesystem the service found full, most certain first: the
    ones holding the files its disk-full *lines* name; else, when a line is
    a database's own ("database or disk is full"), its databases'; else
    every filesystem it writes to. Never "/" by default: only when "/" is
    where one of those is."""
    log = svc.get("log") or {}
    named = [r["mount"] for r in log.get("disk_full_files") or [] if r.get("mount")]
    if named:
        return list(dict.fromkeys(named))
    dbs = [m for m in (svc.get("database_mounts") or {}).values() if m]
    if dbs and any(DB_FULL.search(ln) for ln in lines):
        return list(dict.fromkeys(dbs))
    return list(svc["mounts"])


def _port_taken(name, svc, unit, in_use, holders, find) -> Finding | None:
    """Not running, and another program holds a port it needs: that program is
    the cause (a site matter), named with its pid; never "send the log to the
    vendor". Without root the holder cannot be named: undetermined."""
    start = f"systemctl start {unit['name']}" if unit else None
    then = step(_("Then start {name}:", name=name) if start else _("Then start {name}", name=name), start)
    if not holders:
        if not in_use:
            return None
        ports = "|".join(map(str, svc["ports"])) or "PORT"
        return find(Status.FAIL, _("{name} cannot start: a port it needs is already in use", name=name),
                    Fault.UNDETERMINED,
                    _("{name} is not running and its log says: {line}. Which program holds the port "
                      "could not be seen (run diagnose as root to name it).", name=name,
                      line=in_use[-1].strip()),
                    [step(_("Find the program, then stop or reconfigure it:"),
                          f"ss -ltnup | grep -E ':({ports})\\b'"), then],
                    reason="port-taken", log_lines=in_use[-5:])
    port, h = next(iter(sorted(holders.items())))
    if not h.get("pid"):
        # Someone holds it, but who could not be seen: not "another program".
        why = (_("its log says: {line}", line=in_use[-1].strip()) if in_use
               else _("nothing else in its log explains the stop"))
        return find(Status.FAIL, _("{name} cannot start: port {port} is in use, owner not visible without "
                                   "root", name=name, port=port),
                    Fault.UNDETERMINED,
                    _("{name} is not running and port {port}, which it needs, is held by a process this user "
                      "cannot see ({proto} {address}); {why}. Run diagnose as root to name it.", name=name,
                      port=port, proto=h.get("proto"), address=h.get("address"), why=why),
                    [step(_("As root, find the program, then stop or reconfigure it:"),
                          f"ss -ltnup 'sport = :{port}'"), then],
                    reason="port-taken", port_holders=holders, log_lines=in_use[-5:])
    who = _("{program} (pid {pid})", program=h["name"], pid=h["pid"])
    why = (_("its log says: {line}", line=in_use[-1].strip()) if in_use
           else _("nothing else in its log explains the stop"))
    return find(Status.FAIL, _("{name} cannot start: port {port} is taken by {who}", name=name,
                               port=port, who=who),
                Fault.SITE,
                _("{name} is not running and {who} listens on port {port}, which {name} needs; {why}.",
                  name=name, who=who, port=port, why=why),
                [step(_("Stop {who} or move it to another port; this shows it:", who=who),
                      f"ss -ltnup 'sport = :{port}'"), then],
                reason="port-taken", port_holders=holders, log_lines=in_use[-5:])


def _installed(svc, unit, facts) -> tuple[bool, str]:
    show = unit.get("show") if unit else None
    if unit:
        if show is not None:
            if show.get("LoadState") == "not-found":
                return False, _("systemd has no unit {unit}", unit=unit["name"])
            return True, ""
        if unit.get("file"):
            return True, ""
        if not facts["systemd"]:
            return False, _("no unit file {unit} under /etc/systemd/system or /lib/systemd/system",
                            unit=unit["name"])
    prog = svc.get("program")
    if prog and prog["exists"] is False:
        if prog["path"]:
            return False, _("{path} does not exist", path=prog["path"])
        # Not on PATH is weak evidence (vendors install under /opt); a log
        # the service wrote says it was installed after all.
        if not unit and not (svc.get("log") or {}).get("exists"):
            return False, _("no program {program} on PATH and no log", program=prog["name"])
    return True, ""


def _exit_status(show: dict[str, Any]) -> str:
    result = show.get("Result", "success")
    status = show.get("ExecMainStatus", "0")
    if result == "success" and status in ("0", ""):
        return ""
    code = show.get("ExecMainCode")
    restarts = int(show.get("NRestarts") or 0)
    again = _n(", after {n} restart", ", after {n} restarts", restarts) if restarts else ""
    # ExecMainCode is a siginfo si_code: 1 exited, 2 killed, 3 dumped core.
    if code in ("2", "3"):
        return _("killed by signal {status} (systemd result {result}{again})", status=status,
                 result=result, again=again)
    return _("exit status {status} (systemd result {result}{again})", status=status, result=result,
             again=again)


def _newer(a: str | None, b: str | None, slack_s: float) -> bool:
    """Is time *a* more than *slack_s* later than time *b*? False when either
    is unknown. dmesg's wall-clock times are boot time plus the monotonic
    clock, so they drift from file times by up to a few seconds."""
    ta, tb = _parse_time(a), _parse_time(b)
    return bool(ta and tb and (ta - tb).total_seconds() > slack_s)


def _frozen(svc, procs, find, unit_cmds) -> Finding | None:
    """A process that runs but cannot serve: stopped by a signal (state T),
    stuck in uninterruptible I/O (D, still D a moment later), or accepting
    connections on its health URL without ever answering."""
    name = svc["name"]
    unit = svc.get("unit")
    restart = f"systemctl restart {unit['name']}" if unit else None
    then_restart = step(_("If it stays stuck, restart it:") if restart else
                        _("If it stays stuck, restart it the way the installation does"), restart)
    look = step(_("Look at its status and journal:"), unit_cmds) if unit_cmds else step(_("Look at its log."))
    stopped = [p for p in procs if p["state"] in ("T", "t")]
    if stopped:
        p = stopped[0]
        how = _("stopped by a signal") if p["state"] == "T" else _("stopped by a debugger")
        return find(Status.FAIL, _("{name} is frozen: process {pid} is {how} (state {state})", name=name,
                                   pid=p["pid"], how=how, state=p["state"]),
                    Fault.UNDETERMINED,
                    _("{name} runs but process {pid} is {how}: it holds its ports and answers nothing. Someone "
                      "sent it SIGSTOP (Ctrl-Z in a terminal, kill -STOP) or a debugger is attached.",
                      name=name, pid=p["pid"], how=how),
                    [step(_("Let it go on:"), f"kill -CONT {p['pid']}"), then_restart],
                    reason="frozen", frozen_pid=p["pid"], state=p["state"])
    stuck = [p for p in procs if p["state"] == "D" and p.get("state_again") == "D"]
    if stuck:
        p = stuck[0]
        return find(Status.FAIL, _("{name} is stuck: process {pid} waits on I/O (state D)", name=name,
                                   pid=p["pid"]),
                    Fault.UNDETERMINED,
                    _("Process {pid} of {name} was in uninterruptible I/O (state D) twice, {seconds} s apart: a "
                      "disk, NFS share or device it uses does not answer.", pid=p["pid"], name=name,
                      seconds=f"{p.get('state_again_after_s', 0):g}"),
                    [step(_("Look for I/O errors and hung tasks:"), f"dmesg | tail -50; cat /proc/{p['pid']}/stack"),
                     step(_("Fix the disk or share, then restart it:") if restart else
                          _("Fix the disk or share, then restart it"), restart)],
                    reason="stuck-io", frozen_pid=p["pid"], state="D")
    h = svc.get("health") or {}
    if h.get("state") == "silent":
        return find(Status.FAIL, _("{name} is hung: it accepts connections but does not answer {url}", name=name,
                                   url=h["url"]),
                    Fault.SOFTWARE,
                    _("{name} runs and its health URL {url} took the connection but gave {error}: the service "
                      "is hung (a deadlock, or a call that never returns).", name=name, url=h["url"],
                      error=h["error"]),
                    [look, step(_("Restart it:") if restart else _("Restart it"), restart),
                     step(_("Send the log of the minutes before to the vendor."))],
                    reason="hung", health=h)
    if h.get("state") == "answered" and h.get("status") and h["status"] >= 500:
        return find(Status.FAIL, _("{name} answers its health URL with HTTP {status}", name=name,
                                   status=h["status"]), Fault.SOFTWARE,
                    _("{name} runs but {url} answered HTTP {status}: it reports itself unhealthy.", name=name,
                      url=h["url"], status=h["status"]),
                    [look, step(_("Send it to the vendor."))], reason="unhealthy", health=h)
    return None


def _judge_running(svc, procs, kills, facts, find, unit_cmds) -> Finding:
    name = svc["name"]
    frozen = _frozen(svc, procs, find, unit_cmds)
    if frozen:
        return frozen
    log = svc.get("log") or {}
    start = f"systemctl start {svc['unit']['name']}" if svc.get("unit") else None
    lines = list(log.get("errors") or [])[-5:] + list(log.get("traceback") or [])
    # Its writes fail now (the log since its start says so): that first.
    if any(PERM_LINE.search(ln) for ln in lines):
        refused = access_finding(svc, lines, True, find, start)
        if refused:
            return refused
    pids = ", ".join(str(p["pid"]) for p in procs) or "?"
    listening = sorted({s["port"] for p in procs for s in p["listening"]})
    known = any(p["sockets_known"] for p in procs)
    holders = svc.get("port_holders") or {}
    missing = [p for p in svc["ports"] if p not in listening]
    # Held by a process nobody could name while some of the service's own
    # open files were unreadable: as likely its own as another's.
    unverified = [p for p in missing if not all(q["sockets_known"] for q in procs)
                  and holders.get(str(p)) and not holders[str(p)].get("pid")]
    missing = [p for p in missing if p not in unverified]
    if known and missing:
        foreign = {p: holders.get(str(p)) for p in missing if holders.get(str(p))}
        extra = {"ports_listening": listening, "ports_missing": missing, "port_holders": holders}
        if foreign:
            p, h = next(iter(foreign.items()))
            if not h.get("pid"):
                return find(Status.FAIL, _("{name} cannot have port {port}: it is in use, owner not visible "
                                           "without root", name=name, port=p),
                            Fault.UNDETERMINED,
                            _("{name} runs (pid {pids}) and listens on {listening}, but port {port} is held "
                              "by a process this user cannot see. Run diagnose as root to name it.",
                              name=name, pids=pids, listening=_ports(listening), port=p),
                            [step(_("As root, find out who holds port {port}:", port=p),
                                  f"ss -ltnup 'sport = :{p}'"),
                             step(_("Stop or reconfigure it, then restart {name}.", name=name))],
                            reason="port-taken", **extra)
            who = _("{program} (pid {pid})", program=h["name"], pid=h["pid"])
            return find(Status.FAIL, _("{name} cannot have port {port}: {who} listens on it", name=name,
                                       port=p, who=who),
                        Fault.UNDETERMINED,
                        _("{name} runs (pid {pids}) but port {port} is held by {who}, so {name} "
                          "listens on {listening} instead of {expected}.", name=name, pids=pids, port=p,
                          who=who, listening=_ports(listening), expected=_ports(svc["ports"])),
                        [step(_("Find out why {who} uses port {port}:", who=who, port=p),
                              f"ss -ltnup 'sport = :{p}'"),
                         step(_("Stop or reconfigure it, then restart {name}.", name=name))],
                        reason="port-taken", **extra)
        restart = f"systemctl restart {svc['unit']['name']}" if svc.get("unit") else None
        if listening:
            return find(Status.FAIL, _("{name} listens on port {listening}, not on {missing}", name=name,
                                       listening=_ports(listening), missing=_ports(missing)),
                        Fault.SOFTWARE,
                        _("{name} runs (pid {pids}) and listens on {listening}, but the site expects "
                          "{expected}: clients cannot reach it.", name=name, pids=pids,
                          listening=_ports(listening), expected=_ports(svc["ports"])),
                        [step(_("Check the port in {name}'s configuration; this shows what it opened:",
                                name=name), "ss -ltnup"),
                         step(_("Set it back to {missing} and restart it, or send the configuration to "
                                "the vendor") + (":" if restart else ""), restart)],
                        reason="wrong-port", **extra)
        return find(Status.FAIL, _("{name} runs but does not listen on {missing}", name=name,
                                   missing=_ports(missing)), Fault.SOFTWARE,
                    _("{name} runs (pid {pids}) but has no listening socket at all: it may be hung "
                      "while starting or waiting for its database.", name=name, pids=pids),
                    _not_listening_steps(unit_cmds), reason="not-listening", **extra)
    if not known and procs and svc["ports"]:
        netns = {n for p in procs for n in (p.get("netns_ports") or [])}
        unheard = [p for p in svc["ports"] if p not in netns]
        if unheard:
            return find(Status.FAIL, _("{name} runs but nothing listens on {missing}", name=name,
                                       missing=_ports(unheard)), Fault.SOFTWARE,
                        _("{name} runs (pid {pids}) but no program in its network namespace listens on "
                          "{missing}: clients cannot reach it. (Its own sockets were not readable: run "
                          "as root to see which ports it opened.)", name=name, pids=pids,
                          missing=_ports(unheard)),
                        _not_listening_steps(unit_cmds),
                        reason="not-listening", ports_missing=unheard, netns_ports=sorted(netns))
    rss = sum(p["rss_kb"] or 0 for p in procs)
    ports_txt = _(" and listens on {ports}", ports=_ports(listening)) if svc["ports"] and known else ""
    if svc["ports"] and not known:
        ports_txt = _(" and {ports} is open (owner not verified: run as root)", ports=_ports(svc["ports"]))
    elif unverified and listening:
        ports_txt = _(" and listens on {ports}; {others} is open (owner not verified: run as root)",
                      ports=_ports(listening), others=_ports(unverified))
    elif unverified:
        ports_txt = _(" and {ports} is open (owner not verified: run as root)", ports=_ports(unverified))
    later = access_finding(svc, [], True, find, start)
    if later:
        return later
    if kills:
        last = kills[-1]
        return find(Status.WARN, _("{name} runs but was killed by the OOM killer {n}x since boot",
                                   name=name, n=len(kills)),
                    Fault.UNDETERMINED,
                    _("{name} runs (pid {pids}, {rss} MiB resident) but the kernel killed it for lack "
                      "of memory, last at {time}.", name=name, pids=pids, rss=rss // 1024,
                      time=last.get("time") or _("an unknown time")),
                    [step(_("Check what else uses memory:"), "ps aux --sort=-rss | head"),
                     step(_("Watch whether the service's memory grows over the day; send the kernel "
                            "log lines to the vendor if it does."))],
                    reason="oom-history", oom_kills=kills[-5:], ports_listening=listening,
                    memory={"rss_kb": rss, "mem_total_kb": facts.get("mem_total_kb")})
    pids_short = pids if len(pids) < 100 else pids[:100] + "…"
    return find(Status.OK, _("{name} runs (pid {pids}){ports}", name=name, pids=pids_short,
                             ports=ports_txt),
                reason="ok", ports_listening=listening, memory={"rss_kb": rss})


def _not_listening_steps(unit_cmds: str | None) -> list[Any]:
    return [step(_("Look at its status and journal:"), unit_cmds) if unit_cmds else
            step(_("Look at its log.")),
            step(_("Restart it, and if it still does not listen send the log to the vendor."))]
