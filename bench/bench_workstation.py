#!/usr/bin/env python3
"""Benchmark a workstation run against the manual round it replaces.

The seat: the namespace LAN of tests/rigs/netns.py (workstation, switch with
gateway, server), a real PulseAudio with a USB-headset-like sink and
microphone (tests/rigs/pulse.py) and BlueZ as python-dbusmock's bluez5 on a
private system bus with a connected headset (tests/rigs/bluez.py). Network
traffic stays inside the namespaces made here.

Times the whole command a technician runs on a seat, ``diagnose run --only
network.connectivity --only headset.presence --only audio.settings --only
bluetooth.interference --format json``, against the manual round a
technician would otherwise type for the network alone (``ip``
link/addr/route/neigh, ``getent hosts``, ``ping`` gateway and server, a TCP
connect with bash's /dev/tcp). Runs alternate (A, B, A, B ...); medians and
the ratio are printed:

- healthy seat: target <= 1.0x the manual round (and <= 1.0 s);
- server namespace deleted (server switched off): target <= one probe
  timeout (probe_timeout_s) + 0.3 s, because the network steps run
  concurrently and their timeouts never add up.

The checkout's own code is measured (PYTHONPATH), with the run history in a
temporary folder. Needs root (namespaces), iproute2, iputils-ping,
pulseaudio, dbus-daemon and python-dbusmock. Run from the repo:
``python3 bench/bench_workstation.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import diagnose_exe, row, time_pair  # noqa: E402
from tests.rigs import pulse  # noqa: E402
from tests.rigs.bluez import healthy, running_bluez, running_system_bus  # noqa: E402
from tests.rigs.netns import GW_ADDR, SRV_ADDR, SRV_NAME, make_rig  # noqa: E402

RUNS = 7
PROBE_TIMEOUT = 1.0
HEALTHY_TARGET = 1.0
GONE_TARGET = PROBE_TIMEOUT + 0.3
CHECKS = ("network.connectivity", "headset.presence", "audio.settings", "bluetooth.interference")


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


def statuses(argv: list[str], env: dict) -> str:
    """What the run said, so the figure is known to be of checks that ran
    (a skipped or erred check would be fast for nothing)."""
    out = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ, **env), timeout=60).stdout
    return ", ".join(f"{c['name']} {c['status']}" for c in json.loads(out)["checks"])


def main() -> int:
    rig = make_rig()
    audio = None
    try:
        with tempfile.TemporaryDirectory(prefix="dgws-bench-") as d, \
                running_system_bus(Path(d)) as bus, running_bluez(bus) as bluez:
            healthy(bluez)
            audio = pulse.start("bench")
            cfg = Path(d) / "site.toml"
            cfg.write_text('[site]\nrole = "workstation"\n[network]\n'
                           f'server = "{SRV_NAME}"\nports = [{rig.port}]\nprobe_timeout_s = {PROBE_TIMEOUT}\n'
                           '[audio]\n[bluetooth]\n')
            env = dict(audio.env, **bus.env, PYTHONPATH=str(REPO), DIAGNOSE_STATE_DIR=str(Path(d) / "state"))
            only = [a for c in CHECKS for a in ("--only", c)]
            ours = rig.prefix + [diagnose_exe(), "run", "--config", str(cfg), *only, "--format", "json"]
            theirs = rig.prefix + manual_round(rig.port)
            print(f"workstation namespace {rig.ws} with PulseAudio and BlueZ: {', '.join(CHECKS)} "
                  f"({RUNS} runs each, alternating, medians)")

            t_ours, t_theirs = time_pair(ours, theirs, runs=RUNS, warmup=1, env=env)
            row("healthy seat, whole command", t_ours, t_theirs, "manual round",
                f"<= 1.0x and <= {HEALTHY_TARGET:.1f} s")
            print(f"    checks: {statuses(ours, env)}", flush=True)

            rig.delete_server()
            g_ours, g_theirs = time_pair(ours, theirs, runs=RUNS, warmup=1, env=env)
            row("server namespace deleted, whole command", g_ours, g_theirs, "manual round",
                f"<= {GONE_TARGET:.1f} s")
            print(f"    checks: {statuses(ours, env)}", flush=True)
            met = t_ours <= min(HEALTHY_TARGET, t_theirs) and g_ours <= GONE_TARGET
            print("targets met" if met else "TARGET MISSED")
            return 0 if met else 1
    finally:
        if audio is not None:
            pulse.stop(audio)
        rig.close()


if __name__ == "__main__":
    sys.exit(main())
