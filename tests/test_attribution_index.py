"""Indexed attribution links exactly what the pairwise comparison linked.

The reference below is the former algorithm (every rule against every pair
of findings), kept here only to compare with. Inputs: the findings the
judges give for every recorded scenario under tests/data/, together, and a
synthetic site of overlapping mounts, databases, files and links. Speed is
measured in bench/bench_engine.py, not here."""

from __future__ import annotations

import copy
import json
import random

import pytest

from diagnose import attribution
from diagnose.attribution import RULES, _ancestors, attribute, matches, order
from diagnose.check import section_config
from diagnose.i18n import _, join
from diagnose.model import Fault, Finding, Status
from diagnose.registry import Registry
from tests.conftest import DATA


def pairwise(findings: list[Finding], rules=RULES) -> list[Finding]:
    by_id = {f.id: f for f in findings}
    why: dict[tuple[str, str], str] = {}
    for effect in findings:
        candidates = [(c.id, rule.why) for rule in rules for c in findings if matches(rule, c, effect)]
        for cid, reason in candidates:
            if cid in effect.caused_by or effect.id in _ancestors(cid, by_id) or cid == effect.id:
                continue
            effect.caused_by.append(cid)
            why[(effect.id, cid)] = reason
    for effect in findings:
        if len(effect.caused_by) > 1:
            ancestors = set().union(*(_ancestors(c, by_id) for c in effect.caused_by))
            effect.caused_by = [c for c in effect.caused_by if c not in ancestors]
        effect.caused_by = [c for c in effect.caused_by if c in by_id]
        for cid in effect.caused_by:
            if (effect.id, cid) in why:
                because = _("Consequence of {cause}: {why}.", cause=cid, why=_(why[(effect.id, cid)]))
                effect.detail = join(" ", [effect.detail, because]) if effect.detail else because
    for f in findings:
        f.consequences = []
    for f in findings:
        for cid in f.caused_by:
            cause = by_id[cid]
            if f.id not in cause.consequences:
                cause.consequences.append(f.id)
    for f in findings:
        if f.caused_by and f.status.is_problem:
            root = attribution.root_of(f, by_id)
            if root.fault is not None:
                f.fault = root.fault
    return order(findings, by_id)


def recorded_findings() -> list[Finding]:
    reg = Registry.discover()
    out, seen = [], set()
    for folder in sorted(p for p in DATA.iterdir() if p.is_dir() and p.name in reg.checks):
        check = reg.checks[folder.name]
        for path in sorted(folder.glob("*.json")):
            scenario = json.loads(path.read_text())
            for f in check.judge(scenario["facts"], section_config(check, scenario.get("config", {}))):
                if f.id not in seen:
                    seen.add(f.id)
                    out.append(f)
    return out


def synthetic(n: int, seed: int) -> list[Finding]:
    rnd = random.Random(seed)
    mounts = ["/", "/srv", "/var", "/home", "/data"]
    files = ["/etc/asterisk/queues.conf", "/etc/dahdi/system.conf", "/etc/asterisk/chan_dahdi.conf"]
    out: list[Finding] = []

    def F(check, subject, **ev):
        status = rnd.choice([Status.FAIL, Status.FAIL, Status.WARN, Status.OK, Status.ERROR])
        fault = None if status is Status.OK else rnd.choice(list(Fault))
        out.append(Finding(check, subject, status, f"{check} {subject}", fault, "why", ev, "fix"))

    for m in mounts:
        F("disk.space", m)
    F("network.connectivity", "eth0", scope="local", interface="eth0")
    F("headset.presence", "seat")
    for i in range(n):
        kind = rnd.randrange(7)
        if kind == 0:
            F("database.integrity", f"db{i}", mount=rnd.choice(mounts))
        elif kind == 1:
            F("application.services", f"svc{i}", mounts=rnd.sample(mounts, 2),
              databases=[f"db{rnd.randrange(n)}"], reason=rnd.choice(["crashed", "stopped", "wrong-port"]))
        elif kind == 2:
            f = rnd.choice(files)
            F("config.drift", f"{f}#{i}", file=f, keys=["rxgain", "strategy"],
              settings=["[general] strategy", "[1] rxgain"], whole_file=rnd.random() < 0.3)
        elif kind == 3:
            F("telephony.card", f"span{i}", file=rnd.choice(files), key="rxgain",
              section=rnd.choice([None, "1"]))
        elif kind == 4:
            F("gateway.power", f"gw{i}", scope=rnd.choice(["remote", "local"]), interface="eth0")
        elif kind == 5:
            F("audio.settings", f"sink{i}", missing_device=rnd.random() < 0.5)
        else:
            F("call.routing", f"q{i % 20}")
            F("queue.kpi", f"q{i % 20}#{i}")
            out[-1].subject = f"q{i % 20}"
    return out


def shape(findings: list[Finding]) -> list[tuple]:
    return [(f.id, list(f.caused_by), list(f.consequences), f.fault, f.detail) for f in findings]


@pytest.mark.parametrize("source", ["recorded", "synthetic-small", "synthetic-large"])
def test_indexed_attribution_equals_pairwise(source):
    if source == "recorded":
        findings = recorded_findings()
    else:
        findings = synthetic(60 if source == "synthetic-small" else 600, seed=len(source))
    a, b = copy.deepcopy(findings), copy.deepcopy(findings)
    got, want = attribute(a), pairwise(b)
    assert shape(got) == shape(want)
    assert any(f.caused_by for f in got), "the inputs link nothing: the comparison proves little"
