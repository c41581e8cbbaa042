"""database.integrity on a throwaway PostgreSQL cluster (initdb into a temp
dir, own port and socket): an index key and a heap page header changed on
disk while the server was stopped, with and without amcheck; a healthy
database left unchanged; login and connection failures as their own findings."""

from __future__ import annotations

import json

import pytest

from diagnose.checks.database.check import DatabaseIntegrity
from diagnose.check import section_config
from diagnose.host import Host
from diagnose.model import Fault, Status
from tests.conftest import needs_root
from tests.rigs.databases import PG_PASSWORD, free_port, pg_bindir, pg_rig  # noqa: F401  (fixture)

pytestmark = [needs_root, pytest.mark.skipif(pg_bindir() is None, reason="apt-get install postgresql")]
CHECK = DatabaseIntegrity()


def run(*items: dict, env: dict | None = None, monkeypatch=None) -> tuple[list, list]:
    cfg = section_config(CHECK, {"items": list(items)})
    facts = json.loads(json.dumps(CHECK.probe(Host("/"), cfg)))
    return facts["databases"], CHECK.judge(facts, cfg)


def test_corrupt_index_and_heap_page_found_with_relation_names(pg_rig):
    [facts], [f] = run({"name": "callcenter", "url": pg_rig.url("broken"), "log": pg_rig.log})
    assert f.status is Status.FAIL and f.fault is Fault.SOFTWARE
    assert f.title == "PostgreSQL database callcenter is corrupt: table calls, index agents_name on agents"
    by_object = {}
    for p in f.evidence["problems"]:
        by_object.setdefault(p["object"], []).append(p)
    assert any("lacks matching index tuple within index \"agents_name\"" in p["message"]
               for p in by_object["agents_name"])
    assert all(p["sqlstate"] == "XX001" for p in f.evidence["problems"])
    # the heap error is named after the table even when an index check hit it
    assert any(p["checked"] == "calls_pkey" for p in by_object["calls"])
    assert any("invalid page in block 1" in p["message"] for p in by_object["calls"])
    assert f.evidence["mount"] == Host().mount_of(pg_rig.data).mountpoint
    assert f.evidence["amcheck"]["installed"]
    assert "REINDEX INDEX agents_name;" in f.remedy and "restore it from the last backup" in f.remedy
    assert f.remedy.index("free space") < f.remedy.index("cp -a") < f.remedy.index("REINDEX")


def test_without_amcheck_the_check_says_so(pg_rig):
    (_, healthy), (_, broken) = [run({"name": d, "url": pg_rig.url(d)}) for d in ("healthy_noam", "broken_noam")]
    [h], [b] = healthy, broken
    assert h.status is Status.WARN and h.fault is Fault.UNDETERMINED
    assert "amcheck is not installed" in h.title
    assert "CREATE EXTENSION amcheck;" in h.remedy
    # The sequential read still finds the damaged heap page, and says indexes went unverified.
    assert b.status is Status.FAIL and "table calls" in b.title
    assert "amcheck is not installed" in b.detail and "CREATE EXTENSION amcheck;" in b.remedy
    assert "agents_name" not in b.title


def test_healthy_database_is_ok_and_unchanged(pg_rig):
    def content():
        return pg_rig.sql("healthy",
                          "SELECT md5(string_agg(a::text, ',' ORDER BY id)) FROM agents a",
                          ) + pg_rig.sql("healthy", "SELECT md5(string_agg(c::text, ',' ORDER BY id)) FROM calls c")

    def writes():
        return pg_rig.sql("healthy", "SELECT sum(n_tup_ins + n_tup_upd + n_tup_del) FROM pg_stat_all_tables")

    before, w0 = content(), writes()
    [facts], [f] = run({"name": "callcenter", "url": pg_rig.url("healthy")})
    assert f.status is Status.OK, f.title
    assert f.title.startswith("PostgreSQL database callcenter is intact (amcheck bt_index_check(heapallindexed)"
                              " + verify_heapam:")
    assert facts["verified"]["indexes"] > 2 and facts["verified"]["tables"] >= 2
    assert content() == before and writes() == w0


def test_quick_mode_checks_index_structure_only(pg_rig):
    [facts], [f] = run({"name": "callcenter", "url": pg_rig.url("broken"), "mode": "quick"})
    assert facts["verified"]["check"] == "amcheck bt_index_check"
    # heapallindexed is what notices the changed key; structure alone passes it
    assert not any(p["object"] == "agents_name" for p in facts["problems"])


def test_wrong_password_is_a_login_finding_and_never_shows_the_password(pg_rig, monkeypatch):
    monkeypatch.setenv("DG_PG_PW", "not-" + PG_PASSWORD)
    [facts], [f] = run({"name": "callcenter", "url": pg_rig.tcp_url("healthy", "diag"),
                        "password_env": "DG_PG_PW"})
    assert f.status is Status.ERROR and f.fault is Fault.UNDETERMINED
    assert f.title == "Cannot log in to PostgreSQL database callcenter: authentication failed"
    assert "not-" + PG_PASSWORD not in json.dumps(facts) + json.dumps(f.to_dict())


def test_password_in_url_is_redacted_and_amcheck_permission_reported(pg_rig):
    url = pg_rig.tcp_url("healthy", "diag", PG_PASSWORD)
    [facts], [f] = run({"name": "callcenter", "url": url})
    assert PG_PASSWORD not in json.dumps(facts) + json.dumps(f.to_dict())
    assert facts["url"] == f"postgresql://diag:***@127.0.0.1:{pg_rig.port}/healthy"
    # diag may log in but not run amcheck: neither a pass nor corruption
    assert f.status is Status.ERROR and "permission denied for function" in f.title
    assert "GRANT EXECUTE ON FUNCTION" in f.remedy


def test_server_down_and_missing_database_are_not_corruption(pg_rig):
    port = free_port()
    _, (down, missing) = run({"name": "down", "url": f"postgresql://postgres@127.0.0.1:{port}/cc"},
                             {"name": "missing", "url": pg_rig.url("nosuchdb")})
    assert (down.status, down.fault) == (Status.FAIL, Fault.UNDETERMINED)
    assert down.title == "PostgreSQL server for down is not accepting connections"
    assert f"pg_isready -h 127.0.0.1 -p {port}" in down.remedy
    assert missing.title == "PostgreSQL database missing does not exist on the server"


def test_only_listed_tables_and_their_indexes(pg_rig):
    [facts], [f] = run({"name": "callcenter", "url": pg_rig.url("broken"), "tables": ["agents"]})
    assert facts["verified"]["relations"] == 3  # agents, agents_pkey, agents_name
    assert f.title == "PostgreSQL database callcenter is corrupt: index agents_name on agents"
