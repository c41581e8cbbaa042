"""Reading queue_log: only the window asked for, from the end, in bounded
memory, across rotated files.

Line format (Asterisk main/logger.c, ``ast_queue_log``)::

    time|callid|queuename|agent|event|data1|data2|...

``time`` is the Unix time the line was written; lines are appended in time
order. Rotated files sit beside the log: ``queue_log.1``, ``queue_log.2.gz``
(logrotate), ``queue_log.0`` .. ``queue_log.N`` (Asterisk's own rotation,
where the numbering runs either way), ``queue_log-20261121[.gz]``
(logrotate's dateext). Which is newer is decided by the first time stamp
inside, not by the name. Files are chosen newest first until one starts
before the window; a plain file is entered by binary search on the time
stamps, a gzip file is streamed and its lines before the window skipped.
Nothing holds more than one block of the file at a time.
"""

from __future__ import annotations

import gzip
import posixpath
import re
from typing import Any, Iterator

BLOCK = 1 << 20
_ROTATED = re.compile(r"^(?:\.(\d+)|-(\d{8}(?:\d{2})?)|\.(\d{9,}))?(\.gz)?$")


def _first_ts(data: bytes) -> int | None:
    for line in data.split(b"\n")[:-1] or []:
        head = line.split(b"|", 1)[0]
        if head.isdigit():
            return int(head)
    return None


def _last_ts(host: Any, path: str) -> int | None:
    try:
        st = host.stat(path)
    except OSError:
        return None
    with open(host.path(path), "rb") as fh:
        size = st.st_size
        back = 4096
        while True:
            fh.seek(max(0, size - back))
            data = fh.read(back)
            lines = data.split(b"\n")
            if size > back:
                lines = lines[1:]
            for line in reversed(lines):
                head = line.split(b"|", 1)[0]
                if head.isdigit() and line.count(b"|") >= 4:
                    return int(head)
            if back >= size or back >= 16 * BLOCK:
                return None
            back *= 4


def candidates(host: Any, path: str) -> list[dict[str, Any]]:
    """The log and its rotated files with the first time stamp in each,
    newest first."""
    folder, base = posixpath.split(path)
    try:
        names = host.listdir(folder)
    except OSError:
        names = []
    out = []
    for name in names:
        if not name.startswith(base):
            continue
        m = _ROTATED.match(name[len(base):])
        if not m:
            continue
        full = posixpath.join(folder, name)
        gz = bool(m.group(4))
        try:
            st = host.stat(full)
            if gz:
                with gzip.open(host.path(full), "rb") as fh:
                    head = fh.read(65536)
            else:
                head = host.read_bytes(full, 65536)
        except (OSError, EOFError) as exc:
            out.append({"path": full, "gz": gz, "first_ts": None, "size": 0,
                        "error": getattr(exc, "strerror", None) or str(exc)})
            continue
        out.append({"path": full, "gz": gz, "first_ts": _first_ts(head), "size": st.st_size,
                    "mtime": int(st.st_mtime), "error": None})
    # Newest first: by the first time stamp inside; the live file first on ties.
    out.sort(key=lambda c: (c["first_ts"] is not None, c["first_ts"] or 0, c["path"] == path),
             reverse=True)
    return out


def window_end(host: Any, files: list[dict[str, Any]]) -> int | None:
    """The last time stamp of the newest readable plain file (or gzip)."""
    for f in files:
        if f["error"] or f["first_ts"] is None:
            continue
        if f["gz"]:
            last = None
            with gzip.open(host.path(f["path"]), "rb") as fh:
                for line in fh:
                    head = line.split(b"|", 1)[0]
                    if head.isdigit():
                        last = int(head)
            return last
        return _last_ts(host, f["path"])
    return None


def choose(files: list[dict[str, Any]], start: int) -> list[dict[str, Any]]:
    """Files that hold the window, oldest first: newest first until one
    starts at or before *start*."""
    chosen = []
    for f in files:
        if f["error"] or f["first_ts"] is None:
            continue
        chosen.append(f)
        if f["first_ts"] <= start:
            break
    return list(reversed(chosen))


def _seek(fh: Any, size: int, start: int) -> int:
    """Offset of a line at or a little before the first line with time
    >= *start* (binary search on time stamps; lines are in time order, give
    or take the writers' races, so we step back one block for safety)."""
    lo, hi = 0, size
    while hi - lo > BLOCK:
        mid = (lo + hi) // 2
        fh.seek(mid)
        fh.readline()
        ts = None
        for _ in range(64):
            line = fh.readline()
            if not line:
                break
            head = line.split(b"|", 1)[0]
            if head.isdigit():
                ts = int(head)
                break
        if ts is None or ts >= start:
            hi = mid
        else:
            lo = mid
    return max(0, lo - BLOCK)


def lines(host: Any, f: dict[str, Any], start: int, stats: dict[str, Any]) -> Iterator[bytes]:
    """Complete lines of file *f* from about *start* on; a last line without
    its newline (being written, or cut by a crash) is counted, not yielded."""
    if f["gz"]:
        fh = gzip.open(host.path(f["path"]), "rb")
        offset = 0
    else:
        fh = open(host.path(f["path"]), "rb")
        offset = _seek(fh, f["size"], start)
        if offset:
            fh.seek(offset)
            fh.readline()
        else:
            fh.seek(0)
    rest = b""
    try:
        while True:
            block = fh.read(BLOCK)
            if not block:
                break
            block = rest + block
            cut = block.rfind(b"\n")
            if cut < 0:
                rest = block
                continue
            rest = block[cut + 1:]
            yield from block[:cut].split(b"\n")
    except (OSError, EOFError) as exc:
        stats["read_errors"].append(f"{f['path']}: {getattr(exc, 'strerror', None) or exc}")
    finally:
        fh.close()
    if rest.strip():
        stats["truncated"] += 1
        stats["truncated_in"].append(f["path"])
