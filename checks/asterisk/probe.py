"""What both queue checks gather: queues.conf (with includes), devices and
dialplan, one streaming pass over queue_log's window, and AMI when set.

call.routing and queue.kpi run concurrently and need the same pass over a
possibly large log; the first one to ask does it and the other waits for
and reuses the result (same host, files and window, a few seconds apart).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from diagnose.checks.asterisk import dialplan, logfiles, logstats, queueconf
from diagnose.checks.asterisk.settings import asterisk_cfg, queues_cfg
from diagnose.i18n import _

_lock = threading.Lock()
_cache: dict[str, Any] = {"key": None, "at": 0.0, "value": None}
REUSE_S = 30.0


def _utc_offset(ts: int) -> int:
    return int(time.localtime(ts).tm_gmtoff or 0)


def scan_log(host: Any, path: str, window_h: float, only: list[str],
             roster: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    files = logfiles.candidates(host, path)
    sig = (host.root, path, window_h, tuple(only), repr(sorted(roster.items())),
           tuple((f["path"], f["size"], f.get("mtime")) for f in files))
    with _lock:
        if _cache["key"] == sig and time.monotonic() - _cache["at"] < REUSE_S:
            return _cache["value"]
        value = _scan(host, path, window_h, only, roster, files)
        _cache.update(key=sig, at=time.monotonic(), value=value)
        return value


def _scan(host: Any, path: str, window_h: float, only: list[str],
          roster: dict[str, list[dict[str, Any]]], files: list[dict[str, Any]]) -> dict[str, Any]:
    facts: dict[str, Any] = {"path": path, "found": any(f["path"] == path for f in files),
                             "files": [], "window": None, "health": None, "queues": {}}
    if host.live:
        end = int(time.time())
        end_from = "now"
    else:
        end = logfiles.window_end(host, files)
        end_from = "last event"
    if end is None:
        facts["files"] = files
        return facts
    start = int(end - float(window_h) * 3600)
    chosen = logfiles.choose(files, start)
    offset = _utc_offset(end)
    scan = logstats.Scan(start, end, offset, only=only, roster=roster)
    for f in chosen:
        scan.feed(logfiles.lines(host, f, start, scan.stats))
    facts["files"] = [dict(f, read=f in chosen) for f in files]
    oldest = chosen[0]["first_ts"] if chosen else None
    facts["window"] = {"start": start, "end": end, "end_from": end_from, "hours": window_h,
                       "utc_offset_s": offset, "bucket0": scan.bucket0,
                       "covered_from": max(start, oldest) if oldest is not None else None,
                       "rotated": len(chosen) > 1}
    facts["health"] = scan.stats
    facts["queues"] = scan.result()
    return facts


def roster_of(queues: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {name: [{"name": m["name"], "interface": m["interface"], "paused": m["paused"]}
                   for m in q["members"]] for name, q in queues.items()}


def gather(host: Any, cfg: dict[str, Any]) -> dict[str, Any]:
    """Everything both checks need (each keeps the part it judges; the
    log part is shared between them and must not be changed in place)."""
    ast, qcfg = asterisk_cfg(cfg), queues_cfg(cfg)
    conf_dir = ast["config_dir"]
    qc = queueconf.load_queues(host, conf_dir)
    facts: dict[str, Any] = {"config_dir": conf_dir, "queues_conf": {"path": qc["path"], "files": qc["files"]},
                             "queues": qc["queues"], "selected": list(qcfg.get("queues") or [])}
    facts["log"] = scan_log(host, ast["queue_log"], qcfg["window_h"], list(qcfg.get("queues") or []),
                            roster_of(qc["queues"]))
    return facts


def ami_facts(host: Any, cfg: dict[str, Any]) -> dict[str, Any]:
    ast = asterisk_cfg(cfg)
    if not ast.get("ami_url"):
        return {"state": "not-configured", "error": None}
    if not host.live:
        return {"state": "not-live", "error": _("a recorded tree has no manager interface to ask")}
    from diagnose.checks.asterisk import ami

    return ami.queue_status(ast["ami_url"], ast.get("ami_user", ""), ast.get("ami_secret_env", ""),
                            float(ast.get("ami_timeout_s") or 3.0))
