"""The judge of network.connectivity, walking outward from the seat: its own
link and address, the default gateway, the server's name and address, each
port, and the quality of the path. What lies beyond a broken step is
"cannot tell", nested under it, not a separate fault."""

from __future__ import annotations

import ipaddress
from typing import Any

from diagnose.checks.network.common import ANSWERED_BEFORE, ANSWERED_NOW, NAME
from diagnose.model import Fault, Finding, Status


def _finding(subject: str, status: Status, title: str, evidence: dict[str, Any], *,
             fault: Fault | None = None, detail: str = "", remedy: str = "",
             caused_by: list[str] | None = None) -> Finding:
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
        return _finding(name, Status.FAIL, f"Network interface {name} does not exist", ev, fault=Fault.SITE,
                        detail=f"No interface called {name} is present (interfaces: "
                               f"{', '.join(sorted(facts['interfaces'])) or 'none'}): the network card was "
                               "removed, disabled in the firmware, or renamed.",
                        remedy="List the interfaces with `ip -br link`; reseat or replace the network card, or set "
                               "[network] interface to the right name.")
    if not info.get("admin_up"):
        return _finding(name, Status.FAIL, f"Network interface {name} is switched off", ev, fault=Fault.SITE,
                        detail=f"{name} is administratively down (operstate {info.get('operstate')}): "
                               "someone disabled it, so this PC has no network at all.",
                        remedy=f"Enable it: `ip link set {name} up` (or `nmcli device connect {name}`).")
    if info.get("carrier") != 1:
        state = f"operstate {info.get('operstate')}, carrier {info.get('carrier')}"
        if info.get("wireless"):
            return _finding(name, Status.FAIL, f"Wi-Fi {name} is not connected to any network", ev,
                            fault=Fault.SITE,
                            detail=f"{name} is enabled but not associated with an access point ({state}): out of "
                                   "range, wrong password, or the access point is off.",
                            remedy=f"Connect to the office Wi-Fi (`nmcli device wifi list`, "
                                   f"`nmcli device connect {name}`).")
        return _finding(name, Status.FAIL, f"Network cable unplugged or switch port dead on {name}", ev,
                        fault=Fault.SITE,
                        detail=f"{name} is enabled but the kernel sees no carrier ({state}): nothing electrically "
                               "alive is at the other end of the cable.",
                        remedy="Check the cable from this PC to the wall socket or switch: both ends clicked in, the "
                               "port LED lit; try another cable and another switch port. "
                               f"`ip link show {name}` must show LOWER_UP.")
    usable = _usable_addresses(info)
    if not usable:
        return _finding(name, Status.FAIL, f"Link up but no IP address on {name} (DHCP or network)", ev,
                        fault=Fault.SITE,
                        detail=f"{name} has a carrier but no IP address: the DHCP server did not answer, or the "
                               "switch port is in the wrong network (VLAN).",
                        remedy=f"Check the DHCP server and the switch port's VLAN, then renew the lease: "
                               f"`dhclient -v {name}` (or `nmcli device reapply {name}`); `ip addr show {name}` "
                               "must list an inet address.")
    speed = f" at {info['speed_mbps']} Mb/s" if info.get("speed_mbps") else ""
    duplex = f" {info['duplex']} duplex" if info.get("duplex") in ("full", "half") else ""
    if not facts["default_routes"]:
        rts = facts.get("route_to_server") or {}
        if cfg["server"] and not rts.get("dev"):
            return _finding(name, Status.FAIL, f"No default route on {name}: the server is out of reach", ev,
                            fault=Fault.SITE,
                            detail=f"{name} has {', '.join(usable)} but there is no default route and no route "
                                   f"to {cfg['server']}: the DHCP answer had no router, or the static setup lacks one.",
                            remedy="Check the router option of the DHCP server (or add the gateway to the static "
                                   "setup); `ip route` must show a `default via` line.")
        if not cfg["server"]:
            return _finding(name, Status.WARN, f"No default route on {name}", ev, fault=Fault.SITE,
                            detail=f"{name} has {', '.join(usable)} but no default route: only the local subnet "
                                   "is reachable.",
                            remedy="Check the router option of the DHCP server; `ip route` must show a "
                                   "`default via` line. Set [network] server to test the server itself.")
    return _finding(name, Status.OK, f"{name} is up{speed}{duplex} with {', '.join(usable)}", ev)


def _sent(p: dict[str, Any] | None) -> bool:
    return bool(p and p.get("sent"))


def _no_icmp_why(p: dict[str, Any] | None) -> str:
    """Why no echo request went out: no ICMP socket for this user (root, or
    the user's group in sysctl net.ipv4.ping_group_range), or IPv6 only."""
    if p and p.get("error"):
        return f"{p['error']} (run as root, or allow ping sockets: sysctl net.ipv4.ping_group_range)"
    return "no IPv4 address to send ICMP echo to"


def _ms(v: float) -> str:
    return f"{v:.2f} ms" if v < 1 else f"{v:.1f} ms"


def _ping_summary(p: dict[str, Any] | None) -> str:
    if not p or p.get("received") is None or not p.get("sent"):
        return "no ICMP series"
    s = f"{p['received']}/{p['sent']} echo replies"
    if p.get("avg_ms") is not None:
        s += f", RTT {_ms(p['avg_ms'])}"
    if p.get("jitter_ms") is not None:
        s += f", jitter {_ms(p['jitter_ms'])}"
    return s


def _quality_problems(p: dict[str, Any] | None, cfg: dict[str, Any]) -> list[str]:
    """Why an ICMP series is too poor for voice; only judged when some
    replies came back (no reply at all is reachability, not quality)."""
    if not p or not p.get("received"):
        return []
    out = []
    if p.get("loss_percent") is not None and p["loss_percent"] > cfg["loss_percent"]:
        out.append(f"{p['loss_percent']:g}% loss (limit {cfg['loss_percent']:g}%)")
    if p.get("jitter_ms") is not None and p["jitter_ms"] > cfg["jitter_ms"]:
        out.append(f"jitter {_ms(p['jitter_ms'])} (limit {cfg['jitter_ms']:g} ms)")
    if p.get("avg_ms") is not None and p["avg_ms"] > cfg["rtt_ms"]:
        out.append(f"RTT {_ms(p['avg_ms'])} (limit {cfg['rtt_ms']:g} ms)")
    return out


def _quality_remedy(iface_info: dict[str, Any] | None, target: str) -> str:
    hint = ""
    if iface_info and iface_info.get("duplex") == "half":
        hint = (" This PC's link runs half duplex: a duplex mismatch with the switch port loses packets exactly "
                "like this; set the switch port and the PC both to auto-negotiation.")
    return (f"Find what loads or breaks the path to {target}: replace the patch cable, move the PC to another "
            "switch port, look for a saturated uplink (large downloads, backups, video streaming) or a "
            f"Wi-Fi link; measure again with `ping -c 100 -i 0.02 {target}`.{hint}")


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
            return _finding(gw, Status.FAIL, f"Network quality too poor for voice to the gateway {gw}: "
                            f"{', '.join(problems)}", ev, fault=Fault.SITE,
                            detail=f"Already the first hop, the default gateway on this PC's own network, shows "
                                   f"{', '.join(problems)} ({_ping_summary(p)}): calls through it crackle and drop "
                                   "words; the fault is in the local cabling, switch or Wi-Fi.",
                            remedy=_quality_remedy(iface_info, gw))
        if p and p.get("received"):
            how = _ping_summary(p)
        else:
            how = f"ARP {state}, " + ("no echo replies (ICMP filtered)" if _sent(p) else "no ICMP echo sent")
        return _finding(gw, Status.OK, f"Default gateway {gw} answers: {how}", ev)
    if not _sent(p) and state not in ("incomplete", "failed"):
        # Nothing was sent, so the ARP table only remembers older traffic.
        return _finding(gw, Status.SKIP, f"Default gateway {gw} not tested: no ICMP echo could be sent", ev,
                        detail=_no_icmp_why(p))
    if state in ANSWERED_BEFORE:
        return _finding(gw, Status.FAIL, f"Default gateway {gw} does not answer", ev, fault=Fault.SITE,
                        detail=f"The gateway did not answer {_ping_summary(p)}; its ARP entry ({neigh['lladdr']}) is "
                               f"only a stale memory ({state}): the router or the switch between is off or cut off.",
                        remedy=f"Check that the router/switch is powered and cabled; `ip neigh show {gw}` turns "
                               "FAILED when it is truly gone.")
    return _finding(gw, Status.FAIL, f"Default gateway {gw} does not answer ARP", ev, fault=Fault.SITE,
                    detail=f"The kernel asked for {gw}'s hardware address on {iface} and got no answer "
                           f"(ARP {state or 'no entry'}, {_ping_summary(p)}): the router is off, or the switch "
                           "between this PC and it is down or on another network.",
                    remedy=f"Check the router's power and cabling and the switch it hangs on; from this PC, "
                           f"`ip neigh show {gw}` must show a lladdr (REACHABLE) and `ping {gw}` must answer.")


def _named(name: str, addr: str | None) -> str:
    return name if not addr or addr == name else f"{name} ({addr})"


def _judge_server(facts: dict[str, Any], cfg: dict[str, Any], iface: str, iface_info: dict[str, Any] | None,
                  gw_finding: Finding | None) -> list[Finding]:
    srv = facts.get("server") or {}
    name = cfg["server"]
    ports = facts.get("ports") or []
    p = (facts.get("ping") or {}).get("server")
    addr = srv.get("address")
    base = {"scope": "remote", "role": "call-center server", "server": name, "address": addr}
    if not srv.get("addresses"):
        ev = dict(base, resolve_error=srv.get("error"), resolve_ms=srv.get("resolve_ms"))
        return [_finding(name, Status.FAIL, f"Server name {name} does not resolve", ev, fault=Fault.UNDETERMINED,
                         detail=f"Looking up {name} failed ({srv.get('error') or 'no address'}): the DNS server is "
                                "unreachable or does not know the name, or the configured name is wrong.",
                         remedy=f"Run `getent hosts {name}`; check /etc/resolv.conf and /etc/hosts, and that the "
                                "DNS server has the server's record (or set [network] server to its address).")]
    answered_tcp = [x["port"] for x in ports if x.get("state") in ("open", "refused")]
    ev = dict(base, addresses=srv.get("addresses"), ping=p, ports={str(x["port"]): x.get("state") for x in ports},
              route=facts.get("route_to_server"), arp=(facts.get("neighbours") or {}).get(addr))
    findings: list[Finding] = []
    if (p and p.get("received")) or answered_tcp:
        problems = _quality_problems(p, cfg)
        if problems:
            caused = [gw_finding.id] if gw_finding and gw_finding.status.is_problem else []
            server_f = _finding(name, Status.FAIL, f"Network quality too poor for voice to {name}: "
                                f"{', '.join(problems)}", ev, fault=Fault.SITE,
                                detail=f"The path to the server shows {', '.join(problems)} ({_ping_summary(p)}): "
                                       "softphone audio crackles, cuts out and drops calls on such a path.",
                                remedy=_quality_remedy(iface_info, addr), caused_by=caused)
        else:
            how = _ping_summary(p) if p and p.get("received") else \
                f"TCP answers on {', '.join(map(str, answered_tcp))}, ICMP filtered"
            server_f = _finding(name, Status.OK, f"Server {name} answers: {how}", ev)
    elif not _sent(p) and not ports:
        server_f = _finding(name, Status.SKIP, f"Server {name} not tested: no ICMP echo could be sent", ev,
                            detail=_no_icmp_why(p))
    else:
        # A silent gateway explains a silent server; a lossy one does not.
        gw_ok = gw_finding is not None and gw_finding.evidence.get("answers") is True
        caused = [gw_finding.id] if gw_finding and gw_finding.status.is_problem and not gw_ok else []
        tried = ", ".join(f"TCP {x['port']} {x.get('state')}" for x in ports) or "no ports configured"
        if gw_ok:
            title = f"Server {name} does not answer while the gateway {gw_finding.subject} does"
            why = (f"This PC's link and its default gateway work, but {_named(name, addr)} answered neither ping "
                   f"({_ping_summary(p)}) nor TCP ({tried}): it is powered off, unplugged, or a firewall on the "
                   "way drops the traffic.")
        else:
            title = f"Server {name} does not answer"
            why = (f"{_named(name, addr)} answered neither ping ({_ping_summary(p)}) nor TCP ({tried}): it is powered "
                   "off, unplugged, or unreachable from this network.")
        server_f = _finding(name, Status.FAIL, title, ev, fault=Fault.UNDETERMINED, detail=why,
                            remedy=f"Check that the server is switched on and its network cable is in; try "
                                   f"`ping {addr}` from another workstation: if others reach it, check the "
                                   "firewall and VLAN between this PC and the server.", caused_by=caused)
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
        return _finding(subject, Status.OK, f"Port {port} on {name} accepts connections "
                        f"({_ms(x.get('time_ms') or 0)})", ev)
    if state == "refused":
        return _finding(subject, Status.FAIL, f"Call-center service on the server is not listening on port {port}",
                        ev, fault=Fault.SOFTWARE,
                        detail=f"{_named(name, addr)} is up and answered, but refused the connection to TCP "
                               f"port {port}: no program listens there, so the call-center service on the server "
                               "is stopped or crashed.",
                        remedy=f"On the server, check the service (`diagnose run --only application.services`, "
                               f"`ss -ltnp 'sport = :{port}'`) and start it; the vendor's support must look at why "
                               "it stopped.")
    if server_f.status.is_problem:
        return _finding(subject, Status.FAIL, f"Port {port} on {name} cannot be judged: the path is at fault", ev,
                        fault=Fault.UNDETERMINED,
                        detail=f"TCP {port} gave {state} ({x.get('error')}); the finding about the server itself "
                               "explains why.",
                        remedy=f"Fix {server_f.id} first, then run the check again.", caused_by=[server_f.id])
    return _finding(subject, Status.FAIL, f"Port {port} on {name} does not answer (filtered)", ev,
                    fault=Fault.UNDETERMINED,
                    detail=f"{name} answers ping, but TCP port {port} gave {state} ({x.get('error')}): a firewall "
                           "on the server or between silently drops it, or the service hangs in accept.",
                    remedy=f"On the server, check the firewall (`nft list ruleset`) and `ss -ltnp 'sport = :{port}'`; "
                           "from another workstation, try the same port.")


def judge(facts: dict[str, Any], cfg: dict[str, Any]) -> list[Finding]:
    names = facts["interface"]["names"]
    findings: list[Finding] = []
    if not names:
        ev = {"scope": "local", "interfaces": sorted(facts["interfaces"])}
        findings.append(_finding("network", Status.FAIL, "No network interface on this PC", ev, fault=Fault.SITE,
                                 detail="Apart from loopback the kernel lists no network interface: the network "
                                        "card is missing, disabled in the firmware, or has no driver.",
                                 remedy="Check `ip -br link`; reseat or replace the network card."))
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
    what = {"default gateway": "Default gateway", "call-center server": "Server"}.get(
        f.evidence.get("role", ""), "Port")
    target = f.subject if what != "Port" else f"{f.evidence.get('port')} on {f.evidence.get('server')}"
    links = ", ".join(x.subject for x in local)
    return _finding(f.subject, f.status, f"{what} {target} cannot be reached: this PC's own link is down",
                    f.evidence, fault=local[0].fault,
                    detail=f"Whether {target} works cannot be told from here: {links} is not usable "
                           f"({local[0].title}).",
                    remedy=f"Fix {local[0].id} first, then run the check again.",
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
