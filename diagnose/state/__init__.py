"""What diagnose keeps between runs, in the state directory (DESIGN.md section 9):
the acceptance baseline (``baseline/``), the run history database and saved
reports (``reports/``).

The state directory is ``[site] state_dir`` (default ``/var/lib/diagnose``),
overridden by ``$DIAGNOSE_STATE_DIR``. It belongs to the machine that runs
diagnose, never to a recorded tree read with ``--root``.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

DEFAULT_STATE_DIR = "/var/lib/diagnose"


def state_dir(site: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> str:
    """The state directory: ``$DIAGNOSE_STATE_DIR``, else ``[site] state_dir``, else the default."""
    env = os.environ if env is None else env
    if env.get("DIAGNOSE_STATE_DIR"):
        return env["DIAGNOSE_STATE_DIR"]
    return (site or {}).get("state_dir") or DEFAULT_STATE_DIR
