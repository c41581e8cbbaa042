"""What the database's own log and the kernel log say: disk-full, corruption and
crash lines with their times, and I/O errors of the device under the database's
files. Read in bounded tails, through the host.
"""

from __future__ import annotations

import os
import re
from typing import Any

from diagnose.host import Host

# How much of a log is read, and how many matching lines are kept per kind.
# Patterns see at most MAX_LINE characters of a line, and none of them can
# backtrack more than a bounded stretch: a hostile line costs linear time.
LOG_TAIL_BYTES = 4 * 1024 * 1024
KEEP_LINES = 20
MAX_LINE = 4096

# Lines in a database or application log, by what they tell.
LOG_PATTERNS = {
    # errno 28 is ENOSPC (InnoDB: "failed with error 28"); MariaDB error 1021 is ER_DISK_FULL; SQLITE_FULL
    # (13) reads "database or disk is full"; PostgreSQL's SQLSTATE 53100.
    "disk_full": re.compile(
        r"No space left on device|errno:? ?28\b|Errcode:? ?28\b|Disk (?:is )?full|\berror:? ?1021\b|ER_DISK_FULL|"
        r"database or disk is full|could not extend file|\b53100\b|failed with error 28\b|error number 28\b|"
        r"Out of disk space", re.I),
    "corruption": re.compile(
        r"marked as crashed|is corrupt|Size of datafile is|should be repaired|Incorrect key file|"
        r"database disk image is malformed|file is not a database|invalid page in block|"
        r"page verification failed|Database page corruption|index \S{1,200} contains unexpected|"
        r"could not read block|checksum mismatch|corrupted", re.I),
    "unclean": re.compile(
        r"not properly shut down|database system was interrupted|terminated by signal 9|"
        r"Starting crash recovery|crash recovery|got signal \d+|Database was not shut down normally|"
        r"was not closed properly|power (failure|loss)", re.I),
    "io_error": re.compile(r"I/O error|Input/output error|\bEIO\b|disk I/O error", re.I),
    # The operating system's refusal of a file: strerror(EACCES) is "Permission
    # denied", capitalised (PostgreSQL's SQL-level "permission denied for
    # table" is a privilege, not a file); MariaDB prints the errno (13).
    "permission": re.compile(r"Permission denied|has wrong ownership|has invalid permissions|"
                             r"Errcode:? ?13\b|error number 13\b|OS error code 13\b"),
}

# A server (or the application writing this log) starting: what the log said
# before belongs to an earlier run. PostgreSQL, MariaDB/MySQL, and the
# generic "started"/"starting" of an application log.
START = re.compile(r"starting PostgreSQL|database system is ready to accept connections|Starting MariaDB|"
                   r"starting as process|ready for connections|"
                   r"(?<!checkpoint )(?<!launcher )\bstart(?:ed|ing)\b(?! (?:shutdown|crash))", re.I)

# A timestamp at the start of a log line: ISO (PostgreSQL, MariaDB 10.x,
# MySQL 8; MariaDB pads an hour below 10 with a space: "2026-12-03  7:45:57"),
# MariaDB's old "YYMMDD hh:mm:ss", or syslog's "Mon dd hh:mm:ss".
_LOG_TIME = re.compile(
    r"^\s*\[?(?P<t>\d{4}-\d\d-\d\d(?:[ T]\d\d| {2}\d):\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d|"
    r" (?:UTC|GMT|CET|CEST|EET|EEST|WET|WEST|MSK|EST|EDT|CST|CDT|MST|MDT|PST|PDT|BST|IST|JST)\b)?|"
    r"\d{6} {1,2}\d?\d:\d\d:\d\d|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)")

# Kernel messages about a failing disk or filesystem. Which device they are
# about is matched separately (the kernel names it sda, sda1, dm-0, loop3 ...).
_KERNEL_IO = re.compile(
    r"I/O error|critical medium error|Medium Error|Buffer I/O error|EXT4-fs error|"
    r"EXT4-fs \([^)\n]{0,64}\): (?:I/O error|Remounting filesystem read-only)|"
    r"XFS [^\n]{0,200}?(?:I/O error|Corruption|corruption)|"
    r"BTRFS (?:error|critical)|Remounting filesystem read-only|blk_update_request|FAT-fs [^\n]{0,200}?error|"
    r"critical (?:space allocation|target|nexus) error|Aborting journal|"
    r"failed command: (?:READ|WRITE)", re.I)




# A file named in a log line: './cc/calls.MYD', "base/16384/16385", (/srv/x), or
# bare after "file" as InnoDB writes it: "for file ./cc/recordings.ibd failed".
_LOG_PATH = re.compile(r"""['"(]((?:\.{1,2}/|/)?[\w.@+-]+/[^'"()\s]*)['")]|"""
                       r"""\bfile ((?:\.{1,2}/|/)[\w.@+-]+/[^'"()\s]*)""")


def scan_log(host: Host, path: str | None, base: str | None = None) -> dict[str, Any]:
    """Lines of a database log that tell disk-full, corruption, unclean
    shutdown or I/O errors, with their line numbers (order in the file is
    time order) and timestamps as written.

    A server's log covers all its databases: a disk-full line that names a
    file (relative paths are relative to *base*, the server's data
    directory) gets the mountpoint of that file, so the judge can tell a
    full disk under this database from one under another."""
    out: dict[str, Any] = {"path": path, "read": False, "error": None,
                           **{kind: [] for kind in LOG_PATTERNS}}
    if not path:
        out["error"] = "no log configured"
        return out
    try:
        lines = host.tail(path, LOG_TAIL_BYTES)
    except OSError as exc:
        out["error"] = f"{exc.strerror or exc} ({path})"
        return out
    out["read"] = True
    out["lines"] = len(lines)
    out["last_start"] = None
    for n, line in enumerate(lines, 1):
        line = line[:MAX_LINE]
        if START.search(line):
            out["last_start"] = n
        for kind, rx in LOG_PATTERNS.items():
            if rx.search(line):
                m = _LOG_TIME.match(line)
                hit = {"line": n, "time": m["t"] if m else None, "text": line.strip()[:400]}
                if kind == "disk_full" and (f := _LOG_PATH.search(line)):
                    file = f.group(1) or f.group(2)
                    named = file if file.startswith("/") or not base else \
                        os.path.normpath(os.path.join(base, file))
                    mnt = host.mount_of(named) if named.startswith("/") else None
                    hit.update(file=named, mount=mnt.mountpoint if mnt else None)
                out[kind].append(hit)
    for kind in LOG_PATTERNS:  # the first lines say when it began, the last how it ended
        hits = out[kind]
        if len(hits) > KEEP_LINES:
            out[kind] = hits[:KEEP_LINES // 2] + hits[-KEEP_LINES // 2:]
            out[kind + "_count"] = len(hits)
    return out


def block_names(host: Host, device: str | None) -> list[str]:
    """Kernel names of the block device ``major:minor`` and of the disk it
    is a partition of (sda1 -> sda1, sda): kernel messages use either."""
    if not device or device.startswith("0:"):
        return []  # major 0: tmpfs, overlay and other devices without a disk
    try:
        real = host.realpath(f"/sys/dev/block/{device}")
    except OSError:
        return []
    if not host.exists(real):
        return []
    names = [os.path.basename(real)]
    parent = os.path.dirname(real)
    if host.exists(os.path.join(parent, "dev")) and os.path.basename(parent) not in ("block", ""):
        names.append(os.path.basename(parent))
    return names


class KernelLog:
    """The kernel's messages, read once per probe and only when a database
    sits on a block device. dmesg can be restricted (kernel.dmesg_restrict)
    or absent; then /var/log/kern.log or /var/log/messages is read, and when
    none is available the facts say so."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.loaded = False
        self.text: str | None = None
        self.source: str | None = None
        self.error: str | None = None

    def _load(self) -> None:
        self.loaded = True
        errors = []
        if self.host.live:
            res = self.host.run(["dmesg"], timeout=5)
            if res.ok:
                self.text, self.source = res.stdout, "dmesg"
                return
            errors.append("dmesg: " + ((res.stderr or "").strip() or f"exit {res.rc}"))
        for p in ("/var/log/kern.log", "/var/log/messages"):
            try:
                self.text, self.source = "\n".join(self.host.tail(p, LOG_TAIL_BYTES)), p
                return
            except OSError as exc:
                errors.append(f"{p}: {exc.strerror or exc}")
        self.error = "; ".join(errors) or "no kernel log available"

    def scan(self, names: list[str]) -> dict[str, Any]:
        """I/O error messages about the devices *names*."""
        out: dict[str, Any] = {"devices": names, "source": None, "error": None, "io_errors": []}
        if not names:
            out["error"] = "the database files are not on a block device"
            return out
        if not self.loaded:
            self._load()
        out.update(source=self.source, error=self.error)
        if self.text is None:
            return out
        dev = re.compile(r"\b(?:%s)\b" % "|".join(re.escape(n) for n in names))
        hits = [ln[:MAX_LINE].strip() for ln in self.text.splitlines()
                if _KERNEL_IO.search(ln[:MAX_LINE]) and dev.search(ln[:MAX_LINE])]
        out["io_errors"] = hits[:KEEP_LINES // 2] + hits[-KEEP_LINES // 2:] if len(hits) > KEEP_LINES else hits
        out["io_error_count"] = len(hits)
        return out
