"""``diagnose run``: probe, judge, attribute, render (DESIGN.md section 6)."""

from __future__ import annotations

import json
import os
import sys
from types import SimpleNamespace
from typing import Any

import click

from diagnose.commands import EXIT_CODES, Choice, Command, complete_checks, config_option, die, load, unknown_check

DEFAULT_LOCK_FILE = "/run/lock/diagnose.lock"  # diagnose.delivery.lock.DEFAULT_LOCK, without importing it
FORMATS = ("text", "json", "html", "junit", "nagios", "prometheus")

EXAMPLES = """examples:
  diagnose run                                  audit this machine with built-in defaults
  diagnose run --config /etc/diagnose/site.toml --format html --output /tmp/report.html
  diagnose run --only disk.space --only database.integrity -v
  diagnose run --save-facts site.json           collect on site ...
  diagnose run --from-facts site.json --format text   ... and judge again at the office
  diagnose run --format nagios                  one line for Nagios/Icinga, exit code 0-3
  diagnose run --email --lock                   save and mail the report as in [email], one run at a time

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
@click.option("--timeout", type=float, metavar="S", help="per-check timeout in seconds (default 10)")
@click.option("--root", metavar="DIR", type=click.Path(), default="/", help="read the system from a recorded tree at DIR")
@click.option("--email", multiple=True, is_flag=False, flag_value="", metavar="[ADDRESS]",
              help="also save the report and mail it as configured in [email]; with ADDRESS "
              "(repeatable) mail it there instead of [email] to")
@click.option("--lock", is_flag=False, flag_value=DEFAULT_LOCK_FILE, default=None, metavar="[FILE]",
              help=f"refuse to start while another run holds FILE (default {DEFAULT_LOCK_FILE}); "
              "exit code 4 then")
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
    if not args.lock:
        return _run(args)
    from diagnose.delivery.lock import EXIT_LOCKED, LockError, LockHeld, run_lock

    try:
        with run_lock(args.lock):
            return _run(args)
    except LockHeld as exc:
        return die(str(exc), EXIT_LOCKED)
    except LockError as exc:
        return die(str(exc))


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
    from diagnose.fsutil import atomic_write
    from diagnose.host import Host
    from diagnose.runner import Collection, collect, config_from_facts, evaluate
    from diagnose.state.session import HistorySession

    try:
        registry, config = load(args.config)
    except ConfigError as exc:
        return die(f"config error: {exc}")
    bad = unknown_check(args.only + args.skip, registry)
    if bad:
        return die(bad)

    if args.from_facts:
        try:
            with open(args.from_facts, encoding="utf-8") as fh:
                col = Collection.from_dict(json.load(fh))
        except (OSError, ValueError, KeyError) as exc:
            return die(f"cannot read facts file {args.from_facts}: {exc}")
        if not args.config:  # judge with the configuration the site had
            config = config_from_facts(col, registry)
        if args.only:
            col.results = {n: r for n, r in col.results.items() if n in args.only}
        if args.skip:
            col.results = {n: r for n, r in col.results.items() if n not in args.skip}
        history = HistorySession.begin(config, registry, "facts")
    else:
        if not os.path.isdir(args.root):
            return die(f"--root {args.root}: not a directory")
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

    if args.save_facts:
        try:
            atomic_write(args.save_facts, json.dumps(col.to_dict(), indent=1, ensure_ascii=False) + "\n", 0o600)
        except OSError as exc:
            return die(f"cannot write facts to {args.save_facts}: {exc.strerror}")

    report = evaluate(registry, col, config, timeout=args.timeout)
    report = history.finish(report, col)
    if history.note and not args.quiet:
        print(f"diagnose: {history.note}", file=sys.stderr)
    if args.email:
        report, code = _send_email(report, config, args)
        if code:
            return code

    from diagnose.reports import render

    to_terminal = args.output is None and sys.stdout.isatty()
    encoding = (getattr(sys.stdout, "encoding", None) or "ascii").lower()
    text = render(report, args.format, colour=to_terminal and not os.environ.get("NO_COLOR"),
                  unicode=args.output is not None or "utf" in encoding,
                  verbose=args.verbose, quiet=args.quiet)
    if args.output:
        try:
            atomic_write(args.output, text)
        except OSError as exc:
            return die(f"cannot write report to {args.output}: {exc.strerror}")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return report.exit_code()


def _send_email(report: Any, config: Any, args: Any) -> tuple[Any, int]:
    """`--email` (issue 7, diagnose/delivery/mail.py): save the report, retry
    spooled mail, mail or spool this one. Returns the report as mailed (it may
    have gained a report.delivery finding) and an exit code or 0."""
    from diagnose.delivery.mail import deliver

    cfg = dict(config.section("email"))
    if any(args.email):
        cfg["to"] = [a for a in args.email if a]
    try:
        report, delivery = deliver(report, cfg)
    except ValueError as exc:
        return report, die(str(exc))
    except OSError as exc:
        return report, die(f"cannot save the report in {cfg['reports_dir']}: {exc.strerror or exc}")
    if delivery.spooled or not args.quiet:
        print(f"diagnose: {delivery.summary(cfg['to'] + cfg['cc'])}", file=sys.stderr)
    return report, 0
