"""Cold start: `diagnose --version` against a bare interpreter start-up
(`python -c pass` on the interpreter the diagnose script runs on: the floor
any Python tool pays), runs alternating. Target <= 120 ms median."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import diagnose_exe, interpreter_of, row, time_pair  # noqa: E402


def main() -> int:
    python = interpreter_of(diagnose_exe())
    ours, floor = time_pair([diagnose_exe(), "--version"], [python, "-c", "pass"], runs=21)
    row("cold start: diagnose --version", ours, floor, "python -c pass", "<= 120 ms median")
    listing, floor = time_pair([diagnose_exe(), "list", "--format", "json"], [python, "-c", "pass"], runs=11)
    row("diagnose list (discovers every plugin)", listing, floor, "python -c pass")
    return 0 if ours <= 0.120 else 1


if __name__ == "__main__":
    raise SystemExit(main())
