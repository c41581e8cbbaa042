"""The schema types of configuration: a section's keys, what a check needs,
and the keys every check section shares.

Both the check interface (:mod:`diagnose.check`) and the config loader
(:mod:`diagnose.config`) use these, so they live apart from both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

@dataclass(frozen=True)
class Key:
    """One config key of a check's section: its type, default and meaning.

    ``type`` is a Python type or a tuple of them (``list`` keys can name the
    item type with ``item``). ``choices`` restricts string values. ``low``
    and ``high`` bound a number (or a list's numbers), inclusive, and
    ``low_open`` excludes ``low`` itself; without them the bounds follow
    from the key's name (:mod:`diagnose.confvalues`).
    """

    type: type | tuple[type, ...]
    default: Any = None
    doc: str = ""
    item: type | tuple[type, ...] | None = None
    choices: tuple[str, ...] | None = None
    secret: bool = False  # never copied into facts or reports
    low: float | None = None
    high: float | None = None
    low_open: bool = False


@dataclass(frozen=True)
class Needs:
    """What a check needs in order to apply here; absent -> skip with a reason.

    - ``section``: the config section must be present (the reason names it).
    - ``role``: ``server`` or ``workstation``; ``any`` runs everywhere.
    - ``commands``: at least one of these programs on PATH.
    - ``paths``: at least one of these system paths exists.
    - ``modules``: Python modules that must be importable (found, not imported).
    - ``live``: needs the live machine (sockets, commands); recorded hosts skip.
    """

    section: bool = False
    role: str = "any"
    commands: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    live: bool = False


# Keys every check section accepts, handled by the runner itself.
COMMON_KEYS: dict[str, Key] = {
    "enabled": Key(bool, True, "set to false to never run this check"),
    "timeout_s": Key((int, float), None, "per-check timeout in seconds (default 10, or --timeout)"),
}


class MergedSchemas(Mapping):
    """The engine's sections and the checks' (each with COMMON_KEYS), a
    check's schema fetched only when its section is looked up: a run does
    not import the checks whose sections its file does not have."""

    def __init__(self, check_schemas: Mapping, engine: dict) -> None:
        self._checks = check_schemas
        self._engine = engine
        self._cache: dict[str, dict[str, Key]] = {}

    def __getitem__(self, name: str) -> dict[str, Key]:
        if name not in self._cache:
            if name in self._checks:
                merged = dict(COMMON_KEYS)
                merged.update(self._checks[name])
                self._cache[name] = merged
            else:
                self._cache[name] = self._engine[name]
        return self._cache[name]

    def __contains__(self, name: object) -> bool:
        return name in self._checks or name in self._engine

    def __iter__(self):
        return iter(list(self._engine) + [n for n in self._checks if n not in self._engine])

    def __len__(self) -> int:
        return sum(1 for _ in self)
