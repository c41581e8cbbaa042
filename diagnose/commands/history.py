"""``diagnose history``: the timeline of findings from the run history."""

from __future__ import annotations

import json

import click

from diagnose import helptext
from diagnose.i18n import _
from diagnose.commands import Choice, Command, complete_checks, config_option, die, load

EXAMPLES = """examples:
  diagnose history                          every finding that was a problem, with its changes
  diagnose history --check disk.space       only one check's findings
  diagnose history --since 2026-11-01       runs from that day on (UTC); also 7d, 12h, 2w
  diagnose history --format json            the same as JSON
"""


@click.command("history", cls=Command, short_help="show the timeline of findings from the run history",
               epilog=EXAMPLES)
@config_option
@click.option("--check", metavar="NAME", shell_complete=complete_checks,
              help="only this check's findings")
@click.option("--since", metavar="DATE", help="only runs from DATE on (2026-11-01, "
              "2026-11-01T06:00, or an age: 7d, 12h, 2w)")
@click.option("--format", "format_", default="text", type=Choice(("text", "json")), help="text or json")
def history(config: str | None, check: str | None, since: str | None, format_: str) -> int:
    """Show the timeline of findings kept in the run history: when each
    problem came and went, how often, and whether it flaps."""
    from diagnose.config import ConfigError
    from diagnose.state import state_dir
    from diagnose.state.history import History
    from diagnose.state.timeline import parse_since, render_text, timeline

    try:
        registry, cfg = load(config)
    except ConfigError as exc:
        return die(helptext.config_error(exc))
    try:
        start = parse_since(since) if since else None
    except ValueError as exc:
        return die(str(exc))
    directory = state_dir(cfg.section("site"))
    store = History.open_read(directory)
    if store is None:
        print(helptext.t(_("No run history in {path} yet: it is written by every `diagnose run` on this machine.",
                           path=f"{directory}/history.db")))
        return 0
    try:
        if check and check not in registry.checks and not store.conn.execute(
                "SELECT 1 FROM checks WHERE name = ? LIMIT 1", (check,)).fetchone():
            from diagnose.commands import unknown_check

            return die(unknown_check([check], registry) or helptext.t(_("no check named {name}", name=repr(check))))
        doc = timeline(store, start, check)
    except Exception as exc:  # noqa: BLE001 - a damaged database is a message, not a traceback
        return die(helptext.t(_("cannot read {path}: {error}", path=store.path, error=str(exc))))
    finally:
        store.close()
    if format_ == "json":
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        print(render_text(doc, helptext.lang()), end="")
    return 0
