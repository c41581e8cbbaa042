#!/usr/bin/env python3
"""Benchmark the workstation checks inside the namespace LAN of
tests/rigs/netns.py (workstation, switch with gateway, server).

Times the whole command a technician runs on a seat,
``diagnose run --only network.connectivity --only headset.presence
--only audio.settings``, medians over several runs:

- healthy workstation: target <= 1.0 s;
- server namespace deleted (server switched off): target <= one probe
  timeout (probe_timeout_s) + 0.3 s, because the network steps run
  concurrently and their timeouts never add up;

each side by side with the manual round a technician would otherwise type
(``ip`` link/addr/route/neigh, ``getent hosts``, ``ping`` gateway and
server, a TCP connect with bash's /dev/tcp), and the ratio.

Needs root (namespaces) and iproute2, iputils-ping. Run from the repo:
``python3 bench/bench_workstation.py``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import diagnose_exe, row, time_pair  # noqa: E402
from tests.rigs.netns import GW_ADDR, SRV_ADDR, SRV_NAME, make_rig  # noqa: E402

RUNS = 7
PROBE_TIMEOUT = 1.0
HEALTHY_TARGET = 1.0
GONE_TARGET = PROBE_TIMEOUT + 0.3
CHECKS = ("network.connectivity", "headset.presence", "audio.settings")


def manual_round(port: int) -> list[str]:
    """What a technician types to learn the same about the network, in order."""
    script = (
        "ip -br link; ip -br addr; ip route; ip neigh; "
        f"getent hosts {SRV_NAME}; "
        f"ping -q -c 20 -i 0.02 -W 1 {GW_ADDR}; "
        f"ping -q -c 20 -i 0.02 -W 1 {SRV_ADDR}; "
        f"timeout 1 bash -c 'exec 3<>/dev/tcp/{SRV_ADDR}/{port}'; true"
    )
    return ["bash", "-c", script]


def main() -> int:
    rig = make_rig()
    try:
        with tempfile.TemporaryDirectory(prefix="dgnet-bench-") as d:
            cfg = Path(d) / "site.toml"
            cfg.write_text('[site]\nrole = "workstation"\n[network]\n'
                           f'server = "{SRV_NAME}"\nports = [{rig.port}]\nprobe_timeout_s = {PROBE_TIMEOUT}\n')
            only = [a for c in CHECKS for a in ("--only", c)]
            ours = rig.prefix + [diagnose_exe(), "run", "--config", str(cfg), *only, "--format", "json"]
            theirs = rig.prefix + manual_round(rig.port)
            print(f"workstation namespace {rig.ws}: {', '.join(CHECKS)} ({RUNS} runs, medians)")

            t_ours, t_theirs = time_pair(ours, theirs, runs=RUNS, warmup=1)
            row("healthy workstation, whole command", t_ours, t_theirs, "manual round",
                f"<= {HEALTHY_TARGET:.1f} s")

            rig.delete_server()
            g_ours, g_theirs = time_pair(ours, theirs, runs=RUNS, warmup=1)
            row("server namespace deleted, whole command", g_ours, g_theirs, "manual round",
                f"<= {GONE_TARGET:.1f} s")
            met = t_ours <= HEALTHY_TARGET and g_ours <= GONE_TARGET
            print("targets met" if met else "TARGET MISSED")
            return 0 if met else 1
    finally:
        rig.close()


if __name__ == "__main__":
    sys.exit(main())
