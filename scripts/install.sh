#!/usr/bin/env bash
# Installs diagnose on this machine and audits it with the built-in defaults.
# Uses pip for the current python3; where the system Python refuses pip
# (PEP 668, Debian 12 / Ubuntu 23.04+), installs into a venv at /opt/diagnose
# (or ~/.local/share/diagnose without root) and links the command onto PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
if python3 -m pip install -q . 2>/tmp/diagnose-pip.err; then
  exe=$(python3 -c 'import sys, os; print(os.path.join(os.path.dirname(sys.executable), "diagnose"))')
else
  if [ "$(id -u)" = 0 ]; then venv=/opt/diagnose; bindir=/usr/local/bin; else
    venv="$HOME/.local/share/diagnose"; bindir="$HOME/.local/bin"; fi
  python3 -m venv "$venv" || { cat /tmp/diagnose-pip.err >&2; echo "install python3-venv (apt-get install python3-venv) and retry" >&2; exit 1; }
  "$venv/bin/pip" install -q .
  mkdir -p "$bindir"
  ln -sf "$venv/bin/diagnose" "$bindir/diagnose"
  exe="$venv/bin/diagnose"
fi
echo "installed: $exe"
exec "$exe" run "$@"
