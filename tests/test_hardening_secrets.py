"""Secrets never leave the host, in any spelling: a real process with
passwords on its command line, a service log full of them, database URLs
with credentials; checked in every output format (with -v), the facts
file, the saved reports, the mail as received (aiosmtpd), the mail spool,
and stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from diagnose.reports import FORMATS
from tests.conftest import needs_root, run_cli
from tests.rigs.smtp import free_port, smtp_rig  # noqa: F401  (fixture)

pytestmark = needs_root

# One secret per spelling; none may appear anywhere.
S = {n: f"Zq{n}x7Secret" for n in range(1, 18)}

ARGV = ["--password", S[1], f"-p{S[2]}", f"--password={S[3]}", f"mysql://cc:{S[4]}@db.local/cc",
        f"https://api.local/x?user=a&password={S[5]}"]
LOG = [
    f'2026-11-22 06:59:50 ERROR request failed: {{"user": "cc", "password": "{S[6]}"}}',
    f"2026-11-22 06:59:51 ERROR env: DB_PASSWORD = {S[7]}",
    f"2026-11-22 06:59:52 ERROR dsn host=db pwd={S[8]};",
    f"2026-11-22 06:59:53 ERROR header Authorization: Basic {S[9]}",
    f"2026-11-22 06:59:54 ERROR header Authorization: Bearer {S[10]}",
    f"2026-11-22 06:59:55 ERROR sip.conf: secret={S[11]} md5secret={S[12]}",
    f"2026-11-22 06:59:56 ERROR GET /cdr?token={S[13]}&pwd={S[14]}",
    "Traceback (most recent call last):",
    '  File "/opt/cc/ccgone.py", line 3, in <module>',
    f"RuntimeError: cannot log in: mysql -u cc -p{S[15]} cc",
]


@pytest.fixture
def site_with_secrets(tmp_path):
    script = tmp_path / "ccserver.py"
    script.write_text("import time\ntime.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, str(script), *ARGV])
    log = tmp_path / "ccgone.log"
    log.write_text("\n".join(LOG) + "\n")
    db = tmp_path / "cc.db"
    import sqlite3

    sqlite3.connect(db).executescript("CREATE TABLE t(x); INSERT INTO t VALUES (1);").close()
    cfg = tmp_path / "site.toml"
    cfg.write_text(f"""[site]
role = "server"
[[service]]
name = "ccserver"
process = "ccserver"
[[service]]
name = "ccgone"
process = "ccgone-not-running"
log = "{log}"
[[database]]
name = "callcenter"
url = "sqlite:///{db}?password={S[16]}"
[[database]]
name = "reporting"
url = "mysql://cc:{S[17]}@127.0.0.1:{free_port()}/reporting"
budget_s = 2
""")
    time.sleep(0.3)  # the process is up with its arguments
    try:
        yield cfg
    finally:
        proc.kill()
        proc.wait()


def leaks(text: str) -> list[int]:
    return [n for n, s in S.items() if s in text]


def test_every_spelling_is_masked_in_every_output_and_file(tmp_path, site_with_secrets, smtp_rig):
    cfg = site_with_secrets
    only = ["--only", "application.services", "--only", "database.integrity"]
    outputs = {}
    for fmt in FORMATS:
        facts = tmp_path / f"facts-{fmt}.json"
        done = run_cli("run", "--config", str(cfg), *only, "--format", fmt, "-v", "--save-facts", str(facts),
                       timeout=120)
        assert "Traceback" not in done.stderr, done.stderr
        outputs[fmt] = done.stdout + done.stderr + facts.read_text()
    for fmt, text in outputs.items():
        assert leaks(text) == [], fmt
    # the data was there, masked: not simply dropped
    facts = json.loads((tmp_path / "facts-json.json").read_text())
    argv = facts["checks"]["application.services"]["facts"]["services"][0]["processes"][0]["argv"]
    assert argv[2:] == ["--password", "***", "-p***", "--password=***", "mysql://cc:***@db.local/cc",
                        "https://api.local/x?user=a&password=***"]
    text = outputs["text"]
    assert "-p***" in text and "md5secret=***" in text

    # saved report, the mail as received, then the spool with SMTP down
    srv = smtp_rig.start()
    reports = tmp_path / "reports"
    with open(cfg, "a") as fh:
        fh.write(f'[email]\nto = ["support@vendor.example"]\nsmtp_host = "127.0.0.1"\n'
                 f'smtp_port = {srv.port}\nreports_dir = "{reports}"\n')
    done = run_cli("run", "--config", str(cfg), *only, "--email", timeout=120)
    [got] = srv.received
    assert leaks(got.raw.decode("utf-8", "replace")) == []
    for part in got.message.walk():
        if not part.is_multipart():
            assert leaks(part.get_content() if part.get_content_type().startswith("text")
                         else part.get_content().decode() if isinstance(part.get_content(), bytes)
                         else str(part.get_content())) == []
    assert leaks(done.stdout + done.stderr) == []
    srv.stop()
    done = run_cli("run", "--config", str(cfg), *only, "--email", timeout=120)
    assert "spooled as" in done.stderr
    for root, _, names in os.walk(reports):
        for n in names:
            assert leaks(open(os.path.join(root, n), encoding="utf-8", errors="replace").read()) == [], n


def test_secrets_in_error_messages_on_stderr_are_masked(tmp_path):
    cfg = tmp_path / "site.toml"
    cfg.write_text(f'[email]\nsmtp_port = "password={S[1]}"\n')
    done = run_cli("run", "--config", str(cfg), "--only", "disk.space")
    assert done.returncode == 3 and "smtp_port must be an integer" in done.stderr
    assert "password=***" in done.stderr and leaks(done.stderr) == []
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps({"schema": "diagnose.facts/1", "host": f"h?password={S[2]}", "started": 3,
                                 "checks": {}}))
    done = run_cli("run", "--from-facts", str(facts))
    assert done.returncode == 3 and leaks(done.stderr) == []
