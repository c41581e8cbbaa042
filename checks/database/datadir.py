"""Where a database keeps its files, without asking the database.

A server that cannot start because its disk is full does not answer, yet
that is exactly when the technician needs to know which filesystem holds its
data. So this module finds the data directory (and the server's own log)
from what is on disk: the SQLite file path in the URL; PostgreSQL's
``postgresql.conf`` (``data_directory``, ``port``; Debian keeps it under
/etc/postgresql/VERSION/CLUSTER, RHEL in the data directory itself) and the
lock file beside its socket, which names the running server's data
directory; MariaDB/MySQL's ``my.cnf`` and its includes (``datadir``,
``socket``, ``port``, ``log_error``) and the running server's command line.
``[[database]] server_config`` names the config file when it is elsewhere.

Both database.integrity and application.services (the mounts of a
service's databases) use it; everything goes through the host.
"""

from __future__ import annotations

import glob
import os
import re
import urllib.parse
from typing import Any

PG_CONFIGS = ("/etc/postgresql/*/*/postgresql.conf", "/var/lib/pgsql/data/postgresql.conf",
              "/var/lib/pgsql/*/data/postgresql.conf")
MY_CONFIGS = ("/etc/mysql/my.cnf", "/etc/my.cnf", "/etc/mysql/mariadb.cnf")
MY_SECTIONS = ("mysqld", "mariadb", "mariadbd", "server", "mysqld_safe")
MY_SOCKET = "/run/mysqld/mysqld.sock"
_PG_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*=?\s*('(?:[^']|'')*'|[^#\s]+)")
# Debian's pg_ctlcluster logs to /var/log/postgresql/postgresql-VERSION-CLUSTER.log.
_DEBIAN_PG = re.compile(r"^/etc/postgresql/([^/]+)/([^/]+)/postgresql\.conf$")


ENGINES = {"sqlite": "sqlite", "postgresql": "postgresql", "postgres": "postgresql",
           "mysql": "mysql", "mariadb": "mysql"}


def engine_of(url: str) -> str | None:
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower() if ":" in url else ""
    return ENGINES.get(scheme)


def sqlite_path(url: str) -> str:
    """``sqlite:////var/lib/cc.db`` and ``sqlite:///var/lib/cc.db`` both name /var/lib/cc.db."""
    rest = url.split("://", 1)[1].split("?", 1)[0]
    return "/" + urllib.parse.unquote(rest).lstrip("/")


def _pg_target(url: str) -> dict[str, Any]:
    u = urllib.parse.urlsplit(url)
    q = urllib.parse.parse_qs(u.query)
    port = (q.get("port") or [None])[0] or u.port or 5432
    host = (q.get("host") or [None])[0] or u.hostname or ""
    return {"port": int(port), "host": urllib.parse.unquote(host), "dbname": u.path.lstrip("/")}


def _my_target(url: str) -> dict[str, Any]:
    u = urllib.parse.urlsplit(url)
    q = urllib.parse.parse_qs(u.query)
    return {"port": u.port or 3306, "host": u.hostname or "localhost",
            "socket": (q.get("unix_socket") or q.get("socket") or [None])[0],
            "dbname": urllib.parse.unquote(u.path.lstrip("/"))}


def _glob(host: Any, pattern: str) -> list[str]:
    root = host.root.rstrip("/")
    return sorted("/" + os.path.relpath(p, root or "/") if root else p
                  for p in glob.glob(host.path(pattern)))


def parse_pg_conf(text: str) -> dict[str, str]:
    """``name = value`` settings of a postgresql.conf (the last one wins)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = _PG_LINE.match(line)
        if m:
            v = m.group(2)
            if v.startswith("'"):
                v = v[1:-1].replace("''", "'")
            out[m.group(1).lower()] = v
    return out


def _pg_settings(host: Any, path: str) -> dict[str, str]:
    settings = parse_pg_conf(host.read_text(path, missing=""))
    inc = settings.get("include_dir")
    if inc:
        d = inc if inc.startswith("/") else os.path.join(os.path.dirname(path), inc)
        for extra in _glob(host, os.path.join(d, "*.conf")):
            settings.update(parse_pg_conf(host.read_text(extra, missing="")))
    return settings


def _pg(host: Any, url: str, config: str) -> dict[str, Any]:
    t = _pg_target(url)
    out: dict[str, Any] = {"config": None, "data_directory": None, "log": None, "source": None}
    # A running server's lock file beside its socket: pid, then its data directory.
    if t["host"].startswith("/"):
        lock = host.read_text(f"{t['host']}/.s.PGSQL.{t['port']}.lock", missing="").splitlines()
        if len(lock) > 1 and lock[1].startswith("/"):
            out.update(data_directory=lock[1], source="socket lock file")
    candidates = [config] if config else [p for pat in PG_CONFIGS for p in _glob(host, pat)]
    for path in candidates:
        if not host.exists(path):
            continue
        s = _pg_settings(host, path)
        if not config and int(s.get("port") or 5432) != t["port"]:
            continue  # another cluster of this host
        here = os.path.dirname(path)
        data = s.get("data_directory") or (here if host.exists(os.path.join(here, "PG_VERSION")) else None)
        out["config"] = path
        if data and not out["data_directory"]:
            out.update(data_directory=data, source="config")
        m = _DEBIAN_PG.match(path)
        if m:
            out["log"] = f"/var/log/postgresql/postgresql-{m.group(1)}-{m.group(2)}.log"
        if s.get("logging_collector", "off").lower() in ("on", "true", "yes", "1") and out["data_directory"]:
            logdir = s.get("log_directory") or "log"
            if not logdir.startswith("/"):
                logdir = os.path.join(out["data_directory"], logdir)
            newest = sorted(_glob(host, os.path.join(logdir, "*")),
                            key=lambda p: host.stat(p).st_mtime if host.exists(p) else 0)
            if newest:
                out["log"] = newest[-1]
        break
    return out


def parse_my_cnf(host: Any, path: str, depth: int = 0) -> dict[str, str]:
    """Server settings of a my.cnf and the files it includes (``-`` and
    ``_`` are the same in option names; the last one wins)."""
    out: dict[str, str] = {}
    section = ""
    for raw in host.read_text(path, missing="").splitlines():
        line = raw.strip()
        if depth < 3 and line.startswith("!includedir"):
            d = line.split(None, 1)[1].strip() if len(line.split(None, 1)) > 1 else ""
            for f in _glob(host, os.path.join(d, "*.cnf")):
                out.update(parse_my_cnf(host, f, depth + 1))
        elif depth < 3 and line.startswith("!include"):
            out.update(parse_my_cnf(host, line.split(None, 1)[1].strip(), depth + 1))
        elif line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip().lower()
        elif line and line[0] not in "#;" and (section in MY_SECTIONS or section.startswith("mariadb-")):
            key, _sep, value = line.partition("=")
            out[key.strip().replace("-", "_").lower()] = value.split("#")[0].strip().strip("'\"")
    return out


def _my_process(host: Any, t: dict[str, Any]) -> dict[str, str]:
    """--datadir and --log-error of a running mariadbd/mysqld serving the
    target's socket or port."""
    try:
        pids = [p for p in host.listdir("/proc") if p.isdigit()]
    except OSError:
        return {}
    for pid in pids:
        try:
            argv = host.read_bytes(f"/proc/{pid}/cmdline").decode("utf-8", "replace").split("\0")
        except OSError:
            continue
        if not argv or os.path.basename(argv[0]) not in ("mariadbd", "mysqld"):
            continue
        opts = {}
        for a in argv[1:]:
            if a.startswith("--") and "=" in a:
                k, _sep, v = a[2:].partition("=")
                opts[k.replace("-", "_")] = v
        if t["socket"] and opts.get("socket") not in (None, t["socket"]):
            continue
        if not t["socket"] and opts.get("port") not in (None, str(t["port"])):
            continue
        if opts.get("datadir"):
            return opts
    return {}


def _my(host: Any, url: str, config: str) -> dict[str, Any]:
    t = _my_target(url)
    out: dict[str, Any] = {"config": None, "data_directory": None, "log": None, "source": None}
    opts = _my_process(host, t)
    if opts:
        out.update(data_directory=opts["datadir"], source="server process", log=opts.get("log_error"))
    for path in [config] if config else MY_CONFIGS:
        if not host.exists(path):
            continue
        s = parse_my_cnf(host, path)
        if t["socket"] and s.get("socket", MY_SOCKET) != t["socket"] and not config:
            continue  # another server of this host
        out["config"] = path
        if s.get("datadir") and not out["data_directory"]:
            out.update(data_directory=s["datadir"], source="config")
        if s.get("log_error") and not out["log"]:
            out["log"] = s["log_error"]
        break
    d = out["data_directory"]
    if out["log"] and not out["log"].startswith("/") and d:
        out["log"] = os.path.normpath(os.path.join(d, out["log"]))
    return out


def server_files(host: Any, engine: str | None, url: str, config: str = "") -> dict[str, Any]:
    """``{config, data_directory, database_dir, log, source}`` of the
    database at *url*: what the config files and the running server say,
    each None when unknown. *database_dir* is where this database's own
    files are (MariaDB: a folder per database under the data directory)."""
    local = ("localhost", "127.0.0.1", "::1", "")
    try:
        if engine == "postgresql" and not (_pg_target(url)["host"].startswith("/")
                                           or _pg_target(url)["host"] in local):
            return {"config": None, "data_directory": None, "database_dir": None, "log": None,
                    "source": None, "error": "the server is on another host"}
        if engine == "mysql" and not (_my_target(url)["socket"] or _my_target(url)["host"] in local):
            return {"config": None, "data_directory": None, "database_dir": None, "log": None,
                    "source": None, "error": "the server is on another host"}
        if engine == "postgresql":
            out = _pg(host, url, config)
            out["database_dir"] = out["data_directory"]
        elif engine == "mysql":
            out = _my(host, url, config)
            d, name = out["data_directory"], _my_target(url)["dbname"]
            out["database_dir"] = os.path.join(d, name) if d and name else d
        else:
            path = sqlite_path(url)
            out = {"config": None, "data_directory": os.path.dirname(path), "database_dir": path,
                   "log": None, "source": "url"}
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return {"config": config or None, "data_directory": None, "database_dir": None, "log": None,
                "source": None, "error": str(exc)[:200]}
    return out


def mount_of_database(host: Any, engine: str | None, url: str, config: str = "") -> str | None:
    """The mountpoint holding the database's files, or None when not known."""
    found = server_files(host, engine, url, config)
    where = found.get("database_dir") or found.get("data_directory")
    if not where:
        return None
    # A database folder that is a symlink (MariaDB's way to put one
    # database on another disk) resolves to its real place.
    m = host.mount_of(where if host.exists(where) else os.path.dirname(where))
    return m.mountpoint if m else None
