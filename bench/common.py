"""Timing helpers shared by the benchmark scripts: wall-clock medians of
whole commands, the way a user experiences them. Two commands compared are
run alternately (A, B, A, B ...) by :func:`time_pair`, so that other load on
the machine hits both alike; a Python floor is measured on the interpreter
the ``diagnose`` script really runs on (:func:`interpreter_of`).

Importing this module also points ``DIAGNOSE_STATE_DIR`` at a private
temporary folder (removed at exit) unless the caller set one: a benchmark
that runs ``diagnose`` must never write history or baselines into the real
``/var/lib/diagnose`` of the machine it measures."""

from __future__ import annotations

import atexit
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Sequence


def _private_state_dir() -> None:
    if os.environ.get("DIAGNOSE_STATE_DIR"):
        return
    path = tempfile.mkdtemp(prefix="diagnose-bench-state-")
    os.environ["DIAGNOSE_STATE_DIR"] = path
    atexit.register(shutil.rmtree, path, True)


_private_state_dir()


def diagnose_exe() -> str:
    """The installed console script next to this interpreter (not a pyenv
    shim, whose own start-up would be measured otherwise)."""
    path = os.path.join(os.path.dirname(sys.executable), "diagnose")
    return path if os.path.exists(path) else "diagnose"


def time_cmd(argv: Sequence[str], runs: int = 11, warmup: int = 2, env: dict | None = None,
             ok_codes: Sequence[int] = (0, 1, 2, 3)) -> float:
    """Median seconds of *runs* executions of *argv* (after *warmup*); for a
    comparison use :func:`time_pair`, which alternates."""
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


def interpreter_of(exe: str) -> str:
    """The interpreter a console script's ``#!`` line names (else this one)."""
    try:
        with open(exe, "rb") as fh:
            first = fh.readline().decode("utf-8", "replace").strip()
    except OSError:
        return sys.executable
    if first.startswith("#!"):
        parts = first[2:].split()
        if parts and os.path.basename(parts[0]) == "env" and len(parts) > 1:
            return parts[1]
        if parts:
            return parts[0]
    return sys.executable


def _once(argv: Sequence[str], env: dict, ok_codes: Sequence[int]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    dt = time.perf_counter() - t0
    if proc.returncode not in ok_codes:
        raise RuntimeError(f"{argv} exited {proc.returncode}: {proc.stderr.decode()[-500:]}")
    return dt


def time_pair(a: Sequence[str], b: Sequence[str], runs: int = 11, warmup: int = 2,
              env: dict | None = None, env_b: dict | None = None,
              ok_codes: Sequence[int] = (0, 1, 2, 3)) -> tuple[float, float]:
    """Median seconds of *a* and of *b*, run alternately run by run."""
    env_a = dict(os.environ, **(env or {}))
    env_b = dict(os.environ, **(env_b if env_b is not None else env or {}))
    sa, sb = [], []
    for i in range(warmup + runs):
        ta = _once(a, env_a, ok_codes)
        tb = _once(b, env_b, ok_codes)
        if i >= warmup:
            sa.append(ta)
            sb.append(tb)
    return statistics.median(sa), statistics.median(sb)


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
