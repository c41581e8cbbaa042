"""Judge side of "can the service still open its own files?" (issue 17,
class 5): a pure function of the access facts (``checks.services.access``).

The kernel's rule (path_resolution(7), inode_permission): root passes the
mode bits; otherwise the owner bits apply when the file's owner is the
user, else the group bits when the file's group is one of the user's,
else the other bits, and every folder on the way needs search ("x"). A
POSIX ACL replaces the group bits by its own entries, so with one present
the bits prove nothing and no denial is claimed. Writes to a read-only
mount fail for root too.
"""

from __future__ import annotations

import re
import shlex
from typing import Any, Callable

from diagnose.i18n import _, join
from diagnose.model import Fault, Finding, Status, step

# What a program writes when the kernel or SQLite refuses it a file:
# EACCES is errno 13 on Linux; SQLite says "unable to open database file"
# (SQLITE_CANTOPEN) when it cannot open the file or make its journal in the
# folder, and "attempt to write a readonly database" (SQLITE_READONLY) when
# it could open the file for reading only.
PERM_LINE = re.compile(
    r"Permission denied|\bEACCES\b|\[Errno 13\]|errno[ =:]*13\b|unable to open database file|"
    r"attempt to write a readonly database|SQLITE_CANTOPEN|SQLITE_READONLY|SQLITE_PERM|"
    r"Operation not permitted|AccessDeniedException", re.IGNORECASE)

_BITS = (("r", 4), ("w", 2), ("x", 1))
_ROLE_ORDER = {"database": 0, "data": 1, "database-dir": 2, "log": 3, "log-dir": 4, "parent": 5}


def missing_bits(user: dict[str, Any], row: dict[str, Any]) -> str | None:
    """The letters of ``row["need"]`` that *user* lacks on *row*; "" when
    allowed, None when it cannot be told (unknown user, ACL, not stat'ed)."""
    if not row.get("exists") or user.get("uid") is None or row.get("acl"):
        return None
    if user["uid"] == 0:
        return ""
    mode = int(row["mode"], 8)
    if row["uid"] == user["uid"]:
        bits = (mode >> 6) & 7
    elif row["gid"] in (user.get("groups") or []) or row["gid"] == user.get("gid"):
        bits = (mode >> 3) & 7
    else:
        bits = mode & 7
    return "".join(c for c, b in _BITS if c in row["need"] and not bits & b)


def _under(path: str, folder: str) -> bool:
    return folder == "/" or path.startswith(folder.rstrip("/") + "/")


def blocked(access: dict[str, Any] | None, running: bool) -> list[dict[str, Any]]:
    """The files the service needs and what stops it reaching each, most
    important first: ``{target row, "blockers": [{row, "why", "lacks"}]}``.

    A running service already holds its files open; only what will stop it
    at its next start counts then, not its folders' write bits (a folder it
    cannot write may be one where it never makes a journal)."""
    if not access or not (access.get("runs_as") or {}).get("known"):
        return []
    user = access["runs_as"]
    rows = access.get("paths") or []
    out = []
    for target in sorted((r for r in rows if r.get("role") != "parent"),
                         key=lambda r: (_ROLE_ORDER.get(r["role"], 9), r["path"])):
        if running and target["role"] in ("database-dir", "log-dir"):
            continue
        if running and target["role"] == "data":
            target = {**target, "need": "rx"}  # it may write only into files that exist
        blockers = []
        for row in sorted((r for r in rows if _under(target["path"], r["path"])), key=lambda r: len(r["path"])):
            if row["exists"] is False:
                blockers.append({"row": row, "why": "missing", "lacks": ""})
                break
            lacks = missing_bits(user, {**row, "need": "x"})
            if lacks:
                blockers.append({"row": row, "why": "mode", "lacks": "x"})
        if target["exists"] is False:
            if target["role"] != "database":  # SQLite makes a missing file; a missing folder it cannot
                blockers.append({"row": target, "why": "missing", "lacks": ""})
        else:
            lacks = missing_bits(user, target)
            if lacks:
                blockers.append({"row": target, "why": "mode", "lacks": lacks})
            if "w" in target["need"] and target.get("read_only"):
                blockers.append({"row": target, "why": "read-only", "lacks": "w"})
        if blockers:
            out.append({"target": target, "blockers": _dedupe(blockers)})
    return out


def _dedupe(blockers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen, out = set(), []
    for b in blockers:
        key = (b["row"]["path"], b["why"])
        if key not in seen:
            seen.add(key)
            out.append(b)
    return out


def _owner(row: dict[str, Any]) -> str:
    return f"{row.get('owner') or row.get('uid')}:{row.get('group') or row.get('gid')}"


def _what(target: dict[str, Any]) -> str:
    role, path = target["role"], target["path"]
    if role in ("database", "database-dir"):
        return _("its database {path}", path=path) if role == "database" else \
            _("its database folder {path}", path=path)
    if role == "data":
        return _("its data folder {path}", path=path)
    return _("its log {path}", path=path) if role == "log" else _("its log folder {path}", path=path)


def _cause(b: dict[str, Any], user: dict[str, Any]) -> str:
    row = b["row"]
    if b["why"] == "missing":
        return _("{path} does not exist", path=row["path"])
    if b["why"] == "read-only":
        return _("{path} is on {mount}, mounted read-only", path=row["path"], mount=row.get("mount") or "?")
    return _("{path} is {owner} with mode {mode}: user {user} cannot {verb}", path=row["path"],
             owner=_owner(row), mode=row["mode"], user=user["user"], verb=_verb(b["lacks"], row))


def _verb(lacks: str, row: dict[str, Any]) -> str:
    if lacks == "x":
        return _("pass through it") if row.get("role") == "parent" or row.get("kind") == "dir" else _("run it")
    return {"r": _("read it"), "w": _("write it"), "rw": _("read or write it"), "wx": _("write in it"),
            "rx": _("list it"), "rwx": _("use it")}.get(lacks, _("use it"))


def _fix(b: dict[str, Any], user: dict[str, Any]) -> list[str]:
    """Commands that put one blocker right: the accepted owner and mode when
    the baseline has them, else the service's user as owner with the bits
    it needs. Folders above the service's own are only opened for passing
    through, never given away."""
    row, q = b["row"], shlex.quote(b["row"]["path"])
    if b["why"] == "read-only":
        mp = shlex.quote(row.get("mount") or "/")
        return [f"dmesg | grep -i -e 'read-only' -e 'I/O error' | tail", f"mount -o remount,rw {mp}"]
    owner = f"{user['user']}:{user.get('group') or user['user']}"
    acc = row.get("accepted") or {}
    if b["why"] == "missing":
        mode = acc.get("mode") or "0750"
        return [f"install -d -o {shlex.quote(user['user'])} -g {shlex.quote(user.get('group') or user['user'])} "
                f"-m {mode} {q}"]
    if acc:
        cmds = []
        if (acc.get("uid"), acc.get("gid")) != (row.get("uid"), row.get("gid")):
            cmds.append(f"chown {shlex.quote(_owner(acc))} {q}")
        if acc.get("mode") and acc["mode"] != row.get("mode"):
            cmds.append(f"chmod {acc['mode']} {q}")
        if cmds:
            return cmds
    if row["role"] == "parent":
        who = "u" if row.get("uid") == user.get("uid") else \
            "g" if row.get("gid") in (user.get("groups") or []) else "o"
        return [f"chmod {who}+x {q}"]
    recursive = "-R " if row["role"] == "data" else ""
    bits = "rwx" if row.get("kind") == "dir" else "rw"
    chmod = f"chmod {recursive}u+{bits} {q}"
    if row.get("uid") == user.get("uid"):
        return [chmod]  # its owner already: only the mode is wrong
    return [f"chown {recursive}{shlex.quote(owner)} {q}", chmod]


def _changed(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Blockers whose owner or mode differs from what the baseline accepted."""
    def key(r: dict[str, Any]) -> tuple:
        return r.get("mode"), r.get("uid"), r.get("gid")
    return [b for t in found for b in t["blockers"]
            if b["row"].get("accepted") and key(b["row"]["accepted"]) != key(b["row"])]


def _check_cmd(target: dict[str, Any], user: dict[str, Any]) -> str:
    q = shlex.quote(target["path"])
    tests = {"database": f"test -r {q} -a -w {q}", "data": f"test -w {q} -a -x {q}", "log": f"test -w {q}"}
    test = tests.get(target["role"], f"test -w {q} -a -x {q}")
    return f"runuser -u {shlex.quote(user['user'])} -- {test} && echo ok"


def access_finding(svc: dict[str, Any], lines: list[str], running: bool, find: Callable[..., Finding],
                   start: str | None) -> Finding | None:
    """The service cannot open its own files: named with owner, mode and the
    service's user (site), or, when only its log says "permission denied",
    the same question left open with the command that answers it."""
    name = svc["name"]
    access = svc.get("access") or {}
    user = access.get("runs_as") or {}
    perm = [ln for ln in lines if PERM_LINE.search(ln)]
    found = blocked(access, running)
    if found and user.get("source") == "log-owner" and not perm and not _changed(found):
        found = []  # a guessed user and nothing refused yet: too little to say so
    if not found and not perm:
        return None
    if not found:
        if running:
            return None  # a running service's stray "permission denied" is its own log's business
        targets = [r["path"] for r in access.get("paths") or [] if r.get("role") != "parent"]
        return find(Status.FAIL, _("{name} cannot start: it is refused access to a file", name=name),
                    Fault.UNDETERMINED,
                    _("{name} is not running and its log says: {line}. Which file and why could not be "
                      "told from here ({user}).", name=name, line=perm[-1].strip(),
                      user=_("it runs as {user}", user=user["user"]) if user.get("known")
                      else _("the user it runs as is not known: set [[service]] user")),
                    [step(_("See each folder's owner and mode on the way to the file its log names:"),
                          "namei -l " + " ".join(shlex.quote(t) for t in targets[:3]) if targets else None),
                     step(_("Give the files back to the service's user, then start {name}", name=name)
                          + (":" if start else ""), start)],
                    reason="access-denied", log_lines=perm[-5:],
                    access={"runs_as": user or None, "denied": []})
    found.sort(key=lambda t: not any(b["why"] == "read-only" for b in t["blockers"]))
    for t in found:
        t["blockers"].sort(key=lambda b: b["why"] != "read-only")
    first = found[0]
    b0 = first["blockers"][0]
    why_text = join("; ", list(dict.fromkeys(_cause(b, user) for t in found for b in t["blockers"])))
    src = {"process": _("its running process {pid}", pid=user.get("pid")), "config": "[[service]] user",
           "unit": _("its unit's User="), "log-owner": _("the owner of its log")}.get(user.get("source"), "?")
    # A read-only filesystem comes first: no chown helps until it is writable again.
    read_only = any(b["why"] == "read-only" for t in found for b in t["blockers"])
    changed = _changed(found)
    if read_only:
        fault = Fault.UNDETERMINED
    elif user.get("source") == "log-owner" and not perm and not changed:
        fault = Fault.UNDETERMINED
    else:
        fault = Fault.SITE
    what = _what(first["target"])
    cause = _cause(b0, user)
    if running and perm:
        title = _("{name} cannot use {what}: {cause}", name=name, what=what, cause=cause)
        status, state = Status.FAIL, _("{name} runs but its writes fail", name=name)
    elif running:
        title = _("{name} will not open {what} at its next start: {cause}", name=name, what=what, cause=cause)
        status, state = Status.WARN, _("{name} runs with the files it opened before they changed", name=name)
    else:
        title = _("{name} cannot open {what}: {cause}", name=name, what=what, cause=cause)
        status, state = Status.FAIL, _("{name} is not running", name=name)
    parts = [_("{state}. {name} runs as {user} (uid {uid}; known from {source}), and {why}.", state=state,
               name=name, user=user["user"], uid=user.get("uid"), source=src, why=why_text)]
    if perm:
        parts.append(_("Its log says: {line}.", line=perm[-1].strip().rstrip(".")))
    if changed:
        acc = changed[0]["row"]
        parts.append(_("At acceptance ({when}) {path} was {owner} with mode {mode}: it was changed on site "
                       "since, as a restore or copy made as root does.",
                       when=(access.get("baseline") or {}).get("recorded_at") or "?", path=acc["path"],
                       owner=_owner(acc["accepted"]), mode=acc["accepted"].get("mode")))
    elif not read_only:
        parts.append(_("Files restored or copied as root (with umask 077) look like this; the service's "
                       "program is not at fault."))
    steps = []
    for t in found:
        for b in t["blockers"]:
            cmds = _fix(b, user)
            text = (_("Find why {mount} is read-only, then remount it writable:", mount=b["row"].get("mount"))
                    if b["why"] == "read-only" else
                    _("Create {path} for {user}:", path=b["row"]["path"], user=user["user"])
                    if b["why"] == "missing" else
                    _("Put back the owner and mode of {path} accepted at installation:", path=b["row"]["path"])
                    if b["row"].get("accepted") and b in changed else
                    _("Let {user} through {path} again:", user=user["user"], path=b["row"]["path"])
                    if len(cmds) == 1 and cmds[0].startswith("chmod") else
                    _("Give {path} back to {user}:", path=b["row"]["path"], user=user["user"]))
            cmd = "; ".join(cmds)
            if all(s.command != cmd for s in steps):
                steps.append(step(text, cmd))
    steps.append(step(_("Check that {user} can use it now:", user=user["user"]), _check_cmd(first["target"], user)))
    if start:
        steps.append(step(_("Then start {name}:", name=name) if not running else _("Then restart {name}:", name=name),
                          start if not running else start.replace("systemctl start", "systemctl restart")))
    denied = [{"path": b["row"]["path"], "role": t["target"]["role"], "why": b["why"], "lacks": b["lacks"],
               "owner": _owner(b["row"]), "mode": b["row"].get("mode"), "accepted": b["row"].get("accepted")}
              for t in found for b in t["blockers"]]
    return find(status, title, fault, join(" ", parts), steps, reason="access-denied",
                log_lines=perm[-5:], access={"runs_as": user, "denied": denied},
                denied_databases=sorted({t["target"]["name"] for t in found if t["target"].get("name")}),
                changed_since_acceptance=bool(changed))
