"""Issue 17, class 5, with real processes and files: a service that cannot
open its database or data because their owner or mode was changed on site
(restored as root under umask 077, chown'd, made read-only) is a site
finding naming the file, its owner and mode and the service's user, with
the chown/chmod that puts it right; never "crashed, send the log to the
vendor".

The service is the rig's server program run as uid 65534 (nobody) by the
system's /usr/bin/python3 (pyenv's interpreter under /root is out of
nobody's reach), in a world-readable folder under /tmp that the test
creates and removes, its processes stopped by pid.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from diagnose.model import Fault, Status
from tests.conftest import needs_root, run_cli
from tests.rigs.unprivileged import unprivileged  # noqa: F401  (fixture)
from tests.rigs.services import SERVER, free_port

NOBODY = 65534
PYTHON = "/usr/bin/python3"

pytestmark = [needs_root, pytest.mark.skipif(not os.access(PYTHON, os.X_OK), reason=f"no {PYTHON}")]


class PermSite:
    """A call-center service's files as an installer leaves them: its home
    (database inside) and its log folder owned by nobody:nogroup."""

    count = 0

    def __init__(self) -> None:
        PermSite.count += 1
        self.base = Path(tempfile.mkdtemp(prefix="dgperm-", dir="/tmp"))
        os.chmod(self.base, 0o755)
        self.name = f"ccp{os.getpid()}-{PermSite.count}"[:15]
        (self.base / "bin").mkdir(mode=0o755)
        self.program = self.base / "bin" / self.name
        self.program.symlink_to(PYTHON)
        self.script = self.base / "ccserver.py"
        self.script.write_text(SERVER)
        os.chmod(self.script, 0o644)
        self.home = self.base / "cc"
        self.home.mkdir()
        self.logdir = self.base / "log"
        self.logdir.mkdir()
        self.log = self.logdir / "server.log"
        self.db = self.home / "cc.db"
        with sqlite3.connect(self.db) as db:
            db.execute("CREATE TABLE agents (name TEXT)")
        for p, mode in ((self.home, 0o750), (self.logdir, 0o755), (self.db, 0o640)):
            os.chown(p, NOBODY, NOBODY)
            os.chmod(p, mode)
        self.procs: list[subprocess.Popen] = []
        self.mounts: list[Path] = []

    def start(self, mode: str, port: int = 0, data: str = "") -> subprocess.Popen:
        proc = subprocess.Popen([str(self.program), str(self.script), mode, str(port), str(self.log), data],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                cwd=self.base, user=NOBODY, group=NOBODY, extra_groups=[])
        self.procs.append(proc)
        return proc

    def serve(self, port: int) -> subprocess.Popen:
        proc = self.start("serve", port)
        end = time.monotonic() + 10
        while f"listening on 127.0.0.1:{port}" not in (self.log.read_text() if self.log.exists() else ""):
            assert proc.poll() is None and time.monotonic() < end, "the service did not start"
            time.sleep(0.02)
        return proc

    def fails(self, mode: str, data: str = "") -> None:
        """Start it the way it is started each morning; it must die."""
        assert self.start(mode, free_port(), data or str(self.db)).wait(timeout=20) == 1

    def item(self, **extra) -> dict:
        item = {"name": "callcenter", "process": self.name, "log": str(self.log),
                "executable": str(self.program), "databases": ["cc"], "user": "nobody"}
        item.update(extra)
        return item

    def config(self, tmp: Path, **extra) -> Path:
        item = self.item(**extra)
        lines = ['[site]', 'name = "Sales office"', "", "[[service]]"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in item.items()]
        lines += ["", "[[database]]", 'name = "cc"', f'url = "sqlite:///{self.db}"']
        # The machine's own network and disks are not this test's to audit.
        lines += ["", "[network]", "enabled = false", "", "[disk]", "enabled = false"]
        path = tmp / "site.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def tmpfs(self) -> Path:
        mnt = self.base / "ro"
        mnt.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", f"dgperm-{os.getpid()}", str(mnt)], check=True)
        self.mounts.append(mnt)
        return mnt

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        for mnt in reversed(self.mounts):
            subprocess.run(["umount", str(mnt)], check=False)
        if not any(os.path.ismount(m) for m in self.mounts):
            shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def site():
    s = PermSite()
    try:
        yield s
    finally:
        s.cleanup()


def borrowed_judge(site: PermSite, borrowed: dict | None = None, **extra):
    """Probe and judge with the [[database]] section lent as the runner does."""
    from diagnose.check import section_config
    from diagnose.host import Host
    from tests.test_services import CHECK

    cfg = section_config(CHECK, {"items": [site.item(**extra)]})
    cfg["_borrowed"] = borrowed or {"database": {"items": [{"name": "cc", "url": f"sqlite:///{site.db}"}]}}
    facts = json.loads(json.dumps(CHECK.probe(Host("/"), cfg)))
    (f,) = CHECK.judge(facts, cfg)
    return facts, f


def run_report(site: PermSite, tmp_path: Path, env: dict | None = None, **extra) -> tuple[int, dict]:
    done = run_cli("run", "--config", str(site.config(tmp_path, **extra)), "--only", "application.services",
                   "--only", "database.integrity", "--format", "json", env=env)
    assert done.returncode in (0, 1, 2), done.stderr
    return done.returncode, json.loads(done.stdout)


def service_finding(report: dict) -> dict:
    (f,) = [f for f in report["findings"] if f["check"] == "application.services"]
    return f


# --- the database restored as root ---------------------------------------------------------

def test_database_restored_as_root_with_umask_077_is_a_site_fault_naming_owner_mode_and_user(site, tmp_path):
    os.chown(site.db, 0, 0)
    os.chmod(site.db, 0o600)
    site.fails("sqlitewrite")
    rc, report = run_report(site, tmp_path)
    f = service_finding(report)
    assert rc == 2
    assert (f["status"], f["fault"]) == ("fail", "site")
    assert f["title"] == (f"callcenter cannot open its database {site.db}: {site.db} is root:root with mode "
                          "0600: user nobody cannot read or write it")
    assert "unable to open database file" in f["detail"] and "runs as nobody (uid 65534" in f["detail"]
    assert "send" not in f["remedy"] and "vendor" not in f["remedy"]
    assert f"chown nobody:nogroup {site.db}" in f["remedy"] and f"chmod u+rw {site.db}" in f["remedy"]
    assert f"runuser -u nobody -- test -r {site.db} -a -w {site.db}" in f["remedy"]
    assert f["evidence"]["reason"] == "access-denied"
    assert f["evidence"]["denied_databases"] == ["cc"]
    # The database itself is intact (diagnose reads it as root): nothing to nest, one root cause.
    (db,) = [x for x in report["findings"] if x["check"] == "database.integrity"]
    assert db["status"] == "ok"
    assert (report["verdict"]["site_faults"], report["verdict"]["software_faults"]) == (1, 0)


def test_a_read_only_database_file_is_named_with_its_mode(site, tmp_path):
    # Owner right, mode wrong: "attempt to write a readonly database".
    os.chmod(site.db, 0o444)
    site.fails("sqlitewrite")
    facts, f = borrowed_judge(site)
    assert (f.status, f.fault) == (Status.FAIL, Fault.SITE)
    assert f.title.endswith(f"{site.db} is nobody:nogroup with mode 0444: user nobody cannot write it")
    assert any("attempt to write a readonly database" in ln for ln in f.evidence["log_lines"])
    assert f"chmod u+rw {site.db}" in f.remedy and "chown" not in f.remedy  # the owner is right already


def test_a_data_folder_closed_to_the_service_is_named_not_the_files_inside(site, tmp_path):
    os.chown(site.home, 0, 0)
    os.chmod(site.home, 0o700)
    site.fails("sqlitewrite")
    facts, f = borrowed_judge(site)
    assert (f.status, f.fault) == (Status.FAIL, Fault.SITE)
    assert f.title == (f"callcenter cannot open its database {site.db}: {site.home} is root:root with mode "
                       "0700: user nobody cannot pass through it")
    assert f"chown nobody:nogroup {site.home}" in f.remedy


def test_recordings_folder_owned_by_root_stops_the_service_with_permission_denied(site, tmp_path):
    rec = site.base / "recordings"
    rec.mkdir(mode=0o700)  # made by root: not the service's
    site.fails("diskfull", str(rec))
    facts, f = borrowed_judge(site, data_paths=[str(rec)], databases=[])
    assert (f.status, f.fault) == (Status.FAIL, Fault.SITE)
    assert f.title.startswith(f"callcenter cannot open its data folder {rec}: {rec} is root:root with mode 0700")
    assert any("Permission denied" in ln for ln in f.evidence["log_lines"])
    assert f"chown -R nobody:nogroup {rec}" in f.remedy


def test_the_user_comes_from_the_log_it_wrote_when_no_user_is_configured(site, tmp_path):
    os.chown(site.db, 0, 0)
    os.chmod(site.db, 0o600)
    site.fails("sqlitewrite")
    facts, f = borrowed_judge(site, user="")
    (svc,) = facts["services"]
    assert svc["access"]["runs_as"]["source"] == "log-owner"
    # The user is a guess, the refusal in the log is not: still the site's, and said how it was known.
    assert (f.status, f.fault) == (Status.FAIL, Fault.SITE)
    assert "known from the owner of its log" in f.detail


def test_with_a_baseline_the_remedy_puts_back_the_accepted_owner_and_mode(site, tmp_path):
    env = {"DIAGNOSE_STATE_DIR": str(tmp_path / "state")}
    port = free_port()
    proc = site.serve(port)
    rec = run_cli("baseline", "record", "--config", str(site.config(tmp_path, user="", ports=[port])),
                  "--by", "integrator", "--note", "acceptance", env=env)
    assert rec.returncode == 0, rec.stderr
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    # A restore as root: owner and mode both changed; the service fails at its morning start.
    os.chown(site.db, 0, 0)
    os.chmod(site.db, 0o600)
    site.fails("sqlitewrite")
    rc, report = run_report(site, tmp_path, env=env, user="", ports=[port])
    f = service_finding(report)
    assert (rc, f["status"], f["fault"]) == (2, "fail", "site")
    assert f"chown nobody:nogroup {site.db}; chmod 0640 {site.db}" in f["remedy"]
    assert "accepted at installation" in f["remedy"]
    assert f"{site.db} was nobody:nogroup with mode 0640: it was changed on site" in f["detail"]
    assert f["evidence"]["changed_since_acceptance"] is True
    (d,) = f["evidence"]["access"]["denied"]
    assert d["accepted"]["mode"] == "0640" and d["mode"] == "0600" and d["owner"] == "root:root"


def test_a_database_on_a_filesystem_remounted_read_only_is_not_blamed_on_owner_or_mode(site, tmp_path):
    mnt = site.tmpfs()
    os.chown(mnt, NOBODY, NOBODY)
    os.chmod(mnt, 0o750)
    db = mnt / "cc.db"
    shutil.copy(site.db, db)
    os.chown(db, NOBODY, NOBODY)
    subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
    site.fails("sqlitewrite", str(db))
    cfg_db = {"database": {"items": [{"name": "cc", "url": f"sqlite:///{db}"}]}}
    facts, f = borrowed_judge(site, borrowed=cfg_db)
    assert (f.status, f.fault) == (Status.FAIL, Fault.UNDETERMINED)
    assert f.title == f"callcenter cannot open its database {db}: {db} is on {mnt}, mounted read-only"
    assert f"mount -o remount,rw {mnt}" in f.remedy and "chown" not in f.remedy
    assert any("readonly database" in ln for ln in f.evidence["log_lines"])


# --- a running service ----------------------------------------------------------------------

def test_a_running_service_warns_before_its_next_restart(site, tmp_path):
    port = free_port()
    proc = site.serve(port)
    os.chown(site.db, 0, 0)
    os.chmod(site.db, 0o600)
    facts, f = borrowed_judge(site, user="", ports=[port])
    assert facts["services"][0]["access"]["runs_as"]["source"] == "process"
    assert (f.status, f.fault) == (Status.WARN, Fault.SITE)
    assert f.title.startswith(f"callcenter will not open its database {site.db} at its next start")
    assert f"known from its running process {proc.pid}" in f.detail


# --- what must not be called a permissions fault ----------------------------------------------

def test_healthy_service_as_nobody_is_ok(site, tmp_path):
    port = free_port()
    site.serve(port)
    rc, report = run_report(site, tmp_path, ports=[port])
    f = service_finding(report)
    assert (rc, f["status"]) == (0, "ok"), f["title"]


def test_an_acl_that_grants_access_is_not_a_denial(site, tmp_path):
    if not shutil.which("setfacl"):
        pytest.skip("setfacl (package acl) not installed")
    os.chown(site.db, 0, 0)
    os.chmod(site.db, 0o600)
    subprocess.run(["setfacl", "-m", "u:nobody:rw", str(site.db)], check=True)
    port = free_port()
    site.serve(port)
    facts, f = borrowed_judge(site, ports=[port])
    assert f.status is Status.OK, f.title


def test_a_service_running_as_root_is_not_refused_a_root_only_file(site, tmp_path):
    os.chown(site.db, 0, 0)
    os.chmod(site.db, 0o600)
    facts, f = borrowed_judge(site, user="root")
    assert f.evidence["reason"] != "access-denied", f.title


def test_a_stopped_service_with_a_guessed_user_and_no_refusal_stays_stopped(site, tmp_path):
    # Its log (owned by nobody) says nothing about files; the database folder
    # is root's: a guess about its user is not enough to blame the files.
    site.log.write_text("2026-12-01 08:00:00,000 INFO ccserver: starting, mode serve\n")
    os.chown(site.log, NOBODY, NOBODY)
    os.chown(site.home, 0, 0)
    facts, f = borrowed_judge(site, user="")
    assert f.evidence["reason"] == "stopped", f.title


# --- who it runs as, from its systemd unit, on a recorded tree (--root) --------------------------

def test_unit_user_on_a_recorded_tree_names_the_user_and_the_folder(tmp_path):
    """A copy of a server's files (as sos or a technician's tar brings them):
    the unit says User=cc, the database folder was chowned to root 0700."""
    t = tmp_path / "tree"
    for d in ("etc/systemd/system", "var/lib/cc", "var/log/cc", "proc"):
        (t / d).mkdir(parents=True)
    os.chmod(t, 0o755)
    (t / "proc/stat").write_text("btime 1764550000\n")
    (t / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\ncc:x:1001:1001::/var/lib/cc:/usr/sbin/nologin\n")
    (t / "etc/group").write_text("root:x:0:\ncc:x:1001:\n")
    (t / "etc/systemd/system/callcenter.service").write_text(
        "[Unit]\nDescription=Call center\n\n[Service]\nUser=cc\nExecStart=/opt/cc/bin/ccserver\n")
    with sqlite3.connect(t / "var/lib/cc/cc.db") as db:
        db.execute("CREATE TABLE agents (name TEXT)")
    os.chown(t / "var/lib/cc/cc.db", 1001, 1001)
    os.chmod(t / "var/lib/cc", 0o700)  # root's now: a chown -R root run one folder too high
    log = t / "var/log/cc/server.log"
    log.write_text("2026-12-01 07:00:00,000 INFO ccserver: starting\n"
                   "2026-12-01 07:00:00,012 ERROR ccserver: cannot open /var/lib/cc/cc.db: "
                   "sqlite3.OperationalError: unable to open database file\n")
    os.chown(log, 1001, 1001)
    cfg = tmp_path / "site.toml"
    cfg.write_text('[site]\nrole = "server"\n\n[[service]]\nname = "callcenter"\nunit = "callcenter.service"\n'
                   'log = "/var/log/cc/server.log"\ndatabases = ["cc"]\n\n'
                   '[[database]]\nname = "cc"\nurl = "sqlite:////var/lib/cc/cc.db"\n')
    done = run_cli("run", "--config", str(cfg), "--root", str(t), "--only", "application.services",
                   "--format", "json")
    assert done.returncode == 2, done.stderr
    f = service_finding(json.loads(done.stdout))
    assert (f["status"], f["fault"]) == ("fail", "site")
    assert f["title"] == ("callcenter cannot open its database /var/lib/cc/cc.db: /var/lib/cc is root:root with "
                          "mode 0700: user cc cannot pass through it")
    assert "runs as cc (uid 1001; known from its unit's User=)" in f["detail"]
    assert "chown cc:cc /var/lib/cc; chmod u+rwx /var/lib/cc" in f["remedy"]
    assert "systemctl start callcenter.service" in f["remedy"]


# --- diagnose itself without root ----------------------------------------------------------------

def test_without_root_the_refused_database_check_nests_under_the_service(site, tmp_path, unprivileged):
    """Run as nobody too, diagnose is refused the root:root 0600 file like the
    service: the database check's 'not allowed to read' is the same site
    fault, nested, not a second root."""
    from tests.test_not_root import _as_nobody

    os.chown(site.db, 0, 0)
    os.chmod(site.db, 0o600)
    site.fails("sqlitewrite")
    cfg = site.config(unprivileged.work)
    os.chmod(cfg, 0o644)
    code, report = _as_nobody(unprivileged, str(cfg), "application.services", "database.integrity")
    f = {x["check"]: x for x in report["findings"]}
    svc, db = f["application.services"], f["database.integrity"]
    assert (svc["status"], svc["fault"], svc["evidence"]["reason"]) == ("fail", "site", "access-denied")
    assert db["evidence"]["reason"] == "permission" and db["caused_by"] == [svc["id"]]
    assert (report["verdict"]["site_faults"], report["verdict"]["software_faults"]) == (1, 0)
