"""How diagnose installs: one package, `diagnose`, with the checks and the
renderers inside it (no generic top-level `checks` or `reports` beside other
software), working from the installed copy alone; and which Python the
install scripts take."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.rigs.pythons import find_python


def test_pip_install_puts_one_package_in_site_packages_and_it_runs(tmp_path):
    target = tmp_path / "site-packages"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                           str(ROOT)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    top = sorted(p.name for p in target.iterdir() if not p.name.endswith((".dist-info", ".egg-info")))
    assert top in (["diagnose"], ["bin", "diagnose"]), top
    pkg = target / "diagnose"
    for name in ("cli.py", "commands/run.py", "checks/disk/check.py", "reports/jsonfmt.py",
                 "manual/checks/disk.space.md"):
        assert (pkg / name).is_file(), name
    assert list((pkg / "reports" / "templates").iterdir())
    # the installed copy alone (this checkout off the path) audits and renders
    cfg = tmp_path / "site.toml"
    cfg.write_text(f'[disk]\nmounts = ["{tmp_path}"]\n')
    env = {**os.environ, "PYTHONPATH": str(target)}
    for fmt in ("json", "html", "text"):
        run = subprocess.run([sys.executable, "-m", "diagnose", "run", "--config", str(cfg), "--only", "disk.space",
                              "--format", fmt], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
        assert run.returncode in (0, 1, 2), run.stderr
    docs = subprocess.run([sys.executable, "-m", "diagnose", "docs", "disk.space"], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=60)
    assert docs.returncode == 0, docs.stderr
    assert "| `warn_free_percent` |" in docs.stdout and "## How it works" in docs.stdout
    assert json.loads(subprocess.run(
        [sys.executable, "-c", "import diagnose, diagnose.reports, json; "
         "print(json.dumps([diagnose.__file__, diagnose.reports.__file__]))"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60).stdout) == \
        [str(pkg / "__init__.py"), str(pkg / "reports" / "__init__.py")]


def _pick(path_dirs: list[Path], **env: str) -> subprocess.CompletedProcess:
    script = f". {ROOT / 'scripts' / 'pick-python.sh'}; pick_python && echo \"PY=$PY\""
    return subprocess.run(["/bin/bash", "-c", script], capture_output=True, text=True, timeout=60,
                          env={"PATH": os.pathsep.join(map(str, path_dirs)), "HOME": str(path_dirs[0]), **env})


def _bin(tmp_path: Path, **links: str) -> Path:
    d = tmp_path / "bin"
    d.mkdir()
    for name, exe in links.items():
        (d / name).symlink_to(exe)
    return d


def test_install_takes_the_newest_supported_python_and_says_which(tmp_path):
    py39, py313 = find_python("3.9"), find_python("3.13")
    if not (py39 and py313):
        pytest.skip("needs python3.9 and python3.13 installed")
    d = _bin(tmp_path, **{"python3.9": py39, "python3.13": py313, "python3": py39})
    proc = _pick([d])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"PY={d / 'python3.13'}"
    assert f"diagnose: using {d / 'python3.13'} (3.13." in proc.stderr


def test_install_names_what_to_install_when_no_python_fits(tmp_path):
    py38 = find_python("3.8")
    if not py38:
        pytest.skip("needs a python3.8 to stand for an old system Python")
    d = _bin(tmp_path, python3=py38)
    proc = _pick([d])
    assert proc.returncode == 1 and "PY=" not in proc.stdout
    assert "diagnose needs Python 3.9 to 3.13; found: python3 (3.8)." in proc.stderr
    assert "dnf install python39" in proc.stderr and "apt-get install python3 python3-venv" in proc.stderr
    forced = _pick([d], DIAGNOSE_PYTHON=py38)
    assert forced.returncode == 1 and "is not Python 3.9 to 3.13" in forced.stderr


def test_toml_is_read_in_one_place():
    """tomllib is 3.11+; diagnose.compat falls back to tomli. Anything that
    imports either directly breaks on 3.9/3.10 or duplicates the fallback."""
    offenders = []
    for folder in ("diagnose", "checks", "reports"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "compat.py" and path.parent.name == "diagnose":
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                words = line.split()
                if words[:2] in (["import", "tomllib"], ["import", "tomli"]) or \
                        (words[:1] == ["from"] and words[1:2] in (["tomllib"], ["tomli"])):
                    offenders.append(f"{path.relative_to(ROOT)}:{n}")
    assert not offenders, f"read TOML with diagnose.compat.tomllib(): {offenders}"


def test_syslog_iso_times_read_the_same_on_every_python():
    """datetime.fromisoformat reads any fraction of a second only from 3.11;
    rsyslog and journald write 6 digits, other loggers 1 to 9."""
    from diagnose.state.logsources import parse_iso

    assert parse_iso("2026-11-22T07:00:00.123456789+01:00") == pytest.approx(1795327200.123456)
    assert parse_iso("2026-11-22T07:00:00.1+0100") == pytest.approx(1795327200.1)
    assert parse_iso("2026-11-22T07:00:00Z") == 1795330800.0
