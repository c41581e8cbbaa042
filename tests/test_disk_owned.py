"""Issue 17, class 1: a disk filled by the configured service's own log, its
data_paths, its SQLite database or a file its running process holds open is
the application's data, even when [disk] app_paths does not list it. Real
tmpfs filesystems, a real process, the real CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import needs_root, run_cli
from tests.rigs.disk import small_fs  # noqa: F401  (fixture)

pytestmark = needs_root

NO_NETWORK = "[network]\nenabled = false\n"


def run_disk(fs, extra: str) -> tuple[int, dict]:
    # 20% free fails: the rig's 8 MB filesystems are filled to about 90%.
    cfg = fs.config("fail_free_percent = 20\nwarn_free_percent = 30\n" + extra + NO_NETWORK)
    done = run_cli("run", "--config", cfg, "--only", "disk.space", "--format", "json")
    report = json.loads(done.stdout)
    [f] = [f for f in report["findings"] if f["check"] == "disk.space"]
    return done.returncode, f


def assert_application_own(f: dict, path: str, words: str) -> None:
    assert (f["status"], f["fault"]) == ("fail", "software"), f["title"]
    assert f"mostly {words}: {path}" in f["title"]
    assert "ask the owner" not in f["remedy"] and "not the call-center" not in f["remedy"]
    assert "foreign" not in f["title"]


def test_the_services_own_log_fills_the_disk(small_fs):
    fs = small_fs()
    log = fs.fill("log/callcenter/server.log", 7_600_000, "nobody")
    fs.fill("share/notes.txt", 20_000, "nobody")
    code, f = run_disk(fs, f'\n[[service]]\nname = "callcenter"\nprocess = "ccserver-absent"\nlog = "{log}"\n')
    assert code == 2
    assert_application_own(f, log, "the application's own log")
    assert "service callcenter" in f["title"]
    row = [r for r in f["evidence"]["scan"]["app_paths"] if r["path"] == log][0]
    assert row["kind"] == "log" and row["bytes"] >= 7_600_000


def test_the_services_data_paths_fill_the_disk(small_fs):
    fs = small_fs()
    fs.fill("callcenter/exports/2026-11.csv", 4_000_000)
    fs.fill("callcenter/exports/2026-12.csv", 3_600_000)
    data = fs.path("callcenter/exports")
    code, f = run_disk(fs, f'\n[[service]]\nname = "callcenter"\nprocess = "ccserver-absent"\n'
                           f'data_paths = ["{data}"]\n')
    assert code == 2
    assert_application_own(f, data, "the application's own data")


def test_a_configured_sqlite_database_fills_the_disk(small_fs):
    fs = small_fs()
    db = fs.fill("db/cc.db", 7_500_000)
    code, f = run_disk(fs, f'\n[[database]]\nname = "callcenter"\nurl = "sqlite:///{db}"\n')
    assert code == 2
    assert_application_own(f, db, "the application's own database")
    assert "database callcenter" in f["title"]


def test_a_file_the_service_holds_open_is_the_applications(small_fs, tmp_path):
    fs = small_fs()
    spool = fs.path("spool/queue.bin")
    os.makedirs(os.path.dirname(spool))
    # A stand-in for the call-center server: a process named ccholder that
    # keeps a large file open, as a recorder keeps its spool.
    prog = tmp_path / "ccholder"
    prog.write_text(f"#!{sys.executable}\nimport time\nf = open({spool!r}, 'wb')\n"
                    "f.write(b'x' * 7_400_000); f.flush()\nprint('ready', flush=True)\ntime.sleep(120)\n")
    prog.chmod(0o755)
    proc = subprocess.Popen([str(prog)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        code, f = run_disk(fs, '\n[[service]]\nname = "recorder"\nprocess = "ccholder"\n')
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert code == 2
    assert_application_own(f, spool, "a file the application holds open")
    assert "service recorder" in f["title"]


def test_foreign_films_beside_a_small_service_log_stay_foreign(small_fs):
    """The other side of the class: naming the app's files must not excuse films."""
    fs = small_fs()
    log = fs.fill("log/callcenter/server.log", 300_000)
    fs.fill("share/Movies/film.mkv", 7_300_000, "nobody")
    code, f = run_disk(fs, f'\n[[service]]\nname = "callcenter"\nprocess = "ccserver-absent"\nlog = "{log}"\n')
    assert (f["status"], f["fault"]) == ("fail", "site")
    assert "mostly foreign data" in f["title"] and "Movies" in f["title"]
    assert log not in f["remedy"]  # the application's own log is never offered for deletion
