"""The day of each queue as a picture for the HTML report: offered,
answered and abandoned calls per hour as bars, the average speed of answer
per hour as a line on its own scale, in inline SVG.

Self-contained like the rest of the report: no script, no external file,
presentation attributes only. Mail clients that do not draw SVG (some
webmail) still get the same figures as a small table under it. Queue
names and every other string are escaped. Reads only ``queue.kpi``
findings' ``evidence.per_hour``; a window longer than four days is drawn
per day.
"""

from __future__ import annotations

import html
import time
from typing import Any

from diagnose.i18n import N_, _, number_text, tr
from diagnose.model import Report

W, H = 880, 250
LEFT, RIGHT, TOP, BOTTOM = 44, 48, 30, 42
COLOURS = {"offered": "#8c959f", "answered": "#1a7f37", "abandoned": "#cf222e", "asa": "#bc4c00"}
PER = {"hour": N_("per hour"), "day": N_("per day")}
N_("hour"), N_("day")  # the table's first column, named by rows_of's unit
LEGEND = {"offered": N_("offered"), "answered": N_("answered"), "abandoned": N_("abandoned"),
          "asa": N_("ASA (right scale)")}
BAR = {"offered": N_("{label} offered {n}"), "answered": N_("{label} answered {n}"),
       "abandoned": N_("{label} abandoned {n}")}


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _nice(top: float) -> float:
    """A round axis maximum at or above *top*."""
    if top <= 0:
        return 1.0
    step = 10 ** (len(str(int(top))) - 1)
    for mult in (1, 2, 2.5, 5, 10):
        if top <= mult * step:
            return float(mult * step)
    return float(10 * step)


def _by_day(rows: list[dict[str, Any]], offset: int) -> list[dict[str, Any]]:
    days: dict[str, dict[str, Any]] = {}
    for r in rows:
        label = time.strftime("%m-%d", time.gmtime(r["start"] + offset))
        d = days.setdefault(label, {"label": label, "offered": 0, "answered": 0, "abandoned": 0, "hold": 0.0})
        for k in ("offered", "answered", "abandoned"):
            d[k] += r[k]
        d["hold"] += (r.get("asa_s") or 0) * r["answered"]
    out = []
    for d in days.values():
        d["asa_s"] = round(d["hold"] / d["answered"], 1) if d["answered"] else None
        out.append(d)
    return out


def rows_of(evidence: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    per_hour = evidence.get("per_hour") or []
    offset = (evidence.get("window") or {}).get("utc_offset_s", 0)
    if len(per_hour) > 96:
        return _by_day(per_hour, offset), "day"
    return [dict(r, label=r["hour"][-5:-3]) for r in per_hour], "hour"


def svg(queue: str, evidence: dict[str, Any], lang: str = "en") -> str:
    def t(message: str) -> str:
        return _e(tr(message, lang))

    rows, unit = rows_of(evidence)
    per = _(PER[unit])
    n = max(1, len(rows))
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    top_calls = _nice(max([r["offered"] for r in rows] + [r["answered"] for r in rows] + [1]))
    asa = [r.get("asa_s") for r in rows]
    top_asa = _nice(max([a for a in asa if a is not None] + [(evidence.get("targets") or {}).get("asa_s") or 0, 1]))
    slot = plot_w / n
    bar = max(1.0, slot / 4)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {W} {H}" role="img" '
             f'aria-label="{t(_("Queue {queue}: calls and average speed of answer {per}", queue=queue, per=per))}" '
             f'style="max-width:{W}px;height:auto;display:block;background:#ffffff" '
             f'font-family="Arial,Helvetica,sans-serif" font-size="11">',
             f'<title>{t(_("Queue {queue}: offered, answered, abandoned calls and ASA {per}", queue=queue, per=per))}'
             '</title>']
    # Grid and left axis (calls).
    for i in range(5):
        y = TOP + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}" stroke="#d0d7de" '
                     f'stroke-width="1"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#57606a">'
                     f'{top_calls * i / 4:g}</text>')
        parts.append(f'<text x="{W - RIGHT + 6}" y="{y + 4:.1f}" fill="{COLOURS["asa"]}">'
                     f'{top_asa * i / 4:g}</text>')
    parts.append(f'<text x="{LEFT - 6}" y="{TOP - 12}" text-anchor="end" fill="#57606a">{t(_("calls"))}</text>')
    parts.append(f'<text x="{W - RIGHT + 6}" y="{TOP - 12}" fill="{COLOURS["asa"]}">{t(_("ASA s"))}</text>')
    target = (evidence.get("targets") or {}).get("asa_s")
    if target:
        y = TOP + plot_h - plot_h * min(target, top_asa) / top_asa
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}" stroke="{COLOURS["asa"]}" '
                     f'stroke-width="1" stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{LEFT + 4}" y="{y - 4:.1f}" fill="{COLOURS["asa"]}">'
                     f'{t(_("ASA target {target:g} s", target=target))}</text>')
    every = max(1, round(n / 24))
    points = []
    for i, r in enumerate(rows):
        x0 = LEFT + i * slot + (slot - 3 * bar) / 2
        for j, key in enumerate(("offered", "answered", "abandoned")):
            hgt = plot_h * r[key] / top_calls
            parts.append(f'<rect x="{x0 + j * bar:.1f}" y="{TOP + plot_h - hgt:.1f}" width="{bar:.1f}" '
                         f'height="{hgt:.1f}" fill="{COLOURS[key]}">'
                         f'<title>{t(_(BAR[key], label=r["label"], n=r[key]))}</title></rect>')
        if i % every == 0:
            parts.append(f'<text x="{LEFT + (i + 0.5) * slot:.1f}" y="{TOP + plot_h + 14}" '
                         f'text-anchor="middle" fill="#57606a">{_e(r["label"])}</text>')
        if r.get("asa_s") is not None:
            points.append((LEFT + (i + 0.5) * slot, TOP + plot_h - plot_h * min(r["asa_s"], top_asa) / top_asa,
                           r))
    if points:
        parts.append('<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>'.format(
            COLOURS["asa"], " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)))
        for x, y, r in points:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{COLOURS["asa"]}">'
                         f'<title>{t(_("{label} ASA {s:g} s", label=r["label"], s=r["asa_s"]))}</title></circle>')
    lx = LEFT
    for key, label in LEGEND.items():
        text = tr(_(label), lang)
        parts.append(f'<rect x="{lx}" y="{H - 14}" width="10" height="10" fill="{COLOURS[key]}"/>')
        parts.append(f'<text x="{lx + 14}" y="{H - 5}" fill="#24292f">{_e(text)}</text>')
        lx += 24 + 7 * len(text)
    parts.append(f'<text x="{W - RIGHT}" y="{H - 5}" text-anchor="end" fill="#57606a">'
                 f'{t(_("local time, {per}", per=per))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _asa(row: dict[str, Any], lang: str) -> str:
    return "" if row.get("asa_s") is None else _e(number_text(str(row["asa_s"]), lang))


def table(evidence: dict[str, Any], lang: str = "en") -> str:
    rows, unit = rows_of(evidence)
    names = [tr(_(x), lang) for x in (unit, "offered", "answered", "abandoned", "ASA s")]
    summary = tr(_("Figures {per}", per=_(PER[unit])), lang)
    rows = [r for r in rows if r["offered"] or r["answered"] or r["abandoned"]]
    cell = 'style="padding:2px 6px;border-top:1px solid #d0d7de;text-align:right"'
    head = "".join(f'<th style="padding:2px 6px;text-align:right">{_e(h)}</th>' for h in names)
    body = "".join(
        f"<tr><td {cell}>{_e(r['label'])}</td><td {cell}>{r['offered']}</td><td {cell}>{r['answered']}</td>"
        f"<td {cell}>{r['abandoned']}</td><td {cell}>{_asa(r, lang)}</td></tr>"
        for r in rows)
    return (f'<details style="margin-top:6px"><summary style="cursor:pointer;color:#0550ae;font-size:13px">'
            f'{_e(summary)}</summary><table style="border-collapse:collapse;font-size:12px;margin-top:4px">'
            f"<tr>{head}</tr>{body}</table></details>")


def figures(report: Report, lang: str = "en") -> list[str]:
    """One block (heading, SVG, table) per queue.kpi finding with hourly
    figures, as HTML strings already escaped: the template inserts them as
    they are."""
    out = []
    for f in sorted(report.findings, key=lambda f: f.subject):
        if f.check != "queue.kpi" or not f.evidence.get("per_hour"):
            continue
        ev = f.evidence
        try:
            sub = tr(_("{offered} offered, {answered} answered, {abandoned} abandoned", offered=ev.get("offered", 0),
                       answered=ev.get("answered", 0), abandoned=ev.get("abandoned", 0)), lang)
            if ev.get("asa_s") is not None:
                sub += ", " + tr(_("ASA {s:g} s", s=ev["asa_s"]), lang)
            head = tr(_("Queue {queue}: the day per hour", queue=f.subject), lang)
            out.append(f'<div data-role="kpi-chart" data-queue="{_e(f.subject)}" style="margin:0 0 16px 0;'
                       f'padding:12px 14px;background:#ffffff;border:1px solid #d0d7de;border-radius:6px">'
                       f'<div style="font-size:15px;font-weight:600;margin-bottom:2px">{_e(head)}</div>'
                       f'<div style="font-size:13px;color:#57606a;margin-bottom:6px">'
                       f'{_e(sub)}</div>{svg(f.subject, ev, lang)}{table(ev, lang)}</div>')
        except (TypeError, ValueError, KeyError, AttributeError, ZeroDivisionError):
            continue  # figures of an unexpected shape (a damaged facts file): no chart, the evidence stays
    return out
