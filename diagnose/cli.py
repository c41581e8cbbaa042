"""Command-line interface (DESIGN.md sections 6 and 9), built with click.

Exit codes follow the Nagios plugin convention: 0 ok/skip, 1 warn, 2 fail,
3 when the run could not be done (bad config or arguments) or a check erred.
Bad input never ends in a traceback: it is one line naming what to fix.

Adding a command: write it in its own module (see diagnose/commands/__init__.py
for the conventions and the shared options) and add one row to ``COMMANDS``.
A command's module is imported only when that command is used, so
``diagnose --version`` and ``diagnose run`` pay for nothing else.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Sequence

import click

from diagnose import __version__
from diagnose import helptext
from diagnose.commands import EXIT_CODES, EXIT_USAGE, Choice, Group, die

COMPLETE_VAR = "_DIAGNOSE_COMPLETE"  # click's protocol: set, diagnose answers the shell's completion script

# name -> "module:attribute" of a click command or group, as an entry point says it.
COMMANDS: dict[str, str] = {
    "run": "diagnose.commands.run:run",
    "list": "diagnose.commands.listing:list_checks",
    "init": "diagnose.commands.init:init",
    "schedule": "diagnose.commands.schedule:schedule",
    "completion": "diagnose.commands.completion:completion",
    "docs": "diagnose.commands.docs:docs",
    "mail": "diagnose.commands.mail:mail",
    "baseline": "diagnose.commands.baseline:baseline",
    "agent": "diagnose.commands.agent:agent",
    "site": "diagnose.commands.site:site",
    "history": "diagnose.commands.history:history",
}


class _Lazy(Group):
    """The top-level group: commands come from ``COMMANDS``, imported on use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands or name not in COMMANDS:
            return self.commands.get(name)
        import importlib

        module, _, attr = COMMANDS[name].partition(":")
        cmd = getattr(importlib.import_module(module), attr)
        self.commands[name] = cmd
        return cmd

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # `diagnose run | head`: the reader has what it wanted
            return 0


@click.group(cls=_Lazy, invoke_without_command=True,
             epilog=EXIT_CODES + "\n\nRun `diagnose COMMAND --help` for examples.")
@click.version_option(__version__, "--version", prog_name="diagnose", message="%(prog)s %(version)s")
@click.option("--lang", type=Choice(("en", "ru")), default=None,
              help="language of help, messages and reports (default: the locale)")
@click.pass_context
def cli(ctx: click.Context, lang: str | None) -> Any:
    """Installation health checks for call-center sites: tells site faults
    from software faults, with evidence and a remedy for each."""
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())
        return EXIT_USAGE
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (usage errors are 3, not click's 2).
    No traceback reaches the user, SIGTERM ends a run like SIGINT with its
    own exit code (diagnose.guard)."""
    from diagnose.guard import guarded, install_signal_handlers

    install_signal_handlers()
    try:
        return guarded(_main, argv)
    finally:
        if argv is None:  # the program itself (console script, python -m): the process ends next
            _skip_exit_collections()


def _skip_exit_collections() -> None:
    """Interpreter exit runs full garbage collections over every object the
    run made: about 10 ms of a short run here, to free memory the kernel
    takes back anyway. Frozen objects are left out of them; objects freed by
    reference counting (files, connections) still close as before, and
    atexit handlers still run."""
    import gc

    gc.freeze()


def _main(argv: Sequence[str] | None) -> int:
    if os.environ.get(COMPLETE_VAR):  # the completion script asks for candidates
        from diagnose.commands.completion import register

        register()
    args = list(sys.argv[1:] if argv is None else argv)
    helptext.choose(args)  # help is shown while parsing: the language comes first
    helptext.speak_click()
    try:
        rv = cli.main(args=args, prog_name="diagnose",
                      complete_var=COMPLETE_VAR, standalone_mode=False)
    except click.exceptions.Abort:  # Ctrl-C
        from diagnose.guard import EXIT_SIGINT

        return die("interrupted (SIGINT)", EXIT_SIGINT)
    except click.ClickException as exc:  # usage errors, bad parameters
        exc.show()
        return EXIT_USAGE
    except BrokenPipeError:
        return 0
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
