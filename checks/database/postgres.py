"""PostgreSQL integrity, read-only, with the amcheck extension.

Every btree index gets ``bt_index_check(index, heapallindexed => true)``
(in quick mode without heapallindexed), and on PostgreSQL 14+ every table
``verify_heapam``. Each relation is checked in its own READ ONLY transaction
so that locks are held briefly on a live server. Corruption shows as
SQLSTATE XX001/XX002 ("invalid page in block ...", "lacks matching index
tuple"), and as checksum failures counted in pg_stat_database when the
cluster has data checksums.

amcheck is a contrib extension that must be created per database; without
it only a sequential read of every table is possible (it catches pages the
buffer manager refuses), and the finding says indexes were not verified and
gives the one-line fix. Connection and authentication failures are findings
of their own, never mistaken for corruption.
"""

from __future__ import annotations

import re
import time
from typing import Any

from diagnose.checks.database.common import location, scrub
from diagnose.host import Host
from diagnose.i18n import _, _n, join
from diagnose.model import Status, step

# SQLSTATEs that mean damaged data: data_corrupted, index_corrupted,
# internal_error (what garbage in a tuple usually raises), io_error,
# undefined_file (a relation's file is gone).
CORRUPTION_STATES = {"XX001", "XX002", "XX000", "58030", "58P01"}
_FILENODE = re.compile(r"relation (?:base|global|pg_tblspc/\d+/[^/]+)/(?:\d+/)?(\d+)")
LOCK_TIMEOUT_MS = 5000


def _connect_kind(msg: str) -> str:
    m = msg.lower()
    if "password authentication failed" in m or "no password supplied" in m or \
            "authentication failed" in m or ("role" in m and "does not exist" in m):
        return "auth"
    if "database" in m and "does not exist" in m:
        return "no_database"
    if "connection refused" in m or "no such file or directory" in m:
        return "refused"
    if "timeout expired" in m or "timed out" in m:
        return "timeout"
    if "permission denied" in m:
        return "permission"
    return "error"


def _is_local(host: str | None) -> bool:
    return not host or host.startswith("/") or host in ("localhost", "127.0.0.1", "::1")


def probe(host: Host, item: dict[str, Any], password: str | None) -> dict[str, Any]:
    host.require_live("connecting to PostgreSQL")
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(item["url"])
    secret = password or params.get("password")
    facts: dict[str, Any] = {"scope": "local" if _is_local(params.get("host")) else "remote",
                             "target": {"host": params.get("host"), "port": params.get("port"),
                                        "dbname": params.get("dbname"), "user": params.get("user")}}
    if facts["scope"] == "remote":
        facts["location"] = location(host, None)
    budget = float(item["budget_s"])
    kwargs: dict[str, Any] = {"connect_timeout": max(2, min(10, int(budget))), "autocommit": False,
                              "application_name": "diagnose database.integrity"}
    if password is not None:
        kwargs["password"] = password
    try:
        conn = psycopg.connect(item["url"], **kwargs)
    except psycopg.Error as exc:
        msg = scrub(" ".join(str(exc).split()), secret)
        facts["connect"] = {"ok": False, "kind": _connect_kind(msg), "error": msg}
        return facts
    facts["connect"] = {"ok": True}
    try:
        conn.read_only = True
        facts.update(_check(host, conn, item, budget, facts["scope"], secret))
    finally:
        conn.close()
    return facts


def _one(conn: Any, sql: str, args: tuple = ()) -> Any:
    """One value from a read-only statement, None when it errors."""
    import psycopg

    try:
        row = conn.execute(sql, args).fetchone()
        conn.commit()
        return None if row is None else row[0]
    except psycopg.Error:
        conn.rollback()
        return None


def _server(conn: Any) -> dict[str, Any]:
    server: dict[str, Any] = {
        "version": _one(conn, "SHOW server_version"),
        "version_num": int(_one(conn, "SHOW server_version_num") or 0),
        "data_directory": _one(conn, "SELECT current_setting('data_directory')"),
        "data_checksums": _one(conn, "SHOW data_checksums"),
        "checksum_failures": _one(conn, "SELECT checksum_failures FROM pg_stat_database "
                                        "WHERE datname = current_database()"),
    }
    last = _one(conn, "SELECT checksum_last_failure FROM pg_stat_database WHERE datname = current_database()")
    server["checksum_last_failure"] = last.isoformat() if last is not None else None
    logfile = _one(conn, "SELECT pg_current_logfile()")
    if logfile and not logfile.startswith("/") and server["data_directory"]:
        logfile = f"{server['data_directory']}/{logfile}"
    server["logfile"] = logfile
    return server


_RELATIONS = """
SELECT c.oid::regclass::text, c.relkind, n.nspname, c.relname, t.relname, c.relfilenode, c.relpages
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_am am ON am.oid = c.relam
LEFT JOIN pg_index i ON i.indexrelid = c.oid
LEFT JOIN pg_class t ON t.oid = i.indrelid
WHERE c.relpersistence <> 't'
  AND (c.relkind IN ('r', 'm') OR (c.relkind = 'i' AND am.amname = 'btree' AND i.indisready AND i.indisvalid))
ORDER BY c.relkind DESC, n.nspname, c.relname
"""


def _check(host: Host, conn: Any, item: dict[str, Any], budget: float, scope: str,
           secret: str | None) -> dict[str, Any]:
    import psycopg

    deadline = time.monotonic() + budget
    out: dict[str, Any] = {"problems": [], "errors": [], "complete": True}
    server = _server(conn)
    out["server"] = server
    if scope == "local" and server["data_directory"]:
        out["location"] = location(host, server["data_directory"])
        out["server_log"] = server["logfile"]
        out["log_base"] = server["data_directory"]
    else:
        out.setdefault("location", location(host, None))
    schema = _one(conn, "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                        "WHERE e.extname = 'amcheck'")
    out["amcheck"] = {
        "installed": _one(conn, "SELECT extversion FROM pg_extension WHERE extname = 'amcheck'"),
        "available": _one(conn, "SELECT default_version FROM pg_available_extensions WHERE name = 'amcheck'"),
        "schema": schema,
    }
    # verify_heapam arrived with amcheck 1.3 in PostgreSQL 14.
    heap_fn = schema is not None and bool(_one(
        conn, "SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
              "WHERE p.proname = 'verify_heapam' AND n.nspname = %s", (schema,)))
    out["amcheck"]["verify_heapam"] = heap_fn

    conn.execute(f"SET statement_timeout = {int(budget * 1000)}")
    conn.execute(f"SET lock_timeout = {LOCK_TIMEOUT_MS}")
    # Without amcheck a sequential read is the only look at heap pages; the
    # planner must not answer count(*) from an index instead.
    conn.execute("SET enable_indexonlyscan = off")
    conn.execute("SET enable_indexscan = off")
    conn.execute("SET enable_bitmapscan = off")
    conn.commit()
    rels = conn.execute(_RELATIONS).fetchall()
    conn.commit()
    wanted = set(item.get("tables") or [])
    by_node = {node: (name, kind, table) for name, kind, _, _, table, node, _ in rels}

    def selected(nsp: str, rel: str, table: str | None, kind: str) -> bool:
        if not wanted:
            return True
        base = rel if kind != "i" else table
        return base in wanted or f"{nsp}.{base}" in wanted

    rels = [r for r in rels if selected(r[2], r[3], r[4], r[1])]
    quick = item["mode"] == "quick"
    counts = {"tables": 0, "indexes": 0}
    if schema is None:
        check = "sequential read (amcheck not installed)"
    elif quick:
        check = "amcheck bt_index_check"
    else:
        check = "amcheck bt_index_check(heapallindexed) + verify_heapam" if heap_fn else \
            "amcheck bt_index_check(heapallindexed)"
    out["verified"] = {"check": check, "relations": len(rels)}
    for name, kind, nsp, rel, table, node, pages in rels:
        if time.monotonic() > deadline:
            out["complete"] = False
            out["errors"].append({"kind": "budget", "error": _("budget_s = {budget:g} s ran out after {done} of {total} relations",
                                            budget=budget, done=counts["tables"] + counts["indexes"],
                                            total=len(rels))})
            break
        is_index = kind == "i"
        if schema is None:
            if is_index:
                continue
            sql, args = f"SELECT count(*) FROM ONLY {_quote(nsp)}.{_quote(rel)}", ()
        elif is_index:
            sql, args = f"SELECT {_quote(schema)}.bt_index_check(%s::regclass, %s)", (name, not quick)
        elif heap_fn and not quick:
            sql = (f"SELECT blkno, offnum, attnum, msg FROM {_quote(schema)}.verify_heapam("
                   f"%s::regclass, check_toast => true) LIMIT 20")
            args = (name,)
        else:
            continue
        counts["indexes" if is_index else "tables"] += 1
        try:
            rows = conn.execute(sql, args).fetchall()
            conn.commit()
        except psycopg.Error as exc:
            conn.rollback()
            state = exc.sqlstate or ""
            msg = scrub(str(exc).strip().splitlines()[0], secret)
            if state in CORRUPTION_STATES:
                obj, okind, otable = name, "index" if is_index else "table", table if is_index else name
                m = _FILENODE.search(msg)
                if m and int(m.group(1)) in by_node and by_node[int(m.group(1))][0] != name:
                    # The error is about another relation (the table an
                    # index check read): name that one.
                    obj, k, t = by_node[int(m.group(1))]
                    okind, otable = ("index", t) if k == "i" else ("table", obj)
                out["problems"].append({"object": obj, "type": okind, "table": otable,
                                        "checked": name, "sqlstate": state, "message": msg})
            elif state == "57014":
                out["complete"] = False
                out["errors"].append({"kind": "budget", "error": f"{name}: {msg}"})
                break
            else:
                kind_ = {"42501": "permission", "55P03": "busy", "42883": "permission"}.get(state, "error")
                out["errors"].append({"kind": kind_, "object": name, "sqlstate": state, "error": msg})
                if kind_ == "permission":
                    break  # the same for every relation: say it once
            continue
        if not is_index and schema is not None and rows:
            for blkno, offnum, attnum, msg in rows:
                out["problems"].append({"object": name, "type": "table", "table": name, "sqlstate": None,
                                        "message": f"block {blkno}, offset {offnum}"
                                                   + (f", attribute {attnum}" if attnum is not None else "")
                                                   + f": {msg}"})
    out["verified"].update(counts)
    return out


def _quote(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


# -- judge helpers (pure) ----------------------------------------------------

def _psql(db: dict[str, Any], sql: str, as_user: bool = True) -> str:
    t = db.get("target") or {}
    opts = ""
    if t.get("host"):
        opts += f" -h {t['host']}"
    if t.get("port"):
        opts += f" -p {t['port']}"
    if t.get("user") and as_user:
        opts += f" -U {t['user']}"
    return f"psql{opts} -d {t.get('dbname') or db['name']} -c '{sql}'"


def headline(db: dict[str, Any], problems: list[dict[str, Any]]) -> str | None:
    return None


def severity(db: dict[str, Any], problems: list[dict[str, Any]]) -> Status:
    return Status.FAIL


def extra_problems(db: dict[str, Any]) -> list[dict[str, Any]]:
    """Checksum failures the server itself counted (pg_stat_database)."""
    server = db.get("server") or {}
    n = server.get("checksum_failures")
    if n:
        when = server.get("checksum_last_failure")
        return [{"object": None, "type": "database", "table": None, "sqlstate": None,
                 "summary": _n("{n} data checksum failure", "{n} data checksum failures", n),
                 "message": (_n("the server counted {n} data checksum failure, the last at {when}",
                                "the server counted {n} data checksum failures, the last at {when}",
                                n, when=when) if when else
                             _n("the server counted {n} data checksum failure",
                                "the server counted {n} data checksum failures", n))}]
    return []


def remedy(db: dict[str, Any], problems: list[dict[str, Any]]) -> list[Any]:
    datadir = (db.get("server") or {}).get("data_directory") or "<data directory>"
    steps = [step(_("Back up before any repair: stop PostgreSQL and copy the whole data directory "
                    "to another disk (a pg_dump may stop at the damaged page):"),
                  f"cp -a {datadir} /mnt/backup/")]
    indexes = sorted({p["object"] for p in problems if p.get("type") == "index" and p.get("object")})
    tables = sorted({p["object"] for p in problems if p.get("type") == "table" and p.get("object")})
    if indexes:
        steps.append(step(_("Rebuild the damaged indexes:"),
                          "; ".join(_psql(db, f"REINDEX INDEX {i};") for i in indexes)))
    if tables or not indexes:
        what = ", ".join(tables) if tables else _("the damaged relations")
        steps.append(step(_("Table data is damaged ({what}): restore it from the last backup; do not "
                            "run VACUUM FULL or zero_damaged_pages on the only copy", what=what)))
    t = db.get("target") or {}
    steps.append(step(_("Check again:"), f"pg_amcheck --heapallindexed -d {t.get('dbname') or db['name']}"
                      + (f" -h {t['host']}" if t.get("host") else "")
                      + (f" -p {t['port']}" if t.get("port") else "")))
    return steps


def missing_tooling(db: dict[str, Any]) -> tuple[Any, str, str, str] | None:
    am = db.get("amcheck") or {}
    if am.get("installed") or not db.get("connect", {}).get("ok"):
        return None
    fix = _psql(db, "CREATE EXTENSION amcheck;", as_user=False)
    text = _("As a superuser, once:") if am.get("available") else \
        _("amcheck is not available on the server: install postgresql-contrib for its version "
          "first; then, as a superuser, once:")
    return (Status.WARN,
            _("PostgreSQL database {name}: amcheck is not installed, indexes not verified",
              name=db["name"]),
            _n("amcheck is not installed in this database, so PostgreSQL could not verify index or "
               "heap structure; only a sequential read of {n} table was done, which misses damaged "
               "indexes. This is not a pass.",
               "amcheck is not installed in this database, so PostgreSQL could not verify index or "
               "heap structure; only a sequential read of {n} tables was done, which misses damaged "
               "indexes. This is not a pass.", db.get("verified", {}).get("tables", 0)),
            step(text, fix))


def error_remedy(db: dict[str, Any], errors: list[dict[str, Any]]) -> str:
    user = (db.get("target") or {}).get("user") or "<user>"
    if any(e.get("kind") == "permission" for e in errors):
        schema = (db.get("amcheck") or {}).get("schema") or "public"
        return [step(_("Let the checking user run amcheck (as a superuser), or give [[database]] a "
                       "superuser:"),
                     _psql(db, f"GRANT EXECUTE ON FUNCTION {schema}.bt_index_check(regclass, boolean), "
                               f"{schema}.verify_heapam(regclass, boolean, boolean, text, bigint, bigint) "
                               f"TO {user};", as_user=False))]
    if any(e.get("kind") == "busy" for e in errors):
        return [step(_("A lock was held for longer than 5 s (VACUUM FULL, ALTER TABLE?): run the "
                       "check again later"))]
    return [step(_("See the errors in the evidence; run pg_amcheck by hand for details:"),
                 "pg_amcheck --heapallindexed")]


def server_check(db: dict[str, Any]) -> str:
    t = db.get("target") or {}
    return ("pg_isready" + (f" -h {t['host']}" if t.get("host") else "")
            + (f" -p {t['port']}" if t.get("port") else "") + "; systemctl status postgresql")


def manual_check(db: dict[str, Any]) -> str:
    t = db.get("target") or {}
    return f"pg_amcheck --heapallindexed -d {t.get('dbname') or db['name']}"


def verified_phrase(db: dict[str, Any]) -> str:
    v = db.get("verified") or {}
    return _("{check}: {counts}", check=v.get("check", "amcheck"),
             counts=join(", ", [_n("{n} table", "{n} tables", v.get("tables", 0)),
                                _n("{n} index", "{n} indexes", v.get("indexes", 0))]))
