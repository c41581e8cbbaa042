"""Snapshots of watched files and of the installed packages, through the host
seam (so ``--root`` reads a recorded tree).

A file's snapshot holds what tells a change and what puts the file back: its
sha256, size, owner, group, mode, mtime and ctime, and for a text file up to
:data:`TEXT_LIMIT` bytes its content with secret values replaced by digests
(see :mod:`diagnose.state.confdiff`). Binary files, larger files and files
that are secret as a whole keep their digest only.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import glob
import hashlib
import os
import re
import stat as stat_mod
import time
from typing import Any, Iterable

from diagnose.state import confdiff

TEXT_LIMIT = 256 * 1024
DIR_LIMIT = 2000  # files taken from one watched directory
# Editor, package-manager and restore leftovers: never watched, so that a
# backup kept beside a file does not count as a new file.
NEVER_WATCH = ("*~", "*.swp", "*.swx", "*.bak", "*.dpkg-old", "*.dpkg-new", "*.dpkg-dist",
               "*.dpkg-tmp", "*.ucf-old", "*.ucf-dist", "*.rpmnew", "*.rpmsave", "*.orig",
               "*.replaced-*", ".#*", "#*#")


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).replace(microsecond=0).isoformat()


_NEVER = re.compile("|".join(fnmatch.translate(p) for p in NEVER_WATCH))


def _ignored(path: str, ignore: Iterable[str]) -> bool:
    if _NEVER.match(os.path.basename(path)):
        return True
    return any(fnmatch.fnmatch(path, p) or path.startswith(p.rstrip("/") + "/") for p in ignore)


def expand(host: Any, patterns: Iterable[str], ignore: Iterable[str] = ()) -> list[str]:
    """System paths of the regular files that *patterns* name on *host*:
    plain paths, globs (``**`` recurses) and directories (every file below,
    at most :data:`DIR_LIMIT`). Paths that do not exist are left out; a
    pattern without wildcards that names a missing file is kept so that a
    removed file shows as removed."""
    ignore = list(ignore)
    out: dict[str, None] = {}
    root = host.root.rstrip("/")

    def system(p: str) -> str:
        if host.live:
            return p
        rel = os.path.relpath(p, root)
        return "/" if rel == "." else "/" + rel

    for pattern in patterns:
        if not pattern.startswith("/"):
            continue
        if not glob.has_magic(pattern):
            real = host.path(pattern)
            if os.path.isdir(real):
                n = 0
                for d, dirs, files in os.walk(real):
                    dirs.sort()
                    for f in sorted(files):
                        sp = system(os.path.join(d, f))
                        if os.path.isfile(os.path.join(d, f)) and not _ignored(sp, ignore):
                            out[sp] = None
                            n += 1
                    if n >= DIR_LIMIT:
                        break
            elif not _ignored(pattern, ignore):
                out[os.path.normpath(pattern)] = None
            continue
        for real in sorted(glob.glob(host.path(pattern), recursive=True)):
            sp = system(real)
            if os.path.isfile(real) and not _ignored(sp, ignore):
                out[sp] = None
    return list(out)


def accounts(host: Any) -> tuple[dict[int, str], dict[int, str]]:
    """uid -> name and gid -> name from the host's /etc/passwd and /etc/group."""
    def table(path: str) -> dict[int, str]:
        out: dict[int, str] = {}
        for line in host.read_text(path, missing="").splitlines():
            parts = line.split(":")
            if len(parts) >= 3 and parts[2].isdigit():
                out.setdefault(int(parts[2]), parts[0])
        return out
    return table("/etc/passwd"), table("/etc/group")


def snapshot(host: Any, path: str, salt: bytes, users: dict[int, str], groups: dict[int, str],
             text_limit: int = TEXT_LIMIT, unless_sha256: str | None = None) -> tuple[dict[str, Any], str | None]:
    """The snapshot of one file and its stored (redacted) text, or None as
    the text when the content is not kept. With *unless_sha256*, a file
    whose digest is that one is not decoded (nothing to compare)."""
    seen = time.time_ns()
    try:
        st = host.stat(path)
    except FileNotFoundError:
        return {"path": path, "exists": False}, None
    except OSError as exc:
        return {"path": path, "exists": None, "error": exc.strerror or str(exc)}, None
    snap: dict[str, Any] = {
        "path": path, "exists": True, "size": st.st_size,
        "uid": st.st_uid, "gid": st.st_gid,
        "owner": users.get(st.st_uid, str(st.st_uid)), "group": groups.get(st.st_gid, str(st.st_gid)),
        "mode": f"{stat_mod.S_IMODE(st.st_mode):04o}",
        "mtime": iso(st.st_mtime), "ctime": iso(st.st_ctime),
        "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns, "ino": st.st_ino, "seen_ns": seen,
    }
    if not stat_mod.S_ISREG(st.st_mode):
        snap.update(kind="not-a-file", sha256=None)
        return snap, None
    try:
        data = host.read_bytes(path)
    except OSError as exc:
        snap.update(kind="unreadable", sha256=None, error=exc.strerror or str(exc))
        return snap, None
    snap["sha256"] = hashlib.sha256(data).hexdigest()
    if unless_sha256 is not None and snap["sha256"] == unless_sha256:
        snap["kind"] = "unchanged"
        return snap, None
    if confdiff.is_secret_file(path):
        snap["kind"] = "secret-file"
        return snap, None
    if len(data) > text_limit:
        snap["kind"] = "too-large"
        return snap, None
    if b"\0" in data[:8192]:
        snap["kind"] = "binary"
        return snap, None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        snap["kind"] = "binary"
        return snap, None
    stored, secrets = confdiff.redact(text, salt, path)
    snap.update(kind="text", secrets=secrets)
    return snap, stored


# File timestamps come from a coarse clock (a jiffy: 1 to 10 ms): a write
# within this long after a snapshot may leave ctime as it was.
RACY_NS = 50_000_000


def same_stat(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Nothing about the file changed that stat can see (git's index test):
    same inode, size, mtime and ctime to the nanosecond. A write changes
    ctime, and ctime cannot be set from user space. A snapshot taken within
    :data:`RACY_NS` of the file's ctime proves nothing ("racy", as git
    says): the file is read again."""
    keys = ("ino", "size", "mtime_ns", "ctime_ns", "uid", "gid", "mode")
    if not a.get("exists") or not all(a.get(k) == b.get(k) for k in keys):
        return False
    seen = a.get("seen_ns")
    return seen is not None and seen - a["ctime_ns"] > RACY_NS


# -- installed packages -----------------------------------------------------------

def packages(host: Any) -> dict[str, Any]:
    """Installed packages and versions: dpkg's status file (readable in a
    recorded tree too), else ``rpm -qa`` on the live machine."""
    status = host.read_text("/var/lib/dpkg/status", missing=None)
    if status is not None:
        items: dict[str, str] = {}
        for block in status.split("\n\n"):
            fields: dict[str, str] = {}
            for line in block.splitlines():
                if line[:1] in (" ", "\t") or ":" not in line:
                    continue
                k, _, v = line.partition(":")
                fields[k] = v.strip()
            if fields.get("Package") and fields.get("Status", "").endswith(" installed"):
                name = fields["Package"]
                if fields.get("Architecture") not in (None, "all") and name in items:
                    name = f"{name}:{fields['Architecture']}"
                items[name] = fields.get("Version", "")
        return {"manager": "dpkg", "items": dict(sorted(items.items()))}
    if host.live and host.which("rpm"):
        res = host.run(["rpm", "-qa", "--qf", "%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\n"], timeout=60)
        items = {}
        for line in res.stdout.splitlines():
            name, _, ver = line.partition("\t")
            if name:
                items[name] = ver[2:] if ver.startswith("0:") else ver
        return {"manager": "rpm", "items": dict(sorted(items.items()))}
    return {"manager": None, "items": {}}


def package_owners(host: Any, paths: Iterable[str]) -> dict[str, str]:
    """Which installed package owns each path: dpkg's ``info/*.list`` files
    (read once, only when asked). Paths no package owns are left out."""
    want = set(paths)
    if not want:
        return {}
    out: dict[str, str] = {}
    info = "/var/lib/dpkg/info"
    try:
        names = [n for n in host.listdir(info) if n.endswith(".list")]
    except OSError:
        return out
    for name in names:
        try:
            text = host.read_text(f"{info}/{name}")
        except OSError:
            continue
        for line in text.splitlines():
            if line in want and line not in out:
                out[line] = name[:-5].split(":")[0]
    return out
