"""The seat agent (``diagnose agent``): runs the configured audit every
``[fleet] interval`` and whenever the site asks, and publishes the report
(retained) and its liveness over MQTT.

Two threads. The audit loop (the caller's thread) runs the audit and hands
the newest report to the link. The link thread owns the broker connection:
a fresh paho client per attempt, so nothing queued for a dead connection is
ever replayed over a newer report; a will that says ``offline``; a retained
``online`` status with the time on connect and a ``seen`` heartbeat every
``keepalive_s``; reconnects with exponential backoff (1 s doubling to 60 s,
with jitter). While the broker is unreachable only the newest report is
kept, and it is published on reconnect (on every connect, in fact: a
broker restarted without persistence has forgotten the retained report).

A message on ``<prefix>/<site>/cmd/run`` only wakes the audit loop: its
payload is never parsed, executed or used as a path, and run requests are
coalesced (one audit at a time, at most one every MIN_GAP_S seconds).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import signal
import threading
import time
from typing import Any, Callable

from diagnose.fleet import mqtt
from diagnose.fleet.settings import Fleet

log = logging.getLogger("diagnose.agent")

MIN_GAP_S = 2.0          # run requests closer than this are folded into one run
BACKOFF_MIN_S = 1.0
BACKOFF_MAX_S = 60.0


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def backoff_delays(start: float = BACKOFF_MIN_S, cap: float = BACKOFF_MAX_S,
                   rng: Callable[[], float] = random.random):
    """1, 2, 4 ... seconds up to *cap*, each with up to 25% jitter so that a
    thousand seats do not hammer a restarted broker in step."""
    delay = start
    while True:
        yield min(cap, delay) * (1 + 0.25 * rng())
        delay = min(cap, delay * 2)


class Link(threading.Thread):
    """The broker connection: keeps it up and publishes the newest report."""

    def __init__(self, fleet: Fleet, creds: mqtt.Credentials, on_run: Callable[[], None]) -> None:
        super().__init__(name="diagnose-mqtt", daemon=True)
        self.fleet, self.creds, self.on_run = fleet, creds, on_run
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.lock = threading.Lock()
        self.pending: tuple[int, bytes] | None = None  # (sequence, payload): the newest report
        self.delivered = 0
        self.connected = threading.Event()
        self.connections = 0
        self.last_error = ""
        self.client: Any = None

    # -- called from the audit loop ----------------------------------------
    def offer(self, seq: int, payload: bytes) -> None:
        """The newest report; an older one not yet delivered is dropped."""
        with self.lock:
            self.pending = (seq, payload)
        self.wake.set()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()

    # -- the thread ----------------------------------------------------------
    def status(self, state: str) -> bytes:
        return json.dumps({"state": state, "time": now_iso(),
                           "seat": self.fleet.seat, "interval_s": self.fleet.interval_s,
                           "keepalive_s": self.fleet.keepalive_s}).encode()

    def run(self) -> None:
        delays = backoff_delays()
        while not self.stopping.is_set():
            try:
                client = self._connect()
            except mqtt.ConnectFailed as exc:
                if exc.args[0] != self.last_error:
                    log.error("diagnose agent: %s; retrying with backoff", exc)
                self.last_error = exc.args[0]
                self.stopping.wait(next(delays))
                continue
            delays = backoff_delays()
            self.last_error = ""
            self.connections += 1
            log.info("diagnose agent: connected to %s as seat %s", self.fleet.broker, self.fleet.seat)
            try:
                self._serve(client)
            finally:
                self.connected.clear()
                if self.stopping.is_set():
                    self._goodbye(client)
                mqtt.close(client)
            if not self.stopping.is_set():
                log.warning("diagnose agent: lost the broker %s; reconnecting", self.fleet.broker)
                self.stopping.wait(next(delays))

    def _connect(self) -> Any:
        f = self.fleet
        client = mqtt.new_client(f"diagnose-{f.site_id}-{f.seat}", f, self.creds)
        offline = json.dumps({"state": "offline", "time": None, "seat": f.seat,
                              "reason": "connection lost"}).encode()
        client.will_set(f.topic(f.seat, "status"), offline, qos=1, retain=True)
        client.on_disconnect = lambda *_a, **_k: (self.connected.clear(), self.wake.set())
        client.on_message = self._on_message
        client.on_publish = lambda *_a, **_k: self.wake.set()
        mqtt.connect(client, f.broker, f.keepalive_s)
        self.client = client
        return client

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        # The payload is deliberately ignored: a request can only trigger
        # the configured audit, never choose what runs or where it writes.
        if msg.topic == self.fleet.cmd_topic:
            self.on_run()

    def _serve(self, client: Any) -> None:
        f = self.fleet
        self.connected.set()
        client.on_connect = None
        client.publish(f.topic(f.seat, "status"), self.status("online"), qos=1, retain=True)
        client.subscribe(f.cmd_topic, qos=1)
        next_seen = 0.0
        sent = 0  # newest report acknowledged on this connection
        inflight: tuple[int, Any] | None = None
        while not self.stopping.is_set() and self.connected.is_set() and client.is_connected():
            now = time.monotonic()
            if now >= next_seen:
                client.publish(f.topic(f.seat, "seen"), json.dumps({"time": now_iso()}).encode(),
                               qos=0, retain=True)
                next_seen = now + f.keepalive_s
            with self.lock:
                pending = self.pending
            if inflight is not None and inflight[1].is_published():
                self.delivered = max(self.delivered, inflight[0])
                sent = max(sent, inflight[0])
                inflight = None
            # Every new connection publishes the newest report once more: a
            # broker restarted without persistence has lost the retained one.
            if pending and pending[0] > sent and (inflight is None or inflight[0] < pending[0]):
                info = client.publish(f.topic(f.seat, "report"), pending[1], qos=1, retain=True)
                inflight = (pending[0], info)
            # Woken by a new report, an acknowledged publish or a lost link;
            # otherwise asleep until the next heartbeat (no polling).
            self.wake.wait(max(0.0, next_seen - time.monotonic()))
            self.wake.clear()

    def _goodbye(self, client: Any) -> None:
        if not client.is_connected():
            return
        payload = json.dumps({"state": "offline", "time": now_iso(), "seat": self.fleet.seat,
                              "reason": "agent stopped"}).encode()
        info = client.publish(self.fleet.topic(self.fleet.seat, "status"), payload, qos=1, retain=True)
        try:
            info.wait_for_publish(timeout=3)
        except (RuntimeError, ValueError):
            pass


def audit_with(config: Any, fleet: Fleet, timeout: float | None = None) -> Callable[[], bytes]:
    """The configured audit, in process, as the report payload to publish."""
    from diagnose.fleet import location
    from diagnose.host import Host
    from diagnose.registry import Registry
    from diagnose.runner import collect, evaluate

    registry = Registry.discover()

    def run() -> bytes:
        host = Host("/")
        col = collect(registry, host, config, timeout=timeout)
        report = evaluate(registry, col, config, timeout=timeout)
        doc = report.to_dict()
        try:
            facts = location.probe(host, fleet.lldp_socket)
        except Exception as exc:  # noqa: BLE001 - where we are must not stop the report
            facts = {"error": f"{type(exc).__name__}: {exc}"}
        doc["seat"] = location.locate(facts, fleet.seat, fleet.switch, fleet.room)
        doc["seat"]["interval_s"] = fleet.interval_s
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()

    return run


class Agent:
    def __init__(self, fleet: Fleet, creds: mqtt.Credentials, audit: Callable[[], bytes]) -> None:
        self.fleet, self.audit = fleet, audit
        self.requested = threading.Event()
        self.stopping = threading.Event()
        self.link = Link(fleet, creds, self.request)
        self.runs = 0

    def request(self) -> None:
        self.requested.set()

    def stop(self, *_: Any) -> None:
        self.stopping.set()
        self.requested.set()

    def serve(self, max_runs: int | None = None) -> int:
        self.link.start()
        last = 0.0
        next_due = time.monotonic()
        while not self.stopping.is_set():
            wait = max(0.0, next_due - time.monotonic())
            self.requested.wait(wait)
            if self.stopping.is_set():
                break
            gap = time.monotonic() - last
            if gap < MIN_GAP_S:  # fold a burst of requests into one run
                self.stopping.wait(MIN_GAP_S - gap)
            self.requested.clear()
            last = time.monotonic()
            try:
                payload = self.audit()
            except Exception as exc:  # noqa: BLE001 - the agent outlives a broken run
                log.error("diagnose agent: the audit failed: %s: %s", type(exc).__name__, exc)
            else:
                self.runs += 1
                self.link.offer(self.runs, payload)
            next_due = last + self.fleet.interval_s
            if max_runs is not None and self.runs >= max_runs:
                break
        self.link.stop()
        self.link.join(timeout=10)
        return 0


def main(config: Any, fleet: Fleet, timeout: float | None = None) -> int:
    """``diagnose agent``: serve until SIGTERM/SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    creds = mqtt.credentials(fleet)
    agent = Agent(fleet, creds, audit_with(config, fleet, timeout))
    signal.signal(signal.SIGTERM, agent.stop)
    signal.signal(signal.SIGINT, agent.stop)
    log.info("diagnose agent: seat %s of site %s, audit every %gs, broker %s", fleet.seat,
             fleet.site_id, fleet.interval_s, fleet.broker)
    return agent.serve()
