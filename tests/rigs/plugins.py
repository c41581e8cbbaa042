"""A third-party plugin package made on the fly: a ``*.dist-info`` folder with
an ``entry_points.txt`` in the ``diagnose.checks`` group, on PYTHONPATH.
importlib.metadata finds it exactly as it finds an installed wheel, so the
CLI discovers these checks the way it discovers real plugins."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

PLUGIN_SOURCE = '''
"""Checks that misbehave on purpose, to prove the runner isolates them."""
import time
from diagnose.check import Check, Key, Needs
from diagnose.model import Finding, Status, Fault


class Good(Check):
    name = "demo.good"
    summary = "reads /etc/demo-state from the host"
    section = "demo"
    schema = {"expect": Key(str, "fine", "the state that is fine")}

    def probe(self, host, cfg):
        return {"state": host.read_text("/etc/demo-state", missing="missing").strip()}

    def judge(self, facts, cfg):
        state = facts["state"]
        if state == cfg["expect"]:
            return [Finding(self.name, "demo", Status.OK, "Demo state is fine", evidence=facts)]
        return [Finding(self.name, "demo", Status.FAIL, f"Demo state is {state}", fault=Fault.SITE,
                        detail="the demo file says so", evidence=facts,
                        remedy="echo fine > /etc/demo-state")]


class Raises(Check):
    name = "demo.raises"
    summary = "a probe that raises"

    def probe(self, host, cfg):
        raise RuntimeError("probe exploded")

    def judge(self, facts, cfg):
        return []


class Hangs(Check):
    name = "demo.hangs"
    summary = "a probe that never returns"
    timeout = 1.0

    def probe(self, host, cfg):
        time.sleep(3600)

    def judge(self, facts, cfg):
        return []


class BadJudge(Check):
    name = "demo.badjudge"
    summary = "a judge that raises"

    def probe(self, host, cfg):
        return {"x": 1}

    def judge(self, facts, cfg):
        return [facts["missing-key"]]


class NeedsTool(Check):
    name = "demo.needstool"
    summary = "needs a program nobody has"
    from diagnose.check import Needs as _N
    needs = _N(commands=("no-such-program-xyz",))

    def probe(self, host, cfg):
        raise AssertionError("must be skipped, never probed")

    def judge(self, facts, cfg):
        return []
'''

ENTRY_POINTS = """
[diagnose.checks]
demo.good = dg_demo_plugins:Good
demo.raises = dg_demo_plugins:Raises
demo.hangs = dg_demo_plugins:Hangs
demo.badjudge = dg_demo_plugins:BadJudge
demo.needstool = dg_demo_plugins:NeedsTool
demo.missing = dg_demo_plugins_gone:Nothing
"""


def make_plugin_dir(base: Path) -> Path:
    """Create the plugin package under *base*; returns the PYTHONPATH entry."""
    site = base / "site"
    info = site / "dg_demo_plugins-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dg-demo-plugins\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(ENTRY_POINTS))
    (site / "dg_demo_plugins.py").write_text(PLUGIN_SOURCE)
    return site


def plugin_env(site: Path) -> dict[str, str]:
    old = os.environ.get("PYTHONPATH", "")
    return {"PYTHONPATH": str(site) + (os.pathsep + old if old else "")}
