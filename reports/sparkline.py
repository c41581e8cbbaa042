"""A mount's free space over its last runs as a small inline SVG, with the
disk-full forecast as a dashed line down to zero.

The data come from the ``disk.space`` finding's evidence: ``free_trend``
(``{t: [epoch...], free_bytes: [...], size_bytes}``, the last 30 runs) and
``forecast`` (``days_to_full``, ``rate_bytes_per_day``, ``fit``). The SVG is
built from numbers only; the one piece of system text in it (the mountpoint,
in ``<title>``) is escaped. It has no script, style sheet or external
reference, so it survives mail clients that allow inline SVG; those that drop
SVG still show the text beside it.
"""

from __future__ import annotations

from html import escape
from typing import Any

DAY = 86400.0
WIDTH, HEIGHT, PAD = 240, 48, 3
LINE, FILL, FORECAST = "#0969da", "#ddf4ff", "#cf222e"


def _fmt(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def svg(trend: dict[str, Any], forecast: dict[str, Any] | None = None, label: str = "") -> str:
    """The sparkline of *trend*, with *forecast*'s line when it has one.
    The y axis runs from 0 (full) at the bottom to the most free space seen;
    the x axis from the first run to the last, extended by up to the same
    span again to show the forecast reaching zero."""
    ts = [float(t) for t in trend.get("t", [])]
    ys = [float(y) for y in trend.get("free_bytes", [])]
    n = min(len(ts), len(ys))
    if n < 2:
        return ""
    ts, ys = ts[:n], ys[:n]
    t0, t1 = ts[0], ts[-1]
    span = max(t1 - t0, 1.0)
    end = t1
    full_at = None
    rate = float((forecast or {}).get("rate_bytes_per_day") or 0)
    if rate > 0 and forecast.get("days_to_full") is not None:
        full_at = t1 + float(forecast["days_to_full"]) * DAY
        end = min(full_at, t1 + span)
    top = max(max(ys), 1.0)

    def x(t: float) -> float:
        return PAD + (WIDTH - 2 * PAD) * (t - t0) / max(end - t0, 1.0)

    def y(v: float) -> float:
        return HEIGHT - PAD - (HEIGHT - 2 * PAD) * max(v, 0.0) / top

    pts = " ".join(f"{_fmt(x(t))},{_fmt(y(v))}" for t, v in zip(ts, ys))
    area = f"{_fmt(x(t0))},{_fmt(y(0))} {pts} {_fmt(x(t1))},{_fmt(y(0))}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" data-role="sparkline" '
        f'style="display:block;margin:6px 0">',
        f"<title>{escape(label)}</title>" if label else "",
        f'<line x1="{PAD}" y1="{_fmt(y(0))}" x2="{WIDTH - PAD}" y2="{_fmt(y(0))}" '
        f'stroke="#d0d7de" stroke-width="1"/>',
        f'<polygon points="{area}" fill="{FILL}" stroke="none"/>',
        f'<polyline points="{pts}" fill="none" stroke="{LINE}" stroke-width="1.5"/>',
    ]
    if full_at is not None:
        v_end = ys[-1] - rate * (end - t1) / DAY
        parts.append(f'<line data-role="forecast" x1="{_fmt(x(t1))}" y1="{_fmt(y(ys[-1]))}" '
                     f'x2="{_fmt(x(end))}" y2="{_fmt(y(v_end))}" stroke="{FORECAST}" '
                     f'stroke-width="1.5" stroke-dasharray="4 3"/>')
    parts.append(f'<circle cx="{_fmt(x(t1))}" cy="{_fmt(y(ys[-1]))}" r="2.5" fill="{LINE}"/>')
    parts.append("</svg>")
    return "".join(parts)


def for_finding(f: Any) -> str:
    """The sparkline of a ``disk.space`` finding, or "" when it has no trend."""
    ev = getattr(f, "evidence", None) or {}
    trend = ev.get("free_trend")
    if not isinstance(trend, dict):
        return ""
    fc = ev.get("forecast") if isinstance(ev.get("forecast"), dict) else None
    n = len(trend.get("t", []))
    label = f"Free space of {ev.get('mount', f.subject)} over the last {n} runs"
    if fc and fc.get("days_to_full") is not None:
        label += f"; full in about {fc['days_to_full']:g} days at this rate (fit R² {fc.get('fit')})"
    try:
        return svg(trend, fc, label)
    except (TypeError, ValueError, ZeroDivisionError):
        return ""
