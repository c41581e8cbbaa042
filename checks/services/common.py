"""Names, system paths and log patterns that the probe and the judge of
application.services share."""

from __future__ import annotations

import re
from typing import Any

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
    r"|No space left|Disk full|disk is full|Segmentation fault|core dumped|Address already in use", re.IGNORECASE)
# SQLITE_FULL reads "database or disk is full"; PostgreSQL's SQLSTATE 53100 is
# DiskFull; MariaDB's error 1114 "The table 'x' is full" is InnoDB out of space.
DISK_FULL = re.compile(r"No space left on device|errno[ =:]*28\b|\bENOSPC\b|Disk full|\berror 1021\b|"
                       r"database or disk is full|SQLITE_FULL|\bDiskFull\b|\b53100\b|"
                       r"The table '[^']{1,200}' is full", re.IGNORECASE)
# The disk-full errors a database client gets (the database's disk, not the service's own).
DB_FULL = re.compile(r"database or disk is full|SQLITE_FULL|\bDiskFull\b|\b53100\b|could not extend file|"
                     r"The table '[^']{1,200}' is full|\berror 1021\b", re.IGNORECASE)
# A file named in a log line: '/srv/cc/x.wav', "/srv/cc.db", (/srv/cc.db).
LOG_PATH = re.compile(r"""['"(](/[^'"()\s]{1,400})['")]""")
DB_CORRUPT = re.compile(
    r"database disk image is malformed|file is not a database|is marked as crashed|"
    r"Table '[^']*' is corrupt|Incorrect key file|invalid page in block|unexpected zero page|"
    r"could not read block|index \S+ contains|SQLITE_CORRUPT|SQLITE_NOTADB|database [^\n]{0,200}?corrupt",
    re.IGNORECASE)
# bind(2) failing because another socket holds the address: EADDRINUSE is 98 on Linux.
ADDR_IN_USE = re.compile(r"Address already in use|\bEADDRINUSE\b|errno[ =:]*98\b|BindException",
                         re.IGNORECASE)
# A line a service writes when it (re)starts: what came before belongs to an
# earlier run and does not explain what happened after.
START_LINE = re.compile(r"\b(?:start(?:ed|ing)(?: up)?|listening on|booting|initiali[sz]ing|server up)\b",
                        re.IGNORECASE)
# proc(5): /proc/<pid>/net/{tcp,udp}[6] socket states, hex. 0A = TCP_LISTEN;
# 07 = TCP_CLOSE, which for UDP means bound and unconnected, i.e. serving.
LISTEN_STATE = {"tcp": "0A", "tcp6": "0A", "udp": "07", "udp6": "07"}
OOM_KILL = re.compile(
    r"Killed process (?P<pid>\d+) \((?P<name>[^)]*)\)(?: total-vm:(?P<vm>\d+)kB, anon-rss:(?P<anon>\d+)kB,"
    r" file-rss:(?P<file>\d+)kB)?")
OOM_MEMCG = re.compile(r"oom-kill:[^\n]{0,400}?oom_memcg=(?P<memcg>[^,]{0,256}),[^\n]{0,400}?"
                       r"task=(?P<task>[^,]{0,256}),pid=(?P<pid>\d+)")
# Patterns see at most this much of a line (and are bounded within it).
MAX_LINE = 4096
MEMCG_USAGE = re.compile(r"memory: usage (?P<usage>\d+)kB, limit (?P<limit>\d+)kB")
JAVA_FRAME = re.compile(r"^\s+at [\w$.<>/-]+\(")
SECRET_ARG = re.compile(r"(?i)(pass(word)?|secret|token|key)(=|:)\S+")


def service_name(item: dict[str, Any]) -> str:
    return item.get("name") or item.get("unit") or item.get("process") or "service"
