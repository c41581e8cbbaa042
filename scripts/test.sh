#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian/Ubuntu machine
# (Debian packages with apt-get, Python packages with pip), then runs it.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
pkgs=$(sed -e 's/#.*//' scripts/test-packages.txt | tr -s ' \n' ' ')
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
python3 -m pip install -q -e '.[test]'
# pytest exits 5 when it collects nothing; that is a failure here too.
exec python3 -m pytest -q "$@"
