"""``diagnose list``: every check, what it needs, whether it applies here."""

from __future__ import annotations

import json

import click

from diagnose import helptext
from diagnose.commands import Choice, Command, config_option, die, load
from diagnose.i18n import _, join

t = helptext.t

EXAMPLES = """examples:
  diagnose list                     every check, what it needs, whether it applies here
  diagnose list --config site.toml  the same with this site's configuration
"""


@click.command("list", cls=Command, short_help="list checks and whether they apply here", epilog=EXAMPLES)
@config_option
@click.option("--format", "format_", default="text", type=Choice(("text", "json")), help="text or json")
def list_checks(config: str | None, format_: str) -> int:
    """List the checks, what each needs, and whether it applies here or why not."""
    from diagnose.config import ConfigError
    from diagnose.host import Host
    from diagnose.runner import detect_role, why_skip

    try:
        registry, cfg = load(config)
    except ConfigError as exc:
        return die(helptext.config_error(exc))
    host = Host("/")
    role = detect_role(host, cfg)
    rows = []
    for name in sorted(set(registry.checks) | set(registry.broken)):
        if name in registry.broken:
            rows.append({"name": name, "summary": "", "needs": "", "applies": False,
                         "why_not": registry.broken[name]})
            continue
        c = registry.checks[name]
        needs = []
        if c.needs.role != "any":
            needs.append(_("role {role}", role=c.needs.role))
        if c.needs.section:
            needs.append(f"[[{c.section}]]" if c.multi else f"[{c.section}]")
        needs += [_("command {name}", name=x) for x in c.needs.commands]
        needs += [_("path {name}", name=x) for x in c.needs.paths]
        needs += [_("module {name}", name=x) for x in c.needs.modules]
        try:
            reason = why_skip(c, host, cfg, role)
        except Exception as exc:  # noqa: BLE001 - listing must never crash
            reason = _("applicability test failed: {error}", error=str(exc))
        rows.append({"name": name, "summary": c.summary, "needs": join(", ", needs) or _("nothing"),
                     "applies": reason is None, "why_not": reason})
    if format_ == "json":
        print(json.dumps({"role": role, "checks": rows}, indent=2))
        return 0
    print(t(_("Checks (this host's role: {role}):", role=role)))
    width = max((len(r["name"]) for r in rows), default=10)
    for r in rows:
        mark = t(_("yes")) if r["applies"] else t(_("no")).ljust(3)
        print(f"  {r['name'].ljust(width)}  " + t(_("applies: {mark}", mark=mark)) + f"  {t(r['summary'])}")
        print(f"  {' ' * width}  " + t(_("needs: {needs}", needs=t(r["needs"]))))
        if r["why_not"]:
            print(f"  {' ' * width}  " + t(_("why not: {why}", why=t(r["why_not"]))))
    return 0
