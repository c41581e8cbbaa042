"""gateway.power: the judgement of one gateway's ladder (ARP -> ICMP -> SIP
OPTIONS -> HTTP), a pure function of the facts the probe collected."""

from __future__ import annotations

from typing import Any

from diagnose.checks.gateway.arp import ARP_FROM_NEIGHBOURS
from diagnose.i18n import _, _n, join
from diagnose.model import Fault, Finding, Status, step

REJECT_CODES = (401, 403, 404, 407)
# Alive but OPTIONS itself unsupported: the SIP stack answered, which is all we ask.
NOT_SUPPORTED_CODES = (405, 501)


def _arp_view(r: dict | None) -> tuple[str, str]:
    """(answered|silent|unknown, one-line result) for the ARP rung."""
    if r is None:
        return "unknown", _("not run")
    state = r.get("state")
    if state == "answered":
        if r.get("method") in ("scapy", "packet-socket"):
            return "answered", _("who-has answered by {mac}", mac=r.get("mac"))
        return "answered", _("kernel neighbour entry confirmed by {mac}", mac=r.get("mac"))
    if state == "skipped":
        return "unknown", _("skipped: {why}", why=r.get("why"))
    if state == "unconfirmed":
        after = r.get("after") or {}
        return "unknown", _("kernel neighbour entry {nud} ({mac}), not re-confirmed during the probe",
                            nud=after.get("nud"), mac=after.get("mac"))
    if state == "error":
        return "unknown", _("error: {error}", error=r.get("error"))
    return "silent", _("no ARP reply")


def _icmp_view(r: dict | None) -> tuple[str, str]:
    if r is None or r.get("mode") is None:
        why = (r or {}).get("error") or _("not run")
        return "unknown", _("not collected: {why}", why=why)
    if r.get("received"):
        return "answered", _("{received}/{sent} echo replies, avg {avg} ms", received=r["received"],
                             sent=r["sent"], avg=r.get("avg_ms"))
    if r.get("unreachable"):
        return "silent", _("0/{sent} replies, host unreachable ({why})", sent=r.get("sent"),
                           why=r.get("error") or "ICMP")
    return "silent", _("0/{sent} echo replies", sent=r.get("sent"))


def _sip_view(r: dict) -> str:
    state = r.get("state")
    resp = r.get("response") or {}
    if state == "answered":
        return f"{resp.get('code')} {resp.get('reason')}"
    if state == "refused":
        return _("ICMP port unreachable") if r.get("transport") == "udp" else _("TCP connection refused")
    if state == "unreachable":
        icmp = r.get("icmp") or {}
        return _("unreachable: {why}", why=icmp.get("meaning") or r.get("error"))
    if state == "error":
        return _("error: {error}", error=r.get("error"))
    if state == "not_collected":
        return _("not collected: {why}", why=r.get("error"))
    if resp:
        return _n("no answer to {n} request (only a provisional {code})",
                  "no answer to {n} requests (only a provisional {code})", r.get("sent", 0),
                  code=resp.get("code"))
    return _n("no answer to {n} request", "no answer to {n} requests", r.get("sent", 0))


def _http_view(r: dict) -> tuple[str, str]:
    state = r.get("state")
    if state == "open":
        status = r.get("status")
        return "answered", _("port open, HEAD / -> {status}", status=status if status else _("no HTTP answer"))
    if state == "refused":
        return "answered", _("connection refused (TCP reset: the host is up)")
    return "silent", f"{state}: {r.get('error')}"


def _ladder(g: dict) -> list[dict]:
    """The evidence table: every rung with its result and timing."""
    rungs = g.get("rungs", {})
    rows = []
    if "arp" in rungs:
        r = rungs["arp"]
        rows.append({"rung": "arp", "method": r.get("method"), "result": _arp_view(r)[1],
                     "time_ms": r.get("time_ms")})
    if "icmp" in rungs:
        r = rungs["icmp"]
        rows.append({"rung": "icmp", "method": r.get("mode"), "result": _icmp_view(r)[1],
                     "time_ms": r.get("time_ms")})
    for key in ("sip_udp", "sip_tcp"):
        if key in rungs:
            r = rungs[key]
            rows.append({"rung": key.replace("_", "/"), "method": "OPTIONS", "result": _sip_view(r),
                         "time_ms": r.get("time_ms")})
    if "http" in rungs:
        r = rungs["http"]
        rows.append({"rung": "http", "method": "HEAD", "result": _http_view(r)[1],
                     "time_ms": r.get("time_ms")})
    return rows


def _not_collected_note(g: dict) -> str:
    missing = g.get("not_collected") or []
    if not missing:
        return ""
    parts = []
    for m in missing:
        if m["rung"] == "icmp":
            rng = m.get("ping_group_range")
            if rng:
                parts.append(_("ICMP echo could not be sent: {why} (net.ipv4.ping_group_range = {range} "
                               "allows no unprivileged ping socket)", why=m["why"], range=rng))
            else:
                parts.append(_("ICMP echo could not be sent: {why}", why=m["why"]))
        else:
            why = _(ARP_FROM_NEIGHBOURS) if m["why"] == ARP_FROM_NEIGHBOURS else m["why"]
            parts.append(join(": ", [m["rung"].upper(), why]))
    if all(m["rung"].startswith("sip") for m in missing):
        return _(" Not collected: {what}.", what=join("; ", parts))
    return _(" Not collected without root: {what}.", what=join("; ", parts))


def judge_gateway(g: dict) -> list[Finding]:
    name = g.get("name") or _("(unnamed gateway)")
    addr = g.get("address")
    evidence: dict[str, Any] = {
        "scope": "remote", "address": addr, "configured_address": g.get("configured_address"),
        "interface": (g.get("route") or {}).get("interface"), "route": g.get("route"),
        "ladder": _ladder(g), "not_collected": g.get("not_collected", []),
        "privileged": g.get("privileged"), "source": g.get("source"),
        "duration_ms": g.get("duration_ms"),
    }

    def finding(status: Status, title: str, fault: Fault | None = None, detail: str = "",
                remedy: Any = "") -> Finding:
        return Finding("gateway.power", name, status, title, fault, detail, dict(evidence), remedy)

    if g.get("error"):
        return [finding(Status.ERROR, _("Gateway {name} cannot be probed: {error}", name=name,
                                        error=g["error"]), Fault.SITE,
                        _("The [[gateway]] entry is incomplete or its address unusable: {error}.",
                          error=g["error"]),
                        _("Set name and address (an IPv4 address) in the [[gateway]] table of the "
                          "config, e.g. address = \"192.0.2.20\"."))]
    rungs = g.get("rungs", {})
    port = g.get("sip_port")
    note = _not_collected_note(g)
    route = g.get("route") or {}
    link = g.get("link") or {}
    # A SIP rung that never sent says nothing about the gateway.
    sips = [rungs[k] for k in ("sip_udp", "sip_tcp") if k in rungs
            and rungs[k].get("state") != "not_collected"]
    answered = [r for r in sips if r.get("state") == "answered"]
    ladder = join("; ", [join(": ", [row["rung"], row["result"]]) for row in evidence["ladder"]])

    if not answered:
        if not route.get("found"):
            return [finding(Status.FAIL, _("No route from this server to gateway {name} ({address})",
                                           name=name, address=addr), Fault.SITE,
                            _("The routing table has no route towards {address}, so nothing was sent.",
                              address=addr),
                            [step(_("Check this server's address and routes:"),
                                  f"ip -4 addr; ip route get {addr}"),
                             step(_("Check its network cable."))])]
        # carrier reads 0 when the cable (or the switch port) is gone; an
        # administratively down interface has no readable carrier at all.
        if link.get("carrier") is False or link.get("operstate") in ("down", "lowerlayerdown"):
            iface = link.get("interface")
            local = Finding("gateway.power", f"link:{iface}", Status.FAIL,
                            _("This server's link {interface} is down", interface=iface), Fault.SITE,
                            _("Interface {interface}, which leads to gateway {name}, has operstate "
                              "{operstate} and carrier {carrier}.", interface=iface, name=name,
                              operstate=link.get("operstate"), carrier=str(link.get("carrier"))),
                            {"scope": "local", "interface": iface, "link": link},
                            [step(_("Check the network cable of this server on {interface} and its "
                                    "switch port:", interface=iface), f"ip link show {iface}")])
            gw = finding(Status.FAIL, _("Gateway {name} cannot be judged: this server's link "
                                        "{interface} is down", name=name, interface=iface),
                         Fault.SITE,
                         _("Nothing reaches {address} while {interface} is down; the gateway itself "
                           "may be fine. Ladder: {ladder}.", address=addr, interface=iface,
                           ladder=ladder),
                         _("Fix this server's link {interface} first, then run diagnose again.",
                           interface=iface))
            gw.caused_by = [local.id]
            return [local, gw]

    if answered:
        return [_judge_answer(g, name, addr, port, answered, sips, note, finding)]

    arp_state = _arp_view(rungs.get("arp"))[0]
    icmp_state = _icmp_view(rungs.get("icmp"))[0]
    http_state = _http_view(rungs["http"])[0] if "http" in rungs else "unknown"
    refused = [r for r in sips if r.get("state") == "refused"]
    alive = [what for what, st in (("ARP", arp_state), (_("ICMP echo"), icmp_state),
                                   (_("HTTP admin port"), http_state)) if st == "answered"]
    if refused:
        alive.append(_("its SIP port answers port unreachable / reset"))
    iface = route.get("interface")
    sipsak = f"sipsak -vv -s sip:{addr}:{port}"
    if not sips:
        return [finding(
            Status.ERROR, _("Gateway {name}: SIP OPTIONS could not be sent", name=name),
            Fault.UNDETERMINED,
            _("No SIP request left this server for {address}, so its SIP service was not judged "
              "(ladder: {ladder}).{note}", address=addr, ladder=ladder, note=note),
            [step(_("Run the check again with a longer timeout, or test by hand:"), sipsak)])]
    if alive:
        how = join("; ", [join(" ", [r["transport"].upper(), _sip_view(r)]) for r in sips])
        return [finding(
            Status.FAIL, _("Gateway {name} is up, its SIP service is not answering", name=name),
            Fault.SITE,
            _("{address} answers ({alive}) but SIP OPTIONS on port {port} got: {how}. The device has "
              "power and network; its SIP service is stopped, crashed or moved.{note}", address=addr,
              alive=join(", ", alive), port=port, how=how, note=note),
            [step(_("Open the gateway's admin page (http://{address}/) and check SIP is enabled on "
                    "port {port}.", address=addr, port=port)),
             step(_("Restart its SIP service or power-cycle the gateway, then test:"), sipsak)])]
    dead = [what for what, st in (("ARP", arp_state), (_("ICMP echo"), icmp_state)) if st == "silent"]
    dead += [f"SIP/{r['transport'].upper()}" for r in sips]
    if arp_state == "silent" or icmp_state == "silent" or any(r.get("state") == "unreachable" for r in sips):
        steps = [step(_("Check gateway {name}: power supply and power LED, network cable and the "
                        "switch port's link LED.", name=name)),
                 step(_("If it is on and cabled, check it still has address {address}:", address=addr),
                      f"ip neigh show {addr}")]
        if route.get("connected") and iface:
            steps.append(step(_("Ask it directly:"), f"arping -I {iface} -c 3 {addr}"))
        return [finding(
            Status.FAIL, _("Gateway {name} powered off or disconnected", name=name), Fault.SITE,
            _("Nothing at {address} answers: {dead} all silent within {timeout} s. A powered device "
              "on this network answers ARP and ping even when its SIP service is down.{note}",
              address=addr, dead=join(", ", dead), timeout=g.get("step_timeout_s"), note=note),
            steps)]
    # Both readings (no power, dead SIP service) are site faults; only which
    # one is open when no lower rung could be collected.
    return [finding(
        Status.FAIL, _("Gateway {name} does not answer SIP: powered off or its SIP service is down",
                       name=name),
        Fault.SITE,
        _("SIP OPTIONS to {address}:{port} got no answer and no lower rung could tell power from "
          "service (ladder: {ladder}).{note}", address=addr, port=port, ladder=ladder, note=note),
        [step(_("Check the gateway's power LED and network cable; if it is on, check its SIP "
                "service.")),
         step(_("Run diagnose as root to collect ARP and ICMP evidence, or test:"), sipsak)])]


def _judge_answer(g, name, addr, port, answered, sips, note, finding) -> Finding:
    """A SIP final response came back: the gateway is alive; what did it say?"""
    first = answered[0]
    resp = first["response"]
    code, reason = resp["code"], resp.get("reason", "")
    transport = first["transport"].upper()
    rtt = resp.get("rtt_ms", first.get("time_ms"))
    server = f" ({resp['server']})" if resp.get("server") else ""
    src = _("this server ({source})", source=g["source"]) if g.get("source") else _("this server")
    test = f"sipsak -vv -s sip:{addr}:{port}"
    if code in REJECT_CODES:
        return finding(
            Status.WARN, _("Gateway {name} alive, its SIP configuration rejects this server "
                           "({code} {reason})", name=name, code=code, reason=reason), Fault.SITE,
            _("The gateway{server} answered OPTIONS over {transport} with {code} {reason}: it is "
              "powered and its SIP service runs, but its configuration does not accept requests from "
              "{source}.{note}", server=server, transport=transport, code=code, reason=reason,
              source=src, note=note),
            [step(_("In the gateway's admin page (http://{address}/) add this server as a trusted SIP "
                    "peer / trunk (IP access list, allowed hosts, credentials for 401/407).",
                    address=addr)),
             step(_("Then test:"), test)])
    if code == 503:
        return finding(
            Status.WARN, _("Gateway {name} alive, trunk or service unavailable ({code} {reason})",
                           name=name, code=code, reason=reason),
            Fault.SITE,
            _("The gateway{server} answered OPTIONS over {transport} with 503: it is powered and its "
              "SIP service runs, but it has no working line or trunk to offer (FXO line unplugged, "
              "PBX side down, or the service is in maintenance).{note}", server=server,
              transport=transport, note=note),
            [step(_("Check the gateway's line/trunk status page (http://{address}/) and that the "
                    "telephone line from the office PBX is plugged into its FXO port.", address=addr)),
             step(_("Then test:"), test)])
    silent = [r for r in sips if r.get("state") != "answered"]
    if code < 300 or code in NOT_SUPPORTED_CODES:
        if silent:
            other = silent[0]
            return finding(
                Status.WARN, _("Gateway {name} answers SIP over {transport} but not over {other}",
                               name=name, transport=transport, other=other["transport"].upper()),
                Fault.SITE,
                _("OPTIONS over {transport} got {code} {reason} in {rtt} ms; over {other}: "
                  "{result}.{note}", transport=transport, code=code, reason=reason, rtt=rtt,
                  other=other["transport"].upper(), result=_sip_view(other), note=note),
                _("Enable SIP over {other} on port {port} in the gateway's admin page, or set "
                  "sip_transport = \"{transport}\" in the [[gateway]] entry.",
                  other=other["transport"].upper(), port=port, transport=first["transport"]))
        if code >= 300:
            title = _("Gateway {name} answers SIP: {code} {reason} in {rtt} ms (it does not support "
                      "OPTIONS, but its SIP stack answered)", name=name, code=code, reason=reason,
                      rtt=rtt)
        else:
            title = _("Gateway {name} answers SIP: {code} {reason} in {rtt} ms", name=name, code=code,
                      reason=reason, rtt=rtt)
        return finding(Status.OK, title, None,
                       _("OPTIONS over {transport} answered{server}.{note}", transport=transport,
                         server=server, note=note))
    return finding(
        Status.WARN, _("Gateway {name} alive, answers SIP with {code} {reason}", name=name, code=code,
                       reason=reason), Fault.SITE,
        _("The gateway{server} answered OPTIONS over {transport} with {code} {reason}: it is powered "
          "and its SIP service runs, but it does not accept this server's requests as they are.{note}",
          server=server, transport=transport, code=code, reason=reason, note=note),
        [step(_("Check the SIP settings for this server in the gateway's admin page "
                "(http://{address}/).", address=addr)),
         step(_("Then test:"), test)])
