"""``diagnose mail test``: send a test message to every [email] recipient,
at install time, before the first report depends on it."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from diagnose import helptext
from diagnose.commands import Choice, Group, config_option, die, load

EXAMPLES = """examples:
  diagnose mail test                          one test message to each group of [email] recipients
  diagnose mail test --to it@customer.example to this address only
  diagnose mail test --config /etc/diagnose/site.toml
"""


@click.group(cls=Group, invoke_without_command=True, epilog=EXAMPLES,
             short_help="mail settings: send a test message")
@click.pass_context
def mail(ctx: click.Context) -> Any:
    """Report mail: check the [email] settings."""
    if ctx.invoked_subcommand is None:
        from diagnose import i18n

        return die(helptext.t(i18n._("mail needs an action: test (see diagnose mail --help)")))
    return None


@mail.command("test", epilog=EXAMPLES, short_help="send a test message to the [email] recipients")
@config_option
@click.option("--to", "to", multiple=True, metavar="ADDRESS",
              help="send to this address instead of the configured recipients (repeatable)")
@click.option("--lang", type=Choice(("en", "ru")), default=None,
              help="language of the message (default: [site] language, else the locale)")
def test(config: str | None, to: tuple[str, ...], lang: str | None) -> int:
    """Send a test message through the configured SMTP server to every
    recipient of [email] (each group in its audience and language). Exit 0
    when the server accepted every message; otherwise the reason, exit 1."""
    from diagnose import i18n
    from diagnose.config import ConfigError
    from diagnose.delivery.mail import MailError, smtp_send
    from diagnose.delivery.message import groups, test_message
    from diagnose.host import Host

    try:
        _, cfg = load(config)
    except ConfigError as exc:
        return die(helptext.config_error(exc))
    site = cfg.section("site")
    language = i18n.choose(lang or helptext.given(), site.get("language"))
    email = dict(cfg.section("email"))
    if to:
        email.update(to=list(to), cc=[], customer_to=[], recipients=[])
    recipients = groups(email, language)
    if not recipients:
        return die(i18n.tr(i18n._("no recipients: set [email] to = [\"…\"] or pass --to ADDRESS"),
                           language))
    host = Host("/").hostname()
    failed = 0
    for g in recipients:
        msg = test_message(host, site.get("name") or "", email, g)
        try:
            smtp_send(msg, email, os.environ)
        except MailError as exc:
            failed += 1
            print(i18n.tr(i18n._("test message to {to} NOT sent: {error}", to=", ".join(g.everyone),
                                 error=str(exc)), language), file=sys.stderr)
            continue
        print(i18n.tr(i18n._("test message sent to {to} through {server}", to=", ".join(g.everyone),
                             server=f"{email['smtp_host']}:{email['smtp_port']}"), language))
    return 1 if failed else 0
