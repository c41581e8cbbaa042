"""Issue 17, class 2, from recorded facts (tests/data/*/chain-*.json, recorded
by tests/test_disk_truth.py from real servers on full filesystems): the judges
and the attribution alone give one site root cause, the full disk, with the
database and the service nested under it; and the data directory of a
database server is found from its config files in a recorded tree."""

from __future__ import annotations

import copy
import json

from diagnose.attribution import attribute
from diagnose.check import section_config
from diagnose.checks.database.check import DatabaseIntegrity
from diagnose.checks.database.datadir import server_files
from diagnose.checks.disk.check import DiskSpace
from diagnose.checks.services.check import ApplicationServices
from diagnose.host import Host
from diagnose.model import Fault, Status, make_verdict
from tests.conftest import DATA

CHECKS = (DiskSpace(), DatabaseIntegrity(), ApplicationServices())


def scenario(name: str, mutate=None):
    """Every check's findings of recorded scenario *name*, attributed."""
    findings = []
    for check in CHECKS:
        sc = json.loads((DATA / check.name / f"{name}.json").read_text())
        facts = copy.deepcopy(sc["facts"])
        if mutate:
            mutate(check.name, facts)
        findings += check.judge(facts, section_config(check, sc["config"]))
    out = attribute(findings)
    return out, {f.check: f for f in out}


def test_postgres_down_on_its_full_disk_is_one_site_fault():
    out, f = scenario("chain-postgres-down-disk-full")
    disk, db, svc = f["disk.space"], f["database.integrity"], f["application.services"]
    v = make_verdict(out, [])
    assert (v.site_faults, v.software_faults, v.undetermined) == (1, 0, 0)
    assert db.caused_by == [disk.id] and svc.caused_by == [db.id]
    assert disk.consequences == [db.id] and db.consequences == [svc.id]
    assert db.fault is svc.fault is Fault.SITE
    assert db.title == f"PostgreSQL server for callcenter is down: no space left on {disk.subject}"
    assert db.remedy.steps[0].command == f"df -h {disk.subject}"
    assert "the service depends on the database, which cannot start or write" in svc.detail


def test_mariadb_died_on_its_full_disk_is_one_site_fault():
    out, f = scenario("chain-mariadb-died-disk-full")
    disk, db, svc = f["disk.space"], f["database.integrity"], f["application.services"]
    assert make_verdict(out, []).site_faults == 1 and make_verdict(out, []).undetermined == 0
    assert db.evidence["mount"] == disk.subject and db.caused_by == [disk.id] and svc.caused_by == [db.id]
    # the error log's line names ./cc/recordings.ibd: a file on the full disk, through the symlink
    assert {h["mount"] for h in db.evidence["log_disk_full"] if "file" in h} == {disk.subject}


def test_sqlite_full_service_stopped_names_the_database_filesystem():
    out, f = scenario("chain-sqlite-full-service-stopped")
    disk, db, svc = f["disk.space"], f["database.integrity"], f["application.services"]
    assert db.status is Status.OK and svc.caused_by == [disk.id] and svc.fault is Fault.SITE
    assert svc.remedy.steps[0].command == f"df -h {disk.subject}"
    assert svc.evidence["full_mounts"] == [disk.subject]


def test_the_same_failures_on_another_filesystem_are_not_linked():
    def elsewhere(check, facts):
        if check == "database.integrity":
            facts["databases"][0]["location"]["mount"] = "/srv/other"
            for h in facts["databases"][0]["log"]["disk_full"]:
                h["mount"] = "/srv/other"
        if check == "application.services":
            svc = facts["services"][0]
            svc["mounts"] = ["/srv/other"]
            svc["database_mounts"] = {"callcenter": "/srv/other"}

    out, f = scenario("chain-mariadb-died-disk-full", elsewhere)
    disk, db, svc = f["disk.space"], f["database.integrity"], f["application.services"]
    assert db.caused_by == [] and disk.consequences == []
    assert db.title == "MariaDB/MySQL server for callcenter is down: no space left on /srv/other"
    v = make_verdict(out, [])
    assert (v.site_faults, v.undetermined) == (1, 1)  # the disk; the database on its own full disk


def test_disk_full_lines_before_the_server_last_started_do_not_count():
    def restarted(check, facts):
        if check == "database.integrity":
            log = facts["databases"][0]["log"]
            log["last_start"] = max(h["line"] for h in log["disk_full"]) + 1

    _out, f = scenario("chain-postgres-down-disk-full", restarted)
    db = f["database.integrity"]
    assert db.title == "PostgreSQL server for callcenter is not accepting connections"
    assert db.evidence["reason"] == "server-down"
    assert db.caused_by == [f["disk.space"].id]  # still down on a full disk: still its consequence


def test_data_directories_found_from_debian_config_files(tmp_path):
    pg = tmp_path / "etc/postgresql/15/main"
    pg.mkdir(parents=True)
    (pg / "postgresql.conf").write_text("data_directory = '/srv/pg/15/main'  # use data in another directory\n"
                                       "port = 5433\ninclude_dir = 'conf.d'\n")
    (pg / "conf.d").mkdir()
    (pg / "conf.d/local.conf").write_text("port = 5432\n")
    my = tmp_path / "etc/mysql"
    (my / "mariadb.conf.d").mkdir(parents=True)
    (my / "my.cnf").write_text("[client-server]\nport = 3306\n!includedir /etc/mysql/mariadb.conf.d/\n")
    (my / "mariadb.conf.d/50-server.cnf").write_text(
        "[mysqld]\ndatadir = /srv/mysql\nlog-error = /var/log/mysql/error.log\n")
    host = Host(str(tmp_path))
    found = server_files(host, "postgresql", "postgresql://cc@/callcenter?host=/run/postgresql")
    assert (found["config"], found["data_directory"], found["log"]) == (
        "/etc/postgresql/15/main/postgresql.conf", "/srv/pg/15/main",
        "/var/log/postgresql/postgresql-15-main.log")
    assert server_files(host, "postgresql", "postgresql://cc@127.0.0.1:5999/cc")["data_directory"] is None
    found = server_files(host, "mysql", "mariadb://cc@localhost/callcenter")
    assert (found["data_directory"], found["database_dir"], found["log"]) == (
        "/srv/mysql", "/srv/mysql/callcenter", "/var/log/mysql/error.log")
    assert server_files(host, "mysql", "mysql://cc@10.0.0.5/cc")["data_directory"] is None
