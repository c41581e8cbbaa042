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
        reg = cls()
        targets = [(name, value) for name, value in sorted(BUILTINS.items())]
        for name, value in sorted(plugin_targets(GROUP)):
            if name not in BUILTINS:  # a built-in name cannot be taken over
                targets.append((name, value))
        for name, value in targets:
            if name in reg.checks or name in reg.broken:
                continue  # the first registration wins; duplicates are ignored
            try:
                obj = load_target(value)
                check = obj() if isinstance(obj, type) else obj
                if not isinstance(check, Check):
                    raise TypeError(f"{value} is not a diagnose.check.Check")
                if check.name != name:
                    raise ValueError(f"{value} calls itself {check.name!r}, registered as {name!r}")
            except Exception as exc:  # a broken plugin is a result, not a crash
                reg.broken[name] = f"cannot load {value}: {type(exc).__name__}: {exc}"
                continue
            reg.checks[name] = check
        return reg

    @classmethod
    def of(cls, *checks: Check) -> "Registry":
        return cls({c.name: c for c in checks})

    def schemas(self) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for c in self.checks.values():
            if c.section:
                out.setdefault(c.section, {}).update(c.schema)
            for name, schema in (getattr(c, "reads", None) or {}).items():
                out.setdefault(name, {}).update(schema)
        return out

    def multi_sections(self) -> set[str]:
        return {c.section for c in self.checks.values() if c.section and c.multi}
