"""Figures from queue_log events, in one streaming pass.

Event data fields as app_queue.c writes them (``ast_queue_log`` calls):

- ``ENTERQUEUE``  url|callerid|position
- ``RINGNOANSWER`` ms the member's phone rang unanswered (agent = member)
- ``RINGCANCELED`` ms it rang before the caller hung up (newer versions)
- ``CONNECT``     holdtime|bridged channel uniqueid|ringtime (agent = member)
- ``COMPLETEAGENT`` / ``COMPLETECALLER`` holdtime|calltime|origposition
- ``ABANDON`` / ``EXITWITHTIMEOUT`` / ``EXITEMPTY`` position|origposition|waittime
- ``EXITWITHKEY`` key|position|origposition|waittime
- ``ADDMEMBER`` (``PAUSED`` or empty), ``REMOVEMEMBER``, ``PAUSE``/``UNPAUSE``
  reason, ``PAUSEALL``/``UNPAUSEALL`` (queue NONE), ``AGENTLOGIN``/``AGENTLOGOFF``
- ``CONFIGRELOAD``, ``QUEUESTART`` (queue and agent NONE)

Definitions (docs/checks/queue.kpi.md): offered = ENTERQUEUE lines in the
window; answered = CONNECT; abandoned = ABANDON; each counted at its own
time stamp. Hold time (speed of answer) is CONNECT's holdtime. A call's
ring time is how long agents' phones rang for it before the answer: its
RINGNOANSWER rings plus the answering ring (CONNECT's ringtime); rings
logged in the same second are parallel (ringall) and count once, as the
longest. Histograms at one-second resolution keep memory bounded and let
the judge compute any service level or percentile without the probe
comparing against a target.
"""

from __future__ import annotations

from typing import Any, Iterable

HIST = 601  # seconds 0..599, the last bin holds 600 s and more
MAX_OPEN_CALLS = 50000
MAX_UNKNOWN = 50
KNOWN = frozenset({
    b"ENTERQUEUE", b"CONNECT", b"RINGNOANSWER", b"RINGCANCELED", b"ABANDON", b"EXITWITHTIMEOUT",
    b"EXITEMPTY", b"EXITWITHKEY", b"COMPLETEAGENT", b"COMPLETECALLER", b"TRANSFER",
    b"BLINDTRANSFER", b"ATTENDEDTRANSFER", b"ADDMEMBER", b"REMOVEMEMBER", b"PAUSE", b"UNPAUSE",
    b"PAUSEALL", b"UNPAUSEALL", b"AGENTLOGIN", b"AGENTLOGOFF", b"AGENTCALLBACKLOGIN",
    b"AGENTCALLBACKLOGOFF", b"AGENTDUMP", b"CONFIGRELOAD", b"QUEUESTART", b"DID", b"INFO",
    b"SYSCOMPAT", b"ENTERQUEUE", b"MIXMONITOR", b"UPDATEFIELD",
})
_END_CALL = frozenset({b"COMPLETEAGENT", b"COMPLETECALLER", b"TRANSFER", b"BLINDTRANSFER",
                       b"ATTENDEDTRANSFER"})


def _int(b: bytes) -> int:
    try:
        return int(b)
    except ValueError:
        return 0


class Member:
    __slots__ = ("name", "present", "paused", "in_call", "rna", "rna_ms", "connects", "talk_s",
                 "pauses", "paused_at", "ringcanceled", "first_rna", "last_rna", "last_connect")

    def __init__(self, name: str, paused: bool = False, present: bool = True) -> None:
        self.name, self.present, self.paused, self.in_call = name, present, paused, False
        self.rna = self.rna_ms = self.connects = self.talk_s = self.pauses = self.ringcanceled = 0
        self.paused_at = self.first_rna = self.last_rna = self.last_connect = None

    @property
    def available(self) -> bool:
        return self.present and not self.paused


class Queue:
    def __init__(self, name: str, buckets: int) -> None:
        self.name = name
        self.offered = self.answered = self.abandoned = self.timeout = self.empty = self.key = 0
        self.hold_sum = self.ring_sum = self.abandon_wait_sum = self.rna = 0
        self.hold_hist = [0] * HIST
        self.ring_hist = [0] * HIST
        self.members: dict[bytes, Member] = {}
        self.alias: dict[bytes, bytes] = {}
        self.n_available = 0
        self.n_in_call = 0
        self.none_available = self.all_busy = 0
        self.none_available_first = self.none_available_last = None
        z = [0] * buckets
        self.h_offered, self.h_answered, self.h_abandoned = list(z), list(z), list(z)
        self.h_hold, self.h_none, self.h_busy, self.h_max_in_call = list(z), list(z), list(z), list(z)

    def member(self, key: bytes) -> Member:
        m = self.members.get(self.alias.get(key, key))
        if m is None:
            m = self.members[key] = Member(key.decode("utf-8", "replace"))
            self.n_available += 1
        return m

    def set_state(self, m: Member, present: bool | None = None, paused: bool | None = None) -> None:
        before = m.available
        if present is not None:
            m.present = present
            if not present and m.in_call:
                m.in_call = False
                self.n_in_call -= 1
        if paused is not None:
            m.paused = paused
        after = m.available
        if before != after:
            self.n_available += 1 if after else -1


class Scan:
    """Streaming figures for a window [start, end] in hour buckets aligned
    to the local clock (*utc_offset_s*)."""

    def __init__(self, start: int, end: int, utc_offset_s: int, only: Iterable[str] = (),
                 roster: dict[str, list[dict[str, Any]]] | None = None) -> None:
        self.start, self.end, self.offset = start, end, utc_offset_s
        self.bucket0 = (start + utc_offset_s) // 3600 * 3600 - utc_offset_s
        self.buckets = max(1, (end - self.bucket0) // 3600 + 1)
        self.only = {q.encode() for q in only}
        self.queues: dict[bytes, Queue] = {}
        self.calls: dict[bytes, list] = {}
        self.stats: dict[str, Any] = {"lines": 0, "in_window": 0, "malformed": 0, "malformed_samples": [],
                                      "unknown_events": {}, "truncated": 0, "truncated_in": [],
                                      "read_errors": [], "evicted_calls": 0, "config_reloads": 0,
                                      "first_ts": None, "last_ts": None}
        self.roster = roster or {}
        for qname in self.roster:
            self.queue(qname.encode())

    def queue(self, key: bytes) -> Queue:
        q = self.queues.get(key)
        if q is None:
            name = key.decode("utf-8", "replace")
            q = self.queues[key] = Queue(name, self.buckets)
            for entry in self.roster.get(name, []):
                canon = entry["name"].encode()
                if canon in q.members:
                    continue
                m = q.members[canon] = Member(entry["name"], paused=bool(entry.get("paused")))
                if m.available:
                    q.n_available += 1
                q.alias[entry["interface"].encode()] = canon
        return q

    def _malformed(self, line: bytes) -> None:
        st = self.stats
        st["malformed"] += 1
        if len(st["malformed_samples"]) < 3:
            st["malformed_samples"].append(line[:160].decode("utf-8", "replace"))

    def feed(self, lines: Iterable[bytes]) -> None:
        st = self.stats
        start, end, bucket0 = self.start, self.end, self.bucket0
        last_bucket = self.buckets - 1
        queues, calls, only = self.queues, self.calls, self.only
        getq = self.queue
        n = 0
        first_ts = st["first_ts"]
        last_ts = st["last_ts"]
        last_head = None
        ts = b = 0
        inside = False
        for line in lines:
            n += 1
            p = line.split(b"|")
            if len(p) < 5:
                if line.strip():
                    self._malformed(line)
                else:
                    n -= 1
                continue
            if p[0] != last_head:  # lines of one second share the time stamp: parse it once
                try:
                    ts = int(p[0])
                except ValueError:
                    self._malformed(line)
                    continue
                last_head = p[0]
                inside = start <= ts <= end
                if inside:
                    if first_ts is None:
                        first_ts = ts
                    last_ts = ts
                    b = (ts - bucket0) // 3600
                    if b > last_bucket:
                        b = last_bucket
            if not inside:
                continue
            ev = p[4]
            qkey = p[2]
            if only and qkey not in only and qkey != b"NONE":
                continue
            if ev == b"RINGNOANSWER":
                q = queues.get(qkey) or getq(qkey)
                m = q.members.get(p[3]) or q.member(p[3])
                ms = _int(p[5]) if len(p) > 5 else 0
                m.rna += 1
                m.rna_ms += ms
                if m.first_rna is None:
                    m.first_rna = ts
                m.last_rna = ts
                q.rna += 1
                c = calls.get(p[1])
                if c is not None:
                    if c[3] == ts:
                        if ms > c[4]:
                            c[2] += ms - c[4]
                            c[4] = ms
                    else:
                        c[2] += ms
                        c[3] = ts
                        c[4] = ms
            elif ev == b"ENTERQUEUE":
                q = queues.get(qkey) or getq(qkey)
                q.offered += 1
                q.h_offered[b] += 1
                if q.n_available <= 0:
                    q.none_available += 1
                    q.h_none[b] += 1
                    if q.none_available_first is None:
                        q.none_available_first = ts
                    q.none_available_last = ts
                elif q.n_in_call >= q.n_available:
                    q.all_busy += 1
                    q.h_busy[b] += 1
                calls[p[1]] = [qkey, ts, 0, None, 0]
                if len(calls) > MAX_OPEN_CALLS:
                    calls.pop(next(iter(calls)))
                    st["evicted_calls"] += 1
            elif ev == b"CONNECT":
                q = queues.get(qkey) or getq(qkey)
                hold = _int(p[5]) if len(p) > 5 else 0
                ringtime = _int(p[7]) if len(p) > 7 else 0
                q.answered += 1
                q.h_answered[b] += 1
                q.hold_sum += hold
                q.h_hold[b] += hold
                q.hold_hist[hold if 0 <= hold < HIST else HIST - 1] += 1
                c = calls.pop(p[1], None)
                ring = ringtime + (c[2] / 1000.0 if c is not None else 0.0)
                q.ring_sum += ring
                r = int(ring)
                q.ring_hist[r if r < HIST else HIST - 1] += 1
                m = q.members.get(p[3]) or q.member(p[3])
                m.connects += 1
                m.last_connect = ts
                if not m.in_call:
                    m.in_call = True
                    q.n_in_call += 1
                    if q.n_in_call > q.h_max_in_call[b]:
                        q.h_max_in_call[b] = q.n_in_call
            elif ev in _END_CALL:
                q = queues.get(qkey) or getq(qkey)
                m = q.members.get(p[3]) or q.member(p[3])
                if ev != b"TRANSFER" and ev != b"BLINDTRANSFER" and ev != b"ATTENDEDTRANSFER" and len(p) > 6:
                    m.talk_s += _int(p[6])
                if m.in_call:
                    m.in_call = False
                    q.n_in_call -= 1
                calls.pop(p[1], None)
            elif ev == b"ABANDON":
                q = queues.get(qkey) or getq(qkey)
                q.abandoned += 1
                q.h_abandoned[b] += 1
                q.abandon_wait_sum += _int(p[7]) if len(p) > 7 else 0
                calls.pop(p[1], None)
            elif ev == b"EXITWITHTIMEOUT" or ev == b"EXITEMPTY" or ev == b"EXITWITHKEY":
                q = queues.get(qkey) or getq(qkey)
                if ev == b"EXITWITHTIMEOUT":
                    q.timeout += 1
                elif ev == b"EXITEMPTY":
                    q.empty += 1
                else:
                    q.key += 1
                calls.pop(p[1], None)
            elif ev in KNOWN:
                self._member_event(ev, qkey, p, ts)
            else:
                unknown = st["unknown_events"]
                name = ev.decode("utf-8", "replace")[:40]
                if name in unknown or len(unknown) < MAX_UNKNOWN:
                    unknown[name] = unknown.get(name, 0) + 1
        st["lines"] += n
        st["first_ts"], st["last_ts"] = first_ts, last_ts

    def _member_event(self, ev: bytes, qkey: bytes, p: list[bytes], ts: int) -> None:
        if ev == b"CONFIGRELOAD":
            self.stats["config_reloads"] += 1
            return
        if ev in (b"PAUSEALL", b"UNPAUSEALL", b"AGENTLOGIN", b"AGENTLOGOFF", b"AGENTCALLBACKLOGIN",
                  b"AGENTCALLBACKLOGOFF") or qkey == b"NONE":
            targets = [q for q in self.queues.values() if self.known(q, p[3])]
        else:
            targets = [self.queue(qkey)]
        for q in targets:
            m = q.member(p[3])
            if ev in (b"PAUSE", b"PAUSEALL"):
                if not m.paused:
                    m.pauses += 1
                    m.paused_at = ts
                q.set_state(m, paused=True)
            elif ev in (b"UNPAUSE", b"UNPAUSEALL"):
                q.set_state(m, paused=False)
                m.paused_at = None
            elif ev in (b"ADDMEMBER", b"AGENTLOGIN", b"AGENTCALLBACKLOGIN"):
                paused = len(p) > 5 and p[5].strip() == b"PAUSED"
                q.set_state(m, present=True, paused=paused if ev == b"ADDMEMBER" else None)
            elif ev in (b"REMOVEMEMBER", b"AGENTLOGOFF", b"AGENTCALLBACKLOGOFF"):
                q.set_state(m, present=False)

    @staticmethod
    def known(q: Queue, agent: bytes) -> bool:
        return agent in q.members or agent in q.alias

    def result(self) -> dict[str, Any]:
        """JSON facts: per queue figures, hourly series, members, log health."""
        out: dict[str, Any] = {}
        for q in self.queues.values():
            if not (q.offered or q.answered or q.abandoned or q.members or q.rna):
                continue
            hours = []
            for i in range(self.buckets):
                hours.append({"start": self.bucket0 + i * 3600, "offered": q.h_offered[i],
                              "answered": q.h_answered[i], "abandoned": q.h_abandoned[i],
                              "hold_sum_s": q.h_hold[i], "none_available": q.h_none[i],
                              "all_busy": q.h_busy[i], "max_in_call": q.h_max_in_call[i]})
            members = {}
            for m in q.members.values():
                members[m.name] = {"rna": m.rna, "rna_ms": m.rna_ms, "connects": m.connects,
                                   "talk_s": m.talk_s, "pauses": m.pauses, "paused": m.paused,
                                   "paused_at": m.paused_at, "present": m.present,
                                   "first_rna": m.first_rna, "last_rna": m.last_rna,
                                   "last_connect": m.last_connect}
            out[q.name] = {
                "offered": q.offered, "answered": q.answered, "abandoned": q.abandoned,
                "timed_out": q.timeout, "left_empty": q.empty, "exit_key": q.key,
                "hold_sum_s": q.hold_sum, "ring_sum_s": round(q.ring_sum, 3),
                "abandon_wait_sum_s": q.abandon_wait_sum, "rna": q.rna,
                "hold_hist": _trim(q.hold_hist), "ring_hist": _trim(q.ring_hist),
                "none_available": q.none_available, "none_available_first": q.none_available_first,
                "none_available_last": q.none_available_last, "all_busy": q.all_busy,
                "available_at_end": q.n_available, "hours": hours, "members": members,
            }
        return out


def _trim(hist: list[int]) -> list[int]:
    end = len(hist)
    while end and not hist[end - 1]:
        end -= 1
    return hist[:end]
