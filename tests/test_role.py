"""Which checks apply: the role is configured or detected from what the
configuration names and what sound hardware the (recorded) host has."""

from __future__ import annotations

import pytest

from diagnose.config import load
from diagnose.host import Host
from diagnose.registry import Registry
from diagnose.runner import detect_role, why_skip

REG = Registry.discover()


def _cfg(tmp_path, text):
    p = tmp_path / "site.toml"
    p.write_text(text)
    return load(str(p), REG.schemas(), REG.multi_sections())


@pytest.fixture
def seat(tmp_path):
    root = tmp_path / "seat"
    (root / "proc" / "asound").mkdir(parents=True)
    (root / "proc" / "asound" / "cards").write_text(" 0 [PCH            ]: HDA-Intel - HDA Intel PCH\n")
    return Host(str(root))


@pytest.fixture
def bare(tmp_path):
    root = tmp_path / "bare"
    (root / "proc" / "asound").mkdir(parents=True)
    (root / "proc" / "asound" / "cards").write_text("--- no soundcards ---\n")
    return Host(str(root))


def test_detection(tmp_path, seat, bare):
    assert detect_role(bare, _cfg(tmp_path, "")) == "server"
    assert detect_role(seat, _cfg(tmp_path, "")) == "workstation"
    db = '[[database]]\nname = "cc"\nurl = "sqlite:////x.db"\n'
    assert detect_role(seat, _cfg(tmp_path, db)) == "both"
    assert detect_role(bare, _cfg(tmp_path, db)) == "server"
    assert detect_role(bare, _cfg(tmp_path, '[headset]\nexpected = "0b0e"\n')) == "workstation"
    assert detect_role(seat, _cfg(tmp_path, '[site]\nrole = "server"\n')) == "server"


def test_role_decides_skips_with_the_key_to_set(tmp_path, bare):
    cfg = _cfg(tmp_path, "")
    reason = why_skip(REG.checks["headset.presence"], bare, cfg, detect_role(bare, cfg))
    assert reason == "a workstation check; this host's role is server (set [site] role to change)"
    assert why_skip(REG.checks["disk.space"], bare, cfg, "workstation").startswith("a server check")
    gw = why_skip(REG.checks["gateway.power"], Host("/"), cfg, "server")
    assert gw == "not configured: add a [[gateway]] section to the config (see diagnose init)"
    off = _cfg(tmp_path, "[disk]\nenabled = false\n")
    assert why_skip(REG.checks["disk.space"], bare, off, "server") == \
        "disabled in the config ([disk] enabled = false)"
