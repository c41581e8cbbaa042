"""What differs between the Python versions diagnose runs on (3.9 to 3.13),
in one place, so that the rest of the code is written once.

- ``entry_points(group)``: ``importlib.metadata.entry_points(group=...)`` is
  3.10+; 3.9 returns a dict of lists (and may list a distribution twice when
  it is on sys.path twice, so names are de-duplicated here).
- ``tomllib()``: the standard library's parser from 3.11, the ``tomli``
  package (the same code, a declared dependency below 3.11) before. Every
  TOML file diagnose reads goes through it.
"""

from __future__ import annotations

import sys
from typing import Any, List


def entry_points(group: str) -> List[Any]:
    """The entry points of ``group``, one per name (the first found wins)."""
    from importlib import metadata

    if sys.version_info >= (3, 10):
        found = list(metadata.entry_points(group=group))
    else:  # pragma: no cover - exercised by the 3.9 run of the suite
        found = list(metadata.entry_points().get(group, ()))
    seen: dict[str, Any] = {}
    for ep in found:
        seen.setdefault(ep.name, ep)
    return list(seen.values())


def tomllib() -> Any:
    """The TOML parser module (``loads``, ``load``, ``TOMLDecodeError``),
    imported on first use: ``diagnose --version`` does not pay for it."""
    if sys.version_info >= (3, 11):
        import tomllib as mod
    else:  # pragma: no cover - exercised by the 3.9 run of the suite
        import tomli as mod
    return mod
