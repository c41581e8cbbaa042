"""When will the disk be full: a least-squares line through the free space of
the last days, from the run history.

The runner hands the probe each mount's recorded samples (see
``Check.history_window``); the probe copies them into the mount's facts as
``history`` (``[{"t": epoch, "free_bytes", "size_bytes", "dirs": [[path,
bytes, is_app], ...]}, ...]``, oldest first) beside ``probed_at``, so the
judge, and ``--from-facts``, see exactly what was fitted. Everything here is
pure.

- :func:`forecast` fits ``free = a + b * t`` by least squares over the
  samples of the last ``forecast_days`` plus this run. A falling line gives
  the fill rate and ``days_to_full = free now / rate``; its quality is the
  coefficient of determination R² (``fit``: 1 is a perfectly steady fall, 0
  no trend at all). A flat or rising line says nothing.
- :func:`growth` names the directories that grew fastest between the oldest
  and the newest walk of the window (``dirs`` in the samples; this run's walk
  when there is one): foreign data makes it a site fault, the application's
  own data a software fault.
- :func:`apply` adds the forecast to a mount's finding and, when fewer than
  ``forecast_warn_days`` remain and the fit is at least ``forecast_min_fit``,
  makes an ok finding a warning that says when, how sure, and who grows.
"""

from __future__ import annotations

from typing import Any

from diagnose.i18n import _, join, number, size
from diagnose.model import Fault, Finding, Status, step
from diagnose.schema import Key

DAY = 86400.0
MIN_SPAN_DAYS = 1.0  # a trend needs samples at least a day apart
TREND_POINTS = 30  # samples kept in evidence for the HTML sparkline

# The [disk] keys of the forecast (DiskSpace.schema includes them).
SCHEMA = {
    "forecast_days": Key((int, float), 14, "fit the free space of this many last days to "
                         "forecast when the disk is full", low=1, high=3660),
    "forecast_warn_days": Key((int, float), 7, "warn when the forecast says full in fewer days "
                              "than this (and the fit is good)", low=0, high=3660),
    "forecast_min_fit": Key((int, float), 0.8, "how good the fit must be to warn: R² from 0 "
                            "(no trend) to 1 (a perfectly steady fall)", low=0, high=1),
    "forecast_min_samples": Key(int, 5, "runs needed (this one included, at least a day apart "
                                "in all) before forecasting", low=2, high=1000),
    "scan_below_days_to_full": Key((int, float), 10, "with scan = auto: also walk when the "
                                   "forecast says full in fewer days than this, so that a warning "
                                   "can name what grows (0: off)", low=0, high=3660),
}


def history_numbers(evidence: dict[str, Any]) -> dict[str, Any]:
    """What the run history keeps of a mount's finding: free and total
    bytes, and the directories its walk named (when it was walked)."""
    out = {k: evidence[k] for k in ("free_bytes", "size_bytes") if isinstance(evidence.get(k), int)}
    dirs = dirs_of(evidence.get("scan"))
    if out and dirs:
        out["dirs"] = dirs
    return out


def scan_reason(m: dict[str, Any], cfg: dict[str, Any]) -> Any:
    """Why to walk a filesystem the forecast says fills soon (a collection
    setting, like scan_below_free_percent); None: no reason here."""
    limit = float(cfg["scan_below_days_to_full"])
    fc = forecast(m, cfg) if limit > 0 else None
    if fc is None or fc["fit"] < float(cfg["forecast_min_fit"]) or fc["days_to_full"] >= limit:
        return None
    return _("walked: free space falls {rate} a day, full in about {days:g} days (below "
             "scan_below_days_to_full {limit:g})", rate=size(fc["rate_bytes_per_day"]),
             days=fc["days_to_full"], limit=limit)


def points(m: dict[str, Any], days: float) -> list[tuple[float, int]]:
    """(time, free bytes) of the samples within *days* before this run, and
    this run's own; empty when the facts carry no time or no history."""
    now = m.get("probed_at")
    if not isinstance(now, (int, float)) or "bavail" not in m:
        return []
    free = int(m["bavail"]) * int(m["frsize"])
    out = []
    for s in m.get("history") or []:
        t, f = s.get("t"), s.get("free_bytes")
        if isinstance(t, (int, float)) and isinstance(f, (int, float)) and now - days * DAY <= t < now:
            out.append((float(t), int(f)))
    out.append((float(now), free))
    return out


def fit(pts: list[tuple[float, float]]) -> tuple[float, float, float]:
    """Least squares ``y = a + b * t``: (b per second, a, R²)."""
    n = len(pts)
    mt = sum(t for t, _ in pts) / n
    my = sum(y for _, y in pts) / n
    sxx = sum((t - mt) ** 2 for t, _ in pts)
    sxy = sum((t - mt) * (y - my) for t, y in pts)
    syy = sum((y - my) ** 2 for _, y in pts)
    b = sxy / sxx if sxx else 0.0
    r2 = (sxy * sxy) / (sxx * syy) if sxx and syy else 0.0
    return b, my - b * mt, r2


def forecast(m: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any] | None:
    """``{days_to_full, rate_bytes_per_day, samples, fit, window_days}`` when
    the free space of the last ``forecast_days`` falls; None when it is flat or
    rising, or there are too few samples (``forecast_min_samples``, spanning at
    least a day)."""
    pts = points(m, float(cfg["forecast_days"]))
    if len(pts) < max(int(cfg["forecast_min_samples"]), 2):
        return None
    if (pts[-1][0] - pts[0][0]) / DAY < MIN_SPAN_DAYS:
        return None
    slope, _, r2 = fit(pts)
    rate = -slope * DAY
    if rate <= 0:
        return None
    free = pts[-1][1]
    return {"days_to_full": round(free / rate, 2), "rate_bytes_per_day": int(round(rate)),
            "samples": len(pts), "fit": round(r2, 3), "window_days": cfg["forecast_days"]}


def trend(m: dict[str, Any]) -> dict[str, Any] | None:
    """The free space of the last TREND_POINTS runs, for a sparkline."""
    pts = points(m, 36500.0)[-TREND_POINTS:]
    if len(pts) < 2:
        return None
    size_bytes = int(m["blocks"]) * int(m["frsize"])
    return {"t": [round(t) for t, _ in pts], "free_bytes": [f for _, f in pts],
            "size_bytes": size_bytes}


def dirs_of(scan: dict[str, Any] | None, limit: int = 5) -> list[list[Any]]:
    """A walk's named directories as ``[path, bytes, is_app]`` rows: the
    largest foreign directories and every application path."""
    if not scan:
        return []
    rows = [[r["path"], int(r["bytes"]), 0] for r in (scan.get("top_dirs") or [])[:limit]]
    rows += [[r["path"], int(r["bytes"]), 1] for r in scan.get("app_paths") or []]
    return rows


def growth(m: dict[str, Any], days: float) -> tuple[list[dict[str, Any]], str | None]:
    """The directories growing fastest over the window, and the basis:
    ``growth`` (two walks or more: bytes a day between the oldest and the
    newest), ``size`` (one walk: the largest now), or None (no walk)."""
    now = m.get("probed_at")
    walks = [(float(s["t"]), s["dirs"]) for s in m.get("history") or []
             if s.get("dirs") and isinstance(s.get("t"), (int, float))
             and (now is None or now - days * DAY <= s["t"] < now)]
    if m.get("scan") and isinstance(now, (int, float)):
        walks.append((float(now), dirs_of(m["scan"])))
    if not walks:
        return [], None
    t1, new = walks[-1]
    if len(walks) == 1:
        rows = sorted(new, key=lambda r: -r[1])[:3]
        return [{"path": p, "bytes": b, "app": bool(a), "bytes_per_day": None} for p, b, a in rows], "size"
    t0, old = walks[0]
    before = {r[0]: r[1] for r in old}
    span = max((t1 - t0) / DAY, 1e-9)
    rows = []
    for path, b, app in new:
        rate = (b - before.get(path, 0)) / span
        if rate > 0:
            rows.append({"path": path, "bytes": b, "app": bool(app), "bytes_per_day": int(rate)})
    rows.sort(key=lambda r: (-r["bytes_per_day"], r["path"]))
    return rows[:3], "growth"


def _owner(m: dict[str, Any], path: str) -> str | None:
    for r in ((m.get("scan") or {}).get("top_dirs") or []):
        if r["path"] == path and r.get("owners"):
            return r["owners"][0]["owner"]
    return None


def apply(f: Finding, m: dict[str, Any], cfg: dict[str, Any]) -> Finding:
    """Add the forecast (and the free-space trend) to the mount's finding;
    warn when the disk fills within ``forecast_warn_days`` and the fit is
    good. Returns the finding (changed in place, or a new warning)."""
    trail = trend(m)
    if trail:
        f.evidence["free_trend"] = trail
    fc = forecast(m, cfg)
    if fc is None:
        return f
    f.evidence["forecast"] = fc
    good = fc["fit"] >= float(cfg["forecast_min_fit"])
    mp = m["mountpoint"]
    days_text = number(fc["days_to_full"], 1)
    rate = size(fc["rate_bytes_per_day"])
    if not good:
        return f
    if f.status.is_problem:
        f.detail = f.detail + " " + _(
            "At the current rate ({rate} a day, fit R² {fit}) it is full in about {days} days.",
            rate=rate, fit=number(fc["fit"], 2), days=days_text)
        return f
    if fc["days_to_full"] >= float(cfg["forecast_warn_days"]):
        return f
    rows, basis = growth(m, float(cfg["forecast_days"]))
    f.evidence["forecast"]["growing"] = rows
    f.evidence["forecast"]["growing_basis"] = basis
    pts = points(m, float(cfg["forecast_days"]))
    why = _("Free space fell from {first} to {now} over {span} days ({n} runs). A least-squares "
            "line through them fits with R² {fit} (1 is a perfectly steady fall): {rate} a day, "
            "so what is left lasts about {days} days, fewer than forecast_warn_days {warn}.",
            first=size(pts[0][1]), now=size(pts[-1][1]),
            span=number((pts[-1][0] - pts[0][0]) / DAY, 1), n=fc["samples"],
            fit=number(fc["fit"], 2), rate=rate, days=days_text,
            warn=number(cfg["forecast_warn_days"]))
    title = _("Disk {mount} will be full in about {days} days", mount=mp, days=days_text)
    if basis is None:
        return Finding(
            f.check, f.subject, Status.WARN, title, Fault.UNDETERMINED,
            detail=why + " " + _("No walk of {mount} in that time says what grows.", mount=mp),
            evidence=f.evidence,
            remedy=[step(_("Find what grows: list the largest directories today and again "
                           "tomorrow, and compare:"),
                         f"du -xh --max-depth=3 {mp} | sort -h | tail -20"),
                    step(_("Or set [disk] scan = \"always\" so that the next runs name it."))])
    app = sum((r["bytes_per_day"] or r["bytes"]) for r in rows if r["app"])
    foreign = sum((r["bytes_per_day"] or r["bytes"]) for r in rows if not r["app"])
    first = rows[0] if rows else None
    if first is None:
        return Finding(f.check, f.subject, Status.WARN, title, Fault.UNDETERMINED,
                       detail=why + " " + _("No directory named by the walks grew."),
                       evidence=f.evidence,
                       remedy=[step(_("Look for files deleted but still held open:"),
                                    f"lsof +L1 {mp}")])
    named = join(", ", [
        _("{path} (+{rate} a day)", path=r["path"], rate=size(r["bytes_per_day"]))
        if r["bytes_per_day"] is not None else _("{path} ({size})", path=r["path"], size=size(r["bytes"]))
        for r in rows])
    if basis == "growth":
        cause = _("Growing fastest: {dirs}.", dirs=named)
    else:
        cause = _("Only one walk so far, so growth is not known; the largest: {dirs}.", dirs=named)
    if app > foreign:
        title = _("Disk {mount} will be full in about {days} days: the application's {path} grows",
                  mount=mp, days=days_text, path=first["path"])
        paths = " ".join(r["path"] for r in rows if r["app"])
        return Finding(
            f.check, f.subject, Status.WARN, title, Fault.SOFTWARE,
            detail=why + " " + cause + " " + _("This is the call-center application's own data: "
                                               "its retention or log rotation is missing or not "
                                               "working."),
            evidence=f.evidence,
            remedy=[step(_("Vendor: enable or fix retention/rotation for {paths}.", paths=paths)),
                    step(_("To free space now, list the oldest files, archive them elsewhere and "
                           "delete them:"), f"find {paths} -xdev -type f -mtime +90 -print")])
    owner = _owner(m, first["path"])
    title = _("Disk {mount} will be full in about {days} days: {path} grows", mount=mp,
              days=days_text, path=first["path"])
    who = (" " + _("(owner {owner})", owner=owner)) if owner else ""
    return Finding(
        f.check, f.subject, Status.WARN, title, Fault.SITE,
        detail=why + " " + cause + " " + _("This is not the call-center application's data."),
        evidence=f.evidence,
        remedy=[step(_("Move or delete what fills {path}{who} before the disk is full; ask the "
                       "owner first.", path=first["path"], who=who)),
                step(_("Then check the free space:"), f"df -h {mp}")])
