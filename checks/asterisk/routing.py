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
from diagnose.model import Fault, Finding, Status

ROTATING = ("rrmemory", "roundrobin", "leastrecent", "fewestcalls", "random", "wrandom")


def label(m: dict[str, Any]) -> str:
    """How people name a member: its extension, with the name when it says more."""
    iface = m.get("interface") or ""
    ext = iface.split("/", 1)[-1].split("@")[0].split("/")[0] if "/" in iface else iface
    name = m.get("name") or iface
    if name in (iface, ext) or not ext:
        return ext or name
    return f"{name} ({ext})"


def _fmt_s(s: float) -> str:
    return f"{s:.0f} s"


class CallRouting(Check):
    name = "call.routing"
    summary = "Asterisk queues ring members who can answer, in an order that does not keep callers waiting"
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
            return f"no {conf_dir}/queues.conf here: not an Asterisk queue server (set [asterisk] config_dir)"
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
            return [Finding(self.name, "queues.conf", Status.OK, "No queues are defined in queues.conf",
                            evidence={"files": facts.get("queues_conf", {}).get("files", [])})]
        for qname in wanted:
            q = queues.get(qname)
            if q is None:
                findings.append(Finding(
                    self.name, qname, Status.WARN, f"Queue {qname} is not defined in queues.conf",
                    Fault.SITE, detail=f"[queues] queues names {qname}, but no [{qname}] section is in "
                    f"{facts.get('queues_conf', {}).get('path')} or the files it includes.",
                    evidence={"queue": qname, "defined": sorted(queues)},
                    remedy=f"Fix [queues] queues in the diagnose config (defined: {', '.join(sorted(queues))})"))
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
                why_absent.append(f"rang {rung} time{'s' if rung != 1 else ''} in the window, answered none")
            if live is not None and live["status"] in (4, 5):
                why_absent.append(f"device {live['state']} (AMI)")
            row["absent"] = "; ".join(why_absent) or None
            members.append(row)
        # Dynamic members seen only in the log (AddQueueMember, agents).
        known = {m["name"] for m in q["members"]}
        for mname, st in sorted(log_members.items()):
            if mname in known:
                continue
            rung, answered = st.get("rna", 0), st.get("connects", 0)
            members.append({"member": mname, "name": mname, "interface": mname, "device": None, "device_configured": None,
                            "device_note": "dynamic member (from queue_log)", "rung_unanswered": rung,
                            "answered": answered, "paused": st.get("paused", False),
                            "paused_at": st.get("paused_at"), "present": st.get("present", True),
                            "file": None, "line": None,
                            "absent": (f"rang {rung} times in the window, answered none"
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
                {k: m[k] for k in ("member", "interface", "rung_unanswered", "answered", "absent")}
                for m in absent],
            "extra_wait_s": 0.0, "timeout_s": timeout, "retry_s": retry, "autopause": q["autopause"],
            "members": members, "offered": offered, "answered": log.get("answered", 0),
            "calls_with_no_member_able": none_avail,
            "ami": (facts.get("ami") or {}).get("state"),
            "window": (facts.get("log") or {}).get("window"),
        }
        sources = self._sources(facts)
        paused = [m for m in members if m["paused"]]
        nobody = bool(members) and not able
        if (none_avail and (none_avail * 20 >= max(offered, 1))) or (nobody and (offered or not log)):
            who = ", ".join(m["member"] for m in members)
            reasons = sorted({"paused" if m["paused"] else "logged off" if not m["present"]
                              else "absent" if m["absent"] else m.get("ami_status", "unavailable")
                              for m in members if m not in able})
            detail = (f"{none_avail} of {offered} calls in the window came in while no member of queue "
                      f"{name} could answer" if none_avail else
                      f"No member of queue {name} can answer now")
            detail += f" ({', '.join(reasons)}: {who}). {sources}"
            rem = (f"Unpause the members who are at their desks: `asterisk -rx 'queue unpause member "
                   f"<interface> queue {name}'` (e.g. {members[0]['interface']}), or add agents who are; "
                   f"check with `asterisk -rx 'queue show {name}'`.")
            if any(m["paused"] and m.get("file") and not m.get("ami_status") and m["paused_at"] is None
                   for m in members):
                ev.update(file=members[0]["file"], key="member", section=name)
            return Finding(self.name, name, Status.FAIL,
                           f"No agent can answer queue {name}: all {len(members)} members "
                           + (", ".join(reasons)), Fault.SITE, detail=detail, evidence=ev, remedy=rem)
        if not absent:
            title = f"Queue {name} ({strategy}) rings {len(members)} member" + ("s" if len(members) != 1 else "")
            if paused:
                title += f", {len(paused)} paused"
            return Finding(self.name, name, Status.OK, title + "; none absent",
                           detail=sources, evidence=ev)
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
                title = (f"Calls ring {n} absent agent{'s' if n != 1 else ''} first "
                         f"({', '.join(m['member'] for m in ahead)}): queue {name} uses strategy "
                         f"{strategy}; each call waits about {extra:.0f} s longer")
                detail = (f"Strategy {strategy} rings members one at a time in the order of queues.conf "
                          f"({', '.join(order)}), each for timeout {timeout:g} s, then waits retry "
                          f"{retry:g} s. " + "; ".join(f"{m['member']} {m['absent']}" for m in ahead)
                          + f". So every call waits about {n} x ({timeout:g} + {retry:g}) = {extra:.0f} s "
                          f"before a present agent's phone rings. The strategy is set in {src['file']}"
                          + (f" line {src['line']}" if src.get("line") else " (app_queue's default)")
                          + f". {sources}")
                return Finding(self.name, name, Status.FAIL, title, Fault.SITE, detail=detail,
                               evidence=ev, remedy=fix)
        per_call = self._measured(absent, log, strategy, retry)
        ev["extra_wait_s"] = per_call
        title = (f"Queue {name} rings {len(absent)} absent agent{'s' if len(absent) != 1 else ''} "
                 f"({names}); strategy {strategy} costs callers about {per_call:.0f} s each")
        detail = ("; ".join(f"{m['member']} {m['absent']}" for m in absent)
                  + f". With strategy {strategy} the other members are rung too, so the cost is "
                  f"the measured ring time spent on absent phones: {per_call:.1f} s per offered call "
                  f"on average. {sources}")
        return Finding(self.name, name, Status.WARN, title, Fault.SITE, detail=detail, evidence=ev, remedy=fix)

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
    def _remedy(q: dict[str, Any], absent: list[dict[str, Any]], file: str) -> str:
        name = q["name"]
        pause = "; ".join(f"`asterisk -rx 'queue pause member {m['interface']} queue {name} reason absent'`"
                          for m in absent[:6])
        text = (f"Put back the strategy accepted at go-live in [{name}] of {file} (config.drift shows it: "
                f"`diagnose baseline diff {file}`), or pause the absent members until they are back: {pause}, "
                f"or remove them from [{name}], or set `autopause=yes` in [{name}] so a member who does not "
                f"answer is paused; then `asterisk -rx 'queue reload all'`.")
        if file.endswith("_additional.conf"):
            text += (" FreePBX rewrites this file: make the change in Applications > Queues "
                     f"> {name} and Apply Config.")
        return text

    @staticmethod
    def _sources(facts: dict[str, Any]) -> str:
        ami = facts.get("ami") or {}
        state = ami.get("state")
        if state == "ok":
            live = "live member state from AMI"
        elif state == "not-configured":
            live = "no live member state (set [asterisk] ami_url for it): judged from files alone"
        else:
            live = f"AMI not used ({state}: {ami.get('error')}): judged from files alone"
        window = (facts.get("log") or {}).get("window")
        if not window:
            return f"Sources: queues.conf; no queue_log events to read; {live}."
        return f"Sources: queues.conf, queue_log over the last {window['hours']:g} h; {live}."

    def _devices(self, q: dict[str, Any], members: list[dict[str, Any]]) -> list[Finding]:
        missing = [m for m in members if m["device_configured"] is False]
        if not missing:
            return []
        name = q["name"]
        first = missing[0]
        ev = {"queue": name, "members": [{k: m[k] for k in ("member", "interface", "device", "device_note",
                                                            "file", "line")} for m in missing],
              "file": first["file"], "key": "member", "section": name, "line": first["line"]}
        listing = "; ".join(f"{m['member']} ({m['interface']}): {m['device_note']}" for m in missing)
        return [Finding(
            self.name, f"{name}/devices", Status.FAIL,
            f"Queue {name} has {len(missing)} member{'s' if len(missing) != 1 else ''} whose device does "
            f"not exist: {', '.join(m['member'] for m in missing)}", Fault.UNDETERMINED,
            detail=f"{listing}. Calls are never offered to them. Whether the vendor's configuration or a "
                   f"change on site put them there is for config.drift to tell (a baseline is needed).",
            evidence=ev,
            remedy=f"Remove those member lines from [{name}] in {first['file']} or create the devices; "
                   f"then `asterisk -rx 'queue reload all'` and check `asterisk -rx 'queue show {name}'`.")]
