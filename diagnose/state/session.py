"""History around one run: what the CLI calls, in order.

    session = HistorySession.begin(config, registry, live=True)
    inputs = session.probe_inputs(host.hostname())   # -> collect(..., inputs=inputs)
                                                      # (called per check probed)
    session.attach(collection)                        # before --save-facts
    report = evaluate(...)
    report = session.finish(report, collection)       # marks, resolved, records the run

``attach`` stores what history knew in the collection, so the facts file
carries it and ``--from-facts`` marks findings the same way. Nothing here
raises: whatever goes wrong with history becomes ``report.history["note"]``
and, unless it is only a permission note for a user who is not root, a
``report.history`` warning finding. The report itself is never lost.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from typing import Any

from diagnose.i18n import _
from diagnose.model import CheckResult, Fault, Finding, Report, Status, make_verdict, step
from diagnose.state import state_dir
from diagnose.state.annotate import annotate
from diagnose.state.history import History, Trouble, _is_damage, epoch

CHECK = "report.history"


class HistorySession:
    """History for one run (see the module docstring)."""

    def __init__(self, config: Any, registry: Any, source: str) -> None:
        self.config, self.registry, self.source = config, registry, source
        self.live = source == "live"
        self.cfg: dict[str, Any] = dict(config.section("history"))
        self.directory = state_dir(config.section("site"))
        self.store: History | None = None
        self.troubles: list[Trouble] = []
        self.recording = bool(self.cfg.get("enabled", True) and (
            self.live or (source == "facts" and self.cfg.get("record_from_facts", False))))

    @classmethod
    def begin(cls, config: Any, registry: Any, source: str = "live") -> "HistorySession":
        """*source*: ``live`` (this machine: recorded), ``facts`` (--from-facts:
        marked from the history the facts file carries; recorded only with
        ``[history] record_from_facts``), ``tree`` (--root: a recorded tree is
        neither recorded nor marked)."""
        session = cls(config, registry, source)
        if session.recording:
            session.store, session.troubles = History.open(session.directory)
        return session

    @property
    def enabled(self) -> bool:
        return bool(self.cfg.get("enabled", True))

    @property
    def database(self) -> str:
        return self.store.path if self.store is not None else f"{self.directory}/history.db"

    def _guard(self, what: str, fn: Any, default: Any) -> Any:
        """Run *fn* against the store; damage sets the database aside and
        retries once on the new one; any other failure becomes a trouble."""
        for attempt in (1, 2):
            if self.store is None:
                return default
            try:
                return fn()
            except sqlite3.Error as exc:
                if attempt == 1 and _is_damage(exc) and self.store.writable:
                    self.troubles += self.store.reopen_after_damage(exc)
                    continue
                self.troubles.append(Trouble("error", self.database, f"{what}: {exc}"))
                self.store.writable = False
                return default
            except Exception as exc:  # noqa: BLE001 - history never breaks a run
                self.troubles.append(Trouble("error", self.database,
                                             f"{what}: {type(exc).__name__}: {exc}"))
                return default
        return default

    # -- before probing ---------------------------------------------------------
    def probe_inputs(self, host_name: str) -> Any:
        """What the runner calls for each check it is about to probe: the
        check's own recorded numbers for its probe (``cfg["_history"]``), or
        None. Only checks that run are asked, so no other check is imported."""
        if self.store is None or not self.live:
            return None
        now = time.time()

        def inputs(check: Any, cfg: dict[str, Any]) -> Any:
            try:
                days, runs = check.history_window(cfg)
            except Exception:  # noqa: BLE001 - a plugin's hook must not break the run
                return None
            if days <= 0 and runs <= 0:
                return None
            return self._guard("reading samples", lambda: self.store.samples(
                host_name, check.name, now, float(days), int(runs)), None)

        return inputs

    def _section(self, check: Any) -> dict[str, Any]:
        return self.config.for_check(check)

    # -- after probing ------------------------------------------------------------
    def attach(self, col: Any) -> None:
        """Put what history knew before this run into the collection."""
        if self.store is None or not self.enabled:
            return
        ran = [n for n, r in col.results.items() if r.state == "ran"]
        col.history = self._guard("reading the history", lambda: self.store.context(
            col.host, ran, epoch(col.started), int(self.cfg.get("recent_runs", 30))), None)

    # -- after judging --------------------------------------------------------------
    def finish(self, report: Report, col: Any) -> Report:
        """Mark the findings, list what was resolved, record the run, and say
        what happened to history. Returns the report (with a
        ``report.history`` finding when something went wrong)."""
        if not self.enabled or self.source == "tree":
            return report
        context = col.history
        if context is None and self.store is not None and self.recording:
            context = self._guard("reading the history", lambda: self.store.context(
                report.host, [c.name for c in report.checks], epoch(report.started),
                int(self.cfg.get("recent_runs", 30))), None)
        if context is None and not self.recording and not self.troubles:
            return report  # facts collected without history: nothing to say
        flags: dict[str, bool] = {}
        report.history = {"database": (context or {}).get("database") or self.database,
                          "recorded": False}
        if context is not None:
            try:
                flags = annotate(report, context, self.cfg)
            except Exception as exc:  # noqa: BLE001 - a malformed context from a facts file
                self.troubles.append(Trouble("error", self.database,
                                             f"history in the facts file unusable: {exc}"))
        if self.recording and self.store is not None and self.store.writable:
            run = self._guard("recording this run", lambda: self.store.record(
                report, self._numbers, flags, "live" if self.live else "facts",
                float(self.cfg.get("keep_days", 400)), int(self.cfg.get("keep_runs", 5000))), None)
            report.history["recorded"] = run is not None
            report.history["database"] = self.database
        if self.store is not None:
            self.store.close()
        return self._say(report)

    def _numbers(self, f: Finding) -> dict[str, Any]:
        check = self.registry.checks.get(f.check)
        if check is None:
            from diagnose.check import Check

            check = Check()
        try:
            return dict(check.history_numbers(f))
        except Exception:  # noqa: BLE001 - numbers are a bonus, never a failure
            return {}

    @property
    def note(self) -> str:
        return "; ".join(_note(t) for t in self.troubles)

    def _say(self, report: Report) -> Report:
        if not self.troubles:
            return report
        report.history = dict(report.history or {}, note=self.note)
        findings = [_finding(t, report.history) for t in self.troubles if not t.note_only]
        if not findings:
            return report
        # One finding per database: the worst story is the first.
        seen: dict[str, Finding] = {}
        for f in findings:
            seen.setdefault(f.subject, f)
        extra = list(seen.values())
        all_findings = report.findings + extra
        checks = report.checks + [CheckResult(CHECK, Status.WARN, 0.0)]
        return dataclasses.replace(report, findings=all_findings, checks=checks,
                                   verdict=make_verdict(all_findings, checks))


def _note(t: Trouble) -> str:
    if t.kind == "damaged":
        return (f"history database {t.database} was damaged ({t.error}); set aside as "
                f"{t.set_aside}, a new one started")
    if t.kind == "denied":
        return (f"history not kept: {t.error}; run as root or point DIAGNOSE_STATE_DIR at a "
                "writable directory")
    return f"history not recorded: {t.error}"


def _finding(t: Trouble, summary: dict[str, Any]) -> Finding:
    recorded = bool(summary.get("recorded"))
    marked = "new" in summary  # the findings were marked from the runs before
    evidence = {"database": t.database, "kind": t.kind, "error": t.error,
                "set_aside": t.set_aside, "recorded": recorded}
    directory = t.database.rsplit("/", 1)[0] or "/"
    if t.kind == "damaged":
        started = (_("This run was recorded in a new history") if recorded
                   else _("A new history was started"))
        return Finding(
            CHECK, t.database, Status.WARN,
            _("History database was damaged: set aside, a new one started"), Fault.UNDETERMINED,
            detail=_("{db} could not be used ({error}). It was renamed to {aside}. {started}, so "
                     "earlier runs no longer count towards new, recurring and flapping. The report "
                     "itself is complete.", db=t.database, error=t.error, aside=t.set_aside,
                     started=started),
            evidence=evidence,
            remedy=[step(_("Nothing is needed for the next runs. To look at the old file:"),
                         f"sqlite3 {t.set_aside} 'PRAGMA integrity_check'"),
                    step(_("Delete it when done. If this happens again, look for disk errors "
                           "where {dir} lives:", dir=directory),
                         "dmesg | grep -iE 'i/o error|ext4|xfs|btrfs'")])
    if t.kind == "readonly":
        how = (_("The report is complete, marked from the runs recorded before.") if marked
               else _("The report is complete."))
        return Finding(
            CHECK, t.database, Status.WARN,
            _("Run history not recorded: {dir} is read-only", dir=directory), Fault.UNDETERMINED,
            detail=_("This run could not be written to the history ({error}). {how} A filesystem "
                     "that turned read-only is often one the kernel remounted after disk errors.",
                     error=t.error, how=how),
            evidence=evidence,
            remedy=[step(_("Find why it is read-only (ro in OPTIONS):"), f"findmnt -T {directory}"),
                    step(_("Look for the kernel remounting it after errors:"),
                         "dmesg | grep -iE 'remount|i/o error'"),
                    step(_("Repair and remount it read-write, or set [site] state_dir to a "
                           "writable directory."))])
    return Finding(
        CHECK, t.database, Status.WARN, _("Run history not recorded: {error}", error=t.error),
        Fault.UNDETERMINED,
        detail=_("Writing or reading {db} failed ({error}). The report is complete; this run is "
                 "missing from the history.", db=t.database, error=t.error),
        evidence=evidence,
        remedy=[step(_("Check the state directory for a full disk:"), f"df -h {directory}"),
                step(_("and the owner and mode of the database:"), f"ls -l {t.database}*"),
                step(_("See what the history holds:"), "diagnose history")])
