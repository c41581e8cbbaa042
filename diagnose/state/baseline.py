"""The acceptance baseline: what the site looked like when it was accepted.

``<state_dir>/baseline/`` holds every recording ever made (never
overwritten) and names one of them current::

    baseline/
      current                  the id of the current recording
      salt                     key of the secret digests (0600)
      recordings/<id>.json     one recording (schema diagnose.baseline/1)
      blobs/<sha256>           the stored (secret-free) text of a file

A recording holds the facts of every probe that ran, a snapshot of every
watched file (:mod:`diagnose.state.snapshot`), the installed packages, who
recorded it, when, and a note. ``accept`` makes a new recording from the
current one with one file (or one check's facts) taken as it is now, and
says who accepted it and why. ``restore`` is the only command that writes a
watched file; ``diagnose run`` never does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import pwd
import secrets as secrets_mod
from typing import Any, Callable

from diagnose.i18n import _
from diagnose.state import confdiff, snapshot, state_dir

SCHEMA = "diagnose.baseline/1"
DRIFT_CHECK = "config.drift"


class BaselineError(Exception):
    """A baseline command cannot do what was asked; the message says why."""


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def login_user() -> str:
    """Who runs this: the user behind sudo, else the login name, else the uid's name."""
    for var in ("SUDO_USER", "LOGNAME", "USER"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


class Store:
    """The baseline directory."""

    def __init__(self, directory: str) -> None:
        self.dir = directory

    @classmethod
    def for_site(cls, site: dict[str, Any] | None = None) -> "Store":
        return cls(os.path.join(state_dir(site), "baseline"))

    def _p(self, *parts: str) -> str:
        return os.path.join(self.dir, *parts)

    def exists(self) -> bool:
        return self.current_id() is not None

    def salt(self, create: bool = False) -> bytes:
        path = self._p("salt")
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            if not create:
                return b""
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        value = secrets_mod.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(value)
        return value

    def ids(self) -> list[str]:
        try:
            return sorted(n[:-5] for n in os.listdir(self._p("recordings")) if n.endswith(".json"))
        except FileNotFoundError:
            return []

    def current_id(self) -> str | None:
        try:
            with open(self._p("current"), encoding="utf-8") as fh:
                rid = fh.read().strip()
        except FileNotFoundError:
            return None
        return rid if rid and os.path.exists(self._p("recordings", rid + ".json")) else None

    def load(self, rid: str | None = None) -> dict[str, Any] | None:
        rid = rid or self.current_id()
        if not rid:
            return None
        try:
            with open(self._p("recordings", rid + ".json"), encoding="utf-8") as fh:
                rec = json.load(fh)
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise BaselineError(_("baseline recording {id} is damaged: {error}", id=rid, error=str(exc))) from None
        if rec.get("schema") != SCHEMA:
            raise BaselineError(_("baseline recording {id} has schema {schema}, expected {expected}", id=rid,
                                  schema=repr(rec.get("schema")), expected=SCHEMA))
        return rec

    def text(self, ref: str | None) -> str | None:
        """A stored text by its digest; None when it is missing or damaged
        (a blob is checked against its name: it is written without fsync)."""
        if not ref:
            return None
        try:
            with open(self._p("blobs", ref), "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            return None
        if hashlib.sha256(data).hexdigest() != ref:
            return None
        return data.decode("utf-8")

    def put_text(self, text: str) -> str:
        """Store *text* under its digest. No fsync per blob (hundreds of
        files would each wait for the disk); the recording that names them
        is written with one, and a torn blob fails its digest on reading."""
        data = text.encode("utf-8")
        ref = hashlib.sha256(data).hexdigest()
        path = self._p("blobs", ref)
        if not os.path.exists(path):
            os.makedirs(self._p("blobs"), mode=0o700, exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        return ref

    def save(self, rec: dict[str, Any]) -> str:
        """Store *rec* under a new id and make it current."""
        os.makedirs(self._p("recordings"), mode=0o700, exist_ok=True)
        base = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        rid, n = base, 1
        while os.path.exists(self._p("recordings", rid + ".json")):
            n += 1
            rid = f"{base}-{n}"
        rec["id"] = rid
        _write(self._p("recordings", rid + ".json"), json.dumps(rec, indent=1, ensure_ascii=False) + "\n")
        _write(self._p("current"), rid + "\n")
        return rid


def _write(path: str, text: str) -> None:
    from diagnose.fsutil import atomic_write

    atomic_write(path, text, 0o600)


# -- what to watch ---------------------------------------------------------------

def watch_patterns(registry: Any, config: Any) -> list[str]:
    """Every enabled check's watched files with this config, plus
    ``[baseline] watch``."""
    out: list[str] = []
    for name in sorted(registry.checks):
        check = registry.checks[name]
        cfg = config.for_check(check)
        if cfg.get("enabled") is False:
            continue
        try:
            out.extend(check.watched(cfg))
        except Exception:  # noqa: BLE001 - a plugin's bug must not stop a recording
            continue
    out.extend(config.section("baseline").get("watch") or [])
    return list(dict.fromkeys(out))


def stable_paths(registry: Any) -> dict[str, list[str]]:
    return {n: list(c.stable) for n, c in sorted(registry.checks.items()) if c.stable}


# -- recording -------------------------------------------------------------------

def snapshot_files(store: Store, host: Any, paths: list[str], salt: bytes) -> dict[str, Any]:
    users, groups = snapshot.accounts(host)
    files: dict[str, Any] = {}
    for path in paths:
        snap, text = snapshot.snapshot(host, path, salt, users, groups)
        snap["text"] = store.put_text(text) if text is not None else None
        files[path] = snap
    return files


def record(registry: Any, config: Any, host: Any, by: str | None = None, note: str = "",
           collect_facts: bool = True) -> dict[str, Any]:
    """Record a new baseline and make it current; returns the recording."""
    from diagnose.runner import collect

    store = Store.for_site(config.section("site"))
    salt = store.salt(create=True)
    patterns = watch_patterns(registry, config)
    ignore = config.section("baseline").get("ignore") or []
    rec: dict[str, Any] = {
        "schema": SCHEMA, "id": None, "kind": "record", "parent": None,
        "recorded_at": now_iso(), "recorded_by": by or login_user(), "note": note,
        "host": host.hostname(), "root": host.root, "accepted": [],
        "patterns": patterns, "ignore": list(ignore),
    }
    facts: dict[str, Any] = {}
    states: dict[str, str] = {}
    if collect_facts:
        # skip=, not only=: a check named with only= runs whatever the role.
        col = collect(registry, host, config, skip=[DRIFT_CHECK])
        for name, got in col.results.items():
            states[name] = got.state if got.state != "skipped" else f"skipped: {got.skipped}"
            if got.state == "ran" and got.facts is not None:
                facts[name] = got.facts
        rec["role"] = col.role
    rec["checks"] = states
    rec["facts"] = facts
    rec["files"] = snapshot_files(store, host, snapshot.expand(host, patterns, ignore), salt)
    rec["packages"] = snapshot.packages(host)
    store.save(rec)
    return rec


def accept(config: Any, host: Any, target: str, by: str, why: str,
           registry: Any = None) -> dict[str, Any]:
    """A new current recording with *target* taken as it is now: a watched
    file's path, or ``check:fact.path`` / a check name for stable facts."""
    if not by or not why:
        raise BaselineError(_("accept needs --by NAME and --why TEXT: who approved the change and why"))
    store = Store.for_site(config.section("site"))
    rec = store.load()
    if rec is None:
        raise BaselineError(_("no baseline in {dir}: record one first with `diagnose baseline record`",
                              dir=store.dir))
    parent = rec["id"]
    entry: dict[str, Any] = {"target": target, "by": by, "why": why, "at": now_iso()}
    if target.startswith("/"):
        path = os.path.normpath(target)
        old = rec["files"].get(path)
        files = snapshot_files(store, host, [path], store.salt(create=True))
        new = files[path]
        if not new.get("exists") and old is None:
            raise BaselineError(_("{path} is neither in the baseline nor on this host", path=path))
        entry["previous_sha256"] = old.get("sha256") if old else None
        entry["sha256"] = new.get("sha256")
        if new.get("exists"):
            rec["files"][path] = new
        else:
            rec["files"].pop(path, None)
            entry["removed"] = True
        if not _covered(path, rec.get("patterns", [])):
            rec.setdefault("patterns", []).append(path)
    else:
        from diagnose.runner import collect

        check_name = target.split(":", 1)[0]
        if registry is None or check_name not in registry.checks:
            raise BaselineError(_("{target}: not a path (start with /) nor a check's facts (check:fact)", target=target))
        col = collect(registry, host, config, only=[check_name])
        got = col.results.get(check_name)
        if got is None or got.state != "ran":
            raise BaselineError(_("{check} did not run here: {why}", check=check_name,
                                  why=(got.skipped or got.error) if got else _("not applicable")))
        rec.setdefault("facts", {})[check_name] = got.facts
    rec.update(kind="accept", parent=parent, accepted_at=entry["at"])
    rec["accepted"] = list(rec.get("accepted", [])) + [entry]
    store.save(rec)
    return rec


def _covered(path: str, patterns: list[str]) -> bool:
    import fnmatch

    return any(path == p or fnmatch.fnmatch(path, p) or path.startswith(p.rstrip("/") + "/")
               for p in patterns)


# -- diff and restore ------------------------------------------------------------

def file_diff(config: Any, host: Any, path: str | None = None) -> list[dict[str, Any]]:
    """For every baseline file (or just *path*) that differs now: ``{path,
    state, diff, attributes}``; the diff is unified, secret-free."""
    store = Store.for_site(config.section("site"))
    rec = store.load()
    if rec is None:
        raise BaselineError(_("no baseline in {dir}: record one first with `diagnose baseline record`",
                              dir=store.dir))
    salt = store.salt()
    users, groups = snapshot.accounts(host)
    ignore = rec.get("ignore") or []
    paths = list(rec["files"])
    for p in snapshot.expand(host, rec.get("patterns", []), ignore):
        if p not in rec["files"]:
            paths.append(p)
    if path is not None:
        path = os.path.normpath(path)
        if path not in paths:
            raise BaselineError(_("{path} is not a watched file of the baseline ({id})", path=path, id=store.current_id()))
        paths = [path]
    out = []
    for p in paths:
        old = rec["files"].get(p) or {"path": p, "exists": False}
        new, new_text = snapshot.snapshot(host, p, salt, users, groups)
        entry = _differ(store, old, new, new_text)
        if entry is not None:
            out.append(entry)
    return out


def _differ(store: Store, old: dict, new: dict, new_text: str | None) -> dict[str, Any] | None:
    p = old["path"]
    if not old.get("exists") and not new.get("exists"):
        return None
    if not new.get("exists"):
        return {"path": p, "state": "removed", "diff": "", "attributes": []}
    if not old.get("exists"):
        return {"path": p, "state": "added", "diff": "", "attributes": []}
    attrs = [{"attribute": k, "baseline": old.get(k), "current": new.get(k)}
             for k in ("owner", "group", "mode") if old.get(k) != new.get(k)]
    same_content = old.get("sha256") == new.get("sha256")
    if same_content and not attrs:
        return None
    old_text = store.text(old.get("text"))
    diff = ""
    if not same_content and old_text is not None and new_text is not None:
        diff = confdiff.unified(old_text, new_text, p)
    return {"path": p, "state": "changed" if not same_content else "attributes", "diff": diff,
            "attributes": attrs, "content_kept": old_text is not None}


def restore(config: Any, host: Any, path: str, yes: bool = False,
            ask: Callable[[str], bool] | None = None,
            say: Callable[[str], None] = print) -> dict[str, Any]:
    """Put the accepted *path* back: show the diff, ask unless *yes*, keep
    the current file beside it as ``<name>.replaced-<time>``, write the
    accepted content atomically, restore owner and mode."""
    store = Store.for_site(config.section("site"))
    rec = store.load()
    if rec is None:
        raise BaselineError(_("no baseline in {dir}: nothing to restore from", dir=store.dir))
    path = os.path.normpath(path)
    old = rec["files"].get(path)
    if old is None:
        raise BaselineError(_("{path} is not in the baseline ({id})", path=path, id=rec["id"]))
    if not old.get("exists"):
        raise BaselineError(_("{path} did not exist at acceptance; remove it by hand if it must go", path=path))
    accepted = store.text(old.get("text"))
    if accepted is None:
        raise BaselineError(_("the baseline keeps only the digest of {path} ({kind}); restore it from a backup "
                              "(sha256 {sha256})", path=path, kind=old.get("kind"), sha256=old.get("sha256")))
    real = host.path(path)
    current_raw = b""
    if os.path.exists(real):
        with open(real, "rb") as fh:
            current_raw = fh.read()
    try:
        content, missing = confdiff.restore_secrets(accepted, current_raw.decode("utf-8", "replace"),
                                                    store.salt())
    except ValueError as exc:
        raise BaselineError(_("cannot restore {path}: {error}", path=path, error=str(exc))) from None
    data = content.encode("utf-8")
    entries = file_diff(config, host, path) if os.path.exists(real) else [
        {"path": path, "state": "removed", "diff": "", "attributes": []}]
    if not entries:
        say(_("{path} is as accepted in baseline {id}: nothing to restore", path=path, id=rec["id"]))
        return {"path": path, "restored": False, "declined": False, "copy": None, "missing_secrets": 0}
    e = entries[0]
    say(e["diff"] or f"{path}: {e['state']}")
    for a in e["attributes"]:
        say(_("{attribute}: {current} -> {baseline} (accepted)", attribute=a["attribute"], current=a["current"],
              baseline=a["baseline"]))
    if missing:
        say(_("note: secret(s) {names} changed since acceptance and the baseline keeps only their digests; they "
              "keep their current values: set them back by hand", names=", ".join(missing)))
    if not yes and not (ask or _ask)(_("Restore {path} as accepted in baseline {id}? [y/N] ", path=path,
                                       id=rec["id"])):
        say(_("not restored"))
        return {"path": path, "restored": False, "declined": True, "copy": None,
                "missing_secrets": len(missing)}
    copy = None
    if os.path.exists(real):
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        copy = f"{real}.replaced-{stamp}"
        import shutil

        shutil.copy2(real, copy)
        st = os.stat(real)
        _chown(copy, st.st_uid, st.st_gid)
    _write_as(real, data, int(old["mode"], 8), old.get("uid"), old.get("gid"))
    shown_copy = None if copy is None else (copy if host.live else "/" + os.path.relpath(copy, host.root))
    say(_("restored {path}; the replaced file is kept as {copy}", path=path, copy=shown_copy) if shown_copy
        else _("restored {path}", path=path))
    return {"path": path, "restored": True, "declined": False, "copy": shown_copy,
            "missing_secrets": len(missing)}


def _ask(prompt: str) -> bool:
    try:
        # y/yes, and the Russian reader's д/да
        return input(prompt).strip().lower() in ("y", "yes", "д", "да")
    except EOFError:
        return False


def _chown(path: str, uid: int | None, gid: int | None) -> None:
    if uid is None or gid is None:
        return
    try:
        os.chown(path, uid, gid)
    except PermissionError:
        pass  # not root: the owner stays ours; the mode is still put back


def _write_as(path: str, data: bytes, mode: int, uid: int | None, gid: int | None) -> None:
    import tempfile

    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".diagnose-restore-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        _chown(tmp, uid, gid)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
