"""The database.integrity judge on recorded facts, varied one fact at a
time: which log lines count as the cause, and what stays out of facts."""

from __future__ import annotations

import copy
import json

from diagnose.checks.database.check import DatabaseIntegrity
from diagnose.check import section_config
from diagnose.model import Fault, Status
from tests.conftest import DATA

CHECK = DatabaseIntegrity()


def scenario(name: str) -> tuple[dict, dict]:
    s = json.loads((DATA / "database.integrity" / f"{name}.json").read_text())
    return s["facts"], section_config(CHECK, s["config"])


def judge(facts: dict, cfg: dict):
    [f] = CHECK.judge(copy.deepcopy(facts), cfg)
    return f


def test_disk_full_on_another_filesystem_does_not_explain_the_damage():
    facts, cfg = scenario("mariadb-disk-full-then-crash")
    assert judge(facts, cfg).fault is Fault.SITE
    db = facts["databases"][0]
    for hit in db["log"]["disk_full"]:
        hit["mount"] = "/some/other/disk"
    f = judge(facts, cfg)
    assert f.fault is Fault.SOFTWARE and "log_disk_full" not in f.evidence
    # an unclean shutdown in the log before the damage points at the site again
    db["log"]["unclean"] = [{"line": 30, "time": "2026-11-22 22:19:58",
                             "text": "2026-11-22 22:19:58 0 [Note] InnoDB: Starting crash recovery from "
                                     "checkpoint LSN=44404"}]
    f = judge(facts, cfg)
    assert f.fault is Fault.SITE and "without a clean shutdown" in f.detail
    assert f.evidence["log_unclean_shutdown"] == db["log"]["unclean"]


def test_software_verdict_says_where_it_looked():
    facts, cfg = scenario("mariadb-myisam-aria-corrupt")
    f = judge(facts, cfg)
    assert f.fault is Fault.SOFTWARE
    assert f"the log {facts['databases'][0]['log']['path']}" in f.detail


def test_dmesg_unavailable_is_recorded_not_fatal():
    facts, cfg = scenario("sqlite-garbage-page")
    facts["databases"][0]["kernel"] = {"devices": ["sda1", "sda"], "source": None, "io_errors": [],
                                       "error": "dmesg: read kernel buffer failed: Operation not permitted; "
                                                "/var/log/kern.log: No such file or directory"}
    f = judge(facts, cfg)
    assert f.status is Status.FAIL and f.fault is Fault.SOFTWARE
    assert "no kernel log (dmesg: read kernel buffer failed" in f.detail


def test_kernel_io_errors_make_it_a_site_fault():
    facts, cfg = scenario("sqlite-garbage-page")
    facts["databases"][0]["kernel"] = {"devices": ["sda1", "sda"], "source": "dmesg", "error": None,
                                       "io_errors": ["[ 812.1] I/O error, dev sda, sector 2048 op 0x0:(READ)"]}
    f = judge(facts, cfg)
    assert f.fault is Fault.SITE and "I/O errors on sda1/sda" in f.detail
    assert f.evidence["kernel_io_errors"] == facts["databases"][0]["kernel"]["io_errors"]


def test_remote_database_carries_scope_remote():
    facts, cfg = scenario("postgres-server-down")
    facts["databases"][0]["scope"] = "remote"
    assert judge(facts, cfg).evidence["scope"] == "remote"


def test_checksum_failures_counted_by_the_server_are_corruption():
    facts, cfg = scenario("postgres-healthy")
    facts["databases"][0]["server"].update(checksum_failures=3, checksum_last_failure="2026-11-21T18:02:12+00:00")
    f = judge(facts, cfg)
    assert f.status is Status.FAIL
    assert f.title == "PostgreSQL database callcenter is corrupt: 3 data checksum failures"
    assert "the last at 2026-11-21T18:02:12+00:00" in f.detail


def test_facts_never_hold_the_password():
    facts, _ = scenario("postgres-wrong-password")
    text = json.dumps(facts)
    assert "pg-Secret" not in text and "DG_REC_PW" not in text


def test_log_time_of_an_hour_below_ten_is_read():
    """MariaDB pads a one-digit hour with a space ("2026-12-03  7:45:57"):
    the line's time is still read (it was missed before 10:00 every day)."""
    from diagnose.checks.database.logs import _LOG_TIME

    for line, want in (("2026-12-03  7:45:57 5 [Warning] mariadbd: Disk is full", "2026-12-03  7:45:57"),
                       ("2026-12-03 17:45:57 5 [Warning] x", "2026-12-03 17:45:57"),
                       ("2026-12-03T07:45:57.123Z x", "2026-12-03T07:45:57.123Z")):
        assert _LOG_TIME.match(line)["t"] == want
