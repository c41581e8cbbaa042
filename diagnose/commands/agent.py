"""``diagnose agent [install|remove]``: the seat agent (issue 15, diagnose/fleet/)."""

from __future__ import annotations

from typing import Any

import click

from diagnose.commands import Group, config_option, root_option

EXAMPLES = """examples:
  diagnose agent --config /etc/diagnose/site.toml   the seat agent in the foreground
  diagnose agent install                           as a systemd service; prints the broker's ACL lines
  diagnose agent remove

The agent runs the configured audit every [fleet] interval and whenever the
site asks, and publishes its report and status to [fleet] broker (MQTT).
"""

_root = root_option("install into the tree at DIR (image builds, tests)")


@click.group(cls=Group, invoke_without_command=True, epilog=EXAMPLES,
             short_help="the seat agent: audit and report to the site broker over MQTT")
@config_option
@click.option("--timeout", type=float, metavar="S", help="per-check timeout in seconds (default 10)")
@click.pass_context
def agent(ctx: click.Context, config: str | None, timeout: float | None) -> Any:
    """The seat agent, in the foreground until stopped (SIGTERM, Ctrl-C)."""
    if ctx.invoked_subcommand is not None:
        return None
    from diagnose.fleet import commands

    return commands.guarded(commands.agent, config, timeout)


@agent.command(epilog=EXAMPLES, short_help="install the agent's systemd unit; print the broker's lines")
@config_option
@_root
def install(config: str | None, root: str) -> int:
    """Write diagnose-agent.service, enable it, and print this seat's
    mosquitto password and ACL lines."""
    from diagnose.fleet import commands

    return commands.guarded(commands.install, root, config)


@agent.command(short_help="remove the agent's systemd unit")
@_root
def remove(root: str) -> int:
    """Disable and remove diagnose-agent.service."""
    from diagnose.fleet import commands

    return commands.guarded(commands.remove, root)
