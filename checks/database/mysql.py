"""MariaDB / MySQL integrity with ``CHECK TABLE``, over PyMySQL.

Every base table of the database is checked, ``MEDIUM`` in full mode (reads
every row and index entry, verifies links and the data file's size) and
``FAST`` in quick mode (only tables not closed properly, which is what a
crash or power loss leaves). The session is READ ONLY and CHECK TABLE never
repairs, but on MyISAM and Aria tables it is not read-only: the server
rewrites the table's state header in the index file (WRITES below), and
every finding about such tables says so. InnoDB tables are only read.

The server's own error log (``@@log_error``) is where "Disk full", errno 28
and error 1021 lines land, so it is read when the server is on this host
and no ``log`` is configured.
"""

from __future__ import annotations

import os
import re
import time
import urllib.parse
from typing import Any

from diagnose.checks.database.common import location, scrub
from diagnose.host import Host
from diagnose.i18n import N_, _, _n
from diagnose.model import Status, step

DEFAULT_SOCKETS = ("/run/mysqld/mysqld.sock", "/var/run/mysqld/mysqld.sock", "/tmp/mysql.sock")
# What CHECK TABLE writes, measured on MariaDB 10.11 by comparing the table
# files byte for byte before and after (tests/test_hardening_db.py): on a
# MyISAM table the state header of the .MYI index file (offsets 108-115:
# the server's process and unique marks, and the check time), on an Aria
# table the state header of the .MAI file (its changed/open marks and check
# time); when it finds damage it also sets the table's "crashed" flag there,
# as the server's next access would. Data files (.MYD/.MAD), index pages and
# InnoDB files are not written.
WRITES = N_("CHECK TABLE is not read-only on MyISAM/Aria tables: the server rewrites each one's "
            "state header in its index file (.MYI/.MAI: last-check time and the server's open marks; "
            "the crashed flag when damage is found). Rows, index pages and InnoDB tables are only read.")
WRITING_ENGINES = ("MyISAM", "Aria")
_BAD = re.compile(r"corrupt|crashed|Size of datafile is|should be repaired|wrong checksum|"
                  r"Can't read|Incorrect key file|Found \d+ keys of \d+|doesn't exist", re.I)
# Client error numbers (mysql/errmsg.h, mysqld_error.h).
_CONNECT_KINDS = {1045: "auth", 1698: "auth", 1044: "permission", 1049: "no_database",
                  2003: "refused", 2002: "refused", 2013: "timeout"}


def target_of(url: str) -> dict[str, Any]:
    u = urllib.parse.urlsplit(url)
    q = urllib.parse.parse_qs(u.query)
    return {"scheme": u.scheme, "host": u.hostname or "localhost", "port": u.port or 3306,
            "user": urllib.parse.unquote(u.username or "") or "root",
            "dbname": urllib.parse.unquote(u.path.lstrip("/")),
            "unix_socket": (q.get("unix_socket") or q.get("socket") or [None])[0]}


def probe(host: Host, item: dict[str, Any], password: str | None) -> dict[str, Any]:
    host.require_live("connecting to MariaDB/MySQL")
    import pymysql

    t = target_of(item["url"])
    url_pw = urllib.parse.unquote(urllib.parse.urlsplit(item["url"]).password or "") or None
    secret = password if password is not None else url_pw
    if t["host"] == "localhost" and not t["unix_socket"]:
        # MySQL clients take "localhost" to mean the default unix socket.
        t["unix_socket"] = next((s for s in DEFAULT_SOCKETS if host.exists(s)), None)
    local = bool(t["unix_socket"]) or t["host"] in ("127.0.0.1", "::1", "localhost")
    facts: dict[str, Any] = {"scope": "local" if local else "remote", "target": dict(t),
                             "location": location(host, None)}
    budget = float(item["budget_s"])
    try:
        conn = pymysql.connect(
            host=t["host"], port=t["port"], user=t["user"], password=secret or "",
            database=t["dbname"] or None, unix_socket=t["unix_socket"],
            connect_timeout=max(2, min(10, int(budget))), read_timeout=max(5, int(budget)),
            autocommit=True)
    except pymysql.err.MySQLError as exc:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
        msg = scrub(" ".join(str(exc.args[-1] if exc.args else exc).split()), secret)
        kind = _CONNECT_KINDS.get(code, "error")
        if kind == "refused" and "timed out" in msg:
            kind = "timeout"
        facts["connect"] = {"ok": False, "kind": kind, "code": code, "error": msg}
        return facts
    facts["connect"] = {"ok": True}
    try:
        facts.update(_check(host, conn, item, t, budget, local))
    finally:
        conn.close()
    return facts


def _check(host: Host, conn: Any, item: dict[str, Any], t: dict[str, Any], budget: float,
           local: bool) -> dict[str, Any]:
    import pymysql

    deadline = time.monotonic() + budget
    out: dict[str, Any] = {"problems": [], "errors": [], "complete": True, "tables": []}
    with conn.cursor() as cur:
        cur.execute("SET SESSION TRANSACTION READ ONLY")
        cur.execute("SELECT @@datadir, @@log_error, @@version, @@version_comment")
        datadir, log_error, version, comment = cur.fetchone()
        out["server"] = {"version": version, "version_comment": comment, "datadir": datadir,
                         "log_error": log_error}
        if local and datadir:
            out["location"] = location(host, os.path.join(datadir, t["dbname"]))
            out["log_base"] = datadir
            if log_error and log_error not in ("stderr",):
                out["server_log"] = log_error if log_error.startswith("/") else \
                    os.path.normpath(os.path.join(datadir, log_error))
        cur.execute("SELECT table_name, engine, table_comment FROM information_schema.tables "
                    "WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name")
        tables = list(cur.fetchall())
    wanted = set(item.get("tables") or [])
    tables = [r for r in tables if not wanted or r[0] in wanted]
    option = "FAST" if item["mode"] == "quick" else "MEDIUM"
    out["verified"] = {"check": f"CHECK TABLE {option}", "tables": 0}
    headers = sorted(n for n, e, _ in tables if e in WRITING_ENGINES)
    if headers:
        out["verified"]["wrote_headers_of"] = headers
    for name, engine, comment in tables:
        if time.monotonic() > deadline:
            out["complete"] = False
            out["errors"].append({"kind": "budget", "error": _("budget_s = {budget:g} s ran out after {done} of {total} tables",
                                            budget=budget, done=out["verified"]["tables"],
                                            total=len(tables))})
            break
        entry: dict[str, Any] = {"table": name, "engine": engine, "status": None, "messages": []}
        if comment:
            entry["comment"] = comment
        out["tables"].append(entry)
        try:
            with conn.cursor() as cur:
                cur.execute(f"CHECK TABLE `{t['dbname'].replace('`', '``')}`.`{name.replace('`', '``')}` "
                            f"{option}")
                rows = cur.fetchall()
        except pymysql.err.MySQLError as exc:
            code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
            msg = " ".join(str(exc.args[-1] if exc.args else exc).split())
            if code == 2013 and "timed out" not in msg:
                # InnoDB stops the server on a page it cannot trust.
                out["problems"].append({"object": name, "type": "table", "table": name, "engine": engine,
                                        "message": _("the server dropped the connection while checking "
                                                              "{name} ({code} {error})", name=name,
                                                              code=code, error=msg)})
                out["complete"] = False
                break
            out["errors"].append({"kind": "budget" if "timed out" in msg else
                                  ("permission" if code in (1142, 1044) else "error"),
                                  "object": name, "code": code, "error": msg})
            if code in (2013, 2006):
                out["complete"] = False
                break
            continue
        out["verified"]["tables"] += 1
        for _tbl, _op, mtype, text in rows:
            mtype = (mtype or "").lower()
            if mtype == "status":
                entry["status"] = text
            else:
                entry["messages"].append(f"{mtype}: {text}")
        bad = [m for m in entry["messages"] if m.startswith("error") or _BAD.search(m)]
        if bad or (entry["status"] and _BAD.search(entry["status"])):
            out["problems"].append({"object": name, "type": "table", "table": name, "engine": engine,
                                    "message": "; ".join(bad or [entry["status"]])[:500]})
    return out


# -- judge helpers (pure) ----------------------------------------------------

def _client(db: dict[str, Any], tool: str) -> str:
    t = db.get("target") or {}
    maria = t.get("scheme") == "mariadb"
    name = {"client": "mariadb" if maria else "mysql", "check": "mariadb-check" if maria else "mysqlcheck",
            "dump": "mariadb-dump" if maria else "mysqldump"}[tool]
    if t.get("unix_socket"):
        name += f" -S {t['unix_socket']}"
    elif t.get("host"):
        name += f" -h {t['host']} -P {t.get('port', 3306)}"
    if t.get("user"):
        name += f" -u {t['user']} -p"
    return name


def writes_note(db: dict[str, Any]) -> str:
    """What this check wrote (module docstring), for the finding's detail."""
    tables = (db.get("verified") or {}).get("wrote_headers_of") or []
    if not tables:
        return ""
    if len(tables) > 10:
        return _("{writes} Tables whose header was written: {tables} and {n} more.", writes=_(WRITES),
                 tables=", ".join(tables[:10]), n=len(tables) - 10)
    return _("{writes} Tables whose header was written: {tables}.", writes=_(WRITES),
             tables=", ".join(tables))


def headline(db: dict[str, Any], problems: list[dict[str, Any]]) -> str | None:
    return None


def severity(db: dict[str, Any], problems: list[dict[str, Any]]) -> Status:
    return Status.FAIL


def extra_problems(db: dict[str, Any]) -> list[dict[str, Any]]:
    return []


def remedy(db: dict[str, Any], problems: list[dict[str, Any]]) -> list[Any]:
    t = db.get("target") or {}
    dbname = t.get("dbname") or db["name"]
    datadir = ((db.get("server") or {}).get("datadir") or "<datadir>/").rstrip("/")
    steps = [step(_("Back up before any repair: stop the server and copy {path} to another disk:",
                    path=f"{datadir}/{dbname}"), f"cp -a {datadir}/{dbname} /mnt/backup/")]
    engines = {p["object"]: (p.get("engine") or "") for p in problems if p.get("object")}
    repairable = sorted(n for n, e in engines.items() if e.lower() in ("myisam", "aria", ""))
    innodb = sorted(n for n, e in engines.items() if e.lower() == "innodb")
    if repairable:
        steps.append(step(_("Start the server again and repair the MyISAM/Aria tables:"),
                          f"{_client(db, 'client')} -e 'REPAIR TABLE "
                          + ", ".join(f"{dbname}.{n}" for n in repairable) + ";'"))
    if innodb:
        steps.append(step(_("InnoDB tables ({tables}) cannot be repaired in place: dump what is "
                            "readable and reload it, or restore them from the last backup:",
                            tables=", ".join(innodb)),
                          f"{_client(db, 'dump')} {dbname} " + " ".join(innodb)))
    steps.append(step(_("Check again:"), f"{_client(db, 'check')} --medium-check {dbname}"))
    return steps


def missing_tooling(db: dict[str, Any]) -> None:
    return None


def error_remedy(db: dict[str, Any], errors: list[dict[str, Any]]) -> str:
    t = db.get("target") or {}
    if any(e.get("kind") == "permission" for e in errors):
        return [step(_("Let the checking user read the tables (as an administrator):"),
                     f"{_client(db, 'client')} -e "
                     f"\"GRANT SELECT ON {t.get('dbname')}.* TO '{t.get('user')}'@'localhost';\"")]
    return [step(_("Run the check by hand to see the error:"), manual_check(db))]


def server_check(db: dict[str, Any]) -> str:
    return f"{_client(db, 'client').replace(' -p', '')} -e 'SELECT 1'; systemctl status mariadb"


def manual_check(db: dict[str, Any]) -> str:
    t = db.get("target") or {}
    return f"{_client(db, 'check')} --medium-check {t.get('dbname') or db['name']}"


def verified_phrase(db: dict[str, Any]) -> str:
    v = db.get("verified") or {}
    engines = sorted({(e.get("engine") or "?") for e in db.get("tables") or []})
    tables = _n("{n} table", "{n} tables", v.get("tables", 0))
    return _("{check}: {counts}", check=v.get("check", "CHECK TABLE"),
             counts=_("{tables} ({engines})", tables=tables, engines=", ".join(engines))
             if engines else tables)
