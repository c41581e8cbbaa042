"""Mailing the report through a real SMTP server (aiosmtpd, tests/rigs/smtp.py):
the message a recipient gets, the spool when SMTP is down, the report of
that failure in the next run, `when`, retention, the login secret."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os

import pytest

from diagnose.delivery.mail import deliver
from diagnose.model import CheckResult, Finding, Report, Status, make_verdict
from tests.rigs.smtp import free_port, self_signed_cert, smtp_rig  # noqa: F401  (fixture)
from tests.test_html import HOSTILE, sample_report

HEADLINE = "2 site faults, 1 software fault; 1 check could not run"


def email_cfg(tmp_path, port, **over):
    cfg = {"to": ["support@vendor.example"], "cc": ["it@customer.example"], "from": "",
           "smtp_host": "127.0.0.1", "smtp_port": port, "starttls": False, "ssl": False,
           "user": "", "password_env": "", "when": "always",
           "reports_dir": str(tmp_path / "reports"), "keep": 30, "keep_days": 90}
    cfg.update(over)
    return cfg


def all_ok_report() -> Report:
    ok = Finding("disk.space", "/", Status.OK, "/ has 62% free", evidence={"free_percent": 62})
    checks = [CheckResult("disk.space", Status.OK, 0.01)]
    return Report("0.1.0", "cc-srv01", "", "server", "2026-11-22T07:00:00+00:00", 0.2,
                  [ok], checks, make_verdict([ok], checks))


def parts(msg):
    """(text body, html body, parsed JSON attachment) of a received message."""
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    [att] = list(msg.iter_attachments())
    assert att.get_content_type() == "application/json"
    return text, html, json.loads(att.get_content())


def saved_reports(cfg):
    return sorted((tmp for tmp in os.listdir(cfg["reports_dir"]) if tmp.startswith("report-")))


def test_report_mail_has_text_html_json_and_subject(smtp_rig, tmp_path):
    srv = smtp_rig.start()
    cfg = email_cfg(tmp_path, srv.port)
    report = sample_report()
    _, delivery = deliver(report, cfg, env={})
    assert delivery.sent and not delivery.spooled

    [got] = srv.received
    assert sorted(got.rcpt_tos) == ["it@customer.example", "support@vendor.example"]
    assert got.mail_from == "diagnose@cc-srv01.localdomain"  # fully qualified, never a bare host
    msg = got.message
    assert msg["Subject"] == f"[diagnose] Sales office / cc-srv01: {HEADLINE}"
    assert msg["From"] == "diagnose <diagnose@cc-srv01.localdomain>"
    assert msg["Message-ID"].endswith("@cc-srv01.localdomain>")
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg.get_content_type() == "multipart/mixed"
    alternative = msg.get_payload()[0]
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.get_payload()] == ["text/plain", "text/html"]
    text, html, attached = parts(msg)
    assert HEADLINE in text and "Plug the Jabra headset into a USB port on seat-04" in text
    assert HEADLINE in html and HOSTILE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert attached == report.to_dict()
    assert max(len(line) for line in got.raw.splitlines()) <= 998  # RFC 5322 line limit
    assert all(b < 128 for b in got.raw)  # 7-bit clean: any relay passes it on

    # the report was written to reports_dir first, whole
    [name] = saved_reports(cfg)
    saved = json.loads((tmp_path / "reports" / name).read_text())
    assert saved == report.to_dict()


def test_smtp_down_spools_then_delivers_and_reports_the_failure(smtp_rig, tmp_path):
    port = free_port()  # nothing listens: the SMTP server is down
    cfg = email_cfg(tmp_path, port)
    first = sample_report()
    _, d1 = deliver(first, cfg, env={})
    assert not d1.sent and d1.spooled
    assert "refused the connection" in d1.error
    assert len(list((tmp_path / "reports" / "spool").glob("*.eml"))) == 1
    assert len(saved_reports(cfg)) == 1  # the report itself is safe

    srv = smtp_rig.start(port=port)  # the server is back
    second = all_ok_report()
    mailed, d2 = deliver(second, cfg, env={})
    assert d2.sent and d2.retried == 1
    assert not list((tmp_path / "reports" / "spool").glob("*"))

    assert [r.message["Subject"] for r in srv.received] == [
        f"[diagnose] Sales office / cc-srv01: {HEADLINE}",
        "[diagnose] cc-srv01: All checks passed: no site faults, no software faults"]
    _, _, old = parts(srv.received[0].message)
    assert old == first.to_dict()  # the spooled mail is the original, unchanged

    # the new report tells of the earlier failure
    late = mailed.finding(f"report.delivery:127.0.0.1:{port}")
    # delivered late, nothing pending: information, never a fault counted in the verdict
    assert late is not None and late.status is Status.OK and late.fault is None
    assert late.title == "1 earlier report mail delivered late, nothing pending"
    assert "refused the connection" in late.detail
    assert mailed.verdict.site_faults == 0 and mailed.verdict.status is Status.OK
    assert late.evidence["delivered_late"][0]["subject"] == f"[diagnose] Sales office / cc-srv01: {HEADLINE}"
    text, _, attached = parts(srv.received[1].message)
    assert "delivered late" in text
    assert f"report.delivery:127.0.0.1:{port}" in [f["id"] for f in attached["findings"]]
    assert {"name": "report.delivery", "status": "ok"}.items() <= attached["checks"][-1].items()
    assert "1 site fault" not in srv.received[1].message["Subject"]


def test_smtp_still_down_keeps_spooling_and_says_since_when(tmp_path):
    cfg = email_cfg(tmp_path, free_port())
    t0 = dt.datetime(2026, 11, 21, 2, 0, tzinfo=dt.timezone.utc)
    deliver(sample_report(), cfg, env={}, now=t0)
    report, d = deliver(sample_report(), cfg, env={}, now=t0 + dt.timedelta(days=1))
    assert d.spooled
    stuck = report.finding(f"report.delivery:127.0.0.1:{cfg['smtp_port']}")
    assert stuck.status is Status.WARN
    assert stuck.title.startswith("1 report mail undelivered since 2026-11-21T02:00:00+00:00")
    meta = json.loads(sorted((tmp_path / "reports" / "spool").glob("*.json"))[0].read_text())
    assert meta["attempts"] == 2
    assert len(list((tmp_path / "reports" / "spool").glob("*.eml"))) == 2


def test_login_password_comes_from_env_and_is_never_written(smtp_rig, tmp_path):
    secret = "s3cret-Pw-7"
    srv = smtp_rig.start(login=("diag", secret))
    cfg = email_cfg(tmp_path, srv.port, user="diag", password_env="DIAG_SMTP_PW")
    _, d = deliver(sample_report(), cfg, env={"DIAG_SMTP_PW": secret})
    assert d.sent and srv.logins == [("diag", secret)]

    report, d = deliver(sample_report(), cfg, env={"DIAG_SMTP_PW": "wrong-" + secret})
    assert d.spooled and "rejected the login for diag: 535" in d.error
    report, d = deliver(sample_report(), cfg, env={})
    assert "DIAG_SMTP_PW is not in the environment" in d.error
    stuck = report.finding(f"report.delivery:127.0.0.1:{srv.port}")
    assert stuck.fault.value == "site"
    for path in (tmp_path / "reports").rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(), path
    assert secret not in json.dumps(report.to_dict())


def test_when_on_fault_and_on_change(smtp_rig, tmp_path):
    srv = smtp_rig.start()
    cfg = email_cfg(tmp_path, srv.port, when="on-fault")
    _, d = deliver(all_ok_report(), cfg, env={})
    assert not d.sent and "every check passed" in d.reason
    assert len(saved_reports(cfg)) == 1  # saved even when not mailed

    cfg["when"] = "on-change"
    bad = sample_report()
    assert deliver(bad, cfg, env={})[1].sent  # ok -> faults: a change
    _, d = deliver(sample_report(), cfg, env={})
    assert not d.sent and "nothing changed" in d.reason
    worse = sample_report()
    worse.findings[4] = dataclasses.replace(worse.findings[4], status=Status.FAIL,
                                            title="eth0 has no carrier")
    assert deliver(worse, cfg, env={})[1].sent
    assert len(srv.received) == 2


def test_old_reports_pruned_by_count_and_age(tmp_path):
    cfg = email_cfg(tmp_path, free_port(), keep=3, keep_days=7, when="on-fault")
    start = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
    for day in range(5):
        deliver(all_ok_report(), cfg, env={}, now=start + dt.timedelta(days=day))
    names = saved_reports(cfg)
    assert [n[7:15] for n in names] == ["20261103", "20261104", "20261105"]
    # age: make the two older ones look 10 days old, then one more run
    for n in names[:2]:
        old = (dt.datetime.now() - dt.timedelta(days=10)).timestamp()
        os.utime(tmp_path / "reports" / n, (old, old))
    deliver(all_ok_report(), cfg, env={})
    assert names[2] in saved_reports(cfg) and len(saved_reports(cfg)) == 2


def cli_config(tmp_path, port, **email) -> str:
    # state_dir in the file itself: a scheduled run (cron's environment) must not
    # write history into the real /var/lib/diagnose either.
    lines = [f'[site]\nstate_dir = "{tmp_path / "state"}"\n', f'[disk]\nmounts = ["{tmp_path}"]\n', "[email]",
             'to = ["support@vendor.example"]', 'smtp_host = "127.0.0.1"', f"smtp_port = {port}",
             f'reports_dir = "{tmp_path / "reports"}"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in email.items()]
    path = tmp_path / "site.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_cli_run_email_mails_the_report_it_prints(cli, smtp_rig, tmp_path):
    srv = smtp_rig.start()
    cfg = cli_config(tmp_path, srv.port)
    done = cli("run", "--config", cfg, "--only", "disk.space", "--format", "json", "--email")
    printed = json.loads(done.stdout)
    assert done.returncode == {"ok": 0, "warn": 1, "fail": 2}[printed["verdict"]["status"]], done.stderr
    assert "mailed to support@vendor.example" in done.stderr
    [got] = srv.received
    assert got.message["Subject"] == f"[diagnose] {printed['host']}: {printed['verdict']['headline']}"
    _, _, attached = parts(got.message)
    assert attached == printed
    assert [f["check"] for f in attached["findings"]] == ["disk.space"]


def test_cli_email_address_overrides_config_and_failure_is_spooled(cli, smtp_rig, tmp_path):
    port = free_port()
    cfg = cli_config(tmp_path, port)
    done = cli("run", "--config", cfg, "--only", "disk.space", "--email", "ops@customer.example", "-q")
    assert done.returncode in (0, 1, 2)
    assert "mail NOT delivered" in done.stderr and "refused the connection" in done.stderr
    srv = smtp_rig.start(port=port)
    done = cli("run", "--config", cfg, "--only", "disk.space", "--email", "ops@customer.example",
               "--format", "json", "-q")
    report = json.loads(done.stdout)
    assert [r.rcpt_tos for r in srv.received] == [["ops@customer.example"]] * 2
    late = [f for f in report["findings"] if f["check"] == "report.delivery"]
    assert late and late[0]["status"] == "ok" and "delivered late, nothing pending" in late[0]["title"]
    assert report["verdict"]["site_faults"] == 0  # a late mail is not a site fault
    assert done.returncode == max(0, {"ok": 0, "warn": 1, "fail": 2}[report["verdict"]["status"]])


def test_cli_email_without_recipients_is_a_usage_error(cli, tmp_path):
    cfg = tmp_path / "site.toml"
    cfg.write_text(f'[disk]\nmounts = ["{tmp_path}"]\n[email]\nreports_dir = "{tmp_path}/r"\n')
    done = cli("run", "--config", str(cfg), "--only", "disk.space", "--email")
    assert done.returncode == 3
    assert "no recipients" in done.stderr


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_tls_modes_deliver_and_an_untrusted_certificate_is_refused(smtp_rig, tmp_path, monkeypatch, mode):
    cert = self_signed_cert(tmp_path)
    srv = smtp_rig.start(tls=mode, cert=cert)
    cfg = email_cfg(tmp_path, srv.port, **{mode: True})
    _, d = deliver(sample_report(), cfg, env={})  # the system CAs do not know this server
    assert d.spooled and f"TLS with 127.0.0.1:{srv.port} failed" in d.error
    assert "CERTIFICATE_VERIFY_FAILED" in d.error
    monkeypatch.setenv("SSL_CERT_FILE", cert[0])  # OpenSSL's default trust store, now ours
    report, d = deliver(sample_report(), cfg, env={})
    assert d.sent and d.retried == 1 and len(srv.received) == 2


def test_spool_beyond_keep_is_dropped_and_reported(smtp_rig, tmp_path):
    port = free_port()
    cfg = email_cfg(tmp_path, port, keep=1)
    t0 = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.timezone.utc)
    for day in range(2):  # two nights with the SMTP server down
        deliver(sample_report(), cfg, env={}, now=t0 + dt.timedelta(days=day))
    srv = smtp_rig.start(port=port)
    report, d = deliver(all_ok_report(), cfg, env={}, now=t0 + dt.timedelta(days=2))
    assert d.sent and d.retried == 1 and len(srv.received) == 2
    f = report.finding(f"report.delivery:127.0.0.1:{port}")
    assert [m["first_failed"] for m in f.evidence["dropped_unsent"]] == ["2026-11-20T02:00:00+00:00"]
    assert [m["first_failed"] for m in f.evidence["delivered_late"]] == ["2026-11-21T02:00:00+00:00"]
    assert len(saved_reports(cfg)) == 1  # keep = 1 applies to saved reports too


def test_each_reader_gets_their_report(smtp_rig, tmp_path):
    """[email] to gets the vendor's report, customer_to the customer's, and a
    [[email.recipients]] table sets audience and language per address."""
    srv = smtp_rig.start()
    cfg = email_cfg(tmp_path, srv.port, cc=[], customer_to=["director@sales-office.example"],
                    recipients=[{"address": "tech@sales-office.example", "audience": "vendor",
                                 "lang": "en"}])
    report = sample_report()
    _, delivery = deliver(report, cfg, env={}, lang="ru")
    assert delivery.sent
    got = {tuple(r.rcpt_tos): r.message for r in srv.received}
    assert set(got) == {("support@vendor.example",), ("director@sales-office.example",),
                        ("tech@sales-office.example",)}
    vendor, customer, tech = (got[("support@vendor.example",)], got[("director@sales-office.example",)],
                              got[("tech@sales-office.example",)])
    assert vendor["X-Diagnose-Audience"] == "vendor" and customer["X-Diagnose-Audience"] == "customer"
    assert vendor["Content-Language"] == "ru" and tech["Content-Language"] == "en"
    assert customer["Subject"] == ("[diagnose] Sales office / cc-srv01: 2 неисправности на стороне объекта, "
                                   "1 ошибка программы; 1 проверка не смогла выполниться")
    assert tech["Subject"] == f"[diagnose] Sales office / cc-srv01: {HEADLINE}"
    assert [p.get_content_type() for p in vendor.iter_attachments()] == ["application/json"]
    assert not list(customer.iter_attachments())  # no raw evidence for the customer
    text = customer.get_body(("plain",)).get_content()
    assert "Что сделать вашим сотрудникам" in text and "Что сделает поставщик" in text
    assert "vendor.example" not in text  # the vendor's own domain stays out of it
    for msg in got.values():
        assert msg["Auto-Submitted"] == "auto-generated"


def test_mail_test_command_reaches_every_group(cli, smtp_rig, tmp_path):
    srv = smtp_rig.start()
    cfg = tmp_path / "site.toml"
    cfg.write_text('[site]\nname = "Отдел продаж"\nlanguage = "ru"\n[email]\n'
                   'to = ["support@vendor.example"]\ncustomer_to = ["it@customer.example"]\n'
                   f'smtp_host = "127.0.0.1"\nsmtp_port = {srv.port}\n', encoding="utf-8")
    done = cli("mail", "test", "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    assert "тестовое письмо отправлено на support@vendor.example" in done.stdout
    subjects = sorted(r.message["Subject"] for r in srv.received)
    assert len(subjects) == 2 and all(s.endswith("/ " + s.split("/ ")[1]) for s in subjects)
    assert all(s.startswith("[diagnose] Отдел продаж / ") and s.endswith(": тестовое письмо")
               for s in subjects)
    srv.stop()
    down = cli("mail", "test", "--config", str(cfg), "--to", "x@example.org", "--lang", "en")
    assert down.returncode == 1 and "NOT sent" in down.stderr and "refused the connection" in down.stderr


def test_recipient_tables_are_validated(cli, tmp_path):
    cfg = tmp_path / "site.toml"
    cfg.write_text('[email]\nto = ["a@example.org"]\n[[email.recipients]]\naddress = "b@example.org"\n'
                   'audience = "boss"\n')
    done = cli("mail", "test", "--config", str(cfg))
    assert done.returncode == 3 and "audience" in done.stderr and "vendor or customer" in done.stderr


def test_cli_says_what_it_mailed_in_the_readers_language(cli, smtp_rig, tmp_path):
    srv = smtp_rig.start()
    cfg = cli_config(tmp_path, srv.port)
    done = cli("run", "--config", cfg, "--only", "disk.space", "--email", "--lang", "ru")
    assert "отчёт сохранён в" in done.stderr and "отправлен на support@vendor.example" in done.stderr
    assert len(srv.received) == 1
