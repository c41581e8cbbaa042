#!/usr/bin/env python3
"""Benchmark gateway.power on the namespace rig of tests/rigs/gateway.py.

Prints, medians over several runs, side by side with what a technician
would otherwise type:

- healthy gateway: the whole ``diagnose run --only gateway.power`` command
  vs ``sipsak --nagios-code -s sip:ADDR`` (one SIP OPTIONS, nothing else),
  and their ratio;
- powered-off gateway: the whole diagnose command, which must finish within
  one probe timeout (step_timeout_s) + 0.3 s, vs sipsak, which knows only
  "no answer" after its own retransmission schedule (run once: it is slow).

Needs root (namespaces) and Debian sip-tester and sipsak. Run from the repo:
``python3 bench/bench_gateway.py``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import common  # noqa: E402,F401  (a private DIAGNOSE_STATE_DIR for every diagnose run below)

from tests.rigs.gateway import GW_ADDR, GatewayRig  # noqa: E402

RUNS = 7
STEP_TIMEOUT = 1.0
BUDGET = STEP_TIMEOUT + 0.3


def timed(argv: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=120)
    return time.perf_counter() - t0, proc


def median_of(argv: list[str], runs: int = RUNS) -> tuple[float, subprocess.CompletedProcess]:
    times, last = [], None
    for _ in range(runs):
        t, last = timed(argv)
        times.append(t)
    return statistics.median(times), last


def main() -> int:
    with tempfile.TemporaryDirectory() as d:
        rig = GatewayRig(Path(d))
        try:
            rig.start_sipp("options_200.xml")
            in_srv = ["ip", "netns", "exec", rig.srv]
            diagnose = in_srv + [sys.executable, "-m", "diagnose", "run", "--config",
                                 str(rig.config(step_timeout_s=STEP_TIMEOUT)),
                                 "--only", "gateway.power", "--format", "json"]
            sipsak = in_srv + ["sipsak", "--nagios-code", "-s", f"sip:{GW_ADDR}"]

            t_diag, proc = median_of(diagnose)
            report = json.loads(proc.stdout)
            probe = report["checks"][0]["duration_s"]
            t_sipsak, sproc = median_of(sipsak)
            print(f"healthy gateway ({RUNS} runs, medians)")
            print(f"  diagnose run --only gateway.power : {t_diag * 1000:7.1f} ms  "
                  f"(exit {proc.returncode}; the check itself {probe * 1000:.1f} ms: ARP+ICMP+SIP)")
            print(f"  sipsak --nagios-code              : {t_sipsak * 1000:7.1f} ms  "
                  f"(exit {sproc.returncode}; SIP OPTIONS only)")
            print(f"  ratio diagnose / sipsak           : {t_diag / t_sipsak:7.2f}")

            rig.power_off()
            t_off, proc = median_of(diagnose)
            title = json.loads(proc.stdout)["findings"][0]["title"]
            verdict = "within" if t_off <= BUDGET else "OVER"
            print(f"powered-off gateway ({RUNS} runs, median)")
            print(f"  diagnose run --only gateway.power : {t_off * 1000:7.1f} ms  (exit {proc.returncode}: {title})")
            print(f"  budget step_timeout_s + 0.3 s     : {BUDGET * 1000:7.1f} ms  -> {verdict} budget")
            t_s_off, sproc = timed(sipsak)
            print(f"  sipsak --nagios-code (1 run)      : {t_s_off * 1000:7.1f} ms  "
                  f"(exit {sproc.returncode}: {sproc.stdout.strip() or sproc.stderr.strip()[:60]})")
            print(f"  ratio sipsak / diagnose           : {t_s_off / t_off:7.2f}")
            return 0 if t_off <= BUDGET else 1
        finally:
            rig.close()


if __name__ == "__main__":
    sys.exit(main())
