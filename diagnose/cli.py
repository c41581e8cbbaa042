"""Command-line interface: ``diagnose run | list | init`` (DESIGN.md section 6).

Exit codes follow the Nagios plugin convention: 0 ok/skip, 1 warn, 2 fail,
3 when the run could not be done (bad config or arguments) or a check erred.
Bad input never ends in a traceback: it is one line naming what to fix.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Sequence

from diagnose import __version__

EXIT_USAGE = 3
DEFAULT_LOCK_FILE = "/run/lock/diagnose.lock"  # diagnose.delivery.lock.DEFAULT_LOCK, without importing it

RUN_EXAMPLES = """examples:
  diagnose run                                  audit this machine with built-in defaults
  diagnose run --config /etc/diagnose/site.toml --format html --output /tmp/report.html
  diagnose run --only disk.space --only database.integrity -v
  diagnose run --save-facts site.json           collect on site ...
  diagnose run --from-facts site.json --format text   ... and judge again at the office
  diagnose run --format nagios                  one line for Nagios/Icinga, exit code 0-3
  diagnose run --email --lock                   save and mail the report as in [email], one run at a time
"""
LIST_EXAMPLES = """examples:
  diagnose list                     every check, what it needs, whether it applies here
  diagnose list --config site.toml  the same with this site's configuration
"""
INIT_EXAMPLES = """examples:
  diagnose init                     write ./diagnose.toml from what is detected here
  diagnose init --output -          print the starter config instead
  diagnose init --output /etc/diagnose/site.toml
"""


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad arguments; 2 means "fail" here, so use 3."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="diagnose", description="Installation health checks for call-center sites: "
                "tells site faults from software faults, with evidence and a remedy for each.",
                epilog="Run `diagnose COMMAND --help` for examples.")
    p.add_argument("--version", action="version", version=f"diagnose {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    fmt = argparse.RawDescriptionHelpFormatter
    run = sub.add_parser("run", help="run the checks and write a report", epilog=RUN_EXAMPLES,
                         formatter_class=fmt)
    run.add_argument("--config", metavar="FILE", help="config file (default: $DIAGNOSE_CONFIG, "
                     "./diagnose.toml, /etc/diagnose/site.toml, else built-in defaults)")
    run.add_argument("--only", action="append", metavar="CHECK", default=[], help="run only this check (repeatable)")
    run.add_argument("--skip", action="append", metavar="CHECK", default=[], help="do not run this check (repeatable)")
    run.add_argument("--format", default="text",
                     choices=("text", "json", "html", "junit", "nagios", "prometheus"))
    run.add_argument("--output", metavar="FILE", help="write the report here (atomically) instead of stdout")
    run.add_argument("--save-facts", metavar="FILE", help="also save every probe's facts to FILE")
    run.add_argument("--from-facts", metavar="FILE", help="judge facts saved earlier instead of probing this machine")
    run.add_argument("--timeout", type=float, metavar="S", help="per-check timeout in seconds (default 10)")
    run.add_argument("--root", metavar="DIR", default="/", help="read the system from a recorded tree at DIR")
    run.add_argument("--email", action="append", nargs="?", const="", metavar="ADDRESS",
                     help="also save the report and mail it as configured in [email]; with ADDRESS "
                     "(repeatable) mail it there instead of [email] to")
    run.add_argument("--lock", nargs="?", const=DEFAULT_LOCK_FILE, metavar="FILE",
                     help=f"refuse to start while another run holds FILE (default {DEFAULT_LOCK_FILE}); "
                     "exit code 4 then")
    run.add_argument("-v", "--verbose", action="store_true", help="show evidence and the checks that passed")
    run.add_argument("-q", "--quiet", action="store_true", help="only problems and the verdict; no progress")

    ls = sub.add_parser("list", help="list checks and whether they apply here", epilog=LIST_EXAMPLES,
                        formatter_class=fmt)
    ls.add_argument("--config", metavar="FILE")
    ls.add_argument("--format", default="text", choices=("text", "json"))

    init = sub.add_parser("init", help="write a commented starter config from detection",
                          epilog=INIT_EXAMPLES, formatter_class=fmt)
    init.add_argument("--output", metavar="FILE", default="diagnose.toml",
                      help="where to write it (default ./diagnose.toml; - for stdout)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    _add_schedule(sub)
    _add_fleet(sub)
    return p


SCHEDULE_EXAMPLES = """examples:
  diagnose schedule install --at 02:30 --email support@vendor.example --email it@customer.example
  diagnose schedule install --every 6h --config /etc/diagnose/site.toml   (recipients from [email] to)
  diagnose schedule show
  diagnose schedule remove

Installs a systemd timer where systemd runs, else /etc/cron.d/diagnose. The
scheduled run mails the report (diagnose run --email) and holds the run lock:
a run that finds the previous one still going exits with code 4.
"""


def _add_schedule(sub: Any) -> None:
    """`diagnose schedule install|show|remove` (issue 7, diagnose/schedule.py)."""
    fmt = argparse.RawDescriptionHelpFormatter
    sched = sub.add_parser("schedule", help="run the audit every night (cron or systemd timer) and mail it",
                           epilog=SCHEDULE_EXAMPLES, formatter_class=fmt)
    sched.set_defaults(handler=cmd_schedule)
    actions = sched.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    install = actions.add_parser("install", help="install or replace the schedule",
                                 epilog=SCHEDULE_EXAMPLES, formatter_class=fmt)
    when = install.add_mutually_exclusive_group()
    when.add_argument("--at", metavar="HH:MM", help="every day at this time (default 02:00)")
    when.add_argument("--every", metavar="N{m,h,d}", help="repeatedly, e.g. 30m, 6h, 1d")
    install.add_argument("--email", action="append", default=[], metavar="ADDRESS",
                         help="mail the report here (repeatable; default: [email] to of the config)")
    install.add_argument("--config", metavar="FILE", help="config the scheduled run uses "
                         "(default /etc/diagnose/site.toml)")
    actions.add_parser("show", help="show the installed schedule")
    actions.add_parser("remove", help="remove the schedule")
    for p in actions.choices.values():
        p.add_argument("--root", metavar="DIR", default="/", help="install into the tree at DIR (image builds, tests)")


AGENT_EXAMPLES = """examples:
  diagnose agent --config /etc/diagnose/site.toml   the seat agent in the foreground
  diagnose agent install                           as a systemd service; prints the broker's ACL lines
  diagnose agent remove

The agent runs the configured audit every [fleet] interval and whenever the
site asks, and publishes its report and status to [fleet] broker.
"""
SITE_EXAMPLES = """examples:
  diagnose site --broker mqtt://cc-srv01:1883           every seat's last report, as one site report
  diagnose site --fresh --wait 60 --format html --output site.html
  diagnose site --reports /srv/collected/ --format json  from report files collected any other way
"""


def _add_fleet(sub: Any) -> None:
    """`diagnose agent [install|remove]` and `diagnose site` (issue 15, diagnose/fleet/)."""
    fmt = argparse.RawDescriptionHelpFormatter
    agent = sub.add_parser("agent", help="the seat agent: audit and report to the site broker over MQTT",
                           epilog=AGENT_EXAMPLES, formatter_class=fmt)
    agent.set_defaults(handler=cmd_agent)
    agent.add_argument("action", nargs="?", choices=("install", "remove"),
                       help="install or remove its systemd unit instead of running it")
    agent.add_argument("--config", metavar="FILE", help="config file (default as for run)")
    agent.add_argument("--timeout", type=float, metavar="S", help="per-check timeout in seconds")
    agent.add_argument("--root", metavar="DIR", default="/", help="install into the tree at DIR (image builds, tests)")
    site = sub.add_parser("site", help="one report for the whole site from every seat's report",
                          epilog=SITE_EXAMPLES, formatter_class=fmt)
    site.set_defaults(handler=cmd_site)
    site.add_argument("--config", metavar="FILE", help="config file (default as for run)")
    site.add_argument("--broker", metavar="URL", help="mqtt://HOST:PORT or mqtts://HOST:PORT (default [fleet] broker)")
    site.add_argument("--fresh", action="store_true", help="ask every seat to run now and wait for the answers")
    site.add_argument("--wait", type=float, default=30.0, metavar="S", help="with --fresh, wait up to S seconds (30)")
    site.add_argument("--reports", metavar="DIR", help="read diagnose.report/1 files from DIR instead of the broker")
    site.add_argument("--format", default="text",
                      choices=("text", "json", "html", "junit", "nagios", "prometheus"))
    site.add_argument("--output", metavar="FILE", help="write the report here (atomically) instead of stdout")
    site.add_argument("-v", "--verbose", action="store_true", help="every seat, every finding, with evidence")
    site.add_argument("-q", "--quiet", action="store_true", help="only problems and the verdict")


def cmd_agent(args: argparse.Namespace) -> int:
    from diagnose.fleet import commands

    if args.action == "install":
        return commands.guarded(commands.install, args.root, args.config)
    if args.action == "remove":
        return commands.guarded(commands.remove, args.root)
    return commands.guarded(commands.agent, args.config, args.timeout)


def cmd_site(args: argparse.Namespace) -> int:
    from diagnose.fleet import commands

    to_terminal = args.output is None and sys.stdout.isatty()
    encoding = (getattr(sys.stdout, "encoding", None) or "ascii").lower()
    return commands.guarded(commands.site, args.config, broker=args.broker, fresh=args.fresh, wait=args.wait,
                            reports=args.reports, fmt=args.format, output=args.output, verbose=args.verbose,
                            quiet=args.quiet, colour=to_terminal and not os.environ.get("NO_COLOR"),
                            unicode=args.output is not None or "utf" in encoding)


def cmd_schedule(args: argparse.Namespace) -> int:
    from diagnose.delivery import schedule

    if not args.action:
        return _die("schedule needs an action: install, show or remove (see diagnose schedule --help)")
    try:
        if args.action == "install":
            done = schedule.install(args.root, at=args.at, every=args.every, emails=args.email,
                                    config=args.config)
            print(f"installed {done.kind} schedule, {done.when}: {', '.join(done.files)}")
            for note in done.notes:
                print(f"note: {note}")
        elif args.action == "show":
            sys.stdout.write(schedule.show(args.root))
        else:
            removed = schedule.remove(args.root)
            print("removed " + ", ".join(removed) if removed else "no schedule was installed")
    except schedule.ScheduleError as exc:
        return _die(str(exc))
    except OSError as exc:
        return _die(f"{exc.filename or 'schedule'}: {exc.strerror}")
    return 0


def _die(message: str, code: int = EXIT_USAGE) -> int:
    print(f"diagnose: {message}", file=sys.stderr)
    return code


def _load(config_path: str | None):
    from diagnose.config import find_config_file, load
    from diagnose.registry import Registry

    registry = Registry.discover()
    path = find_config_file(config_path)
    config = load(path, registry.schemas(), registry.multi_sections())
    return registry, config


def _check_names(names: list[str], registry: Any) -> str | None:
    from diagnose.config import nearest

    known = set(registry.checks) | set(registry.broken)
    for n in names:
        if n not in known:
            hint = nearest(n, known)
            return f"no check named {n!r}" + (f"; did you mean {hint!r}?" if hint else
                                               f"; checks: {', '.join(sorted(known))}")
    return None


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


def cmd_run(args: argparse.Namespace) -> int:
    """`--lock` (issue 7): one run at a time; the run itself is _run."""
    if not args.lock:
        return _run(args)
    from diagnose.delivery.lock import EXIT_LOCKED, LockError, LockHeld, run_lock

    try:
        with run_lock(args.lock):
            return _run(args)
    except LockHeld as exc:
        return _die(str(exc), EXIT_LOCKED)
    except LockError as exc:
        return _die(str(exc))


def _run(args: argparse.Namespace) -> int:
    from diagnose.config import ConfigError
    from diagnose.fsutil import atomic_write
    from diagnose.host import Host
    from diagnose.runner import Collection, collect, config_from_facts, evaluate

    try:
        registry, config = _load(args.config)
    except ConfigError as exc:
        return _die(f"config error: {exc}")
    bad = _check_names(args.only + args.skip, registry)
    if bad:
        return _die(bad)

    if args.from_facts:
        try:
            with open(args.from_facts, encoding="utf-8") as fh:
                col = Collection.from_dict(json.load(fh))
        except (OSError, ValueError, KeyError) as exc:
            return _die(f"cannot read facts file {args.from_facts}: {exc}")
        if not args.config:  # judge with the configuration the site had
            config = config_from_facts(col, registry)
        if args.only:
            col.results = {n: r for n, r in col.results.items() if n in args.only}
        if args.skip:
            col.results = {n: r for n, r in col.results.items() if n not in args.skip}
    else:
        if not os.path.isdir(args.root):
            return _die(f"--root {args.root}: not a directory")
        spinner = _Spinner(sys.stderr.isatty() and not args.quiet)
        try:
            col = collect(registry, Host(args.root), config, only=args.only or None,
                          skip=args.skip or None, timeout=args.timeout, progress=spinner.update)
        finally:
            spinner.done()

    if args.save_facts:
        try:
            atomic_write(args.save_facts, json.dumps(col.to_dict(), indent=1, ensure_ascii=False) + "\n", 0o600)
        except OSError as exc:
            return _die(f"cannot write facts to {args.save_facts}: {exc.strerror}")

    report = evaluate(registry, col, config, timeout=args.timeout)
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
            return _die(f"cannot write report to {args.output}: {exc.strerror}")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return report.exit_code()


def _send_email(report: Any, config: Any, args: argparse.Namespace) -> tuple[Any, int]:
    """`--email` (issue 7, diagnose/mail.py): save the report, retry spooled
    mail, mail or spool this one. Returns the report as mailed (it may have
    gained a report.delivery finding) and an exit code or 0."""
    from diagnose.delivery.mail import deliver

    cfg = dict(config.section("email"))
    if any(args.email):
        cfg["to"] = [a for a in args.email if a]
    try:
        report, delivery = deliver(report, cfg)
    except ValueError as exc:
        return report, _die(str(exc))
    except OSError as exc:
        return report, _die(f"cannot save the report in {cfg['reports_dir']}: {exc.strerror or exc}")
    if delivery.spooled or not args.quiet:
        print(f"diagnose: {delivery.summary(cfg['to'] + cfg['cc'])}", file=sys.stderr)
    return report, 0


def cmd_list(args: argparse.Namespace) -> int:
    from diagnose.config import ConfigError
    from diagnose.host import Host
    from diagnose.runner import detect_role, why_skip

    try:
        registry, config = _load(args.config)
    except ConfigError as exc:
        return _die(f"config error: {exc}")
    host = Host("/")
    role = detect_role(host, config)
    rows = []
    for name in sorted(set(registry.checks) | set(registry.broken)):
        if name in registry.broken:
            rows.append({"name": name, "summary": "", "needs": "", "applies": False,
                         "why_not": registry.broken[name]})
            continue
        c = registry.checks[name]
        needs = []
        if c.needs.role != "any":
            needs.append(f"role {c.needs.role}")
        if c.needs.section:
            needs.append(f"[[{c.section}]]" if c.multi else f"[{c.section}]")
        needs += [f"command {x}" for x in c.needs.commands]
        needs += [f"path {x}" for x in c.needs.paths]
        needs += [f"module {x}" for x in c.needs.modules]
        try:
            reason = why_skip(c, host, config, role)
        except Exception as exc:  # noqa: BLE001 - listing must never crash
            reason = f"applicability test failed: {exc}"
        rows.append({"name": name, "summary": c.summary, "needs": ", ".join(needs) or "nothing",
                     "applies": reason is None, "why_not": reason})
    if args.format == "json":
        print(json.dumps({"role": role, "checks": rows}, indent=2))
        return 0
    print(f"Checks (this host's role: {role}):")
    width = max((len(r["name"]) for r in rows), default=10)
    for r in rows:
        mark = "yes" if r["applies"] else "no "
        print(f"  {r['name'].ljust(width)}  applies: {mark}  {r['summary']}")
        print(f"  {' ' * width}  needs: {r['needs']}")
        if r["why_not"]:
            print(f"  {' ' * width}  why not: {r['why_not']}")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from diagnose.fsutil import atomic_write
    from diagnose.host import Host
    from diagnose.initcfg import starter_config
    from diagnose.registry import Registry

    text = starter_config(Registry.discover(), Host("/"))
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    if os.path.exists(args.output) and not args.force:
        return _die(f"{args.output} exists; use --force to overwrite or --output to choose another file")
    try:
        atomic_write(args.output, text)
    except OSError as exc:
        return _die(f"cannot write {args.output}: {exc.strerror}")
    print(f"wrote {args.output}; edit it, then run: diagnose run --config {args.output}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = {"run": cmd_run, "list": cmd_list, "init": cmd_init}.get(args.command or "")
    if handler is None and hasattr(args, "handler"):
        handler = args.handler
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return handler(args)
    except KeyboardInterrupt:
        return _die("interrupted", 130)
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
