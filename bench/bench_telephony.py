"""telephony.card on a recorded 24-port card (Digium TDM2400P: 8 FXO, 16 FXS
as FreePBX extensions; tests/data/telephony.card/trees/tdm2400-24port), side
by side with what a technician would otherwise type: ``grep -c RED`` over the
same /proc/dahdi file. The whole ``diagnose run --only telephony.card``
(interpreter start, config, probe of /proc/dahdi, system.conf, chan_dahdi.conf
and its includes, driver parameters, kernel log, PCI; judge; report) and the
grep run alternately; medians and the ratio are printed, with the probe and
judge alone (in process) beside them.

    python3 bench/bench_telephony.py [--runs N]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import diagnose_exe, row, time_fn  # noqa: E402
from diagnose.check import section_config  # noqa: E402
from diagnose.checks.telephony.check import TelephonyCard  # noqa: E402
from diagnose.host import Host  # noqa: E402
from tests.telephony_trees import build_tree  # noqa: E402


def _once(argv: list[str], env: dict[str, str], ok: tuple[int, ...]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    dt = time.perf_counter() - t0
    if proc.returncode not in ok:
        raise RuntimeError(f"{argv} exited {proc.returncode}: {proc.stderr.decode()[-500:]}")
    return dt


def main(argv: list[str]) -> int:
    runs = int(argv[argv.index("--runs") + 1]) if "--runs" in argv else 15
    with tempfile.TemporaryDirectory(prefix="dg-bench-tel-") as tmp:
        tree = build_tree("tdm2400-24port", Path(tmp) / "root")
        proc_file = str(tree / "proc/dahdi/1")
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        ours_cmd = [diagnose_exe(), "run", "--root", str(tree), "--only", "telephony.card", "--format", "json"]
        grep_cmd = ["grep", "-c", "RED", proc_file]
        ours, theirs = [], []
        for i in range(runs + 2):  # two warm-up rounds, then alternate
            a = _once(ours_cmd, env, (0,))
            b = _once(grep_cmd, env, (0, 1))  # grep -c exits 1 when it counts 0
            if i >= 2:
                ours.append(a)
                theirs.append(b)
        check = TelephonyCard()
        cfg = section_config(check, {})
        host = Host(str(tree))
        inproc = time_fn(lambda: check.judge(check.probe(host, cfg), cfg), runs=runs, warmup=2)
        lines = sum(1 for _ in open(proc_file))
    print(f"24-port card, /proc/dahdi/1 of {lines} lines; {runs} alternating runs, medians", flush=True)
    row("diagnose run --only telephony.card (whole)", statistics.median(ours),
        statistics.median(theirs), "grep -c RED", target="a small fraction of a second")
    row("probe + judge alone (in process)", inproc, statistics.median(theirs), "grep -c RED")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
