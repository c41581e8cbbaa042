"""Finds checks: the built-in table below, then every entry point in the group
``diagnose.checks`` (third-party plugins register there).

The built-ins are a static table, not entry points, so that finding them costs
no scan of installed distributions and a source checkout runs without being
installed. A plugin that fails to import does not stop the run: it is listed
as broken and reported as an ``error`` result.
"""

from __future__ import annotations

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


@dataclass
class Registry:
    checks: dict[str, Check] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)  # name -> why it failed to load

    @classmethod
    def discover(cls) -> "Registry":
        from diagnose.compat import entry_points

        reg = cls()
        targets = [(name, value) for name, value in sorted(BUILTINS.items())]
        for ep in sorted(entry_points(GROUP), key=lambda e: e.name):
            if ep.name not in BUILTINS:  # a built-in name cannot be taken over
                targets.append((ep.name, ep.value))
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
