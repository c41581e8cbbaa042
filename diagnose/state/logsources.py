"""Parsers for the records that tell who changed a file, each in the exact
format the real software writes. Pure functions of bytes or text.

- wtmp: glibc ``struct utmp`` records (utmp(5); x86_64 layout, 384 bytes).
- wtmpdb (Debian 13): SQLite table ``wtmp(ID, Type, User, Login, Logout,
  TTY, RemoteHost, Service)``, times in microseconds; Type 1 boot, 3 user.
- sudo lines (sudoers(5) log format) in auth.log/secure, traditional syslog
  (``Nov 22 07:00:01 host sudo: ...``) or rsyslog's RFC 3339 timestamps.
- Linux audit log records (``type=SYSCALL msg=audit(T:serial): ... auid=``,
  ``type=PATH ... name="..."``), as in audit.log and ``ausearch --raw``.
- dpkg.log, apt's history.log, dnf.rpm.log / yum.log.
- shell histories (bash with HISTTIMEFORMAT ``#epoch`` lines, zsh extended
  ``: epoch:0;cmd``) and Asterisk's CLI history (editline, ``\\040`` escapes).
"""

from __future__ import annotations

import datetime as dt
import re
import struct
import time
from typing import Any, Iterable

# -- wtmp ---------------------------------------------------------------------------

UTMP = struct.Struct("<h2xi32s4s32s256shhiii4i20x")
assert UTMP.size == 384
RUN_LVL, BOOT_TIME, USER_PROCESS, DEAD_PROCESS = 1, 2, 7, 8


def _cstr(b: bytes) -> str:
    return b.split(b"\0", 1)[0].decode("utf-8", "replace")


def parse_utmp(data: bytes) -> list[dict[str, Any]]:
    out = []
    for off in range(0, len(data) - UTMP.size + 1, UTMP.size):
        (typ, pid, line, _id, user, host, _term, _exit, _sess, sec, usec,
         *_addr) = UTMP.unpack_from(data, off)
        out.append({"type": typ, "pid": pid, "line": _cstr(line), "user": _cstr(user),
                    "host": _cstr(host), "time": sec + usec / 1e6})
    return out


def sessions_from_utmp(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Login sessions like ``last``: a USER_PROCESS opens one on its line,
    the DEAD_PROCESS of that line closes it, a reboot closes them all."""
    open_: dict[str, dict[str, Any]] = {}
    done: list[dict[str, Any]] = []
    for r in records:
        if r["type"] == USER_PROCESS and r["user"]:
            prev = open_.pop(r["line"], None)
            if prev:
                prev["logout"] = r["time"]
                done.append(prev)
            open_[r["line"]] = {"user": r["user"], "line": r["line"], "host": r["host"],
                                "login": r["time"], "logout": None, "source": "wtmp"}
        elif r["type"] == DEAD_PROCESS:
            s = open_.pop(r["line"], None)
            if s:
                s["logout"] = r["time"]
                done.append(s)
        elif r["type"] in (BOOT_TIME, RUN_LVL) and (r["type"] == BOOT_TIME or r["user"] == "shutdown"):
            for s in open_.values():
                s["logout"] = r["time"]
                s["ended_by"] = "reboot" if r["type"] == BOOT_TIME else "shutdown"
                done.append(s)
            open_.clear()
    return done + list(open_.values())


def sessions_from_wtmpdb(path: str) -> list[dict[str, Any]]:
    """Sessions from a wtmpdb SQLite file, opened read-only and immutable
    (no journal is written next to it)."""
    import sqlite3
    import urllib.parse

    uri = "file:" + urllib.parse.quote(path) + "?mode=ro&immutable=1"
    con = sqlite3.connect(uri, uri=True)
    try:
        rows = con.execute("SELECT User, Login, Logout, TTY, RemoteHost, Service FROM wtmp "
                           "WHERE Type = 3 ORDER BY Login").fetchall()
    finally:
        con.close()
    return [{"user": u, "login": (li or 0) / 1e6, "logout": None if lo is None else lo / 1e6,
             "line": tty or "", "host": rh or "", "service": svc, "source": "wtmpdb"}
            for u, li, lo, tty, rh, svc in rows]


def open_at(sessions: Iterable[dict[str, Any]], when: float, slack: float = 2.0) -> list[dict[str, Any]]:
    return [s for s in sessions
            if s["login"] <= when + slack and (s["logout"] is None or s["logout"] >= when - slack)]


# -- syslog timestamps ---------------------------------------------------------------

_ISO = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)\s+(\S+)\s+(.*)$")
_TRAD = re.compile(r"^([A-Z][a-z]{2})\s+(\d{1,2})\s+(\d\d):(\d\d):(\d\d)\s+(\S+)\s+(.*)$")
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
                                        "Oct", "Nov", "Dec"), 1)}


def parse_iso(text: str) -> float | None:
    t = text.strip().replace("Z", "+00:00")
    m = re.match(r"^(.*[+-]\d\d)(\d\d)$", t)
    if m and ":" not in t[-5:]:
        t = m.group(1) + ":" + m.group(2)
    # Python < 3.11 reads only 3 or 6 digits of a second's fraction
    f = re.match(r"^(.*T\d\d:\d\d:\d\d)\.(\d+)(.*)$", t)
    if f:
        t = f"{f.group(1)}.{(f.group(2) + '000000')[:6]}{f.group(3)}"
    try:
        d = dt.datetime.fromisoformat(t)
    except ValueError:
        return None
    return d.timestamp() if d.tzinfo else time.mktime(d.timetuple()) + d.microsecond / 1e6


def syslog_line(line: str, year_hint: int) -> tuple[float, str, str] | None:
    """(time, host, message) of a syslog line in either file format. A
    traditional timestamp has no year or zone: local time, in *year_hint*
    (the year of the file's modification time)."""
    m = _ISO.match(line)
    if m:
        ts = parse_iso(m.group(1))
        return None if ts is None else (ts, m.group(2), m.group(3))
    m = _TRAD.match(line)
    if m and m.group(1) in _MONTHS:
        ts = time.mktime((year_hint, _MONTHS[m.group(1)], int(m.group(2)), int(m.group(3)),
                          int(m.group(4)), int(m.group(5)), 0, 0, -1))
        return ts, m.group(6), m.group(7)
    return None


_SUDO = re.compile(r"^sudo(?:\[\d+\])?:\s+(?P<user>\S+)\s+:\s+(?P<rest>.*)$")


def parse_sudo(lines: Iterable[str], year_hint: int) -> list[dict[str, Any]]:
    """sudo's log lines: ``user : TTY=pts/0 ; PWD=/home/u ; USER=root ; COMMAND=...``."""
    out = []
    for line in lines:
        parsed = syslog_line(line, year_hint)
        if not parsed:
            continue
        ts, _host, msg = parsed
        m = _SUDO.match(msg)
        if not m or "COMMAND=" not in m["rest"]:
            continue
        fields: dict[str, str] = {}
        head, _, command = m["rest"].partition("COMMAND=")
        for part in head.split(";"):
            k, _, v = part.strip().partition("=")
            if k:
                fields[k] = v
        out.append({"time": ts, "user": m["user"], "tty": fields.get("TTY"), "pwd": fields.get("PWD", ""),
                    "runas": fields.get("USER"), "command": command.strip(), "line": line})
    return out


def command_names(command: str, pwd: str, path: str) -> bool:
    """Does a command line name *path* (absolute, or relative to *pwd*)?"""
    import os
    import shlex

    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    for w in words[1:]:
        if w.startswith("-"):
            continue
        full = w if w.startswith("/") else os.path.normpath(os.path.join(pwd or "/", w))
        if full == path:
            return True
    return False


# -- audit log -----------------------------------------------------------------------

_AUDIT = re.compile(r"type=(?P<type>\S+) msg=audit\((?P<time>[\d.]+):(?P<serial>\d+)\):\s*(?P<body>.*)")
_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


_HEXABLE = ("name", "cwd", "comm", "exe", "proctitle")


def _audit_value(key: str, v: str) -> str:
    if v.startswith('"'):
        return v[1:-1]
    # The kernel hex-encodes a string field that holds a space, a quote or a
    # control character (and proctitle always); numbers are never encoded.
    if key in _HEXABLE and re.fullmatch(r"(?:[0-9A-F]{2})+", v):
        try:
            return bytes.fromhex(v).decode("utf-8", "replace")
        except ValueError:
            return v
    return v


def parse_audit(lines: Iterable[str]) -> list[dict[str, Any]]:
    """Audit events (records grouped by serial): time, auid, uid, comm, exe,
    success, cwd and the PATH names."""
    events: dict[str, dict[str, Any]] = {}
    for line in lines:
        m = _AUDIT.search(line)
        if not m:
            continue
        ev = events.setdefault(m["serial"], {"time": float(m["time"]), "serial": int(m["serial"]),
                                             "names": [], "cwd": None})
        fields = {k: _audit_value(k, v) for k, v in _FIELD.findall(m["body"])}
        if m["type"] == "SYSCALL":
            for k in ("auid", "uid", "comm", "exe", "success", "key", "syscall"):
                if k in fields:
                    ev[k] = fields[k]
        elif m["type"] == "CWD":
            ev["cwd"] = fields.get("cwd")
        elif m["type"] == "PATH" and "name" in fields:
            ev["names"].append(fields["name"])
    return sorted(events.values(), key=lambda e: (e["time"], e["serial"]))


def audit_names(ev: dict[str, Any], path: str) -> bool:
    import os

    for n in ev["names"]:
        full = n if n.startswith("/") else os.path.normpath(os.path.join(ev.get("cwd") or "/", n))
        if full == path:
            return True
    return False


# -- package managers ----------------------------------------------------------------

def parse_dpkg_log(lines: Iterable[str]) -> list[dict[str, Any]]:
    """``2026-11-22 07:00:00 upgrade asterisk:amd64 1:18 1:20`` and friends."""
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) < 4 or not re.match(r"\d{4}-\d\d-\d\d$", parts[0]):
            continue
        ts = parse_iso(f"{parts[0]}T{parts[1]}")
        if ts is None:
            continue
        action = parts[2]
        entry: dict[str, Any] = {"time": ts, "action": action, "line": line}
        if action in ("install", "upgrade", "remove", "purge", "configure", "trigproc"):
            entry["package"] = parts[3].split(":")[0]
            entry["old"] = parts[4] if len(parts) > 4 else None
            entry["new"] = parts[5] if len(parts) > 5 else None
        elif action == "conffile":
            entry["file"] = parts[3]
            entry["decision"] = parts[4] if len(parts) > 4 else None
        elif action == "status" and len(parts) >= 5:
            entry["package"] = parts[4].split(":")[0]
            entry["state"] = parts[3]
            entry["new"] = parts[5] if len(parts) > 5 else None
        else:
            continue
        out.append(entry)
    return out


def parse_apt_history(text: str) -> list[dict[str, Any]]:
    """apt's history.log blocks: Start-Date, Commandline, Requested-By,
    Install/Upgrade/Remove lists, End-Date."""
    out = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in block.strip().splitlines():
            k, _, v = line.partition(": ")
            fields[k.strip()] = v.strip()
        if "Start-Date" not in fields:
            continue
        start = parse_iso(re.sub(r"\s+", "T", fields["Start-Date"], count=1))
        end = parse_iso(re.sub(r"\s+", "T", fields.get("End-Date", ""), count=1)) if fields.get("End-Date") else None
        pkgs: dict[str, str] = {}
        for kind in ("Install", "Upgrade", "Reinstall", "Downgrade", "Remove", "Purge"):
            for m in re.finditer(r"([^\s,(]+) \(([^)]*)\)", fields.get(kind, "")):
                pkgs[m.group(1).split(":")[0]] = kind.lower() + " " + m.group(2)
        requested = fields.get("Requested-By", "")
        out.append({"start": start, "end": end or start, "commandline": fields.get("Commandline", ""),
                    "requested_by": requested.split(" (")[0] or None, "packages": pkgs})
    return out


_DNF = re.compile(r"^(\S+)\s+\S+\s+(Upgrade|Upgraded|Install|Installed|Reinstall|Downgrade|Erase|Updated):\s+(\S+)")


def parse_dnf_log(lines: Iterable[str], year_hint: int) -> list[dict[str, Any]]:
    """dnf.rpm.log (``2026-11-22T07:00:00+0000 SUBDEBUG Upgrade: pkg-1.2-3.x86_64``)
    and yum.log (``Nov 22 07:00:00 Updated: pkg-1.2-3.x86_64``)."""
    out = []
    for line in lines:
        m = _DNF.match(line)
        ts = None
        if m:
            ts = parse_iso(m.group(1))
            action, nevra = m.group(2), m.group(3)
        else:
            y = re.match(r"^([A-Z][a-z]{2}\s+\d+\s+[\d:]+)\s+(Installed|Updated|Erased):\s+(\S+)", line)
            if not y:
                continue
            parsed = syslog_line(y.group(1) + " localhost x", year_hint)
            ts = parsed[0] if parsed else None
            action, nevra = y.group(2), y.group(3)
        if ts is None:
            continue
        name = re.sub(r"-[^-]+-[^-]+$", "", nevra.split(":")[-1] if ":" in nevra else nevra)
        out.append({"time": ts, "action": action.lower(), "package": name, "nevra": nevra, "line": line})
    return out


# -- histories -----------------------------------------------------------------------

def parse_history(text: str) -> list[tuple[float | None, str]]:
    """(time or None, command) from bash (``#epoch`` lines), zsh extended
    (``: epoch:duration;command``) or editline (``\\040``-escaped) history."""
    out: list[tuple[float | None, str]] = []
    pending: float | None = None
    for line in text.splitlines():
        if line == "_HiStOrY_V2_":
            continue
        if re.fullmatch(r"#\d{9,11}", line):
            pending = float(line[1:])
            continue
        z = re.match(r"^: (\d{9,11}):\d+;(.*)$", line)
        if z:
            out.append((float(z.group(1)), z.group(2)))
            continue
        if "\\040" in line:
            line = re.sub(r"\\(\d{3})", lambda m: chr(int(m.group(1), 8)), line)
        out.append((pending, line))
        pending = None
    return out
