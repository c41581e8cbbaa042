"""Third-party checks are found by reading entry_points.txt directly: the
same entry points importlib.metadata lists, without building a Distribution
for every installed package."""

from __future__ import annotations

import sys

from diagnose.compat import entry_points
from diagnose.registry import GROUP, plugin_targets


def test_reads_the_same_entry_points_as_importlib_metadata(tmp_path, monkeypatch):
    info = tmp_path / "site" / "acme_checks-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-checks\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[console_scripts]\nacme = acme.cli:main\n\n"
        f"[{GROUP}]\nacme.fan = acme.fan:FanCheck\nacme.ups=acme.ups:UpsCheck\n")
    other = tmp_path / "site" / "unrelated-2.0.dist-info"
    other.mkdir()
    (other / "METADATA").write_text("Metadata-Version: 2.1\nName: unrelated\nVersion: 2.0\n")
    (other / "entry_points.txt").write_text("[console_scripts]\nunrelated = u:main\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path / "site")] + sys.path)
    got = sorted(plugin_targets(GROUP))
    assert got == [("acme.fan", "acme.fan:FanCheck"), ("acme.ups", "acme.ups:UpsCheck")]
    assert got == sorted((ep.name, ep.value) for ep in entry_points(GROUP))


def test_static_section_table_matches_the_check_classes():
    from diagnose.registry import BUILTIN_SECTIONS, BUILTINS, Registry

    reg = Registry.discover()
    assert set(BUILTIN_SECTIONS) == set(BUILTINS)
    for name, (section, multi, reads) in BUILTIN_SECTIONS.items():
        check = reg.checks[name]
        assert (check.section, check.multi, tuple(getattr(check, "reads", None) or {})) == \
            (section, multi, reads), name


def test_lazy_registry_gives_the_same_schemas_as_loading_every_check():
    from diagnose.config import all_schemas
    from diagnose.registry import Registry

    lazy = Registry.discover()
    eager = Registry.of(*[lazy.checks[n] for n in lazy.checks])
    assert dict(all_schemas(lazy.schemas())) == all_schemas(eager.schemas())
    assert Registry.discover().multi_sections() == eager.multi_sections()


def test_a_run_imports_only_the_checks_it_needs(tmp_path):
    import json
    import subprocess

    cfg = tmp_path / "site.toml"
    cfg.write_text(f'[site]\nrole = "server"\n\n[disk]\nmounts = ["{tmp_path}"]\nscan = "never"\n')
    probe = ("import io, json, sys, contextlib\nfrom diagnose.cli import main\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n    try:\n        main(sys.argv[1:])\n"
             "    except SystemExit:\n        pass\n"
             "print(json.dumps(sorted(m for m in sys.modules if m.startswith('diagnose.checks.')"
             " and m.count('.') == 2)))")
    proc = subprocess.run([sys.executable, "-c", probe, "run", "--config", str(cfg), "--only", "disk.space",
                           "--format", "json"], capture_output=True, text=True, timeout=60)
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "diagnose.checks.disk" in loaded
    for heavy in ("diagnose.checks.services", "diagnose.checks.database", "diagnose.checks.drift",
                  "diagnose.checks.asterisk", "diagnose.checks.bluetooth", "diagnose.checks.audio"):
        assert heavy not in loaded
