"""Asterisk's configuration file format, read as Asterisk's config.c reads it.

- ``[name]`` opens a category; ``[name](!)`` is a template, ``[name](tpl,..)``
  inherits the templates' variables first, ``[name](+)`` appends to an
  existing category of that name.
- ``key = value`` and ``key => value`` (an "object") are the same to us; the
  value runs to the end of the line.
- ``;`` starts a comment unless escaped as ``\\;``; ``;--`` .. ``--;`` is a
  block comment.
- ``#include file`` / ``#tryinclude file`` (optionally quoted or in <>):
  a relative path is relative to the config directory (not to the including
  file), and a glob includes every match in sorted order. ``#exec`` runs a
  program in Asterisk; we never do, and record it.

Every variable keeps the file and line it came from, so a finding about a
configured value can name them (``evidence.file``/``evidence.key``).
Reads go through the host seam, so a recorded tree (``--root``) works.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

MAX_FILES = 200
MAX_DEPTH = 10
MAX_BYTES = 4 * 1024 * 1024

_DIRECTIVE = re.compile(r"^#\s*(include|tryinclude|exec)\s+(.*)$", re.I)
_CATEGORY = re.compile(r"^\[([^\]]*)\]\s*(?:\(([^)]*)\))?")


@dataclass
class Var:
    key: str
    value: str
    file: str
    line: int


@dataclass
class Category:
    name: str
    file: str
    line: int
    template: bool = False
    inherits: list[str] = field(default_factory=list)
    vars: list[Var] = field(default_factory=list)


@dataclass
class Parsed:
    """Categories in file order, and what was read (or not) to get them."""

    categories: list[Category] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)

    def named(self, name: str) -> list[Category]:
        return [c for c in self.categories if c.name == name]

    def effective(self, cat: Category) -> list[Var]:
        """The category's variables with its templates' first (config.c's
        ast_category_inherit copies the template variables before its own)."""
        out: list[Var] = []
        seen = {cat.name}
        for tname in cat.inherits:
            for tpl in self.named(tname):
                if tpl.name in seen and tpl is not cat:
                    continue
                out.extend(tpl.vars)
        seen.update(cat.inherits)
        out.extend(cat.vars)
        return out


def _strip_comment(line: str, state: dict[str, bool]) -> str:
    out = []
    i = 0
    while i < len(line):
        if state["block"]:
            end = line.find("--;", i)
            if end < 0:
                return "".join(out)
            state["block"] = False
            i = end + 3
            continue
        ch = line[i]
        if ch == "\\" and i + 1 < len(line) and line[i + 1] == ";":
            out.append(";")
            i += 2
            continue
        if ch == ";":
            if line.startswith(";--", i):
                state["block"] = True
                i += 3
                continue
            break
        out.append(ch)
        i += 1
    return "".join(out)


def _resolve(host: Any, target: str, config_dir: str) -> list[str]:
    target = target.strip().strip('"').strip("<>").strip()
    if not target:
        return []
    path = target if target.startswith("/") else posixpath.join(config_dir, target)
    if not any(c in path for c in "*?["):
        return [path]
    folder, pattern = posixpath.split(path)
    try:
        names = host.listdir(folder)
    except OSError:
        return []
    return [posixpath.join(folder, n) for n in sorted(names) if fnmatch.fnmatchcase(n, pattern)]


def load(host: Any, path: str, config_dir: str, parsed: Parsed | None = None) -> Parsed:
    """Parse *path* (a system path on *host*) with its includes."""
    parsed = parsed or Parsed()
    state = {"current": None}
    _load_file(host, path, config_dir, parsed, state, depth=0, optional=False, seen=set())
    return parsed


def _load_file(host: Any, path: str, config_dir: str, parsed: Parsed, state: dict, depth: int,
               optional: bool, seen: set[str]) -> None:
    entry: dict[str, Any] = {"path": path, "found": False, "error": None, "included": depth > 0}
    if len(parsed.files) >= MAX_FILES:
        return
    parsed.files.append(entry)
    if path in seen or depth > MAX_DEPTH:
        entry["error"] = "include loop" if path in seen else "includes nested too deep"
        return
    try:
        raw = host.read_bytes(path, MAX_BYTES + 1)
    except FileNotFoundError:
        entry["error"] = None if optional else "not found"
        return
    except OSError as exc:
        entry["error"] = exc.strerror or str(exc)
        return
    entry["found"] = True
    if len(raw) > MAX_BYTES:
        entry["error"] = f"larger than {MAX_BYTES} bytes; read the first {MAX_BYTES}"
        raw = raw[:MAX_BYTES]
    seen = seen | {path}
    comment = {"block": False}
    for n, rawline in enumerate(raw.decode("utf-8", "replace").splitlines(), 1):
        line = _strip_comment(rawline, comment).strip()
        if not line:
            continue
        m = _DIRECTIVE.match(line)
        if m:
            kind, arg = m.group(1).lower(), m.group(2)
            if kind == "exec":
                entry.setdefault("exec", []).append(arg.strip())
                continue
            targets = _resolve(host, arg, config_dir)
            if not targets and kind == "include":
                parsed.files.append({"path": arg.strip(), "found": False, "included": True,
                                     "error": "no file matches"})
            for t in targets:
                _load_file(host, t, config_dir, parsed, state, depth + 1,
                           optional=(kind == "tryinclude"), seen=seen)
            continue
        m = _CATEGORY.match(line)
        if m:
            name = m.group(1).strip()
            opts = [o.strip() for o in (m.group(2) or "").split(",") if o.strip()]
            if "+" in opts:
                existing = parsed.named(name)
                if existing:
                    state["current"] = existing[-1]
                    continue
            cat = Category(name, path, n, template="!" in opts,
                           inherits=[o for o in opts if o not in ("!", "+")])
            parsed.categories.append(cat)
            state["current"] = cat
            continue
        if "=" in line and state["current"] is not None:
            key, _, value = line.partition("=")
            if value.startswith(">"):
                value = value[1:]
            state["current"].vars.append(Var(key.strip(), value.strip(), path, n))
