"""Start-up of diagnose.pyz, the single-file build (scripts/bundle.sh).

The archive holds diagnose and every dependency, installed once per Python
version (``cp39/`` ... ``cp313/``) with what is the same for all of them in
``common/``. Compiled extensions (psutil, psycopg's binary, dbus-fast) cannot
be imported from inside a zip, so on first use the parts for this interpreter
are unpacked into a cache folder (``$DIAGNOSE_PYZ_CACHE``, else
``$XDG_CACHE_HOME/diagnose`` or ``~/.cache/diagnose``, else a private folder
under the temp dir), named by the build, and used from there on; a new build
unpacks beside it. Runs on Python 3.9 and newer; says so on anything older.
"""

import os
import sys

if sys.version_info < (3, 9):
    sys.stderr.write("diagnose.pyz needs Python 3.9 to 3.13; this is %s. Run it with python3.9 or newer.\n"
                     % sys.version.split()[0])
    sys.exit(3)

import shutil  # noqa: E402
import tempfile  # noqa: E402
import zipfile  # noqa: E402


def _cache_roots():
    explicit = os.environ.get("DIAGNOSE_PYZ_CACHE")
    if explicit:
        return [explicit]
    roots = []
    xdg = os.environ.get("XDG_CACHE_HOME")
    home = os.path.expanduser("~")
    if xdg:
        roots.append(os.path.join(xdg, "diagnose"))
    elif home and home != "~":
        roots.append(os.path.join(home, ".cache", "diagnose"))
    roots.append(os.path.join(tempfile.gettempdir(), "diagnose-pyz-%d" % os.getuid()))
    return roots


def _usable(root):
    """root exists (made here if need be), is ours and no one else may write it."""
    try:
        os.makedirs(root, mode=0o700, exist_ok=True)
        st = os.stat(root)
    except OSError:
        return False
    return st.st_uid == os.getuid() and not st.st_mode & 0o022 and os.access(root, os.W_OK)


def _unpack(zf, prefix, dest):
    """Unpack the members under prefix/ into dest, atomically: a run that is
    killed half-way leaves only a temporary folder, never a partial dest."""
    if os.path.isdir(dest):
        return
    parent = os.path.dirname(dest)
    tmp = tempfile.mkdtemp(prefix=".unpack-", dir=parent)
    try:
        for name in zf.namelist():
            if name.startswith(prefix + "/") and not name.endswith("/"):
                zf.extract(name, tmp)
        src = os.path.join(tmp, prefix)
        if not os.path.isdir(src):
            os.makedirs(src)
        try:
            os.rename(src, dest)
        except OSError:
            if not os.path.isdir(dest):  # not another run that got there first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    archive = os.path.dirname(os.path.abspath(__file__))
    tag = "cp%d%d" % sys.version_info[:2]
    with zipfile.ZipFile(archive) as zf:
        build = zf.read("BUILD").decode("ascii").strip()
        versions = zf.read("PYTHONS").decode("ascii").split()
        if "%d.%d" % sys.version_info[:2] not in versions:
            sys.stderr.write("diagnose.pyz was built for Python %s; this is %d.%d. Run it with one of "
                             "those (python3.X diagnose.pyz ...), or install from the offline bundle.\n"
                             % (", ".join(versions), *sys.version_info[:2]))
            return 3
        for root in _cache_roots():
            if _usable(root):
                break
        else:
            sys.stderr.write("diagnose.pyz: no folder to unpack into; set DIAGNOSE_PYZ_CACHE to a "
                             "writable folder of your own\n")
            return 3
        base = os.path.join(root, build)
        os.makedirs(base, mode=0o700, exist_ok=True)
        _unpack(zf, "common", os.path.join(base, "common"))
        _unpack(zf, tag, os.path.join(base, tag))
    sys.path[:0] = [os.path.join(base, tag), os.path.join(base, "common")]
    if sys.path[2:3] == [archive]:
        del sys.path[2]  # the archive itself holds nothing to import
    from diagnose.cli import main as cli

    return cli()


if __name__ == "__main__":
    sys.exit(main())
