"""Probe side of "can the service still open its own files?" (issue 17, class 5).

A backup restored as root under umask 077, a ``chown -R root`` run in the
wrong folder, a database copied back with ``cp`` instead of ``cp -a``: the
service then dies at start with "unable to open database file", "attempt to
write a readonly database" or "Permission denied", which reads like a
software crash while the cause is on site. This module records, without
opening anything for writing:

- who the service runs as: its running process's effective uid and groups
  (exact), else ``[[service]] user``, else the unit's ``User=`` (systemd
  runs a unit without one as root), else the owner of the log it wrote (a
  guess, said as such);
- the owner, group and mode of every file it needs (its SQLite databases
  with their directory and -wal/-shm/-journal files, its data folders, its
  log) and of each folder on the way to them, and whether a POSIX ACL or a
  read-only mount changes what the mode bits say;
- the owner and mode the acceptance baseline recorded for the same paths,
  when a baseline exists, so the remedy can put the accepted values back.

The judge (``checks.services.denied``) decides who may do what.
"""

from __future__ import annotations

import os
import stat as stat_mod
from typing import Any

SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def _accounts(host) -> tuple[list[list[str]], list[list[str]]]:
    def rows(path: str) -> list[list[str]]:
        return [ln.split(":") for ln in host.read_text(path, missing="").splitlines()
                if ln and not ln.startswith("#") and ln.count(":") >= 2]
    return rows("/etc/passwd"), rows("/etc/group")


def _user(name_or_uid: str, passwd: list[list[str]], group: list[list[str]], source: str) -> dict[str, Any]:
    """A user by name or number, with its primary group and the groups that
    list it as a member (/etc/group's fourth field)."""
    row = next((r for r in passwd if r[0] == name_or_uid), None)
    if row is None and name_or_uid.isdigit():
        row = next((r for r in passwd if len(r) > 2 and r[2] == name_or_uid), None)
    if row is None or len(row) < 4 or not row[2].isdigit() or not row[3].isdigit():
        uid = int(name_or_uid) if name_or_uid.isdigit() else None
        return {"user": name_or_uid, "uid": uid, "gid": None, "group": None, "groups": [], "source": source,
                "known": uid is not None}
    gid = int(row[3])
    groups = sorted({gid} | {int(g[2]) for g in group if len(g) > 3 and g[2].isdigit()
                             and row[0] in g[3].split(",")})
    return {"user": row[0], "uid": int(row[2]), "gid": gid, "group": _name(group, gid), "groups": groups,
            "source": source, "known": True}


def _name(rows: list[list[str]], num: int | None) -> str | None:
    if num is None:
        return None
    return next((r[0] for r in rows if len(r) > 2 and r[2] == str(num)), None)


def _proc_ids(host, pid: int) -> dict[str, Any] | None:
    """Effective uid, gid and supplementary groups from /proc/PID/status
    (proc(5): "Uid:" and "Gid:" list real, effective, saved, filesystem)."""
    try:
        text = host.read_text(f"/proc/{pid}/status")
    except OSError:
        return None
    got: dict[str, list[int]] = {}
    for line in text.splitlines():
        key, _sep, value = line.partition(":")
        if key in ("Uid", "Gid", "Groups"):
            got[key] = [int(v) for v in value.split() if v.isdigit()]
    if len(got.get("Uid", [])) < 4 or len(got.get("Gid", [])) < 4:
        return None
    # The filesystem ids (fourth) are what the kernel checks file access with.
    return {"uid": got["Uid"][3], "gid": got["Gid"][3], "groups": sorted({got["Gid"][3], *got.get("Groups", [])})}


def _unit_user(host, unit: dict[str, Any] | None) -> str | None:
    """``User=`` of the unit: from ``systemctl show`` when systemd runs, else
    from the unit file and its drop-ins (a later assignment wins, as in
    systemd). "" when the unit sets none (it runs as root); None when
    there is no unit to ask."""
    if not unit:
        return None
    show = unit.get("show") or {}
    if "User" in show:
        return show["User"]
    path = unit.get("file")
    if not path:
        return None
    texts = [host.read_text(path, missing="")]
    try:
        drop = sorted(n for n in host.listdir(path + ".d") if n.endswith(".conf"))
    except OSError:
        drop = []
    texts += [host.read_text(f"{path}.d/{n}", missing="") for n in drop]
    user = ""
    for text in texts:
        section = ""
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == "[Service]" and line.startswith("User="):
                user = line[len("User="):].strip()
    return user


def runs_as(host, item: dict[str, Any], processes: list[dict[str, Any]], unit: dict[str, Any] | None,
            log_path: str, passwd: list[list[str]], group: list[list[str]]) -> dict[str, Any] | None:
    for p in processes:
        ids = _proc_ids(host, p["pid"])
        if ids:
            name = _name(passwd, ids["uid"]) or str(ids["uid"])
            return {"user": name, **ids, "group": _name(group, ids["gid"]), "source": "process",
                    "pid": p["pid"], "known": True}
    if item.get("user"):
        return _user(item["user"], passwd, group, "config")
    unit_user = _unit_user(host, unit)
    if unit_user is not None:
        return _user(unit_user or "root", passwd, group, "unit")
    if log_path:
        try:
            st = host.stat(log_path)
        except OSError:
            return None
        who = _user(_name(passwd, st.st_uid) or str(st.st_uid), passwd, group, "log-owner")
        return who
    return None


def _stat_row(host, path: str, passwd, group) -> dict[str, Any]:
    row: dict[str, Any] = {"path": path}
    try:
        st = host.stat(path)
    except FileNotFoundError:
        row["exists"] = False
        return row
    except OSError as exc:
        row.update(exists=None, error=exc.strerror or str(exc))
        return row
    row.update(exists=True, kind="dir" if stat_mod.S_ISDIR(st.st_mode) else "file",
               uid=st.st_uid, gid=st.st_gid, owner=_name(passwd, st.st_uid), group=_name(group, st.st_gid),
               mode=f"{stat_mod.S_IMODE(st.st_mode):04o}")
    try:
        # A POSIX ACL can grant what the mode bits deny (its mask shows as the
        # group bits): then the bits alone prove nothing.
        row["acl"] = "system.posix_acl_access" in os.listxattr(host.path(path))
    except (OSError, AttributeError):
        row["acl"] = None
    m = host.mount_of(path)
    if m is not None:
        row["mount"] = m.mountpoint
        row["read_only"] = bool(m.read_only)
    return row


def needed_paths(host, item: dict[str, Any], databases: dict[str, Any]) -> list[dict[str, Any]]:
    """(path, role, need, name) of what the service must reach: its SQLite
    databases (the file read and written, its folder written because SQLite
    makes its journal there), its data folders, its log."""
    from diagnose.checks.database.datadir import engine_of, sqlite_path

    want: list[dict[str, Any]] = []
    for name in item.get("databases") or []:
        db = databases.get(name) or {}
        url = db.get("url") or ""
        if engine_of(url) != "sqlite":
            continue  # a database server's files are its own user's, not the service's
        path = os.path.normpath(sqlite_path(url))
        want.append({"path": path, "role": "database", "need": "rw", "name": name})
        want.append({"path": os.path.dirname(path) or "/", "role": "database-dir", "need": "wx", "name": name})
        for suffix in SQLITE_SIDE_FILES:
            if host.exists(path + suffix):
                want.append({"path": path + suffix, "role": "database", "need": "rw", "name": name})
    for path in item.get("data_paths") or []:
        want.append({"path": os.path.normpath(path), "role": "data", "need": "rwx"})
    if item.get("log"):
        log = os.path.normpath(item["log"])
        if host.exists(log):
            want.append({"path": log, "role": "log", "need": "w"})
        else:
            want.append({"path": os.path.dirname(log) or "/", "role": "log-dir", "need": "wx"})
    return want


def _accepted(baseline: dict[str, Any] | None, service: str) -> dict[str, Any]:
    """The owner and mode of each path as the acceptance baseline recorded
    them (this check's facts in the current recording)."""
    if not baseline:
        return {}
    facts = (baseline.get("facts") or {}).get("application.services") or {}
    for svc in facts.get("services") or []:
        if svc.get("name") == service:
            paths = ((svc.get("access") or {}).get("paths")) or []
            return {p["path"]: {k: p.get(k) for k in ("owner", "group", "uid", "gid", "mode")}
                    for p in paths if p.get("exists")}
    return {}


def probe_access(host, item: dict[str, Any], name: str, processes: list[dict[str, Any]],
                 unit: dict[str, Any] | None, databases: dict[str, Any],
                 baseline: dict[str, Any] | None) -> dict[str, Any] | None:
    want = needed_paths(host, item, databases)
    if not want:
        return None
    passwd, group = _accounts(host)
    rows: dict[str, dict[str, Any]] = {}
    for w in want:
        # Every folder on the way must let the user through (search, "x").
        parts = w["path"].split("/")
        for i in range(1, len(parts)):
            anc = "/".join(parts[:i]) or "/"
            if anc != w["path"]:
                rows.setdefault(anc, {"role": "parent", "need": "x"})
        cur = rows.get(w["path"])
        if cur is None or cur["role"] == "parent":
            rows[w["path"]] = {k: v for k, v in w.items() if k != "path"}
    accepted = _accepted(baseline, name)
    paths = []
    for path, need in rows.items():
        row = _stat_row(host, path, passwd, group)
        row.update(need)
        if path in accepted:
            row["accepted"] = accepted[path]
        paths.append(row)
    about = None
    if baseline and accepted:
        about = {"id": baseline.get("id"), "recorded_at": baseline.get("recorded_at"),
                 "recorded_by": baseline.get("recorded_by")}
    return {"runs_as": runs_as(host, item, processes, unit, item.get("log") or "", passwd, group),
            "paths": paths, "baseline": about}


def load_baseline(site: dict[str, Any] | None) -> dict[str, Any] | None:
    """The current acceptance recording, or None (none, or unreadable: the
    drift check says why; here it only supplies accepted owners and modes)."""
    from diagnose.state.baseline import Store

    try:
        store = Store.for_site(site)
        return store.load() if store.exists() else None
    except Exception:  # noqa: BLE001  (a damaged baseline is config.drift's finding, not ours)
        return None
