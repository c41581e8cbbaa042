"""Timestamps of database log lines as each server really writes them.

MariaDB prints the hour with "%2d": before 10:00 its error log reads
"2026-12-03  7:41:40" (two spaces, no leading zero). A pattern that wants two
digits loses the time of every line written in the morning, so a test of the
MariaDB rig passed after 10:00 and failed before it."""
from __future__ import annotations

import pytest

from diagnose.host import Host
from diagnose.checks.database.logs import scan_log

LINES = [
    # MariaDB 10.x / 11 (sql/log.cc: "%4d-%02d-%02d %2d:%02d:%02d")
    ("2026-12-03  7:41:40 5 [Warning] mariadbd: Disk is full writing './cc/r.MYD' "
     "(Errcode: 28 \"No space left on device\")", "2026-12-03  7:41:40"),
    ("2026-12-03 17:41:40 5 [Warning] mariadbd: Disk is full writing './cc/r.MYD' "
     "(Errcode: 28 \"No space left on device\")", "2026-12-03 17:41:40"),
    # MySQL 8 (ISO 8601 with microseconds and zone)
    ("2026-12-03T07:41:40.123456Z 8 [ERROR] [MY-012639] [InnoDB] Write to file ./ibtmp1 "
     "failed at offset 0, 1048576 bytes should have been written, only 0 were written. "
     "Operating system error number 28. No space left on device",
     "2026-12-03T07:41:40.123456Z"),
    # PostgreSQL (log_line_prefix '%m [%p] ')
    ("2026-12-03 07:41:40.120 UTC [4242] ERROR:  could not extend file \"base/16384/16385\": "
     "No space left on device", "2026-12-03 07:41:40.120 UTC"),
    # MariaDB 5.5 / MySQL 5.5 ("YYMMDD hh:mm:ss", hour also "%2d")
    ("261203  7:41:40 [ERROR] mysqld: Disk is full writing './cc/r.MYD' (Errcode: 28)",
     "261203  7:41:40"),
]


@pytest.mark.parametrize("line,stamp", LINES, ids=["mariadb-morning", "mariadb-evening",
                                                   "mysql8", "postgres", "mariadb-old"])
def test_disk_full_line_keeps_its_time_as_written(tmp_path, line, stamp):
    log = tmp_path / "error.log"
    log.write_text("starting\n" + line + "\n")
    out = scan_log(Host("/"), str(log), base=str(tmp_path))
    [hit] = out["disk_full"]
    assert hit["line"] == 2
    assert hit["time"] == stamp
