"""Judge side of disk.space: whose data fills a full disk, the application's
(software) or foreign (site), in words a technician can read aloud, with the
rows of the walk that show it and a remedy whose commands can be pasted.
"""

from __future__ import annotations

import math
import shlex
from typing import Any

from diagnose.model import Fault, Finding, Status

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
    if owners:
        return "owner " + " and ".join(owners)
    return f"directory owner {row.get('dir_owner', 'unknown')}"


def _types_text(types: dict[str, int]) -> str:
    groups = [g for g, b in sorted(types.items(), key=lambda kv: -kv[1]) if b]
    return ", ".join(groups[:2]) if groups else "empty"


_KIND_WORDS = {"log": "the application's own log", "data": "the application's own data",
               "database": "the application's own database", "open": "a file the application holds open"}


def _row_text(row: dict[str, Any], by_files: bool) -> str:
    if row.get("kind"):  # known from the config: say what it is and whose
        size = f"{row['files']} files" if by_files else human(row["bytes"])
        return f"{row['path']} ({size}, {_KIND_WORDS[row['kind']]}, {row['owner']})"
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
        remedy = (f"Look for deleted files still held open: `lsof +L1 {q(mp)}` (restart the process "
                  f"holding them), and for files hidden under mountpoints: "
                  f"`mount --bind {q(mp)} /mnt && du -xh --max-depth=2 /mnt | sort -h | tail`.")
        if scan["stopped_early"]:
            remedy = (f"Raise [disk] scan_budget_s (and timeout_s) and run again, or look by "
                      f"hand: `du -xh --max-depth=3 {q(mp)} | sort -h | tail -20`.")
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
                  f"application's files. Then check with `df -{'i' if by_files else 'h'} {q(mp)}`.")
        return Finding(check, mp, status, title, Fault.SITE, detail=detail, evidence=evidence,
                       remedy=remedy)
    rows = sorted(scan["app_paths"], key=lambda r: -r[unit])[:3]
    named = "; ".join(_row_text(r, by_files) for r in rows)
    first = rows[0]
    whose = _KIND_WORDS.get(first.get("kind") or "data", "the application's own data")
    title = (f"Disk {mp} is {what}, mostly {whose}: "
             f"{first['path']} ({amount(first[unit])}"
             + (f", {first['owner']})" if first.get("owner") else ")"))
    detail = (f"{why} {100 - share:.0f}% of the {found} ({of_total(app)}) is the "
              f"call-center application's own data: {named}. Its retention or log rotation is "
              f"missing or not working." + partial)
    paths = " ".join(q(r["path"]) for r in rows)
    remedy = (f"Vendor: enable retention/rotation for {', '.join(r['path'] for r in rows)}. "
              f"To free space now, list the largest files with "
              f"`find {paths} -xdev -type f -printf '%s %TY-%Tm-%Td %p\\n' | sort -n | tail -20` "
              f"(the largest, with their dates), archive what is no longer needed elsewhere and "
              f"delete it.")
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
