"""Timing helpers shared by the benchmark scripts: wall-clock medians of
whole commands, the way a user experiences them."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from typing import Sequence


def diagnose_exe() -> str:
    """The installed console script next to this interpreter (not a pyenv
    shim, whose own start-up would be measured otherwise)."""
    path = os.path.join(os.path.dirname(sys.executable), "diagnose")
    return path if os.path.exists(path) else "diagnose"


def time_cmd(argv: Sequence[str], runs: int = 11, warmup: int = 2, env: dict | None = None,
             ok_codes: Sequence[int] = (0, 1, 2, 3)) -> float:
    """Median seconds of *runs* executions of *argv* (after *warmup*)."""
    full_env = dict(os.environ, **(env or {}))
    samples = []
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=full_env)
        dt = time.perf_counter() - t0
        if proc.returncode not in ok_codes:
            raise RuntimeError(f"{argv} exited {proc.returncode}: {proc.stderr.decode()[-500:]}")
        if i >= warmup:
            samples.append(dt)
    return statistics.median(samples)


def time_fn(fn, runs: int = 5, warmup: int = 1) -> float:
    samples = []
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        fn()
        if i >= warmup:
            samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def row(what: str, ours: float, theirs: float | None = None, their_name: str = "",
        target: str = "") -> None:
    """Print one figure: ours, the other tool's, the ratio, and the target."""
    line = f"{what:<48} diagnose {ours * 1000:8.1f} ms"
    if theirs is not None:
        line += f"   {their_name} {theirs * 1000:8.1f} ms   ratio {ours / theirs:5.2f}x"
    if target:
        line += f"   (target {target})"
    print(line, flush=True)
