"""Small file helpers shared by the CLI, the facts file and the mail spool.

Writing a file as root is where a careless admin or a local attacker gets
leverage: ``--output /tmp/report.html`` where someone made
``/tmp/report.html`` a symlink to ``/etc/shadow``, a FIFO that blocks the
run forever, or a device node. :func:`atomic_write` never writes through a
symlink and never replaces anything but a regular file: it refuses with an
:class:`UnsafeTarget` error that says what is there. It writes a temporary
file beside the target (created exclusively, so it cannot be a planted
link either), fsyncs it, and renames it over: a reader, a crash or a
SIGTERM sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile


class UnsafeTarget(OSError):
    """The path exists and is not a regular file (or is a symlink)."""


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def check_target(path: str) -> os.stat_result | None:
    """The lstat of *path* when it is a regular file, None when nothing is
    there; :class:`UnsafeTarget` for a symlink or anything else."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        try:
            where = f" (to {os.readlink(path)})"
        except OSError:
            where = ""
        raise UnsafeTarget(errno.ELOOP, f"is a symbolic link{where}; not writing through it: "
                           "remove it or choose another file", path)
    for test, kind in _KINDS:
        if test(st.st_mode):
            raise UnsafeTarget(errno.EEXIST, f"is {kind}, not a regular file; not replacing it: "
                               "choose another file", path)
    return st


def atomic_write(path: str, text: str | bytes, mode: int = 0o644, keep_owner: bool = False) -> None:
    """Write *text* to *path* atomically (module docstring). A new file gets
    *mode*; with *keep_owner*, an existing file keeps its owner, group and
    permission bits (the temporary file is given them before the rename)."""
    st = check_target(path)
    directory = os.path.dirname(os.path.abspath(path))
    owner = None
    if st is not None and keep_owner:
        mode = stat.S_IMODE(st.st_mode) & 0o777  # never carry setuid/setgid/sticky over
        owner = (st.st_uid, st.st_gid)
    tmp = write_temp(directory, text, mode, owner)
    try:
        os.replace(tmp, path)
    except BaseException:
        discard(tmp)
        raise
    sync_dir(directory)


def write_temp(directory: str, text: str | bytes, mode: int = 0o644,
               owner: tuple[int, int] | None = None) -> str:
    """A new hidden temporary file in *directory* holding *text*, fsynced,
    with *mode* (and *owner* when allowed); the caller renames it into
    place or discards it (:func:`discard`). Nothing is left behind on failure."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=directory)
    try:
        if owner is not None and owner != (os.geteuid(), os.getegid()):
            try:
                os.fchown(fd, *owner)
            except PermissionError:
                pass  # not root: the file becomes ours, as any rewrite would make it
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        discard(tmp)
        raise
    os.close(fd)
    return tmp


def discard(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def sync_dir(directory: str) -> None:
    try:  # the rename itself survives a crash once the directory is synced
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def describe_oserror(exc: OSError, path: str | None = None) -> str:
    """``PATH: reason`` for an OSError, with the reason a user can act on."""
    where = path or exc.filename or ""
    if isinstance(exc, UnsafeTarget):
        return f"{where} {exc.strerror}"
    why = reason(exc)
    return f"{where}: {why}" if where else why


def reason(exc: OSError) -> str:
    """The reason of an OSError in words a user can act on."""
    if isinstance(exc, UnsafeTarget):
        return str(exc.strerror)
    if exc.errno and exc.strerror and exc.strerror != os.strerror(exc.errno):
        return exc.strerror  # a reason written for this case, not the C library's
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        reason = "no space left on device"
    elif exc.errno == errno.EROFS:
        reason = "the filesystem is read-only"
    elif exc.errno == errno.EACCES:
        reason = "permission denied"
    elif exc.errno == errno.EDQUOT:
        reason = "disk quota exceeded"
    elif exc.errno == errno.ENOTDIR:
        reason = "not a directory (or a path component is not)"
    return reason


def mountpoint(path: str) -> str:
    """The mountpoint holding *path* (its nearest existing ancestor)."""
    p = os.path.abspath(path)
    while not os.path.exists(p) and p != "/":
        p = os.path.dirname(p)
    while p != "/" and not os.path.ismount(p):
        p = os.path.dirname(p)
    return p
