"""Reading a facts file (``--from-facts``): untrusted input, checked against
the ``diagnose.facts/1`` schema before anything uses it.

A facts file travels: collected on site, mailed, edited, truncated, judged
at the office. Whatever is in it, reading it either gives a
:class:`~diagnose.runner.Collection` the judges can take, or a
:class:`FactsError` that says where in the file the problem is
(``checks["disk.space"].duration_s: must be a number, not "fast"``): never
a traceback.

The schema (what :meth:`Collection.to_dict` writes)::

    {"schema": "diagnose.facts/1",            required
     "tool": {"name": str, "version": str},   optional
     "host": str, "started": str,             required
     "site": str, "role": str,                optional
     "duration_s": number >= 0,               optional
     "config_digest": str,                    optional
     "config": {section: {key: value}},       optional, validated as a config
     "checks": {name: {"state": "ran" | "skipped" | "error",
                       "facts": object (ran) | null,
                       "error": str | null, "skipped": str | null,
                       "duration_s": number >= 0}},
     "history": object | null}                optional: what the run history knew
                                              (diagnose.state.history.History.context)

Anywhere in the file: no ``NaN``/``Infinity`` (not JSON), no lone
surrogate escapes (``"\\ud800"`` decodes to a string no output can carry),
nesting at most 64 levels.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from diagnose.confvalues import short
from diagnose.i18n import N_, _

SCHEMA = "diagnose.facts/1"
MAX_BYTES = 512 * 1024 * 1024
MAX_DEPTH = 64
STATES = ("ran", "skipped", "error")


# What the json module says of bad JSON (json/decoder.py), for the catalogs.
JSON_ERRORS = (N_("Expecting value"), N_("Expecting property name enclosed in double quotes"),
               N_("Expecting ',' delimiter"), N_("Expecting ':' delimiter"), N_("Extra data"),
               N_("Unterminated string starting at"), N_("Invalid control character at"), N_("Invalid \\escape"),
               N_("Invalid \\uXXXX escape"))


class FactsError(ValueError):
    """A facts file that cannot be used; the message says where and why."""


def _where(path: list[Any]) -> str:
    if len(path) > 10:
        path = path[:6] + ["…"] + path[-2:]
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if p.isidentifier() else f"[{json.dumps(p)}]")
    return out.lstrip(".") or "the top level"


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true/false"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "a list"
    return "an object"


def _no_constants(name: str) -> Any:
    raise FactsError(f"{name} is not JSON (a number must be finite)")


def _walk(value: Any, path: list[Any], depth: int = 0) -> None:
    """Every string valid Unicode, every number finite, nesting bounded."""
    if depth > MAX_DEPTH:
        raise FactsError(f"{_where(path)}: nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, str):
        _string(value, path)
    elif isinstance(value, float) and not math.isfinite(value):
        raise FactsError(f"{_where(path)}: not a finite number")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _walk(v, path + [i], depth + 1)
    elif isinstance(value, dict):
        for k, v in value.items():
            _string(k, path + [k])
            _walk(v, path + [k], depth + 1)


def _string(s: str, path: list[Any]) -> None:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise FactsError(f"{_where(path)}: holds a lone surrogate (\\u{ord(s[exc.start]):04x}), "
                         "which is not a character; the file was damaged or forged") from None


def _need(d: dict[str, Any], key: str, types: tuple[type, ...], path: list[Any],
          required: bool = False, what: str = "") -> Any:
    if key not in d:
        if required:
            raise FactsError(f"{_where(path + [key])}: missing")
        return None
    v = d[key]
    ok = isinstance(v, types) and not (isinstance(v, bool) and bool not in types)
    if not ok:
        raise FactsError(f"{_where(path + [key])}: must be {what}, not {_kind(v)} {short(v)}")
    if isinstance(v, (int, float)) and not isinstance(v, bool) and (not math.isfinite(v) or v < 0):
        raise FactsError(f"{_where(path + [key])}: must be a number of seconds, 0 or more, not {short(v)}")
    return v


def _header_fields(d: dict[str, Any]) -> None:
    """The fields every report's first line shows: a name, a role, a time,
    not text that could forge lines of the report."""
    import datetime as dt

    from diagnose.confvalues import _string_problem

    for k in ("host", "site"):
        why = _string_problem(d.get(k) or "")
        if why or len(d.get(k) or "") > 255:
            raise FactsError(f"{k}: {why or 'longer than 255 characters'} ({short(d.get(k))})")
    if (d.get("role") or "") not in ("", "server", "workstation", "both"):
        raise FactsError(f"role: must be server, workstation or both, not {short(d.get('role'))}")
    try:
        dt.datetime.fromisoformat(d["started"])
    except ValueError:
        raise FactsError(f"started: not an ISO 8601 time ({short(d['started'])})") from None


def validate(d: Any) -> None:
    """Raise :class:`FactsError` unless *d* follows the schema above."""
    if not isinstance(d, dict):
        raise FactsError(f"the file holds {_kind(d)}, not a facts object (expected {{\"schema\": "
                         f"\"{SCHEMA}\", ...}})")
    if d.get("schema") != SCHEMA:
        raise FactsError(_("not a diagnose facts file (schema {schema}, expected \"{expected}\")",
                         schema=short(d.get("schema")), expected=SCHEMA))
    _walk(d, [])
    tool = _need(d, "tool", (dict, type(None)), [], what="an object")
    if tool:
        for k in ("name", "version"):
            _need(tool, k, (str,), ["tool"], what="a string")
    _need(d, "host", (str,), [], required=True, what="a string (the host name)")
    _need(d, "started", (str,), [], required=True, what="a string (ISO 8601 time)")
    for k in ("site", "role", "config_digest"):
        _need(d, k, (str, type(None)), [], what="a string")
    _header_fields(d)
    _need(d, "duration_s", (int, float), [], what="a number of seconds")
    config = _need(d, "config", (dict, type(None)), [], what="an object of config sections")
    for name, section in (config or {}).items():
        if not isinstance(section, dict):
            raise FactsError(f"{_where(['config', name])}: must be an object of keys, not {_kind(section)}")
    _need(d, "history", (dict, type(None)), [], what="an object (what the run history knew)")
    checks = _need(d, "checks", (dict,), [], required=True, what="an object of check results by name")
    for name, c in checks.items():
        p = ["checks", name]
        if not isinstance(c, dict):
            raise FactsError(f"{_where(p)}: must be an object with state and facts, not {_kind(c)} {short(c)}")
        state = _need(c, "state", (str,), p, required=True, what="a string")
        if state not in STATES:
            raise FactsError(f"{_where(p + ['state'])}: must be one of {', '.join(STATES)}, not {short(state)}")
        facts = _need(c, "facts", (dict, type(None)), p, what="an object")
        if state == "ran" and facts is None:
            raise FactsError(f"{_where(p)}: state is ran but there are no facts")
        for k in ("error", "skipped"):
            _need(c, k, (str, type(None)), p, what="a string or null")
        _need(c, "duration_s", (int, float), p, what="a number of seconds")


def parse(data: bytes, origin: str = "facts file") -> Any:
    """Decode and parse a facts file's bytes, strictly."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FactsError(_("not UTF-8 at byte {n}", n=exc.start)) from None
    try:
        return json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        raise FactsError(_("nested too deeply to read")) from None
    except json.JSONDecodeError as exc:
        raise FactsError(_("not JSON: {error} at line {line}, column {column}", error=_(exc.msg), line=exc.lineno,
                           column=exc.colno)) from None


def read(path: str) -> Any:
    """The parsed, validated content of the facts file at *path* ("-" is
    standard input)."""
    import sys

    import stat

    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_BYTES + 1)
        else:
            # O_NONBLOCK: a FIFO named as the facts file must not hang the open.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as fh:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise FactsError(_("not a regular file"))
                os.set_blocking(fd, True)
                data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise FactsError(_("cannot read it: {error}", error=exc.strerror or str(exc))) from None
    if len(data) > MAX_BYTES:
        raise FactsError(_("larger than {n} MB; not a facts file", n=MAX_BYTES // (1024 * 1024)))
    d = parse(data)
    validate(d)
    return d
