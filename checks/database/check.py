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
from diagnose.checks.database.common import OBJECT_TYPES, location, scrub
from diagnose.checks.database.datadir import engine_of, server_files
from diagnose.checks.database import refused
from diagnose.checks.database.diskfull import cannot_start, refuses_writes
from diagnose.checks.database.logs import KernelLog, block_names, scan_log
from diagnose.config import redact
from diagnose.host import Host
from diagnose.i18n import N_, _, _n, join
from diagnose.model import Fault, Finding, Status, step

ENGINE_LABEL = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mysql": "MariaDB/MySQL"}


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
    summary = N_("SQLite integrity_check, PostgreSQL amcheck, MariaDB/MySQL CHECK TABLE; read-only")
    section = "database"
    multi = True
    needs = Needs(section=True, role="server")
    timeout = 120.0
    # The database servers' own configuration (never the data files, which change all day).
    SERVER_CONFIG = {"postgresql": ("/etc/postgresql/*/*/postgresql.conf", "/etc/postgresql/*/*/pg_hba.conf",
                                    "/etc/postgresql/*/*/conf.d/*.conf"),
                     "mysql": ("/etc/mysql/my.cnf", "/etc/mysql/conf.d/*.cnf", "/etc/mysql/mariadb.conf.d/*.cnf",
                               "/etc/my.cnf", "/etc/my.cnf.d/*.cnf")}

    def watched(self, cfg: dict[str, Any]) -> list[str]:
        out: list[str] = []
        for item in cfg.get("items", []):
            engine = engine_of(item.get("url") or "")
            for p in self.SERVER_CONFIG.get(engine or "", ()):
                if p not in out:
                    out.append(p)
        return out
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
        "server_config": Key(str, "", "the server's config file (postgresql.conf, my.cnf), to find its "
                                      "data directory and log when it does not answer (default: the "
                                      "usual places)"),
    }

    def applies(self, host: Host, cfg: dict[str, Any]) -> str | None:
        for i, item in enumerate(cfg.get("items", [])):
            if not item.get("name") or not item.get("url"):
                return _("[[database]] number {n} needs both name and url", n=i + 1)
            if engine_of(item["url"]) is None:
                return _("[[database]] {name}: url must start with sqlite://, postgresql://, mysql:// or "
                         "mariadb://", name=item["name"])
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
        if engine != "sqlite" and facts.get("scope") != "remote" and not loc.get("mount"):
            # Not connected (a server that cannot start): its config files
            # and running process still tell where its data and log are.
            found = server_files(host, engine, item["url"], item.get("server_config") or "")
            facts["server_files"] = found
            where = found.get("database_dir") or found.get("data_directory")
            if where:
                loc = facts["location"] = location(host, where)
            server_log = server_log or found.get("log")
            base = base or found.get("data_directory")
        log = item.get("log") or server_log
        with doing(f"reading the log {log} of database {item['name']}"):
            facts["log"] = scan_log(host, log, base)
        if facts.get("server_files"):
            facts["data_access"] = refused.probe(host, engine, facts["server_files"], facts["log"])
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


def _objects_phrase(problems: list[dict[str, Any]]) -> str:
    names = []
    for p in problems:
        obj, typ, table = p.get("object"), p.get("type"), p.get("table")
        if not obj:
            continue
        if typ == "index" and table and table != obj:
            label = _("index {name} on {table}", name=obj, table=table)
        else:
            label = _("{type} {name}", type=_(OBJECT_TYPES.get(typ or "table", typ or "table")), name=obj)
        if label not in names:
            names.append(label)
    if not names:
        return ""
    if len(names) > 3:
        return _("{names} and {n} more", names=join(", ", names[:3]), n=len(names) - 3)
    return join(", ", names[:3])


def _first_line(hits: list[dict[str, Any]]) -> str:
    h = hits[0]
    if h.get("time"):
        return _("\"{text}\" ({time})", text=h["text"], time=h["time"])
    return _("\"{text}\" (line {line})", text=h["text"], line=h["line"])


def _cause(db: dict[str, Any], problems: list[dict[str, Any]] = ()) -> tuple[Fault, str, dict[str, Any]]:
    """Who broke the database, from what the database alone shows: the
    fault, one sentence why, and the log/kernel lines it rests on."""
    log, kernel = db.get("log") or {}, db.get("kernel") or {}
    if any(p.get("type") in ("emptied", "tampered") for p in problems):
        # No engine empties its own file or deletes its own log: this was
        # done to the files from outside (a person, a script, a bad restore).
        return (Fault.UNDETERMINED,
                _("The database engine never does this to its own files: they were emptied or removed "
                  "from outside it (a person, a script or a restore). Who did it is not known from the "
                  "database alone."), {})
    first_corrupt = min((h["line"] for h in log.get("corruption", [])), default=None)

    def before(kind: str) -> list[dict[str, Any]]:
        hits = log.get(kind, [])
        return [h for h in hits if first_corrupt is None or h["line"] < first_corrupt]

    mount = (db.get("location") or {}).get("mount")
    # A disk-full line about a file on another filesystem is not about us.
    full = [h for h in before("disk_full") if not h.get("mount") or h["mount"] == mount]
    if full:
        return (Fault.SITE,
                _("The log {path} shows the disk filling up before the first corruption error: "
                  "{line}. Writes that fail half-way on a full disk leave torn pages behind.",
                  path=log.get("path"), line=_first_line(full)), {"log_disk_full": full})
    if kernel.get("io_errors"):
        return (Fault.SITE,
                _("The kernel reported I/O errors on {devices}, the device holding the database: "
                  "\"{error}\". The disk or its cabling is failing.",
                  devices="/".join(kernel.get("devices", [])), error=kernel["io_errors"][0]),
                {"kernel_io_errors": kernel["io_errors"]})
    io = before("io_error")
    if io:
        return (Fault.SITE, _("The log shows I/O errors before the corruption: {line}.",
                              line=_first_line(io)), {"log_io_errors": io})
    unclean = before("unclean")
    if unclean:
        return (Fault.SITE,
                _("The log shows the server stopped without a clean shutdown (power loss or a "
                  "killed server) before the corruption: {line}.", line=_first_line(unclean)),
                {"log_unclean_shutdown": unclean})
    looked = []
    looked.append(_("the log {path}", path=log["path"]) if log.get("read") else
                  _("no database log ({why})", why=log.get("error") or _("not configured")))
    looked.append(_("the kernel log via {source}", source=kernel["source"]) if kernel.get("source") else
                  _("no kernel log ({why})", why=kernel.get("error") or _("unavailable")))
    return (Fault.SOFTWARE,
            _("On what this check sees alone it is a software fault: no disk-full, I/O error or "
              "unclean-shutdown evidence was found (looked at {first} and {second}).",
              first=looked[0], second=looked[1]), {})


_CONNECT = {
    # kind: (status, title, remedy, whether the remedy ends in the server check command)
    "missing_file": (Status.FAIL, N_("{label} database file is missing: {where}"),
                     N_("Check the path in [[database]] url; if the file was deleted or moved, "
                        "restore it from the last backup"), False),
    "config": (Status.ERROR, N_("Cannot check database {name}: {error}"),
               N_("Set the variable for the diagnose run (e.g. in the cron job's environment), or "
                  "remove password_env from [[database]]"), False),
    "auth": (Status.ERROR, N_("Cannot log in to {label} database {name}: authentication failed"),
             N_("Give [[database]] a user that exists, with its password in the variable named by "
                "password_env; the check only needs read access"), False),
    "permission": (Status.ERROR, N_("Not allowed to read {label} database {name}"),
                   N_("Run diagnose as a user that may read the database (root, or the database's "
                      "owner)"), False),
    "refused": (Status.FAIL, N_("{label} server for {name} is not accepting connections"),
                N_("Check that the database server runs:"), True),
    "timeout": (Status.FAIL, N_("{label} server for {name} does not answer"),
                N_("Check that the database server and the network path to it are up:"), True),
    "no_database": (Status.FAIL, N_("{label} database {name} does not exist on the server"),
                    N_("Check the database name in [[database]] url; if it was dropped, restore it "
                       "from the last backup"), False),
    "error": (Status.ERROR, N_("Cannot check {label} database {name}: {error}"),
              N_("Check the [[database]] url and that the server is reachable:"), True),
}


# evidence.reason of a finding about reaching the database (attribution joins on it).
REASON_OF_CONNECT = {"refused": "server-down", "timeout": "server-down", "missing_file": "missing-file",
                     "config": "config", "auth": "auth", "permission": "permission",
                     "no_database": "no-database", "error": "error"}


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
    log = db.get("log") or {}
    if not conn.get("ok"):
        evidence["log"] = {k: log.get(k) for k in ("path", "read", "error") if k in log}
        if db.get("server_files"):
            evidence["server_files"] = db["server_files"]
        evidence["connect"] = conn
        stopped = cannot_start(check, name, label, db, mod, evidence) or \
            refused.cannot_open(check, name, label, db, mod, evidence)
        if stopped:
            return stopped
        evidence["reason"] = REASON_OF_CONNECT.get(conn.get("kind"), "error")
        status, title, remedy, with_cmd = _CONNECT.get(conn.get("kind"), _CONNECT["error"])
        fmt = dict(label=label, name=name, error=conn.get("error", ""),
                   where=db.get("path") or db.get("url"))
        return Finding(check, name, status, _(title, **fmt), fault=Fault.UNDETERMINED,
                       detail=_("{error}. This is about reaching the database, not about its "
                                "contents: integrity was not checked.", error=conn.get("error")),
                       evidence=evidence,
                       remedy=[step(_(remedy), mod.server_check(db) if with_cmd else None)])

    problems = (db.get("problems") or []) + mod.extra_problems(db)
    errors = [e for e in db.get("errors") or [] if e.get("kind") != "budget"]
    kernel = db.get("kernel") or {}
    evidence["log"] = {k: log.get(k) for k in ("path", "read", "error") if k in log}
    evidence["kernel"] = {k: kernel.get(k) for k in ("source", "error", "devices") if k in kernel}
    if problems:
        evidence["reason"] = "corrupt"
        fault, why, lines = _cause(db, problems)
        evidence.update(lines)
        evidence["problems"] = problems[:20]
        evidence["problem_count"] = len(problems)
        objects = _objects_phrase(problems)
        title = mod.headline(db, problems)
        if not title and objects:
            title = _("{label} database {name} is corrupt: {objects}", label=label, name=name,
                      objects=objects)
        elif not title:
            first = problems[0]
            title = _("{label} database {name} is corrupt: {what}", label=label, name=name,
                      what=first.get("summary") or first["message"][:80])
        where = loc.get("mount")
        steps = [step(_("Stop the application and make sure {where} has free space; free it first "
                        "if it is full:", where=where) if where else
                      _("Stop the application and make sure the disk holding the database has free "
                        "space; free it first if it is full:"),
                      f"df -h {where or '<data directory>'}")]
        steps += mod.remedy(db, problems)
        detail = _n("{check} found {n} problem; first: {first}. {why}",
                    "{check} found {n} problems; first: {first}. {why}", len(problems),
                    check=db.get("verified", {}).get("check") or _("The integrity check"),
                    first=problems[0]["message"][:300], why=why)
        missing = mod.missing_tooling(db)
        if missing:
            detail = join(" ", [detail, _("Also: {what}", what=missing[2])])
            steps.insert(1, missing[3])
        detail = _writes(mod, db, detail)
        return Finding(check, name, mod.severity(db, problems), title, fault=fault, detail=detail,
                       evidence=evidence, remedy=steps)

    full = refuses_writes(check, name, label, db, evidence)
    if full:
        return full
    missing = mod.missing_tooling(db)
    if missing:
        evidence["reason"] = "not-verified"
        status, title, detail, remedy = missing
        if errors:
            evidence["errors"] = errors
        return Finding(check, name, status, title, fault=Fault.UNDETERMINED,
                       detail=detail, evidence=evidence, remedy=remedy)
    if errors:
        evidence["errors"] = errors
        evidence["reason"] = "not-verified"
        first = errors[0]
        return Finding(check, name, Status.ERROR,
                       _("Could not check {label} database {name}: {error}", label=label, name=name,
                         error=first["error"][:100]),
                       fault=Fault.UNDETERMINED,
                       detail=_n("{n} object could not be checked, so the database is neither known "
                                 "good nor known bad. First error: {error}",
                                 "{n} objects could not be checked, so the database is neither known "
                                 "good nor known bad. First error: {error}", len(errors),
                                 error=first["error"]),
                       evidence=evidence, remedy=mod.error_remedy(db, errors))
    return _ok(check, name, label, db, mod, evidence)


def _ok(check: str, name: str, label: str, db: dict[str, Any], mod: Any,
        evidence: dict[str, Any]) -> Finding:
    evidence["reason"] = "ok"
    verified = db.get("verified") or {}
    what = mod.verified_phrase(db)
    budget_note = [e["error"] for e in db.get("errors") or [] if e.get("kind") == "budget"]
    if "check" in verified and verified["check"] is None:
        return Finding(check, name, Status.WARN,
                       _("{label} database {name} could not be checked within budget_s = {budget} s",
                         label=label, name=name, budget=db.get("budget_s")),
                       fault=Fault.UNDETERMINED,
                       detail=_("Not even the quick check finished in time ({why}), so the database "
                                "is neither known good nor known bad.", why=join("; ", budget_note)),
                       evidence=evidence,
                       remedy=[step(_("Raise budget_s (and timeout_s) for [[database]] {name}, or run "
                                      "the check by hand when the application is idle:", name=name),
                                    mod.manual_check(db))])
    if verified.get("full_check_skipped") or budget_note or db.get("complete") is False:
        why = verified.get("full_check_skipped") or join("; ", budget_note)
        return Finding(check, name, Status.OK,
                       _("{label} database {name} passed a partial check only ({what})", label=label,
                         name=name, what=what),
                       detail=_writes(mod, db, _("No corruption found, but the full check was not done: "
                                                 "{why}.", why=why)),
                       evidence=evidence,
                       remedy=[step(_("Raise budget_s for [[database]] {name}, or run the full check "
                                      "by hand when the application is idle:", name=name),
                                    mod.manual_check(db))])
    return Finding(check, name, Status.OK, _("{label} database {name} is intact ({what})",
                                             label=label, name=name, what=what),
                   detail=_writes(mod, db, ""), evidence=evidence)


def _writes(mod: Any, db: dict[str, Any], detail: Any) -> Any:
    """*detail* and the engine's own account of what its check wrote
    (MyISAM/Aria headers)."""
    note = getattr(mod, "writes_note", None)
    text = note(db) if note else ""
    if not text:
        return detail
    return join(" ", [detail, text]) if detail else text
