"""Rigs for the hardening tests: an SMTP server that drips its greeting one
byte at a time, a loop-mounted ext4 with root's reserved blocks, and a
read-only tmpfs. Each cleans up what it made (threads, sockets, mounts,
loop devices, image files) even when the test fails."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import threading

import pytest


class DripServer:
    """Accepts SMTP connections on 127.0.0.1 and sends ``220-`` greeting
    lines one byte every *interval* seconds, never finishing: a server
    smtplib's per-operation timeout never catches."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.connections = 0
        self.clients: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            self.clients.append(conn)
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        line = b"220-mail.example ESMTP, please wait\r\n"
        i = 0
        while not self.stop.wait(self.interval):
            try:
                conn.sendall(line[i % len(line):i % len(line) + 1])
            except OSError:
                return
            i += 1

    def close(self) -> None:
        self.stop.set()
        for c in self.clients:
            try:
                c.close()
            except OSError:
                pass
        self.sock.close()
        self.thread.join(5)


@pytest.fixture
def drip_server():
    srv = DripServer()
    try:
        yield srv
    finally:
        srv.close()


class LoopExt4:
    """An ext4 image on a loop device, mounted, with the usual 5 % of
    blocks reserved for root."""

    def __init__(self, size_mb: int = 16) -> None:
        self.dir = tempfile.mkdtemp(prefix=f"dg-ext4-{os.getpid()}-")
        os.chmod(self.dir, 0o755)  # other users may reach the mount (fill_as)
        self.image = os.path.join(self.dir, "fs.img")
        self.mountpoint = os.path.join(self.dir, "mnt")
        self.loop = None
        os.mkdir(self.mountpoint)
        with open(self.image, "wb") as fh:
            fh.truncate(size_mb * 1024 * 1024)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "5", self.image], check=True, capture_output=True)
        self.loop = subprocess.run(["losetup", "--find", "--show", self.image], check=True,
                                   capture_output=True, text=True).stdout.strip()
        subprocess.run(["mount", self.loop, self.mountpoint], check=True, capture_output=True)

    def path(self, rel: str) -> str:
        return os.path.join(self.mountpoint, rel)

    def fill_as(self, uid: int, rel: str) -> None:
        """Fill the filesystem as *uid* (not root): it stops at root's
        reserved blocks, where users see "no space left"."""
        d = self.path(os.path.dirname(rel) or ".")
        os.makedirs(d, exist_ok=True)
        os.chown(d, uid, uid)
        as_user = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        subprocess.run(as_user + ["dd", "if=/dev/zero", f"of={self.path(rel)}", "bs=64k"], capture_output=True)
        # then the last few KiB, a block at a time
        subprocess.run(as_user + ["dd", "if=/dev/zero", f"of={self.path(rel)}", "bs=1k", "oflag=append",
                                  "conv=notrunc"], capture_output=True)

    def cleanup(self) -> None:
        if os.path.ismount(self.mountpoint):
            if subprocess.run(["umount", self.mountpoint], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", self.mountpoint], capture_output=True)
        if self.loop:
            subprocess.run(["losetup", "-d", self.loop], capture_output=True)
        subprocess.run(["rm", "-rf", self.dir], capture_output=True)


@pytest.fixture
def loop_ext4():
    made: list[LoopExt4] = []

    def make(size_mb: int = 16) -> LoopExt4:
        made.append(LoopExt4(size_mb))
        return made[-1]

    try:
        yield make
    finally:
        for fs in made:
            fs.cleanup()


def remount_ro(mountpoint: str) -> None:
    subprocess.run(["mount", "-o", "remount,ro", mountpoint], check=True, capture_output=True)


HUNG_FS_SERVER = r'''
import errno, os, stat, sys, time
from fuse import FUSE, FuseOSError, Operations

mountpoint, release = sys.argv[1], sys.argv[2]
DATA = b"2026-11-22 06:59:58 [ERROR] database disk image is malformed\n"


class Hung(Operations):
    """One file, db.log, whose contents never come (until *release* exists):
    a log on a disk or network filesystem that stopped answering."""

    def getattr(self, path, fh=None):
        now = time.time()
        if path == "/":
            return {"st_mode": stat.S_IFDIR | 0o755, "st_nlink": 2, "st_mtime": now, "st_ctime": now, "st_atime": now}
        if path == "/db.log":
            return {"st_mode": stat.S_IFREG | 0o644, "st_nlink": 1, "st_size": len(DATA),
                    "st_mtime": now, "st_ctime": now, "st_atime": now}
        raise FuseOSError(errno.ENOENT)

    def readdir(self, path, fh):
        return [".", "..", "db.log"]

    def open(self, path, flags):
        return 0

    def read(self, path, size, offset, fh):
        while not os.path.exists(release):
            time.sleep(0.1)
        return DATA[offset:offset + size]


FUSE(Hung(), mountpoint, foreground=True, nothreads=False, direct_io=True, allow_other=True)
'''


class HungFs:
    """A FUSE filesystem (fusepy, in its own process) whose one file,
    ``db.log``, hangs every read until :meth:`release`."""

    def __init__(self) -> None:
        import sys

        self.dir = tempfile.mkdtemp(prefix=f"dg-hungfs-{os.getpid()}-")
        self.mountpoint = os.path.join(self.dir, "mnt")
        self.release_flag = os.path.join(self.dir, "release")
        os.mkdir(self.mountpoint)
        script = os.path.join(self.dir, "server.py")
        with open(script, "w") as fh:
            fh.write(HUNG_FS_SERVER)
        self.proc = subprocess.Popen([sys.executable, script, self.mountpoint, self.release_flag],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(100):
            if os.path.ismount(self.mountpoint):
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"FUSE server failed: {self.proc.stderr.read().decode()[-500:]}")
            threading.Event().wait(0.1)
        else:
            self.cleanup()
            raise RuntimeError("FUSE filesystem did not come up")

    @property
    def log(self) -> str:
        return os.path.join(self.mountpoint, "db.log")

    def release(self) -> None:
        open(self.release_flag, "w").close()

    def cleanup(self) -> None:
        self.release()
        if os.path.ismount(self.mountpoint):
            subprocess.run(["umount", "-l", self.mountpoint], capture_output=True)
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        subprocess.run(["rm", "-rf", self.dir], capture_output=True)


@pytest.fixture
def hung_fs():
    try:
        import fuse  # noqa: F401
    except (ImportError, OSError) as exc:
        pytest.skip(f"needs fusepy and libfuse2 (pip install fusepy; apt-get install libfuse2): {exc}")
    if not os.path.exists("/dev/fuse"):
        pytest.skip("no /dev/fuse here")
    fs = HungFs()
    try:
        yield fs
    finally:
        fs.cleanup()
