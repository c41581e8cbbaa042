"""``diagnose site``: one report for the whole site (issue 15, diagnose/fleet/)."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from diagnose.commands import EXIT_CODES, Choice, Command, config_option

FORMATS = ("text", "json", "html", "junit", "nagios", "prometheus")

EXAMPLES = """examples:
  diagnose site --broker mqtt://cc-srv01:1883           every seat's last report, as one site report
  diagnose site --fresh --wait 60 --format html --output site.html
  diagnose site --reports /srv/collected/ --format json  from report files collected any other way
  diagnose site --format prometheus --output /var/lib/prometheus/node-exporter/diagnose-site.prom

""" + EXIT_CODES


@click.command(cls=Command, short_help="one report for the whole site from every seat's report", epilog=EXAMPLES)
@config_option
@click.option("--broker", metavar="URL", help="mqtt://HOST:PORT or mqtts://HOST:PORT (default [fleet] broker)")
@click.option("--fresh", is_flag=True, help="ask every seat to run now and wait for the answers")
@click.option("--wait", type=float, default=30.0, metavar="S", help="with --fresh, wait up to S seconds (default 30)")
@click.option("--reports", metavar="DIR", type=click.Path(), help="read report files from DIR instead of the broker")
@click.option("--format", "format_", default="text", type=Choice(FORMATS), help="report format (default text)")
@click.option("--output", metavar="FILE", type=click.Path(), help="write the report here (atomically) instead of stdout")
@click.option("-v", "--verbose", is_flag=True, help="every seat, every finding, with evidence")
@click.option("-q", "--quiet", is_flag=True, help="only problems and the verdict")
def site(config: str | None, broker: str | None, fresh: bool, wait: float, reports: str | None, format_: str,
         output: str | None, verbose: bool, quiet: bool) -> Any:
    """Every seat's report and liveness, from the broker (or report files),
    judged as one site: site-level root causes naming their seats."""
    from diagnose.fleet import commands

    to_terminal = output is None and sys.stdout.isatty()
    encoding = (getattr(sys.stdout, "encoding", None) or "ascii").lower()
    return commands.guarded(commands.site, config, broker=broker, fresh=fresh, wait=wait, reports=reports,
                            fmt=format_, output=output, verbose=verbose, quiet=quiet,
                            colour=to_terminal and not os.environ.get("NO_COLOR"),
                            unicode=output is not None or "utf" in encoding)
