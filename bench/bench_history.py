#!/usr/bin/env python3
"""What the run history costs a run, side by side with the same run without it.

A history database holding 400 days of nightly runs of 50 findings (10
persistent problems, 5 flapping, 35 fine: 20,000 finding rows) sits in a
temporary state directory. Then the same command, a check with those 50
findings, runs alternately

- with history: it reads the context (the last 30 runs of the check, the
  tracked findings), marks the findings, and appends its own run, and
- without it (``[history] enabled = false``),

as a user runs it (a new process each time). Printed: the medians, the extra
cost per run in milliseconds, and the ratio (target <= 1.1x). Then the
history part alone, in process (context + marks + record), for the same run.

Usage: ``python3 bench/bench_history.py [--runs N]``. Everything is made under
/tmp and deleted at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import common  # noqa: E402,F401  (a private DIAGNOSE_STATE_DIR for every diagnose run below)

from tests.rigs.history import make_lines_plugin  # noqa: E402

FINDINGS = 50
DAYS = 400


def states(day: int) -> list[str]:
    """The lines file of night *day*: 10 persistent warnings, 5 alternating, 35 ok."""
    return ["warn"] * 10 + [("warn" if day % 2 else "ok")] * 5 + ["ok"] * (FINDINGS - 15)


def populate(state: Path, site: str) -> float:
    """400 nights of history, recorded by the real code in process (the
    runs' clock injected). Returns the seconds it took."""
    sys.path.insert(0, site)
    import dg_lines_plugin  # noqa: F401  (the plugin module, made just now)

    from diagnose.config import load
    from diagnose.registry import Registry
    from diagnose.runner import Collected, Collection, evaluate
    from diagnose.state.session import HistorySession

    os.environ["DIAGNOSE_STATE_DIR"] = str(state)
    check = dg_lines_plugin.Lines()
    registry = Registry.of(check)
    config = load(None, registry.schemas(), set())
    start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(days=DAYS)
    t0 = time.perf_counter()
    for day in range(DAYS):
        when = start + dt.timedelta(days=day, hours=-22)
        col = Collection("bench-host", "", "server", when.isoformat(), 0.1, {}, "")
        s = states(day)
        col.results[check.name] = Collected(check.name, "ran", {"states": s,
                                                                "values": [float(i) for i in range(len(s))]})
        session = HistorySession.begin(config, registry, "live")
        session.attach(col)
        session.finish(evaluate(registry, col, config), col)
    return time.perf_counter() - t0


def timed(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    elapsed = time.perf_counter() - t0
    if proc.returncode not in (0, 1, 2):
        raise RuntimeError(f"{argv} exited {proc.returncode}: {proc.stderr.decode()[-400:]}")
    return elapsed


def in_process(state: Path, site: str, repeat: int) -> tuple[float, float]:
    """Median seconds of judging the 50 findings, and of the history part
    (begin + attach + finish) for the same run, in this process."""
    import dg_lines_plugin

    from diagnose.config import load
    from diagnose.registry import Registry
    from diagnose.runner import Collected, Collection, evaluate
    from diagnose.state.session import HistorySession

    check = dg_lines_plugin.Lines()
    registry = Registry.of(check)
    config = load(None, registry.schemas(), set())
    judge, hist = [], []
    for i in range(repeat):
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        col = Collection("bench-host", "", "server", now.isoformat(), 0.1, {}, "")
        s = states(DAYS + i)
        col.results[check.name] = Collected(check.name, "ran", {"states": s,
                                                                "values": [float(i) for i in range(len(s))]})
        t0 = time.perf_counter()
        report = evaluate(registry, col, config)
        t1 = time.perf_counter()
        session = HistorySession.begin(config, registry, "live")
        session.attach(col)
        session.finish(report, col)
        t2 = time.perf_counter()
        judge.append(t1 - t0)
        hist.append(t2 - t1)
    return statistics.median(judge), statistics.median(hist)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix=f"dghist-bench-{os.getpid()}-"))
    try:
        site = make_lines_plugin(work)
        lines = work / "lines.txt"
        lines.write_text("\n".join(states(DAYS)) + "\n")
        state = work / "state"
        took = populate(state, site)
        db = state / "history.db"
        print(f"history: {DAYS} nightly runs x {FINDINGS} findings recorded in {took:.1f} s; "
              f"{db.stat().st_size / 1e6:.1f} MB")
        with_cfg = work / "with.toml"
        without_cfg = work / "without.toml"
        base = f'[site]\nrole = "server"\n\n[lines]\nfile = "{lines}"\n'
        with_cfg.write_text(base)
        without_cfg.write_text(base + "\n[history]\nenabled = false\n")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, site]),
                   DIAGNOSE_STATE_DIR=str(state))
        run = [sys.executable, "-m", "diagnose", "run", "--only", "demo.lines", "--format", "json",
               "--config"]
        for cfg in (with_cfg, without_cfg):  # warm the page cache and the interpreter's files
            timed(run + [str(cfg)], env)
        a, b = [], []
        for _ in range(args.runs):  # alternate, so other load on the machine hits both alike
            a.append(timed(run + [str(with_cfg)], env))
            b.append(timed(run + [str(without_cfg)], env))
        ma, mb = statistics.median(a), statistics.median(b)
        print(f"\n1. diagnose run, {FINDINGS} findings, whole command (medians of {args.runs}, alternating)")
        print(f"  {'with history (400 days in the database)':<44} {ma * 1000:8.1f} ms  (min {min(a) * 1000:.1f})")
        print(f"  {'without history ([history] enabled = false)':<44} {mb * 1000:8.1f} ms  (min {min(b) * 1000:.1f})")
        print(f"  extra cost per run: {(ma - mb) * 1000:+.1f} ms   ratio with/without: {ma / mb:.2f}x "
              "(target <= 1.1x)")
        judge, hist = in_process(state, site, args.runs)
        print(f"\n2. in process, the same run: judging {judge * 1000:.1f} ms, history "
              f"(context + marks + record) {hist * 1000:.1f} ms")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
