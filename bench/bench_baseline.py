#!/usr/bin/env python3
"""Acceptance baseline speed, side by side with ``sha256sum`` over the same
files (what a technician would otherwise run to see whether anything
changed).

A tree of 500 watched configuration files (Asterisk-like ini files of 0.5 to
8 KB, some with secrets) is generated under /tmp. Measured, as whole
commands, runs alternating between the two sides so that other load on the
machine hits both alike; figures are medians:

1. ``diagnose baseline record`` vs ``sha256sum`` of the 500 files;
2. ``diagnose run --only config.drift`` on the unchanged tree (every file
   answered from its stat) vs ``sha256sum``;
3. the same after ``touch`` of every file (every file re-read and hashed,
   nothing changed) vs ``sha256sum``;
4. the same after 10 files were edited (10 diffs and who-changed lookups).

Then the in-process cost of the drift probe alone (no interpreter start).
Usage: ``python3 bench/bench_baseline.py [--runs N] [--files N]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.common import diagnose_exe, row, time_fn  # noqa: E402


def make_tree(base: str, files: int) -> list[str]:
    paths = []
    for i in range(files):
        d = os.path.join(base, "etc", "site", f"group{i % 20:02d}")
        os.makedirs(d, exist_ok=True)
        p = os.path.join(d, f"conf{i:03d}.conf")
        lines = [f"; generated config {i}", "[general]", f"context=from-pstn-{i}", "[channels]"]
        n = 20 + (i * 37) % 400
        for k in range(n):
            lines.append(f"key{k}={(i * k) % 997}.0 ; setting {k}")
        if i % 10 == 0:
            lines.append(f"secret=pw-{i}-{i * 7919}")
        with open(p, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        paths.append(p)
    os.makedirs(os.path.join(base, "var", "log"), exist_ok=True)
    return paths


def alternate(ours: list[str], theirs: list[str], runs: int, env: dict, before=None) -> tuple[float, float]:
    a, b = [], []
    for _ in range(runs):
        for argv, out in ((ours, a), (theirs, b)):
            if before:
                before()
            t0 = time.perf_counter()
            proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
            out.append(time.perf_counter() - t0)
            if proc.returncode not in (0, 1, 2):
                raise RuntimeError(f"{argv[:4]} exited {proc.returncode}: {proc.stderr.decode()[-400:]}")
    return statistics.median(a), statistics.median(b)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--files", type=int, default=500)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="dg-bench-baseline-")
    try:
        tree = os.path.join(work, "tree")
        paths = make_tree(tree, args.files)
        cfg = os.path.join(work, "site.toml")
        with open(cfg, "w") as fh:
            fh.write('[site]\nrole = "server"\n\n[baseline]\nwatch = ["/etc/site"]\n')
        env = dict(os.environ, DIAGNOSE_STATE_DIR=os.path.join(work, "state"), PYTHONPATH=ROOT)
        exe = [diagnose_exe()] if os.path.exists(diagnose_exe()) else [sys.executable, "-m", "diagnose"]
        common = ["--config", cfg, "--root", tree]
        sha = ["sha256sum", *paths]
        record = exe + ["baseline", "record", "--by", "bench", *common]
        drift = exe + ["run", "--only", "config.drift", "--format", "json", *common]
        print(f"{args.files} watched files, {sum(os.path.getsize(p) for p in paths) / 1e6:.1f} MB; "
              f"medians of {args.runs} alternating runs", flush=True)

        ours, theirs = alternate(record, sha, args.runs, env)
        row(f"baseline record ({args.files} files)", ours, theirs, "sha256sum")
        ours, theirs = alternate(drift, sha, args.runs, env)
        row("drift run, nothing changed (stat only)", ours, theirs, "sha256sum")

        def touch_all() -> None:
            now = time.time()
            for p in paths:
                os.utime(p, (now, now))
        ours, theirs = alternate(drift, sha, args.runs, env, before=touch_all)
        row("drift run, every file touched (all hashed)", ours, theirs, "sha256sum")

        for p in paths[:10]:
            with open(p, "a") as fh:
                fh.write("key_new=1.0\n")
        ours, theirs = alternate(drift, sha, args.runs, env)
        row("drift run, 10 files edited (diff + who)", ours, theirs, "sha256sum")

        from diagnose.config import load
        from diagnose.host import Host
        from diagnose.registry import Registry
        from diagnose.runner import collect

        os.environ["DIAGNOSE_STATE_DIR"] = env["DIAGNOSE_STATE_DIR"]
        reg = Registry.discover()
        config = load(cfg, reg.schemas(), reg.multi_sections())
        host = Host(tree)
        probe = time_fn(lambda: collect(reg, host, config, only=["config.drift"]), runs=7)
        t0 = time.perf_counter()
        subprocess.run(sha, stdout=subprocess.DEVNULL, check=True)
        one = time.perf_counter() - t0
        row("drift probe in-process, 10 edited", probe, one, "sha256sum")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
