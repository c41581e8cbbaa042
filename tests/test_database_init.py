"""`diagnose init` for database.integrity: what it proposes from a
recorded tree, and that the proposal is a valid config."""

from __future__ import annotations

from diagnose.compat import tomllib

from diagnose.checks.database.check import DatabaseIntegrity
from diagnose.check import section_config
from diagnose.host import Host
from tests.rigs import databases as rig

CHECK = DatabaseIntegrity()


def test_found_sqlite_files_become_entries_and_servers_are_proposed(tmp_path):
    (tmp_path / "var/lib/callcenter").mkdir(parents=True)
    rig.make_sqlite(str(tmp_path / "var/lib/callcenter/cc.db"), rows=10)
    (tmp_path / "run/postgresql").mkdir(parents=True)
    (tmp_path / "run/postgresql/.s.PGSQL.5433").write_text("")
    (tmp_path / "run/postgresql/.s.PGSQL.5433.lock").write_text("")
    text = CHECK.init_section(Host(str(tmp_path)))
    data = tomllib().loads(text)
    assert data == {"database": [{"name": "cc", "url": "sqlite:////var/lib/callcenter/cc.db"}]}
    section_config(CHECK, {"items": data["database"]})  # valid as written
    assert "# url = \"postgresql://postgres@/CALLCENTER_DB?host=/run/postgresql&port=5433\"" in text
    assert "mariadb://" not in text


def test_nothing_found_gives_a_commented_example(tmp_path):
    text = CHECK.init_section(Host(str(tmp_path)))
    assert tomllib().loads(text) == {}
    assert '# url = "sqlite:////var/lib/callcenter/cc.db"' in text
