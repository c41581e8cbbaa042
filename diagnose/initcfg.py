"""``diagnose init``: a commented starter config from what is detected here.

Each check may offer a detected snippet for its section (``init_section``);
otherwise its keys are written commented out with their defaults and docs,
so the file documents every key that exists.
"""

from __future__ import annotations

import json
from typing import Any

from diagnose import __version__
from diagnose.schema import Key
from diagnose.config import ENGINE_SCHEMAS
from diagnose.host import Host
from diagnose.registry import Registry


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string uses the same escapes
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _section(name: str, schema: dict[str, Key], multi: bool, heading: str) -> str:
    head = f"[[{name}]]" if multi else f"[{name}]"
    lines = [f"# {heading}", f"# {head}"]
    for key, spec in schema.items():
        value = "..." if spec.default is None else toml_value(spec.default)
        doc = f"  # {spec.doc}" if spec.doc else ""
        lines.append(f"# {key} = {value}{doc}")
    return "\n".join(lines)


def starter_config(registry: Registry, host: Host) -> str:
    # The role is detected from the hardware alone and written down: the
    # sections below (a [headset] found here, say) must not change it later.
    from diagnose.config import Config
    from diagnose.runner import detect_role

    role = detect_role(host, Config())
    parts = [
        f"# diagnose {__version__} site configuration, written by `diagnose init` on {host.hostname()}.",
        "# Uncomment and edit what applies; `diagnose list --config FILE` shows what will run.",
        "",
        "[site]",
        'name = ""          # shown in reports',
        f'role = "{role}"  # server | workstation | both; detected by diagnose init on this machine',
        "",
        _section("runner", ENGINE_SCHEMAS["runner"], False, "How long checks may take."),
        "",
    ]
    seen: set[str] = set()
    for check in sorted(registry.checks.values(), key=lambda c: c.name):
        if not check.section or check.section in seen:
            continue
        seen.add(check.section)
        snippet = None
        try:
            snippet = check.init_section(host)
        except Exception:  # noqa: BLE001 - detection is best effort
            snippet = None
        heading = f"{check.name}: {check.summary}"
        parts.append(snippet.rstrip() if snippet else _section(check.section, check.schema, check.multi, heading))
        parts.append("")
    parts.append(_section("email", ENGINE_SCHEMAS["email"], False,
                          "Mail the report (diagnose run --email)."))
    return "\n".join(parts) + "\n"
