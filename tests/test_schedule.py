"""Scheduled runs: the run lock, and `schedule install/show/remove` into a
temporary root (cron.d where systemd does not run, a verified systemd
timer where it does), down to running the installed cron command."""

from __future__ import annotations

import json
import os
import pwd
import shlex
import shutil
import stat
import subprocess

import pytest

from diagnose.delivery import schedule
from diagnose.delivery.lock import EXIT_LOCKED, LockHeld, run_lock
from tests.rigs.smtp import smtp_rig  # noqa: F401  (fixture)
from tests.test_mail import cli_config


def test_second_holder_of_the_lock_is_refused_with_the_holders_pid(tmp_path):
    path = str(tmp_path / "run" / "diagnose.lock")
    with run_lock(path):
        with pytest.raises(LockHeld) as refused:
            with run_lock(path):
                pass
        assert refused.value.pid == os.getpid()
        assert f"pid {os.getpid()}" in str(refused.value)
    with run_lock(path):  # released on exit: the next run gets it
        pass


def test_stale_lock_file_of_a_dead_run_does_not_block(tmp_path):
    path = tmp_path / "diagnose.lock"
    path.write_text("999999\n")  # a run that died: file left, no flock held
    with run_lock(str(path)):
        assert path.read_text() == f"{os.getpid()}\n"


def test_overlapping_cli_run_reports_the_lock_and_runs_nothing(cli, smtp_rig, tmp_path):
    srv = smtp_rig.start()
    cfg = cli_config(tmp_path, srv.port)
    lock = str(tmp_path / "diagnose.lock")
    args = ("run", "--config", cfg, "--only", "disk.space", "--email", "--lock", lock, "--format", "json")
    with run_lock(lock):  # a first run still going
        done = cli(*args)
    assert done.returncode == EXIT_LOCKED == 4
    me = pwd.getpwuid(os.geteuid()).pw_name
    assert f"another diagnose run (pid {os.getpid()}, user {me}) holds the lock {lock}" in done.stderr
    assert done.stdout == "" and srv.received == []
    assert not (tmp_path / "reports").exists()  # no checks ran, nothing saved

    done = cli(*args)  # the first run has finished
    assert done.returncode in (0, 1, 2), done.stderr
    assert json.loads(done.stdout)["findings"] and len(srv.received) == 1


# --- cron ---------------------------------------------------------------------

def cron_entry(text: str) -> tuple[list[str], str, list[str]]:
    [line] = [ln for ln in text.splitlines() if ln and not ln.startswith("#") and "=" not in ln.split()[0]]
    fields = line.split(None, 6)
    return fields[:5], fields[5], shlex.split(fields[6])


def test_cron_install_writes_a_valid_entry_that_runs(cli, smtp_rig, tmp_path):
    srv = smtp_rig.start()
    cfg = cli_config(tmp_path, srv.port)
    root = tmp_path / "root"
    lock = str(tmp_path / "cron.lock")
    done = schedule.install(str(root), at="02:30", emails=["it@customer.example"], config=cfg, lock=lock)
    assert done.kind == "cron" and done.when == "daily at 02:30"
    path = root / "etc/cron.d/diagnose"
    text = path.read_text()
    schedule.validate_cron(text)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # cron skips group/world-writable files
    assert "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" in text.splitlines()
    times, user, argv = cron_entry(text)
    assert times == ["30", "2", "*", "*", "*"] and user == "root"
    assert os.path.isabs(argv[0]) and os.access(argv[0], os.X_OK)
    assert argv[argv.index("--config") + 1] == cfg
    assert argv[argv.index("--lock") + 1] == lock
    assert argv[argv.index("--email") + 1] == "it@customer.example"
    assert argv[-1] == ">/dev/null"

    # run the installed command as cron would: sh, the file's PATH, cwd /
    # (plus PYTHONPATH, so that the console script runs this checkout's code)
    command = text.splitlines()[-1].split(None, 6)[6]
    run = subprocess.run(["/bin/sh", "-c", command.replace(" >/dev/null", " --only disk.space >/dev/null")],
                         env={"PATH": schedule.CRON_PATH, "HOME": "/root",
                              "PYTHONPATH": os.environ["PYTHONPATH"]}, cwd="/",
                         capture_output=True, text=True, timeout=120)
    assert run.returncode in (0, 1, 2), run.stderr
    [got] = srv.received
    assert got.rcpt_tos == ["it@customer.example"]


@pytest.mark.parametrize("every,times", [("15m", "*/15 * * * *"), ("6h", "0 */6 * * *"),
                                         ("1d", "0 0 * * *")])
def test_cron_every(tmp_path, every, times):
    schedule.install(str(tmp_path), every=every, emails=["a@b.example"])
    assert " ".join(cron_entry((tmp_path / "etc/cron.d/diagnose").read_text())[0]) == times


@pytest.mark.parametrize("kwargs,message", [
    ({"every": "45m"}, "cron cannot repeat every 45 minutes evenly"),
    ({"every": "2m"}, "closer than 5 minutes"),
    ({"at": "25:00"}, "expected HH:MM"),
    ({"at": "02:00", "every": "6h"}, "not both"),
    ({"emails": ["a b@x"]}, "cannot go into a scheduled command"),
    ({"emails": []}, "no one to mail the report to"),
])
def test_install_refuses_what_it_cannot_schedule(tmp_path, kwargs, message):
    kwargs = {"emails": ["a@b.example"], **kwargs}
    with pytest.raises(schedule.ScheduleError, match=message):
        schedule.install(str(tmp_path), **kwargs)
    assert not (tmp_path / "etc").exists()


@pytest.mark.parametrize("text,message", [
    ("0 2 * * * root /bin/true", "newline"),
    ("61 2 * * * root /bin/true\n", "bad time field '61'"),
    ("0 2 * * root /bin/true\n", "not a user name|5 time fields"),
    ("0 2 * * * root diagnose run\n", "absolute path"),
    ("*/0 * * * * root /bin/true\n", "bad time field"),
])
def test_cron_validation_rejects_bad_lines(text, message):
    with pytest.raises(schedule.ScheduleError, match=message):
        schedule.validate_cron(text)


def test_recipients_may_come_from_the_config(tmp_path):
    cfg = tmp_path / "root/etc/diagnose/site.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('[email]\nto = ["support@vendor.example"]\n')
    done = schedule.install(str(tmp_path / "root"), config="/etc/diagnose/site.toml")
    assert done.notes == []
    _, _, argv = cron_entry((tmp_path / "root/etc/cron.d/diagnose").read_text())
    assert "--email" in argv and argv[argv.index("--email") + 1] == "--lock"


# --- systemd -------------------------------------------------------------------

@pytest.fixture
def systemd_root(tmp_path):
    root = tmp_path / "root"
    (root / "run/systemd/system").mkdir(parents=True)  # what sd_booted() looks for
    return root


needs_systemd_tools = pytest.mark.skipif(
    not (shutil.which("systemd-analyze") and shutil.which("systemctl")), reason="needs systemd tools")


@needs_systemd_tools
def test_systemd_timer_installed_verified_enabled_and_removed(systemd_root):
    done = schedule.install(str(systemd_root), at="02:30", emails=["a@b.example"])
    assert done.kind == "systemd" and done.notes[0].endswith("will use built-in defaults")
    units = systemd_root / "etc/systemd/system"
    service, timer = units / "diagnose.service", units / "diagnose.timer"
    verify = subprocess.run(["systemd-analyze", "verify", "--man=no", str(timer), str(service)],
                            capture_output=True, text=True)
    assert verify.returncode == 0 and verify.stderr == "", verify.stderr
    assert "OnCalendar=*-*-* 02:30:00" in timer.read_text().splitlines()
    cal = subprocess.run(["systemd-analyze", "calendar", "*-*-* 02:30:00"], capture_output=True, text=True)
    assert cal.returncode == 0 and "Next elapse" in cal.stdout
    exec_start = next(ln for ln in service.read_text().splitlines() if ln.startswith("ExecStart="))
    argv = exec_start.split("=", 1)[1].split()
    assert os.access(argv[0], os.X_OK) and "--lock" in argv and "--email" in argv
    wants = units / "timers.target.wants/diagnose.timer"
    assert wants.is_symlink() and os.readlink(wants) == "/etc/systemd/system/diagnose.timer"
    assert not (systemd_root / "etc/cron.d/diagnose").exists()

    shown = schedule.show(str(systemd_root))
    assert str(timer) in shown and "OnCalendar=*-*-* 02:30:00" in shown
    removed = schedule.remove(str(systemd_root))
    assert sorted(removed) == sorted([str(timer), str(service)])
    assert not wants.is_symlink() and not timer.exists()
    assert "no diagnose schedule is installed" in schedule.show(str(systemd_root))


@needs_systemd_tools
def test_systemd_every_uses_monotonic_timers(systemd_root):
    schedule.install(str(systemd_root), every="45m", emails=["a@b.example"])  # fine for systemd
    timer = (systemd_root / "etc/systemd/system/diagnose.timer").read_text().splitlines()
    assert "OnBootSec=45min" in timer and "OnUnitActiveSec=45min" in timer


@needs_systemd_tools
def test_unit_validation_catches_a_bad_setting():
    units = schedule.systemd_units(["/bin/true"], (2, 0), None, "daily")
    units["diagnose.timer"] = units["diagnose.timer"].replace("OnCalendar=*-*-* 02:00:00",
                                                              "OnCalendar=*-*-* 25:00:00")
    with pytest.raises(schedule.ScheduleError, match="calendar|OnCalendar"):
        schedule.validate_units(units)


def test_cli_schedule_install_show_remove(cli, tmp_path):
    root = str(tmp_path)
    done = cli("schedule", "install", "--root", root, "--every", "6h", "--email", "a@b.example")
    assert done.returncode == 0 and "installed cron schedule, every 6h" in done.stdout
    shown = cli("schedule", "show", "--root", root)
    assert "0 */6 * * * root " in shown.stdout
    bad = cli("schedule", "install", "--root", root, "--at", "7pm", "--email", "a@b.example")
    assert bad.returncode == 3 and "expected HH:MM" in bad.stderr
    gone = cli("schedule", "remove", "--root", root)
    assert gone.returncode == 0 and "etc/cron.d/diagnose" in gone.stdout
    assert not (tmp_path / "etc/cron.d/diagnose").exists()


def test_unusable_lock_path_is_a_usage_error_not_a_traceback(cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = cli("run", "--only", "disk.space", "--lock", str(blocker / "diagnose.lock"))
    assert done.returncode == 3
    assert done.stderr.startswith("diagnose: cannot open the lock file") and "Traceback" not in done.stderr
