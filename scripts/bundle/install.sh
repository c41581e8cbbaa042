#!/usr/bin/env bash
# Installs diagnose from the wheels beside this script, with no network:
# pip --no-index --find-links wheels/. Takes the newest Python 3.9 to 3.13 on
# this machine (python3.13 ... python3.9, then python3; DIAGNOSE_PYTHON or
# --python overrides) and says which. Installs into a venv at /opt/diagnose
# (root) or ~/.local/share/diagnose (--prefix overrides) and links the
# command into /usr/local/bin or ~/.local/bin (--bindir overrides).
#
#   bash install.sh [--python PY] [--prefix DIR] [--bindir DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" = 0 ]; then prefix=/opt/diagnose; bindir=/usr/local/bin; else
  prefix="$HOME/.local/share/diagnose"; bindir="$HOME/.local/bin"; fi
while [ $# -gt 0 ]; do
  case "$1" in
    --python) DIAGNOSE_PYTHON=$2; shift 2 ;;
    --prefix) prefix=$2; shift 2 ;;
    --bindir) bindir=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 3 ;;
  esac
done
. "$here/pick-python.sh"
pick_python || exit 1
ver=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if ! grep -qx "$ver" "$here/PYTHONS"; then
  echo "diagnose: this bundle has no wheels for Python $ver (it has: $(tr '\n' ' ' < "$here/PYTHONS"));" \
       "use one of those (--python), or build a bundle that includes $ver (scripts/bundle.sh)" >&2
  exit 1
fi
# Only the bundle's wheels: no index, no pip configuration of this machine.
for v in $(env | sed -n 's/^\(PIP_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done
export PIP_CONFIG_FILE=/dev/null PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1
if [ -e "$prefix" ] && [ ! -f "$prefix/pyvenv.cfg" ] && [ -n "$(ls -A "$prefix" 2>/dev/null)" ]; then
  echo "diagnose: $prefix exists and is not a venv; choose an empty or new folder (--prefix)" >&2
  exit 3
fi
# The venv gets pip from the bundle, not from ensurepip (which Debian leaves
# out unless python3-venv is installed, and which a site may not have).
"$PY" -m venv --clear --without-pip "$prefix" || {
  echo "diagnose: $PY cannot make a venv (Debian/Ubuntu: apt-get install python$ver-venv)" >&2; exit 1; }
pipwhl=$(ls "$here"/wheels/pip-*.whl)
"$prefix/bin/python" "$pipwhl/pip" install -q --no-index --find-links "$here/wheels" "$pipwhl"
"$prefix/bin/python" -m pip install -q --no-index --find-links "$here/wheels" diagnose
mkdir -p "$bindir"
ln -sf "$prefix/bin/diagnose" "$bindir/diagnose"
echo "installed: $bindir/diagnose -> $prefix/bin/diagnose (Python $ver, no network used)"
echo "next: diagnose init, then diagnose run (diagnose --help for more)"
