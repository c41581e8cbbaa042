"""Issue 17, classes 6 and 8, on real SQLite files: a database emptied (0 bytes,
or no table left) is not intact, a -wal deleted under a running writer is a
finding about the database, not a tool error; and a service's "no such table"
nests under the emptied database."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys

from tests.conftest import run_cli

NO_NETWORK = "[network]\nenabled = false\n"


def run(tmp_path, db: str, extra: str = "") -> tuple[int, dict]:
    cfg = tmp_path / "site.toml"
    cfg.write_text(f'[site]\nrole = "server"\n{NO_NETWORK}[[database]]\nname = "callcenter"\n'
                   f'url = "sqlite:///{db}"\n{extra}')
    done = run_cli("run", "--config", str(cfg), "--only", "database.integrity", "--only",
                   "application.services", "--format", "json")
    return done.returncode, json.loads(done.stdout)


def finding(report: dict, check: str) -> dict:
    [f] = [f for f in report["findings"] if f["check"] == check]
    return f


def make_db(path: str) -> None:
    con = sqlite3.connect(path)
    con.executescript("CREATE TABLE agents(id INTEGER PRIMARY KEY, name TEXT);"
                      "CREATE TABLE calls(id INTEGER PRIMARY KEY, agent INTEGER);"
                      "INSERT INTO agents(name) VALUES ('anna'), ('boris');")
    con.close()


def test_a_zero_byte_database_was_emptied(tmp_path):
    db = tmp_path / "cc.db"
    db.write_bytes(b"")
    code, report = run(tmp_path, str(db))
    f = finding(report, "database.integrity")
    assert code == 2 and f["status"] == "fail"
    assert f["title"] == "SQLite database callcenter was emptied: the file is 0 bytes: every table is gone"


def test_a_database_with_every_table_dropped_was_emptied_and_the_service_nests_under_it(tmp_path):
    db = str(tmp_path / "cc.db")
    make_db(db)
    con = sqlite3.connect(db)
    con.executescript("DROP TABLE agents; DROP TABLE calls; VACUUM;")
    con.close()
    log = tmp_path / "server.log"
    log.write_text("2026-12-02 08:00:00,000 INFO ccserver: starting\n"
                   "2026-12-02 08:00:01,000 ERROR ccserver: sqlite3.OperationalError: no such table: agents\n")
    code, report = run(tmp_path, db, f'[[service]]\nname = "ccserver"\nprocess = "ccserver-absent"\n'
                                     f'log = "{log}"\ndatabases = ["callcenter"]\n')
    f = finding(report, "database.integrity")
    assert f["title"] == "SQLite database callcenter was emptied: the file holds no table at all"
    svc = finding(report, "application.services")
    assert svc["caused_by"] == [f["id"]]  # "no such table" is a consequence, not a second root
    assert report["verdict"]["site_faults"] + report["verdict"]["software_faults"] \
        + report["verdict"]["undetermined"] == 1
    assert code == 2


def test_an_intact_database_with_tables_stays_ok(tmp_path):
    db = str(tmp_path / "cc.db")
    make_db(db)
    code, report = run(tmp_path, db)
    assert finding(report, "database.integrity")["status"] == "ok"


WRITER = r"""
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA journal_mode=WAL")
con.execute("PRAGMA wal_autocheckpoint=0")
con.execute("CREATE TABLE IF NOT EXISTS calls(id INTEGER PRIMARY KEY, note TEXT)")
con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the table is in the main file; the rows only in the WAL
for i in range(200):
    con.execute("INSERT INTO calls(note) VALUES (?)", ("call %d" % i,))
print("ready", flush=True)
time.sleep(120)
"""


def test_a_wal_deleted_under_a_running_writer_is_a_database_finding_not_a_tool_error(tmp_path):
    db = str(tmp_path / "cc.db")
    prog = tmp_path / "ccwriter"
    prog.symlink_to(sys.executable)
    writer = subprocess.Popen([str(prog), "-c", WRITER, db], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        os.remove(db + "-wal")  # what a careless "cleanup" of /var/lib does
        before = sorted(os.listdir(tmp_path))
        code, report = run(tmp_path, db)
        after = sorted(os.listdir(tmp_path))
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=10)
    f = finding(report, "database.integrity")
    assert code == 2, f["title"]  # a finding about the database, not exit 3
    assert f["status"] == "fail" and f["fault"] == "undetermined"
    assert f["title"] == ("SQLite database callcenter lost its write-ahead log: the -wal file was deleted "
                          "while it was open")
    assert f"ccwriter (pid {writer.pid})" in f["detail"]
    assert before == [a for a in after if a != "site.toml"]  # the check created no -wal or -shm


def test_a_wal_deleted_with_the_schema_still_in_it_says_so_first(tmp_path):
    """Everything, tables included, was only in the deleted WAL: the main file
    looks empty, and the report names the WAL as the cause, not "emptied"."""
    db = str(tmp_path / "cc.db")
    code = WRITER.replace('con.execute("PRAGMA wal_checkpoint(TRUNCATE)")', "pass")
    prog = tmp_path / "ccwriter"
    prog.symlink_to(sys.executable)
    writer = subprocess.Popen([str(prog), "-c", code, db], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        os.remove(db + "-wal")
        rc, report = run(tmp_path, db)
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=10)
    f = finding(report, "database.integrity")
    assert rc == 2 and "lost its write-ahead log" in f["title"]
    assert "emptied" not in f["title"]
