"""The history database as a file: what can be told and done without
SQLite (a cheap look at the header, setting a damaged file aside)."""

from __future__ import annotations

import datetime as dt
import os

KEEP_DAMAGED = 3  # set-aside damaged databases kept for inspection


def header_suspect(path: str) -> bool:
    """A cheap look at the file header: not SQLite at all, or shorter than
    the page count its header claims (truncated). Only a hint: a suspect file
    is confirmed damaged by ``PRAGMA quick_check`` before it is set aside."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(100)
            size = os.fstat(fh.fileno()).st_size
    except OSError:
        return False
    if not head:
        return False  # empty: SQLite treats it as a new database
    if len(head) < 100 or not head.startswith(b"SQLite format 3\x00"):
        return True
    page = int.from_bytes(head[16:18], "big")
    page = 65536 if page == 1 else page
    pages = int.from_bytes(head[28:32], "big")
    valid = head[92:96] == head[24:28]
    return bool(valid and pages and pages * page > size)


def uri_path(path: str) -> str:
    from urllib.parse import quote

    return quote(os.path.abspath(path))


def set_aside(path: str) -> str:
    """Rename a damaged database (and its -wal/-shm) out of the way; keep
    the newest KEEP_DAMAGED of them. Returns the new name."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    aside = f"{path}.damaged-{stamp}"
    os.rename(path, aside)
    for suffix in ("-wal", "-shm"):
        try:
            os.rename(path + suffix, aside + suffix)
        except FileNotFoundError:
            pass
    directory, base = os.path.split(path)
    old = sorted(n for n in os.listdir(directory or ".")
                 if n.startswith(base + ".damaged-") and not n.endswith(("-wal", "-shm")))
    for name in old[:-KEEP_DAMAGED]:
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(os.path.join(directory, name + suffix))
            except FileNotFoundError:
                pass
    return aside
