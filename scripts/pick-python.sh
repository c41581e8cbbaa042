# Sourced by scripts/install.sh and by the offline bundle's install.sh:
# pick_python sets PY to the newest interpreter diagnose supports (3.9 to
# 3.13): $DIAGNOSE_PYTHON if set, else python3.13 ... python3.9, else
# python3. It says which it took, or what to install when none fits.
DIAGNOSE_MIN_MINOR=9
DIAGNOSE_MAX_MINOR=13  # and the list of names in pick_python

py_minor() {  # prints the minor version of Python 3.x at $1, or nothing
  "$1" -c 'import sys; print(sys.version_info[1] if sys.version_info[0] == 3 else "")' 2>/dev/null
}

pick_python() {
  PY=""
  local cand minor seen=""
  if [ -n "${DIAGNOSE_PYTHON:-}" ]; then
    minor=$(py_minor "$DIAGNOSE_PYTHON")
    if [ -n "$minor" ] && [ "$minor" -ge "$DIAGNOSE_MIN_MINOR" ] && [ "$minor" -le "$DIAGNOSE_MAX_MINOR" ]; then
      PY=$DIAGNOSE_PYTHON
    else
      echo "diagnose: DIAGNOSE_PYTHON=$DIAGNOSE_PYTHON is not Python 3.$DIAGNOSE_MIN_MINOR to 3.$DIAGNOSE_MAX_MINOR" >&2
      return 1
    fi
  else
    for cand in python3.13 python3.12 python3.11 python3.10 python3.9 python3; do
      command -v "$cand" >/dev/null 2>&1 || continue
      minor=$(py_minor "$cand")
      [ -n "$minor" ] || continue
      seen="$seen $cand (3.$minor)"
      if [ "$minor" -ge "$DIAGNOSE_MIN_MINOR" ] && [ "$minor" -le "$DIAGNOSE_MAX_MINOR" ]; then
        PY=$(command -v "$cand"); break
      fi
    done
  fi
  if [ -z "$PY" ]; then
    echo "diagnose needs Python 3.$DIAGNOSE_MIN_MINOR to 3.$DIAGNOSE_MAX_MINOR; found:${seen:- no python3 at all}." >&2
    echo "Install one, then run this again:" >&2
    echo "  Debian 11/12, Ubuntu 20.04+:  apt-get install python3 python3-venv" >&2
    echo "  Rocky/RHEL/Alma 8:            dnf install python39   (or python311, python312)" >&2
    echo "  Rocky/RHEL/Alma 9:            dnf install python3    (or python3.11, python3.12)" >&2
    echo "or point DIAGNOSE_PYTHON at a suitable interpreter." >&2
    return 1
  fi
  echo "diagnose: using $PY ($("$PY" -c 'import sys; print(sys.version.split()[0])'))" >&2
}
