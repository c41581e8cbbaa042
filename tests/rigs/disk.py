"""Real small filesystems for disk.space tests.

``small_fs`` mounts a fresh tmpfs (8 MB, a limited inode table), or a
loop-mounted ext4 image, under a
temporary directory named after this area and the pid, so parallel test runs
of other engineers never meet it; the finalizer unmounts it (lazily if a
process still holds it) and removes the directory, even when a test fails.
Files are written with real data and handed to real system users, so sizes,
owners and st_dev boundaries are exactly what the probe will meet on a site.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field

import pytest

_counter = itertools.count()


@dataclass
class SmallFs:
    """A mounted tmpfs and helpers to fill it."""

    base: str  # the temporary directory holding the mountpoint
    mountpoint: str
    inner: list[str] = field(default_factory=list)  # mounts stacked inside it

    def path(self, rel: str) -> str:
        return os.path.join(self.mountpoint, rel)

    def fill(self, rel: str, size: int, owner: str = "root") -> str:
        """Write *size* bytes of incompressible data to *rel*, owned by *owner*."""
        p = self.path(rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as fh:
            fh.write(os.urandom(size))
        pw = pwd.getpwnam(owner)
        os.chown(p, pw.pw_uid, pw.pw_gid)
        return p

    def touch_many(self, rel_dir: str, count: int, owner: str = "root") -> None:
        """Create *count* empty files (each takes an inode, no blocks)."""
        d = self.path(rel_dir)
        os.makedirs(d, exist_ok=True)
        pw = pwd.getpwnam(owner)
        for i in range(count):
            p = os.path.join(d, f"cdr-{i:05d}.txt")
            with open(p, "wb"):
                pass
            os.chown(p, pw.pw_uid, pw.pw_gid)

    def mount_inside(self, rel: str, size: str = "1m") -> str:
        """Mount another tmpfs inside this one (the scan must not enter it)."""
        p = self.path(rel)
        os.makedirs(p, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", f"dgdisk-inner-{os.getpid()}", p],
                       check=True)
        self.inner.append(p)
        return p

    def config(self, extra: str = "") -> str:
        """A diagnose config auditing only this filesystem, as a file path."""
        path = os.path.join(self.base, "diagnose.toml")
        with open(path, "w") as fh:
            fh.write(f'[site]\nrole = "server"\n\n[disk]\nmounts = ["{self.mountpoint}"]\n{extra}')
        return path


def _umount(p: str) -> None:
    if subprocess.run(["umount", p], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", p], capture_output=True)


@contextlib.contextmanager
def small_filesystems():
    """A factory ``make(size="8m", inodes=2048) -> SmallFs``; everything it
    mounted is unmounted and removed on exit."""
    made: list[SmallFs] = []

    def make(size: str = "8m", inodes: int = 2048, ext4: bool = False) -> SmallFs:
        base = tempfile.mkdtemp(prefix=f"dgdisk-{os.getpid()}-{next(_counter)}-")
        mp = os.path.join(base, "srv")
        os.mkdir(mp)
        fs = SmallFs(base, mp)
        made.append(fs)
        if ext4:
            # A loop-mounted ext4 image: root-reserved blocks and real inode tables.
            image = os.path.join(base, "disk.img")
            with open(image, "wb") as fh:
                fh.truncate(int(size.rstrip("m")) * 1024 * 1024)
            subprocess.run(["mkfs.ext4", "-q", "-F", "-N", str(inodes), image], check=True)
            subprocess.run(["mount", "-o", "loop", image, mp], check=True)
        else:
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},nr_inodes={inodes},mode=755",
                            f"dgdisk-{os.getpid()}", mp], check=True)
        return fs

    try:
        yield make
    finally:
        for fs in made:
            for p in reversed(fs.inner):
                _umount(p)
            _umount(fs.mountpoint)
            shutil.rmtree(fs.base, ignore_errors=True)


@pytest.fixture
def small_fs():
    """``small_fs(size="8m", inodes=2048)`` -> a mounted SmallFs, cleaned up after."""
    with small_filesystems() as make:
        yield make


# -- recording tests/data/disk.space scenarios from the real rig --------------
# Run `python3 -m tests.rigs.disk` as root to re-record them: each scenario is
# built on a real tmpfs, probed by the real probe, and saved with what the
# judge must conclude.

def _scenarios():
    """(name, description, tmpfs size, inode count, config, build(fs), expect)."""
    def films(fs: SmallFs, movies: int, music: int) -> None:
        fs.fill("share/Movies/Holiday 2026.mkv", movies, "nobody")
        fs.fill("share/Music/Best of.flac", music, "www-data")
        fs.fill("callcenter/recordings/2026-11-22/call-0001.wav", 200_000)

    def recordings(fs: SmallFs) -> None:
        for day in range(1, 8):
            for call in range(3):
                fs.fill(f"callcenter/recordings/2026-11-{day:02d}/call-{call:04d}.wav", 390_000)
        fs.fill("share/notes.txt", 20_000, "nobody")

    app = lambda fs: {"mounts": [fs.mountpoint], "app_paths": [fs.path("callcenter")]}  # noqa: E731
    return [
        ("ok", "Half-empty 8 MB tmpfs with a few recordings: ok, free space and inodes as evidence",
         "8m", 2048, app, lambda fs: films(fs, 2_000_000, 1_000_000),
         lambda fs: [{"subject": fs.mountpoint, "status": "ok", "title_contains": "free"}]),
        ("warn", "8 MB tmpfs 90% full, mostly a foreign user's film: warn, site fault",
         "8m", 2048, app, lambda fs: films(fs, 5_300_000, 1_800_000),
         lambda fs: [{"subject": fs.mountpoint, "status": "warn", "fault": "site",
                      "title_contains": "Movies"}]),
        ("full-foreign", "8 MB tmpfs 98% full of films (owner nobody) and music (owner www-data) "
         "outside app_paths: fail, site fault naming Movies",
         "8m", 2048, app, lambda fs: films(fs, 5_800_000, 2_100_000),
         lambda fs: [{"subject": fs.mountpoint, "status": "fail", "fault": "site",
                      "title_contains": "foreign data"}]),
        ("full-app", "8 MB tmpfs 98% full of the application's own call recordings under "
         "app_paths: fail, software fault (no retention)",
         "8m", 2048, app, recordings,
         lambda fs: [{"subject": fs.mountpoint, "status": "fail", "fault": "software",
                      "title_contains": "application's own data"}]),
        ("inodes-exhausted", "tmpfs with 128 inodes, all taken by one empty CDR file per call "
         "under app_paths; space is plentiful: fail on inodes, software fault",
         "8m", 128, app, lambda fs: fs.touch_many("callcenter/cdr", 140),
         lambda fs: [{"subject": fs.mountpoint, "status": "fail", "fault": "software",
                      "title_contains": "out of inodes"}]),
        ("scan-stopped-early", "Full tmpfs walked with scan_budget_s = 0: the walk stops before "
         "the first directory and says so; fault undetermined, remedy raises the budget",
         "8m", 2048, lambda fs: {**app(fs), "scan_budget_s": 0},
         lambda fs: films(fs, 5_800_000, 2_100_000),
         lambda fs: [{"subject": fs.mountpoint, "status": "fail", "fault": "undetermined"}]),
        ("not-walked", "Full tmpfs with scan = never: fail, undetermined, remedy gives the du command",
         "8m", 2048, lambda fs: {**app(fs), "scan": "never"},
         lambda fs: films(fs, 5_800_000, 2_100_000),
         lambda fs: [{"subject": fs.mountpoint, "status": "fail", "fault": "undetermined"}]),
    ]


def record(out_dir: str) -> None:
    import json

    from diagnose.checks.disk.check import DiskSpace
    from diagnose.check import section_config
    from diagnose.host import Host

    check = DiskSpace()
    with small_filesystems() as make:
        for name, desc, size, inodes, config, build, expect in _scenarios():
            fs = make(size, inodes)
            try:
                build(fs)
            except OSError:
                pass  # ENOSPC: filling up is the point of most scenarios
            cfg_values = config(fs)
            facts = check.probe(Host("/"), section_config(check, cfg_values))
            doc = {"description": desc, "config": cfg_values, "facts": facts, "expect": expect(fs)}
            with open(os.path.join(out_dir, f"{name}.json"), "w") as fh:
                json.dump(doc, fh, indent=1)
                fh.write("\n")


if __name__ == "__main__":
    record(os.path.join(os.path.dirname(__file__), "..", "data", "disk.space"))
