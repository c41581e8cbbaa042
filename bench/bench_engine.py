"""Cold start: `diagnose --version` against a bare interpreter start-up
(`python3 -c pass`, the floor any Python tool pays). Target <= 120 ms median."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import diagnose_exe, row, time_cmd  # noqa: E402


def main() -> int:
    ours = time_cmd([diagnose_exe(), "--version"], runs=21)
    floor = time_cmd([sys.executable, "-c", "pass"], runs=21)
    row("cold start: diagnose --version", ours, floor, "python3 -c pass", "<= 120 ms median")
    listing = time_cmd([diagnose_exe(), "list", "--format", "json"], runs=11)
    row("diagnose list (discovers every plugin)", listing, floor, "python3 -c pass")
    return 0 if ours <= 0.120 else 1


if __name__ == "__main__":
    raise SystemExit(main())
