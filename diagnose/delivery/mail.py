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
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import smtplib
import socket
import ssl
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formatdate, getaddresses, make_msgid
from pathlib import Path
from typing import Any, Mapping

from diagnose.fsutil import atomic_write
from diagnose.model import CheckResult, Fault, Finding, Report, Status, make_verdict

CHECK = "report.delivery"
SMTP_TIMEOUT = 20.0
# Bodies are encoded for 78-column lines when built; headers are written
# with the RFC 5322 hard limit instead, because the email package folds a
# subject like "[diagnose] host: ..." before its first word, leaving the
# subject with a leading space in readers that unfold literally.
WIRE_POLICY = policy.SMTP.clone(max_line_length=998)


class MailError(Exception):
    """SMTP delivery failed; ``fault`` says whose side the cause is on."""

    def __init__(self, message: str, fault: Fault) -> None:
        super().__init__(message)
        self.fault = fault


@dataclasses.dataclass
class Delivery:
    """What ``deliver`` did, for the CLI to tell the user."""

    saved: str
    sent: bool = False
    reason: str = ""  # why nothing was sent (when = on-fault / on-change)
    spooled: str | None = None
    error: str | None = None
    retried: int = 0  # earlier spooled messages delivered now

    def summary(self, recipients: list[str]) -> str:
        parts = [f"report saved to {self.saved}"]
        if self.retried:
            parts.append(f"{self.retried} earlier spooled report(s) delivered")
        if self.sent:
            parts.append(f"mailed to {', '.join(recipients)}")
        elif self.spooled:
            parts.append(f"mail NOT delivered ({self.error}); spooled as {self.spooled} "
                         "and retried on the next run")
        else:
            parts.append(f"no mail: {self.reason}")
        return "; ".join(parts)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _stamp(when: dt.datetime) -> str:
    # Sorts in time order as a plain string; microseconds keep two runs in
    # the same second apart.
    return when.strftime("%Y%m%dT%H%M%S.%fZ")


# --- the message -----------------------------------------------------------

def subject(report: Report) -> str:
    return f"[diagnose] {report.host}: {report.verdict.headline}"


def build_message(report: Report, cfg: Mapping[str, Any]) -> EmailMessage:
    """multipart/mixed [ multipart/alternative [text/plain, text/html],
    application/json attachment ]. Bodies are quoted-printable so the
    message is 7-bit clean for any relay."""
    from diagnose.reports import render

    msg = EmailMessage(policy=policy.SMTP)
    msg["Subject"] = subject(report)
    msg["From"] = cfg.get("from") or f"diagnose@{report.host}"
    msg["To"] = ", ".join(cfg["to"])
    if cfg.get("cc"):
        msg["Cc"] = ", ".join(cfg["cc"])
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid("diagnose")
    msg["X-Diagnose-Verdict"] = str(report.verdict.status)

    text = render(report, "text", colour=False, unicode=True, verbose=False, quiet=False)
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(render(report, "html"), subtype="html", charset="utf-8",
                        cte="quoted-printable")
    body = json.dumps(report.to_dict(), indent=1, ensure_ascii=False) + "\n"
    msg.add_attachment(body.encode("utf-8"), maintype="application", subtype="json",
                       filename=f"diagnose-{report.host}-{report.started[:10]}.json")
    msg.policy = WIRE_POLICY
    return msg


def _recipients(msg: EmailMessage) -> list[str]:
    return [a for _, a in getaddresses(msg.get_all("To", []) + msg.get_all("Cc", []))]


# --- SMTP --------------------------------------------------------------------

def _redact(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


def smtp_send(msg: EmailMessage, cfg: Mapping[str, Any], env: Mapping[str, str]) -> None:
    """Send *msg* as configured; raise :class:`MailError` with a one-line
    reason (password never included)."""
    host, port = cfg["smtp_host"], cfg["smtp_port"]
    where = f"{host}:{port}"
    password = ""
    if cfg.get("user"):
        name = cfg.get("password_env") or ""
        if not name or name not in env:
            raise MailError(f"[email] user is set but the password variable "
                            f"{name or '(password_env unset)'} is not in the environment", Fault.SITE)
        password = env[name]
    try:
        context = ssl.create_default_context()
        if cfg.get("ssl"):
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=SMTP_TIMEOUT, context=context)
        else:
            client = smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT)
        with client:
            if cfg.get("starttls") and not cfg.get("ssl"):
                client.starttls(context=context)
            if cfg.get("user"):
                client.login(cfg["user"], password)
            refused = client.send_message(msg)
            if refused:
                raise MailError(f"{where} refused recipients: " +
                                ", ".join(f"{r} ({c} {m.decode(errors='replace')})"
                                          for r, (c, m) in refused.items()), Fault.SITE)
    except MailError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError(_redact(f"{where} rejected the login for {cfg['user']}: {exc.smtp_code} "
                                f"{exc.smtp_error.decode(errors='replace')}", password), Fault.SITE) from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise MailError(f"{where} refused every recipient: {', '.join(exc.recipients)}", Fault.SITE) from None
    except smtplib.SMTPResponseException as exc:
        raise MailError(_redact(f"{where} answered {exc.smtp_code} "
                                f"{exc.smtp_error.decode(errors='replace')}", password),
                        Fault.UNDETERMINED) from None
    except ssl.SSLError as exc:
        raise MailError(f"TLS with {where} failed: {exc.reason or exc}", Fault.SITE) from None
    except socket.gaierror as exc:
        raise MailError(f"cannot resolve SMTP host {host}: {exc.strerror}", Fault.SITE) from None
    except (TimeoutError, socket.timeout):
        raise MailError(f"{where} did not answer within {SMTP_TIMEOUT:g}s", Fault.SITE) from None
    except ConnectionRefusedError:
        raise MailError(f"{where} refused the connection (no SMTP server listening)", Fault.SITE) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(_redact(f"{where}: {type(exc).__name__}: {exc}", password),
                        Fault.UNDETERMINED) from None


# --- the spool -----------------------------------------------------------------

def spool_dir(cfg: Mapping[str, Any]) -> Path:
    return Path(cfg["reports_dir"]) / "spool"


def _spool(msg: EmailMessage, cfg: Mapping[str, Any], error: MailError, when: dt.datetime) -> Path:
    d = spool_dir(cfg)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    eml = d / f"{_stamp(when)}.eml"
    atomic_write(str(eml), msg.as_string(policy=WIRE_POLICY), 0o600)
    meta = {"subject": str(msg["Subject"]), "to": _recipients(msg),
            "first_failed": when.isoformat(timespec="seconds"), "attempts": 1,
            "last_error": str(error), "fault": error.fault.value}
    atomic_write(str(eml.with_suffix(".json")), json.dumps(meta, indent=1) + "\n", 0o600)
    return eml


def _spooled(cfg: Mapping[str, Any]) -> list[tuple[Path, dict[str, Any]]]:
    d = spool_dir(cfg)
    out = []
    for eml in sorted(d.glob("*.eml")) if d.is_dir() else []:
        try:
            meta = json.loads(eml.with_suffix(".json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {"subject": "?", "to": [], "first_failed": "unknown", "attempts": 0,
                    "last_error": "no record of the failure", "fault": "undetermined"}
        out.append((eml, meta))
    return out


def _drop(eml: Path) -> None:
    for p in (eml, eml.with_suffix(".json")):
        p.unlink(missing_ok=True)


def flush_spool(cfg: Mapping[str, Any], env: Mapping[str, str],
                now: dt.datetime | None = None) -> Finding | None:
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
        if too_many or dt.datetime.fromtimestamp(eml.stat().st_mtime, dt.timezone.utc) < cutoff:
            dropped.append(meta)
            _drop(eml)
    entries = [(e, m) for e, m in entries if e.exists()]

    delivered, stuck, error = [], [], None
    for eml, meta in entries:
        if error is None:
            with eml.open("rb") as fh:
                msg = BytesParser(policy=WIRE_POLICY).parse(fh)
            try:
                smtp_send(msg, cfg, env)
            except MailError as exc:
                error = exc
                meta["attempts"] = meta.get("attempts", 0) + 1
                meta["last_error"] = str(exc)
                meta["fault"] = exc.fault.value
                atomic_write(str(eml.with_suffix(".json")), json.dumps(meta, indent=1) + "\n", 0o600)
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
    probe = (f"`timeout 5 bash -c '</dev/tcp/{cfg['smtp_host']}/{cfg['smtp_port']}' "
             "&& echo reachable`")
    if stuck:
        fault = error.fault if error else Fault.UNDETERMINED
        return Finding(
            CHECK, where, Status.WARN,
            f"{len(stuck)} report mail(s) undelivered since {first['first_failed']}: {first['last_error']}",
            fault,
            detail=f"Reports mailed since {first['first_failed']} could not be handed to the SMTP "
                   f"server {where}; they are spooled in {spool_dir(cfg)} and retried on every run. "
                   f"Latest error: {stuck[-1]['last_error']}.",
            evidence=evidence,
            remedy=f"Check that the SMTP server {where} is up and reachable from this host ({probe}) "
                   "and that [email] smtp_host, smtp_port, user and password_env are right; "
                   "the spooled reports go out on the next run.")
    if delivered and not dropped:
        # Late but delivered, nothing pending: information for the reader, not
        # a fault of anyone's to count in this run's verdict or mail subject.
        return Finding(
            CHECK, where, Status.OK,
            f"{len(delivered)} earlier report mail(s) delivered late, nothing pending",
            None,
            detail=f"The report mail of {first['first_failed']} could not be sent then "
                   f"({first['last_error']}); it was delivered on this run.",
            evidence=evidence)
    what = (f"{len(delivered)} earlier report mail(s) delivered late"
            if delivered else f"{len(dropped)} undelivered report mail(s) dropped from the spool")
    reason = first["last_error"]
    return Finding(
        CHECK, where, Status.WARN, f"{what}: first attempt {first['first_failed']} failed: {reason}",
        Fault(first.get("fault") or "undetermined"),
        detail=f"The report mail of {first['first_failed']} could not be sent then ({reason}); "
               + ("it was delivered on this run." if delivered else
                  "it was past the spool's retention ([email] keep / keep_days) and was dropped; "
                  "the report itself is still in reports_dir."),
        evidence=evidence,
        remedy=f"Nothing is pending now. If it recurs, check that the SMTP server {where} stays up "
               f"and reachable from this host ({probe}).")


# --- saved reports -------------------------------------------------------------

def _saved_reports(reports_dir: Path) -> list[Path]:
    return sorted(reports_dir.glob("report-*.json")) if reports_dir.is_dir() else []


def previous_report(cfg: Mapping[str, Any]) -> dict[str, Any] | None:
    """The newest report saved by an earlier run, or None."""
    for path in reversed(_saved_reports(Path(cfg["reports_dir"]))):
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a damaged file is not a previous report
    return None


def save_report(report: Report, cfg: Mapping[str, Any], now: dt.datetime | None = None) -> Path:
    """Write *report* as JSON into reports_dir atomically, then prune: keep
    the newest ``keep`` reports and none older than ``keep_days`` (the one
    just written always stays)."""
    now = now or _now()
    d = Path(cfg["reports_dir"])
    d.mkdir(parents=True, exist_ok=True, mode=0o750)
    path = d / f"report-{_stamp(now)}.json"
    atomic_write(str(path), json.dumps(report.to_dict(), indent=1, ensure_ascii=False) + "\n", 0o640)
    cutoff = (now - dt.timedelta(days=cfg["keep_days"])).timestamp()
    older = [p for p in _saved_reports(d) if p != path]
    keep_others = max(cfg["keep"] - 1, 0)
    for i, p in enumerate(reversed(older)):
        try:
            if i >= keep_others or p.stat().st_mtime < cutoff:
                p.unlink()
        except FileNotFoundError:
            pass  # pruned by a concurrent run
    return path


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
        return "when = on-fault and every check passed"
    if when == "on-change" and previous is not None:
        now = report.to_dict()
        historic = now.get("history") is not None and previous.get("history") is not None
        if _problems(previous) == _problems(now) and (
                historic or previous.get("verdict", {}).get("status") == now["verdict"]["status"]):
            flapping = sorted(i for i, s in _problems(now) if s == "flapping")
            return ("when = on-change and nothing changed since the previous report"
                    + (f" (flapping, not mailed each time: {', '.join(flapping)})" if flapping else ""))
    return None


# --- the whole delivery ----------------------------------------------------------

def with_finding(report: Report, finding: Finding) -> Report:
    """A copy of *report* with *finding* added as a result of its own
    pseudo-check, verdict recomputed."""
    findings = report.findings + [finding]
    checks = report.checks + [CheckResult(CHECK, finding.status, 0.0)]
    return dataclasses.replace(report, findings=findings, checks=checks,
                               verdict=make_verdict(findings, checks))


def deliver(report: Report, cfg: Mapping[str, Any], env: Mapping[str, str] | None = None,
            now: dt.datetime | None = None) -> tuple[Report, Delivery]:
    """Run the whole delivery (module docstring). Returns the report as
    saved and mailed (with any ``report.delivery`` finding) and what
    happened. Raises OSError only when reports_dir cannot be written."""
    env = os.environ if env is None else env
    now = now or _now()
    if not cfg.get("to"):
        raise ValueError("no recipients: set [email] to = [\"…\"] or pass --email ADDRESS")
    previous = previous_report(cfg)
    late = flush_spool(cfg, env, now)
    retried = len(late.evidence["delivered_late"]) if late else 0
    if late:
        report = with_finding(report, late)
    saved = save_report(report, cfg, now)
    result = Delivery(saved=str(saved), retried=retried)
    reason = why_not_send(report, cfg["when"], previous)
    if reason:
        result.reason = reason
        return report, result
    msg = build_message(report, cfg)
    try:
        smtp_send(msg, cfg, env)
    except MailError as exc:
        result.error = str(exc)
        result.spooled = str(_spool(msg, cfg, exc, now))
        return report, result
    result.sent = True
    return report, result
