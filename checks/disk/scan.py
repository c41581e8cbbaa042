"""Who is eating the disk: a fast, budgeted walk of one filesystem.

:func:`scan` walks a mountpoint depth-first with an explicit stack and
``os.scandir``, never crossing into another filesystem (a directory whose
``st_dev`` differs from the mountpoint's, or that is another mountpoint, is
listed, not entered). It adds up
allocated space (``st_blocks``, like ``du``) and file counts per directory,
per owner and per file extension, keeps the largest files in a small heap,
and afterwards picks the directories a technician should look at, split into
the application's data (the configured ``app_paths``) and foreign data.

Speed matters: a full disk may hold millions of files and the probe runs with
a timeout. Hence the shape of the inner loop: one ``DirEntry.stat`` per entry
(an ``fstatat`` relative to the open directory, because the directory is
scanned through its file descriptor; a path-based ``lstat`` would make the
kernel walk the whole path again for every file), nothing allocated per file
but dictionary counters, and file-type groups resolved once per distinct
extension (and cached). The walk stops at its time budget, checked every
``CLOCK_EVERY`` entries inside a directory too (one spool directory may hold
a million files), and says so; what it found until then is kept and marked
as a lower bound. Memory grows with directories, not files: per directory a
few counters, its owners and its bytes per file-type group (never per raw
extension).

Paths are system paths of the host (``host.path`` maps them into a recorded
tree), so the same scanner serves a live machine and a copied tree.
"""

from __future__ import annotations

import heapq
import os
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from diagnose.host import Host

GROUPS = ("video", "audio", "archives", "disk images", "other")
_EXT_GROUP = {ext: group for group, exts in (
    ("video", "mp4 m4v mkv avi mov wmv flv webm mpg mpeg m2ts mts vob 3gp ogv divx rm rmvb"),
    # gsm/ulaw/alaw/sln/g722/g729 are the raw formats telephony servers record calls in.
    ("audio", "mp3 wav flac ogg oga opus m4a aac wma aif aiff ape mka gsm ulaw alaw sln "
              "sln16 g722 g729 au"),
    # Packages (deb, rpm, whl, jar) are archives too, and as easy to move away.
    ("archives", "zip rar 7z tar gz tgz bz2 tbz tbz2 xz txz zst tzst lz lz4 lzma cab arj z cpio "
                 "deb rpm whl jar apk"),
    ("disk images", "iso img vmdk vdi qcow qcow2 vhd vhdx dmg ova raw wim"),
) for ext in exts.split()}

CLOCK_EVERY = 2048  # entries between two looks at the clock inside one directory
_GROUP_INDEX = {g: i for i, g in enumerate(GROUPS)}
_OTHER = _GROUP_INDEX["other"]
_EXT_CACHE_MAX = 4096  # distinct extensions remembered; beyond that looked up each time

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
_S_IFMT, _S_IFDIR = 0o170000, 0o040000


def group_of(ext: str) -> str:
    """The file-type group of an extension (without the dot)."""
    return _EXT_GROUP.get(ext.lower(), "other")


def read_passwd(host: "Host") -> dict[int, str]:
    """uid -> user name from the host's own /etc/passwd (so a recorded tree
    names its own users); lines are ``name:x:uid:gid:gecos:home:shell``."""
    names: dict[int, str] = {}
    for line in host.read_text("/etc/passwd", missing="").splitlines():
        parts = line.split(":")
        if len(parts) >= 3 and parts[2].isdigit():
            names.setdefault(int(parts[2]), parts[0])
    return names


def _show(path: str) -> str:
    """A path fit for a report: file names are bytes, and one that is not
    valid UTF-8 comes back from scandir with surrogate escapes that no
    renderer can print; show the undecodable bytes as U+FFFD instead."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", "replace")


def _under(path: str, top: str) -> bool:
    return path == top or top == "/" or path.startswith(top.rstrip("/") + "/")


class _Tree:
    """Per-directory counters of one walk, in discovery order (a parent is
    always before its children), so totals roll up in one reverse pass."""

    def __init__(self) -> None:
        self.path: list[str] = []
        self.parent: list[int] = []
        self.app: list[int] = []  # index into app paths, -1 for foreign
        self.own_bytes: list[int] = []  # blocks*512 of the directory and its direct files
        self.own_files: list[int] = []
        self.dir_uid: list[int] = []
        self.owners: list[dict[int, int] | None] = []  # uid -> bytes of direct files
        self.groups: list[list[int] | None] = []  # bytes of direct files per GROUPS entry

    def add(self, path: str, parent: int, app: int, dir_bytes: int, uid: int) -> int:
        self.path.append(path)
        self.parent.append(parent)
        self.app.append(app)
        self.own_bytes.append(dir_bytes)
        self.own_files.append(0)
        self.dir_uid.append(uid)
        self.owners.append(None)
        self.groups.append(None)
        return len(self.path) - 1

    def totals(self, weights: list[int]) -> list[int]:
        """Cumulative *weights* per directory over the descendants that are
        on the same side (the same app path, or foreign) as the directory."""
        tot = list(weights)
        for i in range(len(tot) - 1, 0, -1):
            p = self.parent[i]
            if self.app[i] == self.app[p]:
                tot[p] += tot[i]
        return tot


def scan(host: "Host", mountpoint: str, app_paths: list[str], budget_s: float,
         top: int = 10, names: dict[int, str] | None = None,
         mountpoints: "set[str] | frozenset[str]" = frozenset()) -> dict[str, Any]:
    """Walk the filesystem mounted at *mountpoint* for at most *budget_s*
    seconds; return JSON-serialisable facts (see the module docstring).

    *mountpoints* are the host's other mountpoints: a bind mount of a part of
    this same filesystem has the same ``st_dev``, so only its name tells that
    walking into it would count its files twice."""
    t0 = time.monotonic()
    stop_at = t0 + budget_s
    names = read_passwd(host) if names is None else names
    root_real = host.path(mountpoint)
    root_st = os.lstat(root_real)
    root_dev = root_st.st_dev
    root_real = root_real.rstrip("/")
    mp = mountpoint.rstrip("/") or "/"
    apps = [a.rstrip("/") or "/" for a in app_paths]
    app_index = {a: i for i, a in enumerate(apps)}
    # The mountpoint may itself lie inside an app path (app_paths = ["/srv"], mount /srv/rec).
    root_app = max((i for i, a in enumerate(apps) if _under(mp, a)),
                   key=lambda i: len(apps[i]), default=-1)

    tree = _Tree()
    tree.add(mp, -1, root_app, root_st.st_blocks * 512, root_st.st_uid)
    stack = [0]
    heap: list[tuple[int, int, str]] = []  # (bytes, dir index, name) of the largest files
    heap_min = 0
    seen_inodes: set[int] = set()  # hard-linked files are counted once, like du
    other_mounts: list[str] = []
    unreadable: list[str] = []
    unreadable_dirs: list[dict[str, Any]] = []  # the first few, with their owners: who could read them
    skipped = 0  # entries whose stat failed (vanished, name too long, I/O error)
    skipped_sample: list[str] = []
    stopped = False
    partial_dirs = 0  # directories whose entries were only partly read when the budget ran out
    ext_group: dict[str, int] = {}
    sep_root = "" if mp == "/" else mp

    while stack:
        if time.monotonic() > stop_at:
            stopped = True
            break
        idx = stack.pop()
        path = tree.path[idx]
        app = tree.app[idx]
        real = (root_real + path[len(sep_root):]) or "/"
        try:
            fd = os.open(real, _DIR_FLAGS)
        except OSError as exc:
            unreadable.append(f"{_show(path)}: {exc.strerror}")
            if len(unreadable_dirs) < 5:
                unreadable_dirs.append({"path": _show(path), "owner": _owner(tree.dir_uid[idx], names),
                                        "app": app >= 0, "error": exc.strerror or str(exc)})
            continue
        nbytes = nfiles = 0
        owners: dict[int, int] = {}
        groups = [0] * len(GROUPS)
        countdown = CLOCK_EVERY
        prefix = "/" + path.strip("/") + "/" if path != "/" else "/"
        try:
            with os.scandir(fd) as it:
                for entry in it:
                    countdown -= 1
                    if not countdown:
                        countdown = CLOCK_EVERY
                        if time.monotonic() > stop_at:
                            stopped = True
                            partial_dirs += 1
                            break
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError as exc:
                        skipped += 1
                        if len(skipped_sample) < 5:
                            skipped_sample.append(f"{_show(prefix + entry.name)}: {exc.strerror}")
                        continue
                    size = st.st_blocks * 512
                    if st.st_mode & _S_IFMT == _S_IFDIR:
                        child = prefix + entry.name
                        if st.st_dev != root_dev or child in mountpoints:
                            other_mounts.append(child)
                            continue
                        stack.append(tree.add(child, idx, app_index.get(child, app), size,
                                              st.st_uid))
                        continue
                    if st.st_nlink > 1:
                        if st.st_ino in seen_inodes:
                            continue
                        seen_inodes.add(st.st_ino)
                    nbytes += size
                    nfiles += 1
                    uid = st.st_uid
                    if uid in owners:
                        owners[uid] += size
                    else:
                        owners[uid] = size
                    name = entry.name
                    ext = name[name.rfind(".") + 1:] if "." in name else ""
                    g = ext_group.get(ext)
                    if g is None:
                        g = _GROUP_INDEX[group_of(ext)]
                        if len(ext_group) < _EXT_CACHE_MAX:
                            ext_group[ext] = g
                    groups[g] += size
                    if size > heap_min:
                        item = (size, idx, name, uid)
                        if len(heap) < top:
                            heapq.heappush(heap, item)
                        else:
                            heapq.heapreplace(heap, item)
                        if len(heap) >= top:
                            heap_min = heap[0][0]
        except OSError as exc:
            unreadable.append(f"{_show(path)}: {exc.strerror}")
        finally:
            os.close(fd)
        tree.own_bytes[idx] += nbytes
        tree.own_files[idx] += nfiles
        tree.owners[idx] = owners
        tree.groups[idx] = groups
        if stopped:
            break

    elapsed = time.monotonic() - t0
    return _summarise(tree, heap, apps, names, top, {
        "mountpoint": mp,
        # complete: every directory was read and every entry counted; a walk
        # that skipped anything is a lower bound and says so.
        "complete": not stopped and not unreadable and not skipped,
        "stopped_early": stopped,
        "budget_s": budget_s,
        "elapsed_s": round(elapsed, 3),
        "unscanned_dirs": len(stack),
        "partial_dirs": partial_dirs,
        "other_mounts": sorted(_show(p) for p in other_mounts),
        "unreadable": len(unreadable),
        "skipped_entries": skipped,
        "unreadable_sample": (unreadable + skipped_sample)[:5],
        "unreadable_dirs": unreadable_dirs,
    })


def _owner(uid: int, names: dict[int, str]) -> str:
    return names.get(uid, str(uid))


def _breakdown(members: list[int], tree: _Tree, names: dict[int, str]) -> tuple[list, dict]:
    owners: dict[int, int] = {}
    groups = dict.fromkeys(GROUPS, 0)
    for i in members:
        for uid, b in (tree.owners[i] or {}).items():
            owners[uid] = owners.get(uid, 0) + b
        for g, b in zip(GROUPS, tree.groups[i] or ()):
            groups[g] += b
    owner_list = [{"owner": _owner(u, names), "uid": u, "bytes": b}
                  for u, b in sorted(owners.items(), key=lambda kv: (-kv[1], kv[0])) if b]
    return owner_list, {g: b for g, b in groups.items() if b}


def _pick(tree: _Tree, tot: list[int], foreign: list[bool], cutoff: int) -> list[tuple[int, list[int]]]:
    """Directories worth naming: descend from the root into every foreign
    child holding at least *cutoff*; a directory is named when none of its
    children is that big, or for what its big children leave over. Returns
    (directory, big children excluded from it)."""
    children: dict[int, list[int]] = {}
    for i in range(1, len(tree.path)):
        if foreign[i] and foreign[tree.parent[i]] and tot[i] >= cutoff:
            children.setdefault(tree.parent[i], []).append(i)
    picked: list[tuple[int, list[int]]] = []
    # Foreign data never sits below an app path (app marks are inherited),
    # so a mountpoint inside an app path has nothing foreign to name.
    todo = [0] if foreign[0] else []
    while todo:
        d = todo.pop()
        big = children.get(d, [])
        rest = tot[d] - sum(tot[c] for c in big)
        if not big or rest >= cutoff:
            picked.append((d, big))
        todo.extend(big)
    return picked


def _summarise(tree: _Tree, heap: list, apps: list[str], names: dict[int, str], top: int,
               out: dict[str, Any]) -> dict[str, Any]:
    n = len(tree.path)
    foreign = [a < 0 for a in tree.app]
    app_bytes = sum(b for b, a in zip(tree.own_bytes, tree.app) if a >= 0)
    app_files = sum(f for f, a in zip(tree.own_files, tree.app) if a >= 0)
    all_bytes = sum(tree.own_bytes)
    all_files = sum(tree.own_files)
    out.update({
        "dirs": n, "files": all_files, "bytes": all_bytes,
        "app_bytes": app_bytes, "app_files": app_files,
        "foreign_bytes": all_bytes - app_bytes, "foreign_files": all_files - app_files,
    })

    # Each directory counts towards the nearest named directory above it.
    def named(picks: list[tuple[int, list[int]]], key: str) -> list[dict[str, Any]]:
        owner_of = [-1] * n
        chosen = {d for d, _ in picks}
        for i in range(n):
            if i in chosen:
                owner_of[i] = i
            elif i and foreign[i] and foreign[tree.parent[i]]:
                owner_of[i] = owner_of[tree.parent[i]]
        members: dict[int, list[int]] = {d: [] for d in chosen}
        for i, o in enumerate(owner_of):
            if o >= 0:
                members[o].append(i)
        rows = []
        for d, big in picks:
            owners, groups = _breakdown(members[d], tree, names)
            rows.append({
                "path": _show(tree.path[d]),
                "dir_owner": _owner(tree.dir_uid[d], names),
                "bytes": sum(tree.own_bytes[i] for i in members[d]),
                "files": sum(tree.own_files[i] for i in members[d]),
                "owners": owners[:5],
                "types": groups,
                "excluding": sorted(_show(tree.path[c]) for c in big),
            })
        rows.sort(key=lambda r: (-r[key], r["path"]))
        return rows[:top]

    fb = tree.totals(tree.own_bytes)
    ff = tree.totals(tree.own_files)
    foreign_bytes = all_bytes - app_bytes
    foreign_files = all_files - app_files
    # Name directories holding at least 2% of the foreign data each.
    out["top_dirs"] = named(_pick(tree, fb, foreign, max(1, foreign_bytes // 50)), "bytes")
    out["top_dirs_by_files"] = named(_pick(tree, ff, foreign, max(1, foreign_files // 50)), "files")

    app_rows = []
    for ai, a in enumerate(apps):
        members = [i for i in range(n) if tree.app[i] == ai]
        if not members:
            continue
        owners, groups = _breakdown(members, tree, names)
        app_rows.append({
            "path": a,
            "dir_owner": _owner(tree.dir_uid[members[0]], names),
            "bytes": sum(tree.own_bytes[i] for i in members),
            "files": sum(tree.own_files[i] for i in members),
            "owners": owners[:5], "types": groups,
        })
    out["app_paths"] = app_rows

    out["top_files"] = [{
        "path": _show(tree.path[d].rstrip("/") + "/" + name),
        "bytes": size,
        "owner": _owner(uid, names),
        "type": group_of(name.rpartition(".")[2]) if "." in name else "other",
        "app": tree.app[d] >= 0,
    } for size, d, name, uid in sorted(heap, key=lambda h: (-h[0], h[1], h[2]))]

    all_owners, all_groups = _breakdown(range(n), tree, names)  # type: ignore[arg-type]
    _, app_groups = _breakdown([i for i in range(n) if not foreign[i]], tree, names)
    out["owners"] = all_owners[:top]
    out["types"] = {"all": all_groups, "app": app_groups,
                    "foreign": {g: all_groups.get(g, 0) - app_groups.get(g, 0)
                                for g in all_groups if all_groups.get(g, 0) - app_groups.get(g, 0)}}
    return out
