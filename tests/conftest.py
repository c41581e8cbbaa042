"""Shared test plumbing. Rigs (real filesystems, namespaces, servers) live in
``tests/rigs/<area>.py`` and are imported by the tests that need them; each
rig cleans up what it started even when a test fails."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"

# Every process a test starts (the CLI, probes in namespaces, helpers) imports
# diagnose from this checkout, whatever else is installed on the machine.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])


# DIAGNOSE_TEST_NO_ROOT=1 runs only the part of the suite that needs no root,
# even as root: scripts/test.sh does so on the oldest supported Python, after
# the whole suite on the default one.
NO_ROOT = os.environ.get("DIAGNOSE_TEST_NO_ROOT") == "1"


def is_root() -> bool:
    return os.geteuid() == 0 and not NO_ROOT


needs_root = pytest.mark.skipif(not is_root(), reason="needs root (namespaces, mounts, servers)"
                                + (" (DIAGNOSE_TEST_NO_ROOT=1)" if NO_ROOT else ""))


# The CLI looks for ./diagnose.toml: run it from an empty directory so that
# a stray file in the checkout never changes what a test sees.
_CWD = tempfile.mkdtemp(prefix="dg-cwd-")
atexit.register(shutil.rmtree, _CWD, True)


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: str | None = None,
            timeout: float = 120, prefix: list[str] | None = None) -> subprocess.CompletedProcess:
    """Run the real ``diagnose`` CLI as a user would (python -m diagnose)."""
    full_env = dict(os.environ)
    full_env.pop("DIAGNOSE_CONFIG", None)
    if env:
        full_env.update(env)
    argv = (prefix or []) + [sys.executable, "-m", "diagnose", *args]
    return subprocess.run(argv, capture_output=True, text=True, env=full_env, cwd=cwd or _CWD,
                          timeout=timeout)


@pytest.fixture(autouse=True)
def _private_state_dir(tmp_path_factory, monkeypatch):
    """Every test gets its own state directory (run history, baseline,
    saved reports): never /var/lib/diagnose, and no test sees another's
    history. A test that wants its own sets DIAGNOSE_STATE_DIR itself."""
    monkeypatch.setenv("DIAGNOSE_STATE_DIR", str(tmp_path_factory.mktemp("state")))


def load_scenarios(check_name: str) -> list[tuple[str, dict]]:
    folder = DATA / check_name
    if not folder.is_dir():
        return []
    return [(p.stem, json.loads(p.read_text())) for p in sorted(folder.glob("*.json"))]


@pytest.fixture
def cli():
    return run_cli
