"""Throwaway database servers and files for database.integrity tests.

Each server lives in its own temporary directory with its own port (picked
free by binding port 0) and its own unix socket, runs as the system user the
Debian package created (``postgres`` / ``mysql``: the servers refuse to run
as root), and is stopped by its pid in a finalizer. The packages' own
default clusters and services are never used or touched.

Corruption happens on disk while the server is stopped, the way a torn write
or a bad disk would leave it.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_pid_gone(pid: int, timeout: float = 15.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        # A child of ours stays a zombie until reaped.
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def _chown_tree(path: str, user: str) -> None:
    pw = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, pw.pw_uid, pw.pw_gid)
        for f in files:
            os.chown(os.path.join(root, f), pw.pw_uid, pw.pw_gid)


def overwrite(path: str, offset: int, data: bytes) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


# -- SQLite ----------------------------------------------------------------

PAGE = 4096


def make_sqlite(path: str, rows: int = 2000) -> None:
    """A small call-center database: agents (indexed by name) and calls."""
    conn = sqlite3.connect(path)
    conn.executescript(f"""
        PRAGMA page_size = {PAGE};
        CREATE TABLE agents (id INTEGER PRIMARY KEY, name TEXT NOT NULL, ext INTEGER);
        CREATE INDEX agents_name ON agents(name);
        CREATE TABLE calls (id INTEGER PRIMARY KEY, agent INTEGER, started TEXT, note TEXT);
        CREATE INDEX calls_agent ON calls(agent);
    """)
    # Names 10 apart: changing the last digit of one keeps the index sorted,
    # so only a comparison of index entries with rows can notice.
    conn.executemany("INSERT INTO agents(name, ext) VALUES (?, ?)",
                     [(f"agent-{i * 10:06d}", 100 + i) for i in range(rows)])
    conn.executemany("INSERT INTO calls(agent, started, note) VALUES (?, ?, ?)",
                     [(i % rows, f"2026-11-{1 + i % 28:02d}", "x" * 40) for i in range(rows * 2)])
    conn.commit()
    conn.close()


def _pages(path: str, name: str) -> list[int]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [p for (p,) in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno", (name,))]
    finally:
        conn.close()


def sqlite_change_index_key(path: str, key: str = "agent-000400") -> None:
    """Change one key inside an index leaf page, keeping the index in
    order: quick_check passes, integrity_check does not."""
    data = Path(path).read_bytes()
    needle = key.encode()
    for page in _pages(path, "agents_name"):
        start = (page - 1) * PAGE
        at = data.find(needle, start, start + PAGE)
        if at >= 0:
            overwrite(path, at + len(needle) - 1, b"1")
            return
    raise AssertionError(f"key {key} not found in an index page of {path}")


def sqlite_garbage_page(path: str, table: str = "calls") -> int:
    """Overwrite one leaf page of *table* with random bytes; returns its number."""
    page = _pages(path, table)[1]
    overwrite(path, (page - 1) * PAGE, os.urandom(PAGE))
    return page


def sqlite_clobber_header(path: str) -> None:
    overwrite(path, 0, os.urandom(100))


# -- PostgreSQL --------------------------------------------------------------

def pg_bindir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return os.path.dirname(found[-1]) if found else None


class PgCluster:
    """initdb into a temp dir as ``postgres``; own port, socket dir, log."""

    def __init__(self, tag: str, data: str | None = None) -> None:
        """*data*: where the data directory goes (e.g. on a small tmpfs of
        the test's); default inside the cluster's temp dir. A data directory
        elsewhere gets 1 MB WAL segments, so that it fits a small disk."""
        self.bindir = pg_bindir()
        if self.bindir is None:
            raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
        self.dir = tempfile.mkdtemp(prefix=f"dgdb-pg-{tag}-{os.getpid()}-")
        os.chmod(self.dir, 0o755)
        self.data = data or os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "server.log")
        self.port = free_port()
        self.pid: int | None = None
        try:
            _chown_tree(self.dir, "postgres")
            if data:
                os.makedirs(data, mode=0o700, exist_ok=True)
                _chown_tree(data, "postgres")
            self._as_postgres([f"{self.bindir}/initdb", "-D", self.data, "-U", "postgres", "-A", "trust",
                               "--no-sync", "-E", "UTF8", "--locale=C"]
                              + (["--wal-segsize=1"] if data else []))
            with open(os.path.join(self.data, "pg_hba.conf"), "w") as fh:
                # Unix socket: trust (the rig's own superuser); TCP: passwords.
                fh.write("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def _as_postgres(self, argv: list[str]) -> str:
        res = subprocess.run(["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True,
                             timeout=60)
        if res.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {res.stderr or res.stdout}")
        return res.stdout

    def start(self) -> None:
        try:
            self._as_postgres([f"{self.bindir}/pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "30",
                               "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                                     f"-c fsync=off -c shared_buffers=16MB", "start"])
        finally:
            # Even when pg_ctl gave up waiting, a postmaster may run: know its pid to stop it.
            try:
                with open(os.path.join(self.data, "postmaster.pid")) as fh:
                    self.pid = int(fh.readline())
            except (OSError, ValueError):
                pass

    def stop(self) -> None:
        """Fast shutdown by pid (SIGINT), as pg_ctl -m fast would."""
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
        _wait_pid_gone(self.pid)
        self.pid = None

    def url(self, db: str, user: str = "postgres") -> str:
        return f"postgresql://{user}@/{db}?host={self.dir}&port={self.port}"

    def tcp_url(self, db: str, user: str, password: str | None = None) -> str:
        auth = f"{user}:{password}" if password else user
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{db}"

    def connect(self, db: str = "postgres"):
        import psycopg

        return psycopg.connect(host=self.dir, port=self.port, user="postgres", dbname=db, autocommit=True)

    def sql(self, db: str, *statements: str) -> list:
        with self.connect(db) as conn:
            rows = []
            for s in statements:
                cur = conn.execute(s)
                rows = cur.fetchall() if cur.description else []
            return rows

    def relpath(self, db: str, relation: str) -> str:
        rel = self.sql(db, f"SELECT pg_relation_filepath('{relation}')")[0][0]
        return os.path.join(self.data, rel)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        if not self.data.startswith(self.dir):
            shutil.rmtree(self.data, ignore_errors=True)


PG_SCHEMA = [
    "CREATE TABLE agents (id int PRIMARY KEY, name text NOT NULL)",
    "CREATE INDEX agents_name ON agents(name)",
    "INSERT INTO agents SELECT g, 'agent-' || lpad((g * 10)::text, 6, '0') FROM generate_series(1, 2000) g",
    "CREATE TABLE calls (id int PRIMARY KEY, agent int, note text)",
    "INSERT INTO calls SELECT g, g % 2000, repeat('x', 40) FROM generate_series(1, 5000) g",
    "VACUUM ANALYZE",
    "CHECKPOINT",
]


def pg_corrupt_index_key(path: str, key: bytes = b"agent-000400") -> None:
    """Change one key in the btree file (block 0 is the metapage)."""
    data = Path(path).read_bytes()
    at = data.find(key, 8192)
    if at < 0:
        raise AssertionError(f"key {key!r} not in {path}")
    overwrite(path, at + len(key) - 1, b"1")


def pg_garbage_page_header(path: str, block: int = 1) -> None:
    """Garbage over a heap page's header: the buffer manager refuses it
    with "invalid page in block"."""
    overwrite(path, block * 8192, os.urandom(24))


# -- MariaDB ---------------------------------------------------------------

class MariaDB:
    """mariadb-install-db into a temp dir; mariadbd as ``mysql`` with its own
    socket, port, pid file and error log, crash recovery of MyISAM/Aria off
    so that on-disk damage stays visible."""

    def __init__(self, tag: str, cnf: bool = False) -> None:
        """*cnf*: start the server from a my.cnf of its own (``self.cnf``,
        [mysqld] datadir, socket, log_error ...) as a packaged server is,
        instead of command-line options."""
        self.dir = tempfile.mkdtemp(prefix=f"dgdb-my-{tag}-{os.getpid()}-")
        self.cnf = os.path.join(self.dir, "my.cnf") if cnf else None
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "mysqld.sock")
        self.errlog = os.path.join(self.dir, "error.log")
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        _chown_tree(self.dir, "mysql")
        res = subprocess.run(
            # Its own tmpdir: bootstraps running at the same time on one machine
            # otherwise share /tmp/#sql-temptable-* files and can fail.
            ["mariadb-install-db", "--no-defaults", f"--datadir={self.data}", "--user=mysql",
             f"--tmpdir={self.dir}",
             "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"],
            capture_output=True, text=True, timeout=120)
        if res.returncode != 0:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise RuntimeError(f"mariadb-install-db failed: {res.stderr or res.stdout}")

    def start(self) -> None:
        options = [f"--datadir={self.data}", "--user=mysql", f"--tmpdir={self.dir}",
                   f"--socket={self.sock}", f"--port={self.port}", "--bind-address=127.0.0.1",
                   f"--pid-file={self.dir}/mysqld.pid", f"--log-error={self.errlog}",
                   "--myisam-recover-options=OFF", "--aria-recover-options=OFF", "--skip-name-resolve",
                   "--innodb-buffer-pool-size=8M", "--innodb-log-file-size=4M", "--skip-log-bin",
                   "--symbolic-links=1", "--performance-schema=OFF"]
        if self.cnf:
            with open(self.cnf, "w") as fh:
                fh.write("[mysqld]\n" + "".join(o[2:] + "\n" for o in options))
            argv = ["mariadbd", f"--defaults-file={self.cnf}"]
        else:
            argv = ["mariadbd", "--no-defaults", *options]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mariadbd exited: {Path(self.errlog).read_text()[-2000:]}")
            try:
                self.connect().close()
                return
            except Exception:
                time.sleep(0.1)
        raise RuntimeError("mariadbd did not start within 30 s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def connect(self, db: str | None = None):
        import pymysql

        return pymysql.connect(unix_socket=self.sock, user="root", database=db, autocommit=True)

    def sql(self, db: str | None, *statements: str) -> list:
        conn = self.connect(db)
        try:
            rows: list = []
            with conn.cursor() as cur:
                for s in statements:
                    cur.execute(s)
                    rows = list(cur.fetchall())
            return rows
        finally:
            conn.close()

    def url(self, db: str, user: str = "root", scheme: str = "mariadb") -> str:
        return f"{scheme}://{user}@localhost/{db}?unix_socket={self.sock}"

    def tcp_url(self, db: str, user: str, password: str | None = None) -> str:
        auth = f"{user}:{password}" if password else user
        return f"mysql://{auth}@127.0.0.1:{self.port}/{db}"

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# -- filesystems -------------------------------------------------------------

class Tmpfs:
    """A small tmpfs of our own, unmounted (lazily, so a busy file cannot
    keep it) and removed in the finalizer."""

    def __init__(self, tag: str, size: str = "8m") -> None:
        self.mountpoint = tempfile.mkdtemp(prefix=f"dgdb-fs-{tag}-{os.getpid()}-")
        try:
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", f"dgdb-{tag}",
                            self.mountpoint], check=True)
        except BaseException:
            os.rmdir(self.mountpoint)
            raise

    def path(self, rel: str) -> str:
        return os.path.join(self.mountpoint, rel)

    def fill_until_full(self, rel: str) -> str:
        """Write a foreign file until the filesystem says ENOSPC."""
        p = self.path(rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        chunk = os.urandom(64 * 1024)
        # Unbuffered: a buffered file would fail once more at close, flushing
        # what no longer fits.
        with open(p, "wb", buffering=0) as fh:
            try:
                while True:
                    fh.write(chunk)
                    fh.flush()
            except OSError:
                pass
        return p

    def cleanup(self) -> None:
        subprocess.run(["umount", "-l", self.mountpoint], capture_output=True)
        try:
            os.rmdir(self.mountpoint)
        except OSError:
            pass


# -- pytest fixtures -----------------------------------------------------------


@pytest.fixture
def tmpfs():
    made: list[Tmpfs] = []

    def make(tag: str = "t", size: str = "8m") -> Tmpfs:
        made.append(Tmpfs(tag, size))
        return made[-1]

    yield make
    for fs in made:
        fs.cleanup()


PG_PASSWORD = "pg-Secret-4711"


@pytest.fixture(scope="module")
def pg_rig():
    """One cluster: ``healthy`` and ``broken`` with amcheck, ``healthy_noam``
    and ``broken_noam`` without; in both broken databases an index key of
    agents_name and the header of heap block 1 of calls were changed on
    disk while the server was stopped. Role ``diag`` logs in over TCP with
    PG_PASSWORD and has no right to run amcheck."""
    pg = PgCluster("rig")
    try:
        pg.start()
        dbs = ["healthy", "broken", "healthy_noam", "broken_noam"]
        pg.sql("postgres", *[f"CREATE DATABASE {d}" for d in dbs],
               f"CREATE ROLE diag LOGIN PASSWORD '{PG_PASSWORD}'")
        for d in dbs:
            pg.sql(d, *PG_SCHEMA)
            if "noam" not in d:
                pg.sql(d, "CREATE EXTENSION amcheck")
        files = [(pg.relpath(d, "agents_name"), pg.relpath(d, "calls")) for d in ("broken", "broken_noam")]
        pg.stop()
        for index, heap in files:
            pg_corrupt_index_key(index)
            pg_garbage_page_header(heap)
        pg.start()
        yield pg
    finally:
        pg.cleanup()


MY_SCHEMA = [
    "CREATE TABLE agents (id INT PRIMARY KEY, name VARCHAR(40), KEY(name)) ENGINE=MyISAM",
    "CREATE TABLE calls (id INT PRIMARY KEY, agent INT, note VARCHAR(80), KEY(agent)) ENGINE=Aria",
    "CREATE TABLE queue (id INT PRIMARY KEY, v INT) ENGINE=InnoDB",
    "INSERT INTO agents SELECT seq, CONCAT('agent-', LPAD(seq * 10, 6, '0')) FROM seq_1_to_2000",
    "INSERT INTO calls SELECT seq, seq % 2000, REPEAT('x', 40) FROM seq_1_to_5000",
    "INSERT INTO queue SELECT seq, seq FROM seq_1_to_100",
]
MY_PASSWORD = "my-Secret-0815"


@pytest.fixture(scope="module")
def mariadb_rig():
    """One server, stopped cleanly once: ``healthy`` untouched; in ``cc``
    the MyISAM data file agents.MYD lost its last 500 bytes and an index
    page of the Aria table calls got garbage. User ``diag`` logs in over
    TCP with MY_PASSWORD and may read both."""
    my = MariaDB("rig")
    try:
        my.start()
        for d in ("healthy", "cc"):
            my.sql(None, f"CREATE DATABASE {d}")
            my.sql(d, *MY_SCHEMA)
        my.sql(None, f"CREATE USER diag@'127.0.0.1' IDENTIFIED BY '{MY_PASSWORD}'",
               "GRANT SELECT ON healthy.* TO diag@'127.0.0.1'", "GRANT SELECT ON cc.* TO diag@'127.0.0.1'")
        my.stop()
        d = os.path.join(my.data, "cc")
        myd = os.path.join(d, "agents.MYD")
        os.truncate(myd, os.path.getsize(myd) - 500)
        overwrite(os.path.join(d, "calls.MAI"), 2 * 8192 + 100, os.urandom(64))
        my.start()
        yield my
    finally:
        my.cleanup()


@pytest.fixture(scope="module")
def mariadb_diskfull():
    """The story of the issue, for real: database ``cc`` lives on a small
    tmpfs (its directory is a symlink there) that someone's film fills;
    MariaDB logs the full disk while writing recordings.MYD, then the
    server dies (SIGKILL, as a power cut would). The film is then deleted
    and the server started again. Yields (server, tmpfs)."""
    my = MariaDB("full")
    fs = None
    try:
        fs = Tmpfs("myfull", "8m")
        my.start()
        os.makedirs(fs.path("cc"))
        _chown_tree(fs.mountpoint, "mysql")
        os.symlink(fs.path("cc"), os.path.join(my.data, "cc"))
        my.sql("cc", "CREATE TABLE recordings (id INT PRIMARY KEY AUTO_INCREMENT, audio MEDIUMBLOB) ENGINE=MyISAM")
        film = fs.fill_until_full("share/Movies/film.mkv")
        os.truncate(film, os.path.getsize(film) - 300 * 1024)

        def insert() -> None:
            try:
                my.sql("cc", "INSERT INTO recordings(audio) SELECT REPEAT('a', 100000) FROM seq_1_to_20")
            except Exception:
                pass  # the server is killed under it

        threading.Thread(target=insert, daemon=True).start()
        end = time.monotonic() + 20
        while time.monotonic() < end and "Errcode: 28" not in Path(my.errlog).read_text():
            time.sleep(0.05)
        my.stop(signal.SIGKILL)
        os.unlink(film)
        my.start()
        yield my, fs
    finally:
        my.cleanup()
        if fs is not None:
            fs.cleanup()


class ThinDisk:
    """An ext4 filesystem on a loop device whose backing file is sparse and
    lives on a tmpfs much smaller than the filesystem: thin-provisioned
    storage that runs out. Writes past the tmpfs's end fail in the block
    layer, so the kernel logs real I/O errors for the loop device and ext4
    aborts its journal and remounts read-only."""

    def __init__(self, tag: str, backing: str = "6m", size: str = "64M") -> None:
        self.loop = self.mountpoint = None
        self.backing = Tmpfs(tag + "-backing", backing)
        try:
            self.image = self.backing.path("disk.img")
            subprocess.run(["truncate", "-s", size, self.image], check=True)
            self.loop = subprocess.run(["losetup", "-f", "--show", self.image], check=True,
                                       capture_output=True, text=True).stdout.strip()
            subprocess.run(["mkfs.ext4", "-q", "-E", "lazy_itable_init=1,lazy_journal_init=1", self.loop],
                           check=True)
            self.mountpoint = tempfile.mkdtemp(prefix=f"dgdb-thin-{tag}-{os.getpid()}-")
            subprocess.run(["mount", self.loop, self.mountpoint], check=True)
        except BaseException:
            self.cleanup()
            raise

    def path(self, rel: str) -> str:
        return os.path.join(self.mountpoint, rel)

    def cleanup(self) -> None:
        if self.mountpoint:
            subprocess.run(["umount", "-l", self.mountpoint], capture_output=True)
            try:
                os.rmdir(self.mountpoint)
            except OSError:
                pass
        if self.loop:
            subprocess.run(["losetup", "-d", self.loop], capture_output=True)
        self.backing.cleanup()


@pytest.fixture
def thin_disk():
    made: list[ThinDisk] = []

    def make(tag: str = "t") -> ThinDisk:
        made.append(ThinDisk(tag))
        return made[-1]

    yield make
    for d in made:
        d.cleanup()


# -- recording judge scenarios -------------------------------------------------

def _probe(items: list[dict]) -> tuple[dict, dict]:
    from diagnose.checks.database.check import DatabaseIntegrity
    from diagnose.check import section_config
    from diagnose.host import Host

    check = DatabaseIntegrity()
    config = {"items": items}
    facts = check.probe(Host("/"), section_config(check, config))
    return config, json.loads(json.dumps(facts))


def record(out_dir: str) -> None:
    """Probe every rig and write tests/data/database.integrity/*.json, so
    the judge is tested on facts real databases produced:
    ``python3 -m tests.rigs.databases tests/data/database.integrity``."""
    os.makedirs(out_dir, exist_ok=True)

    def save(name: str, description: str, items: list[dict], expect: list[dict]) -> None:
        config, facts = _probe(items)
        with open(os.path.join(out_dir, name + ".json"), "w") as fh:
            json.dump({"description": description, "config": config, "facts": facts, "expect": expect},
                      fh, indent=1)
            fh.write("\n")

    def ok(subject: str, title: str) -> list[dict]:
        return [{"subject": subject, "status": "ok", "title_contains": title}]

    def bad(subject: str, status: str, fault: str, title: str) -> list[dict]:
        return [{"subject": subject, "status": status, "fault": fault, "title_contains": title}]

    work = tempfile.mkdtemp(prefix=f"dgdb-rec-{os.getpid()}-")
    try:
        db = os.path.join(work, "cc.db")
        make_sqlite(db)
        item = {"name": "callcenter", "url": f"sqlite:///{db}"}
        save("sqlite-healthy", "A healthy SQLite file, integrity_check", [item],
             ok("callcenter", "is intact (integrity_check"))
        save("sqlite-over-budget", "A file larger than budget_s allows: quick_check, and the finding says so",
             [dict(item, budget_s=0.001)], ok("callcenter", "partial check only"))
        sqlite_change_index_key(db)
        save("sqlite-index-key-changed-quick", "One index key changed on disk; mode quick (quick_check) "
             "cannot see it", [dict(item, mode="quick")], ok("callcenter", "quick_check"))
        save("sqlite-index-key-changed", "One index key changed on disk; integrity_check finds the row "
             "missing from index agents_name", [item],
             bad("callcenter", "fail", "software", "index agents_name on agents"))
        os.unlink(db)
        make_sqlite(db)
        sqlite_garbage_page(db, "calls")
        save("sqlite-garbage-page", "A leaf page of table calls overwritten with random bytes", [item],
             bad("callcenter", "fail", "software", "table calls"))
        log = os.path.join(work, "server.log")
        with open(log, "w") as fh:
            fh.write("2026-11-21 09:00:00 INFO callcenter started\n"
                     f"2026-11-21 18:02:11 ERROR saving call 88121: database or disk is full ({db})\n"
                     "2026-11-21 18:02:12 ERROR sqlite3.DatabaseError: database disk image is malformed\n")
        save("sqlite-disk-full-in-log", "The same damage, and the application's log shows the disk full "
             "one second before the first corruption error", [dict(item, log=log)],
             bad("callcenter", "fail", "site", "table calls"))
        sqlite_clobber_header(db)
        save("sqlite-header-clobbered", "The 100-byte header overwritten: the pragma raises SQLITE_NOTADB",
             [item], bad("callcenter", "fail", "software", "header is destroyed"))
        save("sqlite-missing-file", "The configured file does not exist",
             [{"name": "callcenter", "url": f"sqlite:///{work}/gone.db"}],
             bad("callcenter", "fail", "undetermined", "file is missing"))
        thin = ThinDisk("rec")
        try:
            try:
                make_sqlite(thin.path("cc.db"), rows=40000)
            except sqlite3.Error:
                pass
            save("sqlite-kernel-io-errors", "SQLite on thin-provisioned storage that ran out: the kernel "
                 "logged I/O errors for the loop device and a hot journal was left",
                 [{"name": "callcenter", "url": f"sqlite:///{thin.path('cc.db')}"}],
                 bad("callcenter", "fail", "site", "hot journal"))
        finally:
            thin.cleanup()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    pg = PgCluster("rec")
    try:
        pg.start()
        dbs = ["healthy", "broken", "noam"]
        pg.sql("postgres", *[f"CREATE DATABASE {d}" for d in dbs], f"CREATE ROLE diag LOGIN PASSWORD '{PG_PASSWORD}'")
        for d in dbs:
            pg.sql(d, *PG_SCHEMA)
        pg.sql("healthy", "CREATE EXTENSION amcheck")
        pg.sql("broken", "CREATE EXTENSION amcheck")
        files = (pg.relpath("broken", "agents_name"), pg.relpath("broken", "calls"))
        pg.stop()
        pg_corrupt_index_key(files[0])
        pg_garbage_page_header(files[1])
        pg.start()
        save("postgres-healthy", "A healthy PostgreSQL 15 database with amcheck",
             [{"name": "callcenter", "url": pg.url("healthy")}], ok("callcenter", "is intact (amcheck"))
        save("postgres-index-and-heap-corrupt", "An index key and a heap page header changed on disk while "
             "the cluster was stopped", [{"name": "callcenter", "url": pg.url("broken"), "log": pg.log}],
             bad("callcenter", "fail", "software", "table calls, index agents_name on agents"))
        save("postgres-no-amcheck", "A healthy database without the amcheck extension: not a pass",
             [{"name": "callcenter", "url": pg.url("noam")}],
             bad("callcenter", "warn", "undetermined", "amcheck is not installed"))
        os.environ["DG_REC_PW"] = "not-" + PG_PASSWORD
        save("postgres-wrong-password", "The password in password_env is wrong",
             [{"name": "callcenter", "url": pg.tcp_url("healthy", "diag"), "password_env": "DG_REC_PW"}],
             bad("callcenter", "error", "undetermined", "authentication failed"))
        save("postgres-server-down", "Nothing listens on the configured port",
             [{"name": "callcenter", "url": f"postgresql://postgres@127.0.0.1:{free_port()}/callcenter"}],
             bad("callcenter", "fail", "undetermined", "not accepting connections"))
    finally:
        pg.cleanup()

    my = MariaDB("rec")
    try:
        my.start()
        for d in ("healthy", "cc"):
            my.sql(None, f"CREATE DATABASE {d}")
            my.sql(d, *MY_SCHEMA)
        my.stop()
        d = os.path.join(my.data, "cc")
        os.truncate(os.path.join(d, "agents.MYD"), os.path.getsize(os.path.join(d, "agents.MYD")) - 500)
        overwrite(os.path.join(d, "calls.MAI"), 2 * 8192 + 100, os.urandom(64))
        my.start()
        save("mariadb-healthy", "A healthy MariaDB database: MyISAM, Aria and InnoDB tables",
             [{"name": "callcenter", "url": my.url("healthy")}], ok("callcenter", "CHECK TABLE MEDIUM"))
        save("mariadb-myisam-aria-corrupt", "MyISAM data file truncated and an Aria index page garbled on "
             "disk while the server was stopped cleanly", [{"name": "callcenter", "url": my.url("cc")}],
             bad("callcenter", "fail", "software", "table agents, table calls"))
    finally:
        my.cleanup()
    gen = mariadb_diskfull.__wrapped__()  # the fixture's body, outside pytest
    try:
        server, _fs = next(gen)
        save("mariadb-disk-full-then-crash", "The database's filesystem filled up with a film while "
             "recordings were written (Errcode 28 in the error log), then the server was killed",
             [{"name": "callcenter", "url": server.url("cc")}],
             bad("callcenter", "fail", "site", "table recordings"))
    finally:
        gen.close()


if __name__ == "__main__":
    import sys

    record(sys.argv[1] if len(sys.argv) > 1 else "tests/data/database.integrity")
