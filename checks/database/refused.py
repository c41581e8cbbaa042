"""A database server that cannot start because its own files were taken from
it (issue 17, class 5): the data directory restored or copied as root, a
``chown -R root`` one folder too high, a single file copied back with the
wrong owner.

PostgreSQL refuses to run as root and refuses a data directory that its
user does not own or that others may enter ("has wrong ownership", "has
invalid permissions": it wants 0700 or 0750); under Debian's pg_ctlcluster
those refusals go to the journal, not to the server's log, so the owner of
the data directory is evidence in itself. MariaDB, started as ``mysql``,
cannot create its files in a folder it does not own: "Can't create/write to
file './ddl_recovery.log' (Errcode: 13 "Permission denied")". A file that a
"Permission denied" line names is looked up too.

Probe side: :func:`probe` records owners and modes (only when the server did
not answer). Judge side: :func:`cannot_open` is a pure function of those
facts.
"""

from __future__ import annotations

import os
import re
import shlex
import stat as stat_mod
from typing import Any

from diagnose.i18n import _
from diagnose.model import Fault, Finding, Status, step

# A file named in such a line: "global/pg_control", './ddl_recovery.log'.
_NAMED = re.compile(r"""["']((?:\.{1,2}/|/)?[\w.@+-]+(?:/[\w.@+-]+)*)["']""")
SERVER_USER = {"postgresql": "postgres", "mysql": "mysql"}
# PostgreSQL's checkDataDir(): the data directory's mode must be 0700 or 0750.
PG_MODES = ("0700", "0750")


def _accounts(host) -> tuple[dict[int, str], dict[int, str], dict[str, tuple[int, int]]]:
    users: dict[int, str] = {}
    by_name: dict[str, tuple[int, int]] = {}
    for line in host.read_text("/etc/passwd", missing="").splitlines():
        p = line.split(":")
        if len(p) > 3 and p[2].isdigit() and p[3].isdigit():
            users.setdefault(int(p[2]), p[0])
            by_name.setdefault(p[0], (int(p[2]), int(p[3])))
    groups: dict[int, str] = {}
    for line in host.read_text("/etc/group", missing="").splitlines():
        p = line.split(":")
        if len(p) > 2 and p[2].isdigit():
            groups.setdefault(int(p[2]), p[0])
    return users, groups, by_name


def _row(host, path: str, users: dict[int, str], groups: dict[int, str]) -> dict[str, Any]:
    try:
        st = host.stat(path)
    except OSError as exc:
        return {"path": path, "exists": False if isinstance(exc, FileNotFoundError) else None,
                "error": exc.strerror or str(exc)}
    return {"path": path, "exists": True, "uid": st.st_uid, "gid": st.st_gid, "owner": users.get(st.st_uid),
            "group": groups.get(st.st_gid), "mode": f"{stat_mod.S_IMODE(st.st_mode):04o}"}


def probe(host, engine: str, found: dict[str, Any], log: dict[str, Any]) -> dict[str, Any] | None:
    """Owners and modes of a stopped server's data directory and of the
    files its "Permission denied" lines name, and which user the server
    runs as: the owner of the log it wrote (or of its config) when that is
    not root, else the packaged default."""
    data = found.get("data_directory")
    if engine not in SERVER_USER or not data:
        return None
    users, groups, by_name = _accounts(host)
    user, source = None, None
    for what, path in (("log", log.get("path")), ("config", found.get("config"))):
        if path:
            row = _row(host, path, users, groups)
            if row.get("exists") and row["uid"] != 0:
                user, source = row["owner"] or str(row["uid"]), what
                break
    if user is None and SERVER_USER[engine] in by_name:
        user, source = SERVER_USER[engine], "default"
    uid, gid = by_name.get(user, (None, None)) if user else (None, None)
    named = []
    for hit in (log.get("permission") or [])[-5:]:
        m = _NAMED.search(hit["text"])
        if m:
            path = m.group(1) if m.group(1).startswith("/") else os.path.normpath(os.path.join(data, m.group(1)))
            if all(r["path"] != path for r in named):
                named.append({**_row(host, path, users, groups), "line": hit["line"]})
    return {"server_user": {"user": user, "uid": uid, "gid": gid, "group": groups.get(gid) if gid is not None
                            else None, "source": source} if user else None,
            "data_directory": _row(host, data, users, groups), "named": named}


def _owner(row: dict[str, Any]) -> str:
    return f"{row.get('owner') or row.get('uid')}:{row.get('group') or row.get('gid')}"


def cannot_open(check: str, name: str, label: str, db: dict[str, Any], mod: Any,
                evidence: dict[str, Any]) -> Finding | None:
    """Not answering, and its data directory (or a file its log names) is
    not its user's, or has a mode the server refuses."""
    conn = db.get("connect") or {}
    acc = db.get("data_access") or {}
    engine = db.get("engine")
    if engine not in SERVER_USER or conn.get("kind") not in ("refused", "timeout", "error") or not acc:
        return None
    log = db.get("log") or {}
    start = log.get("last_start") or 0
    lines = [h for h in log.get("permission") or [] if h["line"] > start]
    user = acc.get("server_user") or {}
    dd = acc.get("data_directory") or {}
    wrong: list[dict[str, Any]] = []
    if dd.get("exists") and (dd["uid"] == 0 or (user.get("uid") is not None and dd["uid"] != user["uid"])):
        wrong.append(dd)
    for row in acc.get("named") or []:
        if row.get("exists") and user.get("uid") is not None and row["uid"] != user["uid"] and row not in wrong:
            wrong.append(row)
    bad_mode = engine == "postgresql" and dd.get("exists") and dd["mode"] not in PG_MODES
    if not wrong and not bad_mode and not lines:
        return None
    who = user.get("user") or SERVER_USER[engine]
    q = shlex.quote(dd.get("path") or "")
    owner = f"{who}:{user.get('group') or who}"
    said = _("Its log says: {line}.", line=lines[-1]["text"].rstrip(".")) if lines else \
        _("Its log says nothing about it: the refusal went to the service manager's journal.")
    evidence.update(reason="access-denied", data_access=acc, log_permission=lines[-5:])
    steps = [step(_("See which of its files are not {user}'s:", user=who),
                  f"find {q} ! -user {shlex.quote(who)} -ls | head -20")]
    if wrong:
        first = wrong[0]
        what = (_("its data directory {path}", path=first["path"]) if first is dd else first["path"])
        title = _("{label} server for {name} is down: {what} is {owner} with mode {mode}, not {user}'s",
                  label=label, name=name, what=what, owner=_owner(first), mode=first["mode"], user=who)
        detail = _("It does not accept connections ({error}). The server runs as {user} and may only use "
                   "files that are its own; {path} was given to {owner}, as a restore or copy made as root "
                   "does. {said}", error=conn.get("error"), user=who, path=first["path"], owner=_owner(first),
                   said=said)
        steps.append(step(_("Give the data directory back to {user}:", user=who),
                          f"chown -R {shlex.quote(owner)} {q}"))
        fault = Fault.SITE
    elif bad_mode:
        title = _("{label} server for {name} is down: its data directory {path} has mode {mode} (it must be "
                  "0700 or 0750)", label=label, name=name, path=dd["path"], mode=dd["mode"])
        detail = _("It does not accept connections ({error}). PostgreSQL refuses a data directory that "
                   "others may enter. {said}", error=conn.get("error"), said=said)
        fault = Fault.SITE
    else:
        title = _("{label} server for {name} is down: a file it needs is refused to it", label=label, name=name)
        detail = _("It does not accept connections ({error}). {said} Which file could not be told from "
                   "here.", error=conn.get("error"), said=said)
        steps.append(step(_("Give the files back to {user}:", user=who), f"chown -R {shlex.quote(owner)} {q}"))
        fault = Fault.UNDETERMINED
    if engine == "postgresql" and dd.get("exists") and dd["mode"] not in PG_MODES:
        steps.append(step(_("Close it to others, as PostgreSQL requires:"), f"chmod 0700 {q}"))
    steps.append(step(_("Then start the database server and check that it answers:"), mod.server_check(db)))
    return Finding(check, name, Status.FAIL, title, fault=fault, detail=detail, evidence=evidence, remedy=steps)
