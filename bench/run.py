"""Runs every benchmark script in this folder (bench_*.py) one after another
and prints their figures. Nothing here is a test: targets are printed beside
the measured figures, side by side with the tool a user would otherwise use.

    python3 bench/run.py            # all
    python3 bench/run.py engine     # only bench_engine.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in argv]
    worst = 0
    for script in scripts:
        print(f"=== {script.name}", flush=True)
        rc = subprocess.call([sys.executable, str(script)])
        worst = max(worst, rc)
        print(flush=True)
    return worst


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
