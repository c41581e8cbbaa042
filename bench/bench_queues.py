"""queue.kpi on a month of queue_log for a 200-seat call center (about 1.5
million lines, written by tests/queue_sim.py as app_queue writes them), side
by side with the awk script a technician would otherwise run for the same
ASA and abandon rate over the same window. Runs alternate; medians, the
ratio and each run's peak memory (max RSS of the process) are printed, with
a one-day window beside the month to show memory does not grow with it.

    python3 bench/bench_queues.py [--runs N]
"""

from __future__ import annotations

import os
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import diagnose_exe  # noqa: E402
from tests.queue_sim import Agent, Day, QueueSpec, freepbx_tree  # noqa: E402

DATA = Path(tempfile.gettempdir()) / "diagnose-bench-queues-v3"
FIRST_DAY = 1761955200  # 2025-11-01 00:00 UTC
DAYS = 31
QUEUES = ("sales", "support", "billing", "orders")
PROFILE = {8: 260, 9: 440, 10: 540, 11: 520, 12: 345, 13: 375, 14: 490, 15: 450, 16: 345, 17: 180}

AWK = r"""$1 >= start && $1 <= end {
  if ($5 == "ENTERQUEUE") offered++
  else if ($5 == "CONNECT") { answered++; hold += $6 }
  else if ($5 == "ABANDON") abandoned++
}
END { printf "ASA %.1f s, abandon rate %.1f%%\n", hold / answered, 100 * abandoned / offered }"""


def make_site() -> Path:
    """etc/asterisk with four queues of 50 members, and a month of queue_log."""
    log = DATA / "var/log/asterisk/queue_log"
    if log.exists():
        return DATA
    etc = DATA / "etc/asterisk"
    freepbx_tree(DATA, "rrmemory", names=())
    members = {q: [str(2000 + i * 50 + n) for n in range(50)] for i, q in enumerate(QUEUES)}
    (etc / "queues_additional.conf").write_text("".join(
        f"[{q}]\nstrategy=rrmemory\ntimeout=15\nretry=5\nringinuse=no\nservicelevel=60\n"
        + "".join(f"member=Local/{m}@from-queue/n,0,{m},hint:{m}@ext-local\n" for m in ms) + "\n"
        for q, ms in members.items()))
    tmp = log.with_suffix(".part")
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with open(tmp, "w") as out:
        for d in range(DAYS):
            specs = [QueueSpec(q, "rrmemory", [Agent(m, f"Local/{m}@from-queue/n", at_desk=(n % 25 != 3))
                                                for n, m in enumerate(ms)],
                               arrivals_per_hour=PROFILE, patience_s=(15, 300))
                     for q, ms in members.items()]
            day = Day(specs, FIRST_DAY + d * 86400, seed=d, uniqueid_base=d * 10**6).run()
            out.write(day.text())
    tmp.rename(log)
    print(f"generated {log} in {time.monotonic() - t0:.0f} s", flush=True)
    return DATA


def _hwm(pid: int) -> float | None:
    """Peak resident memory of a process so far (VmHWM, MB); exec starts it afresh."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def timed(argv: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB (sampled every 10 ms), and stdout of one run."""
    t0 = time.perf_counter()
    out_file = tempfile.TemporaryFile()
    proc = subprocess.Popen(argv, stdout=out_file, stderr=subprocess.DEVNULL, env=env)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, _hwm(proc.pid) or 0.0)
        time.sleep(0.01)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1, 2):
        raise RuntimeError(f"{argv[0]} exited {proc.returncode}")
    out_file.seek(0)
    return wall, peak, out_file.read().decode()


def main(argv: list[str]) -> int:
    runs = int(argv[argv.index("--runs") + 1]) if "--runs" in argv else 5
    site = make_site()
    log = site / "var/log/asterisk/queue_log"
    lines = sum(1 for _ in open(log, "rb"))
    last = int(open(log, "rb").read()[-200:].splitlines()[-1].split(b"|")[0])
    print(f"queue_log: {lines:,} lines, {log.stat().st_size / 1e6:.0f} MB, 200 seats, {DAYS} days")
    env = dict(os.environ, PYTHONPATH=str(ROOT), DIAGNOSE_STATE_DIR=str(site / "state"))
    results = {}
    for label, hours in (("month", DAYS * 24 + 1), ("day", 24)):
        conf = site / f"site-{label}.toml"
        conf.write_text(f'[site]\nrole = "server"\n[queues]\nwindow_h = {hours}\n')
        ours_cmd = [diagnose_exe(), "run", "--config", str(conf), "--root", str(site), "--only", "queue.kpi",
                    "--format", "json"]
        if not os.path.exists(ours_cmd[0]):
            ours_cmd = [sys.executable, "-m", "diagnose"] + ours_cmd[1:]
        awk_cmd = ["awk", "-F|", "-v", f"start={last - hours * 3600}", "-v", f"end={last}", AWK, str(log)]
        ours, theirs, mem_ours, mem_awk = [], [], [], []
        report = awk_out = ""
        for i in range(runs + 1):  # the first pair warms the page cache and is not counted
            w, m, report = timed(ours_cmd, env)
            w2, m2, awk_out = timed(awk_cmd)
            if i:
                ours.append(w), mem_ours.append(m), theirs.append(w2), mem_awk.append(m2)
        findings = [f for f in json.loads(report)["findings"] if f["subject"] in QUEUES]
        answered = sum(f["evidence"]["answered"] for f in findings)
        hold = sum(f["evidence"]["asa_s"] * f["evidence"]["answered"] for f in findings)
        offered = sum(f["evidence"]["offered"] for f in findings)
        abandoned = sum(f["evidence"]["abandoned"] for f in findings)
        mine = f"ASA {hold / answered:.1f} s, abandon rate {100 * abandoned / offered:.1f}%"
        a, b = statistics.median(ours), statistics.median(theirs)
        results[label] = (a, b, max(mem_ours))
        print(f"{label} window ({hours} h): diagnose run --only queue.kpi {a * 1000:7.0f} ms "
              f"(peak {max(mem_ours):.0f} MB)   awk -F'|' {b * 1000:7.0f} ms (peak {max(mem_awk):.0f} MB)   "
              f"ratio {a / b:.2f}x" + ("   (target <= 2x)" if label == "month" else ""), flush=True)
        print(f"    diagnose: {mine}   awk: {awk_out.strip()}   "
              f"{'same' if mine == awk_out.strip() else 'DIFFERENT'}", flush=True)
    print(f"peak memory, month vs day window: {results['month'][2]:.0f} MB vs {results['day'][2]:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
