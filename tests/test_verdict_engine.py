"""Verdicts that must not say more than was checked (issue 17, classes 10, 11
and 16), through the real CLI: nothing checked is UNKNOWN, --only runs the
check it names whatever the role, init pins the role it detected, the report
names its config file, and a schedule points at the config the user has."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import needs_root, run_cli
from tests.rigs.smtp import smtp_rig  # noqa: F401  (fixture)

NO_NETWORK = "[network]\nenabled = false\n[bluetooth]\nenabled = false\n"


def write(tmp_path, text: str, name: str = "site.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("why", ["not configured", "disabled"])
def test_nothing_checked_is_unknown_not_all_clear(tmp_path, why):
    if why == "not configured":  # --only a check whose section is absent
        cfg = write(tmp_path, NO_NETWORK)
        args = ["--only", "gateway.power"]
    else:  # every check asked for is switched off
        cfg = write(tmp_path, NO_NETWORK + "[disk]\nenabled = false\n")
        args = ["--only", "disk.space", "--only", "network.connectivity"]
    done = run_cli("run", "--config", cfg, *args, "--format", "json")
    report = json.loads(done.stdout)
    assert done.returncode == 3, done.stderr
    assert report["verdict"]["status"] == "skip"
    assert report["verdict"]["headline"].startswith("Nothing was checked")
    assert all(c["status"] == "skip" for c in report["checks"])
    nagios = run_cli("run", "--config", cfg, *args, "--format", "nagios")
    assert nagios.returncode == 3 and nagios.stdout.startswith("DIAGNOSE UNKNOWN - Nothing was checked")
    text = run_cli("run", "--config", cfg, *args)
    assert "All checks passed" not in text.stdout and "Nothing was checked" in text.stdout


def test_one_check_that_ran_makes_a_healthy_verdict_ok(tmp_path):
    cfg = write(tmp_path, NO_NETWORK + f'[site]\nrole = "server"\n[disk]\nmounts = ["{tmp_path}"]\n'
                                       "fail_free_percent = 0\nwarn_free_percent = 0\n"
                                       "fail_free_inodes_percent = 0\nwarn_free_inodes_percent = 0\n")
    done = run_cli("run", "--config", cfg, "--format", "json")
    report = json.loads(done.stdout)
    assert report["verdict"]["status"] in ("ok", "warn", "fail") and report["verdict"]["status"] != "skip"
    assert report["config_file"] == cfg


@pytest.mark.parametrize("role,check", [("workstation", "disk.space"), ("server", "audio.settings")])
def test_only_runs_the_named_check_whatever_the_role(tmp_path, role, check):
    cfg = write(tmp_path, NO_NETWORK + f'[site]\nrole = "{role}"\n[disk]\nmounts = ["{tmp_path}"]\n')
    listed = run_cli("run", "--config", cfg, "--format", "json")
    skipped = {c["name"]: c["skipped"] for c in json.loads(listed.stdout)["checks"] if c["status"] == "skip"}
    assert f"this host's role is {role}" in skipped[check]  # not asked for: the role decides
    done = run_cli("run", "--config", cfg, "--only", check, "--format", "json")
    [result] = json.loads(done.stdout)["checks"]
    assert result["name"] == check
    assert "role" not in (result["skipped"] or ""), result


def test_the_report_names_its_config_file(tmp_path):
    cfg = write(tmp_path, NO_NETWORK + f'[disk]\nmounts = ["{tmp_path}"]\n')
    text = run_cli("run", "--config", cfg, "--only", "disk.space")
    assert f"config: {cfg}" in text.stdout
    facts = tmp_path / "facts.json"
    run_cli("run", "--config", cfg, "--only", "disk.space", "--save-facts", str(facts))
    again = run_cli("run", "--from-facts", str(facts), "--format", "json")
    assert json.loads(again.stdout)["config_file"] == cfg  # the site's file, named at the office
    bare = run_cli("run", "--only", "gateway.power", env={"DIAGNOSE_CONFIG": ""})
    assert "config: none found, built-in defaults" in bare.stdout


def test_init_on_a_server_writes_the_role_it_detected(tmp_path):
    out = tmp_path / "site.toml"
    done = run_cli("init", "--output", str(out))
    assert done.returncode == 0, done.stderr
    has_cards = os.path.exists("/proc/asound/cards") and "no soundcards" not in open("/proc/asound/cards").read()
    role = "workstation" if has_cards else "server"
    assert f'\nrole = "{role}"' in out.read_text()
    listing = run_cli("list", "--config", str(out))
    assert listing.returncode == 0, listing.stderr
    # the starter file's uncommented workstation sections ([headset]) do not change the role
    assert "\n[headset]" in out.read_text()
    done = run_cli("run", "--config", str(out), "--only", "disk.space", "--format", "json")
    assert json.loads(done.stdout)["role"] == role


# -- class 16: a schedule that runs ----------------------------------------------------------

def _in_private_etc(tmp_path, script: str) -> subprocess.CompletedProcess:
    """Run *script* where /etc/cron.d, /etc/systemd/system and all of /run (the
    run lock lives in /run/diagnose) are empty tmpfs of a private mount
    namespace: the real ones are never touched. /run/systemd/system is made
    again inside when the host has it, so the choice of cron or systemd stays."""
    wrapped = ("mount -t tmpfs dgcron /etc/cron.d 2>/dev/null || { mkdir -p /etc/cron.d && "
               "mount -t tmpfs dgcron /etc/cron.d; } && "
               "if [ -d /run/systemd/system ]; then SD=1; else SD=; fi && mount -t tmpfs dgrun /run && "
               "mkdir -p /run/lock && if [ -n \"$SD\" ]; then mkdir -p /run/systemd/system; fi && " + script)
    env = dict(os.environ, PYTHONPATH=os.environ.get("PYTHONPATH", ""))
    env.pop("DIAGNOSE_CONFIG", None)
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-ec", wrapped],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)


@needs_root
def test_schedule_install_uses_the_config_init_wrote_and_schedule_test_runs_it(tmp_path, smtp_rig):
    if not shutil.which("unshare"):
        pytest.skip("needs unshare (util-linux)")
    srv = smtp_rig.start()
    cfg = tmp_path / "diagnose.toml"
    cfg.write_text(NO_NETWORK + f'[site]\nrole = "server"\nstate_dir = "{tmp_path / "state"}"\n[disk]\nmounts = ["{tmp_path}"]\n[email]\n'
                   f'to = ["it@customer.example"]\nsmtp_host = "127.0.0.1"\nsmtp_port = {srv.port}\n'
                   f'reports_dir = "{tmp_path / "reports"}"\n')
    py = sys.executable
    done = _in_private_etc(tmp_path, f"{py} -m diagnose schedule install && cat /etc/cron.d/diagnose && "
                                     f"{py} -m diagnose schedule test")
    assert done.returncode == 0, done.stderr
    assert f"--config {cfg}" in done.stdout  # ./diagnose.toml by its absolute path
    assert "/etc/diagnose/site.toml" not in done.stdout.split("ran:")[0].split("PATH=")[-1]
    assert "ran: " in done.stdout and "exit code " in done.stdout
    code = int(done.stdout.split("exit code ")[1].split()[0])
    assert code in (0, 1, 2), done.stdout
    assert [r.rcpt_tos for r in srv.received] == [["it@customer.example"]]  # it really mailed
    assert list((tmp_path / "reports").glob("report-*.json"))  # and saved the report


@needs_root
@pytest.mark.parametrize("given", [None, "missing.toml"])
def test_schedule_install_refuses_without_a_config_and_says_how(tmp_path, given):
    if not shutil.which("unshare"):
        pytest.skip("needs unshare (util-linux)")
    if os.path.exists("/etc/diagnose/site.toml"):
        pytest.skip("this machine has /etc/diagnose/site.toml")
    arg = f" --config {given}" if given else ""
    done = _in_private_etc(tmp_path, f"{sys.executable} -m diagnose schedule install --email a@b.example{arg} "
                                     "|| echo rc=$?; ls /etc/cron.d")
    assert "rc=3" in done.stdout, done.stdout + done.stderr
    assert "diagnose init --output" in done.stderr
    assert "diagnose" not in done.stdout.split("rc=3")[1]  # nothing was installed


def test_schedule_test_calls_a_crashing_installed_command_a_failure(tmp_path):
    """A scheduled script whose module is gone (an install removed or moved
    under it) dies with a traceback and exit 1, the code of 'warnings found':
    `schedule test` must say it crashed and exit 3, not report all well."""
    cron = tmp_path / "etc" / "cron.d"
    cron.mkdir(parents=True)
    crash = f"{sys.executable} -c 'import diagnose_module_that_is_gone'"
    (cron / "diagnose").write_text("SHELL=/bin/sh\nPATH=/usr/bin:/bin\n"
                                   f"0 2 * * * root {crash} >/dev/null\n")
    done = subprocess.run([sys.executable, "-m", "diagnose", "schedule", "test", "--root", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "exit code 1 (the command crashed, see stderr)" in done.stdout
    assert "ModuleNotFoundError" in done.stdout
    assert "warnings found" not in done.stdout
