"""One run at a time: a non-blocking ``flock`` on a lock file.

Scheduled runs (cron, systemd timers) must never overlap: two runs would
probe the same system twice and mail the same spool twice. The lock is an
advisory ``flock(2)`` on an open file, so the kernel drops it when the
holder exits or dies; a stale file left behind never blocks anyone. The
holder writes its pid into the file so the loser can say who holds it.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from typing import Iterator

DEFAULT_LOCK = "/run/lock/diagnose.lock"
# Exit code of a run that found another run holding the lock: distinct from
# the Nagios codes 0-3 so that a scheduler's log tells "skipped, a run was
# still going" from a real result or a broken run.
EXIT_LOCKED = 4


class LockError(Exception):
    """The lock file cannot be opened at all (a path or permission problem)."""


class LockHeld(LockError):
    """Another process holds the lock."""

    def __init__(self, path: str, pid: int | None) -> None:
        self.path, self.pid = path, pid
        who = f"pid {pid}" if pid else "another process"
        super().__init__(f"another diagnose run ({who}) holds the lock {path}; "
                         "not running the checks twice at once")


def _holder(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text.isdigit() else None
    except OSError:
        return None


@contextmanager
def run_lock(path: str = DEFAULT_LOCK) -> Iterator[None]:
    """Hold the lock for the body of the ``with``; raise :class:`LockHeld`
    at once (no waiting) when another process has it."""
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise LockError(f"cannot open the lock file {path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(path, _holder(fd)) from None
        # Truncate only once locked: the loser must not wipe the holder's pid.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
