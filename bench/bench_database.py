#!/usr/bin/env python3
"""Benchmark: database.integrity's SQLite probe against the sqlite3 CLI.

Generates a ~200 MB call-center SQLite file (calls with two indexes), then
times, side by side on the same file with a warm page cache:

  - the probe of database.integrity (read-only open, header, integrity_check)
  - ``sqlite3 FILE 'PRAGMA integrity_check;'``, what a technician would run

and prints the medians, the ratio (target <= 1.1x) and the throughput that
sets FULL_CHECK_BYTES_PER_S in checks/db_sqlite.py. Standalone:
``python3 bench/bench_database.py [--mb 200] [--runs 5]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import row  # noqa: E402
from diagnose.checks.database.check import DatabaseIntegrity  # noqa: E402
from diagnose.check import section_config  # noqa: E402
from diagnose.host import Host  # noqa: E402


def generate(path: str, mb: int) -> None:
    rows = mb * 1000 * 1000 // 173  # about 173 bytes per row with its index entries
    conn = sqlite3.connect(path)
    conn.executescript("""
        PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA page_size = 4096;
        CREATE TABLE calls (id INTEGER PRIMARY KEY, agent INTEGER, started TEXT, caller TEXT, note TEXT);
    """)
    conn.executemany("INSERT INTO calls(agent, started, caller, note) VALUES (?, ?, ?, ?)",
                     ((i % 500, f"2026-{1 + i % 12:02d}-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}",
                       f"+7495{i * 7919 % 10000000:07d}", f"call {i} " + "n" * (40 + i % 40))
                      for i in range(rows)))
    conn.executescript("CREATE INDEX calls_agent ON calls(agent, started); "
                       "CREATE INDEX calls_caller ON calls(caller);")
    conn.commit()
    conn.close()


def time_probe(path: str) -> float:
    check = DatabaseIntegrity()
    cfg = section_config(check, {"items": [{"name": "bench", "url": f"sqlite:///{path}", "budget_s": 3600}]})
    t0 = time.perf_counter()
    facts = check.probe(Host("/"), cfg)
    dt = time.perf_counter() - t0
    db = facts["databases"][0]
    assert db["verified"]["check"] == "integrity_check" and not db["problems"], db
    return dt


def time_cli(path: str) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(["sqlite3", path, "PRAGMA integrity_check;"], capture_output=True, text=True)
    dt = time.perf_counter() - t0
    assert res.stdout.strip() == "ok", res.stdout + res.stderr
    return dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    if not shutil.which("sqlite3"):
        print("sqlite3 CLI not found: apt-get install sqlite3")
        return 1
    work = tempfile.mkdtemp(prefix=f"dgdb-bench-{os.getpid()}-")
    try:
        path = os.path.join(work, "cc.db")
        t0 = time.perf_counter()
        generate(path, args.mb)
        size = os.path.getsize(path)
        print(f"generated {size / 1e6:.0f} MB in {time.perf_counter() - t0:.1f} s: {path}")
        time_probe(path), time_cli(path)  # warm the page cache for both
        probe, cli = [], []
        for _ in range(args.runs):  # alternate, so drift hits both alike
            probe.append(time_probe(path))
            cli.append(time_cli(path))
        p, c = statistics.median(probe), statistics.median(cli)
        print(f"{'':32}{'median':>10}{'min':>10}{'max':>10}")
        print(f"{'database.integrity probe':32}{p:>9.3f}s{min(probe):>9.3f}s{max(probe):>9.3f}s")
        print(f"{'sqlite3 PRAGMA integrity_check':32}{c:>9.3f}s{min(cli):>9.3f}s{max(cli):>9.3f}s")
        row("SQLite integrity_check, ~200 MB file", p, c, "sqlite3 CLI", "<= 1.1x")
        print(f"integrity_check throughput: {size / p / 1e6:.0f} MB/s (probe), {size / c / 1e6:.0f} MB/s (CLI)")
        return 0 if p / c <= 1.1 else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
