"""`diagnose init` writes a starter config that documents every key and that
the loader accepts as it is."""

from __future__ import annotations

from diagnose.compat import tomllib

from diagnose.initcfg import starter_config, toml_value
from diagnose.registry import Registry
from tests.conftest import run_cli


def test_toml_values_round_trip():
    for v in ("a\"b\\c", 3, 1.5, True, ["x", 2], {"0d8c": "C-Media", "k": [1]}):
        assert tomllib().loads(f"v = {toml_value(v)}")["v"] == v


def test_starter_config_loads_and_names_every_section(tmp_path):
    from diagnose.host import Host

    reg = Registry.discover()
    text = starter_config(reg, Host("/"))
    tomllib().loads(text)  # valid TOML as written
    for check in reg.checks.values():
        head = f"[[{check.section}]]" if check.multi else f"[{check.section}]"
        assert head in text, f"{check.name}: {head} missing from the starter config"
    out = tmp_path / "site.toml"
    proc = run_cli("init", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out}" in proc.stdout
    again = run_cli("init", "--output", str(out))
    assert again.returncode == 3 and "exists; use --force" in again.stderr
    listing = run_cli("list", "--config", str(out))
    assert listing.returncode == 0, listing.stderr
    assert "disk.space" in listing.stdout and "applies:" in listing.stdout
