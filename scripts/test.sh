#!/usr/bin/env bash
# FOR A DEVELOPMENT OR CI MACHINE ONLY, never a customer's server: it installs
# database servers, network tools and more with apt-get, and runs tests as
# root that build filesystems, namespaces and servers.
#
# Installs everything the test suite needs on a fresh Debian/Ubuntu machine
# (Debian packages with apt-get, Python packages with pip), then runs the whole
# suite on the default python3, and the part that needs no root again on the
# oldest supported Python (3.9, in a venv of its own). Extra arguments go to
# pytest. DIAGNOSE_TEST_OLDEST=0 skips the second pass.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
pkgs=$(sed -e 's/#.*//' scripts/test-packages.txt | tr -s ' \n' ' ')
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
python3 -m pip install -q -e '.[test]'
# pytest exits 5 when it collects nothing; that is a failure here too.
python3 -m pytest -q "$@"
[ "${DIAGNOSE_TEST_OLDEST:-1}" = 0 ] && exit 0
exec bash scripts/test-oldest.sh "$@"
