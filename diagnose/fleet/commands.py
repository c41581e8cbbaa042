"""What ``diagnose agent``, ``diagnose agent install|remove`` and ``diagnose
site`` do, apart from parsing arguments: the CLI calls these. Each returns
an exit code; bad configuration and arguments are exit 3 with one line
naming what to fix (:class:`UsageError`).
"""

from __future__ import annotations

import gc
import os
import sys
import time
from typing import Any

from diagnose.i18n import _

EXIT_USAGE = 3
DEFAULT_CONFIG = "/etc/diagnose/site.toml"


def _t(message: str) -> str:
    from diagnose import helptext

    return helptext.t(message)


class UsageError(Exception):
    pass


def _config(path: str | None) -> Any:
    from diagnose import helptext
    from diagnose.config import ConfigError, find_config_file, load
    from diagnose.registry import Registry

    registry = Registry.discover()
    try:
        return load(find_config_file(path), registry.schemas(), registry.multi_sections())
    except ConfigError as exc:
        raise UsageError(helptext.config_error(exc)) from None


def _fleet(config: Any, broker: str | None = None, need_broker: bool = True) -> Any:
    from diagnose.fleet.settings import FleetError, resolve

    try:
        return resolve(config, broker, need_broker=need_broker)
    except FleetError as exc:
        raise UsageError(str(exc)) from None


def agent(config_path: str | None, timeout: float | None = None) -> int:
    """The seat agent in the foreground, until SIGTERM or Ctrl-C."""
    from diagnose.fleet import agent as agent_mod
    from diagnose.fleet.settings import FleetError

    config = _config(config_path)
    fleet = _fleet(config)
    try:
        return agent_mod.main(config, fleet, timeout)
    except FleetError as exc:
        raise UsageError(str(exc)) from None


def site(config_path: str | None, broker: str | None = None, fresh: bool = False, wait: float = 30.0,
         reports: str | None = None, fmt: str = "text", output: str | None = None, verbose: bool = False,
         quiet: bool = False, colour: bool = False, unicode: bool = True) -> int:
    """Build and write the site report; its exit code."""
    if reports and (broker or fresh):
        raise UsageError(_("--reports DIR reads report files; it does not go with --broker or --fresh"))
    if wait <= 0 or wait > 3600:
        raise UsageError(_("--wait must be between 0 and 3600 seconds"))
    config = _config(config_path)
    fleet = _fleet(config, broker, need_broker=not reports)
    if reports and not os.path.isdir(reports):
        raise UsageError(_("--reports {dir}: not a directory", dir=reports))
    # Thousands of parsed reports are millions of young objects and no
    # cycles: the collector's passes over them cost more than parsing them.
    # It is back on once they are written and gone.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _site(fleet, fresh, wait, reports, output, fmt, dict(colour=colour, unicode=unicode,
                                                                     verbose=verbose, quiet=quiet))
    finally:
        if collecting:
            gc.enable()


def _site(fleet: Any, fresh: bool, wait: float, reports: str | None, output: str | None, fmt: str,
          options: dict[str, Any]) -> int:
    from diagnose.fleet import collect, mqtt
    from diagnose.fleet.settings import FleetError
    from diagnose.fleet.site import build
    from diagnose.fsutil import atomic_write
    from diagnose.reports import render

    started = time.time()
    if reports:
        gathered = collect.from_directory(reports, fleet, encode=fmt == "json")
        mode = "files"
    else:
        try:
            creds = mqtt.credentials(fleet)
            gathered = collect.from_broker(fleet, creds, fresh=fresh, wait_s=wait, encode=fmt == "json")
        except FleetError as exc:
            raise UsageError(str(exc)) from None
        mode = "broker"
    report = build(gathered, fleet, started, mode=mode)
    text = render(report, fmt, **options)
    if output:
        try:
            atomic_write(output, text)
        except OSError as exc:
            raise UsageError(_("cannot write report to {path}: {error}", path=output, error=exc.strerror)) from None
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return report.exit_code()


def install(root: str = "/", config_path: str | None = None) -> int:
    from diagnose.fleet import install as inst

    # The config the unit will use, read where it is now: as given, else
    # inside the tree being installed into.
    source = config_path
    if config_path and not os.path.isfile(config_path) and root != "/":
        source = os.path.join(root, config_path.lstrip("/"))
    elif not config_path and os.path.isfile(os.path.join(root, DEFAULT_CONFIG.lstrip("/"))):
        source = os.path.join(root, DEFAULT_CONFIG.lstrip("/"))
    config = _config(source)
    fleet = _fleet(config)
    try:
        done = inst.install(root, fleet, config_path or inst.DEFAULT_CONFIG)
    except inst.InstallError as exc:
        raise UsageError(str(exc)) from None
    print(_t(_("installed {files}", files=", ".join(done.files))))
    for note in done.notes:
        print(_t(_("note: {note}", note=note)))
    print()
    sys.stdout.write(inst.broker_lines(fleet))
    return 0


def remove(root: str = "/") -> int:
    from diagnose.fleet import install as inst

    removed = inst.remove(root)
    print(_t(_("removed {files}", files=", ".join(removed)) if removed else _("no agent unit was installed")))
    return 0


def guarded(fn: Any, *args: Any, **kwargs: Any) -> int:
    """Run a command; a UsageError becomes one line on stderr and exit 3."""
    try:
        return fn(*args, **kwargs)
    except UsageError as exc:
        print(f"diagnose: {_t(exc.args[0] if exc.args else str(exc))}", file=sys.stderr)
        return EXIT_USAGE
