#!/usr/bin/env python3
"""Scale figures, whole process against whole process, runs alternating
(A, B, A, B ...), medians and ratios printed; everything made here is
removed at the end (namespaces, the tmpfs, temporary folders).

1. gateway.power over 250 gateways (25 powered off) in network namespaces
   (tests/rigs/gateway_farm.py) against ``fping -i1`` (Debian fping,
   default retries) over the same addresses; as root and without
   CAP_NET_RAW. Then 1000 gateways once each way: inside the check's
   timeout, misjudged count.
2. disk.space on a 1M-file tree and on a single directory of 1M entries
   (one tmpfs each, scan = "always"): the whole ``diagnose run`` against
   ``du -a DIR | sort -n | tail``: wall, CPU (user+sys) and peak RSS.
3. ``diagnose run --only disk.space --format json`` (median), and the floor:
   ``python -c pass`` on the interpreter diagnose runs on; with the
   bytecode kept (as installed) and compiled every run.
4. A full server run (disk, SQLite, service, gateway, network) peak RSS.
5. Attribution of 2000 findings, in process: indexed against the former
   pairwise comparison (kept in tests/test_attribution_index.py).

Needs root. ``python3 bench/bench_scale.py [--runs N] [--skip-disk]``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import common  # noqa: E402,F401  (a private DIAGNOSE_STATE_DIR for every diagnose run below)

from tests.rigs.gateway import UNPRIVILEGED  # noqa: E402
from tests.rigs.gateway_farm import GatewayFarm, gateway_address  # noqa: E402

PY = sys.executable  # the interpreter diagnose runs on: the floor is measured on it too
DIAGNOSE = [PY, "-m", "diagnose"]


def measure(argv: list[str], env: dict | None = None) -> dict:
    """Run *argv* to its end: wall seconds, CPU seconds (user+sys of it and
    everything it waited for), peak RSS in MiB, exit code, stdout."""
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL, cwd=REPO,
                                env=dict(os.environ, **(env or {})))
        _pid, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss": ru.ru_maxrss / 1024,
            "rc": proc.returncode, "out": text}


def alternate(runs: int, env: dict | None = None, **sides: list[str]) -> dict[str, list[dict]]:
    got: dict[str, list[dict]] = {k: [] for k in sides}
    for _ in range(runs):
        for name, argv in sides.items():
            got[name].append(measure(argv, env))
    return got


def med(samples: list[dict], key: str) -> float:
    return statistics.median(s[key] for s in samples)


def line(what: str, ours: float, theirs: float | None = None, their_name: str = "", unit: str = "ms",
         note: str = "") -> None:
    f = 1000 if unit == "ms" else 1
    text = f"  {what:<46} {ours * f:9.1f} {unit}"
    if theirs is not None:
        text += f"   {their_name} {theirs * f:9.1f} {unit}   ratio {ours / theirs:5.2f}x"
    print(text + (f"   {note}" if note else ""), flush=True)


def misjudged(report: dict, total: int, dead: set[int]) -> int:
    by = {f["subject"]: f for f in report.get("findings", [])}
    bad = 0
    for i in range(total):
        f = by.get(f"gw{i:04d}")
        if f is None:
            bad += 1
        elif i in dead:
            bad += not (f["status"] == "fail" and "powered off" in f["title"])
        else:
            bad += f["status"] != "ok"
    return bad


def gateways(runs: int) -> None:
    print("1. gateway.power at scale (namespaces; step_timeout_s = 1)")
    with tempfile.TemporaryDirectory() as d:
        for total, n in ((250, runs), (1000, 1)):
            dead = set(range(7, total, 10))
            farm = GatewayFarm(Path(d), total, dead)
            try:
                farm.allow_ping_socket()
                cfg = str(farm.config())
                run = ["run", "--config", cfg, "--only", "gateway.power", "--format", "json"]
                ns = farm.command()
                addrs = [gateway_address(i) for i in range(total)]
                got = alternate(n, root=ns + DIAGNOSE + run, unpriv=ns + UNPRIVILEGED + DIAGNOSE + run,
                                fping=ns + ["fping", "-i1", "-q"] + addrs)
                print(f" {total} gateways, {len(dead)} powered off, {n} run(s) each, alternating:")
                for side in ("root", "unpriv"):
                    rep = json.loads(got[side][-1]["out"])
                    wrong = [misjudged(json.loads(s["out"]), total, dead) for s in got[side]]
                    check = rep["checks"][0]
                    line(f"diagnose ({side}) whole command", med(got[side], "wall"),
                         med(got["fping"], "wall"), "fping -i1",
                         note=f"misjudged {max(wrong)}; the check {check['duration_s']:.2f} s of its "
                              f"10 s timeout; status {check['status']}; peak {med(got[side], 'rss'):.0f} MiB")
            finally:
                farm.close()


def make_tree(base: Path, dirs: int, per_dir: int) -> None:
    for a in range(dirs):
        d = base / f"d{a:04d}"
        d.mkdir(parents=True)
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for i in range(per_dir):
                os.close(os.open(f"f{i:07d}.{('wav', 'mp4', 'log', 'zip')[i % 4]}",
                                 os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd))
        finally:
            os.close(fd)


def disk(runs: int) -> None:
    print("2. disk.space walking a million files (tmpfs, scan = \"always\", scan_budget_s = 60, "
          "check timeout 10 s)")
    for label, dirs, per in (("1M files in 1000 directories", 1000, 1000),
                             ("a single directory of 1M entries", 1, 1_000_000)):
        work = Path(tempfile.mkdtemp(prefix="dgscale-"))
        mnt = work / "mnt"
        mnt.mkdir()
        mounted = False
        try:
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,nr_inodes=1100000", "dgscale", str(mnt)],
                           check=True)
            mounted = True
            t0 = time.perf_counter()
            make_tree(mnt / "share", dirs, per)
            cfg = work / "site.toml"
            cfg.write_text(f'[site]\nrole = "server"\n\n[disk]\nmounts = ["{mnt}"]\nscan = "always"\n'
                           "scan_budget_s = 60\n")
            got = alternate(runs, ours=DIAGNOSE + ["run", "--config", str(cfg), "--only", "disk.space",
                                                   "--format", "json"],
                            du=["sh", "-c", f"du -a '{mnt}' | sort -n | tail"])
            rep = json.loads(got["ours"][-1]["out"])
            f = next(x for x in rep["findings"] if x["check"] == "disk.space")
            scan = f["evidence"].get("scan") or {}
            print(f" {label} (made in {time.perf_counter() - t0:.0f} s), {runs} runs each, alternating:")
            line("wall, whole command", med(got["ours"], "wall"), med(got["du"], "wall"), "du|sort|tail")
            line("CPU user+sys", med(got["ours"], "cpu"), med(got["du"], "cpu"), "du|sort|tail")
            line("peak RSS", med(got["ours"], "rss"), med(got["du"], "rss"), "du|sort|tail", unit="MiB")
            print(f"    check status {rep['checks'][0]['status']}, finding {f['status']}: {f['title'][:70]}; "
                  f"free space reported: {'free_percent' in json.dumps(f['evidence'])}; walk complete "
                  f"{scan.get('complete')} (stopped at its budget: {scan.get('stopped_early')}, budget "
                  f"{scan.get('budget_s')} s, walked {scan.get('elapsed_s')} s), files seen {scan.get('files')}",
                  flush=True)
        finally:
            if mounted:
                subprocess.run(["umount", str(mnt)], check=False)
            shutil.rmtree(work, ignore_errors=True)


def startup(runs: int) -> None:
    """Both ways Python may find the project's code: compiled once and kept
    (an installed package has its .pyc files; here in a private
    PYTHONPYCACHEPREFIX, filled by the warm-up runs), and compiled on every
    run (PYTHONDONTWRITEBYTECODE=1 and no __pycache__ in the checkout). The
    floor is measured the same way each time."""
    print("3. start-up")
    with tempfile.TemporaryDirectory() as d:
        cfg = Path(d) / "site.toml"
        cfg.write_text('[site]\nrole = "server"\n\n[disk]\nmounts = ["/"]\nscan = "never"\n')
        ours = DIAGNOSE + ["run", "--config", str(cfg), "--only", "disk.space", "--format", "json"]
        stale = any(REPO.glob("*/__pycache__")) or any(REPO.glob("*/*/__pycache__"))
        modes = (("bytecode kept", {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": str(Path(d) / "pyc")}),
                 ("PYTHONDONTWRITEBYTECODE=1" + (" (checkout has __pycache__: read)" if stale else
                                                 ", sources compiled every run"),
                  {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": ""}))
        for label, env in modes:
            got = alternate(runs + 2, env, ours=ours, floor=[PY, "-c", "pass"])
            got = {k: v[2:] for k, v in got.items()}
            line(f"diagnose run --only disk.space --format json, {label}", med(got["ours"], "wall"),
                 med(got["floor"], "wall"), f"{os.path.basename(PY)} -c pass", note="(target <= 80 ms)")


def server(runs: int) -> None:
    print("4. full server run: disk, SQLite, a service, a gateway, network")
    with tempfile.TemporaryDirectory() as d:
        farm = GatewayFarm(Path(d), 1, set())
        sleeper = subprocess.Popen(["sleep", "600"])
        try:
            db = Path(d) / "cc.db"
            subprocess.run(["sqlite3", str(db), "create table t(a); insert into t values (1);"], check=True)
            cfg = Path(d) / "server.toml"
            cfg.write_text(
                '[site]\nrole = "server"\n\n[disk]\nmounts = ["/"]\n\n'
                f'[[database]]\nname = "callcenter"\nurl = "sqlite:///{db}"\n\n'
                f'[[service]]\nname = "sleeper"\nprocess = "sleep"\n\n'
                f'[[gateway]]\nname = "gw0"\naddress = "{gateway_address(0)}"\n\n'
                f'[network]\ninterface = "eth0"\nserver = "{gateway_address(0)}"\n')
            argv = farm.command() + DIAGNOSE + ["run", "--config", str(cfg), "--format", "json"]
            got = [measure(argv) for _ in range(runs)]
            rep = json.loads(got[-1]["out"])
            line("peak RSS", med(got, "rss"), unit="MiB",
                 note=f"(target <= 60 MiB) wall {med(got, 'wall') * 1000:.0f} ms; checks: "
                      + ", ".join(f"{c['name']} {c['status']}" for c in rep["checks"]))
        finally:
            sleeper.kill()
            sleeper.wait()
            farm.close()


def attribution(runs: int) -> None:
    print("5. attribution of 2000 findings (one full disk, 10 databases, 1989 services), in process")
    from diagnose.attribution import attribute
    from diagnose.model import Fault, Finding, Status
    from tests.test_attribution_index import pairwise

    def site() -> list:
        fs = [Finding("disk.space", "/srv", Status.FAIL, "full", Fault.SITE, "d", {}, "x")]
        fs += [Finding("database.integrity", f"db{i}", Status.FAIL, "c", Fault.SOFTWARE, "d", {"mount": "/srv"},
                       "x") for i in range(10)]
        fs += [Finding("application.services", f"svc{i}", Status.FAIL, "s", Fault.SOFTWARE, "d",
                       {"mounts": ["/srv", "/"], "databases": [f"db{i % 10}"], "reason": "stopped"}, "x")
               for i in range(1989)]
        return fs

    base = site()
    a, b = [], []
    for i in range(runs):
        x = copy.deepcopy(base)
        t0 = time.perf_counter()
        attribute(x)
        a.append(time.perf_counter() - t0)
        if i == 0:  # the pairwise one takes many seconds: once
            y = copy.deepcopy(base)
            t0 = time.perf_counter()
            pairwise(y)
            b.append(time.perf_counter() - t0)
    line("indexed attribution", statistics.median(a), statistics.median(b), "pairwise (former)",
         note="(target <= 500 ms)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", nargs="*", default=["gateways", "disk", "startup", "server", "attribution"])
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root (namespaces, tmpfs)")
        return 1
    # The runs' history goes to a folder of this bench, never the host's /var/lib/diagnose.
    with tempfile.TemporaryDirectory(prefix="dgscale-state-") as state:
        os.environ["DIAGNOSE_STATE_DIR"] = state
        for name in args.only:
            {"gateways": gateways, "disk": disk, "startup": startup, "server": server,
             "attribution": attribution}[name](args.runs if name != "disk" else max(1, args.runs // 2))
            print(flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
