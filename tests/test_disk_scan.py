"""The who-is-eating-the-disk walk on plain directory trees (no root needed):
which directories it names, the app/foreign split, owners, file types, and
paths reported as system paths when the host is a recorded tree."""

from __future__ import annotations

import os

from diagnose.checks.disk.scan import group_of, read_passwd, scan
from diagnose.host import Host


def write(root, rel: str, size: int) -> None:
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as fh:
        fh.write(os.urandom(size))


def du(*paths) -> int:
    """Allocated bytes of files and directories, as du counts them."""
    total = 0
    for p in paths:
        total += os.lstat(p).st_blocks * 512
        for d, dirs, files in os.walk(p):
            total += sum(os.lstat(os.path.join(d, n)).st_blocks * 512 for n in dirs + files)
    return total


def by_path(rows):
    return {r["path"]: r for r in rows}


def test_names_the_big_directories_not_their_ancestors(tmp_path):
    write(tmp_path, "home/ivan/Videos/a.mkv", 400_000)
    write(tmp_path, "home/ivan/Videos/b.avi", 400_000)
    write(tmp_path, "home/ivan/Music/c.mp3", 200_000)
    write(tmp_path, "home/ivan/loose.zip", 150_000)  # files directly in ivan: named as a rest
    for i in range(30):
        write(tmp_path, f"etc/conf{i}.txt", 10)  # many tiny files: below the 2% cut-off
    got = scan(Host("/"), str(tmp_path), [], budget_s=10)
    rows = by_path(got["top_dirs"])
    root = str(tmp_path)
    assert f"{root}/home/ivan/Videos" in rows and f"{root}/home/ivan/Music" in rows
    assert rows[f"{root}/home/ivan/Videos"]["types"] == {
        "video": du(f"{root}/home/ivan/Videos/a.mkv", f"{root}/home/ivan/Videos/b.avi")}
    rest = rows[f"{root}/home/ivan"]
    assert rest["excluding"] == [f"{root}/home/ivan/Music", f"{root}/home/ivan/Videos"]
    assert rest["types"] == {"archives": du(f"{root}/home/ivan/loose.zip")}
    assert f"{root}/home" not in rows and root not in rows
    assert got["top_dirs"][0]["path"] == f"{root}/home/ivan/Videos"  # largest first
    assert [f["path"] for f in got["top_files"][:2]] == [f"{root}/home/ivan/Videos/a.mkv",
                                                         f"{root}/home/ivan/Videos/b.avi"]


def test_app_paths_split_nested_and_mount_inside_app_path(tmp_path):
    write(tmp_path, "cc/recordings/x.wav", 300_000)
    write(tmp_path, "cc/logs/server.log", 100_000)
    write(tmp_path, "share/film.mp4", 50_000)
    root = str(tmp_path)
    got = scan(Host("/"), root, [f"{root}/cc", f"{root}/cc/logs"], budget_s=10)
    apps = by_path(got["app_paths"])
    # The nested app path keeps its own share.
    assert apps[f"{root}/cc"]["bytes"] == du(f"{root}/cc") - du(f"{root}/cc/logs")
    assert apps[f"{root}/cc/logs"]["bytes"] == du(f"{root}/cc/logs")
    assert got["app_bytes"] == du(f"{root}/cc")
    assert got["foreign_bytes"] == du(root) - du(f"{root}/cc")
    assert got["top_dirs"][0]["path"] == f"{root}/share"
    assert got["types"]["foreign"] == {"video": du(f"{root}/share/film.mp4")}
    # A mountpoint inside an app path: everything on it is the application's.
    inside = scan(Host("/"), f"{root}/cc/recordings", [root], budget_s=10)
    assert inside["foreign_bytes"] == 0 and inside["top_dirs"] == []
    assert inside["app_paths"][0]["path"] == root


def test_recorded_tree_reports_system_paths_and_its_own_user_names(tmp_path):
    os.makedirs(tmp_path / "etc")
    (tmp_path / "etc/passwd").write_text(f"ivan:x:{os.getuid()}:100::/home/ivan:/bin/sh\n")
    write(tmp_path, "srv/share/Movies/film.mkv", 100_000)
    host = Host(str(tmp_path))
    got = scan(host, "/srv", [], budget_s=10)
    assert got["top_dirs"][0]["path"] == "/srv/share/Movies"
    assert got["top_dirs"][0]["owners"][0]["owner"] == "ivan"
    assert got["top_files"][0]["path"] == "/srv/share/Movies/film.mkv"
    assert read_passwd(host) == {os.getuid(): "ivan"}


def test_file_type_groups_by_extension():
    assert [group_of(e) for e in ("MKV", "mp4", "wav", "gsm", "tar", "zst", "iso", "qcow2", "log", "")] == [
        "video", "video", "audio", "audio", "archives", "archives", "disk images", "disk images",
        "other", "other"]


def test_unreadable_directory_is_counted_not_fatal(tmp_path):
    write(tmp_path, "a/b.txt", 10)
    os.symlink("/nonexistent", tmp_path / "dangling")  # a symlink is a file entry, never followed
    got = scan(Host("/"), str(tmp_path), [], budget_s=10)
    assert got["complete"] and got["unreadable"] == 0 and got["files"] == 2


class _Clock:
    """A clock that moves one second each time it is read: the walk's
    budget runs out after a known number of looks, whatever the machine's
    speed (no timing in tests)."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 1.0
        return self.now


def test_budget_is_checked_inside_one_big_directory(tmp_path, monkeypatch):
    from diagnose.checks.disk import scan as diskscan

    spool = tmp_path / "monitor"
    spool.mkdir()
    total = 3 * diskscan.CLOCK_EVERY
    for i in range(total):
        (spool / f"call{i:05d}.wav").write_bytes(b"x")
    monkeypatch.setattr(diskscan, "time", _Clock())
    # t0 = 1, the look before the directory = 2, the first look inside = 3:
    # a budget of 1.5 s runs out at the first look inside the directory.
    got = diskscan.scan(Host("/"), str(spool), [], budget_s=1.5, names={})
    assert got["stopped_early"] is True and got["complete"] is False
    assert got["partial_dirs"] == 1
    assert got["files"] == diskscan.CLOCK_EVERY - 1  # counted until the budget ran out
    assert list(got["types"]["all"]) == ["audio"]  # grouped, not per extension


def test_walk_budget_fits_inside_the_check_timeout():
    from diagnose.checks.disk.check import walk_budget

    assert walk_budget(5.0, None, 0.0) == 5.0
    assert walk_budget(5.0, 30.0, 0.2) == 5.0
    # 10 s timeout, 0.5 s spent before the walk: 2 s (a fifth) left to summarise.
    assert walk_budget(60.0, 10.0, 0.5) == 7.5
    assert walk_budget(60.0, 1.0, 0.9) == 0.0
