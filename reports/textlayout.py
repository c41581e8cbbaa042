"""Line layout for the text report: prose wrapped at the terminal width
without cutting a word, commands folded only between shell words (with a
``\\`` continuation, so a copied command still runs), evidence as readable
``key: value`` lines."""

from __future__ import annotations

import textwrap
from typing import Any

from diagnose.safetext import show


def wrap(text: str, width: int, first: str = "", rest: str | None = None) -> list[str]:
    """*text* wrapped to *width* columns with *first* before the first line
    and *rest* (default: spaces as wide as *first*) before the others. Words
    longer than a line (paths, URLs) stay whole on a line of their own."""
    rest = " " * len(first) if rest is None else rest
    if not text.strip():
        return [first.rstrip()] if first.strip() else []
    lines = textwrap.wrap(text, width=max(20, width), initial_indent=first, subsequent_indent=rest,
                          break_long_words=False, break_on_hyphens=False)
    return lines or [first.rstrip()]


def shell_words(command: str) -> list[str]:
    """*command* split at spaces outside quotes, quotes kept as written."""
    words, cur, quote, i = [], "", None, 0
    while i < len(command):
        c = command[i]
        if quote:
            cur += c
            if c == quote:
                quote = None
            elif c == "\\" and quote == '"' and i + 1 < len(command):
                cur += command[i + 1]
                i += 1
        elif c in "'\"":
            quote = c
            cur += c
        elif c == "\\" and i + 1 < len(command):
            cur += c + command[i + 1]
            i += 1
        elif c == " ":
            if cur:
                words.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    if cur:
        words.append(cur)
    return words


def command_lines(command: str, width: int, indent: str, more: str = "    ") -> list[str]:
    """A command laid out to *width*: whole when it fits, else folded
    between shell words with `` \\`` at the end of every continued line.
    A word longer than the line stays whole."""
    if len(indent) + len(command) <= width:
        return [indent + command]
    words = shell_words(command)
    lines, cur = [], indent
    for w in words:
        pad = "" if cur.strip() == "" else " "
        if cur.strip() and len(cur) + len(pad) + len(w) + 2 > width:
            lines.append(cur + " \\")
            cur = indent + more + w
        else:
            cur = cur + pad + w
    lines.append(cur)
    return lines


def human_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1024 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _is_size(key: str) -> bool:
    k = key.lower()
    return k == "bytes" or k.endswith("_bytes") or k in ("size", "free", "used", "avail")


def _scalar(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and _is_size(key) and abs(value) >= 1024:
        return f"{human_size(value)} ({value} bytes)"
    if isinstance(value, float):
        return f"{value:g}"
    return show(value)


def evidence_lines(evidence: Any, width: int, indent: str, key: str = "") -> list[str]:
    """Evidence as ``key: value`` lines: nested tables indented, lists one
    item per line, sizes human-readable, long values folded at words."""
    out: list[str] = []
    if isinstance(evidence, dict):
        for k, v in evidence.items():
            ks = show(str(k))
            if isinstance(v, (dict, list, tuple)) and v:
                out.append(f"{indent}{ks}:")
                out += evidence_lines(v, width, indent + "  ", ks)
            elif isinstance(v, (dict, list, tuple)):
                out.append(f"{indent}{ks}: -")
            else:
                out += wrap(_scalar(ks, v), width, f"{indent}{ks}: ", indent + "    ")
        return out
    if isinstance(evidence, (list, tuple)):
        for item in evidence:
            if isinstance(item, dict) and item:
                inner = evidence_lines(item, width, indent + "  ", key)
                inner[0] = indent + "- " + inner[0][len(indent) + 2:]
                out += inner
            elif isinstance(item, (list, tuple)) and item:
                inner = evidence_lines(item, width, indent + "  ", key)
                inner[0] = indent + "- " + inner[0][len(indent) + 2:]
                out += inner
            else:
                out += wrap(_scalar(key, item), width, indent + "- ", indent + "  ")
        return out
    return wrap(_scalar(key, evidence), width, indent)
