"""Email delivery of the report (``diagnose run --email``, ``[email]``).

Nothing is lost when mail fails. In order, one delivery:

1. retries mail spooled by earlier runs (oldest first) and turns what
   happened to it into a ``report.delivery`` finding of *this* report, so the
   recipients learn that an earlier report was late or is still stuck;
2. writes the report as JSON into ``reports_dir`` (atomically) and prunes
   old reports by count (``keep``) and age (``keep_days``);
3. decides whether to mail at all (``when``: always, on-fault, on-change
   against the previous saved report);
4. sends one message: multipart/mixed holding a multipart/alternative (plain
   text and HTML of the same report) and the JSON report as an attachment;
   when SMTP fails, the message is spooled under ``reports_dir/spool`` with
   the error beside it, for the next run.

The SMTP password comes from the environment variable named by
``password_env``; it is never stored, logged or put into an error message.

Nothing here can hang or lose the report: all SMTP traffic of one delivery
(spooled retries and this report) shares one deadline (``[email]
deadline_s``, default 60 s), enforced by closing the connection, so a server
that drips its greeting a byte at a time cannot hold the run (and its lock)
forever; a report that cannot be saved in ``reports_dir`` goes to
``fallback_dir`` or nowhere, and is mailed and printed all the same
(:mod:`diagnose.delivery.store`); a spooled mail is written together with
its metadata, or not at all.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import json
import os
import time
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from pathlib import Path
from typing import Any, Mapping

from diagnose.delivery import message
from diagnose.delivery.message import WIRE_POLICY
from diagnose.fsutil import atomic_write, discard, reason, sync_dir, write_temp
from diagnose.redact import redact_text
from diagnose.i18n import _, _n, join
from diagnose.model import CheckResult, Fault, Finding, Report, Status, make_verdict, step
from diagnose.delivery.store import (CHECK, FALLBACK_DIR, Saved, not_saved_finding, previous_report,
                                     save, stamp as _stamp)

from diagnose.delivery.smtp import DEADLINE_S, SMTP_TIMEOUT, MailError, smtp_send  # noqa: F401 (API)


@dataclasses.dataclass
class Delivery:
    """What ``deliver`` did, for the CLI to tell the user."""

    saved: str | None
    sent: bool = False
    reason: str = ""  # why nothing was sent (when = on-fault / on-change)
    spooled: str | None = None
    error: str | None = None
    retried: int = 0  # earlier spooled messages delivered now
    not_saved: str = ""  # where saving was tried and why each place refused
    spool_error: str = ""  # the mail failed and could not be spooled either

    def summary(self, recipients: list[str]) -> str:
        """What happened, on one line (a message: the CLI shows it in the
        reader's language)."""
        if self.saved is None:
            parts = [_("report NOT saved ({why})", why=self.not_saved)]
        elif self.not_saved:
            parts = [_("report saved to {path} (not in reports_dir: {why})", path=self.saved,
                       why=self.not_saved)]
        else:
            parts = [_("report saved to {path}", path=self.saved)]
        if self.retried:
            parts.append(_n("{n} earlier spooled report delivered", "{n} earlier spooled reports delivered",
                            self.retried))
        if self.sent:
            parts.append(_("mailed to {to}", to=", ".join(recipients)))
        elif self.spooled:
            parts.append(_("mail NOT delivered ({error}); spooled as {path} and retried on the next run",
                           error=self.error, path=self.spooled))
            if self.spool_error:
                parts.append(_("some could not be spooled: {error}", error=self.spool_error))
        elif self.error:
            parts.append(_("mail NOT delivered ({error}) and NOT spooled ({why}); the report is only in "
                           "this output", error=self.error, why=self.spool_error))
        else:
            parts.append(_("no mail: {why}", why=self.reason))
        return join("; ", parts)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# --- the message -----------------------------------------------------------

def subject(report: Report, lang: str = "en") -> str:
    return message.subject(report, lang)


def build_message(report: Report, cfg: Mapping[str, Any], group: message.Group | None = None,
                  site_addresses: Any = ()) -> EmailMessage:
    """The message for one group of recipients (default: every [email]
    to and cc, the vendor's report in English); see diagnose.delivery.message."""
    if group is None:
        group = message.Group("vendor", "en", list(cfg["to"]), list(cfg.get("cc") or []))
    return message.build(report, cfg, group, site_addresses)


def _recipients(msg: EmailMessage) -> list[str]:
    return [a for _, a in getaddresses(msg.get_all("To", []) + msg.get_all("Cc", []))]


# --- SMTP --------------------------------------------------------------------

# --- the spool -----------------------------------------------------------------

def spool_dir(cfg: Mapping[str, Any]) -> Path:
    return Path(cfg["reports_dir"]) / "spool"


def spool_dirs(cfg: Mapping[str, Any]) -> list[Path]:
    """Where mail is spooled: under reports_dir, else under fallback_dir."""
    return [spool_dir(cfg), Path(cfg.get("fallback_dir") or FALLBACK_DIR) / "spool"]


def _spool(msg: EmailMessage, cfg: Mapping[str, Any], error: MailError, when: dt.datetime,
           part: int = 0) -> Path:
    """Spool *msg* with its metadata beside it: both files are written in
    full before either is renamed into place, so the spool holds a mail
    with its record or nothing. Raises OSError naming every place tried."""
    from diagnose.delivery.store import room

    meta = {"subject": str(msg["Subject"]), "to": _recipients(msg),
            "first_failed": when.isoformat(timespec="seconds"), "attempts": 1,
            "last_error": redact_text(str(error)), "fault": error.fault.value}
    body = msg.as_string(policy=WIRE_POLICY).encode("utf-8")
    record = (json.dumps(meta, indent=1) + "\n").encode("utf-8")
    tried = []
    for d in spool_dirs(cfg):
        try:
            why = room(d, len(body) + len(record)) if d.is_dir() else None
            if why:
                raise OSError(errno.ENOSPC, why)
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
            eml = d / (f"{_stamp(when)}.eml" if not part else f"{_stamp(when)}-{part}.eml")
            _write_pair(eml, body, record)
            return eml
        except OSError as exc:
            tried.append(f"{d}: {reason(exc)}")
    raise OSError(errno.EIO, "; ".join(tried))


def _write_pair(eml: Path, body: bytes, record: bytes) -> None:
    tmp_eml = write_temp(str(eml.parent), body, 0o600)
    try:
        tmp_meta = write_temp(str(eml.parent), record, 0o600)
    except BaseException:
        discard(tmp_eml)
        raise
    meta = eml.with_suffix(".json")
    try:
        os.replace(tmp_meta, meta)  # the record first: an .eml is never seen without it
        os.replace(tmp_eml, eml)
    except BaseException:
        for p in (tmp_meta, tmp_eml, str(meta)):
            discard(p)
        raise
    sync_dir(str(eml.parent))


def _spooled(cfg: Mapping[str, Any]) -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for d in spool_dirs(cfg):
        try:
            names = sorted(d.glob("*.eml")) if d.is_dir() else []
            for meta in d.glob("*.json") if d.is_dir() else []:
                if not meta.with_suffix(".eml").exists():
                    discard(str(meta))  # a record whose mail never made it into place
        except OSError:
            continue
        for eml in names:
            try:
                meta = json.loads(eml.with_suffix(".json").read_text(encoding="utf-8"))
                if not isinstance(meta, dict):
                    raise ValueError("not an object")
            except (OSError, ValueError):
                meta = {"subject": "?", "to": [], "first_failed": "unknown", "attempts": 0,
                        "last_error": "no record of the failure", "fault": "undetermined"}
            out.append((eml, meta))
    return sorted(out, key=lambda e: e[0].name)


def _drop(eml: Path) -> None:
    for p in (eml, eml.with_suffix(".json")):
        discard(str(p))


def flush_spool(cfg: Mapping[str, Any], env: Mapping[str, str],
                now: dt.datetime | None = None, deadline: float | None = None) -> Finding | None:
    """Retry spooled mail, oldest first; stop at the first failure (the
    server is still down for the rest). Spooled mail past the retention
    (``keep`` messages, ``keep_days`` days) is dropped; its report stays in
    reports_dir. Returns the finding to add to this run's report, or None
    when nothing was spooled."""
    now = now or _now()
    entries = _spooled(cfg)
    if not entries:
        return None
    dropped = []
    cutoff = now - dt.timedelta(days=cfg["keep_days"])
    for i, (eml, meta) in enumerate(entries):
        too_many = i < len(entries) - cfg["keep"]
        try:
            mtime = dt.datetime.fromtimestamp(eml.stat().st_mtime, dt.timezone.utc)
        except OSError:
            continue
        if too_many or mtime < cutoff:
            dropped.append(meta)
            _drop(eml)
    entries = [(e, m) for e, m in entries if e.exists()]

    delivered, stuck, error = [], [], None
    for eml, meta in entries:
        if error is None:
            try:
                with eml.open("rb") as fh:
                    msg = BytesParser(policy=WIRE_POLICY).parse(fh)
            except OSError:
                continue
            try:
                smtp_send(msg, cfg, env, deadline)
            except MailError as exc:
                error = exc
                meta["attempts"] = meta.get("attempts", 0) + 1
                meta["last_error"] = redact_text(str(exc))
                meta["fault"] = exc.fault.value
                try:
                    atomic_write(str(eml.with_suffix(".json")), json.dumps(meta, indent=1) + "\n", 0o600)
                except OSError:
                    pass  # a full or read-only spool keeps the previous record
            else:
                delivered.append(meta)
                _drop(eml)
                continue
        stuck.append(meta)
    return _delivery_finding(cfg, delivered, stuck, dropped, error)


def _delivery_finding(cfg: Mapping[str, Any], delivered: list[dict], stuck: list[dict],
                      dropped: list[dict], error: MailError | None) -> Finding:
    where = f"{cfg['smtp_host']}:{cfg['smtp_port']}"
    first = (stuck or delivered or dropped)[0]
    evidence = {"smtp": where, "delivered_late": delivered, "still_spooled": stuck,
                "dropped_unsent": dropped, "spool": str(spool_dir(cfg))}
    probe = f"timeout 5 bash -c '</dev/tcp/{cfg['smtp_host']}/{cfg['smtp_port']}' && echo reachable"
    if stuck:
        fault = error.fault if error else Fault.UNDETERMINED
        return Finding(
            CHECK, where, Status.WARN,
            _n("{n} report mail undelivered since {since}: {error}",
               "{n} report mails undelivered since {since}: {error}", len(stuck),
               since=first["first_failed"], error=first["last_error"]),
            fault,
            detail=_("Reports mailed since {since} could not be handed to the SMTP server {where}; they "
                     "are spooled in {spool} and retried on every run. Latest error: {error}.",
                     since=first["first_failed"], where=where, spool=str(spool_dir(cfg)),
                     error=stuck[-1]["last_error"]),
            evidence=evidence,
            remedy=[step(_("Check that the SMTP server {where} is up and reachable from this host:",
                           where=where), probe),
                    step(_("Check that [email] smtp_host, smtp_port, user and password_env are right; "
                           "the spooled reports go out on the next run."))])
    if delivered and not dropped:
        # Late but delivered, nothing pending: information for the reader, not
        # a fault of anyone's to count in this run's verdict or mail subject.
        return Finding(
            CHECK, where, Status.OK,
            _n("{n} earlier report mail delivered late, nothing pending",
               "{n} earlier report mails delivered late, nothing pending", len(delivered)),
            None,
            detail=_("The report mail of {since} could not be sent then ({error}); it was delivered "
                     "on this run.", since=first["first_failed"], error=first["last_error"]),
            evidence=evidence)
    what = (_n("{n} earlier report mail delivered late", "{n} earlier report mails delivered late",
               len(delivered)) if delivered else
            _n("{n} undelivered report mail dropped from the spool",
               "{n} undelivered report mails dropped from the spool", len(dropped)))
    reason = first["last_error"]
    return Finding(
        CHECK, where, Status.WARN,
        _("{what}: first attempt {since} failed: {error}", what=what, since=first["first_failed"],
          error=reason),
        Fault(first.get("fault") or "undetermined"),
        detail=(_("The report mail of {since} could not be sent then ({error}); it was delivered on "
                  "this run.", since=first["first_failed"], error=reason) if delivered else
                _("The report mail of {since} could not be sent then ({error}); it was past the "
                  "spool's retention ([email] keep / keep_days) and was dropped; the report itself is "
                  "still in reports_dir.", since=first["first_failed"], error=reason)),
        evidence=evidence,
        remedy=[step(_("Nothing is pending now. If it recurs, check that the SMTP server {where} stays "
                       "up and reachable from this host:", where=where), probe)])


# --- saved reports (diagnose.delivery.store) ---------------------------------------

def save_report(report: Report, cfg: Mapping[str, Any], now: dt.datetime | None = None) -> Path:
    """Write *report* into reports_dir (pruned by keep / keep_days); raises
    OSError when reports_dir cannot take it. :func:`deliver` uses
    :func:`diagnose.delivery.store.save` with the fallback instead."""
    saved = save(report, cfg, now or _now(), [], [cfg["reports_dir"]])
    if saved.path is None:
        raise OSError(errno.EIO, saved.refusals())
    return Path(saved.path)


def _problems(report: dict[str, Any]) -> set[tuple[str, str]]:
    """What on-change compares: the problems and their status, the checks
    that could not run, and (from the run history) the findings that flap,
    whose coming and going is no news while they keep flapping."""
    out = set()
    for f in report.get("findings", []):
        if f.get("check") in (CHECK, "report.history"):
            continue
        if (f.get("history") or {}).get("state") == "flapping":
            out.add((f["id"], "flapping"))
        elif f["status"] in ("warn", "fail", "error"):
            out.add((f["id"], f["status"]))
    out |= {(c["name"], "could not run") for c in report.get("checks", []) if c["status"] == "error"}
    return out


def why_not_send(report: Report, when: str, previous: dict[str, Any] | None) -> str | None:
    """None when the report should be mailed, else the reason it is not.

    on-change: mail when the problems differ from the previous saved report.
    When both reports carry the run history, a finding that flaps counts as
    one unchanging "flapping" problem (mailed when it starts or stops
    flapping), and the verdict it swings is not compared."""
    if when == "on-fault" and not report.verdict.status.is_problem:
        return _("when = on-fault and every check passed")
    if when == "on-change" and previous is not None:
        now = report.to_dict()
        historic = now.get("history") is not None and previous.get("history") is not None
        if _problems(previous) == _problems(now) and (
                historic or previous.get("verdict", {}).get("status") == now["verdict"]["status"]):
            flapping = sorted(i for i, s in _problems(now) if s == "flapping")
            reason = _("when = on-change and nothing changed since the previous report")
            if flapping:
                reason = reason + " " + _("(flapping, not mailed each time: {ids})",
                                          ids=", ".join(flapping))
            return reason
    return None


# --- the whole delivery ----------------------------------------------------------

def with_finding(report: Report, finding: Finding) -> Report:
    """A copy of *report* with *finding* added as a result of its own
    pseudo-check, linked by attribution (a report not saved on a full disk
    is a consequence of the disk finding), verdict recomputed."""
    from diagnose.attribution import attribute

    findings = attribute(report.findings + [finding])
    checks = list(report.checks)
    mine = [i for i, c in enumerate(checks) if c.name == CHECK]
    if mine:
        old = checks[mine[0]]
        checks[mine[0]] = CheckResult(CHECK, max(old.status, finding.status), old.duration_s)
    else:
        checks.append(CheckResult(CHECK, finding.status, 0.0))
    return dataclasses.replace(report, findings=findings, checks=checks,
                               verdict=make_verdict(findings, checks))


def _save(report: Report, cfg: Mapping[str, Any], now: dt.datetime) -> tuple[Report, Saved]:
    """Save in reports_dir; failing that, say so in the report and save it
    in fallback_dir; failing that too, say where it was tried."""
    tried: list[tuple[str, str]] = []
    saved = save(report, cfg, now, tried, [cfg["reports_dir"]])
    if saved.path is not None:
        return report, saved
    fallback = cfg.get("fallback_dir") or FALLBACK_DIR
    if os.path.abspath(fallback) != os.path.abspath(cfg["reports_dir"]):
        told = with_finding(report, not_saved_finding(cfg, tried, fallback))
        saved = save(told, cfg, now, list(tried), [fallback])
        if saved.path is not None:
            return told, saved
    return with_finding(report, not_saved_finding(cfg, saved.tried, None)), saved


def deliver(report: Report, cfg: Mapping[str, Any], env: Mapping[str, str] | None = None,
            now: dt.datetime | None = None, lang: str = "en",
            site_addresses: Any = ()) -> tuple[Report, Delivery]:
    """Run the whole delivery (module docstring). Returns the report as
    saved and mailed (with any ``report.delivery`` finding) and what
    happened. Every group of recipients (diagnose.delivery.message.groups:
    the vendor's, the customer's, each in its language; *lang* is the
    site's) gets its own message. Raises ValueError only when there is no
    one to mail; a report that cannot be saved or spooled is said in the
    result, never raised."""
    env = os.environ if env is None else env
    now = now or _now()
    recipients = message.groups(cfg, lang)
    if not recipients:
        raise ValueError("no recipients: set [email] to = [\"…\"] or pass --email ADDRESS")
    deadline = time.monotonic() + float(cfg.get("deadline_s") or DEADLINE_S)
    previous = previous_report(cfg)
    late = flush_spool(cfg, env, now, deadline)
    retried = len(late.evidence["delivered_late"]) if late else 0
    if late:
        report = with_finding(report, late)
    report, saved = _save(report, cfg, now)
    result = Delivery(saved=saved.path, retried=retried, not_saved=saved.refusals())
    reason_ = why_not_send(report, cfg["when"], previous)
    if reason_:
        result.reason = reason_
        return report, result
    spooled, errors, unspooled = [], [], []

    def spool(msg: EmailMessage, exc: MailError, part: int) -> None:
        try:
            spooled.append(str(_spool(msg, cfg, exc, now, part)))
        except OSError as failed:
            unspooled.append(reason(failed))

    for part, group in enumerate(recipients):
        msg = build_message(report, cfg, group, site_addresses)
        try:
            smtp_send(msg, cfg, env, deadline)
        except MailError as exc:
            errors.append(str(exc))
            spool(msg, exc, part)
            if "refused" not in str(exc) or "recipient" not in str(exc):
                # not about these addresses: the server is down, unreachable or
                # rejects us, so the other groups' mail goes straight to the spool
                for later, g in enumerate(recipients[part + 1:], part + 1):
                    spool(build_message(report, cfg, g, site_addresses), exc, later)
                break
    if errors:
        result.error = errors[0]
        result.spooled = ", ".join(spooled) or None
        result.spool_error = "; ".join(unspooled)
        return report, result
    result.sent = True
    return report, result
