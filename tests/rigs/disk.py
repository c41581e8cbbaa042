"""Real small filesystems for disk.space tests.

``small_fs`` mounts a fresh tmpfs (8 MB, a limited inode table) under a
temporary directory named after this area and the pid, so parallel test runs
of other engineers never meet it; the finalizer unmounts it (lazily if a
process still holds it) and removes the directory, even when a test fails.
Files are written with real data and handed to real system users, so sizes,
owners and st_dev boundaries are exactly what the probe will meet on a site.
"""

from __future__ import annotations

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


@pytest.fixture
def small_fs():
    """Yield a factory: ``small_fs(size="8m", inodes=2048)`` -> SmallFs."""
    made: list[SmallFs] = []

    def make(size: str = "8m", inodes: int = 2048) -> SmallFs:
        base = tempfile.mkdtemp(prefix=f"dgdisk-{os.getpid()}-{next(_counter)}-")
        mp = os.path.join(base, "srv")
        os.mkdir(mp)
        fs = SmallFs(base, mp)
        made.append(fs)
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
