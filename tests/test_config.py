"""Bad config gets one clear line (file, line, nearest valid key) and exit 3."""

from __future__ import annotations

import json

import pytest

from diagnose.check import Check, Key, section_config
from diagnose.config import ConfigError, find_config_file, load, redact
from tests.conftest import run_cli
from tests.rigs.plugins import make_plugin_dir, plugin_env

SCHEMAS = {"disk": {"mounts": Key(list, [], item=str), "warn_free_percent": Key((int, float), 15)},
           "database": {"name": Key(str, ""), "url": Key(str, "")}}
MULTI = {"database"}


def _load(tmp_path, text):
    p = tmp_path / "site.toml"
    p.write_text(text)
    return str(p), lambda: load(str(p), SCHEMAS, MULTI)


def test_unknown_key_names_file_line_and_nearest_key(tmp_path):
    path, do = _load(tmp_path, '[site]\nname = "x"\n\n[disk]\nmounts = ["/"]\nwarn_free_percnt = 10\n')
    with pytest.raises(ConfigError) as exc:
        do()
    assert str(exc.value) == (f"{path}:6: unknown key 'warn_free_percnt' in [disk]; "
                              "did you mean 'warn_free_percent'?")


def test_unknown_section_suggests_the_nearest(tmp_path):
    path, do = _load(tmp_path, "[site]\n\n[dsik]\nmounts = []\n")
    with pytest.raises(ConfigError) as exc:
        do()
    assert str(exc.value) == f"{path}:3: unknown section [dsik]; did you mean [disk]?"


def test_wrong_type_is_named(tmp_path):
    path, do = _load(tmp_path, '[disk]\nwarn_free_percent = "ten"\n')
    with pytest.raises(ConfigError) as exc:
        do()
    assert str(exc.value) == f'{path}:2: [disk] warn_free_percent must be a number, not "ten"'


def test_list_item_type_and_bool_is_not_a_number(tmp_path):
    _, do = _load(tmp_path, "[disk]\nmounts = [\"/\", 3]\n")
    with pytest.raises(ConfigError, match=r":2: \[disk\] mounts must be a list of a strings?"):
        do()
    _, do = _load(tmp_path, "[disk]\nwarn_free_percent = true\n")
    with pytest.raises(ConfigError, match="must be a number, not true"):
        do()


def test_array_of_tables_counts_occurrences_for_the_line(tmp_path):
    text = '[[database]]\nname = "a"\nurl = "sqlite:////a"\n\n[[database]]\nname = "b"\nurll = "x"\n'
    path, do = _load(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        do()
    assert str(exc.value) == f"{path}:7: unknown key 'urll' in [database]; did you mean 'url'?"


def test_single_table_where_a_list_is_expected(tmp_path):
    _, do = _load(tmp_path, '[database]\nname = "a"\n')
    with pytest.raises(ConfigError, match=r":1: \[database\] is a list of tables: write \[\[database\]\]"):
        do()


def test_toml_syntax_error_has_its_line(tmp_path):
    path, do = _load(tmp_path, '[site]\nname = "unterminated\n')
    with pytest.raises(ConfigError) as exc:
        do()
    assert exc.value.path == path and exc.value.line == 2
    assert "not valid TOML" in str(exc.value)


def test_defaults_fill_missing_keys_and_multi_sections_are_lists(tmp_path):
    _, do = _load(tmp_path, '[[database]]\nname = "cc"\n')
    cfg = do()
    common = {"enabled": True, "timeout_s": None}
    assert cfg.section("disk") == {**common, "mounts": [], "warn_free_percent": 15}
    assert cfg.section("database") == {"items": [{**common, "name": "cc", "url": ""}]}
    assert cfg.has("database") and not cfg.has("disk")


def test_lookup_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert find_config_file(None, env={}) is None
    (tmp_path / "diagnose.toml").write_text("")
    assert find_config_file(None, env={}) == "./diagnose.toml"
    assert find_config_file(None, env={"DIAGNOSE_CONFIG": "/x.toml"}) == "/x.toml"
    assert find_config_file("/y.toml", env={"DIAGNOSE_CONFIG": "/x.toml"}) == "/y.toml"


def test_passwords_in_urls_are_redacted_for_facts(tmp_path):
    assert redact("postgresql://cc:s3cret@db/cc") == "postgresql://cc:***@db/cc"
    assert redact({"u": ["mysql://root:pw@127.0.0.1:3306/x"]}) == {"u": ["mysql://root:***@127.0.0.1:3306/x"]}
    _, do = _load(tmp_path, '[[database]]\nname = "cc"\nurl = "postgresql://cc:s3cret@db/cc"\n')
    cfg = do()
    assert "s3cret" not in json.dumps(cfg.for_facts())


def test_section_config_validates_like_the_file():
    class C(Check):
        name, section = "x.y", "x"
        schema = {"n": Key(int, 1, choices=None), "mode": Key(str, "quick", choices=("quick", "full"))}

    assert section_config(C(), {"n": 2}) == {"enabled": True, "timeout_s": None, "n": 2, "mode": "quick"}
    with pytest.raises(ConfigError, match='mode = "fulll" is not one of quick, full; did you mean "full"'):
        section_config(C(), {"mode": "fulll"})


def test_cli_bad_config_exits_3_without_traceback(tmp_path):
    site = make_plugin_dir(tmp_path)
    cfg = tmp_path / "site.toml"
    cfg.write_text('[demo]\nexpectt = "fine"\n')
    proc = run_cli("run", "--config", str(cfg), "--only", "demo.good", env=plugin_env(site))
    assert proc.returncode == 3
    assert proc.stderr.strip() == (f"diagnose: config error: {cfg}:2: unknown key 'expectt' in [demo]; "
                                   "did you mean 'expect'?")
    missing = run_cli("run", "--config", str(tmp_path / "nope.toml"))
    assert missing.returncode == 3
    assert "config file not found" in missing.stderr and "Traceback" not in missing.stderr
    env_cfg = run_cli("list", env={"DIAGNOSE_CONFIG": str(cfg), **plugin_env(site)})
    assert env_cfg.returncode == 3 and "expectt" in env_cfg.stderr


def test_bad_arguments_exit_3():
    proc = run_cli("run", "--format", "yaml")
    assert proc.returncode == 3
    assert "invalid choice: 'yaml'" in proc.stderr


def test_choices_constrain_strings_of_a_bool_or_string_key():
    class C(Check):
        name, section = "x.y", "x"
        schema = {"expected": Key((bool, str), "auto", "doc", choices=("auto",))}

    assert section_config(C(), {"expected": True})["expected"] is True
    assert section_config(C(), {"expected": "auto"})["expected"] == "auto"
    with pytest.raises(ConfigError, match='expected = "yes" is not one of auto'):
        section_config(C(), {"expected": "yes"})


def test_a_value_where_a_list_of_tables_belongs_names_its_line(tmp_path):
    path, do = _load(tmp_path, 'database = "cc"\n[site]\n')
    with pytest.raises(ConfigError) as exc:
        do()
    assert str(exc.value) == f"{path}:1: database must be written as [[database]] tables"
