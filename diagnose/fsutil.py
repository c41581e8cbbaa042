"""Small file helpers shared by the CLI, the facts file and the mail spool."""

from __future__ import annotations

import os
import tempfile


def atomic_write(path: str, text: str, mode: int = 0o644) -> None:
    """Write *text* to *path* so readers see the old file or the new one,
    never half of it: a temporary file in the same directory (rename is
    atomic only within one filesystem), fsync, then rename over."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
