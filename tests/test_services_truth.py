"""Issue 17, classes 3 and 4, with real processes: a foreign program on the
service's port is named with its pid (site), never "send the log to the
vendor"; and a log line written before the service's last start does not
explain today's crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from diagnose.model import Fault, Status
from tests.conftest import needs_root
from tests.rigs.services import free_port, services_rig  # noqa: F401  (fixture)
from tests.test_services import only, probe_judge, service

HOLDER = ("import socket, sys\ns = socket.socket()\ns.bind(('127.0.0.1', int(sys.argv[1])))\n"
          "s.listen(4)\nprint('ready', flush=True)\nimport time\ntime.sleep(120)\n")


@pytest.fixture
def intruder(tmp_path):
    """Another program, named 'intruder', listening on a port; killed after."""
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


def wait_exit(proc: subprocess.Popen) -> None:
    proc.wait(timeout=20)


@needs_root  # naming another process's socket owner needs to read its /proc/PID/fd
def test_foreign_program_on_the_port_is_named_and_is_a_site_fault(services_rig, intruder):
    port = free_port()
    holder = intruder(port)
    wait_exit(services_rig.start("bind", port))  # serves, but cannot bind: Address already in use
    f = only(probe_judge([service(services_rig, port)])[1])
    assert (f.status, f.fault) == (Status.FAIL, Fault.SITE)
    assert f.title == f"callcenter cannot start: port {port} is taken by intruder (pid {holder.pid})"
    assert "vendor" not in f.remedy and f"sport = :{port}" in f.remedy
    assert f.evidence["reason"] == "port-taken"
    assert any("Address already in use" in ln for ln in f.evidence["log_lines"])


def test_address_in_use_with_the_holder_out_of_sight_is_undetermined_not_software(services_rig):
    # The holder lives where this host cannot see it (another namespace, or
    # no root to read its sockets): the log line alone still settles "not a bug".
    port = free_port()
    services_rig.log.write_text(
        "2026-12-01 08:00:00,001 INFO ccserver: starting, mode serve\n"
        f"2026-12-01 08:00:00,002 ERROR ccserver: cannot bind 127.0.0.1:{port}: "
        "[Errno 98] Address already in use\n")
    f = only(probe_judge([service(services_rig, port)])[1])
    assert (f.status, f.fault) == (Status.FAIL, Fault.UNDETERMINED)
    assert f.title == "callcenter cannot start: a port it needs is already in use"
    assert "send the log" not in f.remedy and "ss -ltnup" in f.remedy


def test_disk_full_before_the_last_start_does_not_explain_todays_crash(services_rig, tmp_path):
    port = free_port()
    services_rig.log.write_text(
        "2026-11-20 02:00:00,000 ERROR ccserver: cannot write call recording: "
        "[Errno 28] No space left on device\n")
    # logs "starting", then crashes with a traceback: its database has no tables
    wait_exit(services_rig.start("dbcorrupt", port, str(tmp_path)))
    f = only(probe_judge([service(services_rig, port)])[1])
    assert f.status is Status.FAIL and f.fault is Fault.SOFTWARE, f.title
    assert f.evidence["reason"] == "crashed"
    assert "no space" not in f.title.lower()
    assert f.evidence["log"]["errors_before_start"] == 1
    assert "starting" in f.evidence["log"]["last_start"]


@needs_root
def test_disk_full_after_the_last_start_still_explains_the_stop(services_rig):
    services_rig.log.write_text("2026-11-20 01:00:00,000 ERROR ccserver: request failed: timeout\n")
    data = services_rig.tmpfs()
    wait_exit(services_rig.start("diskfull", free_port(), str(data)))
    f = only(probe_judge([service(services_rig, free_port())])[1])
    assert f.evidence["reason"] == "disk-full", f.title


# -- class 7: a frozen or hung service is not healthy ------------------------------------------

HUNG = ("import socket, sys, time\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "s.bind(('127.0.0.1', int(sys.argv[1])))\ns.listen(8)\nprint('ready', flush=True)\nheld = []\n"
        "while True:\n    c, _ = s.accept()\n    held.append(c)  # takes the connection, never answers\n")
ANSWERS = ("import http.server, sys\nclass H(http.server.BaseHTTPRequestHandler):\n"
           "    def do_GET(self):\n        self.send_response(200); self.end_headers(); self.wfile.write(b'ok')\n"
           "    def log_message(self, *a): pass\n"
           "srv = http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H)\nprint('ready', flush=True)\n"
           "srv.serve_forever()\n")


@pytest.fixture
def program(tmp_path):
    """Start a small server under its own process name; killed (and resumed) after."""
    procs = []

    def start(name: str, code: str, port: int) -> subprocess.Popen:
        prog = tmp_path / name
        prog.symlink_to(sys.executable)
        proc = subprocess.Popen([str(prog), "-c", code, str(port)], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "ready"
        return proc

    yield start
    for proc in procs:
        try:
            os.kill(proc.pid, signal.SIGCONT)
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def _item(name: str, port: int, **extra) -> dict:
    return {"name": "callcenter", "process": name, "ports": [port], **extra}


def _wait_state(pid: int, want: str) -> None:
    for _ in range(200):
        with open(f"/proc/{pid}/stat") as fh:
            if fh.read().rsplit(")", 1)[1].split()[0] == want:
                return
        time.sleep(0.01)
    raise AssertionError(f"pid {pid} never reached state {want}")


@needs_root
def test_a_stopped_process_is_frozen_not_ok(services_rig, program):
    port = free_port()
    proc = program("ccfrozen", ANSWERS, port)
    os.kill(proc.pid, signal.SIGSTOP)
    _wait_state(proc.pid, "T")
    f = only(probe_judge([_item("ccfrozen", port)])[1])
    assert (f.status, f.fault) == (Status.FAIL, Fault.UNDETERMINED)
    assert f.title == f"callcenter is frozen: process {proc.pid} is stopped by a signal (state T)"
    assert f"kill -CONT {proc.pid}" in f.remedy


@needs_root
def test_accepting_but_never_answering_the_health_url_is_hung(services_rig, program):
    port = free_port()
    program("cchung", HUNG, port)
    url = f"http://127.0.0.1:{port}/health"
    f = only(probe_judge([_item("cchung", port, health_url=url, health_timeout_s=0.5)])[1])
    assert (f.status, f.fault) == (Status.FAIL, Fault.SOFTWARE)
    assert f.title == f"callcenter is hung: it accepts connections but does not answer {url}"
    assert f.evidence["health"]["state"] == "silent" and f.evidence["reason"] == "hung"


@needs_root
def test_a_service_that_answers_its_health_url_is_ok(services_rig, program):
    port = free_port()
    program("cchealthy", ANSWERS, port)
    url = f"http://127.0.0.1:{port}/health"
    f = only(probe_judge([_item("cchealthy", port, health_url=url)])[1])
    assert f.status is Status.OK, f.title
    assert f.evidence.get("reason") == "ok"
