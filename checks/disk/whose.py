"""Judge side of disk.space: whose data fills a full disk, the application's
(software) or foreign (site), in words a technician can read aloud, with the
rows of the walk that show it and a remedy whose commands can be pasted.
"""

from __future__ import annotations

import math
import shlex
from typing import Any

from diagnose.i18n import N_, _, _n, join, size
from diagnose.model import Fault, Finding, Status, step

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


q = shlex.quote  # every path in a command a technician pastes is quoted


def _owners_text(row: dict[str, Any]) -> str:
    """Who owns the files by size; for empty files, who owns the directory."""
    owners = [o["owner"] for o in row.get("owners", [])[:2]]
    if len(owners) == 1:
        return _("owner {owner}", owner=owners[0])
    if owners:
        return _("owner {owner} and {other}", owner=owners[0], other=owners[1])
    return _("directory owner {owner}", owner=row.get("dir_owner", "unknown"))


# File type groups of the scan (diagnose.checks.disk.scan), as a reader names them.
N_("video"), N_("audio"), N_("archives"), N_("disk images"), N_("other")


def _types_text(types: dict[str, int]) -> str:
    groups = [_(g) for g, b in sorted(types.items(), key=lambda kv: -kv[1]) if b]
    return join(", ", groups[:2]) if groups else _("empty")


_KIND_WORDS = {"log": N_("the application's own log"), "data": N_("the application's own data"),
               "database": N_("the application's own database"),
               "open": N_("a file the application holds open")}


def _row_text(row: dict[str, Any], by_files: bool) -> str:
    if row.get("kind"):  # known from the config: say what it is and whose
        amount = _n("{n} file", "{n} files", row["files"]) if by_files else size(row["bytes"])
        return _("{path} ({size}, {what}, {owner})", path=row["path"], size=amount,
                 what=_(_KIND_WORDS[row["kind"]]), owner=row["owner"])
    rest = _(" not counting {paths}", paths=", ".join(row["excluding"])) if row.get("excluding") else ""
    if by_files:
        return _("{path} ({files} files, {owners}{rest})", path=row["path"], files=row["files"],
                 owners=_owners_text(row), rest=rest)
    return _("{path} ({size}, {owners}, mostly {types}{rest})", path=row["path"],
             size=size(row["bytes"]), owners=_owners_text(row), types=_types_text(row["types"]),
             rest=rest)


def _attribute(check: str, mp: str, status: Status, what: str, why: str, scan: dict[str, Any],
               s: dict[str, Any], by_files: bool, evidence: dict[str, Any]) -> Finding:
    """Whose data fills the disk: the application's (software) or foreign (site)."""
    unit = "files" if by_files else "bytes"
    app, foreign = scan[f"app_{unit}"], scan[f"foreign_{unit}"]
    total = app + foreign
    # What df counts beyond what the walk saw, when directories could not be
    # read: whose it is is unknown, and it is counted as such.
    unknown = _unknown(scan, s, by_files, total)
    whole = total + unknown
    if unknown and isinstance(evidence.get("scan"), dict):
        evidence["scan"][f"unknown_{unit}"] = unknown

    def amount(n: int) -> str:
        return _n("{n} file", "{n} files", n) if by_files else size(n)

    def of_total(n: int) -> str:
        if by_files:
            return _n("{n} of {total} file", "{n} of {total} files", whole, n=n, total=whole)
        return _("{n} of {total}", n=size(n), total=size(whole))

    left = scan["unscanned_dirs"]
    partial = (_n(" The walk stopped at its {budget:g} s budget with {n} directory left, so these "
                  "figures are a lower bound.",
                  " The walk stopped at its {budget:g} s budget with {n} directories left, so these "
                  "figures are a lower bound.", left, budget=scan["budget_s"])
               if scan["stopped_early"] else "")
    if not scan["stopped_early"] and not scan.get("complete", True):
        missed = scan.get("unreadable", 0) + scan.get("skipped_entries", 0)
        partial = _n(" {n} directory or file could not be read (e.g. {sample}), so these figures are "
                     "a lower bound.",
                     " {n} directories or files could not be read (e.g. {sample}), so these figures "
                     "are a lower bound.", missed,
                     sample="; ".join(scan.get("unreadable_sample", [])[:2]) or _("unknown"))
    unread = _unread_dirs(scan)
    if unknown:
        partial = _(" {amount} ({share}) is in directories that could not be read ({dirs}): whose it is "
                    "is unknown.", amount=amount(unknown), share=pct(100.0 * unknown / whole), dirs=unread)
        if not (foreign > app + unknown or app > foreign + unknown):
            return _unknown_finding(check, mp, status, what, why, amount, app, foreign, unknown, unread,
                                    scan, by_files, evidence)
    found = (_("files in use") if by_files else _("data in use")) if unknown else \
        (_("files found") if by_files else _("data found"))
    # A complete walk that finds far less than df counts as used: the space is
    # held by files deleted while still open (or hidden under a mountpoint).
    unexplained = (not by_files and scan["complete"] and s["used_bytes"] > 0
                   and total < 0.5 * s["used_bytes"])
    if total == 0 or unexplained:
        detail = _("{why} Walking {mount} found {amount} in files, but {used} is in use.{partial}",
                   why=why, mount=mp, amount=amount(total), used=size(s["used_bytes"]),
                   partial=partial)
        remedy = [step(_("Look for deleted files still held open (restart the process holding "
                         "them):"), f"lsof +L1 {q(mp)}"),
                  step(_("Look for files hidden under mountpoints:"),
                       f"mount --bind {q(mp)} /mnt && du -xh --max-depth=2 /mnt | sort -h | tail")]
        if scan["stopped_early"]:
            remedy = [step(_("Raise [disk] scan_budget_s (and timeout_s) and run again, or look "
                             "by hand:"), f"du -xh --max-depth=3 {q(mp)} | sort -h | tail -20")]
        title = (_("Disk {mount} is {what}, who fills it is unknown: the walk stopped early",
                   mount=mp, what=what) if scan["stopped_early"]
                 else _("Disk {mount} is {what}", mount=mp, what=what))
        return Finding(check, mp, status, title, Fault.UNDETERMINED,
                       detail=detail, evidence=evidence, remedy=remedy)
    share = 100.0 * foreign / whole
    if foreign > app:
        rows = scan["top_dirs_by_files" if by_files else "top_dirs"][:3]
        named = join("; ", [_row_text(r, by_files) for r in rows])
        first = rows[0] if rows else None
        if first:
            title = _("Disk {mount} is {what}, mostly foreign data: {path} ({amount}, {owners})",
                      mount=mp, what=what, path=first["path"], amount=amount(first[unit]),
                      owners=_owners_text(first))
        else:
            title = _("Disk {mount} is {what}, mostly foreign data", mount=mp, what=what)
        detail = _("{why} {share:.0f}% of the {found} ({amount}) is outside the application's "
                   "paths: {named}.{partial}", why=why, share=share, found=found,
                   amount=of_total(foreign), named=named, partial=partial)
        moves = join(", ", [_("{path} ({amount}, {owners})", path=r["path"], amount=amount(r[unit]),
                              owners=_owners_text(r)) for r in rows])
        remedy = [step(_("Move or delete {paths}; ask the owner first. These are not the "
                         "call-center application's files.", paths=moves)),
                  step(_("Then check the free space:"), f"df -{'i' if by_files else 'h'} {q(mp)}")]
        return Finding(check, mp, status, title, Fault.SITE, detail=detail, evidence=evidence,
                       remedy=remedy)
    rows = sorted(scan["app_paths"], key=lambda r: -r[unit])[:3]
    named = join("; ", [_row_text(r, by_files) for r in rows])
    first = rows[0]
    whose = _(_KIND_WORDS.get(first.get("kind") or "data", _KIND_WORDS["data"]))
    if first.get("owner"):
        title = _("Disk {mount} is {what}, mostly {whose}: {path} ({amount}, {owner})", mount=mp,
                  what=what, whose=whose, path=first["path"], amount=amount(first[unit]),
                  owner=first["owner"])
    else:
        title = _("Disk {mount} is {what}, mostly {whose}: {path} ({amount})", mount=mp, what=what,
                  whose=whose, path=first["path"], amount=amount(first[unit]))
    detail = _("{why} {share:.0f}% of the {found} ({amount}) is the call-center application's own "
               "data: {named}. Its retention or log rotation is missing or not working.{partial}",
               why=why, share=100.0 * app / whole, found=found, amount=of_total(app), named=named,
               partial=partial)
    paths = " ".join(q(r["path"]) for r in rows)
    remedy = [step(_("Vendor: enable retention/rotation for {paths}.",
                     paths=", ".join(r["path"] for r in rows))),
              step(_("To free space now, list the largest files with their dates, archive what is "
                     "no longer needed elsewhere and delete it:"),
                   f"find {paths} -xdev -type f -printf '%s %TY-%Tm-%Td %p\\n' | sort -n | tail -20")]
    return Finding(check, mp, status, title, Fault.SOFTWARE, detail=detail, evidence=evidence,
                   remedy=remedy)


def _unknown(scan: dict[str, Any], s: dict[str, Any], by_files: bool, total: int) -> int:
    """Bytes (or files) in use beyond what the walk found, when it could not
    read every directory; 0 when it read them all or stopped at its budget
    (which has its own wording)."""
    if scan["stopped_early"] or not scan.get("unreadable"):
        return 0
    if by_files:
        used = (s.get("inodes_total") or 0) - (s.get("inodes_free") or 0)
        return max(0, used - total - scan.get("dirs", 0))
    return max(0, s["used_bytes"] - total)


def _unread_dirs(scan: dict[str, Any]) -> str:
    dirs = scan.get("unreadable_dirs") or []
    if dirs:
        return join(", ", [_("{path}, owner {owner}", path=d["path"], owner=d["owner"]) for d in dirs[:3]])
    return "; ".join(scan.get("unreadable_sample", [])[:2]) or _("unknown")


def _unknown_finding(check: str, mp: str, status: Status, what: str, why: str, amount: Any, app: int,
                     foreign: int, unknown: int, unread: str, scan: dict[str, Any], by_files: bool,
                     evidence: dict[str, Any]) -> Finding:
    """Directories this user could not read hold enough to tip the balance
    either way: whose data fills the disk is not known, and the report says
    what to read to find out, never "foreign" by default."""
    paths = " ".join(q(d["path"]) for d in (scan.get("unreadable_dirs") or [])[:3]) or q(mp)
    title = _("Disk {mount} is {what}, who fills it is unknown: {amount} could not be read", mount=mp,
              what=what, amount=amount(unknown))
    detail = _("{why} {amount} of it is in directories this user could not read ({dirs}). Of what could "
               "be read, {foreign} is outside the application's paths and {app} is the application's own: "
               "the unreadable part decides whose data fills the disk.", why=why, amount=amount(unknown),
               dirs=unread, foreign=amount(foreign), app=amount(app))
    remedy = [step(_("Run diagnose as root, or look into them as root:"),
                   f"du -x{'' if by_files else 'h'}s {'--inodes ' if by_files else ''}{paths}"),
              step(_("Then move or delete what is not the application's, or fix its retention."))]
    return Finding(check, mp, status, title, Fault.UNDETERMINED, detail=detail, evidence=evidence,
                   remedy=remedy)


def not_collected(scan: dict[str, Any]) -> list[dict[str, str]]:
    """The directories the walk could not read, in the report's words."""
    return [{"what": f"directory {d['path']} unreadable (owner {d['owner']})", "why": d["error"]}
            for d in scan.get("unreadable_dirs") or []]


def _scan_evidence(scan: dict[str, Any]) -> dict[str, Any]:
    """The walk's figures a reader needs, trimmed to the first few rows."""
    keep = ("complete", "skipped_entries", "stopped_early", "budget_s", "elapsed_s", "unscanned_dirs",
            "partial_dirs", "dirs",
            "files", "bytes", "app_bytes", "app_files", "foreign_bytes", "foreign_files",
            "other_mounts", "unreadable", "app_paths", "types")
    ev = {k: scan[k] for k in keep if k in scan}
    ev["top_dirs"] = scan["top_dirs"][:5]
    ev["top_dirs_by_files"] = scan["top_dirs_by_files"][:5]
    ev["top_files"] = scan["top_files"][:5]
    ev["owners"] = scan["owners"][:5]
    return ev
