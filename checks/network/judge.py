"""The judge of network.connectivity, walking outward from the seat: its own
link and address, the default gateway, the server's name and address, each
port, and the quality of the path. What lies beyond a broken step is
"cannot tell", nested under it, not a separate fault."""

from __future__ import annotations

import ipaddress
from typing import Any

from diagnose.checks.network.common import ANSWERED_BEFORE, ANSWERED_NOW, NAME
from diagnose.i18n import _, join
from diagnose.model import Fault, Finding, Status, step


def _finding(subject: str, status: Status, title: str, evidence: dict[str, Any], *,
             fault: Fault | None = None, detail: str = "", remedy: Any = "",
             caused_by: list[str] | None = None) -> Finding:
    p = evidence.get("ping")
    if isinstance(p, dict) and not p.get("mode") and str(p.get("error") or "").startswith("no ICMP socket"):
        # Neither a raw socket (root) nor a ping socket (ping_group_range) for this user.
        evidence = dict(evidence, not_collected=[{"what": f"ICMP echo to {p.get('address')} not permitted",
                                                  "why": p["error"]}])
    return Finding(NAME, subject, status, title, fault, detail, evidence, remedy, list(caused_by or []))


def _usable_addresses(info: dict[str, Any]) -> list[str]:
    """IPv4 addresses and global IPv6 ones; a link-local fe80:: address
    exists on every up link and proves nothing about DHCP."""
    return [a["address"] for a in info.get("addresses", []) if not ipaddress.ip_address(a["address"]).is_link_local]


def _link_evidence(name: str, info: dict[str, Any] | None) -> dict[str, Any]:
    ev: dict[str, Any] = {"scope": "local", "interface": name}
    if info:
        for k in ("operstate", "carrier", "carrier_error", "admin_up", "speed_mbps", "duplex", "address",
                  "physical", "wireless"):
            if k in info:
                ev["mac" if k == "address" else k] = info[k]
        ev["addresses"] = [a["address"] for a in info.get("addresses", [])]
        if "counters" in info:
            ev["counters"] = info["counters"]
    return ev


def _judge_local(name: str, facts: dict[str, Any], cfg: dict[str, Any]) -> Finding:
    info = facts["interfaces"].get(name)
    ev = _link_evidence(name, info)
    ev["selected_by"] = facts["interface"]["how"]
    if info is None:
        return _finding(name, Status.FAIL, _("Network interface {name} does not exist", name=name), ev,
                        fault=Fault.SITE,
                        detail=_("No interface called {name} is present (interfaces: {names}): the network "
                                 "card was removed, disabled in the firmware, or renamed.", name=name,
                                 names=", ".join(sorted(facts["interfaces"])) or _("none")),
                        remedy=[step(_("List the interfaces:"), "ip -br link"),
                                step(_("Reseat or replace the network card, or set [network] interface to "
                                       "the right name."))])
    if not info.get("admin_up"):
        return _finding(name, Status.FAIL, _("Network interface {name} is switched off", name=name), ev,
                        fault=Fault.SITE,
                        detail=_("{name} is administratively down (operstate {state}): someone disabled "
                                 "it, so this PC has no network at all.", name=name,
                                 state=info.get("operstate")),
                        remedy=[step(_("Enable it:"), f"ip link set {name} up"),
                                step(_("Or with NetworkManager:"), f"nmcli device connect {name}")])
    if info.get("carrier") != 1:
        state = f"operstate {info.get('operstate')}, carrier {info.get('carrier')}"
        if info.get("wireless"):
            return _finding(name, Status.FAIL, _("Wi-Fi {name} is not connected to any network", name=name),
                            ev, fault=Fault.SITE,
                            detail=_("{name} is enabled but not associated with an access point ({state}): "
                                     "out of range, wrong password, or the access point is off.", name=name,
                                     state=state),
                            remedy=[step(_("Look for the office Wi-Fi:"), "nmcli device wifi list"),
                                    step(_("Connect to it:"), f"nmcli device connect {name}")])
        return _finding(name, Status.FAIL, _("Network cable unplugged or switch port dead on {name}",
                                             name=name), ev,
                        fault=Fault.SITE,
                        detail=_("{name} is enabled but the kernel sees no carrier ({state}): nothing "
                                 "electrically alive is at the other end of the cable.", name=name,
                                 state=state),
                        remedy=[step(_("Check the cable from this PC to the wall socket or switch: both "
                                       "ends clicked in, the port LED lit; try another cable and another "
                                       "switch port.")),
                                step(_("This must then show LOWER_UP:"), f"ip link show {name}")])
    usable = _usable_addresses(info)
    if not usable:
        return _finding(name, Status.FAIL, _("Link up but no IP address on {name} (DHCP or network)",
                                             name=name), ev,
                        fault=Fault.SITE,
                        detail=_("{name} has a carrier but no IP address: the DHCP server did not answer, "
                                 "or the switch port is in the wrong network (VLAN).", name=name),
                        remedy=[step(_("Check the DHCP server and the switch port's VLAN, then renew the "
                                       "lease:"), f"dhclient -v {name}"),
                                step(_("Or with NetworkManager:"), f"nmcli device reapply {name}"),
                                step(_("This must then list an inet address:"), f"ip addr show {name}")])
    speed = _(" at {speed} Mb/s", speed=info["speed_mbps"]) if info.get("speed_mbps") else ""
    duplex = (_(" full duplex") if info.get("duplex") == "full" else
              _(" half duplex") if info.get("duplex") == "half" else "")
    if not facts["default_routes"]:
        rts = facts.get("route_to_server") or {}
        if cfg["server"] and not rts.get("dev"):
            return _finding(name, Status.FAIL, _("No default route on {name}: the server is out of reach",
                                                 name=name), ev,
                            fault=Fault.SITE,
                            detail=_("{name} has {addresses} but there is no default route and no route "
                                     "to {server}: the DHCP answer had no router, or the static setup lacks "
                                     "one.", name=name, addresses=", ".join(usable), server=cfg["server"]),
                            remedy=[step(_("Check the router option of the DHCP server (or add the gateway "
                                           "to the static setup); this must then show a default via "
                                           "line:"), "ip route")])
        if not cfg["server"]:
            return _finding(name, Status.WARN, _("No default route on {name}", name=name), ev,
                            fault=Fault.SITE,
                            detail=_("{name} has {addresses} but no default route: only the local subnet "
                                     "is reachable.", name=name, addresses=", ".join(usable)),
                            remedy=[step(_("Check the router option of the DHCP server; this must then "
                                           "show a default via line:"), "ip route"),
                                    step(_("Set [network] server to test the server itself."))])
    return _finding(name, Status.OK, _("{name} is up{speed}{duplex} with {addresses}", name=name,
                                       speed=speed, duplex=duplex, addresses=", ".join(usable)), ev)


def _sent(p: dict[str, Any] | None) -> bool:
    return bool(p and p.get("sent"))


def _no_icmp_why(p: dict[str, Any] | None) -> str:
    """Why no echo request went out: no ICMP socket for this user (root, or
    the user's group in sysctl net.ipv4.ping_group_range), or IPv6 only; or
    the series was still running at the probe's deadline (a busy machine)."""
    if p and p.get("unfinished"):
        return _("the ping series did not finish before the probe timeout (the machine was busy): "
                 "raise [network] probe_timeout_s, or run again")
    if p and p.get("error"):
        return _("{error} (run as root, or allow ping sockets: sysctl net.ipv4.ping_group_range)",
                 error=p["error"])
    return _("no IPv4 address to send ICMP echo to")


def _ms(v: float) -> str:
    return _("{ms:.2f} ms", ms=v) if v < 1 else _("{ms:.1f} ms", ms=v)


def _ping_summary(p: dict[str, Any] | None) -> str:
    if not p or p.get("received") is None or not p.get("sent"):
        return _("no ICMP series")
    parts = [_("{received}/{sent} echo replies", received=p["received"], sent=p["sent"])]
    if p.get("avg_ms") is not None:
        parts.append(_("RTT {ms}", ms=_ms(p["avg_ms"])))
    if p.get("jitter_ms") is not None:
        parts.append(_("jitter {ms}", ms=_ms(p["jitter_ms"])))
    return join(", ", parts)


def _quality_problems(p: dict[str, Any] | None, cfg: dict[str, Any]) -> list[str]:
    """Why an ICMP series is too poor for voice; only judged when some
    replies came back (no reply at all is reachability, not quality)."""
    if not p or not p.get("received"):
        return []
    out = []
    if p.get("loss_percent") is not None and p["loss_percent"] > cfg["loss_percent"]:
        out.append(_("{loss:g}% loss (limit {limit:g}%)", loss=p["loss_percent"], limit=cfg["loss_percent"]))
    if p.get("jitter_ms") is not None and p["jitter_ms"] > cfg["jitter_ms"]:
        out.append(_("jitter {ms} (limit {limit:g} ms)", ms=_ms(p["jitter_ms"]), limit=cfg["jitter_ms"]))
    if p.get("avg_ms") is not None and p["avg_ms"] > cfg["rtt_ms"]:
        out.append(_("RTT {ms} (limit {limit:g} ms)", ms=_ms(p["avg_ms"]), limit=cfg["rtt_ms"]))
    return out


def _quality_remedy(iface_info: dict[str, Any] | None, target: str) -> list[Any]:
    steps = [step(_("Find what loads or breaks the path to {target}: replace the patch cable, move the PC "
                    "to another switch port, look for a saturated uplink (large downloads, backups, video "
                    "streaming) or a Wi-Fi link.", target=target))]
    if iface_info and iface_info.get("duplex") == "half":
        steps.append(step(_("This PC's link runs half duplex: a duplex mismatch with the switch port "
                            "loses packets exactly like this; set the switch port and the PC both to "
                            "auto-negotiation.")))
    steps.append(step(_("Measure again:"), f"ping -c 100 -i 0.02 {target}"))
    return steps


def _judge_gateway(gw: str, facts: dict[str, Any], cfg: dict[str, Any], iface: str,
                   iface_info: dict[str, Any] | None) -> Finding:
    p = (facts.get("ping") or {}).get("gateway")
    neigh = (facts.get("neighbours") or {}).get(gw)
    state = neigh["state"] if neigh else None
    answers = bool((p and p.get("received")) or state in ANSWERED_NOW)
    ev = {"scope": "remote", "role": "default gateway", "address": gw, "interface": iface, "answers": answers,
          "arp": neigh, "ping": p}
    if answers:
        problems = _quality_problems(p, cfg)
        if problems:
            return _finding(gw, Status.FAIL, _("Network quality too poor for voice to the gateway {gateway}: "
                                               "{problems}", gateway=gw, problems=join(", ", problems)), ev,
                            fault=Fault.SITE,
                            detail=_("Already the first hop, the default gateway on this PC's own network, "
                                     "shows {problems} ({summary}): calls through it crackle and drop words; "
                                     "the fault is in the local cabling, switch or Wi-Fi.",
                                     problems=join(", ", problems), summary=_ping_summary(p)),
                            remedy=_quality_remedy(iface_info, gw))
        if p and p.get("received"):
            how = _ping_summary(p)
        else:
            how = _("ARP {state}, {icmp}", state=state,
                    icmp=_("no echo replies (ICMP filtered)") if _sent(p) else _("no ICMP echo sent"))
        return _finding(gw, Status.OK, _("Default gateway {gateway} answers: {how}", gateway=gw, how=how), ev)
    if not _sent(p) and state not in ("incomplete", "failed"):
        # Nothing was sent, so the ARP table only remembers older traffic.
        title = (_("Default gateway {gateway} not tested: the ping series did not finish before the "
                   "timeout", gateway=gw) if p and p.get("unfinished") else
                 _("Default gateway {gateway} not tested: no ICMP echo could be sent", gateway=gw))
        return _finding(gw, Status.SKIP, title, ev, detail=_no_icmp_why(p))
    if state in ANSWERED_BEFORE:
        return _finding(gw, Status.FAIL, _("Default gateway {gateway} does not answer", gateway=gw), ev,
                        fault=Fault.SITE,
                        detail=_("The gateway did not answer {summary}; its ARP entry ({mac}) is only a "
                                 "stale memory ({state}): the router or the switch between is off or cut "
                                 "off.", summary=_ping_summary(p), mac=neigh["lladdr"], state=state),
                        remedy=[step(_("Check that the router/switch is powered and cabled; this turns "
                                       "FAILED when it is truly gone:"), f"ip neigh show {gw}")])
    return _finding(gw, Status.FAIL, _("Default gateway {gateway} does not answer ARP", gateway=gw), ev,
                    fault=Fault.SITE,
                    detail=_("The kernel asked for {gateway}'s hardware address on {interface} and got no "
                             "answer (ARP {state}, {summary}): the router is off, or the switch between this "
                             "PC and it is down or on another network.", gateway=gw, interface=iface,
                             state=state or _("no entry"), summary=_ping_summary(p)),
                    remedy=[step(_("Check the router's power and cabling and the switch it hangs on.")),
                            step(_("From this PC, this must show a lladdr (REACHABLE):"), f"ip neigh show {gw}"),
                            step(_("And this must answer:"), f"ping {gw}")])


def _named(name: str, addr: str | None) -> str:
    return name if not addr or addr == name else f"{name} ({addr})"


def _resolver_verdict(name: str, resolvers: list[dict[str, Any]] | None, ev: dict[str, Any]) -> Finding | None:
    """Why the name did not resolve, from asking each nameserver ourselves:
    no such name (the configured name is wrong), or no DNS server answering
    (the site's network: named with its address)."""
    if resolvers is None:
        return None
    said_no = [r for r in resolvers if r.get("state") == "nxdomain"]
    if said_no:
        r = said_no[0]
        return _finding(name, Status.FAIL,
                        _("Server name {name} does not exist: the DNS server {ns} answers that there is no "
                          "such name", name=name, ns=r["server"]), ev, fault=Fault.UNDETERMINED,
                        detail=_("The DNS server {ns} answered NXDOMAIN for {name}: the configured name is "
                                 "wrong, or its record was removed from DNS.", ns=r["server"], name=name),
                        remedy=[step(_("Check the spelling of [network] server against the server's real "
                                       "name, or set it to the server's address; then look it up:"),
                                     f"getent hosts {name}"),
                                step(_("If the name is right, ask whoever runs DNS to add its record.")),
                                ])
    if not resolvers:
        return _finding(name, Status.FAIL,
                        _("Server name {name} cannot be looked up: no DNS server is configured", name=name),
                        ev, fault=Fault.SITE,
                        detail=_("/etc/resolv.conf names no nameserver, and {name} is not in /etc/hosts.",
                                 name=name),
                        remedy=[step(_("Set the site's DNS server in the network settings, or put the server "
                                       "into /etc/hosts; then check:"), f"getent hosts {name}")])
    if all(r.get("state") in ("silent", "unreachable", "error") for r in resolvers):
        r = resolvers[0]
        why = _("does not answer") if r.get("state") == "silent" else _("is not reachable ({error})",
                                                                         error=r.get("error") or "")
        return _finding(name, Status.FAIL,
                        _("DNS server {ns} {why}: server name {name} cannot be looked up", ns=r["server"],
                          why=why, name=name), ev, fault=Fault.SITE,
                        detail=_("This seat asked its DNS server(s) {servers} for {name} and got no answer: the "
                                 "DNS server is down or the network path to it is broken, so every name "
                                 "lookup fails, not only this one.",
                                 servers=", ".join(x["server"] for x in resolvers), name=name),
                        remedy=[step(_("Check that the DNS server answers from this seat:"),
                                     f"getent hosts {name}; ping -c 3 {r['server']}"),
                                step(_("Fix the DNS server or the path to it, or put the server's name into "
                                       "/etc/hosts as a stopgap."))])
    return None


def _judge_server(facts: dict[str, Any], cfg: dict[str, Any], iface: str, iface_info: dict[str, Any] | None,
                  gw_finding: Finding | None) -> list[Finding]:
    srv = facts.get("server") or {}
    name = cfg["server"]
    ports = facts.get("ports") or []
    p = (facts.get("ping") or {}).get("server")
    addr = srv.get("address")
    base = {"scope": "remote", "role": "call-center server", "server": name, "address": addr}
    if not srv.get("addresses"):
        ev = dict(base, resolve_error=srv.get("error"), resolve_ms=srv.get("resolve_ms"),
                  resolvers=srv.get("resolvers"))
        told = _resolver_verdict(name, srv.get("resolvers"), ev)
        if told:
            return [told]
        return [_finding(name, Status.FAIL, _("Server name {name} does not resolve", name=name), ev,
                         fault=Fault.UNDETERMINED,
                         detail=_("Looking up {name} failed ({error}): the DNS server is unreachable or does "
                                  "not know the name, or the configured name is wrong.", name=name,
                                  error=srv.get("error") or _("no address")),
                         remedy=[step(_("Look the name up:"), f"getent hosts {name}"),
                                 step(_("Check /etc/resolv.conf and /etc/hosts, and that the DNS server has "
                                        "the server's record (or set [network] server to its address)."))])]
    answered_tcp = [x["port"] for x in ports if x.get("state") in ("open", "refused")]
    ev = dict(base, addresses=srv.get("addresses"), ping=p, ports={str(x["port"]): x.get("state") for x in ports},
              route=facts.get("route_to_server"), arp=(facts.get("neighbours") or {}).get(addr))
    findings: list[Finding] = []
    if (p and p.get("received")) or answered_tcp:
        problems = _quality_problems(p, cfg)
        if problems:
            caused = [gw_finding.id] if gw_finding and gw_finding.status.is_problem else []
            server_f = _finding(name, Status.FAIL, _("Network quality too poor for voice to {name}: "
                                                     "{problems}", name=name, problems=join(", ", problems)),
                                ev, fault=Fault.SITE,
                                detail=_("The path to the server shows {problems} ({summary}): softphone "
                                         "audio crackles, cuts out and drops calls on such a path.",
                                         problems=join(", ", problems), summary=_ping_summary(p)),
                                remedy=_quality_remedy(iface_info, addr), caused_by=caused)
        else:
            how = _ping_summary(p) if p and p.get("received") else \
                _("TCP answers on {ports}, ICMP filtered", ports=", ".join(map(str, answered_tcp)))
            server_f = _finding(name, Status.OK, _("Server {name} answers: {how}", name=name, how=how), ev)
    elif not _sent(p) and not ports:
        title = (_("Server {name} not tested: the ping series did not finish before the timeout", name=name)
                 if p and p.get("unfinished") else
                 _("Server {name} not tested: no ICMP echo could be sent", name=name))
        server_f = _finding(name, Status.SKIP, title, ev, detail=_no_icmp_why(p))
    else:
        # A silent gateway explains a silent server; a lossy one does not.
        gw_ok = gw_finding is not None and gw_finding.evidence.get("answers") is True
        caused = [gw_finding.id] if gw_finding and gw_finding.status.is_problem and not gw_ok else []
        tried = ", ".join(f"TCP {x['port']} {x.get('state')}" for x in ports) or _("no ports configured")
        if gw_ok:
            title = _("Server {name} does not answer while the gateway {gateway} does", name=name,
                      gateway=gw_finding.subject)
            why = _("This PC's link and its default gateway work, but {server} answered neither ping "
                    "({summary}) nor TCP ({tried}): it is powered off, unplugged, or a firewall on the way "
                    "drops the traffic.", server=_named(name, addr), summary=_ping_summary(p), tried=tried)
        else:
            title = _("Server {name} does not answer", name=name)
            why = _("{server} answered neither ping ({summary}) nor TCP ({tried}): it is powered off, "
                    "unplugged, or unreachable from this network.", server=_named(name, addr),
                    summary=_ping_summary(p), tried=tried)
        server_f = _finding(name, Status.FAIL, title, ev, fault=Fault.UNDETERMINED, detail=why,
                            remedy=[step(_("Check that the server is switched on and its network cable is "
                                           "in.")),
                                    step(_("Try from another workstation; if others reach it, check the "
                                           "firewall and VLAN between this PC and the server:"),
                                         f"ping {addr}")],
                            caused_by=caused)
    findings.append(server_f)
    for x in ports:
        findings.append(_judge_port(x, name, addr, server_f))
    return findings


def _judge_port(x: dict[str, Any], name: str, addr: str | None, server_f: Finding) -> Finding:
    port = x["port"]
    subject = f"{name}:{port}"
    ev = {"scope": "remote", "server": name, "address": addr, "port": port, "state": x.get("state"),
          "error": x.get("error"), "time_ms": x.get("time_ms")}
    state = x.get("state")
    if state == "open":
        return _finding(subject, Status.OK, _("Port {port} on {name} accepts connections ({ms})", port=port,
                                              name=name, ms=_ms(x.get("time_ms") or 0)), ev)
    if state == "refused":
        return _finding(subject, Status.FAIL, _("Call-center service on the server is not listening on port "
                                                "{port}", port=port),
                        ev, fault=Fault.SOFTWARE,
                        detail=_("{server} is up and answered, but refused the connection to TCP port {port}: "
                                 "no program listens there, so the call-center service on the server is "
                                 "stopped or crashed.", server=_named(name, addr), port=port),
                        remedy=[step(_("On the server, check the service:"),
                                     "diagnose run --only application.services"),
                                step(_("And what listens on the port:"), f"ss -ltnp 'sport = :{port}'"),
                                step(_("Start it; the vendor's support must look at why it stopped."))])
    if server_f.status.is_problem:
        return _finding(subject, Status.FAIL, _("Port {port} on {name} cannot be judged: the path is at fault",
                                                port=port, name=name), ev,
                        fault=Fault.UNDETERMINED,
                        detail=_("TCP {port} gave {state} ({error}); the finding about the server itself "
                                 "explains why.", port=port, state=state, error=x.get("error")),
                        remedy=_("Fix {finding} first, then run the check again.", finding=server_f.id),
                        caused_by=[server_f.id])
    return _finding(subject, Status.FAIL, _("Port {port} on {name} does not answer (filtered)", port=port,
                                            name=name), ev,
                    fault=Fault.UNDETERMINED,
                    detail=_("{name} answers ping, but TCP port {port} gave {state} ({error}): a firewall on "
                             "the server or between silently drops it, or the service hangs in accept.",
                             name=name, port=port, state=state, error=x.get("error")),
                    remedy=[step(_("On the server, check the firewall:"), "nft list ruleset"),
                            step(_("And what listens on the port:"), f"ss -ltnp 'sport = :{port}'"),
                            step(_("From another workstation, try the same port."))])


def judge(facts: dict[str, Any], cfg: dict[str, Any]) -> list[Finding]:
    names = facts["interface"]["names"]
    findings: list[Finding] = []
    if not names:
        ev = {"scope": "local", "interfaces": sorted(facts["interfaces"])}
        findings.append(_finding("network", Status.FAIL, _("No network interface on this PC"), ev,
                                 fault=Fault.SITE,
                                 detail=_("Apart from loopback the kernel lists no network interface: the "
                                          "network card is missing, disabled in the firmware, or has no driver."),
                                 remedy=[step(_("List the interfaces:"), "ip -br link"),
                                         step(_("Reseat or replace the network card."))]))
    else:
        findings.extend(_judge_local(n, facts, cfg) for n in names)
    local_down = [f.id for f in findings if f.status is Status.FAIL]
    iface = names[0] if names else ""
    iface_info = facts["interfaces"].get(iface)
    remote: list[Finding] = []
    gw_f = None
    server_addr = (facts.get("server") or {}).get("address")
    # A server that is itself the router gets one finding, as the server.
    if facts.get("gateway") and facts["gateway"] not in (cfg["server"], server_addr):
        gw_f = _judge_gateway(facts["gateway"], facts, cfg, iface, iface_info)
        remote.append(gw_f)
    if cfg["server"]:
        remote.extend(_judge_server(facts, cfg, iface, iface_info, gw_f))
    if local_down:
        # This PC's own link is down: nothing beyond it can be judged, so
        # every remote problem is a consequence ("cannot tell"), not a
        # fault of its own.
        local = [f for f in findings if f.id in local_down]
        remote = [_cannot_tell(f, local) if f.status.is_problem else f for f in remote]
    findings += remote
    _inherit_faults(findings)
    return findings


def _cannot_tell(f: Finding, local: list[Finding]) -> Finding:
    role = f.evidence.get("role", "")
    links = ", ".join(x.subject for x in local)
    if role == "default gateway":
        target = f.subject
        title = _("Default gateway {target} cannot be reached: this PC's own link is down", target=target)
    elif role == "call-center server":
        target = f.subject
        title = _("Server {target} cannot be reached: this PC's own link is down", target=target)
    else:
        target = _("{port} on {server}", port=f.evidence.get("port"), server=f.evidence.get("server"))
        title = _("Port {target} cannot be reached: this PC's own link is down", target=target)
    return _finding(f.subject, f.status, title,
                    f.evidence, fault=local[0].fault,
                    detail=_("Whether {target} works cannot be told from here: {links} is not usable "
                             "({why}).", target=target, links=links, why=local[0].title),
                    remedy=_("Fix {finding} first, then run the check again.", finding=local[0].id),
                    caused_by=[x.id for x in local])


def _inherit_faults(findings: list[Finding]) -> None:
    """A consequence takes the fault domain of its root cause, as the
    engine's attribution would: judged alone these findings already say
    who has to act."""
    by_id = {f.id: f for f in findings}
    for f in findings:
        root, seen = f, {f.id}
        while root.caused_by and root.caused_by[0] in by_id and root.caused_by[0] not in seen:
            root = by_id[root.caused_by[0]]
            seen.add(root.id)
        if root is not f and f.status.is_problem and root.fault is not None:
            f.fault = root.fault
