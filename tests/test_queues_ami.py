"""call.routing with live member state: a recorded manager session replayed
over TCP on 127.0.0.1 (tests/rigs/ami.py), through the real AMI client."""

from __future__ import annotations

import json
import time

import pytest

from diagnose.attribution import attribute
from diagnose.check import section_config
from diagnose.checks.asterisk import ami
from diagnose.checks.asterisk import probe as shared_probe
from diagnose.checks.asterisk.routing import CallRouting
from diagnose.host import Host
from diagnose.model import Fault, Status
from tests.conftest import DATA
from tests.queue_sim import Day, freepbx_tree, support_queue
from tests.rigs.ami import AmiReplay

RECORDING = DATA / "ami" / "queuestatus-support.txt"


@pytest.fixture
def replay():
    server = AmiReplay(RECORDING, secret="s3cret")
    yield server
    server.close()


def live_site(tmp_path, strategy="ringall"):
    """Files in a temp dir read by the live host; the day ends before now."""
    freepbx_tree(tmp_path, strategy)
    start = int(time.time()) // 3600 * 3600 - 20 * 3600
    day = Day([support_queue(strategy, absent=("207",), paused=("208",))], start).run()
    (tmp_path / "queue_log").write_text(day.text())
    return {"config_dir": str(tmp_path / "etc/asterisk"), "queue_log": str(tmp_path / "queue_log")}


def test_queue_status_over_the_replayed_session(replay):
    facts = ami.queue_status(replay.url, "diagnose", "AMI_TEST_SECRET", 5, env={"AMI_TEST_SECRET": "s3cret"})
    assert facts["state"] == "ok", facts
    members = {m["name"]: m for m in facts["queues"]["support"]["members"]}
    assert len(members) == 8
    assert members["207"]["state"] == "unavailable" and members["207"]["status"] == 5
    assert members["208"]["paused"] is True and members["208"]["paused_reason"] == "Break"
    assert members["205"]["in_call"] == 1
    assert [a.get("action") for a in replay.actions] == ["Login", "QueueStatus", "Logoff"]
    assert "s3cret" not in json.dumps(facts)


def test_wrong_secret_is_a_fact_not_a_crash(replay):
    facts = ami.queue_status(replay.url, "diagnose", "AMI_TEST_SECRET", 5, env={"AMI_TEST_SECRET": "nope"})
    assert facts["state"] == "login-failed"
    assert "nope" not in json.dumps(facts)


def test_missing_secret_and_closed_port():
    assert ami.queue_status("tcp://127.0.0.1:9", "u", "UNSET_VAR_X", 1, env={})["state"] == "no-secret"
    got = ami.queue_status("tcp://127.0.0.1:9", "u", "", 2, env={})
    assert got["state"] in ("unreachable", "timeout")


def test_routing_marks_the_unavailable_device_absent(replay, tmp_path, monkeypatch):
    monkeypatch.setenv("AMI_TEST_SECRET", "s3cret")
    paths = live_site(tmp_path)
    cfg = section_config(CallRouting(), dict(paths, ami_url=replay.url, ami_user="diagnose",
                                             ami_secret_env="AMI_TEST_SECRET"))
    shared_probe._cache["key"] = None
    check = CallRouting()
    facts = json.loads(json.dumps(check.probe(Host("/"), cfg)))
    assert facts["ami"]["state"] == "ok"
    f, = [x for x in attribute(check.judge(facts, cfg)) if x.subject == "support"]
    assert f.status is Status.WARN and f.fault is Fault.SITE
    assert [m["member"] for m in f.evidence["absent_members"]] == ["207"]
    assert f.evidence["absent_members"][0]["absent"].endswith("answered none; device unavailable (AMI)")
    assert "live member state from AMI" in f.detail
    row = next(m for m in f.evidence["members"] if m["member"] == "208")
    assert row["paused"] is True and row["ami_status"] == "not in use"
