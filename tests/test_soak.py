"""Soak: a healthy server stays healthy under load, run after run.

The full server of tests/rigs/server.py (SQLite, PostgreSQL with amcheck,
MariaDB, the call-center service, its network link and a sipp gateway) is
checked by the real CLI again and again while busy loops hold every core
and dd keeps the disk writing. Every run must end with exit 0 and an ok
verdict: a busy machine is not a faulty one. 3 runs by default;
DIAGNOSE_SOAK_RUNS=30 for the long soak.
"""

from __future__ import annotations

import json
import os

from tests.conftest import needs_root, run_cli
from tests.rigs.server import full_server, load  # noqa: F401 - fixtures

pytestmark = needs_root
RUNS = int(os.environ.get("DIAGNOSE_SOAK_RUNS") or 3)
CHECKS = ("network.connectivity", "disk.space", "database.integrity", "application.services", "gateway.power")


def _run(rig) -> tuple[int, dict]:
    got = run_cli("run", "--config", str(rig.config()), "--format", "json", prefix=rig.prefix, timeout=180)
    assert got.stdout, got.stderr
    return got.returncode, json.loads(got.stdout)


def _problems(report: dict) -> list[str]:
    out = [f"{f['id']}: {f['status']} {f['title']}" for f in report["findings"]
           if f["status"] not in ("ok", "skip")]
    out += [f"{c['name']}: {c['status']} {c.get('error') or ''}" for c in report["checks"]
            if c["status"] == "error"]
    return out


def test_the_healthy_server_is_healthy(full_server):
    rc, report = _run(full_server)
    assert rc == 0, _problems(report)
    ran = {c["name"]: c["status"] for c in report["checks"]}
    for name in CHECKS:
        assert ran.get(name) == "ok", (name, ran.get(name), _problems(report))
    assert report["verdict"]["headline"].startswith("All checks passed")


def test_the_healthy_server_stays_healthy_under_cpu_and_disk_load(full_server, load):
    results = []
    for n in range(RUNS):
        rc, report = _run(full_server)
        results.append((n + 1, rc, _problems(report)))
        print(f"soak run {n + 1}/{RUNS}: exit {rc}", _problems(report) or "")
    failed = [r for r in results if r[1] != 0]
    assert not failed, f"{len(failed)} of {RUNS} runs under load were not exit 0: {failed}"
