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
