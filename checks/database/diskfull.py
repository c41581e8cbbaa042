"""Judge side: a database stopped or refusing writes because its disk is full.

Corruption is not the only way a full disk shows in a database. A server
whose filesystem is full cannot start (PostgreSQL cannot even write its
lock file) or stays up and refuses every write ("could not extend file",
InnoDB's errno 28, SQLite's "database or disk is full"). Its log says so
even when it does not answer, so these findings rest on the disk-full lines
written since the server (or the application) last started, about this
database's filesystem. They carry ``evidence.reason = "disk-full"`` and the
mount, so attribution makes them consequences of the disk.space finding on
that filesystem; the remedy names that filesystem, never a guess.
"""

from __future__ import annotations

import shlex
from typing import Any

from diagnose.i18n import _, size
from diagnose.model import Fault, Finding, Status, step

# A filesystem with less free space than this is full for a database (the
# default fail level of disk.space).
FULL_PERCENT = 5.0


def recent_disk_full(db: dict[str, Any]) -> list[dict[str, Any]]:
    """Disk-full lines of the database's log written since its last start,
    about its own filesystem (a line naming a file elsewhere is not)."""
    log = db.get("log") or {}
    start = log.get("last_start") or 0
    mount = (db.get("location") or {}).get("mount")
    return [h for h in log.get("disk_full", [])
            if h["line"] > start and (not h.get("mount") or not mount or h["mount"] == mount)]


def _mount(db: dict[str, Any], hits: list[dict[str, Any]]) -> str | None:
    return (db.get("location") or {}).get("mount") or next((h["mount"] for h in hits if h.get("mount")), None)


def _line(h: dict[str, Any]) -> str:
    return _("\"{text}\" ({time})", text=h["text"], time=h["time"]) if h.get("time") else \
        _("\"{text}\" (line {line})", text=h["text"], line=h["line"])


def _free_step(mount: str | None) -> Any:
    if mount:
        return step(_("Free space on {mount} first (see the disk.space finding about it):", mount=mount),
                    f"df -h {shlex.quote(mount)}")
    return step(_("Free space on the filesystem holding the database's data directory first; find it "
                  "in the server's config (data_directory, datadir)."))


def cannot_start(check: str, name: str, label: str, db: dict[str, Any], mod: Any,
                 evidence: dict[str, Any]) -> Finding | None:
    """Not accepting connections, and its log says the disk is full."""
    hits = recent_disk_full(db)
    conn = db.get("connect") or {}
    if not hits or db.get("engine") == "sqlite" or conn.get("kind") not in ("refused", "timeout", "error"):
        return None
    mount = _mount(db, hits)
    evidence.update(reason="disk-full", mount=mount, log_disk_full=hits[-5:])
    log = db.get("log") or {}
    where = mount or _("its disk")
    return Finding(check, name, Status.FAIL,
                   _("{label} server for {name} is down: no space left on {where}", label=label,
                     name=name, where=where),
                   fault=Fault.UNDETERMINED,
                   detail=_("It does not accept connections ({error}) and its log {path} says why: {line}. "
                            "A database server stops, and cannot start again, when it cannot write to its "
                            "data directory.",
                            error=conn.get("error"), path=log.get("path"), line=_line(hits[-1])),
                   evidence=evidence,
                   remedy=[_free_step(mount),
                           step(_("Then start the database server and check that it answers:"),
                                mod.server_check(db))])


def refuses_writes(check: str, name: str, label: str, db: dict[str, Any],
                   evidence: dict[str, Any]) -> Finding | None:
    """Intact and answering, but its log says writes failed on a full disk
    since it last started: FAIL while the filesystem is still full (or its
    free space is unknown), WARN once space was freed."""
    hits = recent_disk_full(db)
    if not hits:
        return None
    loc = db.get("location") or {}
    mount = _mount(db, hits)
    free = loc.get("free_percent")
    full = free is None or free < FULL_PERCENT
    evidence.update(reason="disk-full", mount=mount, log_disk_full=hits[-5:])
    log = db.get("log") or {}
    where = mount or _("its disk")
    said = _("Its log {path} shows writes failing for lack of space since the server last started: {line}.",
             path=log.get("path"), line=_line(hits[-1]))
    if full:
        now = (_("{mount} has {free} free now.", mount=mount, free=size(loc.get("free_bytes") or 0))
               if free is not None else "")
        return Finding(check, name, Status.FAIL,
                       _("{label} database {name} refuses writes: no space left on {where}", label=label,
                         name=name, where=where),
                       fault=Fault.UNDETERMINED,
                       detail=" ".join(x for x in (said, now, _("The data is intact; new calls and changes "
                                                                 "are not saved.")) if x),
                       evidence=evidence,
                       remedy=[_free_step(mount),
                               step(_("Then check that the application saves again (its log), and look "
                                      "for work lost while the disk was full."))])
    return Finding(check, name, Status.WARN,
                   _("{label} database {name} refused writes while {where} was full", label=label, name=name,
                     where=where),
                   fault=Fault.UNDETERMINED,
                   detail=_("{said} {mount} has {free} free now ({pct:g}%), so writes work again; what was "
                            "written meanwhile may be lost.", said=said, mount=mount,
                            free=size(loc.get("free_bytes") or 0), pct=free),
                   evidence=evidence,
                   remedy=[step(_("Find what filled the disk so that it does not happen again:"),
                                f"df -h {shlex.quote(mount)}" if mount else "df -h"),
                           step(_("Check with the call-center staff which calls or changes were not saved "
                                  "at that time."))])
