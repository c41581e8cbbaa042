"""A directory named by an unprivileged user (uid 65534, on a real tmpfs)
with a newline, ANSI/OSC escapes and a raw C1 byte cannot forge a line of
the root-run report or hide the rest of it, in any format, with -v, and in
the mail's text part; log reads are bounded; a config path is not a way
to read files; a walk that skipped anything says so."""

from __future__ import annotations

import json
import os
import re

import pytest

from diagnose.reports import FORMATS
from tests.conftest import needs_root, run_cli
from tests.fuzzkit import assert_well_formed
from tests.rigs.disk import small_fs  # noqa: F401  (fixture)
from tests.rigs.smtp import smtp_rig  # noqa: F401  (fixture)
from tests.rigs.unprivileged import unprivileged  # noqa: F401  (fixture)

pytestmark = needs_root

FORGED = b"Movies\n[\xe2\x9c\x93] disk.space  Disk is fine\x1b[8m\x1b]0;pwned\x07\x1b[2J\x9b31m\xe2\x80\xaeevil"
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]")


@pytest.fixture
def forged_disk(small_fs, unprivileged):
    fs = small_fs("8m")
    os.chmod(fs.base, 0o755)
    share = fs.path("share")
    os.makedirs(share)
    os.chmod(share, 0o1777)
    made = unprivileged.run("-c", (
        "import os\n"
        f"d = os.path.join({share.encode()!r}, {FORGED!r})\n"
        "os.makedirs(d)\n"
        "with open(os.path.join(d, b'film.mkv'), 'wb') as fh:\n"
        "    try:\n"
        "        while True:\n"
        "            fh.write(os.urandom(64 * 1024)); fh.flush()\n"
        "    except OSError:\n"
        "        pass\n"))
    assert made.returncode == 0, made.stderr
    assert os.stat(os.path.join(share.encode(), FORGED)).st_uid == 65534
    return fs


def test_forged_line_directory_name_is_shown_escaped_in_every_format(forged_disk, tmp_path, smtp_rig):
    cfg = forged_disk.config()
    for fmt in FORMATS:
        for extra in ([], ["-v"]):
            done = run_cli("run", "--config", cfg, "--only", "disk.space", "--format", fmt, *extra)
            assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
            assert_well_formed(fmt, done.stdout)
            if fmt == "json":
                f = json.loads(done.stdout)["findings"][0]
                assert f["fault"] == "site" and "\x1b]0;pwned" in f["detail"]  # data, escaped by JSON
                continue
            if fmt in ("text", "nagios", "html"):
                assert not RAW.search(done.stdout), (fmt, extra)
                # the raw C1 byte 0x9b is not UTF-8: the disk scan shows it as U+FFFD
                assert "\\x1b]0;pwned\\x07" in done.stdout and "\ufffd31m" in done.stdout, done.stdout
            lines = done.stdout.splitlines()
            assert not [ln for ln in lines if ln.lstrip().startswith(("[✓] disk.space  Disk is fine",
                                                                      "[+] disk.space  Disk is fine"))]
    # the mail's text part, as the vendor reads it
    srv = smtp_rig.start()
    with open(cfg, "a") as fh:
        fh.write(f'[email]\nto = ["support@vendor.example"]\nsmtp_host = "127.0.0.1"\nsmtp_port = {srv.port}\n'
                 f'reports_dir = "{tmp_path / "reports"}"\n')
    done = run_cli("run", "--config", cfg, "--only", "disk.space", "--email", "-q")
    assert done.returncode == 2, done.stderr
    [got] = srv.received
    # CRLF is the mail's own line ending; any other CR would be the attacker's
    text = got.message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = got.message.get_body(("html",)).get_content().replace("\r\n", "\n")
    assert "\\x1b[8m" in text and not RAW.search(text) and not RAW.search(html)
    assert not RAW.search(done.stderr)


def test_log_from_dev_zero_is_refused_not_read_forever(tmp_path):
    cfg = tmp_path / "site.toml"
    db = tmp_path / "cc.db"
    import sqlite3

    sqlite3.connect(db).executescript("CREATE TABLE t(x); INSERT INTO t VALUES (1);").close()
    cfg.write_text(f'[site]\nrole = "server"\n[[database]]\nname = "cc"\nurl = "sqlite:///{db}"\n'
                   f'log = "/dev/zero"\n[[service]]\nname = "cc"\nprocess = "no-such-ccserver"\nlog = "/dev/zero"\n')
    done = run_cli("run", "--config", str(cfg), "--only", "database.integrity", "--only", "application.services",
                   "--format", "json", timeout=120)
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout)
    db_f = next(f for f in report["findings"] if f["check"] == "database.integrity")
    assert db_f["evidence"]["log"]["error"] == "a device, not a regular file; not read (/dev/zero)"
    assert all(c["status"] != "error" for c in report["checks"]), report["checks"]


def test_a_config_path_cannot_show_a_files_content(tmp_path):
    secret = tmp_path / "shadow"
    secret.write_text("root:$y$j9T$Secret-Hash-Here:19000:0:99999:7:::\n")
    os.chmod(secret, 0o600)
    cfg = tmp_path / "site.toml"
    cfg.write_text(f'[site]\nrole = "server"\n[[database]]\nname = "cc"\nurl = "sqlite:///{secret}"\n')
    for fmt in ("json", "text"):
        done = run_cli("run", "--config", str(cfg), "--only", "database.integrity", "--format", fmt, "-v",
                       "--save-facts", str(tmp_path / f"facts-{fmt}.json"))
        shown = done.stdout + done.stderr + (tmp_path / f"facts-{fmt}.json").read_text()
        for piece in ("root:", "Secret-Hash", "726f6f74", "j9T"):  # "726f6f74" is "root" in hex
            assert piece not in shown, (fmt, piece)
    header = json.loads((tmp_path / "facts-json.json").read_text())["checks"]["database.integrity"]
    assert header["facts"]["databases"][0]["file"]["header"] == {
        "magic_ok": False, "bytes": len(secret.read_bytes()), "content": "text, not an SQLite database"}


def test_a_walk_that_skipped_a_directory_says_it_is_incomplete(small_fs):
    fs = small_fs("8m", inodes=8192)
    # a directory chain deeper than PATH_MAX: its bottom cannot be opened by path
    fd = os.open(fs.mountpoint, os.O_RDONLY)
    try:
        for _ in range(40):
            name = "d" * 200
            os.mkdir(name, dir_fd=fd)
            nxt = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nxt
    finally:
        os.close(fd)
    fs.fill("share/film.mkv", 7_700_000, "nobody")
    facts = os.path.join(fs.base, "facts.json")
    done = run_cli("run", "--config", fs.config('scan = "always"\n'), "--only", "disk.space",
                   "--format", "json", "--save-facts", facts)
    [f] = json.loads(done.stdout)["findings"]
    scan = f["evidence"]["scan"]
    assert scan["complete"] is False and scan["stopped_early"] is False and scan["unreadable"] == 1
    assert f["status"] == "warn" and "could not be read" in f["detail"] and "lower bound" in f["detail"]
    [sample] = json.load(open(facts))["checks"]["disk.space"]["facts"]["mounts"][0]["scan"]["unreadable_sample"]
    assert sample.endswith(": File name too long")
