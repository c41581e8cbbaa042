"""Prometheus and Alertmanager as the tests use them: ``promtool test rules``
on series taken from real ``diagnose`` textfile output (as if scraped by
node_exporter: ``instance`` and ``job`` added), and a real Alertmanager
(Debian ``prometheus-alertmanager``) on loopback to see inhibition happen."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
RULES = ROOT / "contrib" / "prometheus" / "diagnose.rules.yml"
ALERTMANAGER = ROOT / "contrib" / "prometheus" / "alertmanager.yml"


def need_promtool() -> str:
    exe = shutil.which("promtool")
    if not exe:
        pytest.skip("needs promtool (Debian prometheus)")
    return exe


def samples(text: str, **extra: str) -> list[tuple[str, dict[str, str], float]]:
    from prometheus_client.parser import text_string_to_metric_families

    out = []
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.append((s.name, dict(s.labels, **extra), float(s.value)))
    return out


def _series(name: str, labels: dict[str, str]) -> str:
    def q(v: str) -> str:
        return json.dumps(v)  # PromQL string literal escaping is JSON's for these values
    return name + "{" + ",".join(f"{k}={q(v)}" for k, v in sorted(labels.items())) + "}"


def promtool_test(folder: Path, inputs: list[list[tuple[str, dict[str, str], float]]],
                  alerts: dict[str, list[dict[str, str]]], eval_time: str = "15m",
                  promql: list[dict[str, Any]] | None = None) -> subprocess.CompletedProcess:
    """Write a promtool unit test: every sample constant for 30 minutes, the
    expected alerts (alertname -> label sets, or ``{exp_labels,
    exp_annotations}``) at *eval_time*; run it."""
    series = []
    for group in inputs:
        for name, labels, value in group:
            series.append({"series": _series(name, labels), "values": f"{value!r}+0x30"})
    test = {"rule_files": [str(RULES)], "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": series,
                       "alert_rule_test": [{"eval_time": eval_time, "alertname": name,
                                            "exp_alerts": [e if "exp_labels" in e else {"exp_labels": e}
                                                           for e in exp]}
                                           for name, exp in alerts.items()],
                       "promql_expr_test": promql or []}]}
    path = folder / "diagnose.test.yml"
    path.write_text(json.dumps(test, indent=1))
    return subprocess.run([need_promtool(), "test", "rules", str(path)], capture_output=True, text=True,
                          timeout=120)


class Alertmanager:
    def __init__(self, folder: Path, port: int) -> None:
        exe = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
        if not exe:
            pytest.skip("needs Debian prometheus-alertmanager")
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(folder / "alertmanager.log", "wb")
        self.proc = subprocess.Popen([exe, f"--config.file={ALERTMANAGER}", f"--storage.path={folder / 'am'}",
                                      f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
                                      "--log.level=warn"], stdout=self.log, stderr=self.log)
        end = time.monotonic() + 20
        while time.monotonic() < end:
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError((folder / "alertmanager.log").read_text()[-2000:])

    def post(self, alerts: list[dict[str, Any]]) -> None:
        req = urllib.request.Request(self.url + "/api/v2/alerts", data=json.dumps(alerts).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200

    def alerts(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(self.url + "/api/v2/alerts", timeout=10) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()
