"""``diagnose docs [CHECK]``: a check's documentation from the installed
package: the config reference generated from the check's schema (the same
text as the README's reference) and the check's page (docs/checks/CHECK.md,
installed with the package), so a technician on a site without internet
has them."""

from __future__ import annotations

import sys

import click

from diagnose import helptext
from diagnose.commands import Command, complete_checks, die, unknown_check
from diagnose.i18n import _

EXAMPLES = """examples:
  diagnose docs                     every check, in one line each
  diagnose docs disk.space          what disk.space settles, its [disk] keys, findings and remedies
  diagnose docs disk.space | less
"""


@click.command(cls=Command, short_help="show a check's documentation: what it settles, its config keys",
               epilog=EXAMPLES)
@click.argument("check", required=False, shell_complete=complete_checks)
def docs(check: str | None) -> int:
    """Show the documentation of CHECK (without CHECK: list the checks)."""
    from diagnose import docgen
    from diagnose.registry import Registry

    registry = Registry.discover()
    if check is None:
        width = max(len(n) for n in registry.checks)
        for name in sorted(registry.checks):
            print(f"{name.ljust(width)}  {helptext.t(registry.checks[name].summary)}")
        print("\n" + helptext.t(_("Run `diagnose docs CHECK` for one check's config keys, findings and remedies.")))
        return 0
    bad = unknown_check([check], registry)
    if bad:
        return die(bad)
    if check not in registry.checks:  # registered, but its plugin does not load
        return die(f"{check}: {registry.broken[check]}")
    text = "\n".join(docgen.check_block(registry.checks[check], link=False))
    body = docgen.page(check)
    text += "\n" + (body if body is not None else helptext.t(_("(no page installed for {check})", check=check)) + "\n")
    if sys.stdout.isatty():
        click.echo_via_pager(text)
    else:
        sys.stdout.write(text)
    return 0
