"""database.integrity on real SQLite files: healthy, an index key changed
(quick_check passes, integrity_check does not), a page of garbage, a
clobbered header, a missing file, a file too big for its budget, and a log
that shows the disk filled up first."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess

import pytest

from diagnose.checks.database.check import DatabaseIntegrity
from diagnose.check import section_config
from diagnose.host import Host
from diagnose.model import Fault, Status
from tests.conftest import is_root
from tests.rigs import databases as rig
from tests.rigs.databases import thin_disk  # noqa: F401  (fixture)

CHECK = DatabaseIntegrity()


def run(items: list[dict]) -> tuple[dict, list]:
    cfg = section_config(CHECK, {"items": items})
    facts = json.loads(json.dumps(CHECK.probe(Host("/"), cfg)))
    return facts, CHECK.judge(facts, cfg)


def one(path: str, **extra) -> tuple[dict, object]:
    facts, [finding] = run([{"name": "callcenter", "url": f"sqlite:///{path}", **extra}])
    assert finding.subject == "callcenter"
    return facts["databases"][0], finding


@pytest.fixture
def db(tmp_path):
    path = str(tmp_path / "cc.db")
    rig.make_sqlite(path)
    return path


def test_healthy_file_is_ok_and_not_written(db):
    before = (hashlib.sha256(open(db, "rb").read()).hexdigest(), os.stat(db).st_mtime_ns)
    listing = sorted(os.listdir(os.path.dirname(db)))
    facts, f = one(db)
    assert f.status is Status.OK and f.fault is None
    assert "intact" in f.title and "integrity_check" in f.title
    assert f.evidence["verified"] == {"check": "integrity_check", "full_check_skipped": None, "tables": 2,
                                      "indexes": 2, "only_tables": []}
    assert f.evidence["mount"] == Host().mount_of(db).mountpoint
    after = (hashlib.sha256(open(db, "rb").read()).hexdigest(), os.stat(db).st_mtime_ns)
    assert after == before
    assert sorted(os.listdir(os.path.dirname(db))) == listing  # no journal or -shm left behind


def test_changed_index_key_passes_quick_check_but_not_integrity_check(db):
    rig.sqlite_change_index_key(db)
    _, quick = one(db, mode="quick")
    assert quick.status is Status.OK
    assert "quick_check" in quick.title and "does not compare index entries" in quick.title
    facts, full = one(db, mode="full")
    assert full.status is Status.FAIL
    assert full.title == "SQLite database callcenter is corrupt: index agents_name on agents"
    assert full.fault is Fault.SOFTWARE  # nothing on this machine points at the site
    assert any("missing from index agents_name" in p["message"] for p in full.evidence["problems"])
    assert "REINDEX agents_name;" in full.remedy
    # the safe order: free the disk, back up, then repair
    assert full.remedy.index("free space") < full.remedy.index("cp -a") < full.remedy.index("REINDEX")


def test_page_of_garbage_names_the_table(db):
    rig.sqlite_garbage_page(db, "calls")
    facts, f = one(db)
    assert f.status is Status.FAIL and f.fault is Fault.SOFTWARE
    assert "table calls" in f.title
    assert f.title == "SQLite database callcenter is corrupt: table calls"
    assert {(p["object"], p.get("code")) for p in f.evidence["problems"] if p["object"]} == {("calls", "SQLITE_CORRUPT")}
    assert ".recover" in f.remedy and "REINDEX" not in f.remedy


def test_clobbered_header_is_sqlite_notadb(db):
    rig.sqlite_clobber_header(db)
    facts, f = one(db)
    assert f.status is Status.FAIL
    assert "header is destroyed" in f.title
    assert f.evidence["problems"][0]["code"] == "SQLITE_NOTADB"
    assert f.evidence["file"]["header"]["magic_ok"] is False
    assert "restore" in f.remedy


def test_missing_file_is_not_called_corruption(tmp_path):
    _, f = one(str(tmp_path / "nope.db"))
    assert f.status is Status.FAIL and f.fault is Fault.UNDETERMINED
    assert f.title == f"SQLite database file is missing: {tmp_path / 'nope.db'}"
    assert "corrupt" not in f.title


def test_file_over_budget_gets_quick_check_and_says_so(db, monkeypatch):
    # The choice is made from the file's size against budget_s; a clock that
    # stands still lets the quick check finish however slow the machine is.
    from diagnose.checks.database import sqlite_pragmas as db_sqlite

    monkeypatch.setattr(db_sqlite, "clock", lambda: 0.0)
    facts, f = one(db, budget_s=0.001)
    assert f.status is Status.OK
    assert "partial check only" in f.title
    assert facts["verified"]["check"] == "quick_check"
    assert "more than budget_s" in facts["verified"]["full_check_skipped"]
    assert "budget_s" in f.remedy and "PRAGMA integrity_check" in f.remedy


def test_only_listed_tables(db):
    rig.sqlite_change_index_key(db)
    _, f = one(db, tables=["calls"])
    assert f.status is Status.OK and f.evidence["verified"]["tables"] == 1
    _, f = one(db, tables=["agents"])
    assert f.status is Status.FAIL and "agents_name" in f.title


def test_disk_full_in_the_log_before_the_corruption_is_a_site_fault(db, tmp_path):
    rig.sqlite_garbage_page(db, "calls")
    log = tmp_path / "server.log"
    log.write_text(
        "2026-11-21 09:00:00 INFO callcenter started\n"
        f"2026-11-21 18:02:11 ERROR saving call 88121: database or disk is full ({db})\n"
        "2026-11-21 18:02:12 ERROR sqlite3.DatabaseError: database disk image is malformed\n")
    facts, f = one(db, log=str(log))
    assert f.status is Status.FAIL and f.fault is Fault.SITE
    assert "disk filling up" in f.detail and "2026-11-21 18:02:11" in f.detail
    [line] = f.evidence["log_disk_full"]
    assert line["time"] == "2026-11-21 18:02:11" and line["line"] == 2


def test_disk_full_after_the_corruption_does_not_explain_it(db, tmp_path):
    rig.sqlite_garbage_page(db, "calls")
    log = tmp_path / "server.log"
    log.write_text("2026-11-21 18:02:12 ERROR database disk image is malformed\n"
                   "2026-11-21 19:00:00 ERROR No space left on device\n")
    _, f = one(db, log=str(log))
    assert f.fault is Fault.SOFTWARE
    assert "log_disk_full" not in f.evidence


@pytest.mark.skipif(not is_root(), reason="needs root (loop devices, mounts)")
def test_kernel_io_errors_on_the_database_device_are_a_site_fault(thin_disk):
    if subprocess.run(["dmesg"], capture_output=True).returncode != 0:
        pytest.skip("the kernel log cannot be read here (dmesg restricted)")
    disk = thin_disk("io")
    db = disk.path("cc.db")
    with pytest.raises(sqlite3.OperationalError):  # the storage runs out under SQLite
        rig.make_sqlite(db, rows=40000)
    facts, f = one(db)
    loop = os.path.basename(disk.loop)
    assert f.status is Status.FAIL and f.fault is Fault.SITE
    assert facts["kernel"]["devices"] == [loop] and facts["kernel"]["source"] == "dmesg"
    assert f.evidence["kernel_io_errors"] and all(loop in ln for ln in f.evidence["kernel_io_errors"])
    assert f"I/O errors on {loop}" in f.detail
    assert f.evidence["mount"] == disk.mountpoint
    assert f.title == "SQLite database callcenter has a half-done write (hot journal) and its disk reports I/O errors"
    assert "Do not delete" in f.remedy


def test_hot_journal_on_a_healthy_disk_is_a_warning(db):
    # A writer killed mid-transaction leaves cc.db-journal behind; a
    # read-only open cannot roll it back, the application's next open will.
    import sys

    code = (f"import sqlite3, os; c = sqlite3.connect({db!r}); c.execute('BEGIN'); "
            "c.execute(\"UPDATE calls SET note = 'y'\"); c.execute('PRAGMA cache_size = 1'); "
            "c.execute(\"UPDATE agents SET name = name || '.'\"); os._exit(9)")
    subprocess.run([sys.executable, "-c", code])
    if not os.path.exists(db + "-journal"):
        pytest.skip("SQLite kept the whole transaction in memory")
    facts, f = one(db)
    assert f.status is Status.WARN, f.title
    assert f.title == "SQLite database callcenter has a half-done write (hot journal) not rolled back yet"


def test_budget_enforced_while_the_check_runs(db, monkeypatch):
    # The size estimate says the full check fits; the progress handler
    # still stops it (and then quick_check) at budget_s.
    from diagnose.checks.database import sqlite_pragmas as db_sqlite

    monkeypatch.setattr(db_sqlite, "FULL_CHECK_BYTES_PER_S", 10 ** 15)
    ticks = iter(range(0, 10 ** 9, 1000))  # every reading of the clock is 1000 s later
    monkeypatch.setattr(db_sqlite, "clock", lambda: float(next(ticks)))
    facts, f = one(db, budget_s=1e-6)
    assert [e["error"] for e in facts["errors"]] == [
        "integrity_check stopped after budget_s = 1e-06 s", "quick_check: interrupted"]
    assert f.status is Status.WARN and f.fault is Fault.UNDETERMINED
    assert f.title == "SQLite database callcenter could not be checked within budget_s = 1e-06 s"
