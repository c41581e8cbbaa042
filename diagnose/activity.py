"""What a probe is doing right now, so that a probe that hangs can be named.

A probe stuck in a blocking call (a log on a hung NFS mount or a suspended
disk, a database that never answers) cannot be interrupted in Python; the
runner abandons it at its timeout. "timed out after 120 s" alone leaves the
reader guessing, so probes (and the host seam, for every file it reads)
say what they are doing::

    with doing(f"reading the log {path} of database {name}"):
        lines = host.tail(path)

and the runner's timeout error ends with "while reading the log ... of
database ...". The record is per thread and costs a dict operation.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

_NOW: dict[int, list[str]] = {}


@contextmanager
def doing(what: str) -> Iterator[None]:
    tid = threading.get_ident()
    stack = _NOW.setdefault(tid, [])
    stack.append(what)
    try:
        yield
    finally:
        stack.pop()
        if not stack:
            _NOW.pop(tid, None)


def of_thread(ident: int | None) -> str | None:
    """What the thread *ident* is doing (outermost first), or None."""
    stack = _NOW.get(ident) if ident is not None else None
    if not stack:
        return None
    # "reading /x" inside "reading the log /x of database cc" says nothing new
    parts = [s for i, s in enumerate(stack)
             if not any(s.split(" ")[-1] in outer for outer in stack[:i])]
    return ": ".join(parts)
