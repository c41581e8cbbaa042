"""Seat reports for site-level tests, made the way an agent makes them: the
real judges on recorded facts (tests/data/<check>/<scenario>.json), the real
runner's evaluate(), a ``seat`` object beside it. Broker messages and report
directories are then built from these documents."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from diagnose.config import load
from diagnose.fleet.collect import Gathered, add_message
from diagnose.fleet.settings import Fleet, resolve
from diagnose.registry import Registry
from diagnose.runner import Collected, Collection, evaluate
from tests.conftest import DATA

REGISTRY = Registry.discover()
SITE_ID = "sales-office"


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).replace(microsecond=0).isoformat()


def seat_report(name: str, scenarios: dict[str, str], seat: dict[str, Any] | None = None,
                started: float | None = None) -> dict[str, Any]:
    """A ``diagnose.report/1`` of *name* judged from recorded scenarios
    (check -> scenario name), with its seat object."""
    config = load(None, REGISTRY.schemas(), REGISTRY.multi_sections())
    col = Collection(name, "Sales office", "workstation", iso(started or time.time()), 0.4, {}, "")
    for check, scenario in scenarios.items():
        rec = json.loads((DATA / check / f"{scenario}.json").read_text())
        section = REGISTRY.checks[check].section
        config.sections[section] = dict(config.section(section), **rec.get("config", {}))
        config.present.add(section)
        col.results[check] = Collected(check, "ran", rec["facts"])
    doc = evaluate(REGISTRY, col, config).to_dict()
    doc["seat"] = {"name": name, "switch": "", "port": "", "subnet": "198.51.100.0/24", "room": "",
                   "gateway_mac": "02:00:00:00:00:01", "located_by": "subnet", "interval_s": 60, **(seat or {})}
    return doc


def fleet(**fleet_keys: Any) -> Fleet:
    config = load(None, REGISTRY.schemas(), REGISTRY.multi_sections())
    config.sections["site"] = dict(config.section("site"), name="Sales office")
    keys = dict(broker="mqtt://127.0.0.1:1883", site_id=SITE_ID, interval="60s", keepalive_s=10)
    keys.update(fleet_keys)
    config.sections["fleet"] = dict(config.section("fleet"), **keys)
    config.present |= {"site", "fleet"}
    return resolve(config)


def gathered(f: Fleet, seats: dict[str, dict[str, Any]], encode: bool = False) -> Gathered:
    """Broker messages for each seat: ``{"report": doc|bytes, "state": ..., "seen": ts}``."""
    g = Gathered(source=str(f.broker), encode=encode)
    for name, s in seats.items():
        report = s.get("report")
        if report is not None:
            payload = report if isinstance(report, bytes) else json.dumps(report).encode()
            add_message(g, f, f"diagnose/{SITE_ID}/{name}/report", payload)
        state = s.get("state", "online")
        status = {"state": state, "time": iso(s.get("seen", time.time())) if state == "online" else None}
        if s.get("reason"):
            status["reason"] = s["reason"]
        add_message(g, f, f"diagnose/{SITE_ID}/{name}/status", json.dumps(status).encode())
        add_message(g, f, f"diagnose/{SITE_ID}/{name}/seen", json.dumps({"time": iso(s.get("seen", time.time()))}).encode())
    return g
