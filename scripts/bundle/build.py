"""Builds what a technician carries to a site without internet (scripts/bundle.sh).

    python3 scripts/bundle/build.py [OUTDIR]        (default dist/)

On a connected machine, into OUTDIR:

- ``diagnose.pyz``: one file, run with the site's Python 3.9 to 3.13
  (``python3 diagnose.pyz run``). It holds diagnose and its dependencies,
  the compiled ones (psutil, psycopg's binary, dbus-fast, markupsafe) for each
  of those versions; see pyz_main.py for how it starts.
- ``diagnose-VERSION-offline.tar.gz``: a wheelhouse (every wheel diagnose
  needs, for each of those versions, plus pip) and ``install.sh``, which
  installs from it with ``pip --no-index --find-links`` into a venv.

Wheels are for manylinux (glibc 2.17 and newer: Debian 9+, Ubuntu 18.04+,
RHEL/Rocky 7+) on this machine's architecture, or $DIAGNOSE_BUNDLE_ARCH
(x86_64, aarch64). $DIAGNOSE_BUNDLE_PYTHONS narrows the versions (e.g. "3.9
3.11"); the default is every supported one.
"""

from __future__ import annotations

import hashlib
import io
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
VERSIONS = ("3.9", "3.10", "3.11", "3.12", "3.13")
# tomli stands in for tomllib below 3.11. pip evaluates the environment
# markers of a requirement against the interpreter running pip, not the
# --python-version it builds for, so it is named explicitly for those.
EXTRA_BELOW_311 = ("tomli>=1.1",)


def log(msg: str) -> None:
    print(f"bundle: {msg}", file=sys.stderr, flush=True)


def pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"bundle: failed: {' '.join(cmd)}")


def target_args(version: str, arch: str) -> list[str]:
    """pip options that choose wheels for CPython `version` on manylinux/arch."""
    plats = [f"manylinux2014_{arch}", f"manylinux_2_17_{arch}", f"manylinux2010_{arch}",
             f"manylinux_2_12_{arch}", f"manylinux1_{arch}", f"manylinux_2_5_{arch}"]
    out = ["--only-binary=:all:", "--implementation", "cp", "--python-version", version]
    for p in plats:
        out += ["--platform", p]
    return out


def extra(version: str) -> list[str]:
    return list(EXTRA_BELOW_311) if tuple(map(int, version.split("."))) < (3, 11) else []


def project_version() -> str:
    text = (REPO / "diagnose" / "__init__.py").read_text()
    for line in text.splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    raise SystemExit("bundle: no __version__ in diagnose/__init__.py")


def build_wheel(wheels: Path) -> Path:
    """diagnose's own wheel, built from this checkout."""
    args = ["wheel", "--no-deps", "-w", str(wheels), str(REPO)]
    with tempfile.TemporaryDirectory() as tmp:
        # setuptools writes build/ and *.egg-info beside the sources: build from a copy
        src = Path(tmp) / "src"
        shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
            ".git", "dist", "build", "*.egg-info", "__pycache__", ".pytest_cache", "tests", "bench", ".benchmarks"))
        args[-1] = str(src)
        pip(*args)
    [whl] = wheels.glob("diagnose-*.whl")
    return whl


def download(wheels: Path, whl: Path, versions: list[str], arch: str) -> dict[str, Path]:
    """The wheels of every version, each version's also in a folder of its own
    (what pip resolved for it: installing for another --python-version from a
    pool of wheels does not always honour Requires-Python)."""
    per = {}
    for v in versions:
        log(f"wheels for CPython {v} on {arch}")
        per[v] = wheels.parent / f"wheels-{v}"
        per[v].mkdir()
        shutil.copy2(whl, per[v])
        pip("download", "-d", str(per[v]), "--find-links", str(per[v]), *target_args(v, arch),
            str(whl), *extra(v))
        for w in per[v].glob("*.whl"):
            if not (wheels / w.name).exists():
                shutil.copy2(w, wheels)
    # the installer's own pip: the newest that runs on the oldest Python chosen
    pip("download", "-d", str(wheels), "--no-deps", *target_args(versions[0], arch), "pip")
    return per


def _tree_digest(path: Path) -> str:
    h = hashlib.sha256()
    items = sorted(path.rglob("*")) if path.is_dir() else [path]
    for p in items:
        if p.is_file():
            h.update(str(p.relative_to(path.parent)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def pyz(per: dict[str, Path], whl: Path, arch: str, out: Path, work: Path) -> None:
    """One install per version, the identical top-level items moved to common/."""
    stage = work / "pyz"
    tags = []
    for v, wheels in per.items():
        tag = "cp" + v.replace(".", "")
        tags.append(tag)
        pip("install", "--no-index", "--find-links", str(wheels), "--no-compile", "--target",
            str(stage / tag), *target_args(v, arch), str(whl), *extra(v))
        shutil.rmtree(stage / tag / "bin", ignore_errors=True)
    (stage / "common").mkdir()
    names = set.intersection(*({p.name for p in (stage / t).iterdir()} for t in tags))
    for name in sorted(names):
        digests = {_tree_digest(stage / t / name) for t in tags}
        if len(digests) == 1:
            shutil.move(str(stage / tags[0] / name), str(stage / "common" / name))
            for t in tags[1:]:
                p = stage / t / name
                shutil.rmtree(p) if p.is_dir() else p.unlink()
    files = sorted(p for p in stage.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    build = hashlib.sha256()
    for p in files:
        build.update(str(p.relative_to(stage)).encode() + b"\0" + p.read_bytes())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(HERE / "pyz_main.py", "__main__.py")
        zf.writestr("BUILD", f"{project_version()}-{build.hexdigest()[:16]}\n")
        zf.writestr("PYTHONS", "".join(v + "\n" for v in per))
        for p in files:
            zf.write(p, str(p.relative_to(stage)))
    out.write_bytes(b"#!/usr/bin/env python3\n" + buf.getvalue())
    out.chmod(0o755)


def tarball(wheels: Path, versions: list[str], out: Path, top: str) -> None:
    def add(tf: tarfile.TarFile, path: Path, name: str, mode: int = 0o644) -> None:
        info = tf.gettarinfo(str(path), f"{top}/{name}")
        info.mode, info.uid, info.gid, info.uname, info.gname = mode, 0, 0, "root", "root"
        with path.open("rb") as fh:
            tf.addfile(info, fh)

    with tarfile.open(out, "w:gz") as tf:
        add(tf, HERE / "install.sh", "install.sh", 0o755)
        add(tf, REPO / "scripts" / "pick-python.sh", "pick-python.sh")
        add(tf, HERE / "README.txt", "README.txt")
        pythons = wheels.parent / "PYTHONS"
        pythons.write_text("".join(v + "\n" for v in versions))
        add(tf, pythons, "PYTHONS")
        for w in sorted(wheels.glob("*.whl")):
            add(tf, w, f"wheels/{w.name}")


def main(argv: list[str]) -> int:
    outdir = Path(argv[0] if argv else REPO / "dist").resolve()
    arch = os.environ.get("DIAGNOSE_BUNDLE_ARCH") or platform.machine()
    versions = sorted((os.environ.get("DIAGNOSE_BUNDLE_PYTHONS") or " ".join(VERSIONS)).split(),
                      key=lambda v: tuple(map(int, v.split("."))) if v in VERSIONS else (0,))
    unknown = [v for v in versions if v not in VERSIONS]
    if unknown:
        raise SystemExit(f"bundle: no such supported Python: {', '.join(unknown)} (supported: {' '.join(VERSIONS)})")
    outdir.mkdir(parents=True, exist_ok=True)
    version = project_version()
    top = f"diagnose-{version}-offline"
    with tempfile.TemporaryDirectory(prefix="diagnose-bundle-") as tmp:
        work = Path(tmp)
        wheels = work / "wheels"
        wheels.mkdir()
        log(f"diagnose {version}, for CPython {' '.join(versions)} on {arch}")
        whl = build_wheel(wheels)
        per = download(wheels, whl, versions, arch)
        pyz(per, whl, arch, outdir / "diagnose.pyz", work)
        tarball(wheels, versions, outdir / f"{top}.tar.gz", top)
    for p in (outdir / "diagnose.pyz", outdir / f"{top}.tar.gz"):
        print(f"{p}  ({p.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
