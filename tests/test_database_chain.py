"""The whole chain on real components, through the real CLI: a SQLite
database on a tmpfs that someone's films filled up, corrupted. The report
must name one root cause (the full disk, a site fault) with the database
finding as its consequence."""

from __future__ import annotations

import json
import os

from tests.conftest import needs_root, run_cli
from tests.rigs import databases as rig
from tests.rigs.databases import tmpfs  # noqa: F401  (fixture)

pytestmark = needs_root


def test_full_disk_of_films_is_the_one_root_cause_of_the_corrupt_database(tmpfs, tmp_path):
    fs = tmpfs("chain", "8m")
    db = fs.path("callcenter/cc.db")
    os.makedirs(os.path.dirname(db))
    rig.make_sqlite(db)
    rig.sqlite_garbage_page(db, "calls")
    fs.fill_until_full("share/Movies/Holiday 2026.mkv")
    config = tmp_path / "site.toml"
    config.write_text(f"""
[site]
name = "Sales office"
role = "server"

[disk]
mounts = ["{fs.mountpoint}"]
app_paths = ["{fs.path('callcenter')}"]

[[database]]
name = "callcenter"
url = "sqlite:///{db}"
""")
    res = run_cli("run", "--config", str(config), "--only", "disk.space", "--only", "database.integrity",
                  "--format", "json")
    assert res.returncode == 2, res.stderr
    report = json.loads(res.stdout)
    assert report["verdict"]["site_faults"] == 1 and report["verdict"]["software_faults"] == 0
    roots = [f for f in report["findings"] if f["status"] in ("warn", "fail", "error") and not f["caused_by"]]
    assert [(f["id"], f["fault"]) for f in roots] == [(f"disk.space:{fs.mountpoint}", "site")]
    dbf = next(f for f in report["findings"] if f["id"] == "database.integrity:callcenter")
    assert dbf["status"] == "fail" and dbf["fault"] == "site"
    assert dbf["caused_by"] == [f"disk.space:{fs.mountpoint}"]
    assert dbf["evidence"]["mount"] == fs.mountpoint
    assert "table calls" in dbf["title"]
    assert roots[0]["consequences"] == ["database.integrity:callcenter"]


def test_facts_saved_on_site_judge_the_same_at_the_office(tmpfs, tmp_path):
    fs = tmpfs("facts", "8m")
    db = fs.path("cc.db")
    rig.make_sqlite(db)
    rig.sqlite_change_index_key(db)
    config = tmp_path / "site.toml"
    config.write_text(f'[site]\nrole = "server"\n\n[[database]]\nname = "callcenter"\nurl = "sqlite:///{db}"\n')
    saved = tmp_path / "facts.json"
    live = run_cli("run", "--config", str(config), "--only", "database.integrity", "--format", "json",
                   "--save-facts", str(saved))
    os.unlink(db)  # the office has no database, only the facts
    office = run_cli("run", "--from-facts", str(saved), "--only", "database.integrity", "--format", "json")
    assert live.returncode == office.returncode == 2, office.stderr
    a, b = json.loads(live.stdout), json.loads(office.stdout)
    assert a["findings"] == b["findings"]
    assert b["findings"][0]["title"] == "SQLite database callcenter is corrupt: index agents_name on agents"
