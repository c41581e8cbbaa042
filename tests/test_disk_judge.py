"""disk.space judgement from recorded facts, and which mounts the probe
audits by default (a recorded tree with its own mountinfo stands in for the
machine)."""

from __future__ import annotations

import copy
import json
import os

from diagnose.checks.disk.check import DiskSpace
from diagnose.check import section_config
from diagnose.host import Host
from tests.conftest import load_scenarios

CHECK = DiskSpace()
SCENARIOS = dict(load_scenarios("disk.space"))


def judge(name: str, **overrides):
    sc = copy.deepcopy(SCENARIOS[name])
    values = {**sc["config"], **overrides}
    return sc["facts"], CHECK.judge(sc["facts"], section_config(CHECK, values))


def test_recorded_full_foreign_names_directories_owners_and_types():
    facts, [f] = judge("full-foreign")
    mp = facts["mounts"][0]["mountpoint"]
    assert f.evidence["mount"] == mp == f.subject
    assert f"{mp}/share/Movies (5.5 MB, owner nobody, mostly video)" in f.detail
    assert f"{mp}/share/Music (2.0 MB, owner www-data, mostly audio)" in f.detail
    assert f.remedy.steps[0].text.startswith(f"Move or delete {mp}/share/Movies (5.5 MB, owner nobody)")
    assert f.remedy.steps[1].command == f"df -h {mp}"


def test_recorded_full_app_names_the_app_path_for_the_vendor():
    facts, [f] = judge("full-app")
    mp = facts["mounts"][0]["mountpoint"]
    assert str(f.fault) == "software"
    assert f.remedy.steps[0].text.startswith(f"Vendor: enable retention/rotation for {mp}/callcenter")


def test_absolute_threshold_warns_where_the_percentage_does_not():
    _, [f] = judge("ok")
    assert str(f.status) == "ok"
    _, [f] = judge("ok", warn_free_mb=10)
    assert str(f.status) == "warn" and "warn_free_mb 10" in f.detail
    _, [f] = judge("ok", warn_free_mb=10, fail_free_mb=6)
    assert str(f.status) == "fail"


def test_space_held_by_deleted_open_files_is_undetermined():
    sc = copy.deepcopy(SCENARIOS["full-foreign"])
    scan = sc["facts"]["mounts"][0]["scan"]
    # The walk found almost nothing, yet df counts the disk as full.
    scan.update(bytes=8192, foreign_bytes=8192, app_bytes=0)
    [f] = CHECK.judge(sc["facts"], section_config(CHECK, sc["config"]))
    assert str(f.fault) == "undetermined" and "lsof +L1" in f.remedy


def test_mostly_app_but_some_foreign_is_still_software():
    sc = copy.deepcopy(SCENARIOS["full-app"])
    scan = sc["facts"]["mounts"][0]["scan"]
    scan["foreign_bytes"] = scan["app_bytes"] // 3
    [f] = CHECK.judge(sc["facts"], section_config(CHECK, sc["config"]))
    assert str(f.fault) == "software" and "75% of the data found" in f.detail


def test_missing_configured_mount_and_configured_network_fs():
    facts = {"mounts": [], "missing": ["/srv/recordings"], "app_paths": [],
             "skipped": [{"mountpoint": "/mnt/nas", "fstype": "nfs4", "kind": "network",
                          "reason": "a network filesystem (nfs4): audit it on the server that exports it",
                          "configured": ["/mnt/nas"]}]}
    missing, nas = CHECK.judge(facts, section_config(CHECK, {}))
    assert (missing.subject, str(missing.status), str(missing.fault)) == (
        "/srv/recordings", "warn", "undetermined")
    assert "mount /srv/recordings" in missing.remedy
    assert (nas.subject, str(nas.status)) == ("/mnt/nas", "skip") and "network" in nas.title


def _recorded_machine(tmp_path) -> Host:
    """A tree with its own /proc/self/mountinfo: every kind of mount."""
    lines = [
        "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw",
        "22 27 0:21 / /proc rw - proc proc rw",
        "24 27 0:6 / /dev rw - devtmpfs devtmpfs rw",
        "40 27 0:40 / /run rw - tmpfs tmpfs rw",
        "41 27 254:1 / /srv rw - ext4 /dev/vdb rw",
        "42 27 254:1 /share /export rw - ext4 /dev/vdb rw",
        "43 27 0:50 / /mnt/nas rw - nfs4 nas:/vol rw",
        "44 27 7:0 / /snap/core/1 ro - squashfs /dev/loop0 ro",
        "45 27 254:2 / /mnt/backup ro - ext4 /dev/vdc ro",
        "46 27 254:0 /etc/hostname /etc/hostname rw - ext4 /dev/vda rw",
        "47 27 0:51 / /media/my\\040disk rw - ext4 /dev/sdb1 rw",
    ]
    os.makedirs(tmp_path / "proc/self")
    (tmp_path / "proc/self/mountinfo").write_text("\n".join(lines) + "\n")
    for d in ("srv", "export", "run", "mnt/nas", "snap/core/1", "mnt/backup", "media/my disk", "dev", "etc"):
        os.makedirs(tmp_path / d, exist_ok=True)
    (tmp_path / "etc/hostname").write_text("cc-srv01\n")
    return Host(str(tmp_path))


def test_default_audits_real_local_filesystems_and_lists_the_rest(tmp_path):
    host = _recorded_machine(tmp_path)
    facts = json.loads(json.dumps(CHECK.probe(host, section_config(CHECK, {"scan": "never"}))))
    assert [m["mountpoint"] for m in facts["mounts"]] == ["/", "/media/my disk", "/srv"]
    why = {s["mountpoint"]: s["reason"] for s in facts["skipped"]}
    assert "pseudo" in why["/proc"] and "pseudo" in why["/dev"]
    assert "in memory" in why["/run"]
    assert why["/export"] == "the same filesystem as /srv"
    assert "network" in why["/mnt/nas"] and "image" in why["/snap/core/1"]
    assert "read-only" in why["/mnt/backup"]
    assert "single file" in why["/etc/hostname"]
    findings = CHECK.judge(facts, section_config(CHECK, {"scan": "never"}))
    assert [f.subject for f in findings] == ["/", "/media/my disk", "/srv"]


def test_configured_path_is_audited_on_the_mount_holding_it(tmp_path):
    host = _recorded_machine(tmp_path)
    os.makedirs(tmp_path / "srv/callcenter")
    cfg = section_config(CHECK, {"mounts": ["/srv/callcenter", "/mnt/nas", "/nowhere"], "scan": "never"})
    facts = CHECK.probe(host, cfg)
    assert [(m["mountpoint"], m["configured"]) for m in facts["mounts"]] == [("/srv", ["/srv/callcenter"])]
    assert facts["missing"] == ["/nowhere"]
    assert [s["mountpoint"] for s in facts["skipped"]] == ["/mnt/nas"]


def test_unmeasurable_mount_and_nothing_to_audit():
    facts = {"mounts": [{"mountpoint": "/srv", "fstype": "ext4", "source": "/dev/vdb", "device": "254:1",
                         "configured": [], "scan": None, "error": "statvfs failed: Input/output error"}],
             "skipped": [], "missing": [], "app_paths": []}
    [f] = CHECK.judge(facts, section_config(CHECK, {}))
    assert (str(f.status), str(f.fault)) == ("warn", "undetermined")
    assert "Input/output error" in f.title and "dmesg" in f.remedy and f.evidence["mount"] == "/srv"
    only_pseudo = {"mounts": [], "missing": [], "app_paths": [],
                   "skipped": [{"mountpoint": "/proc", "fstype": "proc", "kind": "pseudo",
                                "reason": "a pseudo filesystem (proc) holds no data", "configured": []}]}
    [f] = CHECK.judge(only_pseudo, section_config(CHECK, {}))
    assert str(f.status) == "skip" and f.evidence["skipped"][0]["mountpoint"] == "/proc"


def test_init_section_proposes_the_call_center_paths_found_here(tmp_path):
    from diagnose.compat import tomllib

    host = _recorded_machine(tmp_path)
    os.makedirs(tmp_path / "var/spool/asterisk/monitor")
    snippet = CHECK.init_section(host)
    values = tomllib().loads(snippet)["disk"]
    assert values == {"app_paths": ["/var/spool/asterisk/monitor"]}
    assert section_config(CHECK, values)["app_paths"] == ["/var/spool/asterisk/monitor"]
    assert "here: /, /media/my disk, /srv" in snippet
