"""Which files on a disk are the call-center application's own, beyond
``[disk] app_paths``: what the rest of the site config already says.

A disk filled by the configured service's own log, its ``data_paths``, or a
configured SQLite database is the application's data even when nobody listed
it in ``[disk] app_paths``: calling it "foreign, ask the owner" sends the
customer after a file the vendor's software wrote. The same holds for files a
configured service's running process holds open.

``owned_paths`` is probe side (it reads /proc through the host);
``claim`` moves the bytes of owned *files* found on the foreign side of a
finished walk over to the application's side (directories are handed to the
walk itself as app paths).
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

# A process may hold thousands of files open; the ones worth naming are few.
MAX_OPEN_PER_SERVICE = 200


def _service_name(item: dict[str, Any]) -> str:
    return item.get("name") or item.get("unit") or item.get("process") or "service"


def _sqlite_path(url: str) -> str | None:
    if not url.lower().startswith("sqlite:"):
        return None
    path = urllib.parse.unquote(urllib.parse.urlsplit(url).path)
    return path if path.startswith("/") else None


def _open_files(host: Any, want: str) -> list[str]:
    """Regular files the processes of program *want* hold open (/proc/PID/fd)."""
    from diagnose.checks.services.procfs import list_processes, matches_process

    out: list[str] = []
    for proc in list_processes(host):
        if not matches_process(proc, want):
            continue
        fd_dir = f"/proc/{proc['pid']}/fd"
        try:
            fds = host.listdir(fd_dir)
        except OSError:  # exited, or not ours to read without root
            continue
        for fd in fds:
            try:
                target = host.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            # Sockets, pipes and anon inodes read "socket:[…]"; a deleted file
            # ends in " (deleted)" and holds space no walk can find.
            if target.startswith("/") and not target.startswith(("/dev/", "/proc/", "/sys/")):
                out.append(target)
            if len(out) >= MAX_OPEN_PER_SERVICE:
                return out
    return out


def owned_paths(host: Any, borrowed: dict[str, Any]) -> list[dict[str, Any]]:
    """Every path the configured services and databases own: ``{path, kind,
    owner, dir}`` with kind log | data | database | open, *dir* true for a
    directory (handed to the walk) and false for a single file."""
    seen: set[str] = set()
    out: list[dict[str, Any]] = []

    def add(path: str, kind: str, owner: str) -> None:
        path = os.path.normpath(path)
        if not path.startswith("/") or path in seen:
            return
        seen.add(path)
        is_dir = host.is_dir(path)
        if not is_dir and not host.exists(path):
            return
        out.append({"path": path, "kind": kind, "owner": owner, "dir": is_dir})

    for item in (borrowed.get("service") or {}).get("items", []):
        name = f"service {_service_name(item)}"
        if item.get("log"):
            add(item["log"], "log", name)
        for d in item.get("data_paths") or []:
            add(d, "data", name)
        if item.get("process"):
            for f in _open_files(host, item["process"]):
                add(f, "open", name)
    for item in (borrowed.get("database") or {}).get("items", []):
        url = item.get("url") or ""
        path = _sqlite_path(url)
        name = f"database {item.get('name') or path or url.split('://')[0]}"
        if path:
            for suffix in ("", "-wal", "-journal", "-shm"):
                add(path + suffix, "database", name)
            continue
        # Here, not at the top: a run of disk.space alone imports no other check.
        from diagnose.checks.database.datadir import engine_of, server_files

        if engine_of(url) not in ("postgresql", "mysql"):
            continue
        # A database server on this host: its data directory (and a
        # database folder linked to another disk) is the application's.
        found = server_files(host, engine_of(url), url, item.get("server_config") or "")
        for d in (found.get("data_directory"), found.get("database_dir")):
            if d:
                add(host.realpath(d) if host.exists(d) else d, "database", name)
    return out


def _under(path: str, top: str) -> bool:
    return top == "/" or path == top or path.startswith(top.rstrip("/") + "/")


def claim(host: Any, scan: dict[str, Any], files: list[dict[str, Any]]) -> None:
    """Move owned *files* counted as foreign by the walk to the application's
    side: totals, the foreign top directories holding them, and one
    ``app_paths`` row each (with what it is and whose)."""
    apps = [r["path"] for r in scan.get("app_paths", [])]
    for f in files:
        if any(_under(f["path"], a) for a in apps):
            continue  # already inside an app path: counted on that side
        try:
            st = host.lstat(f["path"])
        except OSError:
            continue
        size = st.st_blocks * 512
        scan["app_bytes"] += size
        scan["app_files"] += 1
        scan["foreign_bytes"] = max(0, scan["foreign_bytes"] - size)
        scan["foreign_files"] = max(0, scan["foreign_files"] - 1)
        for key in ("top_dirs", "top_dirs_by_files"):
            for row in scan.get(key, []):
                if _under(f["path"], row["path"]):
                    row["bytes"] = max(0, row["bytes"] - size)
                    row["files"] = max(0, row["files"] - 1)
        scan.setdefault("app_paths", []).append(
            {"path": f["path"], "bytes": size, "files": 1, "kind": f["kind"], "owner": f["owner"]})
    for key, unit in (("top_dirs", "bytes"), ("top_dirs_by_files", "files")):
        if key in scan:
            scan[key] = sorted((r for r in scan[key] if r[unit] > 0), key=lambda r: -r[unit])
