"""Issue 17, class 13: run without root, the report says what it could not
see, and never guesses past it.

The real CLI runs as uid 65534 (tests/rigs/unprivileged.py) against real
components made by root: a filesystem with a directory only its owner may
read, a port held by a root process while the service cannot start, a
service running as root whose /proc/<pid>/fd nobody else may read. Each
report names the evidence it lacks (in the finding and in the verdict's
headline) and keeps the fault undetermined where that evidence decides.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from diagnose.checks.services.judge import judge_service
from diagnose.model import Fault, Status
from tests.conftest import needs_root
from tests.rigs.disk import small_fs  # noqa: F401  (fixture)
from tests.rigs.services import free_port, services_rig  # noqa: F401  (fixture)
from tests.rigs.unprivileged import unprivileged  # noqa: F401  (fixture)

MB = 1024 * 1024
HOLDER = ("import socket, sys\ns = socket.socket()\ns.bind(('127.0.0.1', int(sys.argv[1])))\n"
          "s.listen(4)\nprint('ready', flush=True)\nimport time\ntime.sleep(120)\n")


def _as_nobody(rig, config: str, *only: str) -> tuple[int, dict]:
    state = rig.work / "state"
    state.mkdir(exist_ok=True)
    os.chown(state, 65534, 65534)
    env = dict(os.environ, DIAGNOSE_STATE_DIR=str(state))
    args = [a for name in only for a in ("--only", name)]
    got = rig.run("-m", "diagnose", "run", "--config", config, *args, "--format", "json", env=env)
    assert got.stdout, got.stderr
    return got.returncode, json.loads(got.stdout)


def _as_root(config: str, *only: str) -> tuple[int, dict]:
    from tests.conftest import run_cli

    args = [a for name in only for a in ("--only", name)]
    got = run_cli("run", "--config", config, *args, "--format", "json")
    assert got.stdout, got.stderr
    return got.returncode, json.loads(got.stdout)


# -- disk.space: a directory only its owner may read ---------------------------

def _disk(small_fs, private_mb: float, media_mb: float) -> tuple[object, str]:
    fs = small_fs("8m")
    os.chmod(fs.base, 0o755)
    fs.fill("callcenter/rec-0001.wav", int(0.5 * MB))
    fs.fill("media/film.mkv", int(media_mb * MB))
    fs.fill("private/backup.tar", int(private_mb * MB))
    os.chmod(fs.path("private"), 0o700)  # root's; uid 65534 may not list it
    cfg = fs.config(f'app_paths = ["{fs.path("callcenter")}"]\n')
    os.chmod(cfg, 0o644)
    return fs, cfg


@needs_root
def test_disk_unreadable_directory_is_unknown_not_foreign(small_fs, unprivileged):
    fs, cfg = _disk(small_fs, private_mb=6, media_mb=1)
    rc, report = _as_nobody(unprivileged, cfg, "disk.space")
    [f] = report["findings"]
    private = fs.path("private")
    # 6 MB nobody could look into outweigh the 1 MB of films: who fills the
    # disk is not known, and the report does not call it foreign.
    assert (rc, f["status"], f["fault"]) == (1, "warn", "undetermined"), f
    assert "mostly foreign" not in f["title"]
    assert "could not be read" in f["title"]
    assert private in f["detail"] and "owner root" in f["detail"]
    assert "100%" not in f["detail"]
    scan = f["evidence"]["scan"]
    assert scan["unknown_bytes"] >= 6 * MB
    assert {"what": f"directory {private} unreadable (owner root)",
            "why": "Permission denied"} in f["evidence"]["not_collected"]
    assert f"directory {private} unreadable" in report["verdict"]["headline"]
    # As root the same disk is plainly foreign data: root's private backup.
    rc, report = _as_root(cfg, "disk.space")
    [f] = report["findings"]
    assert (f["status"], f["fault"]) == ("warn", "site")
    assert private in f["title"]
    assert "not_collected" not in f["evidence"]


@needs_root
def test_disk_small_unreadable_directory_is_counted_as_unknown_beside_a_clear_verdict(small_fs, unprivileged):
    fs, cfg = _disk(small_fs, private_mb=0.25, media_mb=6.5)
    rc, report = _as_nobody(unprivileged, cfg, "disk.space")
    [f] = report["findings"]
    # The films alone outweigh the application's data and all that could not
    # be read: foreign, a site fault; the unknown part is said, with its size.
    assert (f["status"], f["fault"]) == ("warn", "site"), f
    assert fs.path("media") in f["title"]
    assert "could not be read" in f["detail"] and fs.path("private") in f["detail"]
    assert "100%" not in f["detail"]
    assert f["evidence"]["scan"]["unknown_bytes"] > 0
    assert f["evidence"]["not_collected"]


# -- application.services: what only root can see -------------------------------

@pytest.fixture
def root_holder(tmp_path):
    """A root process named 'intruder' holding a port; killed after."""
    procs = []

    def start(port: int) -> subprocess.Popen:
        prog = tmp_path / "intruder"
        prog.symlink_to(sys.executable)
        proc = subprocess.Popen([str(prog), "-c", HOLDER, str(port)], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "ready"
        return proc

    yield start
    for proc in procs:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _service_config(rig, port: int, where) -> str:
    # The service's own files stay in root's test folder, as on a server.
    path = where / "site.toml"
    path.write_text(f'[site]\nrole = "server"\n\n[[service]]\nname = "callcenter"\nprocess = "{rig.name}"\n'
                    f'ports = [{port}]\nlog = "{rig.log}"\nexecutable = "{rig.program}"\n')
    path.chmod(0o644)
    return str(path)


@needs_root
def test_port_held_by_a_root_process_is_in_use_owner_not_visible(services_rig, root_holder, unprivileged):
    port = free_port()
    holder = root_holder(port)
    services_rig.start("bind", port).wait(timeout=20)  # cannot bind: Address already in use
    cfg = _service_config(services_rig, port, unprivileged.work)
    rc, report = _as_nobody(unprivileged, cfg, "application.services")
    [f] = report["findings"]
    assert (rc, f["status"], f["fault"]) == (2, "fail", "undetermined"), f
    assert f["title"] == f"callcenter cannot start: port {port} is in use, owner not visible without root"
    assert "taken by" not in f["title"] and "another program" not in f["title"]
    assert "run diagnose as root" in f["detail"].lower()
    assert {"what": "process owners of other users not visible",
            "why": "/proc/<pid>/fd of other users' processes is unreadable without root"} \
        in f["evidence"]["not_collected"]
    assert "not collected" in report["verdict"]["headline"]
    # Root names it.
    rc, report = _as_root(cfg, "application.services")
    [f] = report["findings"]
    assert f["title"] == f"callcenter cannot start: port {port} is taken by intruder (pid {holder.pid})"
    assert "not_collected" not in f["evidence"]


@needs_root
def test_service_with_unreadable_fd_runs_owner_not_verified_and_says_so(services_rig, unprivileged):
    port = free_port()
    proc = services_rig.start("serve", port)  # runs as root
    cfg = _service_config(services_rig, port, unprivileged.work)
    rc, report = _as_nobody(unprivileged, cfg, "application.services")
    [f] = report["findings"]
    assert (rc, f["status"]) == (0, "ok"), f
    assert f["title"] == (f"callcenter runs (pid {proc.pid}) and {port} is open "
                          "(owner not verified: run as root)")
    assert {"what": f"/proc/{proc.pid}/fd unreadable", "why": "Permission denied"} \
        in f["evidence"]["not_collected"]
    headline = report["verdict"]["headline"]
    assert headline.startswith("All checks passed")
    assert f"not collected: /proc/{proc.pid}/fd unreadable" in headline
    rc, report = _as_root(cfg, "application.services")
    [f] = report["findings"]
    assert f["title"] == f"callcenter runs (pid {proc.pid}) and listens on {port}"
    assert "not_collected" not in f["evidence"]


def _svc(processes, holders, ports=(8080,)) -> dict:
    from diagnose.checks.services.procfs import not_collected

    return {"name": "callcenter", "process": "ccserver", "ports": list(ports), "processes": processes,
            "port_holders": holders, "not_collected": not_collected(processes, holders), "unit": None, "program": None, "log": None, "core_dumps": [],
            "databases": [], "data_paths": [], "mounts": [], "health": None}


def _proc(pid, known, listening=(), netns=None) -> dict:
    return {"pid": pid, "name": "ccserver", "state": "S", "argv": ["ccserver"], "started": None,
            "rss_kb": 1000, "vms_kb": 2000, "cwd": None, "sockets_known": known,
            "listening": [{"proto": "tcp", "address": "0.0.0.0", "port": p} for p in listening],
            "netns_ports": netns, "fd_error": None if known else "Permission denied"}


FACTS = {"kernel_log": {"oom_kills": []}, "mem_total_kb": 1000000, "systemd": False}


def test_root_master_with_a_readable_worker_is_not_another_program():
    """A root master (its fds unreadable) holds the port; a worker running as
    this user has nothing open. The port's owner is not verified, and that is
    not "another program listens on it"."""
    svc = _svc([_proc(100, False, netns=[8080]), _proc(101, True)],
               {"8080": {"proto": "tcp", "address": "0.0.0.0", "pid": None, "name": None,
                         "owner_visible": False}})
    f = judge_service(svc, FACTS)
    assert f.status is Status.OK, f.title
    assert "another program" not in f.title
    assert "owner not verified" in f.title
    assert {"what": "/proc/100/fd unreadable", "why": "Permission denied"} in f.evidence["not_collected"]


def test_port_held_by_an_invisible_owner_while_all_service_sockets_are_known_is_undetermined():
    """Every process of the service was read, the port is not among its
    sockets, and whoever holds it could not be seen: in use, owner unknown."""
    svc = _svc([_proc(100, True, listening=[9090])],
               {"8080": {"proto": "tcp", "address": "0.0.0.0", "pid": None, "name": None,
                         "owner_visible": False}})
    f = judge_service(svc, FACTS)
    assert (f.status, f.fault) == (Status.FAIL, Fault.UNDETERMINED)
    assert f.title == "callcenter cannot have port 8080: it is in use, owner not visible without root"
    assert "another program" not in f.title
