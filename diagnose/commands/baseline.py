"""``diagnose baseline record | show | diff | restore | accept`` (issue 11,
diagnose/state/baseline.py).

Exit codes: 0 done; ``diff`` 1 when something differs (like diff(1), and
the warn level of ``run``), ``restore`` 1 when the answer was no; 3 for bad
arguments, bad config or a baseline that cannot do what was asked.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable

import click

from diagnose.i18n import _

from diagnose import helptext
from diagnose.commands import Choice, Group, config_option, die, load, root_option

EXAMPLES = """examples:
  diagnose baseline record --by integrator --note "accepted by the customer on site"
  diagnose baseline show
  diagnose baseline diff                                  every watched file that differs
  diagnose baseline diff /etc/asterisk/chan_dahdi.conf
  diagnose baseline restore /etc/asterisk/chan_dahdi.conf        shows the diff, asks
  diagnose baseline restore /etc/asterisk/queues.conf --yes
  diagnose baseline accept /etc/asterisk/queues.conf --by manager --why "linear ringing approved"
  diagnose baseline record --root /srv/copy-of-site --config site.toml   a recorded tree

The baseline lives in <state_dir>/baseline/ ([site] state_dir, default
/var/lib/diagnose; $DIAGNOSE_STATE_DIR overrides). Every recording is kept;
one is current. `restore` is the only command that writes a watched file;
`diagnose run` never does.
"""

_root = root_option("the system is the recorded tree at DIR (paths resolve under it)")


@click.group(cls=Group, invoke_without_command=True, epilog=EXAMPLES,
             short_help="the acceptance baseline: record, show, diff, restore, accept")
@click.pass_context
def baseline(ctx: click.Context) -> Any:
    """The acceptance baseline: what the site looked like when it was accepted."""
    if ctx.invoked_subcommand is None:
        return die(helptext.t(_("baseline needs an action: record, show, diff, restore or accept "
                                "(see diagnose baseline --help)")))
    return None


def _out(message: str) -> None:
    print(helptext.t(message))


def _with(config: str | None, root: str, action: Callable[..., int]) -> int:
    from diagnose.config import ConfigError
    from diagnose.host import Host
    from diagnose.state.baseline import BaselineError

    try:
        registry, cfg = load(config)
    except ConfigError as exc:
        return die(helptext.config_error(exc))
    if not os.path.isdir(root):
        return die(helptext.t(_("--root {dir}: not a directory", dir=root)))
    try:
        return action(registry, cfg, Host(root))
    except BaselineError as exc:
        return die(helptext.t(exc.args[0] if exc.args else str(exc)))
    except OSError as exc:
        return die(f"{exc.filename or 'baseline'}: {exc.strerror or exc}")


@baseline.command(epilog=EXAMPLES, short_help="record a new baseline (facts, watched files, packages)")
@click.option("--by", metavar="NAME", help="who records it (default: the login user)")
@click.option("--note", metavar="TEXT", default="", help='why, e.g. "acceptance on site"')
@config_option
@_root
def record(by: str | None, note: str, config: str | None, root: str) -> int:
    """Record a new baseline and make it current: every applicable probe's
    facts, every watched file, the installed packages."""
    def go(registry: Any, cfg: Any, host: Any) -> int:
        from diagnose.state.baseline import Store, record as engine

        rec = engine(registry, cfg, host, by=by, note=note)
        files = rec["files"].values()
        kept = sum(1 for f in files if f.get("text"))
        present = sum(1 for f in files if f.get("exists"))
        ran = sorted(rec["facts"])
        store = Store.for_site(cfg.section("site"))
        pk = rec["packages"]
        _out(_("recorded baseline {id} by {by} in {dir} (now current)", id=rec["id"], by=rec["recorded_by"],
               dir=store.dir))
        _out(_("  files:    {present} watched ({kept} with content, {digest} digest only, {absent} named but "
               "absent)", present=present, kept=kept, digest=present - kept,
               absent=len(rec["files"]) - present))
        _out(_("  facts:    {n} checks ({names})", n=len(ran), names=", ".join(ran) or _("none")))
        _out(_("  packages: {n} ({manager})", n=len(pk["items"]), manager=pk["manager"]) if pk["manager"] else
             _("  packages: {n} (no package database)", n=len(pk["items"])))
        return 0
    return _with(config, root, go)


@baseline.command(short_help="list the recordings; * marks the current one")
@click.option("--format", "fmt", type=Choice(["text", "json"]), default="text", help="text or json")
@config_option
@_root
def show(fmt: str, config: str | None, root: str) -> int:
    """List the recordings, oldest first; * marks the current one."""
    def go(registry: Any, cfg: Any, host: Any) -> int:
        from diagnose.state.baseline import Store

        store = Store.for_site(cfg.section("site"))
        current = store.current_id()
        rows = []
        for rid in store.ids():
            rec = store.load(rid) or {}
            last = (rec.get("accepted") or [{}])[-1] if rec.get("kind") == "accept" else {}
            rows.append({"id": rid, "current": rid == current, "kind": rec.get("kind"),
                         "recorded_at": rec.get("accepted_at") or rec.get("recorded_at"),
                         "by": last.get("by") or rec.get("recorded_by"),
                         "note": last.get("why") if last else rec.get("note"),
                         "target": last.get("target"), "files": len(rec.get("files", {})),
                         "parent": rec.get("parent")})
        if fmt == "json":
            print(json.dumps({"dir": store.dir, "current": current, "recordings": rows}, indent=1))
            return 0
        if not rows:
            _out(_("no baseline in {dir}: record one with `diagnose baseline record --by NAME`", dir=store.dir))
            return 0
        _out(_("Baselines in {dir} (* current):", dir=store.dir))
        for r in rows:
            what = helptext.t(_("accept {target}", target=r["target"]) if r["kind"] == "accept" else
                              _("record, {n} files", n=r["files"]))
            note = f'  "{r["note"]}"' if r["note"] else ""
            by = helptext.t(_("by {who}", who=r["by"]))
            print(f"{'*' if r['current'] else ' '} {r['id']}  {r['recorded_at']}  {by}  {what}{note}")
        return 0
    return _with(config, root, go)


@baseline.command(short_help="what differs from the current baseline")
@click.argument("path", required=False, metavar="[PATH]")
@config_option
@_root
def diff(path: str | None, config: str | None, root: str) -> int:
    """Show what differs from the current baseline (every watched file, or PATH)."""
    def go(registry: Any, cfg: Any, host: Any) -> int:
        from diagnose.state.baseline import file_diff

        entries = file_diff(cfg, host, path)
        if not entries:
            _out(_("no difference from the current baseline in {path}", path=path) if path else
                 _("no difference from the current baseline"))
            return 0
        for e in entries:
            if e["state"] in ("added", "removed"):
                print(f"{e['path']}: " + helptext.t(_("not in the baseline (new file)") if e["state"] == "added"
                                                    else _("removed")))
            for a in e["attributes"]:
                print(f"{e['path']}: {a['attribute']} {a['baseline']} -> {a['current']}")
            if e["diff"]:
                print(e["diff"])
            elif e["state"] == "changed" and not e.get("content_kept"):
                print(f"{e['path']}: " + helptext.t(_("content changed (the baseline keeps only its digest)")))
        return 1
    return _with(config, root, go)


@baseline.command(short_help="put the accepted file back (keeps a copy of the current one)")
@click.argument("path", metavar="PATH")
@click.option("--yes", is_flag=True, help="do not ask")
@config_option
@_root
def restore(path: str, yes: bool, config: str | None, root: str) -> int:
    """Put the accepted PATH back: shows the difference, asks unless --yes,
    keeps the current file beside it as <name>.replaced-<time>, restores
    owner and mode."""
    def go(registry: Any, cfg: Any, host: Any) -> int:
        from diagnose.state.baseline import restore as engine

        def ask(prompt: str) -> bool:
            from diagnose.state.baseline import _ask

            return _ask(helptext.t(prompt))

        done = engine(cfg, host, path, yes=yes, ask=ask, say=_out)
        return 1 if done["declined"] else 0
    return _with(config, root, go)


@baseline.command(short_help="take an approved change into a new current baseline")
@click.argument("path", metavar="PATH")
@click.option("--by", metavar="NAME", required=True, help="who approved the change")
@click.option("--why", metavar="TEXT", required=True, help="why it was approved")
@config_option
@_root
def accept(path: str, by: str, why: str, config: str | None, root: str) -> int:
    """Take PATH (a watched file) or CHECK:FACT (a stable fact) as it is now
    into a new current baseline, saying who approved it and why."""
    def go(registry: Any, cfg: Any, host: Any) -> int:
        from diagnose.state.baseline import accept as engine

        rec = engine(cfg, host, path, by=by, why=why, registry=registry)
        _out(_("accepted {path} by {by}: new current baseline {id} (from {parent})", path=path, by=by,
               id=rec["id"], parent=rec["parent"]))
        return 0
    return _with(config, root, go)
