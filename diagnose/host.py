"""The one seam between checks and the system.

Probes read files, list directories, run commands and open sockets only
through a :class:`Host`. A host has a *root* prefix: ``Host("/")`` is this
machine; ``Host("/tmp/recorded-tree")`` reads a copied tree (sysfs, procfs,
logs) as if it were the machine, so tests and offline analysis can stand in
for real hardware. Commands and sockets are only available on a live host
(root ``/``); a recorded host raises :class:`NotLive`, which the runner turns
into an error result naming what was needed.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat as stat_mod
from dataclasses import dataclass
from typing import Iterator

from diagnose.activity import doing


class NotLive(RuntimeError):
    """An operation needs the live machine but the host is a recorded tree."""


class NotRegularFile(OSError):
    """A path the host will not read: a FIFO, a socket, or a device named as a log."""


# What read_bytes reads of a file when no limit is given.
MAX_READ = 64 * 1024 * 1024


def _read_all(fd: int, limit: int) -> bytes:
    chunks, left = [], limit
    while left > 0:
        chunk = os.read(fd, min(left, 1024 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


@dataclass
class RunResult:
    argv: list[str]
    rc: int | None  # None when the command timed out or could not start
    stdout: str
    stderr: str
    timed_out: bool = False
    missing: bool = False  # the program was not found

    @property
    def ok(self) -> bool:
        return self.rc == 0


# Filesystem types that hold no user data: never audited for space.
PSEUDO_FS = frozenset({
    "proc", "sysfs", "devtmpfs", "devpts", "securityfs", "cgroup", "cgroup2",
    "pstore", "bpf", "debugfs", "tracefs", "configfs", "fusectl", "mqueue",
    "hugetlbfs", "autofs", "binfmt_misc", "rpc_pipefs", "nsfs", "efivarfs",
    "selinuxfs", "ramfs", "fuse.gvfsd-fuse", "fuse.portal", "overlay_lower",
})
# Read-only images: a full squashfs is normal, not a fault.
IMAGE_FS = frozenset({"squashfs", "iso9660", "udf", "erofs", "cramfs"})
NETWORK_FS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "sshfs", "fuse.sshfs", "9p",
    "glusterfs", "ceph", "fuse.glusterfs", "afs", "davfs", "fuse.rclone",
})


@dataclass
class Mount:
    """One line of /proc/self/mountinfo, decoded."""

    mount_id: int
    device: str  # major:minor
    root: str
    mountpoint: str
    fstype: str
    source: str
    options: tuple[str, ...]

    @property
    def kind(self) -> str:
        """local | pseudo | image | network: what disk.space makes of it."""
        base = self.fstype.split(".")[0]
        if self.fstype in PSEUDO_FS or base in PSEUDO_FS:
            return "pseudo"
        if self.fstype in IMAGE_FS:
            return "image"
        if self.fstype in NETWORK_FS or base in NETWORK_FS:
            return "network"
        return "local"

    @property
    def read_only(self) -> bool:
        return "ro" in self.options


def _unescape_mount(s: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 3 < len(s) and s[i + 1:i + 4].isdigit():
            out.append(chr(int(s[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[Mount]:
    """Parse /proc/<pid>/mountinfo (proc(5)): fields up to the optional
    fields, a lone ``-``, then fstype, source and super options."""
    mounts = []
    for line in text.splitlines():
        parts = line.split()
        if "-" not in parts:
            continue
        sep = parts.index("-")
        if sep < 6 or len(parts) < sep + 3:
            continue
        mounts.append(Mount(
            mount_id=int(parts[0]),
            device=parts[2],
            root=_unescape_mount(parts[3]),
            mountpoint=_unescape_mount(parts[4]),
            fstype=parts[sep + 1],
            source=_unescape_mount(parts[sep + 2]),
            options=tuple(parts[5].split(",")),
        ))
    return mounts


class Host:
    """System access for probes, relative to a root prefix."""

    def __init__(self, root: str = "/") -> None:
        self.root = os.path.abspath(root)

    # -- identity -----------------------------------------------------------
    @property
    def live(self) -> bool:
        return self.root == "/"

    def require_live(self, what: str) -> None:
        if not self.live:
            raise NotLive(f"{what} needs the live machine; host root is {self.root}")

    def hostname(self) -> str:
        if self.live:
            return os.uname().nodename  # what gethostname(2) answers on Linux, without importing socket
        text = self.read_text("/etc/hostname", missing="")
        return text.strip() or os.path.basename(self.root)

    def is_root_user(self) -> bool:
        return self.live and os.geteuid() == 0

    # -- files --------------------------------------------------------------
    def path(self, p: str) -> str:
        """Where system path *p* really is under this host's root."""
        if self.live:
            return p
        return os.path.join(self.root, p.lstrip("/"))

    def exists(self, p: str) -> bool:
        return os.path.exists(self.path(p))

    def is_dir(self, p: str) -> bool:
        return os.path.isdir(self.path(p))

    def _open(self, p: str, logs: bool = False) -> int:
        """Open *p* for reading without hanging: O_NONBLOCK, so a FIFO
        named in a config does not block the open; a FIFO or socket is
        refused (and, for *logs*, a device too: ``log = "/dev/zero"`` would
        read forever)."""
        fd = os.open(self.path(p), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
        mode = os.fstat(fd).st_mode
        refuse = stat_mod.S_ISFIFO(mode) or stat_mod.S_ISSOCK(mode) or \
            (logs and not stat_mod.S_ISREG(mode))
        if refuse:
            os.close(fd)
            kind = ("a FIFO" if stat_mod.S_ISFIFO(mode) else "a socket" if stat_mod.S_ISSOCK(mode) else
                    "a device" if stat_mod.S_ISCHR(mode) or stat_mod.S_ISBLK(mode) else
                    "a directory" if stat_mod.S_ISDIR(mode) else "not a regular file")
            raise NotRegularFile(errno.EINVAL, f"{kind}, not a regular file; not read", p)
        return fd

    def read_bytes(self, p: str, max_bytes: int | None = None) -> bytes:
        """At most *max_bytes* (default MAX_READ) of file *p*."""
        with doing(f"reading {p}"):
            fd = self._open(p)
            try:
                return _read_all(fd, MAX_READ if max_bytes is None else max_bytes)
            finally:
                os.close(fd)

    _MISSING = object()

    def read_text(self, p: str, missing: object = _MISSING, max_bytes: int | None = None) -> str:
        """Read a text file; undecodable bytes are replaced, never fatal.
        With *missing* given, a file that does not exist returns it instead."""
        try:
            return self.read_bytes(p, max_bytes).decode("utf-8", "replace")
        except (FileNotFoundError, NotADirectoryError):
            if missing is Host._MISSING:
                raise
            return missing  # type: ignore[return-value]

    def tail(self, p: str, max_bytes: int = 256 * 1024) -> list[str]:
        """The last lines of a (log) file, reading at most *max_bytes*. Only
        a regular file is read (:class:`NotRegularFile` otherwise)."""
        with doing(f"reading {p}"):
            fd = self._open(p, logs=True)
            try:
                size = os.fstat(fd).st_size
                os.lseek(fd, max(0, size - max_bytes), os.SEEK_SET)
                data = _read_all(fd, max_bytes)
            finally:
                os.close(fd)
        lines = data.decode("utf-8", "replace").splitlines()
        if size > max_bytes and lines:
            lines = lines[1:]  # the first line is probably cut
        return lines

    def listdir(self, p: str) -> list[str]:
        return sorted(os.listdir(self.path(p)))

    def scandir(self, p: str) -> Iterator[os.DirEntry]:
        return os.scandir(self.path(p))

    def stat(self, p: str) -> os.stat_result:
        return os.stat(self.path(p))

    def lstat(self, p: str) -> os.stat_result:
        return os.lstat(self.path(p))

    def readlink(self, p: str) -> str:
        return os.readlink(self.path(p))

    def realpath(self, p: str) -> str:
        """Resolve symlinks inside the host's root; returns a system path."""
        real = os.path.realpath(self.path(p))
        if self.live:
            return real
        rel = os.path.relpath(real, self.root)
        return "/" + ("" if rel == "." else rel)

    def statvfs(self, p: str) -> os.statvfs_result:
        return os.statvfs(self.path(p))

    def mounts(self) -> list[Mount]:
        return parse_mountinfo(self.read_text("/proc/self/mountinfo", missing=""))

    def mount_of(self, p: str) -> Mount | None:
        """The mount holding system path *p* (longest mountpoint prefix)."""
        p = self.realpath(p) if self.exists(p) else os.path.normpath(p)
        best = None
        for m in self.mounts():
            mp = m.mountpoint
            if p == mp or p.startswith(mp.rstrip("/") + "/") or mp == "/":
                if best is None or len(mp) >= len(best.mountpoint):
                    best = m
        return best

    @staticmethod
    def is_regular(st: os.stat_result) -> bool:
        return stat_mod.S_ISREG(st.st_mode)

    # -- commands -----------------------------------------------------------
    def which(self, cmd: str) -> str | None:
        if self.live:
            return shutil.which(cmd)
        for d in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"):
            if os.access(self.path(f"{d}/{cmd}"), os.X_OK):
                return f"{d}/{cmd}"
        return None

    def run(self, argv: list[str], timeout: float = 5.0, env: dict[str, str] | None = None,
            input: str | None = None) -> RunResult:
        """Run a command (never through a shell) with a hard timeout.

        A missing program or a timeout is a result, not an exception: probes
        record what happened as facts.
        """
        self.require_live(f"running {argv[0]}")
        return self._exec(argv, timeout, env, input)

    def run_on_files(self, argv: list[str], timeout: float = 5.0,
                     env: dict[str, str] | None = None) -> RunResult:
        """Run a local program that only reads files of this host's tree
        (``git`` on an etckeeper repository, a log reader): allowed on a
        recorded tree too, because it inspects data rather than the live
        system. Paths in *argv* must already be :meth:`path` results."""
        return self._exec(argv, timeout, env, None)

    def _exec(self, argv: list[str], timeout: float, env: dict[str, str] | None,
              input: str | None) -> RunResult:
        import subprocess  # imported by the first command run: a run of file checks needs none

        full_env = dict(os.environ, **(env or {}))
        full_env.setdefault("LC_ALL", "C")
        try:
            proc = subprocess.run(
                argv, capture_output=True, timeout=timeout, env=full_env, input=input,
                text=True, errors="replace", stdin=None if input is not None else subprocess.DEVNULL,
            )
        except FileNotFoundError:
            return RunResult(list(argv), None, "", f"{argv[0]}: not found", missing=True)
        except subprocess.TimeoutExpired as exc:
            def _s(v: object) -> str:
                return v.decode("utf-8", "replace") if isinstance(v, bytes) else (v or "")  # type: ignore[return-value]
            return RunResult(list(argv), None, _s(exc.stdout), _s(exc.stderr), timed_out=True)
        return RunResult(list(argv), proc.returncode, proc.stdout, proc.stderr)

    # -- network ------------------------------------------------------------
    def dns_query(self, server: str, name: str, timeout: float = 1.0) -> dict:
        """Ask one DNS server for *name* directly (diagnose.dns.query)."""
        self.require_live("a DNS query")
        from diagnose import dns

        return dns.query(server, name, timeout)

    def resolve(self, name: str, timeout: float = 2.0) -> list[str]:
        """Addresses for *name* (system resolver). Raises OSError on failure.

        getaddrinfo has no timeout of its own; it runs in a daemon thread (a
        pool's worker would hold up interpreter exit while the lookup hangs)
        and a slow resolver becomes ``TimeoutError``.
        """
        self.require_live("name resolution")
        import socket
        import threading

        box: dict[str, object] = {}

        def lookup() -> None:
            try:
                box["infos"] = socket.getaddrinfo(name, None, 0, socket.SOCK_STREAM)
            except OSError as exc:
                box["error"] = exc

        worker = threading.Thread(target=lookup, daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            raise TimeoutError(f"resolving {name} took longer than {timeout}s")
        if "error" in box:
            raise box["error"]  # type: ignore[misc]
        infos = box["infos"]
        seen: list[str] = []
        for info in infos:  # type: ignore[attr-defined]
            addr = info[4][0]
            if addr not in seen:
                seen.append(addr)
        return seen

    def tcp_connect(self, address: str, port: int, timeout: float = 2.0) -> dict:
        """Try a TCP connection, retrying silence within *timeout*; see
        :func:`diagnose.net.tcp_connect`."""
        self.require_live("a TCP connection")
        from diagnose import net

        return net.tcp_connect(address, port, timeout=timeout)

    def ping(self, address: str, count: int = 5, interval: float = 0.05,
             timeout: float = 1.0) -> dict:
        """ICMP echo series; see :func:`diagnose.net.ping`."""
        self.require_live("ICMP echo")
        from diagnose import net

        return net.ping(address, count=count, interval=interval, timeout=timeout)
