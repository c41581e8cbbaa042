"""Heavy libraries are imported only by the check or renderer that needs
them: `diagnose --version` and a JSON run of one check never pay for them."""

from __future__ import annotations

import json
import os
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


# What a run of one file check in JSON has no use for. Each of these was
# once imported by every run (issue 21): other checks' modules through the
# customer report's address list, the fleet's settings through the config
# schema, helpers for facts files and atomic writes, the disk walker when
# nothing is walked, and standard modules only an error, a command, a
# socket or a saved facts file needs.
NOT_FOR_A_DISK_RUN = (
    "diagnose.checks.gateway.check", "diagnose.checks.network.check", "diagnose.checks.services.check",
    "diagnose.checks.database.check", "diagnose.fleet.settings", "diagnose.reports.redact",
    "diagnose.reports.text", "diagnose.factsfile", "diagnose.fsutil", "diagnose.checks.disk.scan",
    "diagnose.po", "diagnose.delivery.mail", "diagnose.delivery.lock",
    "importlib.metadata", "pkg_resources", "email.message", "difflib", "hashlib", "socket", "subprocess",
    "traceback",
)

MODULES_PROBE = """
import json, sys, io, contextlib
from diagnose.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    main(sys.argv[1:])
print(json.dumps(sorted(sys.modules)))
"""


def _run_modules(tmp_path, config: str) -> set[str]:
    cfg = tmp_path / "site.toml"
    cfg.write_text(config)
    env = dict(os.environ, DIAGNOSE_STATE_DIR=str(tmp_path / "state"))
    proc = subprocess.run([sys.executable, "-c", MODULES_PROBE, "run", "--config", str(cfg), "--only",
                           "disk.space", "--format", "json"], capture_output=True, text=True, timeout=60, env=env)
    loaded = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert "diagnose.checks.disk.check" in loaded  # the probe did run
    return loaded


def test_a_json_disk_run_imports_only_what_it_uses(tmp_path):
    """`diagnose run --only disk.space --format json` does not import what it
    does not use. A module added back to its path fails here, whatever the
    time it costs (the time is bench/bench_scale.py's)."""
    loaded = _run_modules(tmp_path, f'[site]\nrole = "server"\n\n[disk]\nmounts = ["{tmp_path}"]\nscan = "never"\n')
    assert sorted(m for m in NOT_FOR_A_DISK_RUN if m in loaded) == []


def test_other_checks_sections_import_their_schema_not_their_probe(tmp_path):
    """A server's file has other checks' sections: validating them imports
    the classes holding their schemas, not their probes and judges."""
    loaded = _run_modules(tmp_path, f'[site]\nrole = "server"\n\n[disk]\nmounts = ["{tmp_path}"]\n'
                          'scan = "never"\n\n[[service]]\nname = "pbx"\nprocess = "asterisk"\n\n'
                          '[[gateway]]\nname = "gw1"\naddress = "192.0.2.10"\n\n'
                          '[network]\nserver = "192.0.2.1"\n')
    assert {"diagnose.checks.gateway.check", "diagnose.checks.network.check",
            "diagnose.checks.services.check"} <= loaded  # their sections were validated
    probes = ("diagnose.checks.network.probe", "diagnose.checks.network.judge", "diagnose.checks.gateway.judge",
              "diagnose.checks.gateway.sweep", "socket", "urllib.request")
    assert sorted(m for m in probes if m in loaded) == []
