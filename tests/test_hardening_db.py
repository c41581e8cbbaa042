"""database.integrity touches nothing it should not: a WAL-mode SQLite
database is left exactly as found (no -wal/-shm appear, a concurrent
writer is not disturbed), what CHECK TABLE writes on MyISAM/Aria tables is
measured byte for byte and said in the finding, and a log read that hangs
(a FUSE filesystem that stopped answering) names the database and file."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from diagnose.check import section_config
from diagnose.host import Host
from diagnose.registry import Registry
from tests.conftest import needs_root, run_cli
from tests.rigs.databases import mariadb_rig  # noqa: F401  (fixture)
from tests.rigs.hostile import hung_fs  # noqa: F401  (fixture)

CHECK = Registry.discover().checks["database.integrity"]


def make_wal_db(path) -> None:
    c = sqlite3.connect(path)
    c.execute("PRAGMA journal_mode=WAL")
    c.executescript("CREATE TABLE calls (id INTEGER PRIMARY KEY, agent TEXT);"
                    "CREATE INDEX calls_agent ON calls(agent);")
    c.executemany("INSERT INTO calls(agent) VALUES (?)", [(f"agent-{i:04d}",) for i in range(3000)])
    c.commit()
    c.close()  # the last connection checkpoints and removes -wal/-shm


def state(d) -> dict:
    return {n: (hashlib.sha256(open(os.path.join(d, n), "rb").read()).hexdigest(),
                os.stat(os.path.join(d, n)).st_mtime_ns) for n in sorted(os.listdir(d))}


def probe(db: str) -> dict:
    cfg = section_config(CHECK, {"items": [{"name": "callcenter", "url": f"sqlite:///{db}"}]})
    facts = CHECK.probe(Host("/"), cfg)
    [f] = CHECK.judge(facts, cfg)
    return facts["databases"][0], f


def test_wal_database_without_a_writer_is_left_exactly_as_found(tmp_path):
    db = str(tmp_path / "cc.db")
    make_wal_db(db)
    before = state(tmp_path)
    assert list(before) == ["cc.db"]
    facts, f = probe(db)
    assert facts["file"]["header"]["wal"] is True and facts["file"]["opened"] == "immutable"
    assert str(f.status) == "ok" and "is intact" in f.title
    assert state(tmp_path) == before  # same names, bytes and mtimes: no -wal, no -shm


WRITER = textwrap.dedent("""
    import sqlite3, sys, time
    c = sqlite3.connect(sys.argv[1], timeout=0.2)
    n = errors = 0
    end = time.monotonic() + float(sys.argv[2])
    print("ready", flush=True)
    while time.monotonic() < end:
        try:
            c.execute("INSERT INTO calls(agent) VALUES (?)", (f"live-{n}",))
            c.commit()
            n += 1
        except sqlite3.Error as exc:
            errors += 1
            print(f"error: {exc}", file=sys.stderr, flush=True)
    c.close()
    print(n, errors)
""")


def test_wal_database_with_a_concurrent_writer_is_not_disturbed(tmp_path):
    db = str(tmp_path / "cc.db")
    make_wal_db(db)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, db, "4"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        seen = []
        for _ in range(3):
            facts, f = probe(db)
            seen.append((facts["file"]["opened"], str(f.status)))
        out, err = writer.communicate(timeout=60)
    finally:
        if writer.poll() is None:
            writer.kill()
    written, errors = map(int, out.split())
    assert errors == 0 and err == "" and written > 0  # never SQLITE_BUSY because of the check
    assert all(status == "ok" for _, status in seen), seen
    assert sorted(os.listdir(tmp_path)) == ["cc.db"]  # the writer closed: nothing of ours left behind
    assert sqlite3.connect(db).execute("SELECT count(*) FROM calls").fetchone()[0] == 3000 + written


@needs_root
@pytest.mark.skipif(subprocess.run(["which", "mariadb-install-db"], capture_output=True).returncode != 0,
                    reason="apt-get install mariadb-server")
def test_what_check_table_writes_is_measured_and_said(mariadb_rig):
    d = os.path.join(mariadb_rig.data, "healthy")
    names = sorted(n for n in os.listdir(d) if n.rsplit(".", 1)[-1] in ("MYI", "MYD", "MAI", "MAD", "frm", "ibd"))
    before = {n: open(os.path.join(d, n), "rb").read() for n in names}
    cfg = section_config(CHECK, {"items": [{"name": "callcenter", "url": mariadb_rig.url("healthy")}]})
    facts = CHECK.probe(Host("/"), cfg)
    [f] = CHECK.judge(facts, cfg)
    after = {n: open(os.path.join(d, n), "rb").read() for n in names}
    changed = {n: [i for i in range(min(len(before[n]), len(after[n]))) if before[n][i] != after[n][i]]
               for n in names if before[n] != after[n]}
    # rows, index pages, table definitions and InnoDB: not a byte
    assert not [n for n in changed if not n.endswith((".MYI", ".MAI"))], changed
    assert set(changed) <= {"agents.MYI", "calls.MAI"}
    # only inside the state header at the start of the index file
    assert all(i < 512 for offsets in changed.values() for i in offsets), changed
    assert "CHECK TABLE is not read-only on MyISAM/Aria tables" in f.detail
    assert "Tables whose header was written: agents, calls." in f.detail
    assert f.evidence["verified"]["wrote_headers_of"] == ["agents", "calls"]


@needs_root
def test_a_hung_log_read_names_the_database_and_the_file(tmp_path, hung_fs):
    db = tmp_path / "cc.db"
    make_wal_db(str(db))
    cfg = tmp_path / "site.toml"
    cfg.write_text(f'[site]\nrole = "server"\n[[database]]\nname = "callcenter"\nurl = "sqlite:///{db}"\n'
                   f'log = "{hung_fs.log}"\ntimeout_s = 3\n')
    out = tmp_path / "report.json"
    # The process cannot end while one of its threads waits on the hung
    # filesystem (as on a hung NFS mount): the report is written first.
    proc = subprocess.Popen([sys.executable, "-m", "diagnose", "run", "--config", str(cfg), "--only",
                             "database.integrity", "--format", "json", "--output", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        for _ in range(600):
            if out.exists():
                break
            time.sleep(0.1)
        report = json.loads(out.read_text())
    finally:
        hung_fs.release()
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 3 and "Traceback" not in stderr, stderr
    [check] = report["checks"]
    assert check["status"] == "error"
    assert check["error"] == (f"probe timed out after 3s and was abandoned, still hung while reading the log "
                              f"{hung_fs.log} of database callcenter")
