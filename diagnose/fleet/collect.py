"""Gather seat reports for the site report: from the broker's retained
messages, or from a directory of report files collected any other way.

Everything here is untrusted input: topic levels, payload sizes, JSON shapes.
Nothing is executed or used as a path; a report that is too large or not a
valid ``diagnose.report/1`` document is refused with the reason, and the
rest of the site goes on.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from diagnose.fleet.settings import Fleet, valid_level
from diagnose.model import SCHEMA, Report, Status, Verdict

LEAVES = ("report", "status", "seen")
MAX_FINDINGS = 2000


@dataclass
class SeatInput:
    """What the site knows of one seat before judging it."""

    name: str
    report: Report | None = None
    raw: Any = None  # the accepted document (or its JSON text: Gathered.encode)
    seat: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] | None = None
    seen: str | None = None
    refused: str | None = None
    size: int = 0
    source: str = ""
    fresh: bool = False  # answered this site run's request


@dataclass
class Gathered:
    seats: dict[str, SeatInput] = field(default_factory=dict)
    rejects: list[dict[str, Any]] = field(default_factory=list)  # {source, reason}
    broker_error: dict[str, str] | None = None  # {kind, message}
    source: str = ""
    # For a JSON site report: keep each accepted report as its JSON text
    # (jsonfmt.Encoded), not as the parsed document.
    encode: bool = False

    def seat(self, name: str) -> SeatInput:
        if name not in self.seats:
            self.seats[name] = SeatInput(name)
        return self.seats[name]


def _size(n: int) -> str:
    return f"{n / 1048576:.1f} MB" if n >= 1048576 else f"{n / 1024:.1f} kB"


def validate_report(data: bytes, max_bytes: int) -> tuple[dict[str, Any] | None, Report | None, str | None]:
    """(document, Report, None) or (None, None, why it is refused)."""
    if len(data) > max_bytes:
        return None, None, f"{_size(len(data))} is over the limit of {_size(max_bytes)} ([fleet] max_report_kb)"
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return None, None, f"not JSON ({str(exc)[:120]})"
    except RecursionError:
        return None, None, "not a report: nested too deeply"
    if not isinstance(doc, dict):
        return None, None, f"not a report: a JSON {type(doc).__name__}"
    if doc.get("schema") != SCHEMA:
        return None, None, f"schema {str(doc.get('schema'))[:60]!r}, expected {SCHEMA!r}"
    findings = doc.get("findings")
    if not isinstance(findings, list) or len(findings) > MAX_FINDINGS:
        return None, None, f"malformed {SCHEMA} document: findings must be a list of at most {MAX_FINDINGS}"
    report = _all_ok(doc)
    try:
        if report is None:
            report = Report.from_dict(doc)
        for f in report.findings:
            if not all(isinstance(x, str) for x in (f.check, f.subject, f.title, f.detail, f.remedy)):
                raise TypeError("finding fields must be strings")
            if not isinstance(f.evidence, dict) or not all(isinstance(c, str) for c in f.caused_by):
                raise TypeError("evidence must be an object, caused_by a list of ids")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return None, None, f"malformed {SCHEMA} document: {type(exc).__name__}: {str(exc)[:120]}"
    seat = doc.get("seat")
    if seat is not None and (not isinstance(seat, dict) or
                             not all(isinstance(v, (str, int, float, type(None))) for v in seat.values())):
        return None, None, f"malformed {SCHEMA} document: the seat object must map names to strings"
    return doc, report, None


_OK = {"ok", "skip"}
_NOT_ERROR = {"ok", "skip", "warn", "fail"}
_FAULTS = {None, "site", "software", "undetermined"}


def _all_ok(doc: dict[str, Any]) -> Report | None:
    """The report of a seat with nothing to attribute (every finding ok or
    skip, no check in error), read off the document without a model object
    per finding; None for anything else or anything unusual, which
    :meth:`Report.from_dict` then builds (or refuses) in full. Accepts only
    what the full path accepts, and makes what the site report uses of it:
    no finding is a problem, no check errored, so both lists stay empty."""
    try:
        findings, checks, v = doc["findings"], doc["checks"], doc["verdict"]
        resolved = doc.get("resolved", [])
        if type(checks) is not list or type(v) is not dict or type(resolved) is not list:
            return None
        for c in checks:
            if type(c) is not dict or c.get("status") not in _NOT_ERROR or "name" not in c:
                return None
        for f in findings:
            if type(f) is not dict or f.get("status") not in _OK or f.get("fault") not in _FAULTS:
                return None
            if type(f["check"]) is not str or type(f["subject"]) is not str or type(f["title"]) is not str:
                return None
            if type(f.get("detail", "")) is not str or type(f.get("evidence", {})) is not dict:
                return None
            steps = f.get("steps")
            if steps:
                if type(steps) is not list or not all(type(x) is dict for x in steps):
                    return None
            elif f.get("remedy") and type(f["remedy"]) is not str:
                return None
            caused, conseq = f.get("caused_by", []), f.get("consequences", [])
            if type(caused) is not list or type(conseq) is not list or not all(type(x) is str for x in caused):
                return None
        verdict = Verdict(Status.parse(v["status"]), v["site_faults"], v["software_faults"], v["undetermined"],
                          v["headline"])
        return Report(doc["tool"]["version"], doc["host"], doc.get("site", ""), doc.get("role", ""),
                      doc["started"], doc.get("duration_s", 0.0), [], [], verdict, doc.get("config_file"),
                      list(resolved), doc.get("history"))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _small_json(data: bytes) -> dict[str, Any] | None:
    if len(data) > 4096:
        return None
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def add_message(g: Gathered, fleet: Fleet, topic: str, payload: bytes, after: float | None = None) -> None:
    """File one retained (or fresh) message under its seat."""
    parts = topic.split("/")
    base = f"{fleet.prefix}/{fleet.site_id}/".split("/")[:-1]
    if parts[:len(base)] != base or len(parts) != len(base) + 2:
        return
    name, leaf = parts[len(base)], parts[len(base) + 1]
    if name == "cmd" or leaf not in LEAVES:
        return
    if not valid_level(name):
        g.rejects.append({"source": topic[:200], "reason": "the seat name in the topic is not a valid name"})
        return
    s = g.seat(name)
    s.source = f"{fleet.prefix}/{fleet.site_id}/{name}"
    if leaf == "report":
        s.size = len(payload)
        doc, report, why = validate_report(payload, fleet.max_report_bytes)
        s.raw, s.report, s.refused = _kept(g, doc), report, why
        s.seat = dict((doc or {}).get("seat") or {})
        if after is not None and report is not None:
            s.fresh = True
    elif leaf == "status":
        s.status = _small_json(payload)
    else:
        seen = _small_json(payload)
        s.seen = str(seen.get("time")) if seen and seen.get("time") else None


def _kept(g: Gathered, doc: dict[str, Any] | None) -> Any:
    if doc is None or not g.encode:
        return doc
    from diagnose.reports.jsonfmt import Encoded, compact

    return Encoded(compact(doc))


def from_directory(path: str, fleet: Fleet, encode: bool = False) -> Gathered:
    """Every ``*.json`` report in *path* (not recursive). A file's seat is
    its report's ``seat.name``, else its host, else the file name. With
    *encode*, accepted reports are kept as JSON text (:class:`Gathered`)."""
    g = Gathered(source=os.path.abspath(path), encode=encode)
    for entry in sorted(os.scandir(path), key=lambda e: e.name):
        if not entry.name.endswith(".json") or not entry.is_file():
            continue
        size = entry.stat().st_size
        stem = entry.name[:-5]
        if size > fleet.max_report_bytes:
            doc, report, why = None, None, (f"{_size(size)} is over the limit of "
                                            f"{_size(fleet.max_report_bytes)} ([fleet] max_report_kb)")
        else:
            with open(entry.path, "rb") as fh:
                data = fh.read(fleet.max_report_bytes + 1)
            doc, report, why = validate_report(data, fleet.max_report_bytes)
        seat = dict((doc or {}).get("seat") or {})
        name = str(seat.get("name") or (report.host if report else "") or stem)
        if not valid_level(name):
            name = stem if valid_level(stem) else f"file-{len(g.seats) + 1}"
        s = g.seat(name)
        s.raw, s.report, s.refused, s.seat, s.size, s.source = _kept(g, doc), report, why, seat, size, entry.path
        s.status = {"state": "unknown", "time": None}
    return g


def from_broker(fleet: Fleet, creds: Any, fresh: bool = False, wait_s: float = 30.0,
                encode: bool = False) -> Gathered:
    """Every retained message under the site's topics. With *fresh*, also
    ask every seat to run now and wait up to *wait_s* for the online ones.

    paho-mqtt only connects and logs in; the messages are read straight from
    the socket (:mod:`diagnose.fleet.mqttread`): paho's loop would take
    seconds over a 2000-seat site's retained burst."""
    from diagnose.fleet import mqtt
    from diagnose.fleet.mqttread import ProtocolError, Stream

    g = Gathered(source=str(fleet.broker), encode=encode)
    client = mqtt.new_client(f"diagnose-site-{uuid.uuid4().hex[:8]}", fleet, creds)
    state: dict[str, Any] = {"after": None, "fenced": False, "fence_mid": None}
    fence_topic = f"{fleet.prefix}/{fleet.site_id}/cmd/fence-{uuid.uuid4().hex[:8]}"

    def on_publish(topic: str, payload: bytes, retain: bool) -> None:
        add_message(g, fleet, topic, payload, None if retain else state["after"])

    def on_suback(mid: int) -> None:
        if mid == state["fence_mid"]:
            state["fenced"] = True

    try:
        mqtt.connect(client, fleet.broker, fleet.keepalive_s, threaded=False)
    except mqtt.ConnectFailed as exc:
        g.broker_error = {"kind": exc.kind, "message": str(exc)}
        return g
    stream = Stream(client.socket(), fleet.keepalive_s, on_publish, on_suback)

    def until(pred: Any, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while not pred() and not stream.closed:
            left = end - time.monotonic()
            if left <= 0:
                break
            stream.read(min(left, 1.0))
        return pred()

    try:
        # QoS 0: retained messages then go out in order right behind the
        # SUBACK, so the SUBACK of a second subscription is a fence: when it
        # arrives, every retained message before it has arrived too.
        stream.subscribe(fleet.site_filter, qos=0)
        state["fence_mid"] = stream.subscribe(fence_topic, qos=0)
        if not until(lambda: state["fenced"], max(10.0, wait_s)):
            why = "closed the connection before it had sent" if stream.closed else "did not send"
            g.broker_error = {"kind": "timeout", "message": f"the broker {fleet.broker} {why} the retained "
                              "reports" + ("" if stream.closed else " in time")}
            return g
        if fresh:
            online = {n for n, s in g.seats.items() if (s.status or {}).get("state") == "online"}
            state["after"] = time.time()
            stream.publish(fleet.cmd_topic, b"run", qos=1)
            until(lambda: all(g.seats[n].fresh or g.seats[n].refused for n in online
                              if (g.seats[n].status or {}).get("state") == "online"), wait_s)
    except (OSError, TimeoutError, ProtocolError) as exc:
        g.broker_error = {"kind": "tcp", "message": f"the connection to the broker {fleet.broker} failed while "
                          f"reading the retained reports: {getattr(exc, 'strerror', None) or exc}"}
    finally:
        stream.close()
    return g
