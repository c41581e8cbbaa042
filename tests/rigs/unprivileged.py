"""Run this checkout's Python code as an unprivileged user (uid/gid 65534).

A newcomer clones into root's home (mode 700) and the interpreter may live
there too (pyenv under /root): uid 65534 can reach neither. So the rig

- copies the installed package's sources (``diagnose/``, ``checks/``,
  ``reports/``) into a fresh world-readable temporary folder and puts it on
  PYTHONPATH, whatever the checkout's own path is; and
- where the interpreter's folder has an ancestor that others may not enter,
  runs the command in a private mount namespace in which that ancestor is
  replaced by a world-readable folder holding only a bind mount of the
  interpreter's prefix, at the same path (so its RUNPATH still resolves).

Nothing outside the private namespace changes; the temporary folders are
removed when the fixture ends, even when the test fails.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROOT, is_root

NOBODY = 65534
PACKAGES = ("diagnose", "checks", "reports")


def _others_may_enter(path: Path) -> bool:
    return bool(path.stat().st_mode & stat.S_IXOTH)


def blocked_ancestor(path: Path) -> Path | None:
    """The highest ancestor of *path* that others may not enter, if any."""
    for parent in reversed(path.parents):
        if parent != Path("/") and not _others_may_enter(parent):
            return parent
    return None


@dataclass
class Unprivileged:
    work: Path
    src: Path = field(init=False)
    prefix: Path = field(default_factory=lambda: Path(sys.base_prefix).resolve())

    def __post_init__(self) -> None:
        self.src = self.work / "src"
        for name in PACKAGES:
            shutil.copytree(ROOT / name, self.src / name, ignore=shutil.ignore_patterns("__pycache__"))
        for dirpath, dirnames, filenames in os.walk(self.work):
            os.chmod(dirpath, 0o755)
            for f in filenames:
                os.chmod(os.path.join(dirpath, f), 0o644)

    def _shim_script(self) -> str | None:
        """Shell lines that, in a private mount namespace, make the
        interpreter's prefix reachable at its own path; None when it is."""
        blocked = blocked_ancestor(self.prefix)
        if blocked is None:
            return None
        shim = self.work / "shim"
        inside = shim / self.prefix.relative_to(blocked)
        inside.mkdir(parents=True, exist_ok=True)
        walk = shim
        os.chmod(walk, 0o755)
        for part in inside.relative_to(shim).parts:
            walk = walk / part
            os.chmod(walk, 0o755)
        return (f"mount --bind '{self.prefix}' '{inside}' && mount --rbind '{shim}' '{blocked}' && ")

    def argv(self, *python_args: str) -> list[str]:
        """The command that runs ``python *python_args`` as uid 65534."""
        drop = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                "env", f"PYTHONPATH={self.src}", "HOME=/nonexistent", sys.executable, *python_args]
        shim = self._shim_script()
        if shim is None:
            return drop
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", shim + 'exec "$@"', "sh", *drop]

    def run(self, *python_args: str, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*python_args), capture_output=True, text=True, cwd=self.work,
                              timeout=timeout, **kw)


@pytest.fixture
def unprivileged():
    if not is_root():
        pytest.skip("needs root to switch to uid 65534")
    work = Path(tempfile.mkdtemp(prefix="dg-nobody-"))
    try:
        rig = Unprivileged(work)
        probe = rig.run("-c", "import os, diagnose; print(os.getuid())")
        if probe.returncode != 0 or probe.stdout.strip() != str(NOBODY):
            pytest.skip(f"cannot run the interpreter as uid {NOBODY} here: {probe.stderr.strip()[-300:]}")
        yield rig
    finally:
        shutil.rmtree(work, ignore_errors=True)
