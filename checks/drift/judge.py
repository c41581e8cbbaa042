"""config.drift's judge: one finding per changed file or stable fact.

Fault domain per change, from who made it (DESIGN.md section 9): a site
account or a non-vendor package upgrade -> site ("changed on site after
acceptance"); the installer or a vendor package -> software; nobody known ->
undetermined, saying which evidence was missing. Every remedy names the
accepted value and the exact command that puts it back.
"""

from __future__ import annotations

import json
import os
import shlex
from typing import Any

from diagnose.model import Fault, Finding, Status

NAME = "config.drift"
ABSENT = "(absent)"

# How to make a service pick a restored file up again.
APPLY = (
    ("/etc/asterisk/chan_dahdi.conf", 'asterisk -rx "dahdi restart"  (drops DAHDI calls: do it when idle)'),
    ("/etc/asterisk/queues.conf", 'asterisk -rx "module reload app_queue.so"'),
    ("/etc/asterisk/extensions.conf", 'asterisk -rx "dialplan reload"'),
    ("/etc/asterisk/sip.conf", 'asterisk -rx "sip reload"'),
    ("/etc/asterisk/pjsip.conf", 'asterisk -rx "module reload res_pjsip.so"'),
    ("/etc/asterisk/*", 'asterisk -rx "core reload"'),
    ("/etc/dahdi/*", "dahdi_cfg -vv"),
    ("/var/lib/alsa/asound.state", "alsactl restore"),
    ("/etc/network/interfaces*", "systemctl restart networking"),
    ("/etc/netplan/*", "netplan apply"),
    ("/etc/NetworkManager/system-connections/*", "nmcli connection reload"),
    ("/etc/systemd/*", "systemctl daemon-reload"),
    ("/lib/systemd/*", "systemctl daemon-reload"),
    ("/usr/lib/systemd/*", "systemctl daemon-reload"),
    ("/etc/pulse/*", "restart the desktop user's sound server (systemctl --user restart pulseaudio)"),
    ("/etc/pipewire/*", "systemctl --user restart pipewire pipewire-pulse"),
)


# -- stable facts -------------------------------------------------------------------

def _label(item: Any, index: int) -> str:
    if isinstance(item, dict):
        for k in ("name", "address", "mountpoint", "interface", "id"):
            if isinstance(item.get(k), (str, int)) and item.get(k) != "":
                return f"[{item[k]}]"
    return f"[{index}]"


def extract(facts: Any, path: str) -> dict[str, Any]:
    """Values at a dotted *path* in *facts*; ``*`` is every key of a dict
    or every item of a list (items named by their name/address/...)."""
    out: dict[str, Any] = {}

    def walk(cur: Any, parts: list[str], shown: str) -> None:
        if not parts:
            out[shown] = cur
            return
        head, rest = parts[0], parts[1:]
        if head == "*":
            if isinstance(cur, dict):
                for k in sorted(cur):
                    walk(cur[k], rest, f"{shown}.{k}" if shown else str(k))
            elif isinstance(cur, list):
                for i, item in enumerate(cur):
                    walk(item, rest, f"{shown}{_label(item, i)}")
            return
        if isinstance(cur, dict) and head in cur:
            walk(cur[head], rest, f"{shown}.{head}" if shown else head)

    walk(facts, path.split("."), "")
    return out


def extract_all(facts: Any, paths: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in paths:
        out.update(extract(facts, p))
    return out


# -- phrasing -------------------------------------------------------------------

def _v(value: Any) -> str:
    if value is None:
        return ABSENT
    if isinstance(value, list):
        return ", ".join(str(x) for x in value) or "(empty)"
    if isinstance(value, (dict, bool)):
        text = json.dumps(value, sort_keys=True)
        return text if len(text) <= 120 else text[:117] + "..."
    return str(value)


def _where(section: str) -> str:
    return f"[{section}]" if section else "the top of the file"


def phrase(change: dict[str, Any]) -> str:
    """``rxgain 0.0 -> 9.5 in [channels]``; a line change as ``line 4: a -> b``."""
    if "key" in change:
        key, where = change["key"], _where(change.get("section", ""))
        if change.get("secret"):
            if change.get("baseline") is None:
                return f"secret {key} added in {where}"
            if change.get("current") is None:
                return f"secret {key} removed from {where}"
            return f"secret {key} changed in {where}"
        if change.get("baseline") is None:
            return f"{key} = {_v(change['current'])} added in {where}"
        if change.get("current") is None:
            return f"{key} (was {_v(change['baseline'])}) removed from {where}"
        return f"{key} {_v(change['baseline'])} -> {_v(change['current'])} in {where}"
    if "attribute" in change:
        return f"{change['attribute']} {change['baseline']} -> {change['current']}"
    if change.get("baseline") is None:
        return f"line {change['line']} added: {change['current']}"
    if change.get("current") is None:
        return f"line {change['line']} removed: {change['baseline']}"
    return f"line {change['line']}: {change['baseline']} -> {change['current']}"


def _apply_hint(path: str) -> str | None:
    import fnmatch

    for pattern, cmd in APPLY:
        if path == pattern or fnmatch.fnmatch(path, pattern):
            return cmd
    if path.endswith((".service", ".socket", ".timer", ".mount")):
        return "systemctl daemon-reload"
    return None


def _cmd(facts: dict[str, Any], *words: str) -> str:
    argv = ["diagnose", "baseline", *words]
    cfg = facts.get("config_path")
    if cfg and cfg != "/etc/diagnose/site.toml":
        argv += ["--config", cfg]
    if not facts.get("live", True) and facts.get("root") not in (None, "/"):
        argv += ["--root", facts["root"]]
    return " ".join(shlex.quote(a) if a not in ("NAME", "TEXT") else a for a in argv)


FAULT_OF_KIND = {"local": Fault.SITE, "package": Fault.SITE, "installer": Fault.SOFTWARE,
                 "vendor": Fault.SOFTWARE, "unknown": Fault.UNDETERMINED}


def _who_text(by: dict[str, Any]) -> str:
    found = [s for s in by.get("sources", []) if s.get("result") == "found"]
    if not by.get("actor"):
        return "Who changed it is not known"
    via = "; ".join(f"{s['source']}: {s['detail']}" for s in found[:3])
    kind = {"local": "a site account", "installer": "the installer", "package": "a package operation",
            "vendor": "the vendor's package"}.get(by.get("kind", ""), by.get("kind", ""))
    return f"Changed by {by['actor']} ({kind}; confidence {by.get('confidence')}: {via})"


def _fault_text(kind: str, by: dict[str, Any]) -> str:
    if kind == "local":
        return "Changed on site after acceptance: a site fault."
    if kind == "package":
        return (f"A package operation on site ({by.get('actor')}, not one of the vendor's packages) "
                "replaced the accepted file after acceptance: a site fault.")
    if kind in ("installer", "vendor"):
        return "Changed by the vendor's side after acceptance (installer account or vendor package): software."
    missing = [m for m in by.get("missing", []) if m]
    return ("Cannot tell the site from the vendor: " + ("; ".join(missing[:4]) or "no witness") + ".")


# -- the judge -------------------------------------------------------------------

def judge(facts: dict[str, Any], cfg: dict[str, Any]) -> list[Finding]:
    base = facts.get("baseline")
    if not base:
        cmd = facts.get("record_command") or "diagnose baseline record --by NAME"
        return [Finding(NAME, "baseline", Status.SKIP, "No acceptance baseline recorded",
                        detail=f"Nothing to compare with in {facts.get('dir')}.",
                        evidence={"dir": facts.get("dir")}, remedy=f"Record one at acceptance: `{cmd}`")]
    about = {"id": base["id"], "recorded_at": base.get("recorded_at"), "recorded_by": base.get("recorded_by")}
    out: list[Finding] = []
    for e in facts.get("files", []):
        out.append(_file_finding(facts, e, about))
    stable = facts.get("stable") or {}
    for c in stable.get("changed", []):
        out.append(_fact_finding(facts, c, about))
    if not any(f.status.is_problem for f in out):
        n = facts.get("watched", 0)
        extra = ""
        if facts.get("not_in_baseline"):
            extra = (f" {len(facts['not_in_baseline'])} watched file(s) are not in the baseline yet "
                     f"(first: {facts['not_in_baseline'][0]}); `{_cmd(facts, 'accept', 'PATH', '--by', 'NAME', '--why', 'TEXT')}` "
                     "takes one in.")
        out.append(Finding(
            NAME, "baseline", Status.OK,
            f"No drift since the baseline of {about['recorded_at']} ({n} files, "
            f"{stable.get('compared', 0)} stable facts compared)",
            detail=f"Baseline {about['id']} recorded by {about['recorded_by']}.{extra}",
            evidence={"baseline": about, "watched": n, "stable_compared": stable.get("compared", 0),
                      "not_in_baseline": facts.get("not_in_baseline", []),
                      "stable_not_run": stable.get("not_run", [])}))
    return out


def _file_finding(facts: dict[str, Any], e: dict[str, Any], about: dict[str, Any]) -> Finding:
    path = e["path"]
    name = os.path.basename(path)
    by = e.get("changed_by") or {"actor": None, "kind": "unknown", "confidence": "low", "sources": [],
                                 "missing": ["nothing records deletions"]}
    state = e["state"]
    changes = list(e.get("changes") or []) + list(e.get("attributes") or [])
    evidence = {"file": path, "changes": changes, "changed_at": e.get("changed_at"),
                "changed_by": {k: by.get(k) for k in ("actor", "kind", "confidence", "sources")},
                "keys": sorted({c["key"] for c in changes if "key" in c}),
                "whole_file": bool(e.get("whole_file")), "state": state, "baseline": about,
                "accepted": e.get("baseline"), "now": e.get("current")}
    if e.get("package"):
        evidence["package"] = e["package"]
    restore = _cmd(facts, "restore", path)
    accept = _cmd(facts, "accept", path, "--by", "NAME", "--why", "TEXT")
    apply_hint = _apply_hint(path)
    then = f" Then apply it: `{apply_hint}`." if apply_hint else ""
    if_ok = f" If the change was approved, make it the new baseline: `{accept}`."
    if state == "comments":
        return Finding(NAME, path, Status.OK, f"{path} changed only in comments or layout since acceptance",
                       detail=f"No setting differs from baseline {about['id']}; modified {e['changed_at']['mtime']}.",
                       evidence=evidence)
    if state == "removed":
        kind = "unknown"
        title = f"{path} was removed after acceptance"
        detail = (f"{path} existed at acceptance ({about['recorded_at']}, sha256 "
                  f"{(e['baseline'].get('sha256') or '')[:12]}) and is gone. Nothing on this host records "
                  "who deletes a file unless auditd watches it.")
        remedy = (f"Put the accepted file back: `{restore}`." if e.get("restorable") else
                  f"Restore {path} from a backup (the baseline keeps only its digest).") + then + if_ok
        return Finding(NAME, path, Status.WARN, title, fault=Fault.UNDETERMINED, detail=detail,
                       evidence=evidence, remedy=remedy)
    kind = by.get("kind", "unknown")
    fault = FAULT_OF_KIND.get(kind, Fault.UNDETERMINED)
    actor = f" by {by['actor']}" if by.get("actor") else ""
    when = (e.get("changed_at") or {}).get("ctime")
    if state == "added":
        title = f"{name} appeared after acceptance in a watched place ({path}){actor}"
        remedy = f"Find out why {path} was added; remove it (keep a copy) if it was not approved." + then + if_ok
    else:
        shown = [phrase(c) for c in changes[:3]]
        more = f" (+{len(changes) - 3} more)" if len(changes) > 3 else ""
        what = "; ".join(shown) + more if shown else "content changed"
        title = f"{name} changed since acceptance: {what}{actor}"
        remedy = _put_back(path, e, changes, restore) + then + if_ok
    detail = (f"{path} differs from baseline {about['id']} (recorded {about['recorded_at']} by "
              f"{about['recorded_by']}); last changed {when}"
              + (f" (modified {e['changed_at']['mtime']})" if e.get("changed_at") else "") + ". "
              + _who_text(by) + ". " + _fault_text(kind, by))
    return Finding(NAME, path, Status.WARN, title, fault=fault, detail=detail, evidence=evidence, remedy=remedy)


def _put_back(path: str, e: dict[str, Any], changes: list[dict], restore: str) -> str:
    parts = []
    for c in changes[:6]:
        if "key" in c:
            where = _where(c.get("section", ""))
            if c.get("secret"):
                parts.append(f"{c['key']} in {where}: the accepted secret (kept only as a digest; "
                             "set it from your records)")
            elif c.get("baseline") is None:
                parts.append(f"remove {c['key']} from {where}")
            else:
                parts.append(f"{where} {c['key']} = {_v(c['baseline'])}"
                             + (f" (now {_v(c['current'])})" if c.get("current") is not None else " (now absent)"))
        elif "attribute" in c:
            parts.append(f"{c['attribute']} {c['baseline']} (now {c['current']})")
    accepted = f"Accepted values in {path}: " + "; ".join(parts) + ". " if parts else ""
    if e.get("restorable"):
        return (accepted + f"Put the accepted file back with `{restore}` (it shows the difference, asks, "
                "and keeps the current file beside it as " + os.path.basename(path) + ".replaced-<time>).")
    return accepted + (f"The baseline keeps only the digest of {path} ({e.get('content') or 'not text'}): "
                       "restore it from a backup.")


def _fact_finding(facts: dict[str, Any], c: dict[str, Any], about: dict[str, Any]) -> Finding:
    subject = f"{c['check']}:{c['fact']}"
    accept = _cmd(facts, "accept", subject, "--by", "NAME", "--why", "TEXT")
    return Finding(
        NAME, subject, Status.WARN,
        f"{c['check']} {c['fact']} changed since acceptance: {_v(c['baseline'])} -> {_v(c['current'])}",
        fault=Fault.UNDETERMINED,
        detail=(f"{c['check']} declares {c['fact']} stable; at acceptance ({about['recorded_at']}, baseline "
                f"{about['id']}) it was {_v(c['baseline'])}, now it is {_v(c['current'])}. Probed facts "
                "carry no author, so who changed it is not known."),
        evidence={"check": c["check"], "fact": c["fact"], "baseline": c["baseline"],
                  "current": c["current"], "accepted_in": about},
        remedy=(f"Put {c['fact']} back to {_v(c['baseline'])} if the change was not approved; "
                f"if it was, make it the new baseline: `{accept}`."))
