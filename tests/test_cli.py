"""The command line as a user meets it: help with the exit codes, usage errors
that exit 3 (2 means "fail" here), and shell completion that knows the checks."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys

import pytest

from diagnose.registry import BUILTINS
from tests.conftest import ROOT, run_cli


def test_help_lists_the_commands_and_the_exit_codes():
    top = run_cli("--help")
    assert top.returncode == 0
    for name in ("run", "list", "init", "schedule", "completion"):
        assert f"\n  {name} " in top.stdout
    assert "exit codes" in top.stdout and "3  bad arguments or config" in top.stdout
    run = run_cli("run", "-h")
    assert run.returncode == 0
    assert "--only CHECK" in run.stdout and "--from-facts FILE" in run.stdout
    # examples keep their columns (click would re-wrap them)
    assert "\n  diagnose run --format nagios                  one line for Nagios/Icinga" in run.stdout
    assert "2  the worst result is a failure" in run.stdout


def test_no_command_shows_help_and_exits_3():
    proc = run_cli()
    assert proc.returncode == 3
    assert proc.stdout.startswith("Usage: diagnose [OPTIONS]") and "Commands:" in proc.stdout


@pytest.mark.parametrize("argv,message", [
    (["bogus"], "No such command 'bogus'"),
    (["run", "--formt", "json"], "No such option"),
    (["run", "--timeout", "soon"], "'soon' is not a valid float"),
    (["list", "--format", "yaml"], "invalid choice: 'yaml'"),
    (["completion", "tcsh"], "invalid choice: 'tcsh'"),
    (["completion"], "Missing argument"),
    (["schedule", "install", "--at", "02:00", "--every", "6h"], "--at and --every exclude each other"),
])
def test_usage_errors_exit_3_with_a_message_and_no_traceback(argv, message):
    proc = run_cli(*argv)
    assert proc.returncode == 3, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_version():
    from diagnose import __version__

    proc = run_cli("--version")
    assert (proc.returncode, proc.stdout) == (0, f"diagnose {__version__}\n")


def test_email_and_lock_take_an_optional_value(tmp_path):
    """`--email` alone means the [email] recipients; `--lock` alone the default
    lock file. Both without a value here: no recipients is a usage error that
    names the fix, reached only after the lock was taken at the given path."""
    cfg = tmp_path / "site.toml"
    cfg.write_text(f'[disk]\nmounts = ["{tmp_path}"]\n[email]\nreports_dir = "{tmp_path}/r"\n')
    lock = tmp_path / "run.lock"
    proc = run_cli("run", "--config", str(cfg), "--only", "disk.space", "--email", "--lock", str(lock))
    assert proc.returncode == 3 and "no recipients" in proc.stderr
    assert lock.exists()


def _diagnose_on_path(tmp_path) -> dict[str, str]:
    """A `diagnose` command on PATH that runs this checkout, as the completion
    script calls the command back by name."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "diagnose"
    exe.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m diagnose \"$@\"\n")
    exe.chmod(0o755)
    return {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}


BASH_COMPLETE = r"""
set -e
source <(diagnose completion bash)
complete -p diagnose
ask() {
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=()
    "$func" diagnose "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    printf '%s\n' "${COMPREPLY[*]}"
}
func=$(complete -p diagnose | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
ask diagnose run --only d
ask diagnose run --skip net
ask diagnose ru
ask diagnose run --format j
"""


def test_bash_completion_completes_check_names_for_only_and_skip(tmp_path):
    proc = subprocess.run(["bash", "-c", BASH_COMPLETE], capture_output=True, text=True,
                          env=_diagnose_on_path(tmp_path), cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("complete ") and lines[0].endswith(" diagnose")
    assert lines[1].split() == sorted(n for n in BUILTINS if n.startswith("d"))
    assert lines[1].split() == ["database.integrity", "disk.space"]
    assert lines[2].split() == ["network.connectivity"]
    assert lines[3].split() == ["run"]
    assert lines[4].split() == ["json", "junit"]


def test_plugin_check_names_complete_too(tmp_path):
    """A plugin's check is completed from its entry point's name, without
    importing it (its module need not even import cleanly)."""
    site = tmp_path / "site"
    dist = site / "demo_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[diagnose.checks]\ndemo.dial = demo_missing_module:Dial\n")
    env = _diagnose_on_path(tmp_path)
    env["PYTHONPATH"] = f"{env['PYTHONPATH']}{os.pathsep}{site}"
    env.update(_DIAGNOSE_COMPLETE="bash_complete", COMP_WORDS="diagnose run --only de", COMP_CWORD="3")
    proc = subprocess.run(["diagnose"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["plain,demo.dial"]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts(shell, tmp_path):
    proc = run_cli("completion", shell)
    assert proc.returncode == 0, proc.stderr
    assert "_DIAGNOSE_COMPLETE" in proc.stdout
    if shell == "zsh":
        assert proc.stdout.startswith("#compdef diagnose")
    exe = shutil.which(shell)
    if exe is None:
        pytest.skip(f"{shell} is not installed: only the script's text was checked")
    script = tmp_path / f"diagnose.{shell}"
    script.write_text(proc.stdout)
    check = subprocess.run([exe, "-n", str(script)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr


def test_fish_completes_check_names(tmp_path):
    exe = shutil.which("fish")
    if exe is None:
        pytest.skip("fish is not installed")
    script = tmp_path / "diagnose.fish"
    script.write_text(run_cli("completion", "fish").stdout)
    proc = subprocess.run([exe, "-c", f"source {script}; complete -C 'diagnose run --skip di'"],
                          capture_output=True, text=True, env=_diagnose_on_path(tmp_path), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert [ln.split("\t")[0] for ln in proc.stdout.splitlines()] == ["disk.space"]


def test_list_json_still_parses():
    proc = run_cli("list", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert {c["name"] for c in json.loads(proc.stdout)["checks"]} >= set(BUILTINS)


def test_docs_shows_the_readme_reference_and_the_page_of_a_check():
    from diagnose.docgen import check_block
    from diagnose.registry import Registry

    disk = Registry.discover().checks["disk.space"]
    proc = run_cli("docs", "disk.space")
    assert proc.returncode == 0, proc.stderr
    # the same generated reference as the README's, then the check's own page
    assert proc.stdout.startswith("\n".join(check_block(disk, link=False)))
    assert "| `fail_free_percent` | number |" in proc.stdout
    assert (ROOT / "docs" / "checks" / "disk.space.md").read_text() in proc.stdout
    listing = run_cli("docs")
    assert listing.returncode == 0
    assert [ln.split(None, 1) for ln in listing.stdout.splitlines() if ln.startswith("disk.space ")] == \
        [["disk.space", disk.summary]]
    wrong = run_cli("docs", "disk.spaec")
    assert wrong.returncode == 3 and "did you mean 'disk.space'" in wrong.stderr
