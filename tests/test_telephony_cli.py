"""telephony.card through the real CLI: recorded DAHDI trees read with
``--root``, live values from an ``asterisk`` on PATH that prints recorded
``dahdi show channel`` answers, ``--save-facts``/``--from-facts``, skipping
where there is no DAHDI, and hostile strings in the HTML report."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.telephony_trees import HERE, SCENARIOS, build_tree, fake_asterisk, probe_scenario

EXIT = {"ok": 0, "warn": 1, "fail": 2}


def run_tree(tmp_path: Path, tree: str, *args: str, env: dict | None = None):
    root = build_tree(tree, tmp_path / "root")
    proc = run_cli("run", "--root", str(root), "--only", "telephony.card", *args, env=env)
    return root, proc


@pytest.mark.parametrize("name", [n for n, sc in SCENARIOS.items() if not sc["answers"]])
def test_recorded_tree_through_the_cli(tmp_path, name):
    sc = SCENARIOS[name]
    _, proc = run_tree(tmp_path, sc["tree"], "--format", "json")
    report = json.loads(proc.stdout)
    by_subject = {f["subject"]: f for f in report["findings"]}
    worst = max((e["status"] for e in sc["expect"]), key=lambda s: EXIT[s])
    assert proc.returncode == EXIT[worst], proc.stderr
    for exp in sc["expect"]:
        f = by_subject[exp["subject"]]
        assert f["status"] == exp["status"]
        if "fault" in exp:
            assert f["fault"] == exp["fault"]
        if "title_contains" in exp:
            assert exp["title_contains"] in f["title"]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_recorded_facts_are_what_the_probe_reads_now(tmp_path, name):
    recorded = json.loads((HERE / f"{name}.json").read_text())["facts"]
    assert probe_scenario(name, tmp_path) == recorded, \
        "recorded facts are stale: run `python3 -m tests.telephony_trees`"


def live_config(tmp_path: Path, root: Path) -> Path:
    conf = tmp_path / "site.toml"
    conf.write_text('[site]\nrole = "server"\n\n[telephony]\n'
                    f'proc_dir = "{root}/proc/dahdi"\n'
                    f'system_conf = "{root}/etc/dahdi/system.conf"\n'
                    f'chan_dahdi_conf = "{root}/etc/asterisk/chan_dahdi.conf"\n')
    return conf


def run_live(tmp_path: Path, answers: str):
    """The live machine (no --root) with the card's files where [telephony]
    says and a recorded Asterisk first on PATH."""
    root = build_tree("fxo4-healthy", tmp_path / "root")
    fake_asterisk(tmp_path / "bin", answers)
    env = {"PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    proc = run_cli("run", "--config", str(live_config(tmp_path, root)), "--only", "telephony.card",
                   "--format", "json", "--save-facts", str(tmp_path / "facts.json"), env=env)
    return root, proc, json.loads((tmp_path / "facts.json").read_text())["checks"]["telephony.card"]


def test_live_gain_changed_at_the_console(tmp_path):
    root, proc, got = run_live(tmp_path, "fxo4-live-gain")
    assert proc.returncode == 1, proc.stderr
    assert got["facts"]["live"]["state"] == "ok" and len(got["facts"]["live"]["channels"]) == 4
    [f] = [f for f in json.loads(proc.stdout)["findings"] if f["status"] != "ok"]
    assert (f["subject"], f["status"], f["fault"]) == ("live-rxgain:2", "warn", "site")
    assert f["evidence"]["file"] == f"{root}/etc/asterisk/chan_dahdi.conf" and f["evidence"]["key"] == "rxgain"
    assert "+4.5 dB live but 0.0 dB" in f["title"]


def test_live_values_matching_the_files_and_asterisk_not_running(tmp_path):
    _, proc, got = run_live(tmp_path / "a", "fxo4-idle")
    assert proc.returncode == 0, proc.stdout
    assert {c["sw_gain"]["rx"] for c in got["facts"]["live"]["channels"]} == {0.0}
    _, proc, got = run_live(tmp_path / "b", "not-running")
    assert proc.returncode == 0
    assert got["facts"]["live"]["state"] == "not-running"
    assert "Unable to connect to remote asterisk" in got["facts"]["live"]["error"]


def test_no_dahdi_here_is_a_skip_with_the_reason(tmp_path):
    (tmp_path / "root/etc").mkdir(parents=True)
    proc = run_cli("run", "--root", str(tmp_path / "root"), "--only", "telephony.card", "--format", "json")
    assert proc.returncode == 3, proc.stderr  # nothing was checked: Nagios UNKNOWN
    report = json.loads(proc.stdout)
    assert report["verdict"]["status"] == "skip" and report["findings"] == []
    [check] = report["checks"]
    assert check["status"] == "skip"
    assert "neither /proc/dahdi nor /etc/dahdi/system.conf exists" in check["skipped"]


def test_facts_saved_on_site_judge_the_same_at_the_office(tmp_path):
    saved = tmp_path / "site.json"
    _, on_site = run_tree(tmp_path, "fxo4-gains-raised", "--format", "json", "--save-facts", str(saved))
    office = run_cli("run", "--from-facts", str(saved), "--format", "json")
    assert on_site.returncode == office.returncode == 1
    assert json.loads(office.stdout)["findings"] == json.loads(on_site.stdout)["findings"]


def test_hostile_strings_are_escaped_in_html(tmp_path):
    _, proc = run_tree(tmp_path, "hostile-strings", "--format", "html", "-v")
    html = proc.stdout
    assert proc.returncode == 2
    assert "louder for the &lt;script&gt;alert(" in html
    assert "Wildcard &lt;img src=x onerror=alert(1)&gt;TDM410P" in html
    for raw in ("<script>alert(", "<img src=x"):
        assert raw not in html


def test_text_report_reads_aloud(tmp_path):
    _, proc = run_tree(tmp_path, "fxo4-port2-no-battery", "--format", "text")
    assert proc.returncode == 2
    assert "FXO line 2 to the office PBX has no battery" in proc.stdout
    assert "1 site fault" in proc.stdout
