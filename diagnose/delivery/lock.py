"""One run at a time: a non-blocking ``flock`` on a lock file.

Scheduled runs (cron, systemd timers) must never overlap: two runs would
probe the same system twice and mail the same spool twice. The lock is an
advisory ``flock(2)`` on an open file, so the kernel drops it when the
holder exits or dies; a stale file left behind never blocks anyone. The
holder writes its pid into the file so the loser can say who holds it.

The lock must not be a way for any local user to stop the audits. The
default lives in ``/run/diagnose/`` (root-only, unlike the world-writable
``/run/lock``), and whatever the path, the file is opened without following
a symlink (``O_NOFOLLOW``), must be a regular file, and must belong to the
user running diagnose: a lock file someone else made (and could hold
forever) is refused, naming its owner. A run skipped because the lock is
held is recorded beside the lock file (:func:`record_skip`) and counted in
the next report (:func:`skipped_finding`), so a schedule that keeps
skipping is seen, not taken for a run that passed.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import json
import os
import stat
import tempfile
from contextlib import contextmanager
from typing import Iterator

from diagnose.i18n import _, _n

DEFAULT_LOCK = "/run/diagnose/diagnose.lock"
# Exit code of a run that found another run holding the lock: distinct from
# the Nagios codes 0-3 so that a scheduler's log tells "skipped, a run was
# still going" from a real result or a broken run.
EXIT_LOCKED = 4
SKIPS_SUFFIX = ".skipped"  # beside the lock file: where only its owner writes
CHECK = "report.schedule"


def default_lock() -> str:
    """Root: DEFAULT_LOCK. Anyone else cannot create that; their own
    runtime directory ($XDG_RUNTIME_DIR), else the temporary directory
    (where the owner check below keeps other users' files out)."""
    if os.geteuid() == 0:
        return DEFAULT_LOCK
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return os.path.join(runtime, "diagnose.lock")
    return os.path.join(tempfile.gettempdir(), f"diagnose-{os.geteuid()}.lock")


def user_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (KeyError, ImportError):
        return str(uid)


class LockError(Exception):
    """The lock file cannot be used at all (a path, permission or owner problem)."""


class LockHeld(LockError):
    """Another process holds the lock."""

    def __init__(self, path: str, pid: int | None, user: str | None = None) -> None:
        self.path, self.pid, self.user = path, pid, user
        who = f"pid {pid}" if pid else "another process"
        if user:
            who += f", user {user}"
        super().__init__(f"another diagnose run ({who}) holds the lock {path}; "
                         "not running the checks twice at once")


def _holder(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text.isdigit() else None
    except OSError:
        return None


def _user_of_pid(pid: int | None) -> str | None:
    if not pid:
        return None
    try:
        return user_name(os.stat(f"/proc/{pid}").st_uid)
    except OSError:
        return None


def _foreign(path: str, owner: int, me: int) -> str:
    return _("the lock file {path} belongs to user {owner} (uid {uid}), not to {me}; another user made it and "
             "could hold it to stop every run: remove it (rm {path}) and keep the lock where only {me} can write "
             "(default {default})", path=path, owner=user_name(owner), uid=owner, me=user_name(me),
             default=DEFAULT_LOCK)


def _open(path: str) -> int:
    me = os.geteuid()
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LockError(_("the lock file {path} is a symbolic link; not following it: remove it (rm {path}) "
                              "and run again", path=path)) from None
        try:
            owner = os.lstat(path).st_uid
        except OSError:
            owner = me
        if owner != me:
            raise LockError(_foreign(path, owner, me)) from None
        raise LockError(_("cannot open the lock file {path}: {error}", path=path, error=exc.strerror)) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise LockError(_("the lock file {path} is not a regular file; remove it or choose another --lock FILE",
                          path=path))
    if st.st_uid != me:
        os.close(fd)
        raise LockError(_foreign(path, st.st_uid, me))
    return fd


@contextmanager
def run_lock(path: str | None = None) -> Iterator[None]:
    """Hold the lock for the body of the ``with``; raise :class:`LockHeld`
    at once (no waiting) when another process has it, :class:`LockError`
    when the file is unsafe or unusable (module docstring)."""
    path = path or default_lock()
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
    except OSError as exc:
        raise LockError(_("cannot open the lock file {path}: cannot create its directory {dir}: {error}",
                          path=path, dir=directory, error=exc.strerror)) from None
    fd = _open(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _holder(fd)
            raise LockHeld(path, pid, _user_of_pid(pid)) from None
        # Truncate only once locked: the loser must not wipe the holder's pid.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


# --- runs skipped because of the lock -----------------------------------------

def record_skip(lock_path: str, held: LockHeld, now: dt.datetime | None = None) -> str | None:
    """Remember that a run was skipped, beside the lock file, for the next
    run's report. Returns why it could not be recorded, or None."""
    from diagnose.fsutil import atomic_write, reason

    now = now or dt.datetime.now(dt.timezone.utc)
    path = lock_path + SKIPS_SUFFIX
    skips = _read_skips(path)
    skips.append({"time": now.isoformat(timespec="seconds"), "holder_pid": held.pid, "holder_user": held.user,
                  "lock": held.path})
    try:
        atomic_write(path, json.dumps(skips[-100:], indent=1) + "\n", 0o644)
    except OSError as exc:
        return reason(exc)
    return None


def _read_skips(path: str) -> list[dict]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return []
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
            return []  # not ours: another user's file is not our record
        data = json.loads(os.read(fd, 1024 * 1024).decode("utf-8", "replace"))
        return [s for s in data if isinstance(s, dict)] if isinstance(data, list) else []
    except (OSError, ValueError):
        return []
    finally:
        os.close(fd)


def take_skips(lock_path: str) -> list[dict]:
    """The runs skipped since the last run that held the lock; forgets them.
    Call it while holding the lock."""
    path = lock_path + SKIPS_SUFFIX
    skips = _read_skips(path)
    if skips:
        try:
            os.unlink(path)
        except OSError:
            pass
    return skips


def skipped_finding(skips: list[dict]):
    """A warning for the report of the run after skipped ones, or None."""
    if not skips:
        return None
    from diagnose.model import Fault, Finding, Status, step

    first = skips[0]
    holders = sorted({f"pid {s.get('holder_pid')}" + (f" ({s['holder_user']})" if s.get("holder_user") else "")
                      for s in skips})
    return Finding(
        CHECK, "lock", Status.WARN,
        _n("{n} scheduled run did not run since {time}: the lock was held",
           "{n} scheduled runs did not run since {time}: the lock was held", len(skips), time=first.get("time")),
        Fault.UNDETERMINED,
        detail=_("Runs were skipped because another run still held the lock {lock} (holder: {holders}). Nothing "
                 "was checked or mailed by those runs.", lock=first.get("lock"), holders=", ".join(holders)),
        evidence={"skipped": skips},
        remedy=[step(_("Find out why a run takes longer than the interval between runs:"),
                     "journalctl -u diagnose.service || grep diagnose /var/log/syslog"),
                step(_("Then lengthen the interval:"), "diagnose schedule install --every 6h")])
