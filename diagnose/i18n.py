"""Translatable messages: marked in English where they are made, translated
where they are shown.

A judge writes ``_("Disk {mount} is full", mount=mp)``. That is a
:class:`Message`: a ``str`` whose value is the English text, so JSON, tests
and every ``in``/``==``/``startswith`` keep working unchanged, and which
also remembers its template and arguments so that a renderer can show it in
another language (:func:`tr`). Plurals: ``_n("{n} site fault", "{n} site
faults", n)``. A string marked only for extraction (a table of constants
translated later) is ``N_("...")``, which returns the plain string.

Arguments are technical tokens unless they are messages themselves: paths,
commands, config keys and names from the system are inserted as they are,
never translated. Numbers are formatted per language (decimal comma in
Russian); :func:`size` and :func:`when` are values that render per language.

Catalogs are gettext ``.po`` files read by :mod:`diagnose.po` (no build step):
``<package>/locale/<lang>.po`` anywhere under diagnose/, checks/ and
reports/, merged. English is the source language: its catalog is the msgids.
"""

from __future__ import annotations

import math
import os
import re
import string
from typing import Any, Iterable, Mapping

LANGUAGES = ("en", "ru")
DEFAULT = "en"

# msgids a renderer asked for and found no translation of, per language
# (tests assert this stays empty for the languages shipped).
MISSING: dict[str, set[str]] = {}


class Message(str):
    """A marked, translatable string; its ``str`` value is the English text."""

    template: str
    plural: str | None
    n: Any
    args: dict[str, Any]

    def __new__(cls, template: str, _plural: str | None = None, _n: Any = None,
                **args: Any) -> "Message":
        chosen = template if _plural is None or _plural_index("en", _n) == 0 else _plural
        if _plural is not None:
            args.setdefault("n", _n)
        self = super().__new__(cls, _format(chosen, args, "en"))
        self.template, self.plural, self.n, self.args = template, _plural, _n, args
        return self

    def render(self, lang: str) -> str:
        if lang == "en":
            return str.__str__(self)
        chosen = _lookup(self.template, self.plural, self.n, lang)
        return _format(chosen, self.args, lang)

    def __reduce__(self):  # copy/pickle keep the message, not just the English
        return (_rebuild, (type(self), self.template, self.plural, self.n, self.args))

    def __add__(self, other: Any) -> "Message":
        if not isinstance(other, str):
            return NotImplemented
        return Joined("", (self, other))

    def __radd__(self, other: Any) -> "Message":
        if not isinstance(other, str):
            return NotImplemented
        return Joined("", (other, self))

    def __repr__(self) -> str:
        return f"_({str.__repr__(self)})"


def _rebuild(cls: type, template: str, plural: str | None, n: Any, args: dict[str, Any]) -> Message:
    if cls is Joined:
        return Joined(args["sep"], args["parts"])
    return cls(template, plural, n, **args)


class Joined(Message):
    """Parts joined by a separator, each translated on its own (what ``+``
    and :func:`join` make of messages)."""

    def __new__(cls, sep: str, parts: Iterable[Any]) -> "Joined":
        parts = tuple(parts)
        self = str.__new__(cls, str(sep).join(str(p) for p in parts))
        self.template, self.plural, self.n = "", None, None
        self.args = {"sep": sep, "parts": parts}
        return self

    def render(self, lang: str) -> str:
        return tr(self.args["sep"], lang).join(tr(p, lang) for p in self.args["parts"])


def _(template: str, **args: Any) -> Message:
    """Mark *template* for translation; ``{name}`` fields take *args*."""
    return Message(template, **args)


def _n(singular: str, plural: str, count: Any, **args: Any) -> Message:
    """A message with plural forms chosen by *count* (also available as
    ``{n}`` unless an argument named ``n`` is given)."""
    return Message(singular, plural, count, **args)


def N_(template: str) -> str:
    """Mark a constant for extraction only; translate it later with ``_(x)``."""
    return template


def join(sep: str, parts: Iterable[Any]) -> str:
    """``sep.join(parts)`` that keeps each message part translatable."""
    parts = list(parts)
    if any(isinstance(p, Message) for p in parts) or isinstance(sep, Message):
        return Joined(sep, parts)
    return str(sep).join(parts)


# --- values that render per language ---------------------------------------

class Value:
    """A value an argument renders per language (sizes, dates, numbers)."""

    def render(self, lang: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def __str__(self) -> str:
        return self.render("en")

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


N_("B"), N_("KB"), N_("MB"), N_("GB"), N_("TB")
N_("{day} {month} {year}, {time}")


class size(Value):
    """Bytes as ``df -h`` counts them (powers of 1024): ``41.2 GB``, ``41,2 ГБ``."""

    def __init__(self, n: float) -> None:
        self.n = n

    def render(self, lang: str) -> str:
        n = float(self.n)
        for unit in ("B", "KB", "MB", "GB", "TB"):
            if abs(n) < 1024 or unit == "TB":
                text = f"{n:.0f}" if unit == "B" else f"{n:.1f}"
                return f"{number_text(text, lang)}\u00a0{tr(Message(unit), lang)}" \
                    if lang != "en" else f"{text} {unit}"
            n /= 1024
        raise AssertionError("unreachable")


class number(Value):
    """A number with *digits* decimals (None: as Python prints it)."""

    def __init__(self, x: float, digits: int | None = None) -> None:
        self.x, self.digits = x, digits

    def render(self, lang: str) -> str:
        text = f"{self.x:.{self.digits}f}" if self.digits is not None else f"{self.x:g}" \
            if isinstance(self.x, float) else str(self.x)
        return number_text(text, lang)


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
N_("Jan"), N_("Feb"), N_("Mar"), N_("Apr"), N_("May"), N_("Jun")
N_("Jul"), N_("Aug"), N_("Sep"), N_("Oct"), N_("Nov"), N_("Dec")


class when(Value):
    """An ISO 8601 time as a reader writes it: ``22 Nov 2026, 07:00 UTC``
    (``22 ноября 2026, 07:00 UTC``). Unparseable input is shown as it is."""

    def __init__(self, iso: str) -> None:
        self.iso = iso

    def render(self, lang: str) -> str:
        import datetime as dt

        try:
            t = dt.datetime.fromisoformat(str(self.iso).replace("Z", "+00:00"))
        except ValueError:
            return str(self.iso)
        zone = ""
        if t.utcoffset() is not None:
            off = t.utcoffset()
            zone = " UTC" if not off else " UTC" + t.strftime("%z")[:3] + ":" + t.strftime("%z")[3:]
        month = tr(Message(_MONTHS[t.month - 1]), lang)
        return tr(Message("{day} {month} {year}, {time}", day=t.day, month=month, year=str(t.year),
                          time=t.strftime("%H:%M")), lang) + zone


def number_text(text: str, lang: str) -> str:
    """A number already printed the Python way, written the *lang* way:
    Russian uses a decimal comma. Digits are never grouped: in these
    reports large integers are ports, pids and counts read as identifiers."""
    if lang != "ru":
        return text
    whole, dot, frac = text.partition(".")
    return whole + ("," + frac if dot and whole.lstrip("+-").isdigit() and frac.isdigit() else dot + frac)


# --- formatting and lookup ---------------------------------------------------

class _Formatter(string.Formatter):
    def __init__(self, lang: str) -> None:
        self.lang = lang

    def format_field(self, value: Any, spec: str) -> str:
        if isinstance(value, (Message, Value)):
            return format(tr(value, self.lang), spec)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return format(value, spec)
        if isinstance(value, float) and not math.isfinite(value):
            return format(value, spec)
        return number_text(format(value, spec), self.lang)


def _format(template: str, args: Mapping[str, Any], lang: str) -> str:
    if not args:
        return template
    try:
        return _Formatter(lang).vformat(template, (), args)
    except (KeyError, IndexError, ValueError) as exc:
        # A translation with a wrong field name must never break a report.
        if lang != "en":
            MISSING.setdefault(lang, set()).add(f"{template!r}: {exc}")
            return _format(template, args, "en")
        raise


def _plural_index(lang: str, n: Any) -> int:
    try:
        x = float(n)
    except (TypeError, ValueError):
        return 1
    if lang == "ru":
        if x != int(x):
            return 1
        k = abs(int(x))
        if k % 10 == 1 and k % 100 != 11:
            return 0
        if 2 <= k % 10 <= 4 and not 12 <= k % 100 <= 14:
            return 1
        return 2
    return 0 if x == 1 else 1


def _lookup(template: str, plural: str | None, n: Any, lang: str) -> str:
    from diagnose.po import catalog

    entry = catalog(lang).get(template)
    if entry is None or not any(entry):
        MISSING.setdefault(lang, set()).add(template)
        return template if plural is None or _plural_index("en", n) == 0 else plural
    if plural is None:
        return entry[0]
    forms = list(entry)
    i = _plural_index(lang, n)
    return forms[i] if i < len(forms) and forms[i] else forms[0]


def tr(value: Any, lang: str) -> str:
    """*value* as shown to a reader of *lang*: messages translated, other
    values as they are. Plain strings (a report read back from JSON) are
    translated when a catalog template matches them exactly."""
    if isinstance(value, Message):
        return value.render(lang)
    if isinstance(value, Value):
        return value.render(lang)
    if value is None:
        return ""
    if lang == "en" or not isinstance(value, str) or not value:
        return value if isinstance(value, str) else str(value)
    from diagnose.po import catalog

    entry = catalog(lang).get(value)
    if entry and entry[0]:
        return entry[0]
    return _reverse(value, lang, 4)


# --- plain English back to its message ------------------------------------------------

_PATTERNS: dict[str, list[tuple[Any, str, str | None]]] = {}
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def _patterns(lang: str) -> list[tuple[Any, str, str | None]]:
    """(regex, msgid, plural) for every catalog template with fields and
    enough fixed text to be recognised, longest fixed text first."""
    if lang not in _PATTERNS:
        from diagnose.po import catalog

        rows = []
        for msgid, forms in catalog(lang).items():
            for i, source in enumerate([msgid] + ([forms.plural] if getattr(forms, "plural", None) else [])):
                parts = list(string.Formatter().parse(source))
                fixed = "".join(p[0] for p in parts)
                names = [p[1] for p in parts if p[1]]
                if not names or not fixed.strip() or len(set(names)) != len(names) \
                        or not all(n.isidentifier() for n in names):
                    continue
                rx = "".join(re.escape(lit) + (f"(?P<{f}>.+?)" if f else "") for lit, f, _, _ in parts)
                weak = len(fixed) < 12 or len(fixed) < len(source) * 0.4
                rows.append((len(fixed), re.compile(rx + "$", re.S), msgid, weak))
        rows.sort(key=lambda r: -r[0])
        _PATTERNS[lang] = [(rx, msgid, weak) for _, rx, msgid, weak in rows]
    return _PATTERNS[lang]


def _reverse(text: str, lang: str, depth: int) -> str:
    """*text* (English, e.g. a message read back from JSON or a facts file)
    translated when a catalog template matches it whole; its arguments are
    translated the same way. Unknown text stays as it is."""
    if depth <= 0 or len(text) > 1000 or not text.strip():
        return text
    from diagnose.po import catalog

    for rx, msgid, weak in _patterns(lang):
        m = rx.match(text)
        if m is None:
            continue
        args = {}
        unknown = False
        for k, v in m.groupdict().items():
            if _NUMBER.match(v):
                args[k] = number_text(v, lang)
            else:
                exact = tr_exact(v, lang)
                args[k] = exact if exact is not v else _reverse(v, lang, depth - 1)
                unknown = unknown or args[k] is v
        if weak and unknown:
            continue  # "{a}, {b}" matches anything: only when every part is known
        plural = getattr(catalog(lang).get(msgid), "plural", None)
        n = m.groupdict().get("n")
        if plural is not None and n is not None and _NUMBER.match(n):
            entry = _lookup(msgid, plural, float(n) if "." in n else int(n), lang)
        else:
            entry = _lookup(msgid, None, None, lang)
        try:
            return entry.format(**args)
        except (KeyError, IndexError, ValueError):
            return text
    return text


def tr_exact(text: str, lang: str) -> str:
    from diagnose.po import catalog

    entry = catalog(lang).get(text)
    return entry[0] if entry and entry[0] else text


# --- which language ------------------------------------------------------------

def normalise(lang: str | None) -> str | None:
    """``ru_RU.UTF-8`` -> ``ru``; C, POSIX and unknown languages -> None."""
    if not lang:
        return None
    code = lang.split(".")[0].split("@")[0].split("_")[0].split("-")[0].lower()
    return code if code in LANGUAGES else None


def from_locale(env: Mapping[str, str] | None = None) -> str:
    """The reader's language from the environment (gettext's order:
    LANGUAGE, LC_ALL, LC_MESSAGES, LANG); English when none is known."""
    env = os.environ if env is None else env
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(var)
        if not value:
            continue
        for part in value.split(":"):
            code = normalise(part)
            if code:
                return code
        if var != "LANGUAGE":  # the first set LC_* / LANG decides
            return DEFAULT
    return DEFAULT


def choose(cli: str | None = None, site: str | None = None,
           env: Mapping[str, str] | None = None) -> str:
    """``--lang``, else ``[site] language``, else the locale."""
    return normalise(cli) or normalise(site) or from_locale(env)
