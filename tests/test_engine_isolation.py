"""The runner isolates every check: a probe that raises, a probe that hangs
past its timeout and a judge that raises each become an `error` result, the
run completes, the other checks are reported, and the exit code is 3."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import run_cli
from tests.rigs.plugins import make_plugin_dir, plugin_env


@pytest.fixture
def plugins(tmp_path):
    site = make_plugin_dir(tmp_path)
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "demo-state").write_text("broken\n")
    return plugin_env(site), root


def _run(plugins, *extra):
    env, root = plugins
    only = [a for n in ("demo.good", "demo.raises", "demo.hangs", "demo.badjudge",
                        "demo.needstool", "demo.missing") for a in ("--only", n)]
    return run_cli("run", "--root", str(root), "--format", "json", *only, *extra, env=env)


def test_broken_checks_become_errors_and_the_run_goes_on(plugins):
    t0 = time.monotonic()
    proc = _run(plugins)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 3, proc.stderr
    report = json.loads(proc.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["demo.raises"]["status"] == "error"
    assert "probe raised RuntimeError: probe exploded" in checks["demo.raises"]["error"]
    assert checks["demo.hangs"]["status"] == "error"
    assert "timed out after 1s" in checks["demo.hangs"]["error"]
    assert checks["demo.badjudge"]["status"] == "error"
    assert "judge raised KeyError" in checks["demo.badjudge"]["error"]
    assert checks["demo.missing"]["status"] == "error"
    assert "No module named 'dg_demo_plugins_gone'" in checks["demo.missing"]["error"]
    # The healthy check was still probed and judged, from the recorded root.
    assert checks["demo.good"]["status"] == "fail"
    (finding,) = [f for f in report["findings"] if f["check"] == "demo.good"]
    assert finding["title"] == "Demo state is broken"
    assert finding["fault"] == "site"
    assert finding["evidence"] == {"state": "broken"}
    # The runner, not the check, decided the skip, and said why.
    assert checks["demo.needstool"]["status"] == "skip"
    assert "no-such-program-xyz" in checks["demo.needstool"]["skipped"]
    assert report["verdict"]["status"] == "error"
    assert report["verdict"]["headline"] == "1 site fault, no software faults; 4 checks could not run"
    # A probe sleeping for an hour did not hold the run (guard against a hang, not a benchmark).
    assert elapsed < 30


def test_text_report_names_the_broken_checks(plugins):
    proc = _run(plugins, "--format", "text")
    assert proc.returncode == 3
    out = proc.stdout
    assert "Checks that could not run:" in out
    for name in ("demo.raises", "demo.hangs", "demo.badjudge", "demo.missing"):
        assert f"[?] {name}" in out
    assert "[✗] Demo state is broken\n    demo.good:demo, Site fault\n" in out
    assert "Fix: echo fine > /etc/demo-state" in out


def test_only_good_check_exit_code_follows_worst_status(plugins, tmp_path):
    env, root = plugins
    proc = run_cli("run", "--root", str(root), "--only", "demo.good", "--format", "json", env=env)
    assert proc.returncode == 2
    (root / "etc" / "demo-state").write_text("fine\n")
    proc = run_cli("run", "--root", str(root), "--only", "demo.good", "--format", "json", env=env)
    assert proc.returncode == 0
    report = json.loads(proc.stdout)
    assert report["verdict"]["headline"] == "All checks passed: no site faults, no software faults"
    assert report["findings"][0]["fault"] is None


def test_save_facts_then_from_facts_gives_identical_findings(plugins, tmp_path):
    env, root = plugins
    facts = tmp_path / "facts.json"
    first = _run(plugins, "--save-facts", str(facts))
    saved = json.loads(facts.read_text())
    assert saved["schema"] == "diagnose.facts/1"
    assert saved["checks"]["demo.good"]["facts"] == {"state": "broken"}
    assert saved["config_digest"].startswith("sha256:")
    # Change the system: a re-judge must not look at it.
    (root / "etc" / "demo-state").write_text("fine\n")
    again = run_cli("run", "--from-facts", str(facts), "--format", "json", env=env)
    a, b = json.loads(first.stdout), json.loads(again.stdout)
    assert a["findings"] == b["findings"]
    assert [(c["name"], c["status"], c["error"], c["skipped"]) for c in a["checks"]] == \
           [(c["name"], c["status"], c["error"], c["skipped"]) for c in b["checks"]]
    assert again.returncode == first.returncode == 3


def test_unknown_check_name_is_a_usage_error_with_a_hint(plugins):
    env, root = plugins
    proc = run_cli("run", "--only", "demo.goood", env=env)
    assert proc.returncode == 3
    assert "no check named 'demo.goood'; did you mean 'demo.good'?" in proc.stderr
    assert "Traceback" not in proc.stderr
