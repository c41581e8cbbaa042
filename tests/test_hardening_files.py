"""Files written by a root-run diagnose: --output never follows a symlink
or replaces a FIFO, device node or directory (checked in a private mount
namespace, on a tmpfs of its own), keeps an existing file's owner and mode;
SIGTERM ends a run like SIGINT with its own exit code and nothing
half-written; the run lock cannot be used against the audits; no
traceback ever reaches the user."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from diagnose.guard import EXIT_SIGTERM, guarded
from tests.conftest import needs_root, run_cli
from tests.fuzzkit import facts_document, scenarios
from tests.rigs.hostile import drip_server  # noqa: F401  (fixture)
from tests.rigs.plugins import make_plugin_dir, plugin_env
from tests.rigs.unprivileged import NOBODY, unprivileged  # noqa: F401  (fixture)


@pytest.fixture
def facts(tmp_path):
    from diagnose.registry import Registry

    check, _, sc = next(s for s in scenarios() if s[0] == "disk.space")
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(facts_document(check, sc, Registry.discover())))
    return str(path)


NAMESPACE_SCRIPT = r"""
import json, os, subprocess, sys
base, facts = sys.argv[1], sys.argv[2]
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "dg-output", base], check=True)
victim = os.path.join(base, "victim.txt")
with open(victim, "w") as fh:
    fh.write("precious\n")
targets = {"symlink": os.path.join(base, "report.html"), "fifo": os.path.join(base, "fifo"),
           "device": os.path.join(base, "null"), "directory": os.path.join(base, "dir")}
os.symlink(victim, targets["symlink"])
os.mkfifo(targets["fifo"])
os.mknod(targets["device"], 0o666 | 0o020000, os.makedev(1, 3))
os.mkdir(targets["directory"])
out = {}
for kind, path in targets.items():
    done = subprocess.run([sys.executable, "-m", "diagnose", "run", "--from-facts", facts, "--format",
                           "json", "--output", path], capture_output=True, text=True, timeout=60)
    st = os.lstat(path)
    out[kind] = {"rc": done.returncode, "stderr": done.stderr, "stdout": done.stdout, "mode": st.st_mode,
                 "left": sorted(os.listdir(base))}
out["victim"] = open(victim).read()
print(json.dumps(out))
"""


@needs_root
def test_output_refuses_symlink_fifo_device_and_directory_in_a_private_namespace(tmp_path, facts):
    import stat

    base = tmp_path / "ns"
    base.mkdir()
    script = tmp_path / "ns.py"
    script.write_text(NAMESPACE_SCRIPT)
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable, str(script),
                           str(base), facts], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["victim"] == "precious\n"  # the symlink's target was not written through
    words = {"symlink": "is a symbolic link (to ", "fifo": "is a FIFO (named pipe), not a regular file",
             "device": "is a character device, not a regular file", "directory": "is a directory"}
    kinds = {"symlink": stat.S_ISLNK, "fifo": stat.S_ISFIFO, "device": stat.S_ISCHR, "directory": stat.S_ISDIR}
    for kind, r in got.items():
        if kind == "victim":
            continue
        assert r["rc"] == 3, (kind, r["stderr"])
        assert words[kind] in r["stderr"] and "writing it to standard output instead" in r["stderr"]
        assert "Traceback" not in r["stderr"]
        assert json.loads(r["stdout"])["schema"] == "diagnose.report/1"  # the report is not lost
        assert kinds[kind](r["mode"]), kind  # still what it was
        assert not [n for n in r["left"] if n.endswith(".tmp")]
    assert not os.path.ismount(base)  # the tmpfs lived in the private namespace only


@needs_root
def test_output_keeps_an_existing_files_owner_and_mode(tmp_path, facts):
    out = tmp_path / "report.json"
    out.write_text("old\n")
    os.chown(out, NOBODY, NOBODY)
    os.chmod(out, 0o640)
    done = run_cli("run", "--from-facts", facts, "--format", "json", "--output", str(out))
    assert done.returncode in (0, 1, 2), done.stderr
    st = os.stat(out)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (NOBODY, NOBODY, 0o640)
    assert json.loads(out.read_text())["schema"] == "diagnose.report/1"
    assert sorted(os.listdir(tmp_path)) == ["facts.json", "report.json"]


def _wait_for(pred, timeout=30.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_sigterm_mid_run_ends_like_sigint_with_its_own_code_and_nothing_written(tmp_path):
    from diagnose.delivery.lock import run_lock

    env = plugin_env(make_plugin_dir(tmp_path))
    lock, out, facts = tmp_path / "run.lock", tmp_path / "report.txt", tmp_path / "facts.json"
    proc = subprocess.Popen([sys.executable, "-m", "diagnose", "run", "--only", "demo.hangs", "--timeout", "120",
                             "--output", str(out), "--save-facts", str(facts), "--lock", str(lock)],
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=tmp_path)
    try:
        # mid-run: the lock holds its pid and the probe is hanging
        assert _wait_for(lambda: lock.exists() and lock.read_text().strip() == str(proc.pid))
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == EXIT_SIGTERM == 143
    assert stderr.strip() == ("diagnose: terminated (SIGTERM); the run stopped, nothing half-written was "
                              "left behind")
    assert stdout == "" and not out.exists() and not facts.exists()
    assert sorted(os.listdir(tmp_path)) == ["run.lock", "site"]  # no temporary file either
    with run_lock(str(lock)):  # released
        pass


@needs_root
def test_sigterm_during_mail_delivery_leaves_whole_files_only(tmp_path, drip_server):
    reports = tmp_path / "reports"
    cfg = tmp_path / "site.toml"
    cfg.write_text(f'[disk]\nmounts = ["{tmp_path}"]\n[email]\nto = ["a@example.com"]\nsmtp_host = "127.0.0.1"\n'
                   f'smtp_port = {drip_server.port}\nreports_dir = "{reports}"\ndeadline_s = 120\n')
    proc = subprocess.Popen([sys.executable, "-m", "diagnose", "run", "--config", str(cfg), "--only",
                             "disk.space", "--email", "--format", "json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert _wait_for(lambda: drip_server.connections == 1)  # saved, now talking to the server
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143 and "terminated (SIGTERM)" in stderr
    [saved] = os.listdir(reports)
    assert json.loads((reports / saved).read_text())["schema"] == "diagnose.report/1"


def test_guard_turns_any_exception_into_a_message_and_exit_3(capsys, monkeypatch):
    def bug():
        return {}["x"]

    assert guarded(bug) == 3
    err = capsys.readouterr().err
    assert err.startswith("diagnose: internal error: KeyError: 'x'. This is a bug in diagnose")
    assert "Traceback" not in err
    monkeypatch.setenv("DIAGNOSE_DEBUG", "1")
    assert guarded(bug) == 3 and "Traceback" in capsys.readouterr().err
    assert guarded(lambda: "not an int") == 3


# -- the run lock ------------------------------------------------------------------------

@needs_root
def test_lock_file_made_by_another_user_is_refused_naming_its_owner(unprivileged):
    shared = unprivileged.work / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # like /run/lock: anyone may create files, sticky
    lock = shared / "diagnose.lock"
    made = unprivileged.run("-c", f"open({str(lock)!r}, 'w').write('1\\n')")
    assert made.returncode == 0, made.stderr
    done = run_cli("run", "--only", "disk.space", "--lock", str(lock))
    assert done.returncode == 3 and "Traceback" not in done.stderr
    assert f"the lock file {lock} belongs to user nobody (uid 65534), not to root" in done.stderr


def test_lock_symlink_is_not_followed(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("precious\n")
    lock = tmp_path / "diagnose.lock"
    lock.symlink_to(target)
    done = run_cli("run", "--only", "disk.space", "--lock", str(lock))
    assert done.returncode == 3 and "is a symbolic link; not following it" in done.stderr
    assert target.read_text() == "precious\n"


@needs_root
def test_lock_held_by_another_users_run_names_them_and_the_skip_is_counted(unprivileged):
    lock = unprivileged.work / "diagnose.lock"
    lock.write_text("")
    holder = subprocess.Popen(unprivileged.argv("-c", (
        "import fcntl, sys, time\n"
        f"fd = open({str(lock)!r})\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(120)\n")), stdout=subprocess.PIPE, text=True, cwd=unprivileged.work)
    try:
        assert holder.stdout.readline().strip() == "held"
        pid = int(subprocess.run(["pgrep", "-u", str(NOBODY), "-n", "-f", str(lock)], capture_output=True,
                                 text=True).stdout.split()[0])
        lock.write_text(f"{pid}\n")
        done = run_cli("run", "--only", "disk.space", "--lock", str(lock))
        assert done.returncode == 4
        assert f"another diagnose run (pid {pid}, user nobody) holds the lock {lock}" in done.stderr
        assert "this run was skipped (not run, nothing checked)" in done.stderr
    finally:
        holder.kill()
        holder.wait()
    done = run_cli("run", "--only", "disk.space", "--lock", str(lock), "--format", "json")
    report = json.loads(done.stdout)
    [f] = [f for f in report["findings"] if f["check"] == "report.schedule"]
    assert f["status"] == "warn" and f["title"].startswith("1 scheduled run did not run since ")
    assert f["evidence"]["skipped"][0]["holder_user"] == "nobody"
    again = json.loads(run_cli("run", "--only", "disk.space", "--lock", str(lock), "--format", "json").stdout)
    assert not [f for f in again["findings"] if f["check"] == "report.schedule"]  # counted once


def test_scheduled_unit_does_not_count_a_skipped_run_as_success():
    from diagnose.delivery.schedule import systemd_units

    service = systemd_units(["/usr/bin/diagnose", "run"], (2, 0), None, "daily")["diagnose.service"]
    assert "SuccessExitStatus=1 2\n" in service
