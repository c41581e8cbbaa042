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

from diagnose.checks.disk import forecast, scan as diskscan
from diagnose.check import Check, Key, Needs, section_config
from diagnose.model import Fault, Finding, Status

if TYPE_CHECKING:
    from diagnose.host import Host, Mount

# tmpfs lives in memory: not a disk, audited only when listed in [disk] mounts.
MEMORY_FS = frozenset({"tmpfs"})


def human(n: float) -> str:
    """Bytes as df -h and du -h count them (powers of 1024)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def pct(p: float) -> str:
    """A percentage as a person reads it: 77%, 4.2%, 0.03%."""
    if p >= 10 or p == 0:
        return f"{math.floor(p)}%"
    return f"{p:.2g}%" if p < 1 else f"{p:.1f}%"


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


class DiskSpace(Check):
    """Free space and inodes per mount; who fills a full one."""

    name = "disk.space"
    summary = ("free space and inodes per mount; who is eating the disk "
               "(application vs foreign data)")
    section = "disk"
    needs = Needs(role="server")
    timeout = 10.0
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
        audited, skipped, missing = self._select(host, cfg)
        app_paths = [self._resolve(host, p) for p in cfg["app_paths"]]
        names = diskscan.read_passwd(host)
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
        budget = float(cfg["scan_budget_s"])
        points = {m.mountpoint for m in host.mounts()}
        for n, m in enumerate(todo):
            # Share what is left of the budget among the filesystems still to walk.
            share = max(0.0, budget) / (len(todo) - n)
            mine = [p for p in app_paths if _on_mount(p, m["mountpoint"], mounts)]
            try:
                m["scan"] = diskscan.scan(host, m["mountpoint"], mine, share, cfg["top"], names,
                                          points - {m["mountpoint"]})
            except OSError as exc:
                m["scan_reason"] = f"not walked: {m['mountpoint']}: {exc.strerror or exc}"
                continue
            budget -= m["scan"]["elapsed_s"]
        return {"mounts": mounts, "skipped": skipped, "missing": missing, "app_paths": app_paths}

    @staticmethod
    def _resolve(host: "Host", p: str) -> str:
        return host.realpath(p) if host.exists(p) else p.rstrip("/") or "/"

    @staticmethod
    def _scan_reason(m: dict[str, Any], cfg: dict[str, Any]) -> tuple[bool, str]:
        """Whether to walk the filesystem, and why: a collection setting, stated."""
        mode = cfg["scan"]
        if mode == "never":
            return False, "not walked: scan = never"
        if mode == "always":
            return True, "walked: scan = always"
        s = space(m)
        below = cfg["scan_below_free_percent"]
        if s["free_percent"] < below:
            return True, (f"walked: free space {s['free_percent']:g}% below "
                          f"scan_below_free_percent {below:g}")
        if s["inodes_free_percent"] is not None and s["inodes_free_percent"] < below:
            return True, (f"walked: free inodes {s['inodes_free_percent']:g}% below "
                          f"scan_below_free_percent {below:g}")
        mb = cfg["scan_below_free_mb"]
        if mb and s["free_bytes"] < mb * 1024 * 1024:
            return True, (f"walked: free space {human(s['free_bytes'])} below "
                          f"scan_below_free_mb {mb:g}")
        soon = forecast.scan_reason(m, cfg)
        if soon:
            return True, soon
        return False, f"not walked: free space and inodes above scan_below_free_percent {below:g}"

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
                reason = "a single file mounted over another (bind mount), not a filesystem"
            if not reason and m.device in seen_dev:
                reason = f"the same filesystem as {seen_dev[m.device]}"
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
                self.name, "disk", Status.SKIP, "No local filesystem to audit",
                evidence={"mount": None, "skipped": facts["skipped"]}))
        for p in facts.get("missing", []):
            out.append(Finding(
                self.name, p, Status.WARN, f"Configured disk {p} does not exist",
                Fault.UNDETERMINED,
                detail=f"[disk] mounts lists {p}, but there is no such path on this host, "
                       "so its free space was not checked.",
                evidence={"mount": p, "configured": [p]},
                remedy=f"Mount the filesystem that belongs at {p} (see /etc/fstab: `mount {p}`), "
                       "or remove it from [disk] mounts."))
        for s in facts.get("skipped", []):
            if s["configured"]:
                out.append(Finding(
                    self.name, s["mountpoint"], Status.SKIP,
                    f"Disk {s['mountpoint']} not audited: {s['reason']}",
                    evidence={"mount": s["mountpoint"], **s}))
        return out

    def _judge_mount(self, m: dict[str, Any], cfg: dict[str, Any]) -> Finding:
        mp = m["mountpoint"]
        if "error" in m:
            return Finding(
                self.name, mp, Status.WARN, f"Disk {mp} cannot be measured: {m['error']}",
                Fault.UNDETERMINED,
                detail=f"statvfs on {mp} failed ({m['error']}), so its free space is unknown.",
                evidence={"mount": mp, "fstype": m["fstype"], "source": m["source"],
                          "error": m["error"]},
                remedy=f"Check the mount by hand: `df -h {mp}` and `dmesg | tail -50` for "
                       "I/O errors; remount or repair the filesystem.")
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
                      else f", inodes {pct(s['inodes_free_percent'])} free")
        if m.get("scan") is not None:
            evidence["scan"] = _scan_evidence(m["scan"])
        if status is Status.OK:
            return Finding(self.name, mp, Status.OK,
                           f"Disk {mp}: {human(s['free_bytes'])} free "
                           f"({pct(s['free_percent'])}){inode_text}",
                           evidence=evidence)
        by_files = space_st is Status.OK  # only inodes are short: count files, not bytes
        used_pct = math.ceil(100 - s["free_percent"])
        if by_files:
            what = (f"out of inodes: {s['inodes_free']} of {s['inodes_total']} free "
                    f"({pct(s['inodes_free_percent'])})")
            lvl = "fail" if inode_st is Status.FAIL else "warn"
            why = (f"Free inodes {s['inodes_free_percent']:g}% are below {lvl}_free_inodes_percent "
                   f"{cfg[f'{lvl}_free_inodes_percent']:g}: no new file can be created once they "
                   "run out, whatever the free space.")
        else:
            what = f"{used_pct}% full ({human(s['free_bytes'])} free of {human(s['size_bytes'])})"
            why = _space_why(s, space_st, cfg)
            if inode_st.is_problem:
                why += f" Free inodes are low too ({s['inodes_free_percent']:g}%)."
        scan = m.get("scan")
        if scan is None:
            reason = (m.get("scan_reason") or "").removeprefix("not walked: ")
            evidence["scan"] = None
            evidence["scan_reason"] = m.get("scan_reason")
            return Finding(
                self.name, mp, status, f"Disk {mp} is {what}", Fault.UNDETERMINED,
                detail=f"{why} The filesystem was not walked ({reason}), so it is "
                       "not known whose data fills it.",
                evidence=evidence,
                remedy=f"Find what fills it: `du -xh --max-depth=3 {mp} | sort -h | tail -20`; "
                       "or set [disk] scan = \"always\" and run diagnose again.")
        return _attribute(self.name, mp, status, what, why, scan, s, by_files, evidence)


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
        return f"Free space {s['free_percent']:g}% is below {lvl}_free_percent {pct:g}."
    return f"Free space {human(s['free_bytes'])} is below {lvl}_free_mb {mb:g} MB."


def _owners_text(row: dict[str, Any]) -> str:
    """Who owns the files by size; for empty files, who owns the directory."""
    owners = [o["owner"] for o in row.get("owners", [])[:2]]
    if owners:
        return "owner " + " and ".join(owners)
    return f"directory owner {row.get('dir_owner', 'unknown')}"


def _types_text(types: dict[str, int]) -> str:
    groups = [g for g, b in sorted(types.items(), key=lambda kv: -kv[1]) if b]
    return ", ".join(groups[:2]) if groups else "empty"


def _row_text(row: dict[str, Any], by_files: bool) -> str:
    rest = " not counting " + ", ".join(row["excluding"]) if row.get("excluding") else ""
    if by_files:
        return f"{row['path']} ({row['files']} files, {_owners_text(row)}{rest})"
    return (f"{row['path']} ({human(row['bytes'])}, {_owners_text(row)}, "
            f"mostly {_types_text(row['types'])}{rest})")


def _attribute(check: str, mp: str, status: Status, what: str, why: str, scan: dict[str, Any],
               s: dict[str, Any], by_files: bool, evidence: dict[str, Any]) -> Finding:
    """Whose data fills the disk: the application's (software) or foreign (site)."""
    unit = "files" if by_files else "bytes"
    app, foreign = scan[f"app_{unit}"], scan[f"foreign_{unit}"]
    total = app + foreign
    amount = (lambda n: f"{n} files") if by_files else human
    left = scan["unscanned_dirs"]
    partial = (f" The walk stopped at its {scan['budget_s']:g} s budget with {left} "
               f"director{'y' if left == 1 else 'ies'} left, so these figures are a lower bound."
               if scan["stopped_early"] else "")
    if not scan["stopped_early"] and not scan.get("complete", True):
        missed = scan.get("unreadable", 0) + scan.get("skipped_entries", 0)
        partial = (f" {missed} director{'y' if missed == 1 else 'ies'} or file(s) could not be read "
                   f"(e.g. {'; '.join(scan.get('unreadable_sample', [])[:2]) or 'unknown'}), so these figures "
                   "are a lower bound.")
    found = "files found" if by_files else "data found"
    of_total = (lambda n: f"{n} of {total} files") if by_files else (
        lambda n: f"{human(n)} of {human(total)}")
    # A complete walk that finds far less than df counts as used: the space is
    # held by files deleted while still open (or hidden under a mountpoint).
    unexplained = (not by_files and scan["complete"] and s["used_bytes"] > 0
                   and total < 0.5 * s["used_bytes"])
    if total == 0 or unexplained:
        detail = (f"{why} Walking {mp} found {amount(total)} in files, but "
                  f"{human(s['used_bytes'])} is in use." + partial)
        remedy = (f"Look for deleted files still held open: `lsof +L1 {mp}` (restart the process "
                  f"holding them), and for files hidden under mountpoints: "
                  f"`mount --bind {mp} /mnt && du -xh --max-depth=2 /mnt | sort -h | tail`.")
        if scan["stopped_early"]:
            remedy = (f"Raise [disk] scan_budget_s (and timeout_s) and run again, or look by "
                      f"hand: `du -xh --max-depth=3 {mp} | sort -h | tail -20`.")
        title = f"Disk {mp} is {what}" + (", who fills it is unknown: the walk stopped early"
                                          if scan["stopped_early"] else "")
        return Finding(check, mp, status, title, Fault.UNDETERMINED,
                       detail=detail, evidence=evidence, remedy=remedy)
    share = 100.0 * foreign / total
    if foreign > app:
        rows = scan["top_dirs_by_files" if by_files else "top_dirs"][:3]
        named = "; ".join(_row_text(r, by_files) for r in rows)
        first = rows[0] if rows else None
        title = f"Disk {mp} is {what}, mostly foreign data"
        if first:
            title += f": {first['path']} ({amount(first[unit])}, {_owners_text(first)})"
        detail = (f"{why} {share:.0f}% of the {found} ({of_total(foreign)}) is outside "
                  f"the application's paths: {named}." + partial)
        moves = ", ".join(f"{r['path']} ({amount(r[unit])}, {_owners_text(r)})" for r in rows)
        remedy = (f"Move or delete {moves}; ask the owner first. These are not the call-center "
                  f"application's files. Then check with `df -h {mp}`.")
        return Finding(check, mp, status, title, Fault.SITE, detail=detail, evidence=evidence,
                       remedy=remedy)
    rows = sorted(scan["app_paths"], key=lambda r: -r[unit])[:3]
    named = "; ".join(_row_text(r, by_files) for r in rows)
    first = rows[0]
    title = (f"Disk {mp} is {what}, mostly the application's own data: "
             f"{first['path']} ({amount(first[unit])})")
    detail = (f"{why} {100 - share:.0f}% of the {found} ({of_total(app)}) is the "
              f"call-center application's data: {named}. Its retention or log rotation is "
              f"missing or not working." + partial)
    paths = " ".join(r["path"] for r in rows)
    remedy = (f"Vendor: enable retention/rotation for {', '.join(r['path'] for r in rows)}. "
              f"To free space now, list the oldest files with "
              f"`find {paths} -xdev -type f -mtime +90 -print`, archive them elsewhere and "
              f"delete them.")
    return Finding(check, mp, status, title, Fault.SOFTWARE, detail=detail, evidence=evidence,
                   remedy=remedy)


def _scan_evidence(scan: dict[str, Any]) -> dict[str, Any]:
    """The walk's figures a reader needs, trimmed to the first few rows."""
    keep = ("complete", "skipped_entries", "stopped_early", "budget_s", "elapsed_s", "unscanned_dirs", "dirs",
            "files", "bytes", "app_bytes", "app_files", "foreign_bytes", "foreign_files",
            "other_mounts", "unreadable", "app_paths", "types")
    ev = {k: scan[k] for k in keep if k in scan}
    ev["top_dirs"] = scan["top_dirs"][:5]
    ev["top_dirs_by_files"] = scan["top_dirs_by_files"][:5]
    ev["top_files"] = scan["top_files"][:5]
    ev["owners"] = scan["owners"][:5]
    return ev


def _why_not(m: "Mount", explicit: bool) -> str | None:
    kind = m.kind
    if kind == "pseudo":
        return f"a pseudo filesystem ({m.fstype}) holds no data"
    if kind == "image":
        return f"a read-only image ({m.fstype}) is full by design"
    if kind == "network":
        return f"a network filesystem ({m.fstype}): audit it on the server that exports it"
    if explicit:
        return None
    if m.fstype in MEMORY_FS:
        return f"in memory ({m.fstype}), not a disk; list it in [disk] mounts to audit it"
    if m.read_only:
        return "mounted read-only: nothing can fill it"
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
