"""Running SQLite's own checks (``PRAGMA integrity_check`` / ``quick_check``)
inside a time budget on a read-only connection, and naming the tables and
indexes its messages are about.
"""

from __future__ import annotations

import re
import time
from typing import Any

from diagnose.checks.database.common import OBJECT_TYPES
from diagnose.i18n import _

# Bytes per second integrity_check gets through on a modest server disk,
# measured by bench/bench_database.py and rounded down: a file larger than
# budget_s * this rate gets quick_check instead.
FULL_CHECK_BYTES_PER_S = 30 * 1000 * 1000
MAX_ERRORS = 100  # integrity_check(N): stop after N problems


# Object names in integrity_check messages (sqlite3/src/btree.c, vdbe.c):
# "row 41 missing from index idx", "wrong # of entries in index idx",
# "non-unique entry in index idx", "NULL value in tbl.col",
# "Tree 5 page 9 cell 0: ..." (5 is the b-tree's root page), "Page 4: ...".
_INDEX = re.compile(r"\b(?:in|from) index ([^\s,;]+)")
_COLUMN = re.compile(r"(?:NULL value|CHECK constraint failed|TEXT value|NUMERIC value|"
                     r"non-\w+ value) in ([^\s.]+)")
_TREE = re.compile(r"\bTree (\d+) page")
_PAGE = re.compile(r"\b(?:Page|page) (\d+)")


# The clock the budget is measured with; tests replace it to make budgets
# independent of how fast the machine is.
clock = time.monotonic


# Python 3.11 added sqlite_errorname to sqlite3's exceptions; before it only
# the message says which error it was (sqlite3_errstr() in sqlite3/src/main.c).
# The extended READONLY codes all read "attempt to write a readonly database":
# a read-only reader that has to write can only mean a journal to roll back.
_CODES_BY_MESSAGE = (("database disk image is malformed", "SQLITE_CORRUPT"),
                     ("file is not a database", "SQLITE_NOTADB"),
                     ("disk I/O error", "SQLITE_IOERR"),
                     ("attempt to write a readonly database", "SQLITE_READONLY_ROLLBACK"),
                     ("database is locked", "SQLITE_BUSY"),
                     ("unable to open database file", "SQLITE_CANTOPEN"))


def _code(exc: BaseException) -> str:
    name = getattr(exc, "sqlite_errorname", None)
    if name:
        return name
    text = str(exc)
    return next((code for msg, code in _CODES_BY_MESSAGE if msg in text), type(exc).__name__)


def _check(conn: Any, item: dict[str, Any], size: int, budget: float,
           deadline: float) -> dict[str, Any]:
    import sqlite3

    conn.execute("PRAGMA query_only = 1")
    # Returning nonzero from the progress handler interrupts the statement:
    # the budget holds even if the size estimate was wrong.
    conn.set_progress_handler(lambda: int(clock() > deadline), 10000)
    pragma, skipped = "integrity_check", None
    if item["mode"] == "quick":
        pragma = "quick_check"
    elif size > budget * FULL_CHECK_BYTES_PER_S:
        pragma = "quick_check"
        skipped = (f"the file is {size / 1e6:.0f} MB; a full integrity_check takes about "
                   f"{size / FULL_CHECK_BYTES_PER_S:.0f} s, more than budget_s = {budget:g}")
    out: dict[str, Any] = {"problems": [], "errors": [], "complete": True}
    objects = _objects(conn)
    tables = item.get("tables") or []
    wanted = [n for n, o in objects.items() if not tables or o["table"] in tables]
    out["verified"] = {"check": pragma, "full_check_skipped": skipped,
                       "tables": sum(1 for n in wanted if objects[n]["type"] == "table"),
                       "indexes": sum(1 for n in wanted if objects[n]["type"] == "index"),
                       "only_tables": sorted(tables)}
    statements = ([f'PRAGMA {pragma}("{t.replace(chr(34), chr(34) * 2)}")' for t in tables]
                  or [f"PRAGMA {pragma}({MAX_ERRORS})"])
    messages: list[str] = []
    for sql in statements:
        try:
            rows = conn.execute(sql).fetchall()
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                out["complete"] = False
                out["errors"].append({"kind": "budget",
                                      "error": _("{pragma} stopped after budget_s = {budget:g} s",
                                                 pragma=pragma, budget=budget)})
                if pragma == "integrity_check":
                    return _fallback_quick(conn, out, objects, budget)
                out["verified"]["check"] = None  # not even quick_check finished
                break
            if _code(exc) in ("SQLITE_READONLY_ROLLBACK", "SQLITE_READONLY_RECOVERY"):
                # A hot journal (or WAL needing recovery): a write was cut
                # off half-way, and only a read-write open can undo it.
                out["problems"].append({"object": None, "type": "journal", "table": None,
                                        "code": _code(exc), "message": _("{error}: an interrupted write left a journal that "
                                                     "must be rolled back before the file can be read",
                                                     error=str(exc))})
                break
            out["errors"].append({"kind": "busy" if "locked" in str(exc) else "error",
                                  "error": f"{_code(exc)}: {exc}"})
            continue
        except sqlite3.DatabaseError as exc:
            # SQLITE_CORRUPT / SQLITE_NOTADB raised by the pragma itself.
            out["problems"].append({"object": None, "type": "database", "table": None,
                                    "code": _code(exc), "message": str(exc)})
            if _code(exc) == "SQLITE_CORRUPT":
                out["problems"].extend(_localize(conn, objects, tables))
            continue
        for (text,) in rows:
            if text != "ok":
                messages.extend(ln for ln in str(text).splitlines() if not ln.startswith("*** in database"))
    out["problems"].extend(_name_problems(conn, messages, objects))
    return out


def _fallback_quick(conn: Any, out: dict[str, Any], objects: dict[str, dict],
                    budget: float) -> dict[str, Any]:
    """integrity_check ran out of budget: give quick_check the same again."""
    import sqlite3

    deadline = clock() + budget
    conn.set_progress_handler(lambda: int(clock() > deadline), 10000)
    out["verified"]["check"] = "quick_check"
    out["verified"]["full_check_skipped"] = f"integrity_check did not finish within budget_s = {budget:g} s"
    try:
        rows = conn.execute(f"PRAGMA quick_check({MAX_ERRORS})").fetchall()
    except sqlite3.OperationalError as exc:
        out["errors"].append({"kind": "budget", "error": f"quick_check: {exc}"})
        out["verified"]["check"] = None  # not even quick_check finished
        return out
    except sqlite3.DatabaseError as exc:
        out["problems"].append({"object": None, "type": "database", "table": None,
                                "code": _code(exc), "message": str(exc)})
        if _code(exc) == "SQLITE_CORRUPT":
            out["problems"].extend(_localize(conn, objects, []))
        return out
    msgs = [ln for (t,) in rows if t != "ok" for ln in str(t).splitlines()
            if not ln.startswith("*** in database")]
    out["problems"].extend(_name_problems(conn, msgs, objects))
    return out


def _localize(conn: Any, objects: dict[str, dict], tables: list[str]) -> list[dict[str, Any]]:
    """The pragma gave up with SQLITE_CORRUPT and no detail: read every
    b-tree on its own (count(*) walks all its pages) to name the broken ones."""
    import sqlite3

    out = []
    for name, obj in sorted(objects.items()):
        if tables and obj["table"] not in tables:
            continue
        if obj["rootpage"] in (None, 0):
            continue  # views, virtual tables
        q = '"' + obj["table"].replace('"', '""') + '"'
        if obj["type"] == "table":
            sql = f"SELECT count(*) FROM {q} NOT INDEXED"
        else:
            sql = f'SELECT count(*) FROM {q} INDEXED BY "{name.replace(chr(34), chr(34) * 2)}"'
        try:
            conn.execute(sql).fetchall()
        except sqlite3.DatabaseError as exc:
            if _code(exc) in ("SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_IOERR"):
                out.append({"object": name, "type": obj["type"], "table": obj["table"],
                            "code": _code(exc), "message": _("reading {type} {name}: {error}",
                                                    type=_(OBJECT_TYPES.get(obj["type"], obj["type"])),
                                                    name=name, error=str(exc))})
    return out


def _objects(conn: Any) -> dict[str, dict[str, Any]]:
    """Tables and indexes by name, with root pages; {} when the schema
    itself cannot be read (then messages keep their page numbers only)."""
    import sqlite3

    try:
        rows = conn.execute("SELECT type, name, tbl_name, rootpage FROM sqlite_master "
                            "WHERE type IN ('table', 'index')").fetchall()
    except sqlite3.Error:
        return {}
    return {name: {"type": typ, "table": tbl, "rootpage": root} for typ, name, tbl, root in rows}


def _name_problems(conn: Any, messages: list[str], objects: dict[str, dict]) -> list[dict[str, Any]]:
    """Each message with the table or index it is about. Messages that
    name only a page are resolved through the dbstat virtual table, which
    maps every page to its b-tree's name (when SQLite was built with it)."""
    import sqlite3

    by_root = {o["rootpage"]: n for n, o in objects.items()}
    out, pages = [], {}
    for msg in messages:
        name = None
        m = _INDEX.search(msg) or _COLUMN.search(msg)
        if m:
            name = m.group(1).rstrip(".:")
        elif (t := _TREE.search(msg)) and int(t.group(1)) in by_root:
            name = by_root[int(t.group(1))]
        elif p := _PAGE.search(msg):
            pages.setdefault(int(p.group(1)), []).append(len(out))
        obj = objects.get(name or "", {})
        out.append({"object": name, "type": obj.get("type", "table" if name else None),
                    "table": obj.get("table", name), "message": msg})
    if pages:
        try:
            marks = ",".join("?" * len(pages))
            rows = conn.execute(f"SELECT DISTINCT pageno, name FROM dbstat WHERE pageno IN ({marks})",
                                list(pages)).fetchall()
        except sqlite3.Error:
            rows = []
        for pageno, name in rows:
            obj = objects.get(name, {})
            for i in pages.get(pageno, []):
                out[i].update(object=name, type=obj.get("type", "table"), table=obj.get("table", name))
    return out
