"""Showing strings that come from the system, safely.

A directory name, a mountpoint, a log line, a device name or a process
argument is chosen by whoever made it, not by us: any local user can name a
directory ``"x\\n[✓] disk.space  all fine"`` or ``"\\x1b]0;pwned\\x07\\x1b[2J"``.
Printed raw, such a string forges a line of a root-run report or hides the
rest of it on the reader's terminal. Every renderer shows system strings
through :func:`show` (text, nagios, the mail's text part) or
:func:`xml_text` (JUnit, HTML), so control characters appear escaped the way
Python writes them (``\\n``, ``\\x1b``), never raw.

What is escaped by :func:`show`:

- C0 controls U+0000-U+001F and DEL: ``\\n``, ``\\r``, ``\\t`` by name, the
  others as ``\\xNN``;
- C1 controls U+0080-U+009F (``\\x9b`` is a one-byte CSI on some terminals);
- line and paragraph separators U+2028/U+2029, the bidirectional overrides
  and isolates U+202A-U+202E, U+2066-U+2069 (they reorder what follows on
  screen) and the BOM U+FEFF, as ``\\uNNNN``;
- lone surrogates (a file name that was not UTF-8, decoded with
  ``surrogateescape``): ``\\udcNN`` stands for the byte ``NN`` and is shown
  as ``\\xNN``; other surrogates as ``\\uNNNN``. Printing them raw would
  raise UnicodeEncodeError.

Backslashes are left alone: a path with a literal backslash is readable as
is, and nothing a backslash does on a terminal hides text.
"""

from __future__ import annotations

import re
from typing import Any

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_FORMAT_CHARS = "\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f" + _FORMAT_CHARS + "\ud800-\udfff]")
_UNSAFE_KEEP_NL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f" + _FORMAT_CHARS + "\ud800-\udfff]")
# XML 1.0 section 2.2: Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _escape_char(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    n = ord(ch)
    if n < 0x100:
        return f"\\x{n:02x}"
    if 0xDC80 <= n <= 0xDCFF:  # surrogateescape: the undecodable byte n - 0xDC00
        return f"\\x{n - 0xDC00:02x}"
    return f"\\u{n:04x}"


def _sub(m: re.Match) -> str:
    return _escape_char(m.group())


def show(value: Any, keep_newlines: bool = False) -> str:
    """*value* as a string fit for a terminal, a mail or a log: control and
    format characters escaped (module docstring). With *keep_newlines*,
    ``\\n`` stays a line break (for multi-line texts written by diagnose
    itself, such as a traceback kept as evidence); ``\\r`` is still escaped,
    since it moves the cursor back over what was printed."""
    s = value if isinstance(value, str) else str(value)
    rx = _UNSAFE_KEEP_NL if keep_newlines else _UNSAFE
    if rx.search(s) is None:
        return s
    return rx.sub(_sub, s)


def show_obj(value: Any) -> Any:
    """A copy of a JSON-like *value* (dicts, lists, strings, numbers) with
    every string, keys included, passed through :func:`show`."""
    if isinstance(value, str):
        return show(value)
    if isinstance(value, dict):
        return {show(k) if isinstance(k, str) else k: show_obj(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [show_obj(v) for v in value]
    return value


def is_safe(s: str, keep_newlines: bool = False) -> bool:
    """True when :func:`show` would leave *s* unchanged."""
    return (_UNSAFE_KEEP_NL if keep_newlines else _UNSAFE).search(s) is None


def xml_text(value: Any, keep_newlines: bool = True) -> str:
    """*value* fit for XML character data or an attribute *before* markup
    escaping (``&``, ``<`` ... are the XML writer's job): characters XML 1.0
    cannot carry at all (most C0 controls, surrogates, U+FFFE/U+FFFF) and the
    ones a reader's terminal or browser would act on are escaped as
    :func:`show` does, so the document stays well-formed with any input."""
    s = show(value, keep_newlines=keep_newlines)
    # show() already removed every XML-invalid character; this is a guard
    # for the contract, cheap when nothing matches.
    return _XML_INVALID.sub(_sub, s)


def cut(s: str, limit: int, marker: str = "…") -> str:
    """*s* shortened to at most *limit* characters (marker included), for
    one-line summaries of system strings that may be arbitrarily long."""
    if len(s) <= limit:
        return s
    return s[:max(0, limit - len(marker))] + marker
