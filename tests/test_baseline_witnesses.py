"""Who changed a file: each witness in the format the real software writes,
read through the host seam of a recorded tree. Real components where they
run here: etckeeper (Debian package) on a temporary /etc-like tree, util-linux
`last` reading the wtmp file the rig writes, SQLite for wtmpdb."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from diagnose.host import Host
from diagnose.state import logsources as L
from diagnose.state.whochanged import Witnesses
from tests.rigs import baseline as rig

DAHDI = "/etc/asterisk/chan_dahdi.conf"


@pytest.fixture
def tree(tmp_path):
    return rig.make_tree(tmp_path / "tree")


def witnesses(root, since, **kw) -> Witnesses:
    kw.setdefault("installer_accounts", ["integrator"])
    return Witnesses(Host(str(root)), since=since, recorded_by="integrator", **kw)


def found(by: dict) -> dict[str, dict]:
    return {s["source"]: s for s in by["sources"] if s["result"] == "found"}


# -- wtmp ---------------------------------------------------------------------------

def test_wtmp_records_are_real_struct_utmp_that_last_reads(tree):
    now = time.time()
    path = rig.write_wtmp(tree, [("ivan", "pts/0", now - 600, now - 60), ("petr", "tty1", now - 300, None)])
    assert path.stat().st_size == 384 * 4  # boot, ivan in and out, petr in
    if shutil.which("last"):  # util-linux reads the same bytes
        out = subprocess.run(["last", "-f", str(path), "-w"], capture_output=True, text=True).stdout
        lines = {ln.split()[0]: ln for ln in out.splitlines() if ln.strip()}
        assert "pts/0" in lines["ivan"] and "192.0.2.44" in lines["ivan"]
        # petr never logged out; last checks the pid, which is not running here
        assert "still logged in" in lines["petr"] or "gone - no logout" in lines["petr"]
        assert "system boot" in lines["reboot"]
    sessions = L.sessions_from_utmp(L.parse_utmp(path.read_bytes()))
    by_user = {s["user"]: s for s in sessions}
    assert by_user["ivan"]["line"] == "pts/0" and by_user["ivan"]["host"] == "192.0.2.44"
    assert abs(by_user["ivan"]["logout"] - (now - 60)) < 0.01
    assert by_user["petr"]["logout"] is None
    assert [s["user"] for s in L.open_at(sessions, now - 30)] == ["petr"]
    assert sorted(s["user"] for s in L.open_at(sessions, now - 100)) == ["ivan", "petr"]


def test_a_reboot_closes_sessions_left_open(tree):
    t = time.time() - 1000
    data = (rig.utmp(rig.USER_PROCESS, 10, "pts/3", "ivan", "", t)
            + rig.utmp(rig.BOOT_TIME, 0, "~", "reboot", "6.1.0", t + 100))
    (s,) = L.sessions_from_utmp(L.parse_utmp(data))
    assert s["logout"] == pytest.approx(t + 100) and s["ended_by"] == "reboot"


def test_one_session_open_at_the_change_is_medium_several_are_low(tree):
    since = time.time() - 3600
    ctime = rig.edit(tree / "etc/asterisk/chan_dahdi.conf", "rxgain=0.0", "rxgain=9.5")
    rig.write_wtmp(tree, [("ivan", "pts/0", ctime - 900, None), ("petr", "pts/1", ctime - 3000, ctime - 2000)])
    by = witnesses(tree, since).explain(DAHDI, ctime)
    assert (by["actor"], by["kind"], by["confidence"]) == ("ivan", "local", "medium")
    rig.write_wtmp(tree, [("ivan", "pts/0", ctime - 900, None), ("petr", "pts/1", ctime - 100, None)])
    by = witnesses(tree, since).explain(DAHDI, ctime)
    assert (by["actor"], by["kind"], by["confidence"]) == ("ivan or petr", "local", "low")


def test_debian_13_wtmpdb_sessions(tree):
    since = time.time() - 3600
    ctime = rig.edit(tree / "etc/asterisk/queues.conf", "strategy=ringall", "strategy=linear")
    rig.write_wtmpdb(tree, [("petr", "pts/4", ctime - 120, None), ("ivan", "pts/0", ctime - 3000, ctime - 2500)])
    by = witnesses(tree, since).explain("/etc/asterisk/queues.conf", ctime)
    assert (by["actor"], by["confidence"]) == ("petr", "medium")
    assert "/var/lib/wtmpdb/wtmp.db" in found(by)["sessions"]["where"]


# -- sudo -----------------------------------------------------------------------------

def test_sudo_line_in_traditional_syslog_format_with_a_relative_path(tree):
    since = time.time() - 3600
    ctime = rig.edit(tree / "etc/asterisk/chan_dahdi.conf", "txgain=0.0", "txgain=-3.0")
    rig.append(tree / "var/log/auth.log",
               rig.sudo_line(ctime - 40, "petr", "/usr/bin/mcedit chan_dahdi.conf", pwd="/etc/asterisk",
                             traditional=True)
               + rig.sudo_line(ctime - 30, "ivan", "/usr/bin/less /etc/asterisk/queues.conf", traditional=True))
    by = witnesses(tree, since).explain(DAHDI, ctime)
    assert (by["actor"], by["kind"], by["confidence"]) == ("petr", "local", "high")
    assert "mcedit chan_dahdi.conf" in found(by)["sudo"]["detail"]


def test_a_sudo_line_before_the_baseline_does_not_count(tree):
    ctime = rig.edit(tree / "etc/asterisk/chan_dahdi.conf", "rxgain=0.0", "rxgain=2.0")
    rig.append(tree / "var/log/auth.log", rig.sudo_line(ctime - 7200, "ivan", f"/usr/bin/vim {DAHDI}"))
    by = witnesses(tree, since=ctime - 3600).explain(DAHDI, ctime)
    assert by["actor"] is None and by["kind"] == "unknown"
    assert {s["source"]: s["result"] for s in by["sources"]}["sudo"] == "nothing"


# -- audit log ---------------------------------------------------------------------

def audit_records(ts: float, serial: int, auid: int, comm: str, exe: str) -> str:
    """An editor's rename over the file as the kernel audits it (audit.log
    raw format: SYSCALL, CWD, PATH records sharing msg=audit(time:serial))."""
    head = f"msg=audit({ts:.3f}:{serial}):"
    return (f'type=SYSCALL {head} arch=c000003e syscall=82 success=yes exit=0 a0=55d0 a1=55d1 a2=0 a3=0 '
            f'items=4 ppid=2211 pid=2300 auid={auid} uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 '
            f'fsgid=0 tty=pts0 ses=7 comm="{comm}" exe="{exe}" subj=unconfined key="asterisk-conf"\n'
            f'type=CWD {head} cwd="/etc/asterisk"\n'
            f'type=PATH {head} item=0 name="/etc/asterisk/" inode=1050 dev=fe:01 mode=040755 ouid=0 ogid=0 '
            f'rdev=00:00 nametype=PARENT cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0\n'
            f'type=PATH {head} item=1 name="chan_dahdi.conf" inode=1077 dev=fe:01 mode=0100640 ouid=0 '
            f'ogid=0 rdev=00:00 nametype=CREATE cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0\n'
            f'type=PROCTITLE {head} proctitle=76696D006368616E5F64616864692E636F6E66\n')


def test_the_audit_log_names_the_login_user_behind_root(tree):
    since = time.time() - 3600
    ctime = rig.edit(tree / "etc/asterisk/chan_dahdi.conf", "rxgain=0.0", "rxgain=9.5")
    rig.append(tree / "var/log/audit/audit.log", audit_records(ctime - 1, 1201, 1002, "vim", "/usr/bin/vim.basic"))
    by = witnesses(tree, since).explain(DAHDI, ctime)
    assert (by["actor"], by["kind"], by["confidence"]) == ("petr", "local", "high")
    assert "vim run by petr (auid 1002, uid 0)" in found(by)["audit"]["detail"]


def test_without_auditd_the_hint_says_how_to_know_next_time(tree):
    ctime = rig.edit(tree / "etc/asterisk/chan_dahdi.conf", "rxgain=0.0", "rxgain=9.5")
    by = witnesses(tree, since=ctime - 3600).explain(DAHDI, ctime)
    assert any("auditctl -w /etc/asterisk -p wa" in m for m in by["missing"])


# -- package managers -------------------------------------------------------------------

def test_a_package_upgrade_that_replaced_the_file(tree):
    since = time.time() - 3600
    rig.own(tree, "asterisk-config", DAHDI)
    ctime = rig.edit(tree / "etc/asterisk/chan_dahdi.conf", "echocancel=yes", "echocancel=no")
    rig.dpkg_upgrade(tree, ctime, "asterisk-config", "1:20.6.0-1", "1:20.8.0-1", DAHDI)
    by = witnesses(tree, since).explain(DAHDI, ctime, owner_package="asterisk-config")
    assert (by["actor"], by["kind"], by["confidence"]) == ("asterisk-config", "package", "high")
    assert "apt run by ivan" in found(by)["packages"]["detail"]
    vendor = witnesses(tree, since, vendor_packages=["asterisk-*"]).explain(DAHDI, ctime, "asterisk-config")
    assert vendor["kind"] == "vendor"


def test_package_log_parsers():
    dpkg = L.parse_dpkg_log(["2026-11-22 07:00:01 upgrade asterisk:amd64 1:18.0-1 1:20.6.0-1",
                             "2026-11-22 07:00:02 conffile /etc/asterisk/queues.conf keep",
                             "2026-11-22 07:00:03 status installed asterisk:amd64 1:20.6.0-1"])
    assert [(e["action"], e.get("package"), e.get("file")) for e in dpkg] == [
        ("upgrade", "asterisk", None), ("conffile", None, "/etc/asterisk/queues.conf"),
        ("status", "asterisk", None)]
    dnf = L.parse_dnf_log(["2026-11-22T07:00:00+0000 SUBDEBUG Upgrade: asterisk-18.20.0-1.el9.x86_64",
                           "2026-11-22T07:00:01+0000 SUBDEBUG Upgraded: asterisk-18.19.0-1.el9.x86_64"], 2026)
    assert [e["package"] for e in dnf] == ["asterisk", "asterisk"]
    yum = L.parse_dnf_log(["Nov 22 07:00:00 Updated: dahdi-tools-3.1.0-1.el7.x86_64"], 2026)
    assert yum[0]["package"] == "dahdi-tools"


# -- histories --------------------------------------------------------------------------

def test_a_timed_bash_history_line_is_medium_and_asterisk_cli_history_is_read(tree):
    since = time.time() - 3600
    ctime = rig.edit(tree / "etc/asterisk/queues.conf", "strategy=ringall", "strategy=linear")
    home = tree / "home/petr"
    home.mkdir(parents=True)
    (home / ".bash_history").write_text(f"#{int(ctime - 50)}\nsudo nano /etc/asterisk/queues.conf\n"
                                        f"#{int(ctime - 10)}\nls\n")
    by = witnesses(tree, since).explain("/etc/asterisk/queues.conf", ctime)
    assert (by["actor"], by["confidence"]) == ("petr", "medium")
    assert found(by)["history"]["where"] == "/home/petr/.bash_history"
    entries = L.parse_history("_HiStOrY_V2_\nqueue\\040show\\040support\nmodule\\040reload\\040app_queue.so\n")
    assert [c for _, c in entries] == ["queue show support", "module reload app_queue.so"]


def test_passwords_on_command_lines_are_masked(tree):
    since = time.time() - 3600
    ctime = rig.edit(tree / "etc/asterisk/queues.conf", "retry=5", "retry=2")
    rig.append(tree / "var/log/auth.log",
               rig.sudo_line(ctime - 5, "ivan", "/usr/bin/sed -i s/x/y/ /etc/asterisk/queues.conf --password=Hunter2x"))
    by = witnesses(tree, since).explain("/etc/asterisk/queues.conf", ctime)
    assert "Hunter2x" not in str(by) and "--password=***" in found(by)["sudo"]["detail"]


# -- etckeeper ----------------------------------------------------------------------------

@pytest.mark.skipif(not shutil.which("etckeeper"), reason="needs etckeeper (apt-get install etckeeper)")
def test_etckeeper_commit_author_is_the_actor(tree, tmp_path):
    etc = tree / "etc"
    env = dict(os.environ, HOME=str(tmp_path), GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
    for var in ("SUDO_USER", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        env.pop(var, None)

    def etckeeper(command, *args, user=None):
        # `etckeeper COMMAND -d DIR ARGS`: -d must come right after the command,
        # or etckeeper works on the real /etc.
        e = dict(env, **({"SUDO_USER": user} if user else {}))
        res = subprocess.run(["etckeeper", command, "-d", str(etc), *args], capture_output=True, text=True,
                             env=e, stdin=subprocess.DEVNULL, timeout=60)
        assert res.returncode == 0, res.stderr + res.stdout

    etckeeper("init")
    etckeeper("commit", "site accepted", user="integrator")
    since = time.time() - 3600
    ctime = rig.edit(etc / "asterisk/chan_dahdi.conf", "rxgain=0.0", "rxgain=9.5")
    w = witnesses(tree, since)
    pending = w.explain(DAHDI, ctime)
    assert {s["source"]: s["result"] for s in pending["sources"]}["etckeeper"] == "nothing"
    assert "not committed yet" in [s for s in pending["sources"] if s["source"] == "etckeeper"][0]["detail"]
    etckeeper("commit", "louder line 1", user="ivan")
    by = witnesses(tree, since).explain(DAHDI, ctime)
    assert (by["actor"], by["kind"], by["confidence"]) == ("ivan", "local", "high")
    assert "louder line 1" in found(by)["etckeeper"]["detail"]
