"""Conformance: every registered check, built-in or third-party, honours the
check contract (sos's conformance_tests.py in spirit).

For each check: metadata is complete; every recorded scenario under
tests/data/<check>/ round-trips through JSON, is judged deterministically,
meets its expectations, and every problem finding carries a fault domain,
a reason and a remedy.
"""

from __future__ import annotations

import json

import pytest

from diagnose.check import Check, Key, Needs, section_config
from diagnose.model import Finding, Status
from diagnose.registry import Registry
from tests.conftest import DATA

REGISTRY = Registry.discover()
BUILTINS = {"disk.space", "database.integrity", "application.services", "network.connectivity",
            "headset.presence", "audio.settings", "bluetooth.interference", "gateway.power",
            "telephony.card"}
SCENARIOS = [(name, p) for name in sorted(REGISTRY.checks)
             for p in sorted((DATA / name).glob("*.json"))]


def test_built_in_checks_are_registered_and_load():
    assert REGISTRY.broken == {}
    assert BUILTINS <= set(REGISTRY.checks), f"missing: {BUILTINS - set(REGISTRY.checks)}"


@pytest.mark.parametrize("name", sorted(REGISTRY.checks))
def test_metadata(name):
    check = REGISTRY.checks[name]
    assert isinstance(check, Check)
    assert check.name == name and "." in name
    assert check.summary and len(check.summary) < 120
    assert check.section, "every built-in check reads a config section"
    assert isinstance(check.needs, Needs)
    assert check.needs.role in ("any", "server", "workstation")
    assert check.timeout > 0
    for key, spec in check.schema.items():
        assert isinstance(spec, Key), key
        assert spec.doc, f"{name}: key {key} has no doc"
    assert type(check).probe is not Check.probe and type(check).judge is not Check.judge
    assert list((DATA / name).glob("*.json")), f"{name} has no recorded scenario under tests/data/{name}/"


@pytest.mark.parametrize("name,path", SCENARIOS, ids=[f"{n}/{p.stem}" for n, p in SCENARIOS])
def test_judge_handles_recorded_scenario(name, path):
    check = REGISTRY.checks[name]
    scenario = json.loads(path.read_text())
    assert scenario.get("description"), f"{path} says nothing about what it records"
    facts = scenario["facts"]
    assert json.loads(json.dumps(facts)) == facts  # facts are plain JSON
    cfg = section_config(check, scenario.get("config", {}))
    findings = check.judge(json.loads(json.dumps(facts)), cfg)
    again = check.judge(json.loads(json.dumps(facts)), cfg)
    assert [f.to_dict() for f in findings] == [f.to_dict() for f in again], "judge is not deterministic"
    assert findings, "a judge reports at least one finding, an ok one included"
    ids = [f.id for f in findings]
    assert len(ids) == len(set(ids)), f"duplicate finding ids: {ids}"
    for f in findings:
        assert isinstance(f, Finding)
        assert f.check == name
        assert f.title and f.subject
        assert f.evidence, f"{f.id}: no evidence"
        json.dumps(f.to_dict())
        if f.status.is_problem:
            assert f.fault is not None
            assert f.detail, f"{f.id}: problem without detail"
            assert f.remedy, f"{f.id}: problem without remedy"
        for cid in f.caused_by:
            assert cid in ids, f"{f.id} caused by unknown {cid}"
    for exp in scenario.get("expect", []):
        match = [f for f in findings if f.subject == exp["subject"]] if "subject" in exp else findings
        assert match, f"no finding about {exp.get('subject')}; got {ids}"
        f = max(match, key=lambda x: x.status)
        if "status" in exp:
            assert f.status is Status.parse(exp["status"]), f"{f.id}: {f.status} {f.title}"
        if "fault" in exp:
            assert (f.fault.value if f.fault else None) == exp["fault"], f"{f.id}: {f.fault}"
        if "title_contains" in exp:
            assert exp["title_contains"].lower() in f.title.lower(), f.title
        if "caused_by" in exp:
            assert f.caused_by == exp["caused_by"]
