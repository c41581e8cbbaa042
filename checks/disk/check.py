"""disk.space: free space and inodes per filesystem, and who is eating the disk.

"The server won't start" was, at one site, a disk filled with someone's films
and music. This check measures every audited filesystem (statvfs) against
percent and absolute thresholds and, when one is short of space or inodes,
says whose data fills it: the application's own (its ``app_paths``: call
recordings, logs without rotation -> a software fault) or foreign data
(media, archives, home directories -> a site fault), naming directories,
owners and file types so the remedy can say exactly what to move or delete.

Collection vs judgement: the probe never compares with a threshold. Walking
a filesystem is the expensive part, so *whether to walk it* is a collection
setting of its own: ``scan = "auto"`` walks a filesystem when its free space
or free inodes are below ``scan_below_free_percent`` (default 20, above the
default warn level 15 so that every default warning comes with its scan) or
its free space is below ``scan_below_free_mb``; ``"always"`` and ``"never"``
do what they say. The judge alone decides ok/warn/fail. When it finds a
problem without a scan to explain it (the collection settings were set below
the thresholds) it says so and gives the command to look by hand.
"""

from __future__ import annotations

import json
import math
import time
from typing import TYPE_CHECKING, Any

from diagnose.checks.disk import forecast
from diagnose.check import Check, Key, Needs, section_config
from diagnose.checks.disk.owned import claim, owned_paths
from diagnose.checks.disk.whose import _attribute, _scan_evidence, human, not_collected, pct, q
from diagnose.i18n import N_, _, join, size
from diagnose.model import Fault, Finding, Status, step

if TYPE_CHECKING:
    from diagnose.host import Host, Mount

# tmpfs lives in memory: not a disk, audited only when listed in [disk] mounts.
def space(m: dict[str, Any]) -> dict[str, Any]:
    """Free space and inodes of one mount's statvfs facts, as df computes
    them: blocks reserved for root count neither as used nor as free."""
    frsize = m["frsize"]
    used = (m["blocks"] - m["bfree"]) * frsize
    avail = m["bavail"] * frsize
    usable = used + avail
    free_pct = 100.0 * avail / usable if usable else 100.0
    inodes = m["files"]
    ifree = m["ffree"]
    # Some filesystems (btrfs, vfat) have no fixed inode table and report 0.
    ifree_pct = 100.0 * ifree / inodes if inodes else None
    return {"size_bytes": m["blocks"] * frsize, "used_bytes": used, "free_bytes": avail,
            "free_percent": round(free_pct, 2), "inodes_total": inodes, "inodes_free": ifree,
            "inodes_free_percent": None if ifree_pct is None else round(ifree_pct, 2)}


# tmpfs lives in memory: not a disk, audited only when listed in [disk] mounts.
MEMORY_FS = frozenset({"tmpfs"})


class DiskSpace(Check):
    """Free space and inodes per mount; who fills a full one."""

    name = "disk.space"
    summary = N_("free space and inodes per mount; who is eating the disk "
               "(application vs foreign data)")
    section = "disk"
    borrows = ("service", "database")  # their logs, data and databases are the application's
    needs = Needs(role="server")
    timeout = 10.0
    watches = ("/etc/fstab",)
    schema = {
        "mounts": Key(list, [], "mountpoints (or paths on them) to audit; default: every real "
                      "local filesystem", item=str),
        "warn_free_percent": Key((int, float), 15, "warn below this much free space, percent"),
        "fail_free_percent": Key((int, float), 5, "fail below this much free space, percent"),
        "warn_free_mb": Key((int, float), 0, "warn below this much free space, MB (0: off)"),
        "fail_free_mb": Key((int, float), 0, "fail below this much free space, MB (0: off)"),
        "warn_free_inodes_percent": Key((int, float), 10, "warn below this share of free inodes"),
        "fail_free_inodes_percent": Key((int, float), 5, "fail below this share of free inodes"),
        "app_paths": Key(list, [], "where the call-center application keeps its data "
                         "(recordings, database, logs)", item=str),
        "scan": Key(str, "auto", "walk filesystems to find who fills them: auto | always | never",
                    choices=("auto", "always", "never")),
        "scan_below_free_percent": Key((int, float), 20, "with scan = auto: walk a filesystem "
                                       "whose free space or inodes are below this percent"),
        "scan_below_free_mb": Key((int, float), 0, "with scan = auto: also walk when free space "
                                  "is below this many MB (0: off)"),
        "scan_budget_s": Key((int, float), 5.0, "time budget for walking, shared by the "
                             "filesystems walked in one run"),
        "top": Key(int, 10, "how many directories and files to name"),
        **forecast.SCHEMA,
    }

    # Where telephony and call-center software commonly keep growing data;
    # ``diagnose init`` proposes those present as app_paths.
    KNOWN_APP_PATHS = ("/var/spool/asterisk/monitor", "/var/spool/asterisk/voicemail",
                       "/var/lib/asterisk", "/var/log/asterisk", "/var/lib/callcenter",
                       "/var/log/callcenter", "/var/spool/freeswitch", "/var/lib/freeswitch")

    def init_section(self, host: "Host") -> str | None:
        """[disk] with the filesystems found here and any known call-center data paths."""
        audited, _, _ = self._select(host, section_config(self, {}))
        found = [p for p in self.KNOWN_APP_PATHS if host.exists(p)]
        lines = [f"# {self.name}: {self.summary}", "[disk]",
                 f"# mounts = []  # default: every real local filesystem; here: "
                 f"{', '.join(m.mountpoint for m, _ in audited) or 'none found'}"]
        if found:
            lines.append(f"app_paths = {json.dumps(found)}  "
                         "# found here; add the application's other data paths")
        else:
            lines.append('# app_paths = ["/var/lib/callcenter", "/var/spool/asterisk/monitor"]  '
                         "# where the application keeps its data")
        for key, spec in self.schema.items():
            if key not in ("mounts", "app_paths"):
                lines.append(f"# {key} = {json.dumps(spec.default)}  # {spec.doc}")
        return "\n".join(lines)

    def history_window(self, cfg: dict[str, Any]) -> tuple[float, int]:
        return float(cfg["forecast_days"]), forecast.TREND_POINTS

    def history_numbers(self, finding: Finding) -> dict[str, Any]:
        return forecast.history_numbers(finding.evidence)

    # -- probe ----------------------------------------------------------------
    def probe(self, host: "Host", cfg: dict[str, Any]) -> dict[str, Any]:
        started = time.monotonic()
        audited, skipped, missing = self._select(host, cfg)
        app_paths = [self._resolve(host, p) for p in cfg["app_paths"]]
        # What the rest of the config says is the application's: its services'
        # logs, data and open files, its SQLite databases.
        owned = owned_paths(host, cfg.get("_borrowed") or {})
        kinds = {}
        for o in owned:
            o["path"] = self._resolve(host, o["path"])
            if o["dir"] and o["path"] not in app_paths:
                app_paths.append(o["path"])
                kinds[o["path"]] = o
        mounts = []
        todo = []
        for mount, configured in audited:
            facts: dict[str, Any] = {
                "mountpoint": mount.mountpoint, "fstype": mount.fstype, "source": mount.source,
                "device": mount.device, "configured": configured, "scan": None,
            }
            mounts.append(facts)
            try:
                st = host.statvfs(mount.mountpoint)
            except OSError as exc:
                facts["error"] = f"statvfs failed: {exc.strerror or exc}"
                continue
            facts.update(frsize=st.f_frsize, blocks=st.f_blocks, bfree=st.f_bfree,
                         bavail=st.f_bavail, files=st.f_files, ffree=st.f_ffree,
                         probed_at=round(time.time(), 3))
            if (cfg.get("_history") or {}).get(mount.mountpoint):  # the run history's samples
                facts["history"] = cfg["_history"][mount.mountpoint]
            walk, facts["scan_reason"] = self._scan_reason(facts, cfg)
            if walk:
                todo.append(facts)
        budget = walk_budget(float(cfg["scan_budget_s"]), cfg.get("_timeout_s"),
                             time.monotonic() - started)
        if not todo:  # nothing to walk: no need for the walker, /etc/passwd or the mount list
            return {"mounts": mounts, "skipped": skipped, "missing": missing, "app_paths": app_paths,
                    "owned": owned}
        from diagnose.checks.disk import scan as diskscan

        names = diskscan.read_passwd(host)
        points = {m.mountpoint for m in host.mounts()}
        for n, m in enumerate(todo):
            # Share what is left of the budget among the filesystems still to walk.
            share = max(0.0, budget) / (len(todo) - n)
            mine = [p for p in app_paths if _on_mount(p, m["mountpoint"], mounts)]
            try:
                m["scan"] = diskscan.scan(host, m["mountpoint"], mine, share, cfg["top"], names,
                                          points - {m["mountpoint"]})
                for row in m["scan"]["app_paths"]:
                    if row["path"] in kinds:
                        row.update(kind=kinds[row["path"]]["kind"], owner=kinds[row["path"]]["owner"])
                claim(host, m["scan"], [o for o in owned if not o["dir"]
                                        and _on_mount(o["path"], m["mountpoint"], mounts)])
            except OSError as exc:
                m["scan_reason"] = f"not walked: {m['mountpoint']}: {exc.strerror or exc}"
                continue
            budget -= m["scan"]["elapsed_s"]
        return {"mounts": mounts, "skipped": skipped, "missing": missing, "app_paths": app_paths,
                "owned": owned}

    @staticmethod
    def _resolve(host: "Host", p: str) -> str:
        return host.realpath(p) if host.exists(p) else p.rstrip("/") or "/"

    @staticmethod
    def _scan_reason(m: dict[str, Any], cfg: dict[str, Any]) -> tuple[bool, str]:
        """Whether to walk the filesystem, and why: a collection setting, stated."""
        mode = cfg["scan"]
        if mode == "never":
            return False, _("not walked: scan = never")
        if mode == "always":
            return True, _("walked: scan = always")
        s = space(m)
        below = cfg["scan_below_free_percent"]
        if s["free_percent"] < below:
            return True, _("walked: free space {pct:g}% below scan_below_free_percent {below:g}",
                           pct=s["free_percent"], below=below)
        if s["inodes_free_percent"] is not None and s["inodes_free_percent"] < below:
            return True, _("walked: free inodes {pct:g}% below scan_below_free_percent {below:g}",
                           pct=s["inodes_free_percent"], below=below)
        mb = cfg["scan_below_free_mb"]
        if mb and s["free_bytes"] < mb * 1024 * 1024:
            return True, _("walked: free space {free} below scan_below_free_mb {mb:g}",
                           free=size(s["free_bytes"]), mb=mb)
        soon = forecast.scan_reason(m, cfg)
        if soon:
            return True, soon
        return False, _("not walked: free space and inodes above scan_below_free_percent {below:g}",
                        below=below)

    def _select(self, host: "Host", cfg: dict[str, Any]):
        """Mounts to audit [(mount, configured paths)], mounts skipped with
        the reason, and configured paths that do not exist."""
        top: dict[str, "Mount"] = {}
        for m in host.mounts():
            top[m.mountpoint] = m  # a later mount over the same point hides the earlier one
        audited: dict[str, tuple["Mount", list[str]]] = {}
        skipped: list[dict[str, Any]] = []
        missing: list[str] = []
        if cfg["mounts"]:
            for p in cfg["mounts"]:
                if not host.exists(p):
                    missing.append(p)
                    continue
                m = host.mount_of(p)
                if m is None:
                    missing.append(p)
                    continue
                m = top.get(m.mountpoint, m)
                reason = _why_not(m, explicit=True)
                if reason:
                    skipped.append(_skip_row(m, reason, [p]))
                    continue
                audited.setdefault(m.mountpoint, (m, []))[1].append(p)
            return list(audited.values()), skipped, missing
        # Bind mounts show one filesystem at several places; audit it once.
        seen_dev: dict[str, str] = {}
        # Whole filesystems (root "/") before bind mounts of a part of one.
        for mp in sorted(top, key=lambda k: (top[k].root != "/", k.count("/"), k)):
            m = top[mp]
            reason = _why_not(m, explicit=False)
            if not reason and not host.is_dir(mp):
                reason = _("a single file mounted over another (bind mount), not a filesystem")
            if not reason and m.device in seen_dev:
                reason = _("the same filesystem as {mount}", mount=seen_dev[m.device])
            if reason:
                skipped.append(_skip_row(m, reason, []))
                continue
            seen_dev[m.device] = mp
            audited[mp] = (m, [])
        return ([audited[k] for k in sorted(audited)],
                sorted(skipped, key=lambda r: r["mountpoint"]), missing)

    # -- judge ----------------------------------------------------------------
    def judge(self, facts: dict[str, Any], cfg: dict[str, Any]) -> list[Finding]:
        out = [forecast.apply(self._judge_mount(m, cfg), m, cfg) if "error" not in m
               else self._judge_mount(m, cfg) for m in facts["mounts"]]
        if not out and not facts.get("missing") and not any(s["configured"] for s in facts["skipped"]):
            out.append(Finding(
                self.name, "disk", Status.SKIP, _("No local filesystem to audit"),
                evidence={"mount": None, "skipped": facts["skipped"]}))
        for p in facts.get("missing", []):
            out.append(Finding(
                self.name, p, Status.WARN, _("Configured disk {mount} does not exist", mount=p),
                Fault.UNDETERMINED,
                detail=_("[disk] mounts lists {mount}, but there is no such path on this host, "
                         "so its free space was not checked.", mount=p),
                evidence={"mount": p, "configured": [p]},
                remedy=[step(_("Mount the filesystem that belongs at {mount} (see /etc/fstab):",
                               mount=p), f"mount {q(p)}"),
                        step(_("Or remove it from [disk] mounts."))]))
        for s in facts.get("skipped", []):
            if s["configured"]:
                out.append(Finding(
                    self.name, s["mountpoint"], Status.SKIP,
                    _("Disk {mount} not audited: {reason}", mount=s["mountpoint"], reason=s["reason"]),
                    evidence={"mount": s["mountpoint"], **s}))
        return out

    def _judge_mount(self, m: dict[str, Any], cfg: dict[str, Any]) -> Finding:
        mp = m["mountpoint"]
        if "error" in m:
            return Finding(
                self.name, mp, Status.WARN,
                _("Disk {mount} cannot be measured: {error}", mount=mp, error=m["error"]),
                Fault.UNDETERMINED,
                detail=_("statvfs on {mount} failed ({error}), so its free space is unknown.",
                         mount=mp, error=m["error"]),
                evidence={"mount": mp, "fstype": m["fstype"], "source": m["source"],
                          "error": m["error"]},
                remedy=[step(_("Check the mount by hand:"), f"df -h {q(mp)}"),
                        step(_("Look for I/O errors in the kernel log:"), "dmesg | tail -50"),
                        step(_("Remount or repair the filesystem."))])
        s = space(m)
        space_st = _level(s["free_percent"], s["free_bytes"], cfg["warn_free_percent"],
                          cfg["fail_free_percent"], cfg["warn_free_mb"], cfg["fail_free_mb"])
        inode_st = Status.OK
        if s["inodes_free_percent"] is not None:
            inode_st = _level(s["inodes_free_percent"], None, cfg["warn_free_inodes_percent"],
                              cfg["fail_free_inodes_percent"], 0, 0)
        status = max(space_st, inode_st)
        evidence: dict[str, Any] = {
            "mount": mp, "fstype": m["fstype"], "source": m["source"], **s,
            "free": human(s["free_bytes"]), "size": human(s["size_bytes"]),
            "thresholds": {k: cfg[k] for k in (
                "warn_free_percent", "fail_free_percent", "warn_free_mb", "fail_free_mb",
                "warn_free_inodes_percent", "fail_free_inodes_percent")},
        }
        inode_text = ("" if s["inodes_free_percent"] is None
                      else _(", inodes {pct} free", pct=pct(s["inodes_free_percent"])))
        if m.get("scan") is not None:
            evidence["scan"] = _scan_evidence(m["scan"])
            if not_collected(m["scan"]):
                evidence["not_collected"] = not_collected(m["scan"])
        if status is Status.OK:
            return Finding(self.name, mp, Status.OK,
                           _("Disk {mount}: {free} free ({pct}){inodes}", mount=mp,
                             free=size(s["free_bytes"]), pct=pct(s["free_percent"]),
                             inodes=inode_text),
                           evidence=evidence)
        by_files = space_st is Status.OK  # only inodes are short: count files, not bytes
        used_pct = math.ceil(100 - s["free_percent"])
        if by_files:
            what = _("out of inodes: {free} of {total} free ({pct})", free=s["inodes_free"],
                     total=s["inodes_total"], pct=pct(s["inodes_free_percent"]))
            lvl = "fail" if inode_st is Status.FAIL else "warn"
            why = _("Free inodes {pct:g}% are below {key} {limit:g}: no new file can be created once "
                    "they run out, whatever the free space.", pct=s["inodes_free_percent"],
                    key=f"{lvl}_free_inodes_percent", limit=cfg[f"{lvl}_free_inodes_percent"])
        else:
            what = _("{used}% full ({free} free of {size})", used=used_pct,
                     free=size(s["free_bytes"]), size=size(s["size_bytes"]))
            why = _space_why(s, space_st, cfg)
            if inode_st.is_problem:
                why = join(" ", [why, _("Free inodes are low too ({pct:g}%).",
                                        pct=s["inodes_free_percent"])])
        scan = m.get("scan")
        if scan is None:
            reason = (m.get("scan_reason") or "").removeprefix("not walked: ")
            evidence["scan"] = None
            evidence["scan_reason"] = m.get("scan_reason")
            return Finding(
                self.name, mp, status, _("Disk {mount} is {what}", mount=mp, what=what),
                Fault.UNDETERMINED,
                detail=_("{why} The filesystem was not walked ({reason}), so it is not known "
                         "whose data fills it.", why=why, reason=reason),
                evidence=evidence,
                remedy=([step(_("Find what fills it:"), f"df -i {q(mp)}"),
                         step(_("Count files by directory:"),
                              f"du --inodes -x --max-depth=3 {q(mp)} | sort -n | tail -20")]
                        if by_files else
                        [step(_("Find what fills it:"), f"du -xh --max-depth=3 {q(mp)} | sort -h | tail -20")])
                + [step(_("Or set [disk] scan = \"always\" and run diagnose again."))])
        return _attribute(self.name, mp, status, what, why, scan, s, by_files, evidence)


def walk_budget(budget: float, timeout: float | None, spent: float) -> float:
    """The walk's budget cut to fit the probe's timeout, leaving a fifth of
    it (at least half a second) to summarise, judge and report, so free
    space and inodes are reported even when the walk is cut short."""
    if not timeout:
        return budget
    room = max(0.5, 0.2 * timeout)
    return max(0.0, min(budget, timeout - spent - room))


def _level(pct: float, free_bytes: int | None, warn_pct: float, fail_pct: float,
           warn_mb: float, fail_mb: float) -> Status:
    mb = None if free_bytes is None else free_bytes / (1024 * 1024)
    if pct < fail_pct or (fail_mb and mb is not None and mb < fail_mb):
        return Status.FAIL
    if pct < warn_pct or (warn_mb and mb is not None and mb < warn_mb):
        return Status.WARN
    return Status.OK


def _space_why(s: dict[str, Any], st: Status, cfg: dict[str, Any]) -> str:
    lvl = "fail" if st is Status.FAIL else "warn"
    pct, mb = cfg[f"{lvl}_free_percent"], cfg[f"{lvl}_free_mb"]
    if s["free_percent"] < pct:
        return _("Free space {pct:g}% is below {key} {limit:g}.", pct=s["free_percent"],
                 key=f"{lvl}_free_percent", limit=pct)
    return _("Free space {free} is below {key} {limit:g} MB.", free=size(s["free_bytes"]),
             key=f"{lvl}_free_mb", limit=mb)


def _why_not(m: "Mount", explicit: bool) -> str | None:
    kind = m.kind
    if kind == "pseudo":
        return _("a pseudo filesystem ({fstype}) holds no data", fstype=m.fstype)
    if kind == "image":
        return _("a read-only image ({fstype}) is full by design", fstype=m.fstype)
    if kind == "network":
        return _("a network filesystem ({fstype}): audit it on the server that exports it",
                 fstype=m.fstype)
    if explicit:
        return None
    if m.fstype in MEMORY_FS:
        return _("in memory ({fstype}), not a disk; list it in [disk] mounts to audit it",
                 fstype=m.fstype)
    if m.read_only:
        return _("mounted read-only: nothing can fill it")
    return None


def _skip_row(m: "Mount", reason: str, configured: list[str]) -> dict[str, Any]:
    return {"mountpoint": m.mountpoint, "fstype": m.fstype, "kind": m.kind,
            "reason": reason, "configured": configured}


def _on_mount(path: str, mountpoint: str, mounts: list[dict[str, Any]]) -> bool:
    """Whether *path* is on *mountpoint* (or above it: the whole mount is then
    the application's) rather than on a deeper audited mount."""
    def under(p: str, top: str) -> bool:
        return top == "/" or p == top or p.startswith(top.rstrip("/") + "/")

    if under(mountpoint, path):
        return True
    if not under(path, mountpoint):
        return False
    deeper = [x["mountpoint"] for x in mounts
              if x["mountpoint"] != mountpoint and under(x["mountpoint"], mountpoint)]
    return not any(under(path, d) for d in deeper)
