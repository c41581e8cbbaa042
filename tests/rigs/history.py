"""Run history rigs: a controlled clock and a check whose findings a test sets.

- **Clock**: libfaketime (Debian ``faketime``) preloaded into the real CLI,
  so every run of ``diagnose`` believes it is the time the test says (the
  wall clock stands still at it; timeouts use the real monotonic clock). Python's
  ``threading.Event.wait`` (the runner's probe timeouts) fails under faked
  monotonic clocks, hence ``FAKETIME_DONT_FAKE_MONOTONIC=1`` with
  ``FAKETIME_FORCE_MONOTONIC_FIX=0``: wall time is faked, timeouts are real.
  (``time.sleep`` still fails with EINVAL in that mode; nothing on the path
  of these runs sleeps.)
- **Lines**: a third-party check made on the fly (a ``*.dist-info`` on
  PYTHONPATH, found through its entry point like any plugin). ``[lines]
  file`` names a file with one status word per line (``ok``, ``warn``,
  ``fail``); finding *i* (subject ``line<i>``) has the status of line *i*. A
  test writes the file between runs to make findings come, go and flap.
"""

from __future__ import annotations

import datetime as dt
import os
import textwrap
from pathlib import Path

import pytest

LIB_DIRS = ("/usr/lib/x86_64-linux-gnu/faketime", "/usr/lib/aarch64-linux-gnu/faketime",
            "/usr/lib/faketime")

PLUGIN_SOURCE = '''
"""lines: one finding per line of a file, with the status the line says."""
from diagnose.check import Check, Key
from diagnose.model import Fault, Finding, Status


class Lines(Check):
    name = "demo.lines"
    summary = "one finding per line of [lines] file"
    section = "lines"
    schema = {"file": Key(str, "", "the file"), "count": Key(int, 0, "findings (0: one per line)")}

    def probe(self, host, cfg):
        with open(cfg["file"]) as fh:
            states = [w.strip() or "ok" for w in fh.read().splitlines()]
        return {"states": states, "values": [float(i) for i in range(len(states))]}

    def judge(self, facts, cfg):
        out = []
        for i, state in enumerate(facts["states"]):
            if state == "ok":
                out.append(Finding(self.name, f"line{i}", Status.OK, f"Line {i} is fine",
                                   evidence={"line": i, "value": facts["values"][i]}))
            else:
                out.append(Finding(self.name, f"line{i}", Status.parse(state), f"Line {i} is {state}",
                                   Fault.SITE, detail=f"line {i} of the file says {state}",
                                   evidence={"line": i, "value": facts["values"][i]},
                                   remedy=f"echo ok > line {i}"))
        return out
'''


def faketime_lib() -> str | None:
    for d in LIB_DIRS:
        p = os.path.join(d, "libfaketime.so.1")
        if os.path.exists(p):
            return p
    return None


needs_faketime = pytest.mark.skipif(faketime_lib() is None,
                                    reason="needs libfaketime (apt-get install faketime)")


def at(when: dt.datetime) -> dict[str, str]:
    """Environment that stops a process's wall clock at *when* (UTC): every
    run of a simulated night starts at exactly the time the test says,
    however long the interpreter takes to start on a loaded machine."""
    lib = faketime_lib()
    assert lib, "libfaketime is not installed (apt-get install faketime)"
    return {"LD_PRELOAD": lib, "FAKETIME": when.strftime("%Y-%m-%d %H:%M:%S"), "TZ": "UTC",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1", "FAKETIME_FORCE_MONOTONIC_FIX": "0"}


def day(n: int, hour: int = 2) -> dt.datetime:
    """Nightly run *n* of a simulated series: 1 Nov 2026 + n days, 02:00 UTC."""
    return dt.datetime(2026, 11, 1, hour, 0, 0) + dt.timedelta(days=n)


def make_lines_plugin(base: Path) -> str:
    """Install the lines check under *base*; returns the PYTHONPATH entry."""
    site = base / "lines-site"
    info = site / "dg_lines_plugin-1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dg-lines-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[diagnose.checks]\ndemo.lines = dg_lines_plugin:Lines\n")
    (site / "dg_lines_plugin.py").write_text(textwrap.dedent(PLUGIN_SOURCE))
    return str(site)


class LinesRig:
    """A state directory, a config and the lines file; ``run`` is the CLI."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.state = base / "state"
        self.file = base / "lines.txt"
        self.config = base / "site.toml"
        self.config.write_text(f'[site]\nrole = "server"\n\n[lines]\nfile = "{self.file}"\n')
        self.site = make_lines_plugin(base)

    def env(self, when: dt.datetime | None = None, **extra: str) -> dict[str, str]:
        old = os.environ.get("PYTHONPATH", "")
        env = {"PYTHONPATH": self.site + (os.pathsep + old if old else ""),
               "DIAGNOSE_STATE_DIR": str(self.state)}
        if when is not None:
            env.update(at(when))
        env.update(extra)
        return env

    def set(self, *states: str) -> None:
        self.file.write_text("\n".join(states) + "\n")

    def argv(self, *extra: str) -> list[str]:
        return ["run", "--config", str(self.config), "--only", "demo.lines", *extra]

    def run(self, when: dt.datetime | None, *extra: str, fmt: str = "json"):
        from tests.conftest import run_cli

        return run_cli(*self.argv("--format", fmt, *extra), env=self.env(when))


@pytest.fixture
def lines(tmp_path):
    return LinesRig(tmp_path)


# -- a disk filling day by day -------------------------------------------------

def daily_runs(fs, state: Path, days: int, grow=None, fmt: str = "json", extra: str = "",
               save_facts: Path | None = None):
    """Audit the real filesystem *fs* (tests/rigs/disk.py) once a simulated
    night for *days* nights; before each run ``grow(fs, n)`` adds that
    night's data. Returns the CLI result of the last night."""
    from tests.conftest import run_cli

    config = fs.config(f'app_paths = ["{fs.path("callcenter")}"]\n{extra}')
    proc = None
    for n in range(days):
        if grow is not None:
            grow(fs, n)
        last = n == days - 1
        args = ["run", "--config", config, "--only", "disk.space", "--format", fmt if last else "json"]
        if last and save_facts is not None:
            args += ["--save-facts", str(save_facts)]
        proc = run_cli(*args, env={**at(day(n)), "DIAGNOSE_STATE_DIR": str(state)})
        assert proc.returncode in (0, 1, 2), proc.stderr
    return proc


PER_DAY = 400 * 1024  # 100 pages of 4 KiB: tmpfs counts it exactly


def films(fs, n: int) -> None:
    """Someone copies one more 400 KB film into share/Movies every night."""
    fs.fill(f"share/Movies/film-{n:02d}.mkv", PER_DAY, "nobody")


def recordings(fs, n: int) -> None:
    """The application records 400 KB of calls every night, never deleted."""
    fs.fill(f"callcenter/recordings/2026-11-{n + 1:02d}/calls.wav", PER_DAY)


def starting_data(fs) -> None:
    fs.fill("callcenter/db/cc.db", 1_000_000)
    fs.fill("share/Movies/old.mkv", 1_000_000, "nobody")


def record_forecasts(out_dir: str) -> None:
    """Re-record tests/data/disk.space/forecast-*.json from real tmpfs runs
    (as root: ``python3 -m tests.rigs.history``)."""
    import json
    import tempfile

    from tests.rigs.disk import small_filesystems

    cases = [
        ("forecast-films", "8 MB tmpfs, 400 KB of films (owner nobody) copied into share/Movies "
         "every night for 10 nights: about 5.6 days left, warn, site fault naming share/Movies",
         films, lambda fs: [{"subject": fs.mountpoint, "status": "warn", "fault": "site",
                             "title_contains": "will be full in about"}]),
        ("forecast-recordings", "8 MB tmpfs, 400 KB of call recordings under app_paths every "
         "night for 10 nights: warn, software fault (no retention)",
         recordings, lambda fs: [{"subject": fs.mountpoint, "status": "warn", "fault": "software",
                                  "title_contains": "the application's"}]),
        ("forecast-flat", "8 MB tmpfs audited 10 nights with nothing added: ok, no forecast",
         None, lambda fs: [{"subject": fs.mountpoint, "status": "ok"}]),
    ]
    with small_filesystems() as make:
        for name, desc, grow, expect in cases:
            fs = make("8m")
            starting_data(fs)
            with tempfile.TemporaryDirectory() as tmp:
                facts = Path(tmp) / "facts.json"
                daily_runs(fs, Path(tmp) / "state", 10, grow, save_facts=facts)
                saved = json.loads(facts.read_text())
            doc = {"description": desc, "config": saved["config"]["disk"],
                   "facts": saved["checks"]["disk.space"]["facts"], "expect": expect(fs)}
            with open(os.path.join(out_dir, f"{name}.json"), "w") as fh:
                json.dump(doc, fh, indent=1)
                fh.write("\n")


if __name__ == "__main__":
    record_forecasts(os.path.join(os.path.dirname(__file__), "..", "data", "disk.space"))
