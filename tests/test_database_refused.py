"""Issue 17, class 5, on the database servers: a PostgreSQL or MariaDB server
that cannot start because its data directory (or one file in it) was
given to root is a site finding naming the directory or file, its owner and
mode, and the server's user, with the ``chown -R`` that puts it back; the
call-center service that cannot reach it is nested under it, one root
cause. Real throwaway servers (tests/rigs/databases.py) and the rig's
service process, judged through the real CLI.
"""

from __future__ import annotations

import json
import os
import pwd

import pytest

from tests.conftest import needs_root, run_cli
from tests.rigs import databases as rig
from tests.rigs.services import services_rig  # noqa: F401  (fixture)

pytestmark = needs_root


def chown_tree(path: str, uid: int, gid: int) -> None:
    for d, _dirs, files in os.walk(path):
        os.chown(d, uid, gid)
        for f in files:
            os.chown(os.path.join(d, f), uid, gid)


def run(tmp_path, db: str, service: str = "") -> tuple[int, dict[str, dict]]:
    cfg = tmp_path / "site.toml"
    cfg.write_text('[site]\nname = "Sales office"\n\n' + db + service)
    only = ["--only", "database.integrity"] + (["--only", "application.services"] if service else [])
    done = run_cli("run", "--config", str(cfg), *only, "--format", "json")
    assert done.returncode in (0, 1, 2), done.stderr
    report = json.loads(done.stdout)
    return done.returncode, {f["id"]: f for f in report["findings"]}


def database(url: str, **extra) -> str:
    lines = ["[[database]]", 'name = "callcenter"', f'url = "{url}"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
    return "\n".join(lines) + "\n\n"


def service(svc_rig) -> str:
    return ("[[service]]\nname = \"callcenter\"\n"
            f"process = \"{svc_rig.name}\"\nlog = \"{svc_rig.log}\"\nexecutable = \"{svc_rig.program}\"\n"
            "databases = [\"callcenter\"]\n\n")


@pytest.fixture
def pg():
    cluster = rig.PgCluster("refused")
    try:
        cluster.start()
        cluster.sql("postgres", "CREATE DATABASE cc")
        cluster.stop()
        yield cluster
    finally:
        cluster.cleanup()


def test_postgresql_data_directory_restored_as_root_is_one_site_fault(pg, services_rig, tmp_path):
    chown_tree(pg.data, 0, 0)
    with pytest.raises(RuntimeError):
        pg.start()  # pg_ctl, run as postgres, cannot even enter it
    assert services_rig.start("pgwrite", 0, pg.url("cc")).wait(timeout=60) == 1
    code, f = run(tmp_path, database(pg.url("cc"), log=pg.log,
                                     server_config=os.path.join(pg.data, "postgresql.conf")),
                  service(services_rig))
    db, svc = f["database.integrity:callcenter"], f["application.services:callcenter"]
    assert code == 2
    assert (db["status"], db["fault"], db["evidence"]["reason"]) == ("fail", "site", "access-denied")
    assert db["title"] == (f"PostgreSQL server for callcenter is down: its data directory {pg.data} is root:root "
                           "with mode 0700, not postgres's")
    assert f"chown -R postgres:postgres {pg.data}" in db["remedy"]
    assert f"find {pg.data} ! -user postgres -ls" in db["remedy"] and "pg_isready" in db["remedy"]
    # The service that crashed on the refused connection is its consequence: one root cause.
    assert svc["caused_by"] == [db["id"]] and svc["fault"] == "site"


def test_one_postgresql_file_given_to_root_is_named_from_its_log(pg, tmp_path):
    control = os.path.join(pg.data, "global", "pg_control")
    os.chown(control, 0, 0)
    os.chmod(control, 0o600)
    with pytest.raises(RuntimeError):
        pg.start()
    assert "pg_control\": Permission denied" in open(pg.log).read()
    code, f = run(tmp_path, database(pg.url("cc"), log=pg.log,
                                     server_config=os.path.join(pg.data, "postgresql.conf")))
    db = f["database.integrity:callcenter"]
    assert (code, db["status"], db["fault"]) == (2, "fail", "site")
    assert db["title"] == (f"PostgreSQL server for callcenter is down: {control} is root:root with mode 0600, "
                           "not postgres's")
    assert "Permission denied" in db["detail"]


def test_mariadb_data_directory_given_to_root(tmp_path):
    my = rig.MariaDB("refused", cnf=True)  # its my.cnf names the data directory
    try:
        my.start()
        my.sql(None, "CREATE DATABASE cc")
        my.stop()
        chown_tree(my.data, 0, 0)
        os.chmod(my.data, 0o700)
        with pytest.raises(RuntimeError):
            my.start()
        code, f = run(tmp_path, database(my.url("cc"), server_config=my.cnf))
    finally:
        my.cleanup()
    db = f["database.integrity:callcenter"]
    assert (db["status"], db["fault"]) == ("fail", "site")
    assert db["title"] == (f"MariaDB/MySQL server for callcenter is down: its data directory {my.data} is "
                           "root:root with mode 0700, not mysql's")
    assert "Errcode: 13" in db["detail"] and f"chown -R mysql:mysql {my.data}" in db["remedy"]


def test_a_postgresql_stopped_cleanly_with_its_own_files_is_just_down(pg, tmp_path):
    pw = pwd.getpwnam("postgres")
    assert os.stat(pg.data).st_uid == pw.pw_uid
    code, f = run(tmp_path, database(pg.url("cc"), log=pg.log,
                                     server_config=os.path.join(pg.data, "postgresql.conf")))
    db = f["database.integrity:callcenter"]
    assert db["evidence"]["reason"] == "server-down" and db["fault"] == "undetermined", db["title"]
    assert "chown" not in db["remedy"]
