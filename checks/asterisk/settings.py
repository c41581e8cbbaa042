"""The two config sections both queue checks read, and what they watch.

``[asterisk]`` says where Asterisk keeps its files and how to reach its
manager interface; ``[queues]`` holds the window and the call center's
targets (DESIGN.md section 9). call.routing owns ``[asterisk]`` and reads
``[queues]``; queue.kpi owns ``[queues]`` and reads ``[asterisk]``.
"""

from __future__ import annotations

import posixpath
from typing import Any

from diagnose.schema import Key

ASTERISK: dict[str, Key] = {
    "config_dir": Key(str, "/etc/asterisk", "where queues.conf, pjsip.conf, sip.conf and extensions.conf are"),
    "queue_log": Key(str, "/var/log/asterisk/queue_log",
                     "app_queue's event log; rotated .1, .N.gz and -YYYYMMDD files beside it are read too"),
    "ami_url": Key(str, "", "manager interface for live member state, e.g. tcp://127.0.0.1:5038 "
                            "(tls://host:5039 for TLS); empty: files only"),
    "ami_user": Key(str, "", "AMI user (a [user] in manager.conf with read = agent)"),
    "ami_secret_env": Key(str, "", "environment variable holding that user's AMI secret"),
    "ami_timeout_s": Key((int, float), 3.0, "how long the AMI query may take"),
}

QUEUES: dict[str, Key] = {
    "window_h": Key((int, float), 24, "hours of queue_log to judge, counted back from the last event "
                                      "(from now on the live machine)"),
    "answer_within_s": Key((int, float), 20, "service level: a call counts as answered in time when "
                                             "answered within this many seconds of entering the queue"),
    "ring_time_s": Key((int, float), 20, "target: average time agents' phones ring before an answer"),
    "asa_s": Key((int, float), 30, "target: average speed of answer (wait in queue until answered)"),
    "abandon_percent": Key((int, float), 5, "target: at most this share of offered calls abandoned"),
    "service_level_percent": Key((int, float), 80, "target: at least this share of offered calls "
                                                   "answered within answer_within_s"),
    "min_calls": Key(int, 10, "judge a queue's targets only when it was offered at least this many calls"),
    "queues": Key(list, [], "queues to judge (default: every queue in queues.conf or the log)", item=str),
}

# Files both checks depend on, relative to config_dir (FreePBX writes the
# *_additional.conf files and keeps the *_custom.conf ones for local edits).
WATCHED = ("queues.conf", "queues_*.conf", "extensions.conf", "extensions_*.conf",
           "pjsip.conf", "pjsip*.conf", "sip.conf", "sip_*.conf")
DEFAULT_WATCHES = tuple(posixpath.join("/etc/asterisk", f) for f in WATCHED)


def asterisk_cfg(cfg: dict[str, Any]) -> dict[str, Any]:
    """The [asterisk] values from either check's cfg."""
    if "config_dir" in cfg:
        return cfg
    out = {k: v.default for k, v in ASTERISK.items()}
    out.update(cfg.get("asterisk") or {})
    return out


def queues_cfg(cfg: dict[str, Any]) -> dict[str, Any]:
    """The [queues] values from either check's cfg."""
    if "window_h" in cfg:
        return cfg
    out = {k: (list(v.default) if isinstance(v.default, list) else v.default) for k, v in QUEUES.items()}
    out.update(cfg.get("queues") or {})
    return out


def watched(cfg: dict[str, Any]) -> list[str]:
    conf_dir = asterisk_cfg(cfg).get("config_dir") or "/etc/asterisk"
    return [posixpath.join(conf_dir, f) for f in WATCHED]
