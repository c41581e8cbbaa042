#!/usr/bin/env bash
# Builds, on a connected machine, what a technician carries to a site without
# internet (see the README, "Sites without internet"):
#   OUTDIR/diagnose.pyz                       one file: python3 diagnose.pyz run
#   OUTDIR/diagnose-VERSION-offline.tar.gz    wheels + install.sh (pip --no-index)
# for CPython 3.9 to 3.13 on this machine's architecture. OUTDIR defaults to dist/.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 scripts/bundle/build.py "$@"
