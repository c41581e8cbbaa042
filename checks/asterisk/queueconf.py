"""queues.conf as app_queue reads it: every category but [general] is a
queue (templates excepted); a setting's last assignment wins; ``member``
lines keep their order (linear and rrordered ring in that order).

Member line (queues.conf.sample)::

    member => interface[,penalty][,membername][,state_interface][,ringinuse][,wrapuptime][,paused]

FreePBX writes ``member=Local/201@from-queue/n,0,Alice,hint:201@ext-local``
into queues_additional.conf, which queues.conf #includes.
"""

from __future__ import annotations

import posixpath
from typing import Any

from diagnose.checks.asterisk import conf

# app_queue's defaults for the settings the checks read.
DEFAULTS = {"strategy": "ringall", "timeout": "15", "retry": "5", "wrapuptime": "0",
            "autopause": "no", "ringinuse": "yes", "servicelevel": "0", "joinempty": "",
            "leavewhenempty": "", "autofill": "yes"}
STRATEGIES = ("ringall", "leastrecent", "fewestcalls", "random", "rrmemory", "roundrobin",
              "linear", "wrandom", "rrordered")
ORDERED = ("linear", "rrordered")


def _split_member(value: str) -> list[str]:
    # Commas separate fields; "\," is a literal comma in a name.
    parts, cur, i = [], [], 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value) and value[i + 1] == ",":
            cur.append(",")
            i += 2
            continue
        if value[i] == ",":
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(value[i])
        i += 1
    parts.append("".join(cur).strip())
    return parts


def _truthy(v: str) -> bool:
    return v.strip().lower() in ("1", "yes", "true", "on", "y", "all")


def parse_member(var: conf.Var) -> dict[str, Any]:
    f = _split_member(var.value) + [""] * 7
    interface = f[0]
    try:
        penalty = int(f[1]) if f[1] else 0
    except ValueError:
        penalty = 0
    return {"interface": interface, "penalty": penalty, "name": f[2] or interface,
            "state_interface": f[3], "paused": _truthy(f[6]) if f[6] else False,
            "file": var.file, "line": var.line}


def load_queues(host: Any, config_dir: str) -> dict[str, Any]:
    """Facts: the queues with their effective settings and members, and
    the files read (with their includes)."""
    path = posixpath.join(config_dir, "queues.conf")
    parsed = conf.load(host, path, config_dir)
    queues: dict[str, Any] = {}
    for cat in parsed.categories:
        if cat.template or cat.name.lower() == "general" or cat.name in queues:
            continue
        settings: dict[str, Any] = {}
        sources: dict[str, Any] = {}
        members: list[dict[str, Any]] = []
        for cat_part in parsed.named(cat.name):
            for v in parsed.effective(cat_part):
                key = v.key.lower()
                if key == "member":
                    members.append(parse_member(v))
                    continue
                settings[key] = v.value
                sources[key] = {"file": v.file, "line": v.line}
        eff = {k: settings.get(k, d) for k, d in DEFAULTS.items()}
        strategy = eff["strategy"].lower()
        queues[cat.name] = {
            "name": cat.name, "file": cat.file, "line": cat.line,
            "strategy": strategy, "strategy_source": sources.get("strategy"),
            "timeout_s": _num(eff["timeout"], 15), "retry_s": _num(eff["retry"], 5),
            "wrapuptime_s": _num(eff["wrapuptime"], 0),
            "autopause": eff["autopause"].lower(), "ringinuse": _truthy(eff["ringinuse"]),
            "servicelevel_s": _num(eff["servicelevel"], 0),
            "joinempty": eff["joinempty"], "leavewhenempty": eff["leavewhenempty"],
            "settings": settings, "sources": sources, "members": members,
        }
    return {"path": path, "queues": queues, "files": parsed.files}


def _num(v: Any, default: float) -> float:
    try:
        return float(str(v).strip())
    except ValueError:
        return float(default)
