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
