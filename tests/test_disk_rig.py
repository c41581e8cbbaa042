"""disk.space against real filesystems: a tmpfs filled with a foreign user's
films and music (site fault) or with the application's own call recordings
(software fault), probed and judged as the runner does, and through the
real CLI in json, text and html."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from diagnose.checks.disk.check import DiskSpace
from diagnose.checks.disk.scan import scan
from diagnose.check import section_config
from diagnose.host import Host
from tests.conftest import needs_root, run_cli
from tests.rigs.disk import small_fs  # noqa: F401  (fixture)

pytestmark = needs_root
CHECK = DiskSpace()


def probe_and_judge(values: dict):
    cfg = section_config(CHECK, values)
    facts = json.loads(json.dumps(CHECK.probe(Host("/"), cfg)))
    return facts, CHECK.judge(facts, cfg)


def films_and_music(fs) -> None:
    fs.fill("share/Movies/Holiday 2026.mkv", 5_800_000, "nobody")
    fs.fill("share/Music/Best of.flac", 2_100_000, "www-data")
    fs.fill("callcenter/recordings/2026-11-22/call-0001.wav", 200_000)


def call_recordings(fs) -> None:
    for day in range(1, 8):
        for call in range(3):
            fs.fill(f"callcenter/recordings/2026-11-{day:02d}/call-{call:04d}.wav", 390_000)
    fs.fill("share/notes.txt", 20_000, "nobody")


def test_foreign_films_and_music_fill_the_disk_site_fault(small_fs):
    fs = small_fs()
    films_and_music(fs)
    facts, findings = probe_and_judge({"mounts": [fs.mountpoint], "app_paths": [fs.path("callcenter")]})
    [f] = findings
    assert (f.subject, str(f.status), str(f.fault)) == (fs.mountpoint, "fail", "site")
    assert f.evidence["mount"] == fs.mountpoint
    movies, music = f.evidence["scan"]["top_dirs"][:2]
    assert movies["path"] == fs.path("share/Movies") and movies["owners"][0]["owner"] == "nobody"
    assert set(movies["types"]) == {"video"}
    assert music["path"] == fs.path("share/Music") and music["owners"][0]["owner"] == "www-data"
    assert set(music["types"]) == {"audio"}
    assert "Movies" in f.title and "nobody" in f.title
    assert f.remedy.steps[0].text.startswith(f"Move or delete {fs.path('share/Movies')} (5.5 MB, owner nobody)")
    assert fs.path("share/Music") in f.remedy and "www-data" in f.remedy
    # The recording under app_paths is counted as the application's, not foreign.
    assert f.evidence["scan"]["app_paths"][0]["path"] == fs.path("callcenter")
    assert f.evidence["scan"]["app_bytes"] == 200_704


def test_own_call_recordings_fill_the_disk_software_fault(small_fs):
    fs = small_fs()
    call_recordings(fs)
    _, [f] = probe_and_judge({"mounts": [fs.mountpoint], "app_paths": [fs.path("callcenter")]})
    assert (str(f.status), str(f.fault)) == ("fail", "software")
    assert fs.path("callcenter") in f.title
    assert "retention" in f.detail and "audio" in f.detail
    # The suggested command, pasted into a shell, lists the files that filled the disk.
    command = f.remedy.steps[-1].command
    assert command.startswith(f"find {fs.path('callcenter')} -xdev")
    listed = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30).stdout
    biggest = max((p for p in Path(fs.path("callcenter")).rglob("*") if p.is_file()),
                  key=lambda p: p.stat().st_blocks)
    assert str(biggest) in listed.splitlines()[-1]
    # Nothing the foreign side holds is offered for deletion.
    assert "notes.txt" not in f.remedy


def test_space_to_spare_is_ok_with_free_space_as_evidence(small_fs):
    fs = small_fs()
    fs.fill("callcenter/recordings/a.wav", 1_000_000)
    facts, [f] = probe_and_judge({"mounts": [fs.mountpoint]})
    assert str(f.status) == "ok" and f.fault is None
    assert f.evidence["free_percent"] > 80 and f.evidence["inodes_free_percent"] > 90
    assert f.evidence["mount"] == fs.mountpoint
    assert facts["mounts"][0]["scan"] is None  # plenty free: auto does not walk


def test_inodes_exhausted_by_foreign_files_while_space_is_free(small_fs):
    fs = small_fs(inodes=96)
    try:
        fs.touch_many("share/thumbnails", 120, "nobody")
    except OSError:
        pass  # ENOSPC on inodes is the point
    _, [f] = probe_and_judge({"mounts": [fs.mountpoint], "app_paths": [fs.path("callcenter")]})
    assert (str(f.status), str(f.fault)) == ("fail", "site")
    assert "out of inodes" in f.title and fs.path("share/thumbnails") in f.title
    assert f.evidence["free_percent"] > 90
    assert fs.path("share/thumbnails") in f.remedy and "files" in f.remedy


def test_scan_never_crosses_into_another_mount(small_fs):
    fs = small_fs()
    fs.fill("share/Movies/a.mkv", 1_000_000, "nobody")
    inner = fs.mount_inside("share/backup", "4m")
    with open(os.path.join(inner, "huge.iso"), "wb") as fh:
        fh.write(os.urandom(3_000_000))
    got = scan(Host("/"), fs.mountpoint, [], budget_s=10)
    assert got["other_mounts"] == [inner]
    assert got["bytes"] == 1_003_520  # the film only; the ISO is on the inner mount
    assert all(r["path"] != inner for r in got["top_files"])


def test_hard_links_count_once_and_unknown_uids_show_as_numbers(small_fs):
    fs = small_fs()
    p = fs.fill("share/a.mp4", 1_000_000)
    os.link(p, fs.path("share/b.mp4"))
    os.chown(p, 4242, 4242)  # a uid with no /etc/passwd entry
    got = scan(Host("/"), fs.mountpoint, [], budget_s=10)
    assert got["files"] == 1 and got["bytes"] == 1_003_520
    assert got["owners"] == [{"owner": "4242", "uid": 4242, "bytes": 1_003_520}]


def test_walk_stops_at_its_budget_and_says_so(small_fs):
    fs = small_fs()
    films_and_music(fs)
    got = scan(Host("/"), fs.mountpoint, [], budget_s=0)
    assert got["stopped_early"] and not got["complete"] and got["unscanned_dirs"] == 1
    # 0 is not a valid budget in a config; a nanosecond runs out before the first directory
    _, [f] = probe_and_judge({"mounts": [fs.mountpoint], "scan_budget_s": 1e-9})
    assert str(f.fault) == "undetermined" and "stopped early" in f.title
    assert "scan_budget_s" in f.remedy


def _cli_report(fs, fmt: str, *extra: str):
    cfg = fs.config(f'app_paths = ["{fs.path("callcenter")}"]\n')
    return run_cli("run", "--config", cfg, "--only", "disk.space", "--format", fmt, *extra)


def test_cli_json_text_html_site_fault(small_fs):
    fs = small_fs()
    films_and_music(fs)
    res = _cli_report(fs, "json")
    assert res.returncode == 2, res.stderr
    report = json.loads(res.stdout)
    assert report["verdict"]["site_faults"] == 1 and report["verdict"]["software_faults"] == 0
    [f] = report["findings"]
    assert f["id"] == f"disk.space:{fs.mountpoint}" and f["fault"] == "site"
    assert f["evidence"]["scan"]["top_dirs"][0]["owners"][0]["owner"] == "nobody"

    text = _cli_report(fs, "text")
    assert text.returncode == 2
    assert f"Move or delete {fs.path('share/Movies')} (5.5 MB, owner nobody)" in " ".join(text.stdout.split())
    assert "1 site fault" in text.stdout

    html = _cli_report(fs, "html")
    assert html.returncode == 2
    assert fs.path("share/Movies") in html.stdout and "www-data" in html.stdout


def test_cli_json_text_html_software_fault(small_fs):
    fs = small_fs()
    call_recordings(fs)
    res = _cli_report(fs, "json")
    assert res.returncode == 2, res.stderr
    report = json.loads(res.stdout)
    assert report["verdict"]["software_faults"] == 1 and report["verdict"]["site_faults"] == 0
    assert report["findings"][0]["fault"] == "software"
    text = _cli_report(fs, "text")
    assert "1 software fault" in text.stdout and "retention" in text.stdout
    html = _cli_report(fs, "html")
    assert fs.path("callcenter") in html.stdout and "software" in html.stdout


def test_cli_exit_code_warn_and_ok(small_fs):
    fs = small_fs()
    fs.fill("share/Movies/a.mkv", 7_300_000, "nobody")  # about 13% free: below warn 15
    assert _cli_report(fs, "json").returncode == 1
    empty = small_fs()
    res = _cli_report(empty, "json")
    assert res.returncode == 0, res.stdout
    assert json.loads(res.stdout)["findings"][0]["status"] == "ok"


def test_save_facts_then_from_facts_gives_the_same_findings(small_fs, tmp_path):
    fs = small_fs()
    films_and_music(fs)
    facts = tmp_path / "facts.json"
    live = _cli_report(fs, "json", "--save-facts", str(facts))
    again = run_cli("run", "--from-facts", str(facts), "--only", "disk.space", "--format", "json")
    assert again.returncode == live.returncode == 2
    assert json.loads(again.stdout)["findings"] == json.loads(live.stdout)["findings"]


def test_hostile_and_undecodable_directory_names_reach_reports_safely(small_fs):
    fs = small_fs()
    fs.fill("share/<script>alert(1)</script>/film.mkv", 5_300_000, "nobody")
    bad = os.path.join(os.fsencode(fs.path("share")), b"M\xfcsik")  # Latin-1, not UTF-8
    os.makedirs(bad)
    with open(os.path.join(bad, b"song.mp3"), "wb") as fh:
        fh.write(os.urandom(2_800_000))
    html = _cli_report(fs, "html")
    assert html.returncode == 2, html.stderr
    assert "<script>alert(1)" not in html.stdout and "&lt;script&gt;alert(1)" in html.stdout
    text = _cli_report(fs, "text")
    assert text.returncode == 2, text.stderr
    assert f"{fs.path('share')}/M\ufffdsik" in text.stdout


def test_ext4_figures_match_df_and_count_root_reserved_blocks_as_unusable(small_fs):
    fs = small_fs("32m", 4096, ext4=True)
    st = os.statvfs(fs.mountpoint)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    avail = st.f_bavail * st.f_frsize
    # Leave 3% of the usable space free: below fail_free_percent 5, while the
    # free blocks including the 5% reserved for root would still look fine.
    fs.fill("share/Movies/a.mkv", avail - int(0.03 * (used + avail)) - 64 * 1024, "nobody")
    out = subprocess.run(["df", "-B1", "--output=avail,pcent,iavail,ipcent", fs.mountpoint],
                         capture_output=True, text=True, check=True).stdout.split("\n")[1].split()
    df_avail, used_pct, iavail, iused_pct = (int(v.rstrip("%")) for v in out)
    facts, [f] = probe_and_judge({"mounts": [fs.mountpoint]})
    ev = f.evidence
    assert ev["free_bytes"] == df_avail and ev["inodes_free"] == iavail
    # df rounds the used share up; ours is the exact free share.
    assert used_pct - 1 < 100 - ev["free_percent"] <= used_pct
    assert iused_pct - 1 < 100 - ev["inodes_free_percent"] <= iused_pct
    m = facts["mounts"][0]
    assert m["bfree"] / m["blocks"] > 0.05  # counting root's reserve as free would pass
    assert (ev["fstype"], str(f.status), str(f.fault)) == ("ext4", "fail", "site")
    assert f.evidence["scan"]["top_dirs"][0]["path"] == fs.path("share/Movies")


def test_bind_mount_of_the_same_filesystem_is_not_counted_twice(small_fs):
    fs = small_fs()
    fs.fill("share/Movies/a.mkv", 3_000_000, "nobody")
    os.makedirs(fs.path("export/movies"))
    subprocess.run(["mount", "--bind", fs.path("share/Movies"), fs.path("export/movies")], check=True)
    fs.inner.append(fs.path("export/movies"))  # unmounted by the fixture
    facts, [f] = probe_and_judge({"mounts": [fs.mountpoint], "scan": "always"})
    scan = facts["mounts"][0]["scan"]
    assert scan["other_mounts"] == [fs.path("export/movies")]
    assert scan["files"] == 1 and scan["bytes"] == os.lstat(fs.path("share/Movies/a.mkv")).st_blocks * 512
