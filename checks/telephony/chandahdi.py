"""chan_dahdi.conf as Asterisk reads it: which values each DAHDI channel gets
and from which file and line.

Asterisk's config reader (main/config.c): ``;`` starts a comment (``\\;`` is
a literal semicolon, ``;-- ... --;`` a block comment); ``#include FILE`` and
``#tryinclude FILE`` insert another file in place (a relative name is taken
from the configuration directory, globs allowed, ``"..."`` or ``<...>``
quoting); ``[name]`` starts a category, ``[name](!)`` a template and
``[name](tmpl,...)`` one that inherits a template's variables; ``key = value``
and ``key => value`` are variables.

chan_dahdi (channels/chan_dahdi.c, ``process_dahdi()``) walks the
``[channels]`` category top to bottom: every option changes the current
settings, and a ``channel => LIST`` line creates those channels with the
settings in force at that line. Options stay in force for the ``channel``
lines that follow until changed again; this is how FreePBX's
``chan_dahdi_additional.conf`` and dahdi_genconf's ``dahdi-channels.conf``
(both included from [channels]) set values per channel group. Every other
category with a ``dahdichan = LIST`` starts from the settings at the end of
[channels], applies its own options and creates its channels at its end.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from typing import Any, Callable

from diagnose.checks.telephony.dahdicfg import parse_chanlist

# The per-channel options this check judges or reports.
KEYS = ("signalling", "context", "group", "rxgain", "txgain", "hwrxgain", "hwtxgain",
        "echocancel", "echocancelwhenbridged", "echotraining", "busydetect", "busycount")
ALIASES = {"signaling": "signalling"}
NOT_CHANNEL_CATEGORIES = {"general", "trunkgroups", "globals", "channels"}
MAX_DEPTH = 10

Reader = Callable[[str], "str | None"]
Lister = Callable[[str], "list[str]"]


def _strip_comment(line: str, in_block: int) -> tuple[str, int]:
    """Remove comments, tracking ;-- --; block comments across lines."""
    out, i = [], 0
    while i < len(line):
        if in_block:
            if line.startswith("--;", i):
                in_block -= 1
                i += 3
            elif line.startswith(";--", i):
                in_block += 1
                i += 3
            else:
                i += 1
            continue
        c = line[i]
        if c == "\\" and i + 1 < len(line) and line[i + 1] == ";":
            out.append(";")
            i += 2
        elif line.startswith(";--", i):
            in_block += 1
            i += 3
        elif c == ";":
            break
        else:
            out.append(c)
            i += 1
    return "".join(out), in_block


def _expand(name: str, conf_dir: str, lister: Lister | None) -> list[str]:
    name = name.strip().strip('"').strip("<>").strip()
    path = name if name.startswith("/") else posixpath.join(conf_dir, name)
    if not any(ch in path for ch in "*?["):
        return [path]
    folder, pattern = posixpath.split(path)
    if lister is None:
        return []
    try:
        return [posixpath.join(folder, n) for n in sorted(lister(folder)) if fnmatch.fnmatch(n, pattern)]
    except OSError:
        return []


def read_lines(path: str, read: Reader, lister: Lister | None = None) -> dict[str, Any]:
    """The file with its includes inlined: ``items`` in reading order, each
    ``{"kind": "category"|"var", "file", "line", "text", ...}``."""
    conf_dir = posixpath.dirname(path)
    items: list[dict[str, Any]] = []
    files: list[str] = []
    errors: list[str] = []

    def walk(file: str, depth: int, stack: tuple[str, ...], optional: bool) -> None:
        if file in stack or depth > MAX_DEPTH:
            errors.append(f"{file}: include loop or nesting deeper than {MAX_DEPTH}; not read again")
            return
        text = read(file)
        if text is None:
            if not optional:
                errors.append(f"{file}: included but not found" if stack else f"{file}: not found")
            return
        files.append(file)
        in_block = 0
        for n, raw in enumerate(text.splitlines(), 1):
            line, in_block = _strip_comment(raw, in_block)
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                m = re.match(r"#\s*(include|tryinclude|exec|tryexec)\s+(.+)$", line, re.I)
                if not m:
                    continue
                if m[1].lower() in ("exec", "tryexec"):
                    errors.append(f"{file}:{n}: #{m[1]} {m[2]} not followed (its output is unknown here)")
                    continue
                targets = _expand(m[2], conf_dir, lister)
                if not targets and m[1].lower() == "include":
                    errors.append(f"{file}:{n}: #include {m[2]} matches no file")
                for target in targets:
                    walk(target, depth + 1, stack + (file,), m[1].lower() == "tryinclude")
                continue
            if line.startswith("["):
                m = re.match(r"\[([^\]]*)\]\s*(?:\(([^)]*)\))?", line)
                if m:
                    opts = [o.strip() for o in (m[2] or "").split(",") if o.strip()]
                    items.append({"kind": "category", "name": m[1].strip(), "options": opts,
                                  "file": file, "line": n, "text": raw.strip()})
                continue
            m = re.match(r"([^=]+?)\s*=>?\s*(.*)$", line)
            if m:
                items.append({"kind": "var", "key": m[1].strip().lower(), "value": m[2].strip(),
                              "file": file, "line": n, "text": raw.strip()})
    walk(path, 0, (), False)
    return {"items": items, "files": files, "errors": errors}


def _categories(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cats: list[dict[str, Any]] = []
    for it in items:
        if it["kind"] == "category":
            cats.append({"name": it["name"], "options": it["options"], "vars": [],
                         "file": it["file"], "line": it["line"]})
        elif cats:
            cats[-1]["vars"].append(it)
    return cats


def _value(it: dict[str, Any], section: str) -> dict[str, Any]:
    return {"value": it["value"], "file": it["file"], "line": it["line"], "text": it["text"],
            "section": section}


def parse_chan_dahdi(path: str, read: Reader, lister: Lister | None = None) -> dict[str, Any]:
    """Every channel chan_dahdi would create, with the options in force for
    it (only :data:`KEYS`), each with the file and line that set it."""
    got = read_lines(path, read, lister)
    cats = _categories(got["items"])
    templates = {c["name"]: c for c in cats if "!" in c["options"]}
    for c in cats:  # a category naming templates starts with their variables
        inherited = [v for t in c["options"] if t in templates for v in templates[t]["vars"]]
        c["vars"] = inherited + c["vars"]
    channels: dict[int, dict[str, Any]] = {}
    errors = list(got["errors"])

    def create(numbers: list[int], state: dict[str, Any], at: dict[str, Any], section: str) -> None:
        for ch in numbers:
            if ch in channels:
                errors.append(f"{at['file']}:{at['line']}: channel {ch} defined again "
                              f"(first at {channels[ch]['file']}:{channels[ch]['line']}); the later one counts")
            channels[ch] = {"channel": ch, "section": section, "file": at["file"], "line": at["line"],
                            "values": dict(state)}

    state: dict[str, Any] = {}
    for c in cats:
        if c["name"].lower() != "channels" or "!" in c["options"]:
            continue
        deferred = None
        for v in c["vars"]:
            key = ALIASES.get(v["key"], v["key"])
            if key in ("channel", "channels"):
                create(parse_chanlist(v["value"]), state, v, c["name"])
            elif key == "dahdichan":
                deferred = v
            elif key in KEYS:
                state[key] = _value(v, c["name"])
        if deferred is not None:
            create(parse_chanlist(deferred["value"]), state, deferred, c["name"])
    base = dict(state)
    for c in cats:
        if c["name"].lower() in NOT_CHANNEL_CATEGORIES or "!" in c["options"]:
            continue
        dahdichan = [v for v in c["vars"] if v["key"] == "dahdichan"]
        if not dahdichan:
            continue
        state = dict(base)
        for v in c["vars"]:
            key = ALIASES.get(v["key"], v["key"])
            if key in KEYS:
                state[key] = _value(v, c["name"])
        create(parse_chanlist(dahdichan[-1]["value"]), state, dahdichan[-1], c["name"])
    return {"path": path, "conf_dir": posixpath.dirname(path), "files": got["files"],
            "errors": errors, "channels": [channels[c] for c in sorted(channels)]}


def host_reader(host: Any) -> tuple[Reader, Lister]:
    """read/list functions over the host seam for :func:`parse_chan_dahdi`."""
    def read(p: str) -> str | None:
        try:
            return host.read_text(p, max_bytes=4 * 1024 * 1024)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as exc:
            raise OSError(f"{p}: {exc.strerror or exc}") from exc

    def lister(folder: str) -> list[str]:
        return host.listdir(folder)
    return read, lister
