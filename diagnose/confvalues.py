"""Value rules for configuration keys: what a number, a string or a list may
hold, beyond its type.

A key's own bounds (``Key(low=..., high=...)``) win. Keys without them get
bounds from their name, so that a check added later is covered without
remembering to write them:

- timeouts, deadlines and budgets (``timeout``, ``deadline``, ``budget`` in
  the name) are more than 0 and at most a week; other durations (``_s``,
  ``_ms``, ``_h``, ``_days``) are 0 or more, with a ceiling per unit;
- ports (``port`` in the name, and the items of ``ports``) are 1-65535;
- percentages (``percent``) are 0-100;
- every other number is 0 or more, unless its name says it may be negative
  (``dbm``, ``_db``, ``gain``, ``offset``, ``rssi``);
- every number is finite (TOML has ``nan`` and ``inf``) and no integer is
  beyond 10**12 (TOML integers are unbounded in Python, and a 20-digit
  port or a billion days overflows a C long or a timedelta later);
- strings hold at most 4096 characters (PATH_MAX), no NUL and no control
  characters other than tab (a newline in a site name would forge a report
  line; a NUL in a path makes every file call raise);
- lists hold at most 1000 items, tables (``dict`` keys) at most 1000 keys.

:func:`problem` returns the message for a bad value or None.
"""

from __future__ import annotations

import json
import math
from typing import Any

from diagnose.i18n import _

MAX_STR = 4096
MAX_ITEMS = 1000
MAX_INT = 10 ** 12
WEEK_S = 7 * 24 * 3600
_SIGNED = ("dbm", "_db", "gain", "offset", "rssi")


def bounds(name: str, low: float | None = None, high: float | None = None,
           low_open: bool = False) -> tuple[float | None, float | None, bool]:
    """(low, high, low_open) for key *name*: explicit values first, then the
    name rules of the module docstring. ``low_open`` means low itself is not
    allowed (timeouts: more than 0)."""
    if low is not None or high is not None:
        return low, high, low_open
    n = name.lower()
    if any(w in n for w in ("timeout", "deadline", "budget")):
        return 0.0, float(WEEK_S), True
    if "port" in n:
        return 1, 65535, False
    if "percent" in n:
        return 0, 100, False
    if n.endswith("_ms"):
        return 0, 3600 * 1000, False
    if n.endswith("_s") or n.endswith("_seconds"):
        return 0, WEEK_S, False
    if n.endswith("_h") or n.endswith("_hours"):
        return 0, 24 * 3660, False
    if n.endswith("days"):
        return 0, 36500, False
    if any(w in n for w in _SIGNED):
        return -MAX_INT, MAX_INT, False
    return 0, MAX_INT, False


def short(value: Any, limit: int = 60) -> str:
    """*value* as TOML-ish text for an error message, never long, never
    deep: a 1 MB string or a list nested 500 deep stays one short line."""
    def inner(v: Any, depth: int) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v[:limit], ensure_ascii=True) + ("…" if len(v) > limit else "")
        if isinstance(v, float) and not math.isfinite(v):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        if isinstance(v, int) and abs(v) > MAX_INT:
            return f"{str(v)[:12]}… ({len(str(abs(v)))} digits)"
        if isinstance(v, (list, tuple)):
            if depth > 2:
                return "[…]"
            return "[" + ", ".join(inner(x, depth + 1) for x in v[:4]) + (", …" if len(v) > 4 else "") + "]"
        if isinstance(v, dict):
            if depth > 2:
                return "{…}"
            items = list(v.items())[:4]
            return "{" + ", ".join(f"{k} = {inner(x, depth + 1)}" for k, x in items) + \
                (", …" if len(v) > 4 else "") + "}"
        return str(v)
    text = inner(value, 0)
    return text if len(text) <= limit + 20 else text[:limit + 19] + "…"


def _n(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def _number_problem(v: Any, name: str, low: float | None, high: float | None, low_open: bool) -> str | None:
    if isinstance(v, float) and not math.isfinite(v):
        return _("must be a finite number")
    if isinstance(v, int) and abs(v) > MAX_INT and (high is None or high <= MAX_INT):
        return _("is far too large ({n} digits)", n=len(str(abs(v))))
    if low is not None and (v < low or (low_open and v == low)):
        if low_open:
            return _("must be more than {low}", low=_n(low))
        return _("must be {low} or more", low=_n(low)) if high is None or high >= MAX_INT else \
            _("must be between {low} and {high}", low=_n(low), high=_n(high))
    if high is not None and v > high:
        return _("must be between {low} and {high}", low=_n(low), high=_n(high)) \
            if low is not None and low > -MAX_INT else _("must be {high} or less", high=_n(high))
    return None


def _string_problem(s: str) -> str | None:
    if len(s) > MAX_STR:
        return _("is {n} characters long; at most {max} are allowed", n=len(s), max=MAX_STR)
    for ch in s:
        if ch == "\t":
            continue
        if ord(ch) < 0x20 or ord(ch) == 0x7f:
            return _("contains the control character \\x{code:02x}; write it without", code=ord(ch))
        if 0xD800 <= ord(ch) <= 0xDFFF:
            return _("contains an invalid character (a lone surrogate)")
    return None


def problem(name: str, value: Any, key: Any) -> str | None:
    """Why *value* is not acceptable for *key* (a :class:`diagnose.schema.Key`)
    named *name*, or None. The type has been checked already."""
    low, high, low_open = bounds(name, getattr(key, "low", None), getattr(key, "high", None),
                                 getattr(key, "low_open", False))
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return _number_problem(value, name, low, high, low_open)
    if isinstance(value, str):
        return _string_problem(value)
    if isinstance(value, list):
        if len(value) > MAX_ITEMS:
            return _("has {n} items; at most {max} are allowed", n=len(value), max=MAX_ITEMS)
        for item in value:
            why = problem(name, item, key)
            if why:
                return _("item {item} {why}", item=short(item), why=why)
        return None
    if isinstance(value, dict):
        if len(value) > MAX_ITEMS:
            return _("has {n} keys; at most {max} are allowed", n=len(value), max=MAX_ITEMS)
        for k, item in value.items():
            why = _string_problem(k) or _nested_problem(item)
            if why:
                return _("key {key} {why}", key=short(k), why=why)
        return None
    return None


def _nested_problem(value: Any, depth: int = 0) -> str | None:
    """Free-form table values (e.g. ``[headset] vendors``): strings and
    numbers only, a few levels deep."""
    if depth > 8:
        return _("is nested too deeply")
    if isinstance(value, str):
        return _string_problem(value)
    if isinstance(value, float) and not math.isfinite(value):
        return _("must be a finite number")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        return _("is far too large")
    if isinstance(value, list):
        if len(value) > MAX_ITEMS:
            return _("has more than {max} items", max=MAX_ITEMS)
        for v in value:
            why = _nested_problem(v, depth + 1)
            if why:
                return why
    if isinstance(value, dict):
        for k, v in value.items():
            why = _string_problem(k) or _nested_problem(v, depth + 1)
            if why:
                return why
    return None
