"""``diagnose run``: probe, judge, attribute, render (DESIGN.md section 6)."""

from __future__ import annotations

import json
import os
import sys
from types import SimpleNamespace
from typing import Any

import click

from diagnose.i18n import _

from diagnose import helptext
from diagnose.commands import EXIT_CODES, Choice, Command, complete_checks, config_option, die, load, unknown_check

DEFAULT_LOCK_FILE = "/run/diagnose/diagnose.lock"  # diagnose.delivery.lock.DEFAULT_LOCK, without importing it
FORMATS = ("text", "json", "html", "junit", "nagios", "prometheus")

EXAMPLES = """examples:
  diagnose run                                  audit this machine with built-in defaults
  diagnose run --config /etc/diagnose/site.toml --format html --output /tmp/report.html
  diagnose run --only disk.space --only database.integrity -v
  diagnose run --save-facts site.json           collect on site ...
  diagnose run --from-facts site.json --format text   ... and judge again at the office
  diagnose run --format nagios                  one line for Nagios/Icinga, exit code 0-3
  diagnose run --email --lock                   save and mail the report as in [email], one run at a time
  diagnose run --audience customer --lang ru --format html --output report.html
                                                the customer's report, in Russian

""" + EXIT_CODES


@click.command(cls=Command, short_help="run the checks and write a report", epilog=EXAMPLES)
@config_option
@click.option("--only", multiple=True, metavar="CHECK", shell_complete=complete_checks,
              help="run only this check (repeatable)")
@click.option("--skip", multiple=True, metavar="CHECK", shell_complete=complete_checks,
              help="do not run this check (repeatable)")
@click.option("--format", "format_", default="text", type=Choice(FORMATS), help="report format (default text)")
@click.option("--output", metavar="FILE", type=click.Path(), help="write the report here (atomically) instead of stdout")
@click.option("--save-facts", metavar="FILE", type=click.Path(), help="also save every probe's facts to FILE")
@click.option("--from-facts", metavar="FILE", type=click.Path(), help="judge facts saved earlier instead of probing this machine")
@click.option("--timeout", type=float, metavar="S", callback=lambda ctx, param, value: _seconds(value),
              help="per-check timeout in seconds (default 10)")
@click.option("--root", metavar="DIR", type=click.Path(), default="/", help="read the system from a recorded tree at DIR")
@click.option("--email", multiple=True, is_flag=False, flag_value="", metavar="[ADDRESS]",
              help="also save the report and mail it as configured in [email]; with ADDRESS "
              "(repeatable) mail it there instead of [email] to")
@click.option("--lock", is_flag=False, flag_value="", default=None, metavar="[FILE]",
              help=f"refuse to start while another run holds FILE (default {DEFAULT_LOCK_FILE} for root, "
              "$XDG_RUNTIME_DIR/diagnose.lock for others); exit code 4 then")
@click.option("--audience", default="vendor", type=Choice(("vendor", "customer")),
              help="vendor: everything, with evidence (default); customer: plain language, what "
              "the site's staff should do first, no evidence, no addresses but the site's own")
@click.option("--lang", type=Choice(("en", "ru")), default=None,
              help="language of the report (default: [site] language, else the locale)")
@click.option("--color", "--colour", "color", default="auto", type=Choice(("auto", "always", "never")),
              help="colour the text report: auto (a terminal, unless NO_COLOR is set; FORCE_COLOR "
              "forces it), always or never")
@click.option("-v", "--verbose", is_flag=True, help="show evidence and the checks that passed")
@click.option("-q", "--quiet", is_flag=True, help="only problems and the verdict; no progress")
def run(format_: str, **opts: Any) -> int:
    """Run the checks and write a report.

    Probes this machine (or a recorded tree with --root, or facts saved
    earlier with --from-facts), judges the facts, tells site faults from
    software faults, and writes the report.
    """
    args = SimpleNamespace(format=format_, **opts)
    args.only, args.skip, args.email = list(args.only), list(args.skip), list(args.email)
    if args.lock is None:
        return _run(args)
    from diagnose.delivery.lock import EXIT_LOCKED, LockError, LockHeld, default_lock, record_skip, run_lock

    args.lock = args.lock or default_lock()
    try:
        with run_lock(args.lock):
            args.locked = True
            return _run(args)
    except LockHeld as exc:
        # Logged (stderr: the journal, cron's mail) and counted by the next run.
        unrecorded = record_skip(args.lock, exc)
        if unrecorded:
            return die(helptext.t(_("{why}; this run was skipped (not run, nothing checked); could not record "
                                    "the skip: {error}", why=str(exc), error=unrecorded)), EXIT_LOCKED)
        return die(helptext.t(_("{why}; this run was skipped (not run, nothing checked)", why=str(exc))),
                   EXIT_LOCKED)
    except LockError as exc:
        return die(helptext.t(exc.args[0] if exc.args else str(exc)))


def _seconds(value: float | None) -> float | None:
    from diagnose.guard import seconds

    if value is None:
        return None
    try:
        return seconds(value)
    except ValueError:
        raise click.BadParameter(helptext.t(_("must be more than 0 and at most a week (604800) seconds"))) \
            from None


class _Spinner:
    """Progress on a terminal: which checks are still running. Off when
    stderr is not a terminal (cron, pipes) or with -q."""

    FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

    def __init__(self, enabled: bool) -> None:
        import threading

        self.enabled = enabled
        self.running: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._spin, daemon=True) if enabled else None

    def update(self, name: str, state: str) -> None:
        if state == "started":
            self.running.append(name)
        elif name in self.running:
            self.running.remove(name)
        if self.thread is not None and not self.thread.is_alive() and not self.stop.is_set():
            self.thread.start()

    def _spin(self) -> None:
        i = 0
        while not self.stop.wait(0.1):
            names = ", ".join(self.running[:4]) + (" …" if len(self.running) > 4 else "")
            sys.stderr.write(f"\r\033[K{self.FRAMES[i % len(self.FRAMES)]} checking {names}")
            sys.stderr.flush()
            i += 1

    def done(self) -> None:
        self.stop.set()
        if self.thread is not None and self.thread.is_alive():
            self.thread.join()
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def _run(args: Any) -> int:
    from diagnose.config import ConfigError
    from diagnose.host import Host
    from diagnose.runner import Collection, collect, config_from_facts, evaluate
    from diagnose.state.session import HistorySession

    try:
        registry, config = load(args.config)
    except ConfigError as exc:
        return die(helptext.config_error(exc))
    bad = unknown_check(args.only + args.skip, registry)
    if bad:
        return die(bad)

    if args.from_facts:
        from diagnose.factsfile import FactsError, read as read_facts

        try:  # untrusted input: checked against its schema first (diagnose.factsfile)
            col = Collection.from_dict(read_facts(args.from_facts))
        except FactsError as exc:
            return die(helptext.t(_("cannot use facts file {file}: {error}", file=args.from_facts,
                                    error=helptext.t(exc.args[0] if exc.args else str(exc)))))
        if not args.config:  # judge with the configuration the site had
            try:
                config = config_from_facts(col, registry)
            except ConfigError as exc:
                return die(helptext.t(_("cannot use facts file {file}: its config: {error}", file=args.from_facts,
                                        error=exc.message)))
        if args.only:
            col.results = {n: r for n, r in col.results.items() if n in args.only}
        if args.skip:
            col.results = {n: r for n, r in col.results.items() if n not in args.skip}
        history = HistorySession.begin(config, registry, "facts")
    else:
        if not os.path.isdir(args.root):
            return die(helptext.t(_("--root {dir}: not a directory", dir=args.root)))
        host = Host(args.root)
        # The run history is this machine's: a recorded tree (--root) is neither
        # recorded nor marked from it.
        history = HistorySession.begin(config, registry, "live" if host.live else "tree")
        spinner = _Spinner(sys.stderr.isatty() and not args.quiet)
        try:
            col = collect(registry, host, config, only=args.only or None,
                          skip=args.skip or None, timeout=args.timeout, progress=spinner.update,
                          inputs=history.probe_inputs(host.hostname()))
        finally:
            spinner.done()
        history.attach(col)

    # From here on the report is never lost: a file that cannot be written
    # is said on stderr, the run goes on, and the exit code is 3.
    failed = False
    if args.save_facts or args.output:
        from diagnose.fsutil import atomic_write, describe_oserror
    if args.save_facts:
        try:
            atomic_write(args.save_facts, json.dumps(col.to_dict(), indent=1, ensure_ascii=False) + "\n",
                         0o600, keep_owner=True)
        except OSError as exc:
            failed = bool(die(helptext.t(_("cannot write facts: {error}",
                                           error=describe_oserror(exc, args.save_facts)))))

    from diagnose import console, i18n

    lang = i18n.choose(args.lang or helptext.given(), config.section("site").get("language"))
    report = evaluate(registry, col, config, timeout=args.timeout)
    if getattr(args, "locked", False):
        report = _count_skipped_runs(report, args.lock)
    report = history.finish(report, col)
    if history.note and not args.quiet:
        print(f"diagnose: {history.note}", file=sys.stderr)
    if args.email:
        report, code = _send_email(report, config, args, lang)
        failed = failed or bool(code)

    from diagnose.reports import render

    out = None if args.output else sys.stdout
    console.make_safe(sys.stdout)
    hide: dict[str, Any] = {}
    if args.audience == "customer":  # what the customer's report hides needs these
        from diagnose.reports import redact

        hide = dict(site_addresses=redact.site_addresses(report, config),
                    vendor_domains=redact.vendor_domains(config.section("email")))
    text = render(report, args.format, colour=console.colour(args.color, out),
                  unicode=args.output is not None or console.unicode_ok(sys.stdout),
                  width=console.width(out), verbose=args.verbose, quiet=args.quiet,
                  audience=args.audience, lang=lang, **hide)
    if args.output:
        try:
            atomic_write(args.output, text, keep_owner=True)
        except OSError as exc:
            die(helptext.t(_("cannot write the report: {error}; writing it to standard output instead",
                             error=describe_oserror(exc, args.output))))
            args.output, failed = None, True
    if not args.output:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 3 if failed else report.exit_code()


def _count_skipped_runs(report: Any, lock: str) -> Any:
    """Runs skipped because this lock was held since the last run that got
    it: a warning in this report, so a schedule that keeps skipping shows."""
    from diagnose.delivery.lock import skipped_finding, take_skips

    finding = skipped_finding(take_skips(lock))
    if finding is None:
        return report
    from diagnose.delivery.mail import with_finding

    return with_finding(report, finding)


def _send_email(report: Any, config: Any, args: Any, lang: str = "en") -> tuple[Any, int]:
    """`--email` (issue 7, diagnose/delivery/mail.py): save the report, retry
    spooled mail, mail or spool this one. Returns the report as mailed (it may
    have gained a report.delivery finding) and an exit code or 0."""
    from diagnose.delivery.mail import deliver
    from diagnose.delivery.message import groups

    from diagnose.reports.redact import site_addresses

    cfg = dict(config.section("email"))
    if any(args.email):  # these addresses instead of every configured recipient
        cfg.update(to=[a for a in args.email if a], cc=[], customer_to=[], recipients=[])
    try:
        report, delivery = deliver(report, cfg, lang=lang, site_addresses=site_addresses(report, config))
    except ValueError as exc:
        return report, die(str(exc))
    if delivery.spooled or delivery.error or delivery.saved is None or delivery.not_saved or not args.quiet:
        from diagnose.guard import say

        everyone = [a for g in groups(cfg, lang) for a in g.everyone]
        from diagnose.i18n import tr

        say(tr(delivery.summary(everyone), lang))
    return report, 0
