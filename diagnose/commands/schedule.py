"""``diagnose schedule install|show|remove`` (issue 7, diagnose/delivery/schedule.py)."""

from __future__ import annotations

import sys
from typing import Any

import click

from diagnose import helptext
from diagnose.commands import Group, die, root_option
from diagnose.i18n import _

EXAMPLES = """examples:
  diagnose schedule install --at 02:30 --email support@vendor.example --email it@customer.example
  diagnose schedule install --every 6h --config /etc/diagnose/site.toml   (recipients from [email] to)
  diagnose schedule show
  diagnose schedule test        (run the installed command once, now)
  diagnose schedule remove

Installs a systemd timer where systemd runs, else /etc/cron.d/diagnose. The
scheduled run mails the report (diagnose run --email) and holds the run lock:
a run that finds the previous one still going exits with code 4.
"""

_root = root_option("install into the tree at DIR (image builds, tests)")


@click.group(cls=Group, invoke_without_command=True, epilog=EXAMPLES,
             short_help="run the audit every night (cron or systemd timer) and mail it")
@click.pass_context
def schedule(ctx: click.Context) -> Any:
    """Run the audit every night (cron or systemd timer) and mail it."""
    if ctx.invoked_subcommand is None:
        return die(helptext.t(_("schedule needs an action: install, show, test or remove "
                                "(see diagnose schedule --help)")))
    return None


def _guard(action: Any) -> int:
    from diagnose.delivery import schedule as engine

    try:
        return action(engine)
    except engine.ScheduleError as exc:
        return die(helptext.t(exc.args[0] if exc.args else str(exc)))
    except OSError as exc:
        return die(f"{exc.filename or 'schedule'}: {exc.strerror}")


@schedule.command(epilog=EXAMPLES, short_help="install or replace the schedule")
@click.option("--at", metavar="HH:MM", help="every day at this time (default 02:00)")
@click.option("--every", metavar="N{m,h,d}", help="repeatedly, e.g. 30m, 6h, 1d")
@click.option("--email", multiple=True, metavar="ADDRESS",
              help="mail the report here (repeatable; default: [email] to of the config)")
@click.option("--config", metavar="FILE", type=click.Path(),
              help="config the scheduled run uses (default /etc/diagnose/site.toml)")
@_root
def install(at: str | None, every: str | None, email: tuple[str, ...], config: str | None, root: str) -> int:
    """Install or replace the schedule."""
    if at and every:
        raise click.UsageError(helptext.t(_("--at and --every exclude each other: give one")))

    def go(engine: Any) -> int:
        done = engine.install(root, at=at, every=every, emails=list(email), config=config)
        print(helptext.t(_("installed {kind} schedule, {when}: {files}", kind=done.kind, when=done.when,
                           files=", ".join(done.files))))
        for note in done.notes:
            print(helptext.t(_("note: {note}", note=note)))
        return 0
    return _guard(go)


@schedule.command(short_help="show the installed schedule")
@_root
def show(root: str) -> int:
    """Show the installed schedule."""
    def go(engine: Any) -> int:
        text = engine.show(root)
        sys.stdout.write(text if "\n" in text.rstrip("\n") else helptext.t(text.rstrip("\n")) + "\n")
        return 0
    return _guard(go)


@schedule.command(short_help="remove the schedule")
@_root
def remove(root: str) -> int:
    """Remove the schedule."""
    def go(engine: Any) -> int:
        removed = engine.remove(root)
        print(helptext.t(_("removed {files}", files=", ".join(removed)) if removed else
                         _("no schedule was installed")))
        return 0
    return _guard(go)


@schedule.command(name="test", short_help="run the installed command once, now, and show what it did")
@_root
@click.option("--timeout", type=float, default=600.0, show_default=True, metavar="S",
              help="give up on the run after this many seconds")
def test_(root: str, timeout: float) -> int:
    """Run the installed command once, now, as its scheduler would, and show
    what it did: the command, its exit code and anything it printed."""
    def go(engine: Any) -> int:
        command, rc, out, err = engine.run_now(root, timeout=timeout)
        meaning = {0: _("all ok"), 1: _("warnings found"), 2: _("faults found"), 3: _("the run could not be done"),
                   4: _("another run held the lock")}.get(rc, _("unexpected"))
        # A Python crash (a broken install: the script's module gone) also
        # exits 1, which would read as "warnings found" and pass.
        crashed = "Traceback (most recent call last)" in err
        if crashed:
            meaning = _("the command crashed, see stderr")
        print(helptext.t(_("ran: {command}", command=command)))
        print(helptext.t(_("exit code {rc} ({meaning})", rc=rc, meaning=meaning)))
        for label, text in (("stdout", out), ("stderr", err)):
            if text.strip():
                print(f"{label}:")
                print("".join(f"  {line}\n" for line in text.rstrip("\n").split("\n")), end="")
        return 0 if rc in (0, 1, 2) and not crashed else 3
    return _guard(go)
