"""Saved reports (``[email] reports_dir``): written whole, pruned, and never
the reason a report is lost.

``diagnose`` exists to diagnose, among other things, the disk that filled
up. So saving the report must not depend on that disk:

- the report goes to ``reports_dir``; when that cannot take it (full,
  read-only, not writable, not a directory), to ``fallback_dir`` (default
  ``/run/diagnose/reports``, a RAM-backed filesystem on Debian, writable by
  root only), and the report says so in a ``report.delivery`` finding;
- a filesystem whose free space is down to root's reserved blocks (ext2/3/4
  keep 5 % for root: users see it full, root can still write) counts as
  full: those blocks exist so that root can log in and repair, and a
  nightly report must not eat them;
- when nowhere can take it, the report is still printed and mailed; the
  finding and the CLI say every place tried and why each refused, with the
  true reason (no space, read-only, permission), not a generic error.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import json
import os
from pathlib import Path
from typing import Any, Mapping

from diagnose.fsutil import atomic_write, mountpoint, reason
from diagnose.model import Fault, Finding, Report, Status

CHECK = "report.delivery"
FALLBACK_DIR = "/run/diagnose/reports"
# Room left after the report: a filesystem this close to full is left alone.
MARGIN = 64 * 1024


def stamp(when: dt.datetime) -> str:
    # Sorts in time order as a plain string; microseconds keep two runs in
    # the same second apart.
    return when.strftime("%Y%m%dT%H%M%S.%fZ")


@dataclasses.dataclass
class Saved:
    """Where the report went (None: nowhere) and every place that refused."""

    path: str | None
    tried: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (directory, reason)

    @property
    def fallback(self) -> bool:
        return self.path is not None and bool(self.tried)

    def refusals(self) -> str:
        return "; ".join(f"{d}: {why}" for d, why in self.tried)


def room(directory: Path, need: int) -> str | None:
    """Why *directory*'s filesystem cannot take *need* more bytes, or None.
    Root's reserved blocks do not count as room (module docstring)."""
    try:
        st = os.statvfs(directory)
    except OSError:
        return None  # the write itself will say what is wrong
    avail, free = st.f_bavail * st.f_frsize, st.f_bfree * st.f_frsize
    if st.f_files and st.f_favail == 0:
        return "no free inodes left on the filesystem"
    if avail >= need + MARGIN:
        return None
    if free >= need + MARGIN:
        return (f"the filesystem is full for users; only root's reserved blocks are left "
                f"({free // 1024} KiB), and they are kept for repairs")
    return "no space left on device"


def _write(directory: Path, name: str, text: str, mode: int) -> Path:
    why = room(directory, len(text.encode("utf-8"))) if directory.is_dir() else None
    if why:
        raise OSError(errno.ENOSPC, why)
    directory.mkdir(parents=True, exist_ok=True, mode=0o750)
    if not directory.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a directory")
    path = directory / name
    atomic_write(str(path), text, mode)
    return path


def saved_reports(reports_dir: Path) -> list[Path]:
    try:
        return sorted(reports_dir.glob("report-*.json")) if reports_dir.is_dir() else []
    except OSError:
        return []


def previous_report(cfg: Mapping[str, Any]) -> dict[str, Any] | None:
    """The newest report saved by an earlier run, or None."""
    for path in reversed(saved_reports(Path(cfg["reports_dir"]))):
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a damaged file is not a previous report
    return None


def prune(directory: Path, keep_path: Path, cfg: Mapping[str, Any], now: dt.datetime) -> None:
    """Keep the newest ``keep`` reports and none older than ``keep_days``
    (the one just written always stays)."""
    cutoff = (now - dt.timedelta(days=cfg["keep_days"])).timestamp()
    older = [p for p in saved_reports(directory) if p != keep_path]
    keep_others = max(cfg["keep"] - 1, 0)
    for i, p in enumerate(reversed(older)):
        try:
            if i >= keep_others or p.stat().st_mtime < cutoff:
                p.unlink()
        except FileNotFoundError:
            pass  # pruned by a concurrent run
        except OSError:
            return  # a read-only directory cannot be pruned either


def report_text(report: Report) -> str:
    from diagnose.reports.jsonfmt import dumps

    return dumps(report.to_dict(), indent=1) + "\n"


def save(report: Report, cfg: Mapping[str, Any], now: dt.datetime, tried: list[tuple[str, str]],
         directories: list[str]) -> Saved:
    """Write *report* into the first of *directories* that takes it."""
    name = f"report-{stamp(now)}.json"
    text = report_text(report)
    for d in directories:
        try:
            path = _write(Path(d), name, text, 0o640)
        except OSError as exc:
            tried.append((d, reason(exc)))
            continue
        prune(Path(d), path, cfg, now)
        return Saved(str(path), tried)
    return Saved(None, tried)


def not_saved_finding(cfg: Mapping[str, Any], tried: list[tuple[str, str]], saved_to: str | None) -> Finding:
    """The ``report.delivery`` finding of a report that could not go to
    reports_dir (subject: reports_dir)."""
    where = str(cfg["reports_dir"])
    first = tried[0][1] if tried else "unknown"
    refusals = "; ".join(f"{d}: {why}" for d, why in tried)
    if saved_to:
        title = f"Report not saved in {where} ({first}); saved in {saved_to} instead"
        detail = (f"The report could not be written to [email] reports_dir ({refusals}), so it was "
                  f"written to the fallback directory {saved_to}, which does not survive a reboot. "
                  "It was still printed and mailed.")
    else:
        title = f"Report not saved anywhere: {where}: {first}"
        detail = (f"The report could not be written to any directory ({refusals}). It was still "
                  "printed and mailed; nothing of it is kept on this host.")
    full = any("space" in why or "reserved" in why or "inodes" in why for _, why in tried)
    ro = any("read-only" in why for _, why in tried)
    if full:
        remedy = f"Free space on the filesystem holding {where} (see the disk.space finding; df -h {where})"
    elif ro:
        remedy = (f"Find out why the filesystem holding {where} is read-only (dmesg | tail -n 50; "
                  "an ext4 error remounts it read-only) and repair it")
    else:
        remedy = f"Make {where} a directory root can write (ls -ld {where}) or set [email] reports_dir"
    return Finding(CHECK, where, Status.WARN, title, Fault.SITE if (full or ro) else Fault.UNDETERMINED,
                   detail=detail, remedy=remedy,
                   evidence={"reports_dir": where, "mount": mountpoint(where),
                             "tried": [{"dir": d, "error": why} for d, why in tried], "saved_to": saved_to})
