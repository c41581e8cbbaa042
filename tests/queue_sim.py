"""A day of calls through an Asterisk queue, written as app_queue writes
queue_log, so that queue.kpi and call.routing read what a real server would.

Format source: Asterisk main/logger.c ``ast_queue_log`` writes
``"%ld|%s|%s|%s|%s|" time, callid, queuename, agent, event`` and then the
event's data; the data of each event is what apps/app_queue.c passes to its
``ast_queue_log`` calls (Asterisk 13 to 21)::

    ENTERQUEUE     url|callerid|position          agent NONE
    RINGNOANSWER   ms the phone rang              agent = member name
    CONNECT        holdtime|bridged uniqueid|ringtime
    COMPLETEAGENT  holdtime|calltime|origposition (COMPLETECALLER alike)
    ABANDON        position|origposition|waittime agent NONE
    EXITWITHTIMEOUT position|origposition|waittime
    PAUSE          reason                         callid NONE
    QUEUESTART / CONFIGRELOAD                     queue, callid, agent NONE

The simulation: callers arrive by an hourly profile and wait until their
patience runs out; the queue rings members as its strategy says (ringall:
every free, unpaused member at once; linear: one at a time in member order,
from the first; rrmemory: one at a time, from after the last who answered),
each ring lasting ``timeout`` seconds followed by ``retry`` seconds of
waiting; a member at the desk answers after a few seconds, an absent one
never does; a member on a call is not rung (ringinuse=no); a paused member
is never rung. Every call's truth (hold time, ring time, outcome) is kept
in :attr:`Day.calls` so tests can compute the figures independently of
the log reader.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Agent:
    name: str                       # member name as in queues.conf (= the queue_log agent field)
    interface: str                  # e.g. Local/201@from-queue/n
    at_desk: bool = True            # logged in but away: rung, never answers
    paused: bool = False            # paused from the start of the day (PAUSE written)
    answer_s: tuple[int, int] = (2, 8)
    free_at: int = 0


@dataclass
class QueueSpec:
    name: str
    strategy: str
    agents: list[Agent]
    timeout: int = 15
    retry: int = 5
    wrapup: int = 0
    arrivals_per_hour: dict[int, int] = field(default_factory=dict)  # local hour -> calls
    patience_s: tuple[int, int] = (40, 240)
    talk_s: tuple[int, int] = (60, 300)
    max_wait_s: int | None = None   # Queue(..., timeout) -> EXITWITHTIMEOUT
    last_answered: int = -1


@dataclass
class Call:
    callid: str
    queue: str
    enter: int
    outcome: str = "waiting"        # answered | abandoned | timeout
    hold: int | None = None
    ring_ms: int = 0
    ringtime: int | None = None
    agent: str | None = None
    end: int | None = None


DEFAULT_PROFILE = {8: 20, 9: 45, 10: 60, 11: 55, 12: 30, 13: 35, 14: 50, 15: 40, 16: 30, 17: 15}


class Day:
    """Simulate *specs* over one day starting at *day_start* (a local
    midnight as epoch seconds); :meth:`lines` gives the queue_log."""

    def __init__(self, specs: list[QueueSpec], day_start: int, seed: int = 7,
                 uniqueid_base: int | None = None) -> None:
        self.specs, self.day_start = specs, day_start
        self.rng = random.Random(seed)
        self.events: list[tuple[int, int, str]] = []
        self.calls: list[Call] = []
        self._seq = 0
        self._uid = uniqueid_base if uniqueid_base is not None else day_start

    def _log(self, ts: int, callid: str, queue: str, agent: str, event: str, data: str) -> None:
        self._seq += 1
        self.events.append((ts, self._seq, f"{ts}|{callid}|{queue}|{agent}|{event}|{data}"))

    def _uniqueid(self, ts: int) -> str:
        self._uid += 1
        return f"{ts}.{self._uid % 100000}"

    def run(self) -> "Day":
        self._log(self.day_start + 6 * 3600, "NONE", "NONE", "NONE", "QUEUESTART", "")
        for spec in self.specs:
            for a in spec.agents:
                a.free_at = 0
                if a.paused:
                    self._log(self.day_start + 7 * 3600, "NONE", spec.name, a.name, "PAUSE", "Break")
            arrivals = []
            for hour, n in sorted((spec.arrivals_per_hour or DEFAULT_PROFILE).items()):
                base = self.day_start + hour * 3600
                arrivals += [base + self.rng.randrange(3600) for _ in range(n)]
            for t in sorted(arrivals):
                self._caller(spec, t)
        self.events.sort()
        return self

    def _caller(self, spec: QueueSpec, enter: int) -> None:
        rng = self.rng
        callid = self._uniqueid(enter)
        call = Call(callid, spec.name, enter)
        self.calls.append(call)
        patience = enter + rng.randint(*spec.patience_s)
        give_up = min(patience, enter + spec.max_wait_s) if spec.max_wait_s else patience
        self._log(enter, callid, spec.name, "NONE", "ENTERQUEUE", f"|0{rng.randrange(10**9):09d}|1")
        agents = spec.agents
        t = enter
        pos = 0 if spec.strategy == "linear" else (spec.last_answered + 1) % max(1, len(agents))
        while t < give_up:
            callable_ = [i for i, a in enumerate(agents) if not a.paused and a.free_at <= t]
            if not callable_:
                t += spec.retry or 1
                continue
            if spec.strategy == "ringall":
                ring = callable_
            else:
                order = [(pos + k) % len(agents) for k in range(len(agents))]
                first = next(i for i in order if i in callable_)
                ring = [first]
                pos = (first + 1) % len(agents)
            answers = [(t + rng.randint(*agents[i].answer_s), i) for i in ring if agents[i].at_desk]
            answers = [(at, i) for at, i in answers if at < t + spec.timeout]
            if answers:
                at, i = min(answers)
                if at < give_up:
                    self._connect(spec, call, agents[i], i, t, at)
                    return
            if t + spec.timeout >= give_up:
                break
            ms = spec.timeout * 1000 + rng.randrange(40)
            for i in ring:
                self._log(t + spec.timeout, callid, spec.name, agents[i].name, "RINGNOANSWER", str(ms))
            call.ring_ms += ms
            t += spec.timeout + spec.retry
        end = give_up
        call.end = end
        if spec.max_wait_s and end == enter + spec.max_wait_s and end < patience:
            call.outcome = "timeout"
            self._log(end, callid, spec.name, "NONE", "EXITWITHTIMEOUT", f"1|1|{end - enter}")
        else:
            call.outcome = "abandoned"
            self._log(end, callid, spec.name, "NONE", "ABANDON", f"1|1|{end - enter}")

    def _connect(self, spec: QueueSpec, call: Call, agent: Agent, index: int, rang_at: int, at: int) -> None:
        rng = self.rng
        hold, ringtime = at - call.enter, at - rang_at
        talk = rng.randint(*spec.talk_s)
        call.outcome, call.hold, call.ringtime, call.agent, call.end = "answered", hold, ringtime, agent.name, at + talk
        self._log(at, call.callid, spec.name, agent.name, "CONNECT", f"{hold}|{self._uniqueid(at)}|{ringtime}")
        event = "COMPLETEAGENT" if rng.random() < 0.4 else "COMPLETECALLER"
        self._log(at + talk, call.callid, spec.name, agent.name, event, f"{hold}|{talk}|1")
        agent.free_at = at + talk + spec.wrapup
        spec.last_answered = index

    def lines(self) -> list[str]:
        return [line for _, _, line in self.events]

    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines())


def support_queue(strategy: str, absent: tuple[str, ...] = (), paused: tuple[str, ...] = (),
                  names: tuple[str, ...] = ("201", "202", "203", "204", "205", "206", "207", "208"),
                  **kw) -> QueueSpec:
    """The story's queue: members 201..208 in number order, FreePBX style."""
    agents = [Agent(n, f"Local/{n}@from-queue/n", at_desk=n not in absent, paused=n in paused)
              for n in names]
    return QueueSpec("support", strategy, agents, **kw)


def freepbx_tree(root, strategy: str, names=("201", "202", "203", "204", "205", "206", "207", "208"),
                 extra_members: tuple[str, ...] = (), servicelevel: int = 60) -> None:
    """etc/asterisk as FreePBX writes it: queues.conf including
    queues_additional.conf (generated) and queues_custom.conf (local),
    pjsip.conf including pjsip.endpoint.conf, extensions.conf including
    extensions_additional.conf with the from-queue context and hints."""
    etc = root / "etc" / "asterisk"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "queues.conf").write_text(
        ";--------------------------------------------------------------------------------;\n"
        "; Do NOT edit this file as it is auto-generated by FreePBX.                      ;\n"
        ";--------------------------------------------------------------------------------;\n"
        "[general]\n#include queues_general_additional.conf\n#include queues_custom_general.conf\n\n"
        "#include queues_custom.conf\n#include queues_additional.conf\n#include queues_post_custom.conf\n")
    (etc / "queues_general_additional.conf").write_text("persistentmembers=yes\nshared_lastcall=no\n")
    (etc / "queues_custom.conf").write_text("; local additions go here\n")
    members = "".join(f"member=Local/{n}@from-queue/n,0,{n},hint:{n}@ext-local\n"
                      for n in tuple(names) + tuple(extra_members))
    (etc / "queues_additional.conf").write_text(
        ";--------------------------------------------------------------------------------;\n"
        "; Do NOT edit this file as it is auto-generated by FreePBX.                      ;\n"
        ";--------------------------------------------------------------------------------;\n"
        "[support]\nannounce-frequency=0\nannounce-holdtime=no\nautofill=yes\nautopause=no\n"
        "joinempty=yes\nleavewhenempty=no\nmaxlen=0\nmemberdelay=0\npenaltymemberslimit=0\n"
        f"retry=5\nringinuse=no\nservicelevel={servicelevel}\nstrategy={strategy}\ntimeout=15\n"
        "timeoutrestart=no\nweight=0\nwrapuptime=0\n" + members + "\n")
    (etc / "pjsip.conf").write_text("[global]\ntype=global\n#include pjsip.transports.conf\n"
                                    "#include pjsip.endpoint.conf\n#include pjsip.aor.conf\n")
    (etc / "pjsip.transports.conf").write_text("[0.0.0.0-udp]\ntype=transport\nprotocol=udp\n")
    (etc / "pjsip.endpoint.conf").write_text("".join(
        f"[{n}]\ntype=endpoint\naors={n}\nauth={n}-auth\ncontext=from-internal\n\n" for n in names))
    (etc / "pjsip.aor.conf").write_text("".join(f"[{n}]\ntype=aor\nmax_contacts=1\n\n" for n in names))
    (etc / "extensions.conf").write_text(
        "[globals]\n#include globals_custom.conf\n\n[from-queue]\nexten => _.,1,Goto(from-internal,${EXTEN},1)\n\n"
        "#include extensions_additional.conf\n#tryinclude extensions_custom.conf\n")
    (etc / "extensions_additional.conf").write_text(
        "[ext-local]\n" + "".join(f"exten => {n},hint,PJSIP/{n}&Custom:DND{n}\nexten => {n},1,Dial(PJSIP/{n})\n"
                                  for n in names))
