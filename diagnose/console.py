"""What the terminal can show: width, colour, and characters.

- Width: ``shutil.get_terminal_size`` (which honours ``COLUMNS``) on a
  terminal; ``COLUMNS`` or 80 elsewhere; kept between 40 and 100 columns so
  prose stays readable on a wide screen.
- Colour: ``--color always|never`` decides; ``auto`` follows the conventions
  (https://no-color.org, FORCE_COLOR): NO_COLOR set and not empty -> none,
  else FORCE_COLOR set and not "0" -> colour, else colour only on a terminal
  whose TERM is not "dumb".
- Characters: when the output encoding is not UTF-8 (LANG=C under an old
  libc, a KOI8-R terminal, PYTHONIOENCODING=ascii), marks fall back to ASCII
  and characters the encoding lacks are written as escapes instead of ending
  the run in UnicodeEncodeError.
"""

from __future__ import annotations

import os
import shutil
from typing import Any, Mapping, TextIO

MIN_WIDTH, MAX_WIDTH, DEFAULT_WIDTH = 40, 100, 80
COLOR_MODES = ("auto", "always", "never")


def width(stream: TextIO | None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    cols = 0
    if stream is not None and _isatty(stream):
        cols = shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
    elif str(env.get("COLUMNS", "")).isdigit():
        cols = int(env["COLUMNS"])
    cols = cols or DEFAULT_WIDTH
    return max(MIN_WIDTH, min(MAX_WIDTH, cols))


def colour(mode: str, stream: TextIO | None, env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    if mode == "always":
        return True
    if mode == "never" or stream is None:
        return False
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR") and env.get("FORCE_COLOR") != "0":
        return True
    return _isatty(stream) and env.get("TERM") != "dumb"


def unicode_ok(stream: TextIO | None) -> bool:
    encoding = (getattr(stream, "encoding", None) or "ascii").lower().replace("-", "")
    return encoding in ("utf8", "utf16", "utf32") or encoding.startswith("utf")


def make_safe(stream: Any) -> None:
    """Let *stream* write any character: what its encoding lacks becomes an
    escape (``\\u0421``) instead of an exception."""
    if not unicode_ok(stream) and hasattr(stream, "reconfigure"):
        try:
            stream.reconfigure(errors="backslashreplace")
        except (ValueError, OSError):  # detached or closed: nothing to fix
            pass


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False
