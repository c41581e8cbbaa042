"""Shared by the config and facts fuzz tests: a TOML writer for generated
configs, hostile values, recorded scenarios as a facts document, and the
well-formedness checks every output must pass (JSON strict, JUnit parses,
Prometheus parses, the Nagios first line per the plugin guidelines, no raw
control character in text)."""

from __future__ import annotations

import json
import math
import random
import re
import xml.etree.ElementTree as ET
from typing import Any

from diagnose.reports import FORMATS, render
from tests.conftest import DATA

# -- hostile values ---------------------------------------------------------

FORGED = "Movies\n[✓] disk.space  all fine\x1b[8m\x1b]0;pwned\x07\x1b[2J\x9b31m\u202eevil\r"
HOSTILE_STRINGS = [
    "", " ", FORGED, "\x00nul", "x" * 100_000, "\ud800" * 3, "\udcff\udcfe", "a" * 5000 + "\n",
    "<script>alert(1)</script>&amp;]]>", "\ufffe\uffff", "%s%n{0}{x}", "'; DROP TABLE calls; --",
    "password=S3cr3t-Fuzz", " " * 2500, "[" + " " * 2500, "é" * 3000, "\u2028\u2029",
]
HOSTILE_NUMBERS = [-1, 0, -0.0, 1e308, -1e308, 10 ** 20, -(10 ** 20), 2 ** 63, 2 ** 64 + 1,
                   float("nan"), float("inf"), float("-inf"), 65536, 99999999999999999999,
                   1000000000, 0.000001, True, False]


def deep_list(depth: int) -> Any:
    v: Any = 1
    for _ in range(depth):
        v = [v]
    return v


def deep_dict(depth: int) -> Any:
    v: Any = 1
    for _ in range(depth):
        v = {"a": v}
    return v


class Raw(str):
    """TOML text written as is (a value nested 600 deep, which a recursive
    writer could not write)."""


def deep_toml(depth: int, kind: str = "list") -> Raw:
    if kind == "list":
        return Raw("[" * depth + "1" + "]" * depth)
    return Raw("{a = " * depth + "1" + "}" * depth)


def hostile_value(rnd: random.Random, toml: bool = False) -> Any:
    kind = rnd.randrange(6)
    if kind == 0:
        return rnd.choice(HOSTILE_STRINGS)
    if kind == 1:
        return rnd.choice(HOSTILE_NUMBERS)
    if kind == 2:
        return [rnd.choice(HOSTILE_STRINGS + HOSTILE_NUMBERS) for _ in range(rnd.randrange(4))]
    if kind == 3:
        return {rnd.choice(["a", "b", "\x1b", "name"]): rnd.choice(HOSTILE_STRINGS + HOSTILE_NUMBERS)}
    if kind == 4:
        depth = rnd.choice([5, 40, 120, 600])
        if toml:
            return deep_toml(depth, rnd.choice(["list", "table"]))
        return rnd.choice([deep_list, deep_dict])(depth)
    return None


# -- TOML writing (enough for generated configs) ---------------------------

def toml_value(v: Any) -> str:
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        # JSON escapes are TOML basic-string escapes. A lone surrogate has no
        # TOML spelling: it stays raw, and the file, written with
        # "surrogatepass", is then invalid UTF-8: one more thing to reject.
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    if v is None:
        return '""'
    raise TypeError(type(v))


def toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


def toml_dumps(data: dict[str, Any]) -> str:
    lines = []
    for name, value in data.items():
        if not isinstance(value, (dict, list)) or (isinstance(value, list) and not all(
                isinstance(x, dict) for x in value)) or value == []:
            lines.append(f"{toml_key(name)} = {toml_value(value)}")
    for name, value in data.items():
        if isinstance(value, dict):
            lines.append(f"[{toml_key(name)}]")
            lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()]
        elif isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
            for item in value:
                lines.append(f"[[{toml_key(name)}]]")
                lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


# -- recorded scenarios as one facts document --------------------------------

def scenarios() -> list[tuple[str, str, dict]]:
    """(check, scenario, recorded dict) for every recorded scenario."""
    from diagnose.registry import Registry

    names = set(Registry.discover().checks)
    out = []
    for folder in sorted(DATA.iterdir()):
        if folder.name not in names:
            continue
        for p in sorted(folder.glob("*.json")):
            out.append((folder.name, p.stem, json.loads(p.read_text())))
    return out


def facts_document(check: str, scenario: dict, registry: Any) -> dict[str, Any]:
    """A diagnose.facts/1 document holding one recorded scenario."""
    c = registry.checks[check]
    section = scenario.get("config", {})
    return {"schema": "diagnose.facts/1", "tool": {"name": "diagnose", "version": "0.1.0"},
            "host": "cc-srv01", "site": "Sales office", "role": "both",
            "started": "2026-11-22T07:00:00+00:00", "duration_s": 0.5, "config_digest": "",
            "config": {c.section: section} if section else {},
            "checks": {check: {"state": "ran", "facts": scenario["facts"], "error": None,
                               "skipped": None, "duration_s": 0.01}}}


# -- well-formed output ----------------------------------------------------------

_RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
NAGIOS_FIRST = re.compile(r"^DIAGNOSE (OK|WARNING|CRITICAL|UNKNOWN) - [^|\n]*( \| (?P<perf>[^|\n]*))?$")
# 'label'=value[UOM];[warn];[crit];[min];[max], trailing fields optional
PERF = re.compile(r"^(?:'[^'=]+'|[^'= ]+)=-?[0-9.]+(?:[a-zA-Z%]*)(?:;[-0-9.:~@]*){0,4}$")


def _strict_json(text: str) -> Any:
    def no_constant(name: str) -> Any:
        raise ValueError(f"JSON output holds {name}")
    return json.loads(text, parse_constant=no_constant)


def assert_well_formed(fmt: str, text: str) -> None:
    """The checks of the module docstring for one rendered output."""
    assert isinstance(text, str)
    text.encode("utf-8")  # printable: no lone surrogate
    if fmt == "json":
        doc = _strict_json(text)
        assert doc["schema"] == "diagnose.report/1"
    elif fmt == "junit":
        ET.fromstring(text.encode("utf-8"))
    elif fmt == "prometheus":
        from prometheus_client.parser import text_string_to_metric_families

        assert list(text_string_to_metric_families(text))
    elif fmt == "nagios":
        first = text.split("\n", 1)[0]
        m = NAGIOS_FIRST.match(first)
        assert m, f"nagios first line: {first[:200]!r}"
        for item in (m.group("perf") or "").split():
            assert PERF.match(item), f"perfdata {item!r}"
        assert not _RAW_CONTROL.search(text), "raw control character in nagios output"
    elif fmt in ("text", "html"):
        assert not _RAW_CONTROL.search(text), f"raw control character in {fmt} output: " \
            f"{_RAW_CONTROL.search(text).group()!r}"


def render_all(report: Any) -> dict[str, str]:
    """Every format, rendered as the CLI would without a terminal."""
    out = {}
    for fmt in FORMATS:
        opts: dict[str, Any] = {}
        if fmt == "text":
            opts = {"colour": False, "unicode": True, "verbose": True, "quiet": False}
        out[fmt] = render(report, fmt, **opts)
        assert_well_formed(fmt, out[fmt])
    return out
