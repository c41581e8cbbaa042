"""database.integrity on throwaway MariaDB servers (mariadb-install-db into a
temp dir, own socket and port, MyISAM/Aria crash recovery off): tables
damaged on disk while stopped; a healthy database left unchanged; a real
full disk under the database followed by a killed server; login failures."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import pytest

from diagnose.checks.database.check import DatabaseIntegrity
from diagnose.check import section_config
from diagnose.host import Host
from diagnose.model import Fault, Status
from tests.conftest import needs_root
from tests.rigs.databases import MY_PASSWORD, mariadb_diskfull, mariadb_rig  # noqa: F401  (fixtures)

pytestmark = [needs_root, pytest.mark.skipif(shutil.which("mariadb-install-db") is None,
                                             reason="apt-get install mariadb-server")]
CHECK = DatabaseIntegrity()


def run(*items: dict) -> tuple[list, list]:
    cfg = section_config(CHECK, {"items": list(items)})
    facts = json.loads(json.dumps(CHECK.probe(Host("/"), cfg)))
    return facts["databases"], CHECK.judge(facts, cfg)


def test_myisam_and_aria_damage_found_with_table_names(mariadb_rig):
    [facts], [f] = run({"name": "callcenter", "url": mariadb_rig.url("cc")})
    assert f.status is Status.FAIL and f.fault is Fault.SOFTWARE  # stopped cleanly, disk fine
    assert f.title == "MariaDB/MySQL database callcenter is corrupt: table agents, table calls"
    probs = {p["object"]: p for p in f.evidence["problems"]}
    assert probs["agents"]["engine"] == "MyISAM" and "Size of datafile is" in probs["agents"]["message"]
    assert probs["calls"]["engine"] == "Aria" and "Corrupt" in probs["calls"]["message"]
    engines = {t["table"]: (t["engine"], t["status"]) for t in f.evidence["tables"]}
    assert engines["queue"] == ("InnoDB", "OK")
    assert f.evidence["mount"] == Host().mount_of(mariadb_rig.data).mountpoint
    assert "REPAIR TABLE cc.agents, cc.calls;" in f.remedy
    assert f.remedy.index("free space") < f.remedy.index("cp -a") < f.remedy.index("REPAIR TABLE")
    assert "--medium-check cc" in f.remedy


def test_healthy_database_is_ok_and_its_data_unchanged(mariadb_rig):
    def state():
        sums = mariadb_rig.sql("healthy", "CHECKSUM TABLE agents, calls, queue EXTENDED")
        d = os.path.join(mariadb_rig.data, "healthy")
        files = {n: hashlib.sha256(open(os.path.join(d, n), "rb").read()).hexdigest()
                 for n in ("agents.MYD", "calls.MAD", "queue.ibd")}
        return sums, files

    before = state()
    [facts], [f] = run({"name": "callcenter", "url": mariadb_rig.url("healthy")})
    assert f.status is Status.OK
    assert f.title == "MariaDB/MySQL database callcenter is intact (CHECK TABLE MEDIUM: 3 tables (Aria, InnoDB, MyISAM))"
    assert state() == before


def test_quick_mode_is_check_table_fast(mariadb_rig):
    [facts], [f] = run({"name": "callcenter", "url": mariadb_rig.url("healthy"), "mode": "quick"})
    assert facts["verified"]["check"] == "CHECK TABLE FAST" and f.status is Status.OK


def test_password_from_environment_logs_in_and_never_shows(mariadb_rig, monkeypatch):
    monkeypatch.setenv("DG_MY_PW", MY_PASSWORD)
    [facts], [f] = run({"name": "callcenter", "url": mariadb_rig.tcp_url("healthy", "diag"),
                        "password_env": "DG_MY_PW"})
    assert f.status is Status.OK, f.title
    monkeypatch.setenv("DG_MY_PW", "wrong-" + MY_PASSWORD)
    [facts], [f] = run({"name": "callcenter", "url": mariadb_rig.tcp_url("healthy", "diag"),
                        "password_env": "DG_MY_PW"})
    assert f.status is Status.ERROR and f.title.startswith("Cannot log in")
    assert MY_PASSWORD not in json.dumps(facts) + json.dumps(f.to_dict())


def test_unset_password_env_is_a_config_finding(mariadb_rig, monkeypatch):
    monkeypatch.delenv("DG_MY_UNSET", raising=False)
    [facts], [f] = run({"name": "callcenter", "url": mariadb_rig.tcp_url("healthy", "diag"),
                        "password_env": "DG_MY_UNSET"})
    assert f.status is Status.ERROR and "DG_MY_UNSET" in f.title


def test_disk_full_in_the_error_log_before_the_crash_is_a_site_fault(mariadb_diskfull):
    server, fs = mariadb_diskfull
    [facts], [f] = run({"name": "callcenter", "url": server.url("cc")})
    assert f.status is Status.FAIL and f.fault is Fault.SITE
    assert f.title == "MariaDB/MySQL database callcenter is corrupt: table recordings"
    # the database directory is a symlink: the mount is where the files really are
    assert f.evidence["mount"] == fs.mountpoint
    [first] = f.evidence["log_disk_full"][:1]
    assert "Errcode: 28" in first["text"] and first["time"] and first["mount"] == fs.mountpoint
    assert facts["log"]["path"] == server.errlog  # found through @@log_error
    assert "disk filling up" in f.detail and first["time"] in f.detail
    assert f"df -h {fs.mountpoint}" in f.remedy and "REPAIR TABLE cc.recordings;" in f.remedy


def test_only_listed_tables(mariadb_rig):
    [facts], [f] = run({"name": "callcenter", "url": mariadb_rig.url("cc"), "tables": ["queue"]})
    assert [t["table"] for t in facts["tables"]] == ["queue"]
    assert f.status is Status.OK
