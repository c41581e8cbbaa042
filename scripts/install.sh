#!/usr/bin/env bash
# Installs diagnose from this checkout and audits this machine with the
# built-in defaults. Takes the newest Python 3.9 to 3.13 on the machine
# (python3.13 ... python3.9, then python3; DIAGNOSE_PYTHON overrides) and says
# which; installs into a venv at /opt/diagnose (or ~/.local/share/diagnose
# without root) and links the command onto PATH. The dependencies come from
# the package index: for a site without internet use the offline bundle
# (scripts/bundle.sh, see the README).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pick-python.sh
pick_python || exit 1
if [ "$(id -u)" = 0 ]; then venv=/opt/diagnose; bindir=/usr/local/bin; else
  venv="$HOME/.local/share/diagnose"; bindir="$HOME/.local/bin"; fi
ver=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
"$PY" -m venv --clear "$venv" || {
  echo "diagnose: $PY cannot make a venv; install python$ver-venv (Debian/Ubuntu: apt-get install python$ver-venv or python3-venv) and retry" >&2
  exit 1; }
"$venv/bin/python" -m pip install -q .
mkdir -p "$bindir"
ln -sf "$venv/bin/diagnose" "$bindir/diagnose"
echo "installed: $bindir/diagnose -> $venv/bin/diagnose (Python $ver)"
exec "$venv/bin/diagnose" run "$@"
