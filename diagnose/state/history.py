"""The run history: one SQLite database in the state directory.

Every run appends its time, host and verdict, the status of every check,
and per finding its id, status, fault, title and the few numbers that matter
(``Check.history_numbers``: free bytes of a mount, loss, RTT, RSSI, KPI
figures). From it come the marks new / recurring / persistent / flapping
(:mod:`diagnose.state.annotate`), the ``resolved`` list, the samples of the
disk-full forecast, and ``diagnose history``.

History never breaks a run:

- **Concurrent runs** are safe: the database is in WAL mode (readers never
  wait for the writer) and a run writes in one ``BEGIN IMMEDIATE``
  transaction, waiting up to ``BUSY_TIMEOUT_S`` for another run's.
- **A damaged database** (truncated, overwritten, "file is not a database",
  "database disk image is malformed") is renamed to
  ``history.db.damaged-<UTC time>`` with its ``-wal``/``-shm`` files and a
  new one is started; the run reports it as a ``report.history`` warning.
- **A read-only or full state directory** leaves the run unrecorded (and,
  when the database can still be read, still marked from what it holds);
  the run says so. A user who is not root and cannot write the state
  directory (a technician's ad-hoc run) only gets a note.

Retention: runs older than ``[history] keep_days`` (400) and beyond the newest
``keep_runs`` (5000) are deleted as each run is recorded.

Times are stored twice: ``time`` as the report's ISO 8601 UTC string (which
sorts in time order) and ``ts`` as epoch seconds for arithmetic.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import sqlite3
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from diagnose.model import Finding, Report
from diagnose.state.dbfile import header_suspect, uri_path, set_aside

FILE_NAME = "history.db"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 10.0
MAX_SAMPLES = 500  # per subject handed to a probe
PROBLEM = ("warn", "fail", "error")
NOT_RAN = ("skip", "error")

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    host TEXT NOT NULL,
    ts REAL NOT NULL,
    time TEXT NOT NULL,
    status TEXT NOT NULL,
    headline TEXT NOT NULL,
    source TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_host_ts ON runs (host, ts);
CREATE TABLE IF NOT EXISTS checks (
    host TEXT NOT NULL,
    name TEXT NOT NULL,
    ts REAL NOT NULL,
    run INTEGER NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (host, name, ts, run)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS checks_run ON checks (run);
CREATE TABLE IF NOT EXISTS findings (
    run INTEGER NOT NULL,
    fid TEXT NOT NULL,
    check_name TEXT NOT NULL,
    status TEXT NOT NULL,
    fault TEXT,
    title TEXT NOT NULL,
    numbers TEXT,
    PRIMARY KEY (run, fid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tracked (
    host TEXT NOT NULL,
    fid TEXT NOT NULL,
    check_name TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    flapping INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (host, fid)
) WITHOUT ROWID;
"""


class Damaged(Exception):
    """The database file is not a sound SQLite database."""


@dataclass
class Trouble:
    """What went wrong with history on this run, for the report to say.

    ``kind``: ``damaged`` (set aside, a new one started), ``readonly`` (the
    state directory cannot be written: not recorded), ``denied`` (not root
    and no permission: a note only), ``newer`` (written by a newer diagnose),
    ``error`` (anything else: not recorded)."""

    kind: str
    database: str
    error: str
    set_aside: str | None = None

    @property
    def note_only(self) -> bool:
        return self.kind == "denied"


def epoch(iso: str) -> float:
    """Epoch seconds of an ISO 8601 time (naive times are UTC)."""
    when = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.timestamp()


def _is_damage(exc: BaseException) -> bool:
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return True
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text or "database corrupt" in text


def _readonly_dir(directory: str) -> bool:
    try:
        return bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
    except OSError:
        return False


class History:
    """An open history database. Use :meth:`open`; every method may raise
    ``sqlite3.Error`` or :class:`Damaged`, which the session turns into a
    :class:`Trouble`."""

    def __init__(self, path: str, conn: sqlite3.Connection, writable: bool) -> None:
        self.path, self.conn, self.writable = path, conn, writable

    # -- opening --------------------------------------------------------------
    @classmethod
    def open(cls, directory: str, writable: bool = True) -> tuple["History | None", list[Trouble]]:
        """Open (creating when needed) ``<directory>/history.db``. Never
        raises: returns the store or None, and what went wrong."""
        path = os.path.join(directory, FILE_NAME)
        troubles: list[Trouble] = []
        if writable:
            try:
                os.makedirs(directory, mode=0o750, exist_ok=True)
                if header_suspect(path):
                    cls._confirm_damage(path)
                return cls(path, cls._connect(path), True), troubles
            except (sqlite3.Error, Damaged) as exc:
                if _is_damage(exc) or isinstance(exc, Damaged):
                    return cls._restart(path, exc, troubles)
                trouble = cls._classify(directory, path, exc)
            except OSError as exc:
                trouble = cls._classify(directory, path, exc)
            troubles.append(trouble)
            if trouble.kind not in ("readonly", "denied"):
                return None, troubles
        # Not writable here: still read what is there, without touching it.
        return cls._open_read(path), troubles

    @classmethod
    def open_read(cls, directory: str) -> "History | None":
        """The database in *directory* for reading only (``diagnose history``)."""
        return cls._open_read(os.path.join(directory, FILE_NAME))

    @classmethod
    def _open_read(cls, path: str) -> "History | None":
        """Read-only: ``mode=ro`` (sees a concurrent writer's WAL), else
        ``immutable=1`` (works on read-only media; ignores a WAL)."""
        if not os.path.isfile(path):
            return None
        for flag in ("mode=ro", "immutable=1"):
            try:
                conn = sqlite3.connect(f"file:{uri_path(path)}?{flag}", uri=True,
                                       timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                       check_same_thread=False)
            except sqlite3.Error:
                continue
            try:
                if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
                    return cls(path, conn, False)
            except sqlite3.Error:
                pass
            conn.close()
        return None

    @classmethod
    def _connect(cls, path: str) -> sqlite3.Connection:
        """Open, switch to WAL and create the tables, retrying while another
        run does the same: SQLite does not wait on its busy timeout for a
        journal-mode change, so two runs creating the database at once would
        otherwise see "database is locked"."""
        import threading
        import time

        deadline = time.monotonic() + BUSY_TIMEOUT_S
        pause = threading.Event()  # Event.wait, not time.sleep: works under libfaketime too
        while True:
            try:
                return cls._connect_once(path)
            except sqlite3.OperationalError as exc:
                text = str(exc).lower()
                if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                    raise
                pause.wait(0.02)

    @staticmethod
    def _connect_once(path: str) -> sqlite3.Connection:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=False)
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                        for statement in SCHEMA.split(";"):
                            if statement.strip():
                                conn.execute(statement)
                        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            elif version > SCHEMA_VERSION:
                raise sqlite3.DatabaseError(
                    f"written by a newer diagnose (schema {version}, this one knows {SCHEMA_VERSION})")
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _confirm_damage(path: str) -> None:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        except sqlite3.Error as exc:
            raise Damaged(str(exc)) from None
        finally:
            conn.close()
        if rows != [("ok",)]:
            raise Damaged("; ".join(str(r[0]) for r in rows[:3]))

    @classmethod
    def _classify(cls, directory: str, path: str, exc: BaseException) -> Trouble:
        err = getattr(exc, "errno", None)
        text = getattr(exc, "strerror", None) or str(exc)
        if "newer diagnose" in str(exc):
            return Trouble("newer", path, str(exc))
        if err == errno.EROFS or _readonly_dir(directory if os.path.isdir(directory) else
                                               os.path.dirname(directory) or "/"):
            return Trouble("readonly", path, f"{directory} is on a read-only filesystem")
        if err in (errno.EACCES, errno.EPERM) or "readonly" in str(exc).lower() or \
                "unable to open" in str(exc).lower():
            if os.geteuid() != 0 and not os.access(directory if os.path.isdir(directory) else
                                                   os.path.dirname(directory) or "/", os.W_OK):
                return Trouble("denied", path, f"{directory} is not writable by this user ({text})")
            return Trouble("readonly", path, f"{directory} cannot be written ({text})")
        return Trouble("error", path, text)

    @classmethod
    def _restart(cls, path: str, exc: BaseException, troubles: list[Trouble]
                 ) -> tuple["History | None", list[Trouble]]:
        try:
            aside = set_aside(path)
        except OSError as err:
            troubles.append(Trouble("error", path, f"damaged ({exc}) and cannot be set aside: "
                                    f"{err.strerror or err}"))
            return None, troubles
        troubles.append(Trouble("damaged", path, str(exc), aside))
        try:
            return cls(path, cls._connect(path), True), troubles
        except (sqlite3.Error, OSError) as err:
            troubles.append(Trouble("error", path, f"cannot start a new database: {err}"))
            return None, troubles

    def close(self) -> None:
        try:
            self.conn.close()
        except sqlite3.Error:
            pass

    def reopen_after_damage(self, exc: BaseException) -> list[Trouble]:
        """The database turned out damaged while in use: set it aside and
        continue with a new one (``self`` then points at it)."""
        self.close()
        store, troubles = History._restart(self.path, exc, [])
        if store is not None:
            self.conn, self.writable = store.conn, True
        else:
            self.writable = False
        return troubles

    # -- reading --------------------------------------------------------------
    def _ran(self, host: str, name: str, before: float, limit: int) -> list[tuple[int, float, str]]:
        """(run, ts, status) of the newest *limit* runs before *before* in
        which check *name* ran on *host*, oldest first."""
        rows = self.conn.execute(
            "SELECT run, ts, status FROM checks WHERE host = ? AND name = ? AND ts < ? "
            "AND status NOT IN ('skip', 'error') ORDER BY ts DESC, run DESC LIMIT ?",
            (host, name, before, limit)).fetchall()
        return rows[::-1]

    def context(self, host: str, checks: Iterable[str], before: float, window: int) -> dict[str, Any]:
        """What history knew of *host* before *before*: for each of *checks*,
        its newest runs (enough for *window* and for flap detection), the
        problems in them, and the tracked state of its findings. JSON-able;
        see :func:`diagnose.state.annotate.annotate`."""
        checks = sorted(set(checks))
        span = max(window, 21) - 1
        ran: dict[int, dict[str, str]] = {}
        times: dict[int, float] = {}
        for name in checks:
            for run, ts, status in self._ran(host, name, before, span):
                ran.setdefault(run, {})[name] = status
                times[run] = ts
        order = sorted(ran, key=lambda r: (times[r], r))
        index = {r: i for i, r in enumerate(order)}
        runs = [{"time": None, "checks": ran[r]} for r in order]
        if order:
            marks = ",".join("?" * len(order))
            for rid, iso in self.conn.execute(f"SELECT id, time FROM runs WHERE id IN ({marks})", order):
                runs[index[rid]]["time"] = iso
        problems: dict[str, dict[str, Any]] = {}
        if order:
            marks = ",".join("?" * len(order))
            for rid, fid, check, status in self.conn.execute(
                    f"SELECT run, fid, check_name, status FROM findings WHERE run IN ({marks}) "
                    "AND status IN ('warn', 'fail', 'error')", order):
                if check in ran[rid]:
                    problems.setdefault(fid, {"check": check, "runs": []})["runs"].append(
                        [index[rid], status])
        tracked: dict[str, dict[str, Any]] = {}
        if checks:
            marks = ",".join("?" * len(checks))
            for fid, first, last, flapping in self.conn.execute(
                    f"SELECT fid, first_seen, last_seen, flapping FROM tracked WHERE host = ? "
                    f"AND check_name IN ({marks})", [host, *checks]):
                tracked[fid] = {"first_seen": first, "last_seen": last, "flapping": bool(flapping)}
        prev = self.conn.execute("SELECT time, status FROM runs WHERE host = ? AND ts < ? "
                                 "ORDER BY ts DESC, id DESC LIMIT 1", (host, before)).fetchone()
        return {"database": self.path, "host": host,
                "previous": {"time": prev[0], "status": prev[1]} if prev else None,
                "runs": runs, "problems": problems, "tracked": tracked}

    def samples(self, host: str, check: str, before: float, days: float,
                runs: int) -> dict[str, list[dict[str, Any]]]:
        """The recorded numbers of *check*'s findings per subject, from its
        runs of the last *days* and at least its last *runs* runs, oldest
        first: ``{subject: [{"t": epoch, **numbers}, ...]}``."""
        recent = self._ran(host, check, before, max(runs, 1))
        since = self.conn.execute(
            "SELECT run, ts, status FROM checks WHERE host = ? AND name = ? AND ts >= ? AND ts < ? "
            "AND status NOT IN ('skip', 'error') ORDER BY ts DESC LIMIT ?",
            (host, check, before - days * 86400.0, before, MAX_SAMPLES)).fetchall()
        when = {r: ts for r, ts, _ in recent + since}
        keep = sorted(when.items(), key=lambda kv: (kv[1], kv[0]))[-MAX_SAMPLES:]
        if not keep:
            return {}
        out: dict[str, list[dict[str, Any]]] = {}
        prefix = check + ":"
        marks = ",".join("?" * len(keep))
        got = self.conn.execute(
            f"SELECT run, fid, numbers FROM findings WHERE run IN ({marks}) AND check_name = ? "
            "AND numbers IS NOT NULL", [r for r, _ in keep] + [check]).fetchall()
        for run, fid, numbers in sorted(got, key=lambda g: (when[g[0]], g[0])):
            try:
                values = json.loads(numbers)
            except ValueError:
                continue
            if isinstance(values, dict) and fid.startswith(prefix):
                out.setdefault(fid[len(prefix):], []).append({"t": when[run], **values})
        return out

    # -- writing --------------------------------------------------------------
    def record(self, report: Report, numbers: Callable[[Finding], Mapping[str, Any]],
               flapping: Mapping[str, bool], source: str, keep_days: float,
               keep_runs: int) -> int:
        """Append *report* as one run; returns its id. *flapping* is the new
        flapping state of each finding looked at; *numbers* gives the numbers
        kept per finding."""
        ts = epoch(report.started)
        pseudo = "report."  # findings about the run itself: its mail, schedule, history
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            cur = c.execute("INSERT INTO runs (host, ts, time, status, headline, source) "
                            "VALUES (?, ?, ?, ?, ?, ?)",
                            (report.host, ts, report.started, str(report.verdict.status),
                             report.verdict.headline, source))
            run = int(cur.lastrowid)
            c.executemany("INSERT OR REPLACE INTO checks (host, name, ts, run, status) "
                          "VALUES (?, ?, ?, ?, ?)",
                          [(report.host, r.name, ts, run, str(r.status)) for r in report.checks
                           if not r.name.startswith(pseudo)])
            rows, problems = [], []
            for f in report.findings:
                if f.check.startswith(pseudo):
                    continue
                try:
                    nums = dict(numbers(f))
                    blob = json.dumps(nums, separators=(",", ":"), allow_nan=False) if nums else None
                except (TypeError, ValueError):
                    blob = None
                status = str(f.status)
                rows.append((run, f.id, f.check, status, f.fault.value if f.fault else None,
                             f.title, blob))
                if status in PROBLEM:
                    problems.append((report.host, f.id, f.check, report.started, report.started,
                                     int(bool(flapping.get(f.id)))))
            c.executemany("INSERT OR REPLACE INTO findings (run, fid, check_name, status, fault, "
                          "title, numbers) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            # INSERT OR IGNORE + UPDATE, not an upsert: SQLite before 3.24
            # (Ubuntu 18.04, Python 3.9 builds against it) has no ON CONFLICT DO UPDATE.
            c.executemany("INSERT OR IGNORE INTO tracked (host, fid, check_name, first_seen, "
                          "last_seen, flapping) VALUES (?, ?, ?, ?, ?, ?)", problems)
            c.executemany("UPDATE tracked SET last_seen = max(last_seen, ?), flapping = ? "
                          "WHERE host = ? AND fid = ?", [(p[4], p[5], p[0], p[1]) for p in problems])
            current = {p[1] for p in problems}
            c.executemany("UPDATE tracked SET flapping = ? WHERE host = ? AND fid = ?",
                          [(int(v), report.host, fid) for fid, v in flapping.items()
                           if fid not in current])
            self._prune(ts, keep_days, keep_runs)
            c.execute("COMMIT")
        except BaseException:
            try:
                c.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise
        return run

    def _prune(self, now: float, keep_days: float, keep_runs: int) -> None:
        c = self.conn
        cutoff = now - keep_days * 86400.0
        if keep_runs > 0:
            nth = c.execute("SELECT ts FROM runs ORDER BY ts DESC LIMIT 1 OFFSET ?",
                            (keep_runs - 1,)).fetchone()
            if nth is not None:
                cutoff = max(cutoff, nth[0])
        oldest = c.execute("SELECT min(ts) FROM runs").fetchone()[0]
        if oldest is None or oldest >= cutoff:
            return
        old = "SELECT id FROM runs WHERE ts < ?"
        c.execute(f"DELETE FROM findings WHERE run IN ({old})", (cutoff,))
        c.execute(f"DELETE FROM checks WHERE run IN ({old})", (cutoff,))
        c.execute("DELETE FROM runs WHERE ts < ?", (cutoff,))
        stamp = dt.datetime.fromtimestamp(cutoff, dt.timezone.utc).isoformat(timespec="seconds")
        c.execute("DELETE FROM tracked WHERE last_seen < ?", (stamp,))
