"""What the run history says, in the words every renderer shows: the mark of
a finding (new, recurring, flapping) and the line "since the previous run:
2 new, 1 resolved". Messages are marked for translation; renderers pass
them through ``tr`` like every other text."""

from __future__ import annotations

from typing import Any

from diagnose.i18n import _, _n, join, when
from diagnose.model import Finding, Report


def mark(f: Finding) -> Any:
    """The finding's history mark, or None (persistent findings and findings
    without history carry none: they are what the reader expects)."""
    h = getattr(f, "history", None) or {}
    state = h.get("state")
    if state == "new":
        return _("new")
    if state == "recurring":
        return _("recurring: {k} of the last {n} runs", k=h.get("runs_seen", 0),
                 n=h.get("runs_window", 0))
    if state == "flapping":
        return _("flapping: {p}% state change", p=h.get("flap_percent", 0))
    return None


def since(report: Report) -> Any:
    """"Since the previous run (...): 2 new, 1 resolved", or the first run's
    line, or None when no history was consulted."""
    h = getattr(report, "history", None)  # a site report has none
    if not h or "new" not in h:
        return None
    if not h.get("previous_run"):
        return _("First run in the history: nothing to compare with yet.")
    return _("Since the previous run ({when}): {new}, {resolved}", when=when(h["previous_run"]),
             new=_n("{n} new", "{n} new", h.get("new", 0)),
             resolved=_n("{n} resolved", "{n} resolved", h.get("resolved", 0)))


def resolved(report: Report) -> Any:
    """"Resolved: id, id" or None."""
    if not getattr(report, "resolved", None):
        return None
    return _("Resolved since the previous run: {ids}", ids=join(", ", report.resolved))


def note(report: Report) -> Any:
    """What went wrong with history, when no finding says it already."""
    h = getattr(report, "history", None) or {}
    if not h.get("note") or any(f.check == "report.history" for f in report.findings):
        return None
    return _("History: {note}", note=h["note"])
