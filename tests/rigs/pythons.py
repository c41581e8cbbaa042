"""Other Python interpreters on this machine (the oldest and newest supported
ones), found on PATH or under pyenv, for the tests that run diagnose with them."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess


def find_python(version: str) -> str | None:
    """An interpreter for Python `version` ("3.9"), or None."""
    cands = [shutil.which(f"python{version}")]
    cands += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")),
                    reverse=True)
    cands += [f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    for c in cands:
        if c and os.access(c, os.X_OK) and "/shims/" not in c:
            out = subprocess.run([c, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                 capture_output=True, text=True, timeout=30)
            if out.returncode == 0 and out.stdout.strip() == version:
                return c
    return None
