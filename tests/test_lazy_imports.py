"""Heavy libraries are imported only by the check or renderer that needs
them: `diagnose --version` and a JSON run of one check never pay for them."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("jinja2", "scapy", "dbus_fast", "pyudev", "pulsectl", "psycopg", "pymysql", "pyroute2")

PROBE = """
import json, sys, io, contextlib
from diagnose.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        main(sys.argv[1:])
    except SystemExit:
        pass
heavy = %r
print(json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""


def _loaded(*args: str) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", PROBE % (HEAVY,), *args], capture_output=True, text=True,
                          timeout=60)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_version_imports_nothing_heavy():
    assert _loaded("--version") == []


def test_plugin_discovery_and_a_json_run_import_nothing_heavy(tmp_path):
    cfg = tmp_path / "site.toml"
    cfg.write_text(f'[disk]\nmounts = ["{tmp_path}"]\n')
    assert _loaded("run", "--config", str(cfg), "--only", "disk.space", "--format", "json") == []
    assert _loaded("list", "--config", str(cfg)) == []


def test_html_pays_for_jinja2_only_when_asked(tmp_path):
    cfg = tmp_path / "site.toml"
    cfg.write_text(f'[disk]\nmounts = ["{tmp_path}"]\n')
    assert _loaded("run", "--config", str(cfg), "--only", "disk.space", "--format", "html") == ["jinja2"]


COMMANDS_PROBE = """
import json, sys, io, contextlib
from diagnose.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    main(sys.argv[1:])
print(json.dumps(sorted(m for m in sys.modules if m.startswith("diagnose.commands."))))
"""


def _commands_loaded(*args: str) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", COMMANDS_PROBE, *args], capture_output=True, text=True,
                          timeout=60)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_command_imports_no_other_command(tmp_path):
    """Commands are registered by name and imported when used: `--version`
    imports none, `run` only its own module."""
    cfg = tmp_path / "site.toml"
    cfg.write_text(f'[disk]\nmounts = ["{tmp_path}"]\n')
    assert _commands_loaded("--version") == []
    assert _commands_loaded("run", "--config", str(cfg), "--only", "disk.space", "--format", "json") \
        == ["diagnose.commands.run"]
