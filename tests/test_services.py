"""application.services against a real server process (tests/rigs/services.py)
and from recorded scenarios (tests/data/application.services/)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from diagnose.checks.services.check import ApplicationServices
from diagnose.attribution import attribute
from diagnose.check import section_config
from diagnose.host import Host
from diagnose.model import Fault, Finding, Status
from tests.rigs.unprivileged import unprivileged  # noqa: F401  (fixture)
from tests.conftest import ROOT, load_scenarios, needs_root, run_cli
from tests.rigs.services import free_port, services_rig  # noqa: F401 - fixture

CHECK = ApplicationServices()


def probe_judge(items: list[dict]) -> tuple[dict, list[Finding]]:
    """Probe the live machine and judge, with the facts round-tripped through
    JSON exactly as the runner does."""
    cfg = section_config(CHECK, {"items": items})
    facts = json.loads(json.dumps(CHECK.probe(Host("/"), cfg)))
    return facts, CHECK.judge(facts, cfg)


def service(rig, port: int, **extra) -> dict:
    item = {"name": "callcenter", "process": rig.name, "ports": [port], "log": str(rig.log),
            "executable": str(rig.program), "databases": ["callcenter"]}
    item.update(extra)
    return item


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, [f.title for f in findings]
    f = findings[0]
    assert isinstance(f.evidence["databases"], list) and isinstance(f.evidence["mounts"], list)
    return f


def test_running_and_listening_is_ok(services_rig):
    port = free_port()
    proc = services_rig.start("serve", port)
    facts, findings = probe_judge([service(services_rig, port)])
    f = only(findings)
    assert f.status is Status.OK, f.title
    assert f.subject == "callcenter"
    assert f"pid {proc.pid}" in f.title and str(port) in f.title
    assert f.evidence["ports_listening"] == [port]
    assert f.evidence["processes"][0]["pid"] == proc.pid
    assert f.evidence["databases"] == ["callcenter"]


def test_killed_after_a_traceback_is_a_software_crash(services_rig):
    port = free_port()
    proc = services_rig.start("serve", port)
    services_rig.request(port, "sales")  # no such queue: the handler raises KeyError
    services_rig.wait_log("KeyError: 'sales'")
    services_rig.kill(proc)
    _, findings = probe_judge([service(services_rig, port)])
    f = only(findings)
    assert (f.status, f.fault) == (Status.FAIL, Fault.SOFTWARE)
    assert f.title == "callcenter crashed: KeyError: 'sales'"
    assert f.evidence["exception"] == "KeyError: 'sales'"
    assert f.evidence["traceback"][0] == "Traceback (most recent call last):"
    assert "send this log excerpt" in f.remedy.lower() and str(services_rig.log) in f.remedy


JAVA_CRASH = """
public class Crash {
    static void route(String queue) { throw new IllegalStateException("queue " + queue + " has no agents"); }
    public static void main(String[] args) {
        System.err.println("2026-11-22 10:00:00 INFO ccserver starting");
        try { route("sales"); } catch (IllegalStateException e) { throw new RuntimeException("dispatcher failed", e); }
    }
}
"""


@pytest.mark.skipif(shutil.which("java") is None, reason="needs a JDK (java source launcher)")
def test_java_stack_trace_names_the_root_cause(services_rig, tmp_path):
    src = tmp_path / "Crash.java"
    src.write_text(JAVA_CRASH)
    with open(services_rig.log, "w") as log:
        assert subprocess.run(["java", str(src)], stderr=log, timeout=60).returncode == 1
    _, findings = probe_judge([service(services_rig, free_port())])
    f = only(findings)
    assert (f.status, f.fault) == (Status.FAIL, Fault.SOFTWARE)
    assert f.title == "callcenter crashed: java.lang.IllegalStateException: queue sales has no agents"
    assert f.evidence["traceback"][0].startswith('Exception in thread "main" java.lang.RuntimeException')
    assert any(ln.startswith("Caused by:") for ln in f.evidence["traceback"])


def test_segfault_with_a_core_dump_is_a_software_crash(services_rig):
    pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    piped = pattern.startswith("|")
    if (piped and "systemd-coredump" not in pattern) or (not piped and "/" in pattern):
        pytest.skip(f"cores go to {pattern}: neither the working directory nor systemd-coredump")
    proc = services_rig.start("segfault")
    assert proc.wait(timeout=30) == -11
    _, findings = probe_judge([service(services_rig, free_port(), workdir=str(services_rig.base))])
    f = only(findings)
    assert (f.status, f.fault) == (Status.FAIL, Fault.SOFTWARE)
    core = f.evidence["core_dumps"][-1]
    assert f.title == f"callcenter crashed: core dumped ({core['path']})"
    assert core["size"] > 0 and core["path"] in f.remedy


def test_listening_on_the_wrong_port_names_both_ports(services_rig):
    expected, actual = free_port(), free_port()
    services_rig.start("serve", actual)
    _, findings = probe_judge([service(services_rig, expected)])
    f = only(findings)
    assert (f.status, f.fault) == (Status.FAIL, Fault.SOFTWARE)
    assert f.title == f"callcenter listens on port {actual}, not on {expected}"
    assert f.evidence["ports_listening"] == [actual]
    assert f.evidence["ports_missing"] == [expected]


def test_port_held_by_another_program_names_it(services_rig):
    expected, actual = free_port(), free_port()
    other = subprocess.Popen(
        [sys.executable, "-c", "import socket,sys,time; s=socket.socket(); "
         f"s.bind(('127.0.0.1',{expected})); s.listen(); print('up', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    services_rig.procs.append(other)
    assert other.stdout.readline().strip() == "up"
    services_rig.start("serve", actual)
    _, findings = probe_judge([service(services_rig, expected)])
    f = only(findings)
    assert f.status is Status.FAIL and f.evidence["reason"] == "port-taken"
    assert f"pid {other.pid}" in f.title and str(expected) in f.title
    assert f.evidence["port_holders"][str(expected)]["pid"] == other.pid


@needs_root
def test_full_data_disk_stop_is_a_consequence_of_the_disk_finding(services_rig):
    data = services_rig.tmpfs("1m")
    proc = services_rig.start("diskfull", data=str(data))
    assert proc.wait(timeout=10) == 1
    _, findings = probe_judge([service(services_rig, free_port(), data_paths=[str(data)])])
    f = only(findings)
    assert f.status is Status.FAIL and f.evidence["reason"] == "disk-full"
    assert "No space left on device" in f.detail
    assert str(data) in f.evidence["mounts"]
    disk = Finding("disk.space", str(data), Status.FAIL, f"Data disk {data} is 100% full", Fault.SITE,
                   "full", {"mount": str(data)}, "free space")
    linked = {x.id: x for x in attribute([disk, f])}
    svc = linked["application.services:callcenter"]
    assert svc.caused_by == [disk.id] and svc.fault is Fault.SITE


def test_corrupt_database_stop_is_a_consequence_of_the_database_finding(services_rig, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    with sqlite3.connect(data / "cc.db") as db:
        db.execute("CREATE TABLE agents (name TEXT)")
    with open(data / "cc.db", "r+b") as fh:
        fh.write(b"this is not a database header")
    proc = services_rig.start("dbcorrupt", data=str(data))
    assert proc.wait(timeout=10) == 1
    _, findings = probe_judge([service(services_rig, free_port(), data_paths=[str(data)])])
    f = only(findings)
    assert f.status is Status.FAIL and f.evidence["reason"] == "database-corrupt"
    assert f.title == "callcenter stopped: its database is corrupt"
    assert "file is not a database" in f.detail
    db = Finding("database.integrity", "callcenter", Status.FAIL, "Database callcenter is corrupt",
                 Fault.SITE, "header clobbered", {"mount": "/"}, "restore")
    svc = {x.id: x for x in attribute([db, f])}["application.services:callcenter"]
    assert svc.caused_by == [db.id] and svc.fault is Fault.SITE


@needs_root
def test_oom_kill_is_undetermined_with_the_memory_figures_and_stays_on_record(services_rig):
    cg = services_rig.memory_cgroup(48)
    proc = services_rig.start("oom", cgroup=cg)
    assert proc.wait(timeout=20) == -9
    services_rig.wait_oom_line(proc.pid)
    facts, findings = probe_judge([service(services_rig, free_port())])
    if facts["kernel_log"]["source"] is None:
        pytest.skip(f"kernel log not readable here: {facts['kernel_log']['errors']}")
    f = only(findings)
    assert (f.status, f.fault) == (Status.FAIL, Fault.UNDETERMINED)
    assert "killed by the OOM killer" in f.title and "memory limit is 48 MiB" in f.title
    mem = f.evidence["memory"]
    assert mem["pid"] == proc.pid and mem["limit_kb"] == 48 * 1024
    assert 0 < mem["anon_rss_kb"] <= 48 * 1024

    port = free_port()  # restarted: it runs, but the kill stays on record
    services_rig.start("serve", port)
    _, findings = probe_judge([service(services_rig, port)])
    f = only(findings)
    assert (f.status, f.fault) == (Status.WARN, Fault.UNDETERMINED)
    assert f.title == "callcenter runs but was killed by the OOM killer 1x since boot"
    assert f.evidence["oom_kills"][0]["pid"] == proc.pid


def test_probe_reads_a_recorded_tree_after_the_process_is_gone(services_rig, tmp_path):
    """A technician's recorded /proc (and the log) judged at the office: the
    facts come from the tree, not from this machine."""
    port = free_port()
    proc = services_rig.start("serve", port)
    tree = tmp_path / "tree"
    pdir = tree / "proc" / str(proc.pid)
    (pdir / "net").mkdir(parents=True)
    (pdir / "fd").mkdir()
    for name in ("stat", "cmdline", "status", "net/tcp", "net/tcp6", "net/udp", "net/udp6"):
        (pdir / name).write_bytes(Path(f"/proc/{proc.pid}/{name}").read_bytes())
    for fd in os.listdir(f"/proc/{proc.pid}/fd"):
        (pdir / "fd" / fd).symlink_to(os.readlink(f"/proc/{proc.pid}/fd/{fd}"))
    for name in ("stat", "meminfo"):
        (tree / "proc" / name).write_bytes(Path(f"/proc/{name}").read_bytes())
    log = tree / str(services_rig.log).lstrip("/")
    log.parent.mkdir(parents=True)
    log.write_text(services_rig.log.read_text())
    services_rig.kill(proc)

    cfg = section_config(CHECK, {"items": [service(services_rig, port)]})
    facts = json.loads(json.dumps(CHECK.probe(Host(str(tree)), cfg)))
    f = only(CHECK.judge(facts, cfg))
    assert f.status is Status.OK and f"pid {proc.pid}" in f.title
    assert f.evidence["ports_listening"] == [port]
    assert facts["kernel_log"]["errors"][0] == "dmesg: needs the live machine"


@needs_root
def test_without_root_the_ports_are_judged_from_its_namespace(services_rig, unprivileged):
    """An unprivileged user cannot read a root process's open files; the
    check then falls back to what the namespace listens on, and says so."""
    expected, actual = free_port(), free_port()
    services_rig.start("serve", actual)
    cfg = {"items": [service(services_rig, expected)]}
    code = ("import json,sys; from diagnose.checks.services.check import ApplicationServices as A; "
            "from diagnose.check import section_config; from diagnose.host import Host; c=A(); "
            "print(json.dumps(c.probe(Host('/'), section_config(c, json.loads(sys.argv[1])))))")
    res = unprivileged.run("-c", code, json.dumps(cfg), timeout=30)
    assert res.returncode == 0, res.stderr
    facts = json.loads(res.stdout)
    if facts["services"][0]["processes"][0]["sockets_known"]:
        pytest.skip("this machine lets uid 65534 read root's /proc/<pid>/fd")
    f = only(CHECK.judge(facts, section_config(CHECK, cfg)))
    assert (f.status, f.fault) == (Status.FAIL, Fault.SOFTWARE)
    assert f.title == f"callcenter runs but nothing listens on {expected}"
    assert actual in f.evidence["netns_ports"]


def test_not_installed_is_software(services_rig, tmp_path):
    missing = tmp_path / "opt" / "callcenter" / "bin" / "ccserver"
    _, findings = probe_judge([{"name": "callcenter", "process": "ccserver-absent", "ports": [8088],
                                "executable": str(missing), "log": str(tmp_path / "none.log")}])
    f = only(findings)
    assert (f.status, f.fault) == (Status.FAIL, Fault.SOFTWARE)
    assert f.title == f"callcenter is not installed: {missing} does not exist"


def test_passwords_never_reach_facts_or_findings(services_rig):
    services_rig.log.write_text(
        "ERROR cannot connect to postgresql://cc:s3cret-pw@db.local/cc\n"
        "ERROR retry with password=s3cret-pw failed\n")
    facts, findings = probe_judge([service(services_rig, free_port())])
    blob = json.dumps(facts) + json.dumps([f.to_dict() for f in findings])
    assert "s3cret-pw" not in blob
    assert "postgresql://cc:***@db.local/cc" in blob


def test_cli_reports_the_crash_as_json_with_exit_code_2(services_rig, tmp_path):
    port = free_port()
    proc = services_rig.start("serve", port)
    conf = tmp_path / "site.toml"
    conf.write_text(
        '[site]\nname = "Sales office"\nrole = "server"\n\n'
        f'[[service]]\nname = "callcenter"\nprocess = "{services_rig.name}"\nports = [{port}]\n'
        f'log = "{services_rig.log}"\ndatabases = ["callcenter"]\n')
    args = ("run", "--config", str(conf), "--only", "application.services", "--format", "json")
    ok = run_cli(*args)
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert [f["status"] for f in report["findings"]] == ["ok"]

    services_rig.request(port, "sales")
    services_rig.wait_log("KeyError: 'sales'")
    services_rig.kill(proc)
    bad = run_cli(*args)
    assert bad.returncode == 2, bad.stderr
    report = json.loads(bad.stdout)
    f = report["findings"][0]
    assert (f["id"], f["status"], f["fault"]) == ("application.services:callcenter", "fail", "software")
    assert "KeyError: 'sales'" in f["title"]
    assert report["verdict"]["software_faults"] == 1 and report["verdict"]["site_faults"] == 0


def test_cli_nests_the_stopped_service_under_its_corrupt_database(services_rig, tmp_path):
    """Both real checks through the CLI: the database.integrity finding is the
    root cause and the service that stopped on it is its consequence."""
    data = tmp_path / "data"
    data.mkdir()
    with sqlite3.connect(data / "cc.db") as db:
        db.execute("CREATE TABLE agents (name TEXT)")
    with open(data / "cc.db", "r+b") as fh:
        fh.write(b"this is not a database header")
    assert services_rig.start("dbcorrupt", data=str(data)).wait(timeout=10) == 1
    conf = tmp_path / "site.toml"
    conf.write_text(
        '[site]\nrole = "server"\n\n'
        f'[[database]]\nname = "callcenter"\nurl = "sqlite:///{data}/cc.db"\n\n'
        f'[[service]]\nname = "callcenter"\nprocess = "{services_rig.name}"\n'
        f'executable = "{services_rig.program}"\nlog = "{services_rig.log}"\n'
        f'databases = ["callcenter"]\ndata_paths = ["{data}"]\n')
    res = run_cli("run", "--config", str(conf), "--only", "application.services",
                  "--only", "database.integrity", "--format", "json")
    assert res.returncode == 2, res.stderr
    report = json.loads(res.stdout)
    by_id = {f["id"]: f for f in report["findings"]}
    svc = by_id["application.services:callcenter"]
    assert svc["caused_by"] == ["database.integrity:callcenter"]
    assert by_id["database.integrity:callcenter"]["consequences"] == ["application.services:callcenter"]
    assert svc["fault"] == by_id["database.integrity:callcenter"]["fault"]
    v = report["verdict"]
    assert v["site_faults"] + v["software_faults"] + v["undetermined"] == 1


SCENARIOS = load_scenarios("application.services")


@pytest.mark.parametrize("name,scenario", SCENARIOS, ids=[n for n, _ in SCENARIOS])
def test_recorded_scenario(name, scenario):
    cfg = section_config(CHECK, scenario["config"])
    findings = {f.subject: f for f in CHECK.judge(scenario["facts"], cfg)}
    assert len(findings) == len(cfg["items"])
    for want in scenario["expect"]:
        f = findings[want["subject"]]
        assert str(f.status) == want["status"], f.title
        assert (f.fault.value if f.fault else None) == want.get("fault")
        assert want.get("title_contains", "") in f.title
        assert isinstance(f.evidence["databases"], list) and isinstance(f.evidence["mounts"], list)
        if f.status.is_problem:
            assert f.detail and f.remedy


def test_scenarios_cover_every_verdict():
    assert {n for n, _ in SCENARIOS} >= {"ok", "crashed-traceback", "wrong-port", "oom-killed",
                                        "not-installed", "stopped-db-corrupt"}
