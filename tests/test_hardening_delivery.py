"""The report is never lost (a full, read-only or reserved-blocks-only
reports_dir, SMTP up and down), mail delivery has an overall deadline (a
server dripping its greeting), and the spool keeps a mail with its record
or nothing. Real tmpfs/ext4 mounts, real aiosmtpd, the real CLI."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import needs_root, run_cli
from tests.rigs.databases import tmpfs  # noqa: F401  (fixture)
from tests.rigs.hostile import drip_server, loop_ext4, remount_ro  # noqa: F401  (fixtures)
from tests.rigs.smtp import free_port, smtp_rig  # noqa: F401  (fixture)

pytestmark = needs_root


def site(tmp_path, port: int, reports: str, fallback: str, **email) -> str:
    lines = ["[disk]", f'mounts = ["{tmp_path}"]', "[email]", 'to = ["support@vendor.example"]',
             'smtp_host = "127.0.0.1"', f"smtp_port = {port}", f'reports_dir = "{reports}"',
             f'fallback_dir = "{fallback}"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in email.items()]
    path = tmp_path / "site.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def run(cfg: str, *extra: str):
    done = run_cli("run", "--config", cfg, "--only", "disk.space", "--email", "--format", "json", *extra,
                   timeout=120)
    assert "Traceback" not in done.stderr
    return done, json.loads(done.stdout)


def delivery(report: dict, subject: str) -> dict:
    [f] = [f for f in report["findings"] if f["id"] == f"report.delivery:{subject}"]
    return f


def files(d) -> list[str]:
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


@pytest.mark.parametrize("smtp_up", [True, False], ids=["smtp-up", "smtp-down"])
def test_full_reports_dir_saves_in_the_fallback_and_still_prints_and_mails(tmp_path, tmpfs, smtp_rig, smtp_up):
    fs = tmpfs("full", "256k")
    fs.fill_until_full("films/movie.mkv")
    reports, fallback = fs.path("reports"), str(tmp_path / "fallback")
    port = smtp_rig.start().port if smtp_up else free_port()
    done, report = run(site(tmp_path, port, reports, fallback))
    f = delivery(report, reports)
    assert f["status"] == "warn" and "no space left on device" in f["title"]
    assert f"saved in {fallback} instead" in f["title"]
    assert f["evidence"]["tried"][0] == {"dir": reports, "error": "no space left on device"}
    [saved] = [n for n in files(fallback) if n.startswith("report-")]
    assert json.loads((tmp_path / "fallback" / saved).read_text()) == report  # the report as printed
    assert f"(not in reports_dir: {reports}: no space left on device)" in done.stderr
    if smtp_up:
        [got] = smtp_rig.servers[0].received
        assert "Report not saved in" in got.message.get_body(("plain",)).get_content()
        assert "mailed to support@vendor.example" in done.stderr
    else:
        spool = tmp_path / "fallback" / "spool"
        names = files(spool)
        assert len(names) == 2 and {n.rsplit(".", 1)[1] for n in names} == {"eml", "json"}
        assert "mail NOT delivered" in done.stderr and f"spooled as {spool}" in done.stderr


@pytest.mark.parametrize("smtp_up", [True, False], ids=["smtp-up", "smtp-down"])
def test_read_only_everywhere_the_report_is_printed_mailed_and_says_where_it_tried(
        tmp_path, tmpfs, smtp_rig, smtp_up):
    fs = tmpfs("ro", "1m")
    os.makedirs(fs.path("reports"))
    os.makedirs(fs.path("fallback"))
    remount_ro(fs.mountpoint)
    reports, fallback = fs.path("reports"), fs.path("fallback")
    port = smtp_rig.start().port if smtp_up else free_port()
    done, report = run(site(tmp_path, port, reports, fallback))
    f = delivery(report, reports)
    assert f["title"] == f"Report not saved anywhere: {reports}: the filesystem is read-only"
    assert [t["dir"] for t in f["evidence"]["tried"]] == [reports, fallback]
    assert f["fault"] == "site" and "read-only" in f["remedy"]
    assert "report NOT saved" in done.stderr and f"{fallback}: the filesystem is read-only" in done.stderr
    assert report["verdict"]["status"] in ("warn", "fail") and done.returncode in (1, 2)
    if smtp_up:
        [got] = smtp_rig.servers[0].received
        attached = json.loads(list(got.message.iter_attachments())[0].get_content())
        assert attached == report
    else:
        assert "NOT spooled" in done.stderr and "read-only" in done.stderr


def test_roots_reserved_blocks_are_left_alone(tmp_path, loop_ext4, smtp_rig):
    fs = loop_ext4(16)
    reports, fallback = fs.path("reports"), str(tmp_path / "fallback")
    os.makedirs(reports)
    fs.fill_as(65534, "users/films.bin")  # users see it full; root still has 5 % reserved
    st = os.statvfs(fs.mountpoint)
    assert st.f_bavail == 0 and st.f_bfree > 0
    done, report = run(site(tmp_path, smtp_rig.start().port, reports, fallback))
    assert files(reports) == []  # not a byte of the reserve taken
    assert os.statvfs(fs.mountpoint).f_bfree == st.f_bfree
    f = delivery(report, reports)
    assert "only root's reserved blocks are left" in f["title"] + json.dumps(f["evidence"])
    assert [n for n in files(fallback) if n.startswith("report-")]


def test_a_dripping_smtp_server_cannot_hold_the_run(tmp_path, drip_server):
    reports = str(tmp_path / "reports")
    cfg = site(tmp_path, drip_server.port, reports, str(tmp_path / "fb"), deadline_s=3)
    lock = str(tmp_path / "diagnose.lock")
    done, report = run(cfg, "--lock", lock)
    assert drip_server.connections == 1
    assert "did not complete the delivery within the 3s deadline" in done.stderr
    assert "spooled as" in done.stderr
    [meta] = [n for n in files(os.path.join(reports, "spool")) if n.endswith(".json")]
    assert "3s deadline" in json.loads(open(os.path.join(reports, "spool", meta)).read())["last_error"]
    # the next run retries the spool under the same deadline, and the lock was released
    done, report = run(cfg, "--lock", lock)
    late = [f for f in report["findings"] if f["check"] == "report.delivery"]
    assert late and "undelivered" in late[0]["title"]


def test_spool_keeps_the_mail_with_its_record_or_nothing(tmp_path, monkeypatch):
    """A failure between writing the message and its record (a disk that
    fills up just then) leaves neither in the spool."""
    import datetime as dt

    from diagnose.delivery import mail
    from diagnose.delivery.smtp import MailError
    from diagnose.model import Fault
    from tests.test_mail import all_ok_report, email_cfg

    cfg = email_cfg(tmp_path, free_port(), fallback_dir=str(tmp_path / "fb"))
    msg = mail.build_message(all_ok_report(), cfg)
    real = mail.write_temp
    calls = []

    def second_write_fails(directory, text, mode=0o644, owner=None):
        calls.append(directory)
        if len(calls) % 2 == 0:
            raise OSError(28, "No space left on device")
        return real(directory, text, mode, owner)

    monkeypatch.setattr(mail, "write_temp", second_write_fails)
    with pytest.raises(OSError) as failed:
        mail._spool(msg, cfg, MailError("down", Fault.SITE), dt.datetime.now(dt.timezone.utc))
    assert "no space left on device" in str(failed.value)
    for d in (tmp_path / "reports" / "spool", tmp_path / "fb" / "spool"):
        assert files(d) == []  # no .eml without its record, no stray temporary file
