"""What a technician carries to a site without internet (scripts/bundle.sh):
the offline wheelhouse installs into a fresh venv of the oldest supported
Python inside a network namespace with no route, and the single-file
diagnose.pyz runs there with python3.9; both audit a recorded tree and judge
it exactly as this checkout does.

Building the bundle needs the package index (it is built on a connected
machine); the tests then cut the network. They skip only where the Python
they need is not installed, or without root (the namespace needs it)."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from types import SimpleNamespace

import pytest

from tests.conftest import ROOT, needs_root
from tests.rigs import databases
from tests.rigs.offline import offline_namespace
from tests.rigs.pythons import find_python
from tests.rigs.umockdev import Umockdev

PY39 = find_python("3.9")
PY313 = find_python("3.13")
DEFAULT = "%d.%d" % sys.version_info[:2]
# The oldest and the newest supported Python: what the bundle is built for
# here (every supported version takes a minute more and proves nothing new).
BUILT = [v for v, exe in (("3.9", PY39), ("3.13", PY313)) if exe and v != DEFAULT]

pytestmark = [
    needs_root,
    pytest.mark.skipif(PY39 is None, reason="python3.9 is not installed: the offline bundle is tested with "
                       "the oldest supported Python (pyenv install 3.9, or apt-get install python3.9)"),
]


_STATE = tempfile.mkdtemp(prefix="dg-state-bundle-")
atexit.register(shutil.rmtree, _STATE, True)


def _env(**extra: str) -> dict[str, str]:
    """The environment of a site: nothing points at this checkout or at a
    package index."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "DIAGNOSE_"))}
    # ...but its state (run history) goes to this module's own folder, never
    # /var/lib/diagnose; one folder, so the checkout and the bundle say the same.
    env["DIAGNOSE_STATE_DIR"] = _STATE
    env.update(extra)
    return env


def _extract(tf: tarfile.TarFile, dest) -> None:
    safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    tf.extractall(dest, **safe)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "bundle.sh"), str(out)], capture_output=True,
                          text=True, timeout=900, env=_env(DIAGNOSE_BUNDLE_PYTHONS=" ".join(BUILT)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def _audit(prefix: list[str], argv: list[str], root, cfg, env: dict[str, str], cwd) -> dict:
    proc = subprocess.run(prefix + argv + ["run", "--format", "json", "--root", str(root), "--config", str(cfg)],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=300)
    assert proc.stdout, proc.stderr
    report = json.loads(proc.stdout)
    report["_rc"] = proc.returncode
    return report


def _same_judgement(report: dict, reference: dict) -> None:
    from diagnose import __version__
    from diagnose.registry import BUILTINS

    assert report["schema"] == "diagnose.report/1" and report["tool"]["version"] == __version__
    checks = {c["name"]: c for c in report["checks"]}
    assert set(checks) == set(BUILTINS)
    # every check loaded: none is missing a module the bundle should carry
    assert not [c for c in report["checks"] if c["error"] and "cannot load" in c["error"]], report["checks"]
    found = {f["id"]: f for f in report["findings"]}
    assert found["headset.presence:usb:1-2"]["title"] == \
        "Headset present: Jabra EVOLVE 65 (0b0e:0311) on USB port 1-2"
    db = found["database.integrity:callcenter"]
    assert db["status"] == "fail" and "table calls" in db["title"], db["title"]
    assert report["_rc"] == 2
    assert [(c["name"], c["status"], c["skipped"]) for c in report["checks"]] == \
           [(c["name"], c["status"], c["skipped"]) for c in reference["checks"]]
    assert sorted((f["id"], f["status"], f["title"]) for f in report["findings"]) == \
           sorted((f["id"], f["status"], f["title"]) for f in reference["findings"])
    assert report["_rc"] == reference["_rc"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A recorded tree of a machine in trouble (a workstation's /sys with a
    Jabra headset plugged in; a call-center database whose index a write
    damaged), its config, a namespace with no network, and the report this
    checkout gives in that namespace: what the bundle must reproduce."""
    if shutil.which("umockdev-run") is None:
        pytest.skip("needs umockdev (scripts/test-packages.txt)")
    base = tmp_path_factory.mktemp("site")
    root = Umockdev().record_tree(base / "pc", "jabra-evolve65")
    db = root / "var" / "lib" / "callcenter" / "cc.db"
    db.parent.mkdir(parents=True)
    databases.make_sqlite(str(db), rows=500)
    databases.sqlite_garbage_page(str(db))
    cfg = base / "site.toml"
    cfg.write_text('[site]\nname = "Sales office"\nrole = "both"\n[headset]\nexpected = "0b0e"\n'
                   '[[database]]\nname = "callcenter"\nurl = "sqlite:////var/lib/callcenter/cc.db"\n')
    with offline_namespace() as prefix:
        ref = _audit(prefix, [sys.executable, "-m", "diagnose"], root, cfg, _env(PYTHONPATH=str(ROOT)), base)
        yield SimpleNamespace(root=root, cfg=cfg, offline=prefix, reference=ref, base=base)


def test_offline_wheelhouse_installs_into_a_fresh_python39_venv_and_audits(site, bundle, tmp_path):
    [tarball] = bundle.glob("diagnose-*-offline.tar.gz")
    with tarfile.open(tarball) as tf:
        names = tf.getnames()
        _extract(tf, tmp_path / "site")
    wheels = [n.rsplit("/", 1)[1] for n in names if n.endswith(".whl")]
    for v in BUILT:  # the compiled dependencies, for each version it was built for
        tag = "cp" + v.replace(".", "")
        for dist in ("dbus_fast", "psycopg_binary", "markupsafe"):
            assert any(w.startswith(dist + "-") and f"-{tag}-" in w for w in wheels), (dist, tag, wheels)
    assert any(w.startswith("psutil-") for w in wheels) and any(w.startswith("pip-") for w in wheels)
    [top] = {n.split("/", 1)[0] for n in names}
    venv, bindir = tmp_path / "venv", tmp_path / "bin"
    proc = subprocess.run(site.offline + ["bash", str(tmp_path / "site" / top / "install.sh"), "--python", PY39,
                                     "--prefix", str(venv), "--bindir", str(bindir)],
                          capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"using {PY39} (3.9." in proc.stderr and "no network used" in proc.stdout
    [packages] = (venv / "lib").glob("python3.9/site-packages")
    assert (packages / "diagnose" / "checks" / "disk" / "check.py").is_file()
    assert (packages / "diagnose" / "reports" / "templates").is_dir()
    assert not (packages / "checks").exists() and not (packages / "reports").exists()
    report = _audit(site.offline, [str(bindir / "diagnose")], site.root, site.cfg, _env(), tmp_path)
    _same_judgement(report, site.reference)


@pytest.mark.parametrize("version", ["3.9", "3.13"])
def test_zipapp_runs_with_the_sites_python(site, bundle, tmp_path, version):
    exe = find_python(version)
    if exe is None:
        pytest.skip(f"python{version} is not installed")
    if version not in BUILT:
        pytest.skip(f"python{version} is this suite's own Python; the bundle is built for {BUILT}")
    cache = tmp_path / "cache"
    env = _env(DIAGNOSE_PYZ_CACHE=str(cache))
    report = _audit(site.offline, [exe, str(bundle / "diagnose.pyz")], site.root, site.cfg, env, tmp_path)
    _same_judgement(report, site.reference)
    # unpacked once, for this version only, and reused
    [build] = cache.iterdir()
    assert sorted(p.name for p in build.iterdir()) == sorted(["common", "cp" + version.replace(".", "")])
    again = subprocess.run(site.offline + [exe, str(bundle / "diagnose.pyz"), "--version"], capture_output=True,
                           text=True, env=env, timeout=60)
    assert again.returncode == 0 and again.stdout.startswith("diagnose ")


def test_a_python_the_bundle_was_not_built_for_is_told_what_to_do(bundle, tmp_path):
    """This suite's own Python is left out of the test build on purpose."""
    proc = subprocess.run([sys.executable, str(bundle / "diagnose.pyz"), "--version"], capture_output=True,
                          text=True, env=_env(DIAGNOSE_PYZ_CACHE=str(tmp_path / "c")), timeout=60)
    assert proc.returncode == 3
    assert f"built for Python {', '.join(BUILT)}; this is {DEFAULT}" in proc.stderr
    [tarball] = bundle.glob("diagnose-*-offline.tar.gz")
    with tarfile.open(tarball) as tf:
        _extract(tf, tmp_path / "site")
    [install] = (tmp_path / "site").glob("*/install.sh")
    proc = subprocess.run(["bash", str(install), "--python", sys.executable, "--prefix", str(tmp_path / "v")],
                          capture_output=True, text=True, env=_env(), timeout=120)
    assert proc.returncode == 1
    assert f"this bundle has no wheels for Python {DEFAULT}" in proc.stderr
    assert not (tmp_path / "v").exists()
