"""The report mail itself: who gets which report, the headers, the bodies.

One run mails every reader the report meant for them: ``[email] to`` and
``cc`` get the vendor's report (everything, the JSON report attached);
``customer_to`` gets the customer's report (plain language, no evidence, no
attachment); a ``[[email.recipients]]`` table (``address``, ``audience``,
``lang``) sets both per address. One message goes to each group of
recipients that share an audience and a language.

Headers: the subject names the site and the host (``[diagnose] Sales office
/ cc-srv01: 1 site fault, no software faults``); From and Message-ID carry a
fully qualified domain; ``Auto-Submitted: auto-generated`` (RFC 3834) keeps
vacation responders and ticket systems from answering a robot.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Mapping

from diagnose.i18n import N_, _, tr
from diagnose.model import Report

# Bodies are encoded for 78-column lines when built; headers are written
# with the RFC 5322 hard limit instead, because the email package folds a
# subject like "[diagnose] host: ..." before its first word, leaving the
# subject with a leading space in readers that unfold literally.
WIRE_POLICY = policy.SMTP.clone(max_line_length=998)
TEXT_WIDTH = 76
AUDIENCE_NAMES = {"vendor": N_("vendor"), "customer": N_("customer")}


@dataclass
class Group:
    """Recipients who get the same report."""

    audience: str
    lang: str
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)

    @property
    def everyone(self) -> list[str]:
        return self.to + self.cc


def groups(cfg: Mapping[str, Any], lang: str = "en") -> list[Group]:
    """The recipients of [email], grouped by (audience, language); the
    vendor's group first. *lang* is the site's language, the default."""
    out: dict[tuple[str, str], Group] = {}

    def add(audience: str, language: str, address: str, cc: bool = False) -> None:
        g = out.setdefault((audience, language), Group(audience, language))
        if address not in g.everyone:
            (g.cc if cc else g.to).append(address)

    for a in cfg.get("to") or []:
        add("vendor", lang, a)
    for a in cfg.get("cc") or []:
        add("vendor", lang, a, cc=True)
    for a in cfg.get("customer_to") or []:
        add("customer", lang, a)
    for r in cfg.get("recipients") or []:
        add(r.get("audience") or "vendor", r.get("lang") or lang, r["address"])
    return sorted(out.values(), key=lambda g: (g.audience != "vendor", g.lang))


def mail_domain(host: str, cfg: Mapping[str, Any]) -> str:
    """A fully qualified domain for From and Message-ID: the configured
    sender's, else the host's own name when qualified, else the resolver's
    FQDN, else ``<host>.localdomain`` (RFC 2606 style, never a real domain)."""
    sender = cfg.get("from") or ""
    if "@" in sender:
        return sender.rsplit("@", 1)[1].strip(" >")
    if "." in host:
        return host
    try:
        fqdn = socket.getfqdn(host)
    except OSError:
        fqdn = ""
    if "." in fqdn and not fqdn.startswith("localhost"):
        return fqdn
    return f"{host or 'localhost'}.localdomain"


def sender(host: str, cfg: Mapping[str, Any]) -> str:
    configured = cfg.get("from") or ""
    if configured:
        return configured
    return str(Address("diagnose", "diagnose", mail_domain(host, cfg)))


def subject(report: Report, lang: str = "en", headline: str | None = None) -> str:
    """``[diagnose] <site> / <host>: <headline>`` (no site: ``<host>: ...``)."""
    from diagnose.safetext import show

    head = headline if headline is not None else tr(report.verdict.headline, lang)
    where = show(report.host) if not report.site else f"{show(report.site)} / {show(report.host)}"
    return f"[diagnose] {where}: {show(head)}"


def _headers(msg: EmailMessage, host: str, cfg: Mapping[str, Any], group: Group) -> None:
    msg["From"] = sender(host, cfg)
    msg["To"] = ", ".join(group.to) if group.to else "undisclosed-recipients:;"
    if group.cc:
        msg["Cc"] = ", ".join(group.cc)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid("diagnose", domain=mail_domain(host, cfg))
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"  # Exchange/Outlook: no out-of-office replies


def build(report: Report, cfg: Mapping[str, Any], group: Group,
          site_addresses: Any = ()) -> EmailMessage:
    """multipart/mixed [ multipart/alternative [text/plain, text/html],
    application/json attachment (vendor only) ]. Bodies are quoted-printable
    so the message is 7-bit clean for any relay."""
    from diagnose.reports import render
    from diagnose.reports.jsonfmt import dumps
    from diagnose.reports.redact import vendor_domains

    view = {"audience": group.audience, "lang": group.lang, "site_addresses": site_addresses,
            "vendor_domains": vendor_domains(cfg)}
    msg = EmailMessage(policy=policy.SMTP)
    msg["Subject"] = subject(report, group.lang)
    _headers(msg, report.host, cfg, group)
    msg["X-Diagnose-Verdict"] = str(report.verdict.status)
    msg["X-Diagnose-Audience"] = group.audience

    text = render(report, "text", colour=False, unicode=True, verbose=False, quiet=False,
                  width=TEXT_WIDTH, **view)
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(render(report, "html", **view), subtype="html", charset="utf-8",
                        cte="quoted-printable")
    if group.audience == "vendor":
        body = dumps(report.to_dict(), indent=1) + "\n"
        msg.add_attachment(body.encode("utf-8"), maintype="application", subtype="json",
                           filename=f"diagnose-{report.host}-{report.started[:10]}.json")
    msg["Content-Language"] = group.lang  # after the bodies: set_content resets Content-* headers
    msg.policy = WIRE_POLICY
    return msg


def test_message(host: str, site: str, cfg: Mapping[str, Any], group: Group) -> EmailMessage:
    """What ``diagnose mail test`` sends: proof that report mail will arrive."""
    from diagnose.safetext import show

    lang = group.lang
    where = show(host) if not site else f"{show(site)} / {show(host)}"
    msg = EmailMessage(policy=policy.SMTP)
    msg["Subject"] = f"[diagnose] {where}: " + tr(_("test message"), lang)
    _headers(msg, host, cfg, group)
    msg["X-Diagnose-Audience"] = group.audience
    body = tr(_("This is a test message from diagnose on {host}. Reports of this site will reach "
                "this address as configured in [email] (report for: {audience}). Nothing needs "
                "to be done.", host=where, audience=tr(_(AUDIENCE_NAMES[group.audience]), lang)), lang)
    msg.set_content(body + "\n", subtype="plain", charset="utf-8", cte="quoted-printable")
    msg["Content-Language"] = group.lang
    msg.policy = WIRE_POLICY
    return msg
