"""The subcommands of ``diagnose``, one module each, and what they share.

A command is a click command (or group) built with the classes below, in its
own module, and registered by name in ``COMMANDS`` in diagnose/cli.py as
``"module:attribute"``. The module is imported only when that command runs
(or for ``--help`` and completion), so keep module level imports light: click
and this package; import the engine inside the function.

    import click
    from diagnose.commands import Command, config_option, die

    @click.command(cls=Command, short_help="...", epilog=EXAMPLES)
    @config_option
    def baseline(config):
        from diagnose.state import baseline as engine   # heavy imports here
        ...
        return 0                      # the exit code (None counts as 0)

Conventions: a callback returns its exit code; bad input is ``die(message)``
(one line on stderr, exit 3) or ``raise click.UsageError(...)`` (usage line
and message, exit 3), never a traceback. Epilogs are printed as written, so
examples keep their columns.
"""

from __future__ import annotations

from typing import Any, Iterable

import click

from diagnose import helptext
from diagnose.i18n import _

EXIT_USAGE = 3

EXIT_CODES = """exit codes (the Nagios plugin convention):
  0  every check ok or skipped      2  the worst result is a failure
  1  the worst result is a warning  3  bad arguments or config, or a check could not run
  4  another run holds the lock (run --lock)"""

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def die(message: str, code: int = EXIT_USAGE) -> int:
    """One line on stderr naming what to fix; returns the exit code. The
    message is shown with secrets masked and control characters escaped
    (diagnose.guard.say): it may quote a config value or a file name."""
    from diagnose.guard import say

    say(message)
    return code


class _Verbatim:
    """Help in the reader's language (diagnose.helptext); prints
    the epilog as written (click would re-wrap it)."""

    epilog: str | None

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        pieces = self.collect_usage_pieces(ctx)  # type: ignore[attr-defined]
        formatter.write_usage(ctx.command_path, " ".join(pieces), prefix=helptext.t("Usage: "))

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        text = helptext.help_text(self)
        if text:
            formatter.write_paragraph()
            with formatter.indentation():
                formatter.write_text(helptext.t(text))

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for param in self.get_params(ctx):  # type: ignore[attr-defined]
            english = getattr(param, "help", None)
            if english:
                param.help = helptext.t(english)
            try:
                row = param.get_help_record(ctx)
            finally:
                if english:
                    param.help = english
            if row is not None:
                rows.append(row)
        if rows:
            with formatter.section(helptext.t("Options")):
                formatter.write_dl(rows)
        if isinstance(self, click.Group):
            self.format_commands(ctx, formatter)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if self.epilog:
            formatter.write("\n" + helptext.t(self.epilog.strip("\n")) + "\n")


class Command(_Verbatim, click.Command):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("context_settings", CONTEXT)
        super().__init__(*args, **kwargs)


class Group(_Verbatim, click.Group):
    command_class = Command

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("context_settings", CONTEXT)
        super().__init__(*args, **kwargs)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        found = [(n, self.get_command(ctx, n)) for n in self.list_commands(ctx)]
        rows = [(n, c) for n, c in found if c is not None and not c.hidden]
        if rows:
            limit = formatter.width - 6 - max(len(n) for n, _ in rows)
            with formatter.section(helptext.t("Commands")):
                formatter.write_dl([(n, helptext.short_help(c, limit)) for n, c in rows])


Group.group_class = Group


class Choice(click.Choice):
    """click.Choice whose message names the bad value the way argparse did:
    ``invalid choice: 'yaml' (choose from text, json, ...)``."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            self.fail(helptext.t(_("invalid choice: {value} (choose from {choices})", value=repr(value),
                                   choices=", ".join(self.choices))), param, ctx)


def check_names() -> list[str]:
    """Every registered check name, without importing any check: the
    built-in table and the names of the plugins' entry points."""
    from diagnose.compat import entry_points
    from diagnose.registry import BUILTINS, GROUP

    return sorted(set(BUILTINS) | {ep.name for ep in entry_points(GROUP)})


def complete_checks(ctx: Any, param: Any, incomplete: str) -> list[str]:
    return [n for n in check_names() if n.startswith(incomplete)]


def config_option(f: Any) -> Any:
    return click.option("--config", metavar="FILE", type=click.Path(),
                        help="config file (default: $DIAGNOSE_CONFIG, ./diagnose.toml, "
                        "/etc/diagnose/site.toml, else built-in defaults)")(f)


def root_option(help: str = "read the system from a recorded tree at DIR") -> Any:
    return click.option("--root", metavar="DIR", type=click.Path(), default="/", show_default=False, help=help)


def load(config_path: str | None) -> tuple[Any, Any]:
    """The registry and the configuration; raises diagnose.config.ConfigError."""
    from diagnose.config import find_config_file, load as load_config
    from diagnose.registry import Registry

    registry = Registry.discover()
    path = find_config_file(config_path)
    return registry, load_config(path, registry.schemas(), registry.multi_sections())


def unknown_check(names: Iterable[str], registry: Any) -> str | None:
    """A usage message for the first name no check has, with the nearest one."""
    from diagnose.config import nearest

    known = set(registry.checks) | set(registry.broken)
    for n in names:
        if n not in known:
            hint = nearest(n, known)
            if hint:
                return helptext.t(_("no check named {name}; did you mean {hint}?", name=repr(n), hint=repr(hint)))
            return helptext.t(_("no check named {name}; checks: {known}", name=repr(n),
                                known=", ".join(sorted(known))))
    return None
