#!/usr/bin/env python3
"""disk.space speed, side by side with what a technician would otherwise run.

1. ``diagnose run --only disk.space --format json`` against Debian's
   ``check_disk -w 10% -c 5% -p /`` (monitoring-plugins-basic): the whole
   tool, cold, auditing / (no walk: / has space to spare).
2. The who-is-eating-the-disk walk (``diagnose.checks.disk.scan.scan`` in a
   process of its own, interpreter start-up included) against
   ``du -a DIR | sort -n | tail`` on the same generated tree of 200,000
   files: whole process against whole process. Target: ratio <= 1.0. (The
   whole ``diagnose run`` on a million files, on a filesystem of its own, is
   in bench_scale.py.)

Runs alternate between the two sides so that other load on the machine hits
both alike; figures are medians. The tree is generated under /tmp once and
deleted at the end. Usage: ``python3 bench/bench_disk.py [--runs N]``.
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

import common  # noqa: E402,F401  (a private DIAGNOSE_STATE_DIR for every diagnose run below)

from diagnose.checks.disk.scan import scan  # noqa: E402
from diagnose.host import Host  # noqa: E402

CHECK_DISK = "/usr/lib/nagios/plugins/check_disk"
EXTS = ("mp4", "mkv", "mp3", "wav", "zip", "tar.gz", "iso", "txt", "log", "jpg", "")


def make_tree(base: str, files: int = 200_000) -> int:
    """A home-directory-like tree: 40 x 25 x 10 directories, 20 files each,
    sizes from empty to a few KB (allocation, not content, is what counts)."""
    blob = os.urandom(9000)
    n = 0
    for a in range(40):
        for b in range(25):
            for c in range(10):
                d = os.path.join(base, f"user{a:02d}", f"project{b:02d}", f"part{c}")
                os.makedirs(d)
                for i in range(files // 10_000):
                    ext = EXTS[(a + b + c + i) % len(EXTS)]
                    name = f"file{i:03d}.{ext}" if ext else f"file{i:03d}"
                    with open(os.path.join(d, name), "wb") as fh:
                        fh.write(blob[: (i * 397) % 9000])
                    n += 1
    return n


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def sh(cmd: list[str] | str) -> None:
    subprocess.run(cmd, shell=isinstance(cmd, str), check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def side_by_side(label: str, ours_name: str, ours, theirs_name: str, theirs, runs: int) -> None:
    ours(), theirs()  # warm the page cache and the interpreter's files
    a: list[float] = []
    b: list[float] = []
    for _ in range(runs):
        a.append(timed(ours))
        b.append(timed(theirs))
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"\n{label}")
    print(f"  {ours_name:<48} median {ma * 1000:8.1f} ms  (min {min(a) * 1000:.1f})")
    print(f"  {theirs_name:<48} median {mb * 1000:8.1f} ms  (min {min(b) * 1000:.1f})")
    print(f"  ratio ours/theirs: {ma / mb:.2f}x")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix=f"dgdisk-bench-{os.getpid()}-")
    try:
        cfg = os.path.join(work, "diagnose.toml")
        with open(cfg, "w") as fh:
            fh.write('[site]\nrole = "server"\n\n[disk]\nmounts = ["/"]\n')
        diagnose = shutil.which("diagnose")
        argv = [diagnose] if diagnose else [sys.executable, "-m", "diagnose"]
        run = argv + ["run", "--config", cfg, "--only", "disk.space", "--format", "json"]
        if os.access(CHECK_DISK, os.X_OK):
            side_by_side("1. audit / once (whole tool, cold start each time)",
                         "diagnose run --only disk.space --format json",
                         lambda: sh(run), "check_disk -w 10% -c 5% -p /",
                         lambda: sh([CHECK_DISK, "-w", "10%", "-c", "5%", "-p", "/"]), args.runs * 2)
        else:
            print(f"\n1. skipped: {CHECK_DISK} missing (apt-get install monitoring-plugins-basic)")

        tree = os.path.join(work, "tree")
        t0 = time.perf_counter()
        n = make_tree(tree)
        print(f"\n(generated {n} files in {time.perf_counter() - t0:.1f} s under {tree})")
        host = Host("/")
        walk = [sys.executable, "-c", "import sys; from diagnose.checks.disk.scan import scan; "
                "from diagnose.host import Host; scan(Host('/'), sys.argv[1], [], budget_s=600)", tree]
        side_by_side(f"2. who is eating the disk: {n} files",
                     "python -c 'scan(tree)' (whole process)",
                     lambda: subprocess.run(walk, check=True, cwd=ROOT),
                     "du -a tree | sort -n | tail", lambda: sh(f"du -a '{tree}' | sort -n | tail"),
                     args.runs)
        got = scan(host, tree, [], budget_s=600)
        print(f"  (scan saw {got['files']} files in {got['dirs']} directories, complete={got['complete']})")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
