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

from diagnose.i18n import N_, _, _n, join, when
from diagnose.model import Fault, Finding, Status, step

NAME = "config.drift"
ABSENT = "(absent)"

# How to make a service pick a restored file up again.
APPLY = (
    ("/etc/asterisk/chan_dahdi.conf", 'asterisk -rx "dahdi restart"'),
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
    return f"[{section}]" if section else _("the top of the file")


def phrase(change: dict[str, Any]) -> str:
    """``rxgain 0.0 -> 9.5 in [channels]``; a line change as ``line 4: a -> b``."""
    if "key" in change:
        key, where = change["key"], _where(change.get("section", ""))
        if change.get("secret"):
            if change.get("baseline") is None:
                return _("secret {key} added in {where}", key=key, where=where)
            if change.get("current") is None:
                return _("secret {key} removed from {where}", key=key, where=where)
            return _("secret {key} changed in {where}", key=key, where=where)
        if change.get("baseline") is None:
            return _("{key} = {value} added in {where}", key=key, value=_v(change["current"]), where=where)
        if change.get("current") is None:
            return _("{key} (was {value}) removed from {where}", key=key, value=_v(change["baseline"]),
                     where=where)
        return _("{key} {old} -> {new} in {where}", key=key, old=_v(change["baseline"]),
                 new=_v(change["current"]), where=where)
    if "attribute" in change:
        return _("{attribute} {old} -> {new}", attribute=change["attribute"], old=change["baseline"],
                 new=change["current"])
    if change.get("baseline") is None:
        return _("line {line} added: {text}", line=change["line"], text=change["current"])
    if change.get("current") is None:
        return _("line {line} removed: {text}", line=change["line"], text=change["baseline"])
    return _("line {line}: {old} -> {new}", line=change["line"], old=change["baseline"], new=change["current"])


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


CONFIDENCE_TEXT = {"high": N_("high"), "medium": N_("medium"), "low": N_("low")}
KIND_TEXT = {"local": N_("a site account"), "installer": N_("the installer"),
             "package": N_("a package operation"), "vendor": N_("the vendor's package")}


def _said(source: dict[str, Any], key: str) -> Any:
    """A witness's words (diagnose.state.whochanged.said) in the reader's
    language; the English text alone where facts were recorded without."""
    words = source.get(f"{key}_said")
    if isinstance(words, list) and len(words) == 2 and isinstance(words[1], dict):
        return _(words[0], **words[1])
    return source.get(key) or ""


def _who_text(by: dict[str, Any]) -> str:
    found = [s for s in by.get("sources", []) if s.get("result") == "found"]
    if not by.get("actor"):
        return _("Who changed it is not known.")
    via = join("; ", [join(": ", [s["source"], _said(s, "detail")]) for s in found[:3]])
    kind = by.get("kind", "")
    conf = by.get("confidence", "")
    return _("Changed by {actor} ({kind}; confidence {confidence}: {via}).", actor=by["actor"],
             kind=_(KIND_TEXT[kind]) if kind in KIND_TEXT else kind,
             confidence=_(CONFIDENCE_TEXT[conf]) if conf in CONFIDENCE_TEXT else conf, via=via)


def _fault_text(kind: str, by: dict[str, Any]) -> str:
    if kind == "local":
        return _("Changed on site after acceptance: a site fault.")
    if kind == "package":
        return _("A package operation on site ({package}, not one of the vendor's packages) replaced the "
                 "accepted file after acceptance: a site fault.", package=by.get("actor"))
    if kind in ("installer", "vendor"):
        return _("Changed by the vendor's side after acceptance (installer account or vendor package): "
                 "software.")
    words = by.get("missing_said") or []
    missing = [(_(w[0], **w[1]) if w else m) for m, w in zip(by.get("missing", []),
                                                           words + [None] * len(by.get("missing", [])))]
    missing = [m for m in missing if m]
    return _("Cannot tell the site from the vendor: {missing}.", missing=join("; ", missing[:4]) or "-")


def _after(facts: dict[str, Any], path: str, subject: str) -> list:
    """The steps that follow putting a file back: apply it, or accept the change."""
    out = []
    hint = _apply_hint(path) if path.startswith("/") else None
    if hint and "dahdi restart" in hint:
        out.append(step(_("Then make the service read it again (this drops the DAHDI calls in progress: "
                          "do it when the lines are idle):"), hint))
    elif hint:
        out.append(step(_("Then make the service read it again:"), hint))
    out.append(step(_("If the change was approved, make it the new baseline instead:"),
                    _cmd(facts, "accept", subject, "--by", "NAME", "--why", "TEXT")))
    return out


# -- the judge -------------------------------------------------------------------

def judge(facts: dict[str, Any], cfg: dict[str, Any]) -> list[Finding]:
    base = facts.get("baseline")
    if not base:
        cmd = facts.get("record_command") or "diagnose baseline record --by NAME"
        return [Finding(NAME, "baseline", Status.SKIP, _("No acceptance baseline recorded"),
                        detail=_("Nothing to compare with in {dir}.", dir=facts.get("dir")),
                        evidence={"dir": facts.get("dir")},
                        remedy=[step(_("Record one at acceptance:"), cmd)])]
    about = {"id": base["id"], "recorded_at": base.get("recorded_at"), "recorded_by": base.get("recorded_by")}
    out: list[Finding] = []
    for e in facts.get("files", []):
        out.append(_file_finding(facts, e, about))
    stable = facts.get("stable") or {}
    for c in stable.get("changed", []):
        out.append(_fact_finding(facts, c, about))
    if not any(f.status.is_problem for f in out):
        n = facts.get("watched", 0)
        detail = _("Baseline {id} recorded by {by}.", id=about["id"], by=about["recorded_by"])
        nib = facts.get("not_in_baseline") or []
        if nib:
            detail += " " + _n("{n} watched file is not in the baseline yet (first: {path}); `{command}` "
                               "takes one in.", "{n} watched files are not in the baseline yet (first: "
                               "{path}); `{command}` takes one in.", len(nib), path=nib[0],
                               command=_cmd(facts, "accept", "PATH", "--by", "NAME", "--why", "TEXT"))
        out.append(Finding(
            NAME, "baseline", Status.OK,
            _("No drift since the baseline of {when} ({files} files, {facts} stable facts compared)",
              when=when(about["recorded_at"]), files=n, facts=stable.get("compared", 0)),
            detail=detail,
            evidence={"baseline": about, "watched": n, "stable_compared": stable.get("compared", 0),
                      "not_in_baseline": nib, "stable_not_run": stable.get("not_run", [])}))
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
                "settings": [f"[{c.get('section', '')}] {c['key']}" for c in changes if "key" in c],
                "whole_file": bool(e.get("whole_file")), "state": state, "baseline": about,
                "accepted": e.get("baseline"), "now": e.get("current")}
    if e.get("package"):
        evidence["package"] = e["package"]
    restore = _cmd(facts, "restore", path)
    if state == "comments":
        return Finding(NAME, path, Status.OK,
                       _("{path} changed only in comments or layout since acceptance", path=path),
                       detail=_("No setting differs from baseline {id}; modified {when}.", id=about["id"],
                                when=when(e["changed_at"]["mtime"])),
                       evidence=evidence)
    if state == "removed":
        first = (step(_("Put the accepted file back:"), restore) if e.get("restorable") else
                 step(_("Restore {path} from a backup (the baseline keeps only its digest).", path=path)))
        return Finding(NAME, path, Status.WARN, _("{path} was removed after acceptance", path=path),
                       fault=Fault.UNDETERMINED,
                       detail=_("{path} existed at acceptance ({when}, sha256 {sha}) and is gone. Nothing on "
                                "this host records who deletes a file unless auditd watches it.", path=path,
                                when=when(about["recorded_at"]), sha=(e["baseline"].get("sha256") or "")[:12]),
                       evidence=evidence, remedy=[first] + _after(facts, path, path))
    kind = by.get("kind", "unknown")
    fault = FAULT_OF_KIND.get(kind, Fault.UNDETERMINED)
    if state == "added":
        title = _("{name} appeared after acceptance in a watched place ({path})", name=name, path=path)
        steps = [step(_("Find out why {path} was added; remove it (keep a copy) if it was not approved.",
                        path=path))]
    else:
        shown = [phrase(c) for c in changes[:3]]
        what = join("; ", shown) if shown else _("content changed")
        if len(changes) > 3:
            what = what + " " + _("(+{n} more)", n=len(changes) - 3)
        title = _("{name} changed since acceptance: {what}", name=name, what=what)
        steps = _put_back(path, e, changes, restore)
    if by.get("actor"):
        title = title + " " + _("by {actor}", actor=by["actor"])
    changed = (e.get("changed_at") or {})
    detail = join(" ", [
        _("{path} differs from baseline {id} (recorded {recorded} by {by}); last changed {ctime} "
          "(modified {mtime}).", path=path, id=about["id"], recorded=when(about["recorded_at"]),
          by=about["recorded_by"], ctime=when(changed.get("ctime")), mtime=when(changed.get("mtime"))),
        _who_text(by), _fault_text(kind, by)])
    return Finding(NAME, path, Status.WARN, title, fault=fault, detail=detail, evidence=evidence,
                   remedy=steps + _after(facts, path, path))


def _put_back(path: str, e: dict[str, Any], changes: list[dict], restore: str) -> list:
    parts = []
    for c in changes[:6]:
        if "key" in c:
            where = _where(c.get("section", ""))
            if c.get("secret"):
                parts.append(_("{key} in {where}: the accepted secret (kept only as a digest; set it from "
                               "your records)", key=c["key"], where=where))
            elif c.get("baseline") is None:
                parts.append(_("remove {key} from {where}", key=c["key"], where=where))
            elif c.get("current") is None:
                parts.append(_("{where} {key} = {value} (now absent)", where=where, key=c["key"],
                               value=_v(c["baseline"])))
            else:
                parts.append(_("{where} {key} = {value} (now {now})", where=where, key=c["key"],
                               value=_v(c["baseline"]), now=_v(c["current"])))
        elif "attribute" in c:
            parts.append(_("{attribute} {value} (now {now})", attribute=c["attribute"], value=c["baseline"],
                           now=c["current"]))
    steps = []
    if parts:
        steps.append(step(_("Accepted values in {path}: {values}.", path=path, values=join("; ", parts))))
    if e.get("restorable"):
        steps.append(step(_("Put the accepted file back (it shows the difference, asks, and keeps the current "
                            "file beside it as {name}.replaced-<time>):", name=os.path.basename(path)),
                          restore))
    else:
        steps.append(step(_("The baseline keeps only the digest of {path} ({kind}): restore it from a backup.",
                            path=path, kind=e.get("content") or "not text")))
    return steps


def _fact_finding(facts: dict[str, Any], c: dict[str, Any], about: dict[str, Any]) -> Finding:
    subject = f"{c['check']}:{c['fact']}"
    return Finding(
        NAME, subject, Status.WARN,
        _("{check} {fact} changed since acceptance: {old} -> {new}", check=c["check"], fact=c["fact"],
          old=_v(c["baseline"]), new=_v(c["current"])),
        fault=Fault.UNDETERMINED,
        detail=_("{check} declares {fact} stable; at acceptance ({when}, baseline {id}) it was {old}, now it "
                 "is {new}. Probed facts carry no author, so who changed it is not known.", check=c["check"],
                 fact=c["fact"], when=when(about["recorded_at"]), id=about["id"], old=_v(c["baseline"]),
                 new=_v(c["current"])),
        evidence={"check": c["check"], "fact": c["fact"], "baseline": c["baseline"],
                  "current": c["current"], "accepted_in": about},
        remedy=[step(_("Put {fact} back to {value} if the change was not approved.", fact=c["fact"],
                       value=_v(c["baseline"])))] + _after(facts, "", subject))
