"""call.routing: whom each queue rings, and who is not there to answer.

A member is *absent* when the queue rang them in the window (RINGNOANSWER)
and they answered nothing (no CONNECT), or when AMI reports their device
unavailable or invalid. With an ordered strategy (linear, rrordered) every
call rings the members in order, each for ``timeout`` then ``retry``
seconds, so absent members ahead of the first one who answers cost every
call that much: a site fault. With ringall or a rotating strategy they
cost less: a warning with the measured extra ring time. A queue where no
member could answer while calls came in (all paused, logged off or
unavailable) fails. Members whose device the endpoint or dialplan
configuration does not define fail too; who added them decides the fault
domain, which config.drift can tell (evidence.file and key).
"""

from __future__ import annotations

from typing import Any

from diagnose.check import Check, Needs
from diagnose.checks.asterisk import dialplan, probe
from diagnose.checks.asterisk.queueconf import ORDERED
from diagnose.checks.asterisk.settings import (ASTERISK, DEFAULT_WATCHES, QUEUES, asterisk_cfg,
                                                queues_cfg, watched)
from diagnose.i18n import N_, Message, _, _n, join
from diagnose.model import Fault, Finding, Status, step

ROTATING = ("rrmemory", "roundrobin", "leastrecent", "fewestcalls", "random", "wrandom")


def label(m: dict[str, Any]) -> str:
    """How people name a member: its extension, with the name when it says more."""
    iface = m.get("interface") or ""
    ext = iface.split("/", 1)[-1].split("@")[0].split("/")[0] if "/" in iface else iface
    name = m.get("name") or iface
    if name in (iface, ext) or not ext:
        return ext or name
    return f"{name} ({ext})"


# Why a member cannot take a call, as the titles name it.
# An unreachable device's AMI state (ami.UNREACHABLE) is one of them.
REASONS = {"paused": N_("paused"), "logged off": N_("logged off"), "absent": N_("absent"),
           "unavailable": N_("unavailable"), "invalid": N_("invalid")}
RELOAD = "asterisk -rx 'queue reload all'"


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """A member row as evidence: raw data in English, like the JSON (the
    prose translates the messages it keeps)."""
    return {k: str(v) if isinstance(v, Message) else v for k, v in row.items()}


def _show(name: str) -> str:
    return f"asterisk -rx 'queue show {name}'"


class CallRouting(Check):
    name = "call.routing"
    summary = N_("Asterisk queues ring members who can answer, in an order that does not keep callers waiting")
    section = "asterisk"
    schema = ASTERISK
    reads = {"queues": QUEUES}
    needs = Needs(role="server")
    timeout = 30.0
    watches = DEFAULT_WATCHES

    def watched(self, cfg: dict[str, Any]) -> list[str]:
        return watched(cfg)

    def applies(self, host: Any, cfg: dict[str, Any]) -> str | None:
        conf_dir = asterisk_cfg(cfg)["config_dir"]
        if not host.exists(f"{conf_dir}/queues.conf"):
            return _("no {path} here: not an Asterisk queue server (set [asterisk] config_dir)",
                     path=f"{conf_dir}/queues.conf")
        return None

    def probe(self, host: Any, cfg: dict[str, Any]) -> dict[str, Any]:
        facts = probe.gather(host, cfg)
        # The scan is shared with queue.kpi: copy what this check keeps.
        log = dict(facts["log"])
        log["queues"] = {n: {k: v for k, v in q.items() if k not in ("hours", "hold_hist", "ring_hist")}
                         for n, q in (log.get("queues") or {}).items()}
        facts["log"] = log
        facts["devices"] = dialplan.load_devices(host, asterisk_cfg(cfg)["config_dir"])
        facts["ami"] = probe.ami_facts(host, cfg)
        return facts

    # -- judge -------------------------------------------------------------
    def judge(self, facts: dict[str, Any], cfg: dict[str, Any]) -> list[Finding]:
        qcfg = queues_cfg(cfg)
        queues = facts.get("queues") or {}
        wanted = list(qcfg.get("queues") or []) or sorted(queues)
        findings: list[Finding] = []
        if not queues:
            return [Finding(self.name, "queues.conf", Status.OK, _("No queues are defined in queues.conf"),
                            evidence={"files": facts.get("queues_conf", {}).get("files", [])})]
        for qname in wanted:
            q = queues.get(qname)
            if q is None:
                findings.append(Finding(
                    self.name, qname, Status.WARN, _("Queue {queue} is not defined in queues.conf", queue=qname),
                    Fault.SITE, detail=_("[queues] queues names {queue}, but no [{queue}] section is in {path} "
                                         "or the files it includes.", queue=qname,
                                         path=facts.get("queues_conf", {}).get("path")),
                    evidence={"queue": qname, "defined": sorted(queues)},
                    remedy=_("Fix [queues] queues in the diagnose config (defined: {defined})",
                             defined=", ".join(sorted(queues)))))
                continue
            findings.extend(self._queue(q, facts))
        return findings

    def _queue(self, q: dict[str, Any], facts: dict[str, Any]) -> list[Finding]:
        name = q["name"]
        log = (facts.get("log") or {}).get("queues", {}).get(name) or {}
        log_members = log.get("members") or {}
        ami = facts.get("ami") or {}
        ami_q = (ami.get("queues") or {}).get(name) if ami.get("state") == "ok" else None
        ami_members = {m["interface"]: m for m in (ami_q or {}).get("members", [])}
        devices = facts.get("devices") or {}
        timeout, retry = q["timeout_s"], q["retry_s"]
        members = []
        for m in q["members"]:
            st = log_members.get(m["name"], {})
            live = ami_members.get(m["interface"])
            device = dialplan.device_of(m["interface"], m["state_interface"], devices)
            ok, why = dialplan.exists(device, devices)
            rung, answered = st.get("rna", 0), st.get("connects", 0)
            row = {"member": label(m), "name": m["name"], "interface": m["interface"], "device": device,
                   "device_configured": ok, "device_note": why, "rung_unanswered": rung,
                   "answered": answered, "paused": bool(st.get("paused", m["paused"])),
                   "paused_at": st.get("paused_at"), "present": st.get("present", True),
                   "file": m["file"], "line": m["line"], "absent": None}
            if live is not None:
                row.update(ami_status=live["state"], ami_paused=live["paused"],
                           calls_taken=live["calls_taken"])
                row["paused"] = live["paused"]
            why_absent = []
            if rung and not answered:
                why_absent.append(_n("rang {n} time in the window, answered none",
                                     "rang {n} times in the window, answered none", rung))
            if live is not None and live["status"] in (4, 5):
                why_absent.append(_("device {state} (AMI)", state=_(REASONS[live["state"]])))
            row["absent"] = join("; ", why_absent) if why_absent else None
            members.append(row)
        # Dynamic members seen only in the log (AddQueueMember, agents).
        known = {m["name"] for m in q["members"]}
        for mname, st in sorted(log_members.items()):
            if mname in known:
                continue
            rung, answered = st.get("rna", 0), st.get("connects", 0)
            members.append({"member": mname, "name": mname, "interface": mname, "device": None, "device_configured": None,
                            "device_note": _("dynamic member (from queue_log)"), "rung_unanswered": rung,
                            "answered": answered, "paused": st.get("paused", False),
                            "paused_at": st.get("paused_at"), "present": st.get("present", True),
                            "file": None, "line": None,
                            "absent": (_n("rang {n} time in the window, answered none",
                                          "rang {n} times in the window, answered none", rung)
                                       if rung and not answered else None)})
        return [self._verdict(q, members, log, facts, timeout, retry)] + self._devices(q, members)

    def _verdict(self, q: dict[str, Any], members: list[dict[str, Any]], log: dict[str, Any],
                 facts: dict[str, Any], timeout: float, retry: float) -> Finding:
        name, strategy = q["name"], q["strategy"]
        src = q.get("strategy_source") or {"file": q["file"], "line": q["line"]}
        absent = [m for m in members if m["absent"]]
        able = [m for m in members if not m["absent"] and not m["paused"] and m["present"]
                and m.get("ami_status") not in ("unavailable", "invalid")]
        offered = log.get("offered", 0)
        none_avail = log.get("none_available", 0)
        ev: dict[str, Any] = {
            "queue": name, "strategy": strategy, "absent_members": [
                _plain({k: m[k] for k in ("member", "interface", "rung_unanswered", "answered", "absent")})
                for m in absent],
            "extra_wait_s": 0.0, "timeout_s": timeout, "retry_s": retry, "autopause": q["autopause"],
            "members": [_plain(m) for m in members], "offered": offered, "answered": log.get("answered", 0),
            "calls_with_no_member_able": none_avail,
            "ami": (facts.get("ami") or {}).get("state"),
            "window": (facts.get("log") or {}).get("window"),
        }
        sources = self._sources(facts)
        paused = [m for m in members if m["paused"]]
        nobody = bool(members) and not able
        if (none_avail and (none_avail * 20 >= max(offered, 1))) or (nobody and (offered or not log)):
            who = ", ".join(m["member"] for m in members)
            reasons = join(", ", [_(r) for r in sorted({
                REASONS["paused"] if m["paused"] else REASONS["logged off"] if not m["present"]
                else REASONS["absent"] if m["absent"] else REASONS.get(m.get("ami_status"), REASONS["unavailable"])
                for m in members if m not in able})])
            if none_avail:
                detail = _n("{none} of {offered} call in the window came in while no member of queue {queue} "
                            "could answer ({reasons}: {who}). {sources}",
                            "{none} of {offered} calls in the window came in while no member of queue {queue} "
                            "could answer ({reasons}: {who}). {sources}", offered, none=none_avail,
                            offered=offered, queue=name, reasons=reasons, who=who, sources=sources)
            else:
                detail = _("No member of queue {queue} can answer now ({reasons}: {who}). {sources}",
                           queue=name, reasons=reasons, who=who, sources=sources)
            iface = members[0]["interface"]
            rem = [step(_("Unpause the members who are at their desks, for example {interface}:", interface=iface),
                        f"asterisk -rx 'queue unpause member {iface} queue {name}'"),
                   step(_("Or add to queue {queue} agents who are at their desks.", queue=name)),
                   step(_("Then check the queue:"), _show(name))]
            if any(m["paused"] and m.get("file") and not m.get("ami_status") and m["paused_at"] is None
                   for m in members):
                ev.update(file=members[0]["file"], key="member", section=name)
            return Finding(self.name, name, Status.FAIL,
                           _n("No agent can answer queue {queue}: all {n} member {reasons}",
                              "No agent can answer queue {queue}: all {n} members {reasons}", len(members),
                              queue=name, reasons=reasons), Fault.SITE, detail=detail, evidence=ev, remedy=rem)
        if not absent:
            if paused:
                title = _n("Queue {queue} ({strategy}) rings {n} member, {paused} paused; none absent",
                           "Queue {queue} ({strategy}) rings {n} members, {paused} paused; none absent",
                           len(members), queue=name, strategy=strategy, paused=len(paused))
            else:
                title = _n("Queue {queue} ({strategy}) rings {n} member; none absent",
                           "Queue {queue} ({strategy}) rings {n} members; none absent",
                           len(members), queue=name, strategy=strategy)
            return Finding(self.name, name, Status.OK, title, detail=sources, evidence=ev)
        ev.update(file=src["file"], key="strategy", section=name, line=src.get("line"), value=strategy)
        names = ", ".join(m["member"] for m in absent)
        fix = self._remedy(q, absent, src["file"])
        if strategy in ORDERED:
            order = [m["member"] for m in members]
            first_ok = next((i for i, m in enumerate(members) if not m["absent"] and m["answered"]), None)
            ahead = [m for m in (members if first_ok is None else members[:first_ok]) if m["absent"]]
            if ahead:
                extra = len(ahead) * (timeout + retry)
                ev["extra_wait_s"] = extra
                ev["absent_ahead"] = [m["member"] for m in ahead]
                n = len(ahead)
                title = _n("Calls ring {n} absent agent first ({names}): queue {queue} uses strategy {strategy}; "
                           "each call waits about {extra:.0f} s longer",
                           "Calls ring {n} absent agents first ({names}): queue {queue} uses strategy {strategy}; "
                           "each call waits about {extra:.0f} s longer", n,
                           names=", ".join(m["member"] for m in ahead), queue=name, strategy=strategy, extra=extra)
                where = (_("{file} line {line}", file=src["file"], line=src["line"]) if src.get("line") else
                         _("{file} (app_queue's default)", file=src["file"]))
                detail = _("Strategy {strategy} rings members one at a time in the order of queues.conf ({order}), "
                           "each for timeout {timeout:g} s, then waits retry {retry:g} s. {why}. So every call "
                           "waits about {n} x ({timeout:g} + {retry:g}) = {extra:.0f} s before a present agent's "
                           "phone rings. The strategy is set in {where}. {sources}", strategy=strategy,
                           order=", ".join(order), timeout=timeout, retry=retry, why=self._absent(ahead), n=n,
                           extra=extra, where=where, sources=sources)
                return Finding(self.name, name, Status.FAIL, title, Fault.SITE, detail=detail,
                               evidence=ev, remedy=fix)
        per_call = self._measured(absent, log, strategy, retry)
        ev["extra_wait_s"] = per_call
        title = _n("Queue {queue} rings {n} absent agent ({names}); strategy {strategy} costs callers about "
                   "{cost:.0f} s each",
                   "Queue {queue} rings {n} absent agents ({names}); strategy {strategy} costs callers about "
                   "{cost:.0f} s each", len(absent), queue=name, names=names, strategy=strategy, cost=per_call)
        detail = _("{why}. With strategy {strategy} the other members are rung too, so the cost is the measured "
                   "ring time spent on absent phones: {cost:.1f} s per offered call on average. {sources}",
                   why=self._absent(absent), strategy=strategy, cost=per_call, sources=sources)
        return Finding(self.name, name, Status.WARN, title, Fault.SITE, detail=detail, evidence=ev, remedy=fix)

    @staticmethod
    def _absent(members: list[dict[str, Any]]) -> str:
        return join("; ", [_("{member} {why}", member=m["member"], why=m["absent"]) for m in members])

    @staticmethod
    def _measured(absent: list[dict[str, Any]], log: dict[str, Any], strategy: str, retry: float) -> float:
        offered = max(1, log.get("offered", 0))
        rows = log.get("members") or {}
        ms = sum(rows.get(m["name"], {}).get("rna_ms", 0) for m in absent)
        rung = sum(m["rung_unanswered"] for m in absent)
        if strategy == "ringall":
            return round(ms / 1000.0 / max(1, len(absent)) / offered, 1)
        return round((ms / 1000.0 + rung * retry) / offered, 1)

    @staticmethod
    def _remedy(q: dict[str, Any], absent: list[dict[str, Any]], file: str) -> list[Any]:
        name = q["name"]
        pause = "; ".join(f"asterisk -rx 'queue pause member {m['interface']} queue {name} reason absent'"
                          for m in absent[:6])
        steps = [step(_("Put back the strategy accepted at go-live in [{queue}] of {file}; config.drift shows "
                        "it:", queue=name, file=file), f"diagnose baseline diff {file}"),
                 step(_n("Or pause the absent member until they are back:",
                         "Or pause the absent members until they are back:", len(absent[:6])), pause),
                 step(_n("Or remove the absent member from [{queue}].", "Or remove the {n} absent members from "
                         "[{queue}].", len(absent), queue=name)),
                 step(_("Or set autopause=yes in [{queue}], so that a member who does not answer is paused.",
                        queue=name)),
                 step(_("Then make Asterisk read the queues again:"), RELOAD)]
        if file.endswith("_additional.conf"):
            steps.append(step(_("FreePBX rewrites this file: make the change in Applications > Queues > {queue} "
                                "and Apply Config.", queue=name)))
        return steps

    @staticmethod
    def _sources(facts: dict[str, Any]) -> str:
        ami = facts.get("ami") or {}
        state = ami.get("state")
        if state == "ok":
            live = _("live member state from AMI")
        elif state == "not-configured":
            live = _("no live member state (set [asterisk] ami_url for it): judged from files alone")
        else:
            live = _("AMI not used ({state}: {error}): judged from files alone", state=state, error=ami.get("error"))
        window = (facts.get("log") or {}).get("window")
        if not window:
            return _("Sources: queues.conf; no queue_log events to read; {live}.", live=live)
        return _("Sources: queues.conf, queue_log over the last {hours:g} h; {live}.", hours=window["hours"],
                 live=live)

    def _devices(self, q: dict[str, Any], members: list[dict[str, Any]]) -> list[Finding]:
        missing = [m for m in members if m["device_configured"] is False]
        if not missing:
            return []
        name = q["name"]
        first = missing[0]
        ev = {"queue": name, "members": [_plain({k: m[k] for k in ("member", "interface", "device", "device_note",
                                                                   "file", "line")}) for m in missing],
              "file": first["file"], "key": "member", "section": name, "line": first["line"]}
        listing = join("; ", [_("{member} ({interface}): {note}", member=m["member"], interface=m["interface"],
                                 note=m["device_note"]) for m in missing])
        return [Finding(
            self.name, f"{name}/devices", Status.FAIL,
            _n("Queue {queue} has {n} member whose device does not exist: {names}",
               "Queue {queue} has {n} members whose device does not exist: {names}", len(missing),
               queue=name, names=", ".join(m["member"] for m in missing)), Fault.UNDETERMINED,
            detail=_("{members}. Calls are never offered to them. Whether the vendor's configuration or a change "
                     "on site put them there is for config.drift to tell (a baseline is needed).", members=listing),
            evidence=ev,
            remedy=[step(_("Remove those member lines from [{queue}] in {file}, or create the devices.",
                           queue=name, file=first["file"])),
                    step(_("Then make Asterisk read the queues again:"), RELOAD),
                    step(_("Then check the queue:"), _show(name))])]
