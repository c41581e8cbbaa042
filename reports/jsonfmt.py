"""JSON report, exactly the schema of DESIGN.md section 3 (``diagnose.report/1``).

Strict JSON whatever the facts hold: a NaN or infinite number (a probe that
divided by zero) becomes null, and a lone surrogate (a file name that was not
UTF-8) is written as its escape text, so every JSON parser and any UTF-8
writer accepts the output. Messages are written in English.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


def _text(s: str) -> str:
    if _SURROGATE.search(s) is None:
        return str.__str__(s)
    from diagnose.safetext import show

    return _SURROGATE.sub(lambda m: show(m.group()), str.__str__(s))


def strict(value: Any) -> Any:
    """*value* with every float finite (else None) and every string encodable."""
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {(_text(k) if isinstance(k, str) else k): strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    return value


def dumps(value: Any, indent: int | None = 2) -> str:
    return json.dumps(strict(value), indent=indent, ensure_ascii=False, allow_nan=False, default=str)


def render(report: Any, **_: Any) -> str:
    return dumps(report.to_dict()) + "\n"


class Encoded:
    """A value already written by :func:`compact`: its one-line ``text``.
    A site report holds its seats' reports this way when it is made for
    JSON (the text made as each report is accepted, the parsed document let
    go at once: 2000 seats' reports take 14 MB instead of 140 MB), and
    :func:`render_site` writes the text as it is."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def value(self) -> Any:
        return json.loads(self.text)


def _compact_strict(value: Any) -> str:
    return json.dumps(strict(value), ensure_ascii=False, allow_nan=False, default=str, separators=(",", ":"))


# What json.dumps would make for each call, made once; no check for
# circular references (they would end in RecursionError, as in strict()):
# about a tenth of the encoding time of a site's reports.
_ONE_LINE = json.JSONEncoder(ensure_ascii=False, allow_nan=False, default=str, separators=(",", ":"),
                             check_circular=False)


def compact(value: Any) -> str:
    """One line, exactly what ``_compact_strict`` gives, in one pass of
    json's C encoder: :func:`strict` walks the value in Python first, which
    for a site's 2000 seat reports costs ten times the encoding. The walk
    is done only when it would change something: a NaN or an infinity
    (json refuses them: ValueError) or a lone surrogate (passed through
    with ``ensure_ascii=False``, so found in the text; an ASCII text, the
    usual one, is known to have none without a scan)."""
    try:
        text = _ONE_LINE.encode(value)
    except ValueError:
        return _compact_strict(value)
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    return _compact_strict(value)


def render_site(site: Any, **_: Any) -> str:
    """``diagnose.site/1`` (DESIGN.md section 9): the envelope indented,
    every finding, seat row and seat report one compact line each (json's C
    encoder: a 2000-seat site's 15 MB in a fraction of a second)."""
    doc = site.to_dict(reports=False)
    lists = {k: doc.pop(k) for k in ("findings", "seats")}
    lists["reports"] = site.reports
    parts = [dumps(doc)[:-2]]  # one join at the end: the text is copied once, not once per level
    for key in ("findings", "seats"):
        parts.append(f',\n  "{key}": [')
        for v in lists[key]:
            parts += ("\n    ", compact(v), ",")
        if lists[key]:
            parts[-1] = "\n  "
        parts.append("]")
    parts.append(',\n  "reports": {')
    for k, v in lists["reports"].items():
        parts += ("\n    ", compact(k), ": ", v.text if isinstance(v, Encoded) else compact(v), ",")
    if lists["reports"]:
        parts[-1] = "\n  "
    parts.append("}\n}\n")
    return "".join(parts)
