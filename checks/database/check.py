"""database.integrity: is the call-center database intact, and if not, why?

One ``[[database]]`` table per database. The probe dispatches on the URL
scheme to an engine module (``db_sqlite``, ``db_postgres``, ``db_mysql``),
each of which opens the database read-only and runs the engine's own
integrity check. Around that, this module gathers what tells *why* a
database broke: the database's log (disk full, unclean shutdown) and the
kernel log (I/O errors on the device holding the files).

Every engine returns the same shape of facts (``connect``, ``location``,
``verified``, ``problems``, ``errors``, ``complete``), so one judge serves
all three. The judge gives exactly one finding per database (the subject is
the database name) because attribution joins on that id.

Passwords come from ``password_env`` or the URL; they are used to connect
and nothing else: facts carry the redacted URL and error texts are scrubbed.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from diagnose.activity import doing
from diagnose.check import Check, Key, Needs
from diagnose.checks.database.common import scrub
from diagnose.checks.database.logs import KernelLog, block_names, scan_log
from diagnose.config import redact
from diagnose.host import Host
from diagnose.model import Fault, Finding, Status

ENGINES = {"sqlite": "sqlite", "postgresql": "postgresql", "postgres": "postgresql",
           "mysql": "mysql", "mariadb": "mysql"}
ENGINE_LABEL = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mysql": "MariaDB/MySQL"}

def engine_of(url: str) -> str | None:
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower() if ":" in url else ""
    return ENGINES.get(scheme)


def password_for(item: dict[str, Any]) -> tuple[str | None, str | None]:
    """(password, problem): the password from ``password_env`` when set,
    else None (the URL's own password, if any, is used by the driver)."""
    env = item.get("password_env") or ""
    if not env:
        return None, None
    if env not in os.environ:
        return None, f"password_env names {env}, which is not set in the environment"
    return os.environ[env], None


# -- the check -------------------------------------------------------------

class DatabaseIntegrity(Check):
    name = "database.integrity"
    summary = "SQLite integrity_check, PostgreSQL amcheck, MariaDB/MySQL CHECK TABLE; read-only"
    section = "database"
    multi = True
    needs = Needs(section=True, role="server")
    timeout = 120.0
    schema = {
        "name": Key(str, "", "name of the database in reports (the finding's subject)"),
        "url": Key(str, "", "sqlite:////path/file.db, postgresql://user@host:port/db, "
                            "mysql://user@host:port/db or mariadb://..."),
        "log": Key(str, "", "log to search for disk-full and crash lines (default: the server's own "
                            "error log when it can tell)"),
        "mode": Key(str, "full", "full: every page, row and index entry; quick: structure only",
                    choices=("quick", "full")),
        "budget_s": Key((int, float), 30, "seconds the check of this database may take; a larger "
                                          "database gets the quick check and a finding saying so"),
        "tables": Key(list, [], "check only these tables (default: all)", item=str),
        "password_env": Key(str, "", "environment variable holding the database password"),
    }

    def applies(self, host: Host, cfg: dict[str, Any]) -> str | None:
        for i, item in enumerate(cfg.get("items", [])):
            if not item.get("name") or not item.get("url"):
                return f"[[database]] number {i + 1} needs both name and url"
            if engine_of(item["url"]) is None:
                return (f"[[database]] {item['name']}: url must start with sqlite://, postgresql://, "
                        f"mysql:// or mariadb://")
        return None

    # Where call-center SQLite files and database server sockets usually are.
    SQLITE_DIRS = ("/var/lib/callcenter", "/var/lib/asterisk", "/srv/callcenter")
    SOCKETS = (("postgresql", "/run/postgresql"), ("mariadb", "/run/mysqld/mysqld.sock"))

    def init_section(self, host: Host) -> str | None:
        """[[database]] tables for the SQLite files found in the usual
        places; database servers found here are proposed commented out,
        because only the site knows the database's name and user."""
        lines = [f"# {self.name}: {self.summary}"]
        for d in self.SQLITE_DIRS:
            try:
                names = [n for n in host.listdir(d) if n.endswith((".db", ".sqlite", ".sqlite3"))]
            except OSError:
                continue
            for n in names:
                stem = n.rsplit(".", 1)[0]
                lines += ["[[database]]", f'name = "{stem}"', f'url = "sqlite:///{d}/{n}"  # found here', ""]
        for engine, where in self.SOCKETS:
            if engine == "postgresql":
                try:
                    ports = [n.rsplit(".", 1)[1] for n in host.listdir(where) if n.startswith(".s.PGSQL.")
                             and not n.endswith(".lock")]
                except OSError:
                    ports = []
                urls = [f"postgresql://postgres@/CALLCENTER_DB?host={where}&port={p}" for p in ports]
            else:
                urls = [f"mariadb://root@localhost/CALLCENTER_DB?unix_socket={where}"] if host.exists(where) else []
            for url in urls:
                lines += ["# a database server runs here: set the database name and user", "# [[database]]",
                          '# name = "callcenter"', f'# url = "{url}"', '# password_env = "CALLCENTER_DB_PASSWORD"',
                          ""]
        if len(lines) == 1:
            lines += ["# [[database]]", '# name = "callcenter"',
                      '# url = "sqlite:////var/lib/callcenter/cc.db"  # or postgresql://, mysql://, mariadb://']
        for key in ("log", "mode", "budget_s", "tables", "password_env"):
            spec = self.schema[key]
            lines.append(f"# {key} = {json.dumps(spec.default)}  # {spec.doc}")
        return "\n".join(lines)

    def probe(self, host: Host, cfg: dict[str, Any]) -> dict[str, Any]:
        kernel = KernelLog(host)
        return {"databases": [self._probe_one(host, item, kernel) for item in cfg.get("items", [])]}

    def _probe_one(self, host: Host, item: dict[str, Any], kernel: KernelLog) -> dict[str, Any]:
        t0 = time.monotonic()
        engine = engine_of(item["url"])
        facts: dict[str, Any] = {"name": item["name"], "engine": engine, "url": redact(item["url"]),
                                 "mode": item["mode"], "budget_s": item["budget_s"]}
        password, problem = password_for(item)
        if problem:
            facts.update(connect={"ok": False, "kind": "config", "error": problem})
        else:
            try:
                with doing(f"checking database {item['name']} ({redact(item['url'])})"):
                    facts.update(_engine_module(engine).probe(host, item, password))
            except Exception as exc:  # a driver failure is a fact about this database only
                facts.update(connect={"ok": False, "kind": "error",
                                      "error": scrub(f"{type(exc).__name__}: {exc}", password)})
        loc = facts.setdefault("location", {"mount": None})
        server_log, base = facts.pop("server_log", None), facts.pop("log_base", None)
        log = item.get("log") or server_log
        with doing(f"reading the log {log} of database {item['name']}"):
            facts["log"] = scan_log(host, log, base)
        with doing(f"reading the kernel log for database {item['name']}"):
            facts["kernel"] = kernel.scan(block_names(host, loc.get("device")))
        facts["duration_s"] = round(time.monotonic() - t0, 3)
        return facts

    def judge(self, facts: dict[str, Any], cfg: dict[str, Any]) -> list[Finding]:
        return [judge_database(self.name, db) for db in facts.get("databases", [])]


# -- the judge -------------------------------------------------------------

def _engine_module(engine: str | None) -> Any:
    # Engine modules import their drivers only inside probe(): importing
    # one for its remedy texts stays cheap.
    if engine == "sqlite":
        from diagnose.checks.database import sqlite as mod
    elif engine == "postgresql":
        from diagnose.checks.database import postgres as mod
    else:
        from diagnose.checks.database import mysql as mod
    return mod


def _numbered(steps: list[str]) -> str:
    # No full stop after a step: most end in a command to copy.
    return "  ".join(f"{i}) {s}" for i, s in enumerate(steps, 1))


def _objects_phrase(problems: list[dict[str, Any]]) -> str:
    names = []
    for p in problems:
        obj, typ, table = p.get("object"), p.get("type"), p.get("table")
        if not obj:
            continue
        label = f"index {obj} on {table}" if typ == "index" and table and table != obj else f"{typ or 'table'} {obj}"
        if label not in names:
            names.append(label)
    if not names:
        return ""
    more = f" and {len(names) - 3} more" if len(names) > 3 else ""
    return ", ".join(names[:3]) + more


def _first_line(hits: list[dict[str, Any]]) -> str:
    h = hits[0]
    return (f"\"{h['text']}\"" + (f" ({h['time']})" if h.get("time") else f" (line {h['line']})"))


def _cause(db: dict[str, Any]) -> tuple[Fault, str, dict[str, Any]]:
    """Who broke the database, from what the database alone shows: the
    fault, one sentence why, and the log/kernel lines it rests on."""
    log, kernel = db.get("log") or {}, db.get("kernel") or {}
    first_corrupt = min((h["line"] for h in log.get("corruption", [])), default=None)

    def before(kind: str) -> list[dict[str, Any]]:
        hits = log.get(kind, [])
        return [h for h in hits if first_corrupt is None or h["line"] < first_corrupt]

    mount = (db.get("location") or {}).get("mount")
    # A disk-full line about a file on another filesystem is not about us.
    full = [h for h in before("disk_full") if not h.get("mount") or h["mount"] == mount]
    if full:
        return (Fault.SITE,
                f"The log {log.get('path')} shows the disk filling up before the first corruption "
                f"error: {_first_line(full)}. Writes that fail half-way on a full disk leave "
                f"torn pages behind.", {"log_disk_full": full})
    if kernel.get("io_errors"):
        return (Fault.SITE,
                f"The kernel reported I/O errors on {'/'.join(kernel.get('devices', []))}, the device "
                f"holding the database: \"{kernel['io_errors'][0]}\". The disk or its cabling is failing.",
                {"kernel_io_errors": kernel["io_errors"]})
    io = before("io_error")
    if io:
        return (Fault.SITE, f"The log shows I/O errors before the corruption: {_first_line(io)}.",
                {"log_io_errors": io})
    unclean = before("unclean")
    if unclean:
        return (Fault.SITE,
                f"The log shows the server stopped without a clean shutdown (power loss or a killed "
                f"server) before the corruption: {_first_line(unclean)}.", {"log_unclean_shutdown": unclean})
    looked = []
    looked.append(f"the log {log['path']}" if log.get("read") else
                  f"no database log ({log.get('error') or 'not configured'})")
    looked.append(f"the kernel log via {kernel['source']}" if kernel.get("source") else
                  f"no kernel log ({kernel.get('error') or 'unavailable'})")
    return (Fault.SOFTWARE,
            "On what this check sees alone it is a software fault: no disk-full, I/O error or "
            f"unclean-shutdown evidence was found (looked at {' and '.join(looked)}).", {})


_CONNECT = {
    # kind: (status, title, remedy)
    "missing_file": (Status.FAIL, "{label} database file is missing: {where}",
                     "Check the path in [[database]] url; if the file was deleted or moved, restore it "
                     "from the last backup"),
    "config": (Status.ERROR, "Cannot check database {name}: {error}",
               "Set the variable for the diagnose run (e.g. in the cron job's environment), or remove "
               "password_env from [[database]]"),
    "auth": (Status.ERROR, "Cannot log in to {label} database {name}: authentication failed",
             "Give [[database]] a user that exists, with its password in the variable named by "
             "password_env; the check only needs read access"),
    "permission": (Status.ERROR, "Not allowed to read {label} database {name}",
                   "Run diagnose as a user that may read the database (root, or the database's owner)"),
    "refused": (Status.FAIL, "{label} server for {name} is not accepting connections",
                "Check that the database server runs: {server_cmd}"),
    "timeout": (Status.FAIL, "{label} server for {name} does not answer",
                "Check that the database server and the network path to it are up: {server_cmd}"),
    "no_database": (Status.FAIL, "{label} database {name} does not exist on the server",
                    "Check the database name in [[database]] url; if it was dropped, restore it from "
                    "the last backup"),
    "error": (Status.ERROR, "Cannot check {label} database {name}: {error}",
              "Check the [[database]] url and that the server is reachable: {server_cmd}"),
}


def judge_database(check: str, db: dict[str, Any]) -> Finding:
    """One finding for one database: connection problem, corruption (with
    its cause), amcheck missing, could not finish, or intact."""
    name, engine = db["name"], db.get("engine") or "sqlite"
    label = ENGINE_LABEL.get(engine, engine)
    mod = _engine_module(engine)
    loc = db.get("location") or {}
    evidence: dict[str, Any] = {
        "engine": engine, "url": db.get("url"), "mount": loc.get("mount"), "location": loc,
        "mode": db.get("mode"), "verified": db.get("verified"), "complete": db.get("complete"),
    }
    if db.get("scope") == "remote":  # the engine's rule for "this host's link is down"
        evidence["scope"] = "remote"
    for key in ("file", "server", "amcheck", "target", "tables"):
        if db.get(key) is not None:
            evidence[key] = db[key]
    conn = db.get("connect") or {"ok": False, "kind": "error", "error": "no facts"}
    if not conn.get("ok"):
        status, title, remedy = _CONNECT.get(conn.get("kind"), _CONNECT["error"])
        fmt = dict(label=label, name=name, error=conn.get("error", ""),
                   where=db.get("path") or db.get("url"), server_cmd=mod.server_check(db))
        evidence["connect"] = conn
        return Finding(check, name, status, title.format(**fmt), fault=Fault.UNDETERMINED,
                       detail=f"{conn.get('error')}. This is about reaching the database, not about "
                              f"its contents: integrity was not checked.",
                       evidence=evidence, remedy=remedy.format(**fmt))

    problems = (db.get("problems") or []) + mod.extra_problems(db)
    errors = [e for e in db.get("errors") or [] if e.get("kind") != "budget"]
    log, kernel = db.get("log") or {}, db.get("kernel") or {}
    evidence["log"] = {k: log.get(k) for k in ("path", "read", "error") if k in log}
    evidence["kernel"] = {k: kernel.get(k) for k in ("source", "error", "devices") if k in kernel}
    if problems:
        fault, why, lines = _cause(db)
        evidence.update(lines)
        evidence["problems"] = problems[:20]
        evidence["problem_count"] = len(problems)
        objects = _objects_phrase(problems)
        title = mod.headline(db, problems)
        if title:
            title = title.format(name=name)
        elif objects:
            title = f"{label} database {name} is corrupt: {objects}"
        else:
            first = problems[0]
            title = f"{label} database {name} is corrupt: {first.get('summary') or first['message'][:80]}"
        steps = [f"Stop the application and make sure {loc.get('mount') or 'the disk holding the database'} "
                 f"has free space (df -h {loc.get('mount') or '<data directory>'}); free it first if it is full"]
        steps += mod.remedy(db, problems)
        detail = (f"{db.get('verified', {}).get('check', 'The integrity check')} found "
                  f"{len(problems)} problem(s); first: {problems[0]['message'][:300]}. {why}")
        missing = mod.missing_tooling(db)
        if missing:
            detail += f" Also: {missing[2]}"
            steps.insert(1, missing[3])
        detail += _writes(mod, db)
        return Finding(check, name, mod.severity(db, problems), title, fault=fault, detail=detail,
                       evidence=evidence, remedy=_numbered(steps))

    missing = mod.missing_tooling(db)
    if missing:
        status, title, detail, remedy = missing
        if errors:
            evidence["errors"] = errors
        return Finding(check, name, status, title.format(name=name), fault=Fault.UNDETERMINED,
                       detail=detail, evidence=evidence, remedy=remedy)
    if errors:
        evidence["errors"] = errors
        first = errors[0]
        return Finding(check, name, Status.ERROR,
                       f"Could not check {label} database {name}: {first['error'][:100]}",
                       fault=Fault.UNDETERMINED,
                       detail=f"{len(errors)} object(s) could not be checked, so the database is neither "
                              f"known good nor known bad. First error: {first['error']}",
                       evidence=evidence, remedy=mod.error_remedy(db, errors))
    return _ok(check, name, label, db, mod, evidence)


def _ok(check: str, name: str, label: str, db: dict[str, Any], mod: Any,
        evidence: dict[str, Any]) -> Finding:
    verified = db.get("verified") or {}
    what = mod.verified_phrase(db)
    budget_note = [e["error"] for e in db.get("errors") or [] if e.get("kind") == "budget"]
    if "check" in verified and verified["check"] is None:
        return Finding(check, name, Status.WARN,
                       f"{label} database {name} could not be checked within budget_s = {db.get('budget_s')} s",
                       fault=Fault.UNDETERMINED,
                       detail=f"Not even the quick check finished in time ({'; '.join(budget_note)}), so the "
                              f"database is neither known good nor known bad.",
                       evidence=evidence,
                       remedy=f"Raise budget_s (and timeout_s) for [[database]] {name}, or run the check by "
                              f"hand when the application is idle: {mod.manual_check(db)}")
    if verified.get("full_check_skipped") or budget_note or db.get("complete") is False:
        why = verified.get("full_check_skipped") or "; ".join(budget_note)
        return Finding(check, name, Status.OK,
                       f"{label} database {name} passed a partial check only ({what})",
                       detail=f"No corruption found, but the full check was not done: {why}." + _writes(mod, db),
                       evidence=evidence,
                       remedy=f"Raise budget_s for [[database]] {name}, or run the full check by hand "
                              f"when the application is idle: {mod.manual_check(db)}")
    return Finding(check, name, Status.OK, f"{label} database {name} is intact ({what})",
                   detail=_writes(mod, db).strip(), evidence=evidence)


def _writes(mod: Any, db: dict[str, Any]) -> str:
    """The engine's own account of what its check wrote (MyISAM/Aria headers)."""
    note = getattr(mod, "writes_note", None)
    text = note(db) if note else ""
    return f" {text}" if text else ""
