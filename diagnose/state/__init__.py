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

from diagnose.schema import Key

DEFAULT_STATE_DIR = "/var/lib/diagnose"


def state_dir(site: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> str:
    """The state directory: ``$DIAGNOSE_STATE_DIR``, else ``[site] state_dir``, else the default."""
    env = os.environ if env is None else env
    if env.get("DIAGNOSE_STATE_DIR"):
        return env["DIAGNOSE_STATE_DIR"]
    return (site or {}).get("state_dir") or DEFAULT_STATE_DIR


# The [history] section (diagnose.state.history; docs/history.md).
HISTORY_SCHEMA: dict[str, Key] = {
    "enabled": Key(bool, True, "keep the run history in the state directory and mark findings "
                   "new, recurring, persistent or flapping"),
    "keep_days": Key(int, 400, "forget runs older than this many days", low=1, high=36500),
    "keep_runs": Key(int, 5000, "keep at most this many runs (frequent runs stay bounded too)",
                     low=2, high=1_000_000),
    "recent_runs": Key(int, 30, "how many recent runs decide recurring/persistent and runs_seen "
                       "(flapping always looks at the last 21)", low=2, high=1000),
    "flap_start_percent": Key((int, float), 20, "a finding starts flapping when its weighted "
                              "state change over the last 21 runs reaches this percent"),
    "flap_stop_percent": Key((int, float), 5, "and stops flapping when it falls to this percent"),
    "record_from_facts": Key(bool, False, "also record runs judged with --from-facts (at the "
                             "time the facts were collected)"),
}
