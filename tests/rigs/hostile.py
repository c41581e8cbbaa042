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
