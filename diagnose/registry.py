"""Finds checks: the built-in table below, then every entry point in the group
``diagnose.checks`` (third-party plugins register there).

The built-ins are a static table, not entry points, so that finding them costs
no scan of installed distributions and a source checkout runs without being
installed. A plugin that fails to import does not stop the run: it is listed
as broken and reported as an ``error`` result.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field

from diagnose.check import Check

GROUP = "diagnose.checks"

# name -> "module:Class", exactly as an entry point would say it.
BUILTINS: dict[str, str] = {
    "application.services": "diagnose.checks.services.check:ApplicationServices",
    "audio.settings": "diagnose.checks.audio.check:AudioSettings",
    "bluetooth.interference": "diagnose.checks.bluetooth.check:BluetoothInterference",
    "call.routing": "diagnose.checks.asterisk.routing:CallRouting",
    "config.drift": "diagnose.checks.drift.check:ConfigDrift",
    "database.integrity": "diagnose.checks.database.check:DatabaseIntegrity",
    "disk.space": "diagnose.checks.disk.check:DiskSpace",
    "gateway.power": "diagnose.checks.gateway.check:GatewayPower",
    "headset.presence": "diagnose.checks.headset.check:HeadsetPresence",
    "network.connectivity": "diagnose.checks.network.check:NetworkConnectivity",
    "queue.kpi": "diagnose.checks.asterisk.kpi:QueueKpi",
    "telephony.card": "diagnose.checks.telephony.check:TelephonyCard",
}


# name -> (section, multi, sections it also reads): what the configuration
# needs to know of a built-in without importing it, so that a run imports
# only the checks it runs and those owning the sections its file has
# (tests/test_registry_scan.py compares this with the classes).
BUILTIN_SECTIONS: dict[str, tuple[str, bool, tuple[str, ...]]] = {
    "application.services": ("service", True, ()),
    "audio.settings": ("audio", False, ()),
    "bluetooth.interference": ("bluetooth", False, ()),
    "call.routing": ("asterisk", False, ("queues",)),
    "config.drift": ("baseline", False, ()),
    "database.integrity": ("database", True, ()),
    "disk.space": ("disk", False, ()),
    "gateway.power": ("gateway", True, ()),
    "headset.presence": ("headset", False, ()),
    "network.connectivity": ("network", False, ()),
    "queue.kpi": ("queues", False, ("asterisk",)),
    "telephony.card": ("telephony", False, ()),
}


def _instantiate(name: str, value: str) -> Check:
    obj = load_target(value)
    check = obj() if isinstance(obj, type) else obj
    if not isinstance(check, Check):
        raise TypeError(f"{value} is not a diagnose.check.Check")
    if check.name != name:
        raise ValueError(f"{value} calls itself {check.name!r}, registered as {name!r}")
    return check


class LazyChecks(MutableMapping):
    """name -> Check. Built-ins listed in BUILTIN_SECTIONS are imported on
    first access to their value; names, ``in`` and ``len`` import nothing."""

    def __init__(self, pending: dict[str, str] | None = None, loaded: dict[str, Check] | None = None,
                 order: list[str] | None = None) -> None:
        self._pending = dict(pending or {})
        self._loaded = dict(loaded or {})
        self._order = list(order or list(self._pending) + list(self._loaded))

    def __getitem__(self, name: str) -> Check:
        if name in self._loaded:
            return self._loaded[name]
        if name not in self._pending:
            raise KeyError(name)
        check = _instantiate(name, self._pending.pop(name))
        self._loaded[name] = check
        return check

    def __setitem__(self, name: str, check: Check) -> None:
        self._pending.pop(name, None)
        if name not in self._loaded and name not in self._order:
            self._order.append(name)
        self._loaded[name] = check

    def __delitem__(self, name: str) -> None:
        if name not in self._pending and name not in self._loaded:
            raise KeyError(name)
        self._pending.pop(name, None)
        self._loaded.pop(name, None)
        self._order.remove(name)

    def __iter__(self):
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, name: object) -> bool:
        return name in self._pending or name in self._loaded

    def loaded(self) -> list[str]:
        """Names whose check has been imported."""
        return [n for n in self._order if n in self._loaded]


class _Schemas(Mapping):
    """section -> merged schema, computed (and the owning checks imported)
    only for the sections looked up; the section names are known at once."""

    def __init__(self, registry: "Registry") -> None:
        self._reg = registry
        self._owners: dict[str, list[str]] = {}
        for name in registry.checks:
            for section in registry.sections_of(name):
                self._owners.setdefault(section, []).append(name)
        self._cache: dict[str, dict] = {}

    def __getitem__(self, section: str) -> dict:
        if section not in self._owners:
            raise KeyError(section)
        if section not in self._cache:
            out: dict = {}
            for name in self._owners[section]:
                c = self._reg.checks[name]
                if c.section == section:
                    out.update(c.schema)
                reads = getattr(c, "reads", None) or {}
                if section in reads:
                    out.update(reads[section])
            self._cache[section] = out
        return self._cache[section]

    def __iter__(self):
        return iter(list(self._owners))

    def __len__(self) -> int:
        return len(self._owners)

    def __contains__(self, section: object) -> bool:
        return section in self._owners


def load_target(value: str) -> object:
    """Import ``module:attr`` the way an entry point's ``load()`` does."""
    import importlib

    module, _, attr = value.partition(":")
    obj: object = importlib.import_module(module)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


def plugin_targets(group: str) -> list[tuple[str, str]]:
    """(name, "module:attr") of every entry point in *group*, the first
    found per name winning, as importlib.metadata would list them.

    Read straight from the ``entry_points.txt`` of each ``*.dist-info`` /
    ``*.egg-info`` folder on sys.path, and only files that mention the group
    are parsed: importlib.metadata builds a Distribution for every installed
    package first (about 30 ms of every run here). A sys.path entry that is
    an archive falls back to importlib.metadata, which can read inside it."""
    found: dict[str, str] = {}
    header = f"[{group}]"
    for entry in sys.path:
        base = entry or "."
        if not os.path.isdir(base):
            if os.path.isfile(base):  # a zip or egg: only importlib.metadata reads those
                from diagnose.compat import entry_points

                return [(ep.name, ep.value) for ep in entry_points(group)]
            continue
        try:
            names = sorted(os.listdir(base))
        except OSError:
            continue
        for folder in names:
            if not folder.endswith((".dist-info", ".egg-info")):
                continue
            try:
                with open(os.path.join(base, folder, "entry_points.txt"), encoding="utf-8") as fh:
                    text = fh.read()
            except OSError:
                continue
            if header not in text:
                continue
            inside = False
            for line in text.splitlines():
                line = line.strip()
                if line.startswith("["):
                    inside = line == header
                elif inside and "=" in line and not line.startswith(("#", ";")):
                    name, _, value = line.partition("=")
                    found.setdefault(name.strip(), value.strip())
    return list(found.items())


@dataclass
class Registry:
    checks: dict[str, Check] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)  # name -> why it failed to load

    @classmethod
    def discover(cls) -> "Registry":
        """Built-ins by name (imported when first used); third-party plugins
        imported now, each isolated: one that fails is listed as broken."""
        reg = cls()
        pending = {name: value for name, value in sorted(BUILTINS.items())}
        reg.checks = LazyChecks({n: v for n, v in pending.items() if n in BUILTIN_SECTIONS})
        for name, value in pending.items():
            if name not in BUILTIN_SECTIONS:
                reg._load(name, value)
        for name, value in sorted(plugin_targets(GROUP)):
            if name not in BUILTINS:  # a built-in name cannot be taken over
                reg._load(name, value)
        return reg

    def _load(self, name: str, value: str) -> None:
        if name in self.checks or name in self.broken:
            return  # the first registration wins; duplicates are ignored
        try:
            check = _instantiate(name, value)
        except Exception as exc:  # a broken plugin is a result, not a crash
            self.broken[name] = f"cannot load {value}: {type(exc).__name__}: {exc}"
            return
        self.checks[name] = check

    def sections_of(self, name: str) -> list[str]:
        """The config sections check *name* owns or reads (built-ins from
        the static table, without importing them)."""
        if isinstance(self.checks, LazyChecks) and name in self.checks._pending:
            section, _multi, reads = BUILTIN_SECTIONS[name]
            return [section, *reads]
        c = self.checks[name]
        return ([c.section] if c.section else []) + list(getattr(c, "reads", None) or {})

    @classmethod
    def of(cls, *checks: Check) -> "Registry":
        return cls({c.name: c for c in checks})

    def schemas(self) -> Mapping[str, dict]:
        """section -> schema; a check is imported when its section is looked up."""
        if isinstance(self.checks, LazyChecks):
            return _Schemas(self)
        out: dict[str, dict] = {}
        for c in self.checks.values():
            if c.section:
                out.setdefault(c.section, {}).update(c.schema)
            for name, schema in (getattr(c, "reads", None) or {}).items():
                out.setdefault(name, {}).update(schema)
        return out

    def multi_sections(self) -> set[str]:
        out = set()
        for name in self.checks:
            if isinstance(self.checks, LazyChecks) and name in self.checks._pending:
                section, multi, _reads = BUILTIN_SECTIONS[name]
                if multi:
                    out.add(section)
            else:
                c = self.checks[name]
                if c.section and c.multi:
                    out.add(c.section)
        return out
