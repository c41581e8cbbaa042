"""``diagnose baseline record | show | diff | restore | accept``.

The argument parsing is declared here and hooked into the CLI with one
call, so the command's logic stays beside the baseline it works on. Exit
codes: 0 done; ``diff`` 1 when something differs (like diff(1) and the
warn level of ``run``); 3 for bad arguments, bad config or a baseline that
cannot do what was asked.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

EXIT_USAGE = 3

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


def add_parser(sub: Any, formatter: Any) -> None:
    """Register ``baseline`` on the CLI's subparsers *sub*."""
    bl = sub.add_parser("baseline", help="the acceptance baseline: record, show, diff, restore, accept",
                        epilog=EXAMPLES, formatter_class=formatter)
    bl.set_defaults(handler=main)
    actions = bl.add_subparsers(dest="action", metavar="ACTION", parser_class=type(bl))
    rec = actions.add_parser("record", help="record a new baseline (facts, watched files, packages)",
                             epilog=EXAMPLES, formatter_class=formatter)
    rec.add_argument("--by", metavar="NAME", help="who records it (default: the login user)")
    rec.add_argument("--note", metavar="TEXT", default="", help="why, e.g. \"acceptance on site\"")
    show = actions.add_parser("show", help="list the recordings; * marks the current one")
    show.add_argument("--format", choices=("text", "json"), default="text")
    diff = actions.add_parser("diff", help="what differs from the current baseline")
    diff.add_argument("path", nargs="?", metavar="PATH", help="only this file")
    restore = actions.add_parser("restore", help="put the accepted file back (keeps a copy of the current one)")
    restore.add_argument("path", metavar="PATH")
    restore.add_argument("--yes", action="store_true", help="do not ask")
    accept = actions.add_parser("accept", help="take an approved change into a new current baseline")
    accept.add_argument("path", metavar="PATH", help="a watched file, or CHECK:FACT for a stable fact")
    accept.add_argument("--by", metavar="NAME", required=True, help="who approved the change")
    accept.add_argument("--why", metavar="TEXT", required=True, help="why it was approved")
    for p in actions.choices.values():
        p.add_argument("--config", metavar="FILE", help="config file (as for `diagnose run`)")
        p.add_argument("--root", metavar="DIR", default="/", help="the system is the recorded tree at DIR")


def _die(message: str, code: int = EXIT_USAGE) -> int:
    print(f"diagnose: {message}", file=sys.stderr)
    return code


def main(args: argparse.Namespace) -> int:
    from diagnose.config import ConfigError, find_config_file, load
    from diagnose.host import Host
    from diagnose.registry import Registry
    from diagnose.state.baseline import BaselineError

    if not getattr(args, "action", None):
        return _die("baseline needs an action: record, show, diff, restore or accept "
                    "(see diagnose baseline --help)")
    try:
        registry = Registry.discover()
        config = load(find_config_file(args.config), registry.schemas(), registry.multi_sections())
    except ConfigError as exc:
        return _die(f"config error: {exc}")
    if not os.path.isdir(args.root):
        return _die(f"--root {args.root}: not a directory")
    host = Host(args.root)
    try:
        return ACTIONS[args.action](args, registry, config, host)
    except BaselineError as exc:
        return _die(str(exc))
    except OSError as exc:
        return _die(f"{exc.filename or 'baseline'}: {exc.strerror or exc}")


def _record(args: argparse.Namespace, registry: Any, config: Any, host: Any) -> int:
    from diagnose.state.baseline import Store, record

    rec = record(registry, config, host, by=args.by, note=args.note)
    files = rec["files"].values()
    kept = sum(1 for f in files if f.get("text"))
    present = sum(1 for f in files if f.get("exists"))
    ran = sorted(rec["facts"])
    store = Store.for_site(config.section("site"))
    print(f"recorded baseline {rec['id']} by {rec['recorded_by']} in {store.dir} (now current)")
    print(f"  files:    {present} watched ({kept} with content, {present - kept} digest only, "
          f"{len(rec['files']) - present} named but absent)")
    print(f"  facts:    {len(ran)} checks ({', '.join(ran) or 'none'})")
    pk = rec["packages"]
    print(f"  packages: {len(pk['items'])}" + (f" ({pk['manager']})" if pk["manager"] else " (no package database)"))
    return 0


def _show(args: argparse.Namespace, registry: Any, config: Any, host: Any) -> int:
    from diagnose.state.baseline import Store

    store = Store.for_site(config.section("site"))
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
    if args.format == "json":
        print(json.dumps({"dir": store.dir, "current": current, "recordings": rows}, indent=1))
        return 0
    if not rows:
        print(f"no baseline in {store.dir}: record one with `diagnose baseline record --by NAME`")
        return 0
    print(f"Baselines in {store.dir} (* current):")
    for r in rows:
        what = f"accept {r['target']}" if r["kind"] == "accept" else f"record, {r['files']} files"
        note = f'  "{r["note"]}"' if r["note"] else ""
        print(f"{'*' if r['current'] else ' '} {r['id']}  {r['recorded_at']}  by {r['by']}  {what}{note}")
    return 0


def _diff(args: argparse.Namespace, registry: Any, config: Any, host: Any) -> int:
    from diagnose.state.baseline import file_diff

    entries = file_diff(config, host, args.path)
    if not entries:
        print("no difference from the current baseline" + (f" in {args.path}" if args.path else ""))
        return 0
    for e in entries:
        if e["state"] in ("added", "removed"):
            print(f"{e['path']}: {'not in the baseline (new file)' if e['state'] == 'added' else 'removed'}")
        for a in e["attributes"]:
            print(f"{e['path']}: {a['attribute']} {a['baseline']} -> {a['current']}")
        if e["diff"]:
            print(e["diff"])
        elif e["state"] == "changed" and not e.get("content_kept"):
            print(f"{e['path']}: content changed (the baseline keeps only its digest)")
    return 1


def _restore(args: argparse.Namespace, registry: Any, config: Any, host: Any) -> int:
    from diagnose.state.baseline import restore

    done = restore(config, host, args.path, yes=args.yes)
    return 1 if done["declined"] else 0


def _accept(args: argparse.Namespace, registry: Any, config: Any, host: Any) -> int:
    from diagnose.state.baseline import accept

    rec = accept(config, host, args.path, by=args.by, why=args.why, registry=registry)
    print(f"accepted {args.path} by {args.by}: new current baseline {rec['id']} (from {rec['parent']})")
    return 0


ACTIONS = {"record": _record, "show": _show, "diff": _diff, "restore": _restore, "accept": _accept}
