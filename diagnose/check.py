"""The check interface every plugin implements.

A check is a class with metadata, a config schema for its own section, a
``probe`` that gathers JSON-serialisable facts through the host, and a pure
``judge`` that turns facts and config into findings. The runner, not the
check, decides whether it applies (``needs``) and isolates its failures.

Register a check under the entry-point group ``diagnose.checks``::

    [project.entry-points."diagnose.checks"]
    "disk.space" = "checks.disk:DiskSpace"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from diagnose.host import Host
    from diagnose.model import Finding


@dataclass(frozen=True)
class Key:
    """One config key of a check's section: its type, default and meaning.

    ``type`` is a Python type or a tuple of them (``list`` keys can name the
    item type with ``item``). ``choices`` restricts string values.
    """

    type: type | tuple[type, ...]
    default: Any = None
    doc: str = ""
    item: type | tuple[type, ...] | None = None
    choices: tuple[str, ...] | None = None
    secret: bool = False  # never copied into facts or reports


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


class Check:
    """Base class of checks. Subclasses set the class attributes and
    implement :meth:`probe` and :meth:`judge`.

    ``section`` is the config section name (``disk``, ``database`` ...);
    ``multi`` marks array-of-tables sections (``[[database]]``), whose config
    arrives as a list of dicts under the key ``items``.
    """

    name: str = ""
    summary: str = ""
    section: str = ""
    multi: bool = False
    needs: Needs = Needs()
    schema: dict[str, Key] = {}
    # Seconds; the runner's --timeout or the section's timeout_s override it.
    timeout: float = 10.0

    def applies(self, host: "Host", cfg: dict[str, Any]) -> str | None:
        """Extra applicability test beyond ``needs``: return a skip reason
        (saying what to install or set) or None when the check applies."""
        return None

    def probe(self, host: "Host", cfg: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def judge(self, facts: dict[str, Any], cfg: dict[str, Any]) -> list["Finding"]:
        raise NotImplementedError

    def init_section(self, host: "Host") -> str | None:
        """A commented TOML snippet for ``diagnose init`` from what is detected
        here, or None to write the defaults commented out."""
        return None


# Keys every check section accepts, handled by the runner itself.
COMMON_KEYS: dict[str, Key] = {
    "enabled": Key(bool, True, "set to false to never run this check"),
    "timeout_s": Key((int, float), None, "per-check timeout in seconds (default 10, or --timeout)"),
}


def section_config(check: Check, values: dict[str, Any] | None = None) -> dict[str, Any]:
    """The config dict a probe or judge of *check* receives, validated and
    with defaults filled in, from plain *values* (as the TOML section would
    hold them; for a multi section, ``{"items": [ {...}, ... ]}``).

    Tests and ``--from-facts`` use it to build exactly what the runner passes.
    """
    from diagnose.config import load_section

    return load_section(check, values or {})
