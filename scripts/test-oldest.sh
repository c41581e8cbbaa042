#!/usr/bin/env bash
# The part of the suite that needs no root, on the oldest supported Python
# (3.9): compiles every source with it, then runs pytest with
# DIAGNOSE_TEST_NO_ROOT=1 in a venv that has the project's dependencies (not
# the project: PYTHONPATH points at this checkout). Called by scripts/test.sh;
# extra arguments go to pytest. DIAGNOSE_PYTHON39 names the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
py=""
for cand in ${DIAGNOSE_PYTHON39:-} $(command -v python3.9 || true) \
            $(ls -d "$HOME"/.pyenv/versions/3.9.*/bin/python3.9 2>/dev/null | sort -rV) /usr/bin/python3.9; do
  if [ -x "$cand" ] && "$cand" -c 'import sys; assert sys.version_info[:2] == (3, 9)' 2>/dev/null; then
    py=$cand; break
  fi
done
if [ -z "$py" ]; then
  echo "test-oldest: no Python 3.9 here (python3.9 on PATH or under ~/.pyenv); install one, or set DIAGNOSE_TEST_OLDEST=0" >&2
  exit 1
fi
# the dependencies as pyproject.toml lists them (runtime and the test extra)
reqs=$(python3 - <<'PY'
import sys
sys.path.insert(0, ".")
from diagnose.compat import tomllib
p = tomllib().loads(open("pyproject.toml").read())["project"]
print("\n".join(p["dependencies"] + p["optional-dependencies"]["test"]))
PY
)
venv=${XDG_CACHE_HOME:-$HOME/.cache}/diagnose-test/py3.9
stamp=$(printf '%s\n%s\n' "$py" "$reqs" | sha256sum | cut -c1-16)
if [ "$(cat "$venv/.deps" 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$venv"
  "$py" -m venv "$venv"
  printf '%s\n' "$reqs" > "$venv/requirements.txt"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$venv/requirements.txt"
  echo "$stamp" > "$venv/.deps"
fi
"$venv/bin/python" -m compileall -q diagnose checks reports tests scripts bench
echo "test-oldest: the suite without root on $("$venv/bin/python" -V)" >&2
DIAGNOSE_TEST_NO_ROOT=1 PYTHONPATH="$PWD" exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
