"""Rig for application.services: a real call-center-like server process.

The server is a small Python program started through a symlink to the
interpreter named ``cc<pytest pid>-<n>``, so the kernel (and ps, and the
check) see that as its process name. It logs to a file like a real service,
and can be made to serve, crash with a traceback, dump core, listen on the wrong port,
fill its data disk (a tiny tmpfs), save recordings into an SQLite, PostgreSQL or
MariaDB database until it refuses them, trip over a corrupt SQLite database, or
be killed by the OOM killer inside a memory cgroup. Everything it starts or
mounts is undone by pid, mountpoint and cgroup path, even when a test fails.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

SERVER = r'''
import logging, os, socket, sqlite3, sys

mode, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = sys.argv[4] if len(sys.argv) > 4 else ""
logging.basicConfig(filename=log, level=logging.INFO,
                    format="%(asctime)s %(levelname)s ccserver: %(message)s")
logging.info("starting, mode %s", mode)
if mode == "diskfull":
    chunk = b"\0" * 65536
    try:
        with open(os.path.join(data, "recording-0001.wav"), "wb") as fh:
            while True:
                fh.write(chunk)
                fh.flush()
    except OSError:
        logging.exception("cannot write call recording")
        sys.exit(1)
if mode == "dbcorrupt":
    try:
        sqlite3.connect(os.path.join(data, "cc.db")).execute("SELECT count(*) FROM agents").fetchone()
    except sqlite3.DatabaseError:
        logging.exception("cannot open the call-center database")
        sys.exit(1)
if mode == "sqlitewrite":  # saves call recordings into the SQLite database at *data*
    try:
        db = sqlite3.connect(data)
        db.execute("CREATE TABLE IF NOT EXISTS recordings (id INTEGER PRIMARY KEY, audio BLOB)")
        while True:
            db.execute("INSERT INTO recordings(audio) VALUES (?)", (os.urandom(65536),))
            db.commit()
    except sqlite3.Error:
        logging.exception("cannot save call recording")
        sys.exit(1)
if mode in ("pgwrite", "mywrite"):  # saves recordings into the server database at *data* (a URL)
    try:
        if mode == "pgwrite":
            import psycopg
            with psycopg.connect(data, connect_timeout=5, autocommit=True) as conn:
                conn.execute("CREATE TABLE IF NOT EXISTS recordings (id serial PRIMARY KEY, audio bytea)")
                while True:
                    conn.execute("INSERT INTO recordings(audio) VALUES (%s)", (os.urandom(65536),))
        import pymysql, urllib.parse
        u = urllib.parse.urlsplit(data)
        conn = pymysql.connect(unix_socket=urllib.parse.parse_qs(u.query)["unix_socket"][0], user="root",
                               database=u.path.lstrip("/"), autocommit=True)
        with conn.cursor() as cur:
            while True:
                cur.execute("INSERT INTO recordings(audio) VALUES (REPEAT('a', 200000))")
    except Exception:
        logging.exception("cannot save call recording")
        sys.exit(1)
if mode == "segfault":
    import ctypes, resource
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    logging.info("loading the codec plugin")
    ctypes.string_at(0)
if mode == "oom":
    logging.info("loading the call history")
    hoard = []
    while True:
        hoard.append(bytearray(1 << 20))
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    srv.bind(("127.0.0.1", port))
except OSError:
    logging.exception("cannot bind 127.0.0.1:%d", port)
    sys.exit(1)
srv.listen(8)
logging.info("listening on 127.0.0.1:%d", port)
while True:
    conn, _ = srv.accept()
    try:
        queue = conn.recv(100).decode().strip()
        members = {"support": ["anna"]}
        conn.sendall(("next agent: %s\n" % members[queue][0]).encode())
    except Exception:
        logging.exception("request failed")
    finally:
        conn.close()
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(pred, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return False


class ServicesRig:
    """Starts server processes, tmpfs mounts and memory cgroups; undoes them."""

    count = 0

    def __init__(self, base: Path) -> None:
        self.base = base
        # Unique per rig: the kernel log keeps OOM kills by process name, and
        # one test's kill must not show up as another test's history.
        ServicesRig.count += 1
        self.name = f"cc{os.getpid()}-{ServicesRig.count}"[:15]
        bindir = base / "bin"
        bindir.mkdir()
        self.program = bindir / self.name
        self.program.symlink_to(sys.executable)
        self.script = base / "ccserver.py"
        self.script.write_text(SERVER)
        self.log = base / "server.log"
        self.procs: list[subprocess.Popen] = []
        self.mounts: list[Path] = []
        self.cgroups: list[Path] = []

    def start(self, mode: str = "serve", port: int = 0, data: str = "",
              cgroup: Path | None = None) -> subprocess.Popen:
        """Start the server; for ``serve`` wait until it accepts on *port*."""
        def enter_cgroup() -> None:
            if cgroup is not None:
                (cgroup / "cgroup.procs").write_text(str(os.getpid()))

        proc = subprocess.Popen([str(self.program), str(self.script), mode, str(port), str(self.log), data],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, preexec_fn=enter_cgroup, cwd=self.base)
        self.procs.append(proc)
        if mode == "serve":
            self.wait_log(f"listening on 127.0.0.1:{port}")
        return proc

    def request(self, port: int, queue: str) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(queue.encode() + b"\n")
            s.recv(100)

    def wait_log(self, text: str) -> None:
        if not _wait(lambda: self.log.exists() and text in self.log.read_text()):
            raise RuntimeError(f"{text!r} never appeared in {self.log}")

    def wait_oom_line(self, pid: int) -> None:
        """The OOM killer sends SIGKILL before it prints "Killed process"
        (mm/oom_kill.c), so the parent can reap the victim before the kernel
        log says why; wait for the line (skip where dmesg is not readable)."""
        def logged() -> bool:
            res = subprocess.run(["dmesg"], capture_output=True, text=True)
            if res.returncode != 0:
                pytest.skip(f"dmesg not readable: {res.stderr.strip()}")
            return f"Killed process {pid} " in res.stdout
        if not _wait(logged, 5):
            raise RuntimeError(f"the kernel never logged the OOM kill of {pid}")

    def kill(self, proc: subprocess.Popen) -> None:
        """SIGKILL and reap, so no zombie stays behind for the probe."""
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def tmpfs(self, size: str = "1m") -> Path:
        mnt = self.base / f"tmpfs{len(self.mounts)}"
        mnt.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", f"dgsvc-{os.getpid()}", str(mnt)],
                       check=True)
        self.mounts.append(mnt)
        return mnt

    def memory_cgroup(self, limit_mb: int) -> Path:
        """A memory cgroup with *limit_mb*: cgroup v1 memory controller or a
        v2 group, whichever this kernel has mounted."""
        name = f"dgsvc-{os.getpid()}-{len(self.cgroups)}"
        v1 = Path("/sys/fs/cgroup/memory")
        v2 = Path("/sys/fs/cgroup")
        v2_controllers = v2 / "cgroup.subtree_control"
        if (v1 / "memory.limit_in_bytes").exists():
            cg = v1 / name
            cg.mkdir()
            self.cgroups.append(cg)
            (cg / "memory.limit_in_bytes").write_text(str(limit_mb << 20))
        elif v2_controllers.exists() and "memory" in v2_controllers.read_text().split():
            cg = v2 / name
            cg.mkdir()
            self.cgroups.append(cg)
            (cg / "memory.max").write_text(str(limit_mb << 20))
            if (cg / "memory.swap.max").exists():  # only with swap accounting
                (cg / "memory.swap.max").write_text("0")
        else:
            pytest.skip("no memory cgroup controller to confine an OOM kill")
        return cg

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        for mnt in reversed(self.mounts):
            subprocess.run(["umount", str(mnt)], check=False)
        # A core piped to systemd-coredump lands outside the test's folder.
        for core in Path("/var/lib/systemd/coredump").glob(f"core.{self.name}.*"):
            core.unlink()
        for cg in self.cgroups:
            _wait(lambda: not (cg / "cgroup.procs").read_text().strip(), 5)
            cg.rmdir()


@pytest.fixture
def services_rig(tmp_path):
    rig = ServicesRig(tmp_path)
    try:
        yield rig
    finally:
        rig.cleanup()
