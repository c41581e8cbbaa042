"""The site report at scale, and the seat agent's idle footprint.

1. A mosquitto on loopback holds 2000 seats' retained reports (realistic:
   the real judges on recorded facts, a few seats with faults, a switch of
   40 seats offline), their status and heartbeat, published by one process.
   ``diagnose site --format json`` assembling them into one site report is
   timed side by side with ``mosquitto_sub`` merely receiving the same
   retained messages (``-C`` the message count, ``-W`` as the bound), runs
   alternating; wall time and peak memory (max RSS) of each, and the ratio.
   Target: the report within 2x of receiving the messages.
2. A real ``diagnose agent`` connected to that broker, idle between audits:
   its RSS and the CPU it uses per hour (measured over IDLE_S seconds).

    python3 bench/bench_site.py [--seats 2000] [--runs 5] [--idle 60]   (--idle 0: skip 2.)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import common  # noqa: E402,F401  (a private DIAGNOSE_STATE_DIR for every diagnose run below)
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])

from tests.rigs.mqtt import free_port  # noqa: E402
from tests.rigs.seats import SITE_ID, iso, seat_report  # noqa: E402

_MEASURE = ("import resource, subprocess, sys, time\n"
            "t0 = time.perf_counter()\n"
            "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
            "dt = time.perf_counter() - t0\n"
            "ru = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
            "print(p.returncode, dt, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, flush=True)\n"
            "sys.stderr.write(p.stderr.decode()[-500:])\n")


def measure(argv: list[str]) -> tuple[int, float, float, int]:
    """Exit code, wall seconds, CPU seconds (user + system) and peak RSS (kB)
    of one command, alone in its wrapper."""
    out = subprocess.run([sys.executable, "-c", _MEASURE, *argv], capture_output=True, text=True, timeout=600)
    code, dt, cpu, rss = out.stdout.split()
    return int(code), float(dt), float(cpu), int(rss)


def publish(port: int, seats: int) -> int:
    import paho.mqtt.client as mqtt

    now = time.time()
    docs = {
        "healthy": seat_report("x", {"network.connectivity": "healthy",
                                     "bluetooth.interference": "healthy_headset"}),
        "port": seat_report("x", {"network.connectivity": "port-closed",
                                  "bluetooth.interference": "healthy_headset"}),
        "crowded": seat_report("x", {"network.connectivity": "healthy",
                                     "bluetooth.interference": "eight_headsets_in_range"}),
    }
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-publisher")
    client.connect("127.0.0.1", port)
    client.loop_start()
    messages = 0
    size = 0
    last = None
    for i in range(1, seats + 1):
        name = f"seat-{i:04d}"
        # A few seats with a fault of their own; Hall 3 crowded with Bluetooth headsets.
        kind = "port" if i in (97, 1234) else "crowded" if 401 <= i <= 600 and i % 3 else "healthy"
        doc = dict(docs[kind], host=name)
        doc["seat"] = {"name": name, "switch": f"SW-{(i - 1) // 40 + 1:02d}", "port": f"gi0/{(i - 1) % 40 + 1}",
                       "subnet": "198.51.100.0/24", "room": f"Hall {(i - 1) // 200 + 1}", "interval_s": 900,
                       "located_by": "lldp", "gateway_mac": "02:00:00:00:00:01"}
        payload = json.dumps(doc, separators=(",", ":")).encode()
        size += len(payload)
        offline = 41 <= i <= 80  # switch SW-02 lost its uplink a minute ago
        status = {"state": "offline", "time": None} if offline else {"state": "online", "time": iso(now)}
        base = f"diagnose/{SITE_ID}/{name}"
        client.publish(f"{base}/report", payload, qos=1, retain=True)
        client.publish(f"{base}/status", json.dumps(status).encode(), qos=1, retain=True)
        last = client.publish(f"{base}/seen", json.dumps({"time": iso(now - 60 if offline else now)}).encode(),
                              qos=1, retain=True)
        messages += 3
        if i % 200 == 0:
            last.wait_for_publish(30)
    last.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()
    print(f"published {seats} seats: {messages} retained messages, reports {size / 1e6:.1f} MB "
          f"(mean {size / seats / 1024:.1f} kB)", flush=True)
    return messages


def agent_idle(folder: Path, port: int, idle_s: float) -> None:
    import psutil

    cfg = folder / "seat.toml"
    cfg.write_text(f'[site]\nname = "Sales office"\nrole = "workstation"\n[fleet]\nbroker = "mqtt://127.0.0.1:{port}"\n'
                   f'site_id = "{SITE_ID}"\nseat = "bench-seat"\ninterval = "1h"\nkeepalive_s = 60\n'
                   '[headset]\nenabled = false\n[audio]\nenabled = false\n[bluetooth]\nenabled = false\n'
                   '[network]\nenabled = false\n')
    proc = subprocess.Popen([sys.executable, "-m", "diagnose", "agent", "--config", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(folder))
    try:
        time.sleep(5)  # connect and the first audit
        p = psutil.Process(proc.pid)
        c0 = sum(p.cpu_times()[:2])
        time.sleep(idle_s)
        c1 = sum(p.cpu_times()[:2])
        rss = p.memory_info().rss
        print(f"agent idle: RSS {rss / 1048576:.1f} MB, CPU {(c1 - c0) / idle_s * 3600:.2f} s per hour "
              f"(measured over {idle_s:g} s idle, keepalive 60 s)", flush=True)
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seats", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--idle", type=float, default=60.0)
    args = ap.parse_args()
    if not shutil.which("mosquitto") or not shutil.which("mosquitto_sub"):
        print("needs mosquitto and mosquitto-clients")
        return 1
    folder = Path(tempfile.mkdtemp(prefix="dg-bench-site-"))
    port = free_port()
    (folder / "m.conf").write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                                   "user root\nmax_queued_messages 0\n")
    broker = subprocess.Popen(["mosquitto", "-c", str(folder / "m.conf")], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        messages = publish(port, args.seats)
        cfg = folder / "site.toml"
        cfg.write_text(f'[site]\nname = "Sales office"\n[fleet]\nbroker = "mqtt://127.0.0.1:{port}"\n'
                       f'site_id = "{SITE_ID}"\ninterval = "15m"\nkeepalive_s = 60\n')
        ours_cmd = [sys.executable, "-m", "diagnose", "site", "--config", str(cfg), "--format", "json",
                    "--output", str(folder / "site.json")]
        theirs_cmd = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", f"diagnose/{SITE_ID}/+/+",
                      "--retained-only", "-C", str(messages), "-W", "60", "-v"]
        ours, theirs = [], []
        for _ in range(args.runs):  # alternating, so load on the machine hits both alike
            code, dt, cpu, rss = measure(ours_cmd)
            assert code in (0, 1, 2), code
            ours.append((dt, cpu, rss))
            code, dt, cpu, rss = measure(theirs_cmd)
            assert code == 0, f"mosquitto_sub exited {code}"
            theirs.append((dt, cpu, rss))
        site = json.loads((folder / "site.json").read_text())
        print(f"site report: {site['verdict']['headline'][:150]}")
        o_t, t_t = statistics.median(r[0] for r in ours), statistics.median(r[0] for r in theirs)
        o_c, t_c = statistics.median(r[1] for r in ours), statistics.median(r[1] for r in theirs)
        o_m, t_m = max(r[2] for r in ours), max(r[2] for r in theirs)
        what = "2000 seats -> site report (json)" if args.seats == 2000 else f"{args.seats} seats"
        print(f"{what:<34} diagnose site wall {o_t:5.2f} s CPU {o_c:5.2f} s {o_m / 1024:6.1f} MB   "
              f"mosquitto_sub wall {t_t:5.2f} s CPU {t_c:5.2f} s {t_m / 1024:5.1f} MB   "
              f"ratio {o_t / t_t:4.2f}x wall, {o_c / max(t_c, 1e-3):4.2f}x CPU (target 2x)", flush=True)
        print(f"runs (wall): diagnose site {[round(r[0], 3) for r in ours]}, "
              f"mosquitto_sub {[round(r[0], 3) for r in theirs]}")
        print(f"runs (CPU):  diagnose site {[round(r[1], 3) for r in ours]}, "
              f"mosquitto_sub {[round(r[1], 3) for r in theirs]}")
        if args.idle > 0:
            agent_idle(folder, port, args.idle)
    finally:
        os.kill(broker.pid, signal.SIGTERM)
        broker.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
