"""A recorded site tree for the acceptance baseline: Asterisk and DAHDI
configs, accounts, and the records that witness who changed a file, each
written in the exact format the real software writes.

- ``var/log/wtmp``: glibc ``struct utmp`` records, x86_64 layout, 384 bytes
  each (utmp(5), <bits/utmp.h>): ut_type (short, 2 bytes padding), ut_pid,
  ut_line[32], ut_id[4], ut_user[32], ut_host[256], ut_exit (2 shorts),
  ut_session (int32), ut_tv (2 x int32), ut_addr_v6[4], 20 unused bytes.
  USER_PROCESS (7) opens a session on a line, DEAD_PROCESS (8) closes it.
- ``var/lib/wtmpdb/wtmp.db``: wtmpdb's own CREATE TABLE statement (wtmpdb
  lib/sqlite.c), times in microseconds, Type 3 = USER_PROCESS.
- ``var/log/auth.log``: sudo's log line (sudoers(5) "LOG FORMAT") in
  rsyslog's RFC 3339 file format (Debian 12's default) or the traditional
  ``Mon dd hh:mm:ss`` one.
- ``var/log/dpkg.log`` and ``var/log/apt/history.log`` as dpkg and apt
  write them.

Everything lives under a pytest tmp_path; nothing outside it is touched.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import struct
import time
from pathlib import Path

UTMP = struct.Struct("<h2xi32s4s32s256shhiii4i20x")
assert UTMP.size == 384
USER_PROCESS, DEAD_PROCESS, BOOT_TIME = 7, 8, 2

CHAN_DAHDI = """\
; chan_dahdi.conf: DAHDI channels (FXO ports towards the office PBX)
[trunkgroups]

[channels]
language=en
context=from-pstn
signalling=fxs_ks
usecallerid=yes
echocancel=yes
rxgain=0.0
txgain=0.0
group=1
channel => 1-4
"""

QUEUES = """\
; queues.conf
[general]
persistentmembers=yes
autofill=yes

[support]
strategy=ringall
timeout=20
retry=5
wrapuptime=10
member => PJSIP/101
member => PJSIP/102
member => PJSIP/103
"""

PASSWD = """\
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
asterisk:x:110:115:Asterisk PBX daemon,,,:/var/lib/asterisk:/usr/sbin/nologin
integrator:x:1000:1000:Vendor installer,,,:/home/integrator:/bin/bash
ivan:x:1001:1001:Ivan (site IT),,,:/home/ivan:/bin/bash
petr:x:1002:1002:Petr (call-center manager),,,:/home/petr:/bin/bash
"""

GROUP = """\
root:x:0:
asterisk:x:115:
integrator:x:1000:
ivan:x:1001:
petr:x:1002:
"""


def make_tree(root: Path) -> Path:
    """A server's /etc and /var/log under *root*."""
    (root / "etc" / "asterisk").mkdir(parents=True)
    (root / "var" / "log").mkdir(parents=True)
    (root / "etc" / "hostname").write_text("cc-srv01\n")
    (root / "etc" / "passwd").write_text(PASSWD)
    (root / "etc" / "group").write_text(GROUP)
    for name, text in (("chan_dahdi.conf", CHAN_DAHDI), ("queues.conf", QUEUES)):
        p = root / "etc" / "asterisk" / name
        p.write_text(text)
        os.chmod(p, 0o640)
    return root


def config(tmp: Path, root: Path, *, installers: tuple[str, ...] = ("integrator",),
           extra: str = "") -> Path:
    cfg = tmp / "site.toml"
    cfg.write_text(
        "[site]\nname = \"Sales office\"\nrole = \"server\"\n\n"
        "[baseline]\n"
        "watch = [\"/etc/asterisk/*.conf\"]\n"
        f"installer_accounts = {list(installers)!r}\n".replace("'", '"') + extra)
    return cfg


def backdate(state_dir: Path, seconds: float) -> None:
    """Make the current recording say it was made *seconds* earlier, as if
    acceptance had been an hour ago rather than a moment before the test
    changed the files (witness lines are then written between the two)."""
    import json

    base = state_dir / "baseline"
    rid = (base / "current").read_text().strip()
    path = base / "recordings" / f"{rid}.json"
    rec = json.loads(path.read_text())
    when = dt.datetime.fromisoformat(rec["recorded_at"]) - dt.timedelta(seconds=seconds)
    rec["recorded_at"] = when.isoformat()
    path.write_text(json.dumps(rec))


def edit(path: Path, old: str, new: str) -> float:
    """Change a file the way an editor does: write a new file beside it and
    rename it over the old one (new inode, same mode). Returns its ctime."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    mode = path.stat().st_mode & 0o7777
    tmp = path.with_name("." + path.name + ".swp-new")
    tmp.write_text(text.replace(old, new))
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return path.stat().st_ctime


def utmp(type_: int, pid: int, line: str, user: str, host: str, ts: float) -> bytes:
    sec = int(ts)
    return UTMP.pack(type_, pid, line.encode(), line[-4:].encode(), user.encode(), host.encode(),
                     0, 0, 0, sec, int((ts - sec) * 1e6), 0, 0, 0, 0)


def write_wtmp(root: Path, sessions: list[tuple[str, str, float, float | None]],
               host: str = "192.0.2.44") -> Path:
    """Sessions ``(user, line, login, logout or None)`` as wtmp records, in
    time order, after a boot record."""
    events: list[tuple[float, bytes]] = []
    first = min((s[2] for s in sessions), default=time.time()) - 3600
    events.append((first, utmp(BOOT_TIME, 0, "~", "reboot", "6.1.0-28-amd64", first)))
    for n, (user, line, login, logout) in enumerate(sessions):
        pid = 4000 + n
        events.append((login, utmp(USER_PROCESS, pid, line, user, host, login)))
        if logout is not None:
            events.append((logout, utmp(DEAD_PROCESS, pid, line, "", "", logout)))
    path = root / "var" / "log" / "wtmp"
    path.write_bytes(b"".join(b for _, b in sorted(events, key=lambda e: e[0])))
    return path


def write_wtmpdb(root: Path, sessions: list[tuple[str, str, float, float | None]]) -> Path:
    d = root / "var" / "lib" / "wtmpdb"
    d.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(d / "wtmp.db")
    con.execute("CREATE TABLE IF NOT EXISTS wtmp(ID INTEGER PRIMARY KEY, Type INTEGER, User TEXT NOT NULL, "
                "Login INTEGER, Logout INTEGER, TTY TEXT, RemoteHost TEXT, Service TEXT) STRICT;")
    for user, line, login, logout in sessions:
        con.execute("INSERT INTO wtmp (Type,User,Login,Logout,TTY,RemoteHost,Service) VALUES(?,?,?,?,?,?,?)",
                    (3, user, int(login * 1e6), None if logout is None else int(logout * 1e6), line,
                     "192.0.2.44", "sshd"))
    con.commit()
    con.close()
    return d / "wtmp.db"


def sudo_line(ts: float, user: str, command: str, pwd: str = "/home/ivan", tty: str = "pts/0",
              traditional: bool = False) -> str:
    if traditional:
        stamp = time.strftime("%b %e %H:%M:%S", time.localtime(ts))
    else:
        stamp = dt.datetime.fromtimestamp(ts).astimezone().isoformat(timespec="microseconds")
    return (f"{stamp} cc-srv01 sudo:     {user} : TTY={tty} ; PWD={pwd} ; USER=root ; "
            f"COMMAND={command}\n")


def append(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fh.write(text)


def dpkg_upgrade(root: Path, ts: float, package: str, old: str, new: str, conffile: str | None = None) -> None:
    """dpkg.log lines of an upgrade, and apt's history.log block."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
    lines = [f"{stamp} startup archives unpack",
             f"{stamp} upgrade {package}:amd64 {old} {new}",
             f"{stamp} status half-installed {package}:amd64 {old}",
             f"{stamp} status unpacked {package}:amd64 {new}",
             f"{stamp} startup packages configure",
             f"{stamp} configure {package}:amd64 {new} <none>"]
    if conffile:
        lines.append(f"{stamp} conffile {conffile} install")
    lines.append(f"{stamp} status installed {package}:amd64 {new}")
    append(root / "var" / "log" / "dpkg.log", "\n".join(lines) + "\n")
    start = time.strftime("%Y-%m-%d  %H:%M:%S", time.localtime(ts - 2))
    end = time.strftime("%Y-%m-%d  %H:%M:%S", time.localtime(ts + 2))
    append(root / "var" / "log" / "apt" / "history.log",
           f"\nStart-Date: {start}\nCommandline: apt-get upgrade\nRequested-By: ivan (1001)\n"
           f"Upgrade: {package}:amd64 ({old}, {new})\nEnd-Date: {end}\n")


def own(root: Path, package: str, *paths: str) -> None:
    """dpkg's record that *package* owns *paths* (var/lib/dpkg/info/<pkg>.list)."""
    d = root / "var" / "lib" / "dpkg" / "info"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{package}.list").write_text("/.\n/etc\n" + "".join(p + "\n" for p in paths))
