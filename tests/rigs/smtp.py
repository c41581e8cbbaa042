"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives.

``smtp_rig`` is a factory: ``start()`` a server on a free port (or on a
given one, to bring a "down" server back up), optionally requiring a login;
every server is stopped in the fixture's finalizer even when a test fails.
A port with nothing listening stands in for an SMTP server that is down.
"""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes


@dataclass
class SmtpServer:
    port: int
    received: list[Received] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    controller: object = None

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        raw = envelope.original_content or envelope.content
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                      BytesParser(policy=policy.default).parsebytes(raw), raw))
        return "250 OK"

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


class SmtpRig:
    def __init__(self) -> None:
        self.servers: list[SmtpServer] = []

    def start(self, port: int | None = None, login: tuple[str, str] | None = None,
              tls: str | None = None, cert: tuple[str, str] | None = None) -> SmtpServer:
        """``tls``: None, "starttls" (required before MAIL) or "ssl"
        (implicit TLS); ``cert`` is the (certificate, key) files to serve."""
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        srv = SmtpServer(port or free_port())

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (isinstance(auth_data, LoginPassword) and login is not None and
                  (auth_data.login.decode(), auth_data.password.decode()) == login)
            if ok:
                srv.logins.append(login)
            # handled=False: let aiosmtpd answer 535 itself on a bad login
            return AuthResult(success=ok, handled=False)

        options = {}
        if login:
            # Plain-text AUTH on loopback; the client logs in because it is
            # configured to, so the server need not insist (which would warn).
            options = {"authenticator": authenticator, "auth_require_tls": False}
        if tls:
            import ssl

            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*cert)
            if tls == "starttls":
                options.update(tls_context=context, require_starttls=True)
            else:
                options.update(ssl_context=context)
        srv.controller = Controller(srv, hostname="127.0.0.1", port=srv.port, **options)
        srv.controller.start()
        self.servers.append(srv)
        return srv

    def stop_all(self) -> None:
        for srv in self.servers:
            srv.stop()


def self_signed_cert(directory) -> tuple[str, str]:
    """A throw-away certificate for 127.0.0.1 (its own CA) and its key."""
    cert, key = f"{directory}/smtp-cert.pem", f"{directory}/smtp-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture
def smtp_rig():
    rig = SmtpRig()
    try:
        yield rig
    finally:
        rig.stop_all()
