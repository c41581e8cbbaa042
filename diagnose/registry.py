"""Finds checks: every entry point in the group ``diagnose.checks``.

Built-in checks are registered in pyproject.toml exactly as a third-party
package would register its own. A plugin that fails to import does not stop
the run: it is listed as broken and reported as an ``error`` result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from diagnose.check import Check

GROUP = "diagnose.checks"


@dataclass
class Registry:
    checks: dict[str, Check] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)  # name -> why it failed to load

    @classmethod
    def discover(cls) -> "Registry":
        from importlib.metadata import entry_points

        reg = cls()
        for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
            if ep.name in reg.checks:
                continue  # the first registration wins; duplicates are ignored
            try:
                obj = ep.load()
                check = obj() if isinstance(obj, type) else obj
                if not isinstance(check, Check):
                    raise TypeError(f"{ep.value} is not a diagnose.check.Check")
                if check.name != ep.name:
                    raise ValueError(f"{ep.value} calls itself {check.name!r}, registered as {ep.name!r}")
            except Exception as exc:  # a broken plugin is a result, not a crash
                reg.broken[ep.name] = f"cannot load {ep.value}: {type(exc).__name__}: {exc}"
                continue
            reg.checks[ep.name] = check
        return reg

    @classmethod
    def of(cls, *checks: Check) -> "Registry":
        return cls({c.name: c for c in checks})

    def schemas(self) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for c in self.checks.values():
            if c.section:
                out.setdefault(c.section, {}).update(c.schema)
        return out

    def multi_sections(self) -> set[str]:
        return {c.section for c in self.checks.values() if c.section and c.multi}
