"""``diagnose completion bash|zsh|fish``: the shell's completion script.

The script calls ``diagnose`` back with ``_DIAGNOSE_COMPLETE`` set (click's
protocol); diagnose/cli.py answers it. Check names for ``--only``/``--skip``
come from the built-in table and the plugins' entry-point names, without
importing any check.
"""

from __future__ import annotations

import click

from diagnose.commands import Choice, Command

PROG, COMPLETE_VAR = "diagnose", "_DIAGNOSE_COMPLETE"

# fish: click's own script differs between click versions and in some splits
# each answer on a newline that its template writes as a real line break, so
# fish sees no completions at all. This one is the same on every version:
# one answer a line, "type,value<TAB>help".
_FISH = """\
function %(complete_func)s;
    set -l response (env %(complete_var)s=fish_complete COMP_WORDS=(commandline -cp) \
COMP_CWORD=(commandline -t) %(prog_name)s);

    for completion in $response;
        set -l metadata (string split -m 1 "," -- $completion);

        if test "$metadata[1]" = "dir";
            __fish_complete_directories (string split -m 1 \t -- $metadata[2])[1];
        else if test "$metadata[1]" = "file";
            __fish_complete_path (string split -m 1 \t -- $metadata[2])[1];
        else if test "$metadata[1]" = "plain";
            echo $metadata[2];
        end;
    end;
end;

complete --no-files --command %(prog_name)s --arguments "(%(complete_func)s)";
"""


def register() -> None:
    """Put this module's fish support in place of click's (for the script
    and for answering the script's calls)."""
    from click.shell_completion import FishComplete, add_completion_class

    class Fish(FishComplete):
        source_template = _FISH

        def format_completion(self, item: object) -> str:
            value = str(getattr(item, "value", "")).replace("\n", " ").replace("\t", " ")
            help_ = (getattr(item, "help", None) or "").strip().splitlines()
            line = f"{getattr(item, 'type', 'plain')},{value}"
            return line + ("\t" + help_[0].replace("\t", " ") if help_ else "")

    add_completion_class(Fish, "fish")

EXAMPLES = """examples:
  eval "$(diagnose completion bash)"                       this bash session
  diagnose completion bash > /etc/bash_completion.d/diagnose   every bash session
  diagnose completion zsh > "${fpath[1]}/_diagnose"        zsh (then restart it)
  diagnose completion fish > ~/.config/fish/completions/diagnose.fish
"""


@click.command(cls=Command, short_help="print the shell completion script (bash, zsh, fish)",
               epilog=EXAMPLES)
@click.argument("shell", type=Choice(("bash", "zsh", "fish")))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> int:
    """Print the completion script for SHELL: commands, options, and check
    names for --only and --skip."""
    from click.shell_completion import get_completion_class

    register()
    cls = get_completion_class(shell)
    assert cls is not None  # the three shells are click's own
    script = cls(ctx.find_root().command, {}, PROG, COMPLETE_VAR).source()
    click.echo(script)
    return 0
