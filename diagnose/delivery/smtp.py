"""SMTP for the report mail: one send, with a deadline for the whole exchange.

smtplib's ``timeout`` bounds each socket operation, not the exchange: a
server that drips its greeting a byte every few seconds never trips it, and
``--email`` would hang forever holding the run lock. :func:`smtp_send` arms
a timer that shuts the connection down when the deadline passes, which ends
whatever read or write is waiting, and reports that as the reason.

The SMTP password comes from the environment variable named by
``password_env``; it is never stored, logged or put into an error message.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import threading
import time
from email.message import EmailMessage
from typing import Any, Mapping

from diagnose.i18n import _
from diagnose.model import Fault

SMTP_TIMEOUT = 20.0
DEADLINE_S = 60.0


class MailError(Exception):
    """SMTP delivery failed; ``fault`` says whose side the cause is on."""

    def __init__(self, message: str, fault: Fault) -> None:
        super().__init__(message)
        self.fault = fault


def _redact(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


class _Watchdog:
    """Closes the SMTP connection when the delivery's deadline passes.
    smtplib's timeout is per socket operation, and a server that sends one
    byte every few seconds never trips it; shutting the socket down from
    this timer ends whatever read or write is waiting."""

    def __init__(self, client: smtplib.SMTP, seconds: float) -> None:
        self.client, self.expired = client, False
        self.timer = threading.Timer(max(0.0, seconds), self._fire)
        self.timer.daemon = True
        self.timer.start()

    def _fire(self) -> None:
        self.expired = True
        sock = getattr(self.client, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cancel(self) -> None:
        self.timer.cancel()


def smtp_send(msg: EmailMessage, cfg: Mapping[str, Any], env: Mapping[str, str],
              deadline: float | None = None) -> None:
    """Send *msg* as configured; raise :class:`MailError` with a one-line
    reason (password never included). *deadline* (``time.monotonic()``
    value) bounds the whole exchange; default ``[email] deadline_s`` from now."""
    host, port = cfg["smtp_host"], cfg["smtp_port"]
    where = f"{host}:{port}"
    limit = float(cfg.get("deadline_s") or DEADLINE_S)
    deadline = time.monotonic() + limit if deadline is None else deadline
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise MailError(_("{where}: not tried, the mail deadline ({limit:g}s) had passed", where=where,
                          limit=limit), Fault.UNDETERMINED)
    password = ""
    if cfg.get("user"):
        name = cfg.get("password_env") or ""
        if not name or name not in env:
            raise MailError(_("[email] user is set but the password variable {name} is not in the "
                              "environment", name=name or _("(password_env unset)")), Fault.SITE)
        password = env[name]
    watchdog = None
    try:
        context = ssl.create_default_context()
        timeout = min(SMTP_TIMEOUT, remaining)
        client: smtplib.SMTP = (smtplib.SMTP_SSL(timeout=timeout, context=context) if cfg.get("ssl")
                                else smtplib.SMTP(timeout=timeout))
        client._host = host  # what SMTP(host) would set: TLS checks the certificate against it
        watchdog = _Watchdog(client, remaining)
        # Not "with client": its exit sends QUIT and waits for the answer,
        # which a stalled server never gives, even after an interruption.
        try:
            client.connect(host, port)
            if cfg.get("starttls") and not cfg.get("ssl"):
                client.starttls(context=context)
            if cfg.get("user"):
                client.login(cfg["user"], password)
            refused = client.send_message(msg)
            if refused:
                raise MailError(_("{where} refused recipients: {recipients}", where=where,
                                  recipients=", ".join(f"{r} ({c} {m.decode(errors='replace')})"
                                                       for r, (c, m) in refused.items())), Fault.SITE)
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                pass  # delivered; a lost goodbye changes nothing
        finally:
            client.close()
    except MailError:
        raise
    except (OSError, smtplib.SMTPException) as exc:
        if watchdog is not None and watchdog.expired:
            raise MailError(_("{where} did not complete the delivery within the {limit:g}s deadline "
                              "([email] deadline_s): the server answers too slowly", where=where,
                              limit=limit), Fault.UNDETERMINED) from None
        raise _mail_error(exc, where, host, cfg, password) from None
    finally:
        if watchdog is not None:
            watchdog.cancel()


def _mail_error(exc: BaseException, where: str, host: str, cfg: Mapping[str, Any], password: str) -> MailError:
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return MailError(_redact(_("{where} rejected the login for {user}: {code} {text}", where=where,
                                   user=cfg["user"], code=exc.smtp_code,
                                   text=exc.smtp_error.decode(errors="replace")), password), Fault.SITE)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return MailError(_("{where} refused every recipient: {recipients}", where=where,
                           recipients=", ".join(exc.recipients)), Fault.SITE)
    if isinstance(exc, smtplib.SMTPResponseException):
        return MailError(_redact(_("{where} answered {code} {text}", where=where, code=exc.smtp_code,
                                   text=exc.smtp_error.decode(errors="replace")), password),
                         Fault.UNDETERMINED)
    if isinstance(exc, ssl.SSLError):
        return MailError(_("TLS with {where} failed: {why}", where=where, why=str(exc.reason or exc)),
                         Fault.SITE)
    if isinstance(exc, socket.gaierror):
        return MailError(_("cannot resolve SMTP host {host}: {why}", host=host, why=exc.strerror),
                         Fault.SITE)
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return MailError(_("{where} did not answer within {limit:g}s", where=where, limit=SMTP_TIMEOUT),
                         Fault.SITE)
    if isinstance(exc, ConnectionRefusedError):
        return MailError(_("{where} refused the connection (no SMTP server listening)", where=where),
                         Fault.SITE)
    return MailError(_redact(f"{where}: {type(exc).__name__}: {exc}", password), Fault.UNDETERMINED)
