"""config.drift: compares this host with its acceptance baseline.

The probe reads the current baseline (``<state_dir>/baseline/``, recorded by
``diagnose baseline record``), looks at every watched file (a stat first:
same inode, size, mtime and ctime means unchanged without reading it; else
the sha256 and the secret-free text), works out what changed per section and
key, and asks every witness on the host who changed it
(:mod:`diagnose.state.whochanged`). Once every other probe has run it
compares the facts that checks declare ``stable`` with the baseline's. The
judge (:mod:`diagnose.checks.drift.judge`) turns that into one finding per
changed file or fact. Nothing here writes: ``diagnose baseline restore``
does, when a person asks for it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from diagnose.check import Check, Key, Needs
from diagnose.checks.drift import judge as judge_mod
from diagnose.i18n import N_, _
from diagnose.state import confdiff, snapshot
from diagnose.state.baseline import Store, stable_paths, watch_patterns
from diagnose.state.whochanged import Witnesses

NAME = "config.drift"
META = ("sha256", "size", "owner", "group", "mode", "mtime", "ctime", "kind")


def _ts(iso: str | None) -> float:
    if not iso:
        return 0.0
    return dt.datetime.fromisoformat(iso).timestamp()


def _run_ctx(cfg: dict[str, Any]) -> dict[str, Any]:
    return cfg.get("_run") or {}


def _store(cfg: dict[str, Any]) -> Store:
    config = _run_ctx(cfg).get("config")
    return Store.for_site(config.section("site") if config is not None else None)


def _record_command(cfg: dict[str, Any], host: Any) -> str:
    config = _run_ctx(cfg).get("config")
    cmd = "diagnose baseline record --by NAME --note 'acceptance'"
    if config is not None and config.path:
        cmd += f" --config {config.path}"
    if not host.live:
        cmd += f" --root {host.root}"
    return cmd


class ConfigDrift(Check):
    name = NAME
    summary = N_("what changed since the acceptance baseline: files and settings, when, and who changed it")
    section = "baseline"
    needs = Needs(role="any")
    timeout = 30.0
    run_context = True
    schema = {
        "watch": Key(list, [], "more files, directories or globs to watch, beside what the checks "
                               "declare (e.g. \"/etc/asterisk/*.conf\")", item=str),
        "ignore": Key(list, [], "files or globs not to watch (noisy ones)", item=str),
        "installer_accounts": Key(list, [], "accounts of the vendor's installers: their changes are "
                                            "software-side (whoever recorded the baseline counts too)",
                                  item=str),
        "vendor_packages": Key(list, [], "packages of the vendor (globs, e.g. \"callcenter-*\"): their "
                                         "upgrades are software-side; other packages' are the site's",
                               item=str),
    }

    def applies(self, host: Any, cfg: dict[str, Any]) -> str | None:
        store = _store(cfg)
        try:
            if store.exists():
                return None
        except OSError as exc:
            return _("cannot read the baseline in {dir}: {error} (run as the user who recorded it, usually "
                     "root, or set [site] state_dir / $DIAGNOSE_STATE_DIR)", dir=store.dir,
                     error=exc.strerror or str(exc))
        return _("no acceptance baseline in {dir}: record one with `{command}`", dir=store.dir,
                 command=_record_command(cfg, host))

    # -- probe ----------------------------------------------------------------------
    def probe(self, host: Any, cfg: dict[str, Any]) -> dict[str, Any]:
        ctx = _run_ctx(cfg)
        store = _store(cfg)
        rec = store.load()
        config = ctx.get("config")
        out: dict[str, Any] = {"dir": store.dir, "live": host.live, "root": host.root,
                               "config_path": getattr(config, "path", None)}
        if rec is None:
            out["baseline"] = None
            out["record_command"] = _record_command(cfg, host)
            return out
        out["baseline"] = {k: rec.get(k) for k in ("id", "recorded_at", "recorded_by", "note", "kind")}
        out["baseline"]["accepted"] = rec.get("accepted", [])[-5:]
        registry = ctx.get("registry")
        patterns = watch_patterns(registry, config) if registry is not None and config is not None \
            else rec.get("patterns", [])
        ignore = list(cfg.get("ignore") or [])
        current = snapshot.expand(host, patterns, ignore)
        old_patterns = rec.get("patterns", [])
        salt = store.salt()
        users, groups = snapshot.accounts(host)
        entries: list[dict[str, Any]] = []
        unchanged = 0
        not_in_baseline: list[str] = []
        for path in list(rec["files"]) + [p for p in current if p not in rec["files"]]:
            if snapshot._ignored(path, ignore):
                continue
            old = rec["files"].get(path)
            if old is None:
                if not _covered(path, old_patterns):
                    not_in_baseline.append(path)
                    continue
                old = {"path": path, "exists": False}
            entry = self._compare(host, store, path, old, salt, users, groups)
            if entry is None:
                unchanged += 1
            else:
                entries.append(entry)
        self._who(host, cfg, rec, entries)
        out.update(files=entries, unchanged=unchanged, watched=unchanged + len(entries),
                   not_in_baseline=not_in_baseline[:50])
        # For finish(): the stable facts as they were, per check.
        stable = stable_paths(registry) if registry is not None else {}
        out["stable_baseline"] = {name: judge_mod.extract_all(rec.get("facts", {}).get(name), paths)
                                  for name, paths in stable.items() if name in rec.get("facts", {})}
        out["stable_paths"] = stable
        return out

    def _compare(self, host: Any, store: Store, path: str, old: dict[str, Any], salt: bytes,
                 users: dict, groups: dict) -> dict[str, Any] | None:
        if old.get("exists"):
            try:
                st = host.stat(path)
                quick = {"exists": True, "ino": st.st_ino, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                         "ctime_ns": st.st_ctime_ns, "uid": st.st_uid, "gid": st.st_gid,
                         "mode": f"{st.st_mode & 0o7777:04o}"}
                if snapshot.same_stat(old, quick):
                    return None
            except OSError:
                pass
        new, new_text = snapshot.snapshot(host, path, salt, users, groups,
                                          unless_sha256=old.get("sha256") if old.get("exists") else None)
        if not old.get("exists") and not new.get("exists"):
            return None
        if new.get("kind") == "unchanged":
            new["kind"] = old.get("kind")
        entry: dict[str, Any] = {"path": path, "baseline": {k: old.get(k) for k in META},
                                 "current": {k: new.get(k) for k in META}, "changes": [],
                                 "attributes": [], "style": None, "whole_file": True,
                                 "restorable": bool(old.get("text")) and bool(old.get("exists"))}
        if not new.get("exists"):
            entry["state"] = "removed"
            return entry
        entry["changed_at"] = {"mtime": new.get("mtime"), "ctime": new.get("ctime")}
        entry["ctime_ns"] = new.get("ctime_ns")
        if not old.get("exists"):
            entry["state"] = "added"
            return entry
        entry["attributes"] = [{"attribute": k, "baseline": old.get(k), "current": new.get(k)}
                               for k in ("owner", "group", "mode") if old.get(k) != new.get(k)]
        if old.get("sha256") == new.get("sha256"):
            if not entry["attributes"]:
                return None
            entry["state"] = "attributes"
            return entry
        entry["state"] = "changed"
        old_text = store.text(old.get("text"))
        if old_text is not None and new_text is not None:
            cmp = confdiff.compare(old_text, new_text)
            entry.update(style=cmp["style"], changes=cmp["changes"], whole_file=cmp["style"] != "ini")
            if cmp["comment_only"] and not entry["attributes"]:
                entry["state"] = "comments"
            elif cmp["style"] == "ini" and not cmp["changes"]:
                entry["whole_file"] = True
        else:
            entry["content"] = old.get("kind") if old_text is None else new.get("kind")
        return entry

    def _who(self, host: Any, cfg: dict[str, Any], rec: dict[str, Any], entries: list[dict]) -> None:
        ctimes = {e["path"]: e.pop("ctime_ns", None) for e in entries}
        todo = [e for e in entries if e["state"] not in ("removed", "comments")]
        if not todo:
            return
        w = Witnesses(host, since=_ts(rec.get("recorded_at")), recorded_by=rec.get("recorded_by", ""),
                      installer_accounts=cfg.get("installer_accounts"),
                      vendor_packages=cfg.get("vendor_packages"))
        owners = snapshot.package_owners(host, [e["path"] for e in todo])
        for e in todo:
            ns = ctimes.get(e["path"])
            ctime = ns / 1e9 if ns else _ts(e["current"].get("ctime"))
            e["package"] = owners.get(e["path"])
            e["changed_by"] = w.explain(e["path"], ctime, owners.get(e["path"]))

    # -- after every probe ------------------------------------------------------
    def finish(self, facts: dict[str, Any], others: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
        """Compare the stable facts of the checks that ran with the baseline's."""
        base = facts.pop("stable_baseline", None) or {}
        paths = facts.pop("stable_paths", None) or {}
        changed, compared, not_run = [], 0, []
        for name, want in sorted(paths.items()):
            if name not in base:
                continue
            if name not in others:
                not_run.append(name)
                continue
            now = judge_mod.extract_all(others[name], want)
            # Only what was seen both times: a value missing or null now
            # (the device unplugged, the gateway silent) is that check's
            # finding, not a changed setting.
            for key in sorted(set(base[name]) & set(now)):
                if base[name][key] is None or now[key] is None:
                    continue
                compared += 1
                if base[name][key] != now[key]:
                    changed.append({"check": name, "fact": key, "baseline": base[name][key],
                                    "current": now[key]})
        facts["stable"] = {"changed": changed, "compared": compared, "not_run": not_run}
        return facts

    def judge(self, facts: dict[str, Any], cfg: dict[str, Any]) -> list:
        return judge_mod.judge(facts, cfg)


def _covered(path: str, patterns: list[str]) -> bool:
    import fnmatch

    return any(path == p or fnmatch.fnmatch(path, p) or path.startswith(p.rstrip("/") + "/")
               for p in patterns)

