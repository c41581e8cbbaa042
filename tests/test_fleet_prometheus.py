"""Prometheus at scale: the textfile output of real runs (a tmpfs that is fine,
then one filled with films), checked with promtool and its series fed to the
shipped rules with ``promtool test rules``; the Alertmanager example checked
with amtool. The site report's series are tested in test_fleet_floor.py (the
switch scenario), where a real floor produces them."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import needs_root, run_cli
from tests.rigs.disk import small_fs  # noqa: F401 - fixture
from tests.rigs.prom import ALERTMANAGER, RULES, need_promtool, promtool_test, samples

pytestmark = [needs_root, pytest.mark.root]

SCRAPE = {"instance": "cc-srv01:9100", "job": "node"}


def _run(fs, tmp_path, name: str) -> str:
    out = tmp_path / f"{name}.prom"
    cfg = tmp_path / f"{name}.toml"
    cfg.write_text(f'[site]\nname = "Sales office"\nrole = "server"\n[disk]\nmounts = ["{fs.mountpoint}"]\n'
                   '[headset]\nenabled = false\n[network]\nenabled = false\n')
    got = run_cli("run", "--config", str(cfg), "--format", "prometheus", "--output", str(out))
    assert got.returncode in (0, 2), got.stderr
    text = out.read_text()
    check = subprocess.run([need_promtool(), "check", "metrics"], input=text, capture_output=True, text=True,
                           timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr  # promtool's linter: names, HELP, TYPE
    return text


def test_a_healthy_run_exports_only_zeros_and_fires_nothing(small_fs, tmp_path):
    fs = small_fs()
    text = _run(fs, tmp_path, "healthy")
    got = {(n, tuple(sorted(lb.items()))): v for n, lb, v in samples(text)}
    statuses = {k: v for k, v in got.items()
                if k[0] in ("diagnose_status", "diagnose_check_status", "diagnose_finding_status")}
    assert statuses and all(v == 0 for v in statuses.values()), statuses
    skipped = {dict(k[1])["check"]: v for k, v in got.items() if k[0] == "diagnose_check_skipped"}
    assert skipped["disk.space"] == 0 and skipped["bluetooth.interference"] == 1  # skipped, yet status 0
    info = [dict(k[1]) for k in got if k[0] == "diagnose_info"][0]
    assert info["role"] == "server" and info["version"] and info["site"] == "Sales office"
    result = promtool_test(tmp_path, [samples(text, **SCRAPE)],
                           {a: [] for a in ("DiagnoseSiteFault", "DiagnoseSoftwareFault", "DiagnoseCheckError",
                                            "DiagnoseRunStale")}, eval_time="10m")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_full_disk_fires_the_site_fault_alert_with_the_site_and_host(small_fs, tmp_path):
    fs = small_fs()
    fs.fill("share/Movies/Holiday 2026.mkv", 8_100_000, "nobody")
    text = _run(fs, tmp_path, "full")
    findings = [(lb, v) for n, lb, v in samples(text) if n == "diagnose_finding_status"]
    assert [(lb["check"], lb["subject"], lb["status"], lb["fault"], lb["root"], v) for lb, v in findings] == \
           [("disk.space", fs.mountpoint, "fail", "site", "true", 2.0)]
    info = [lb for n, lb, _ in samples(text) if n == "diagnose_info"][0]
    inputs = [samples(text, **SCRAPE)]
    site_alert = {"exp_labels": dict(SCRAPE, site=info["site"], host=info["host"], severity="warning", fault="site"),
                  "exp_annotations": {
                      "summary": f"{info['host']}: 1 site fault(s) found by diagnose",
                      "description": "The customer's environment (power, cabling, peripherals, local changes, "
                                     f"foreign data); run `diagnose run` on {info['host']} for the remedy."}}
    result = promtool_test(tmp_path, inputs, {"DiagnoseSiteFault": [site_alert], "DiagnoseSoftwareFault": []},
                           eval_time="10m",
                           promql=[{"expr": 'diagnose:root_causes:by_site{fault="site"}', "eval_time": "1m",
                                    "exp_samples": [{"labels": f'diagnose:root_causes:by_site{{fault="site",'
                                                               f'site="{info["site"]}"}}', "value": 1}]}])
    assert result.returncode == 0, result.stdout + result.stderr


def test_shipped_rules_and_alertmanager_config_are_valid():
    got = subprocess.run([need_promtool(), "check", "rules", str(RULES)], capture_output=True, text=True,
                         timeout=60)
    assert got.returncode == 0 and "SUCCESS: 12 rules found" in got.stdout, got.stdout + got.stderr
    amtool = shutil.which("amtool")
    if not amtool:
        pytest.skip("amtool (Debian prometheus-alertmanager) not installed")
    got = subprocess.run([amtool, "check-config", str(ALERTMANAGER)], capture_output=True, text=True, timeout=60)
    assert got.returncode == 0 and "SUCCESS" in got.stdout, got.stdout + got.stderr
    assert " - 2 inhibit rules" in got.stdout
