"""A network namespace with nothing but a loopback that is down: no route,
no name server, so no package index can be reached from inside it. Removed
when the fixture ends, even when the test fails."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess

import pytest

from tests.conftest import is_root

_seq = itertools.count()


@contextlib.contextmanager
def offline_namespace():
    """The command prefix that runs a program with no network."""
    if not is_root() or not shutil.which("ip"):
        pytest.skip("needs root and iproute2 for a network namespace")
    name = f"dg-offline-{os.getpid()}-{next(_seq)}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=30)
    try:
        routes = subprocess.run(["ip", "-n", name, "route", "show"], capture_output=True, text=True,
                                check=True, timeout=30).stdout
        assert routes.strip() == "", routes
        yield ["ip", "netns", "exec", name]
    finally:
        subprocess.run(["ip", "netns", "delete", name], timeout=30)
