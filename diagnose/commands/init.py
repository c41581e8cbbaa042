"""``diagnose init``: a commented starter config from what is detected here."""

from __future__ import annotations

import os
import sys

import click

from diagnose import helptext
from diagnose.commands import Command, die
from diagnose.i18n import _

EXAMPLES = """examples:
  diagnose init                     write ./diagnose.toml from what is detected here
  diagnose init --output -          print the starter config instead
  diagnose init --output /etc/diagnose/site.toml
"""


@click.command(cls=Command, short_help="write a commented starter config from detection", epilog=EXAMPLES)
@click.option("--output", metavar="FILE", type=click.Path(), default="diagnose.toml",
              help="where to write it (default ./diagnose.toml; - for stdout)")
@click.option("--force", is_flag=True, help="overwrite an existing file")
def init(output: str, force: bool) -> int:
    """Write a commented starter config from what is detected on this machine."""
    from diagnose.fsutil import atomic_write
    from diagnose.host import Host
    from diagnose.initcfg import starter_config
    from diagnose.registry import Registry

    text = starter_config(Registry.discover(), Host("/"))
    if output == "-":
        sys.stdout.write(text)
        return 0
    if os.path.exists(output) and not force:
        return die(helptext.t(_("{file} exists; use --force to overwrite or --output to choose another file",
                                file=output)))
    try:
        atomic_write(output, text)
    except OSError as exc:
        return die(helptext.t(_("cannot write {file}: {error}", file=output, error=exc.strerror)))
    print(helptext.t(_("wrote {file}; edit it, then run: {command}", file=output,
                       command=f"diagnose run --config {output}")))
    return 0
