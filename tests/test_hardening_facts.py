"""A facts file is untrusted input (--from-facts): every malformation is a
clear message naming the field, exit 3, never a traceback; and a fuzz of
mutated recorded scenarios, judged and rendered in every format, that
stays well-formed (strict JSON, JUnit parses, Prometheus parses, the
Nagios first line per the plugin guidelines, no raw control character)."""

from __future__ import annotations

import copy
import json
import random
import time

import pytest

from diagnose.factsfile import FactsError, parse, validate
from diagnose.registry import Registry
from diagnose.reports import FORMATS
from diagnose.runner import Collection, config_from_facts, evaluate
from tests.conftest import run_cli
from tests.fuzzkit import (FORGED, HOSTILE_NUMBERS, HOSTILE_STRINGS, assert_well_formed, deep_dict, deep_list,
                           facts_document, render_all, scenarios)

REG = Registry.discover()
SCENARIOS = scenarios()
DEADLINE_S = 10.0  # per case; each takes milliseconds


def doc(check: str = "disk.space") -> dict:
    name, _, sc = next(s for s in SCENARIOS if s[0] == check)
    return copy.deepcopy(facts_document(name, sc, REG))


def malformed():
    cases = []

    def case(cid, change, words):
        d = doc()
        result = change(d)
        d = result if isinstance(result, list) else d  # only "a list instead of an object" replaces it
        cases.append(pytest.param(d, words, id=cid))

    case("list-not-object", lambda d: [d], "holds a list, not a facts object")
    case("checks-not-mapping", lambda d: d.update(checks=["disk.space"]), "checks: must be an object")
    case("check-entry-string", lambda d: d["checks"].update({"disk.space": "ran"}),
         'checks["disk.space"]: must be an object')
    case("config-string", lambda d: d.update(config="[disk]"), "config: must be an object")
    case("config-section-list", lambda d: d.update(config={"disk": [1]}), "config.disk: must be an object")
    case("host-not-string", lambda d: d.update(host=42), "host: must be a string")
    case("started-not-string", lambda d: d.update(started=["2026"]), "started: must be a string")
    case("started-missing", lambda d: d.pop("started"), "started: missing")
    case("duration-not-number", lambda d: d.update(duration_s="fast"), "duration_s: must be a number")
    case("check-duration-negative", lambda d: d["checks"]["disk.space"].update(duration_s=-1),
         'checks["disk.space"].duration_s')
    case("error-not-string", lambda d: d["checks"]["disk.space"].update(state="error", error=["boom"]),
         'checks["disk.space"].error: must be a string or null')
    case("skip-not-string", lambda d: d["checks"]["disk.space"].update(state="skipped", skipped={"a": 1}),
         'checks["disk.space"].skipped: must be a string or null')
    case("state-unknown", lambda d: d["checks"]["disk.space"].update(state="maybe"), "must be one of")
    case("ran-without-facts", lambda d: d["checks"]["disk.space"].update(facts=None), "no facts")
    case("lone-surrogate-host", lambda d: d.update(host="cc-\ud800"), "host: holds a lone surrogate")
    case("lone-surrogate-deep", lambda d: d["checks"]["disk.space"]["facts"].update(x=["\udfff"]),
         "lone surrogate")
    case("wrong-schema", lambda d: d.update(schema="diagnose.report/1"), "not a diagnose facts file")
    case("too-deep", lambda d: d["checks"]["disk.space"]["facts"].update(x=deep_list(100)), "nested more than")
    return cases


@pytest.mark.parametrize("document, words", malformed())
def test_malformed_facts_file_exit_3_naming_the_field(tmp_path, document, words):
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(document))
    done = run_cli("run", "--from-facts", str(path), "--format", "json")
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert f"cannot use facts file {path}: " in done.stderr and words in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "\ud800" not in done.stderr  # shown escaped, printable


@pytest.mark.parametrize("raw, words", [
    (b'{"schema": "diagnose.facts/1", "host": NaN}', "NaN is not JSON"),
    (b'{"schema": ', "not JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
])
def test_facts_file_that_is_not_strict_json(raw, words):
    with pytest.raises(FactsError) as exc:
        validate(parse(raw))
    assert words in str(exc.value)


def test_null_config_is_judged_with_defaults_and_a_bad_config_value_is_named(tmp_path):
    d = doc()
    d["config"] = None
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(d))
    done = run_cli("run", "--from-facts", str(path), "--format", "json")
    assert done.returncode in (0, 1, 2), done.stderr
    d["config"] = {"disk": {"warn_free_percent": "lots", "new_key_of_a_later_version": 1}}
    path.write_text(json.dumps(d))
    done = run_cli("run", "--from-facts", str(path))
    assert done.returncode == 3 and "its config: [disk] warn_free_percent must be a number" in done.stderr


def test_a_fifo_as_facts_file_is_refused_not_waited_for(tmp_path):
    import os

    fifo = tmp_path / "facts.fifo"
    os.mkfifo(fifo)
    done = run_cli("run", "--from-facts", str(fifo), timeout=30)
    assert done.returncode == 3 and "not a regular file" in done.stderr


# -- the fuzz ------------------------------------------------------------------------

def _paths(value, path=()):
    """Every (container, key) inside a JSON value."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield value, k
            yield from _paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield value, i
            yield from _paths(v, path + (i,))


def hostile(rnd: random.Random):
    kind = rnd.randrange(7)
    if kind == 0:
        return rnd.choice(HOSTILE_STRINGS)
    if kind == 1:
        return rnd.choice([n for n in HOSTILE_NUMBERS if not isinstance(n, float) or n == n and abs(n) != float("inf")])
    if kind == 2:
        return rnd.choice([None, [], {}, True, "", 0])
    if kind == 3:
        return rnd.choice([deep_list(20), deep_dict(20)])
    if kind == 4:
        return [rnd.choice(HOSTILE_STRINGS) for _ in range(rnd.randrange(1, 5))]
    if kind == 5:
        return {FORGED: FORGED, "path": FORGED, "mountpoint": "/srv/" + FORGED}
    return FORGED


def mutate_facts(d: dict, rnd: random.Random) -> dict:
    facts = next(iter(d["checks"].values()))["facts"]
    spots = list(_paths(facts))
    for _ in range(rnd.randint(1, 6)):
        if not spots:
            break
        container, key = rnd.choice(spots)
        op = rnd.randrange(4)
        if op == 0 and isinstance(container, dict):
            container.pop(key, None)
        elif op == 1 and isinstance(container.get(key) if isinstance(container, dict) else container[key], str):
            container[key] = rnd.choice([FORGED, "x" * 100_000, "\x1b]0;pwned\x07", "password=S3cr3t-Fuzz"])
        else:
            container[key] = hostile(rnd)
        spots = list(_paths(facts))
    if rnd.random() < 0.2:
        d[rnd.choice(["host", "site", "role", "started"])] = rnd.choice([FORGED, "x" * 5000, "\u202e"])
    return d


def test_facts_fuzz_mutated_recorded_scenarios_in_every_format():
    rnd = random.Random(18)
    runs = errors = 0
    for check, name, sc in SCENARIOS:
        for k in range(4):
            d = mutate_facts(copy.deepcopy(facts_document(check, sc, REG)), rnd)
            t0 = time.monotonic()
            try:
                col = Collection.from_dict(json.loads(json.dumps(d)))
                config = config_from_facts(col, REG)
            except (FactsError, Exception) as exc:  # noqa: BLE001 - only these two are allowed
                from diagnose.config import ConfigError

                assert isinstance(exc, (FactsError, ConfigError)), f"{check}/{name}#{k}: {exc!r}"
                continue
            report = evaluate(REG, col, config)
            outputs = render_all(report)  # asserts every format well-formed
            assert report.exit_code() in (0, 1, 2, 3)
            assert "S3cr3t-Fuzz" not in "".join(outputs.values())
            errors += report.exit_code() == 3
            runs += 1
            assert time.monotonic() - t0 < DEADLINE_S, f"{check}/{name}#{k} took too long"
    assert runs >= 2 * len(SCENARIOS), runs  # the rest were refused by the schema, as they should be


@pytest.mark.parametrize("i", range(0, 12))
def test_facts_fuzz_sample_through_the_real_cli(tmp_path, i):
    check, name, sc = SCENARIOS[(i * 37) % len(SCENARIOS)]
    d = mutate_facts(copy.deepcopy(facts_document(check, sc, REG)), random.Random(i))
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(d))
    fmt = FORMATS[i % len(FORMATS)]
    done = run_cli("run", "--from-facts", str(path), "--format", fmt, "-v", timeout=60)
    assert done.returncode in (0, 1, 2, 3, 4) and "Traceback" not in done.stderr, done.stderr
    if done.stdout:
        assert_well_formed(fmt, done.stdout)
        if fmt == "prometheus":
            import subprocess

            check_metrics = subprocess.run(["promtool", "check", "metrics"], input=done.stdout,
                                           capture_output=True, text=True, timeout=30)
            assert "error" not in (check_metrics.stdout + check_metrics.stderr).lower(), check_metrics.stderr
    assert "S3cr3t-Fuzz" not in done.stdout + done.stderr
