"""gateway.power: is the FXO/VoIP gateway switched off, up with a dead SIP
service, or up and rejecting this server?

The probe climbs a ladder of independent rungs, run concurrently against
one shared deadline (``step_timeout_s``) so a powered-off gateway costs one
timeout, not four:

1. ARP (directly connected subnet only): answers mean power and a cable.
2. ICMP echo: the IP stack is up.
3. SIP OPTIONS over UDP and/or TCP: the SIP service and what it thinks of us.
4. HTTP admin port (when configured): TCP connect and a HEAD.

The judge reads the ladder as the decision table of issue 5. Every finding
carries ``evidence.scope = "remote"`` so attribution makes it a consequence
of this host's own link being down when network.connectivity finds that.
When the probe sees this host's egress link down itself, the judge links
the gateway finding to its own finding about that link.
"""

from __future__ import annotations

import concurrent.futures as cf
import ipaddress
import socket
import time
from typing import Any

from diagnose.check import Check, Key, Needs
from diagnose.model import Fault, Finding, Status

REJECT_CODES = (401, 403, 404, 407)
# Alive but OPTIONS itself unsupported: the SIP stack answered, which is all we ask.
NOT_SUPPORTED_CODES = (405, 501)
PING_COUNT = 3
PING_INTERVAL = 0.05
# Rungs stop waiting this much before the step timeout, so that their own
# teardown (scapy's sniffer thread, ping's last select) still ends within it
# and a powered-off gateway costs one step timeout, not a bit more.
TEARDOWN_S = 0.03


def _http_head(host, address: str, port: int, deadline: float) -> dict:
    """One TCP connection to the admin port and a ``HEAD /`` on it: the
    status line and Server header. A refused connection still proves the
    host is up (its kernel sent the reset)."""
    host.require_live("an HTTP request")
    t0 = time.monotonic()
    out = {"port": port, "state": "timeout", "error": None, "status": None, "server": None,
           "connect_ms": None, "time_ms": None}
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(max(0.05, deadline - t0))
        try:
            s.connect((address, port))
        except ConnectionRefusedError:
            out.update(state="refused", error="connection refused")
            return out
        except (socket.timeout, TimeoutError):
            out["error"] = "no answer to the TCP connection"
            return out
        out.update(state="open", connect_ms=round((time.monotonic() - t0) * 1000, 2))
        s.sendall(f"HEAD / HTTP/1.0\r\nHost: {address}\r\nUser-Agent: diagnose\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 16384:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        lines = data.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) >= 2 and parts[0].startswith("HTTP/") and parts[1].isdigit():
            out["status"] = int(parts[1])
        for line in lines[1:]:
            if line.lower().startswith("server:"):
                out["server"] = line.split(":", 1)[1].strip()[:120]
    except (socket.timeout, TimeoutError):
        out["error"] = "connected, but no HTTP answer to HEAD"
    except OSError as exc:
        if out["state"] == "timeout":
            out["state"] = "unreachable" if exc.errno in (101, 113) else "error"
        out["error"] = exc.strerror or str(exc)
    finally:
        s.close()
        out["time_ms"] = round((time.monotonic() - t0) * 1000, 2)
    return out


def _ping(host, address: str, deadline: float) -> dict:
    t0 = time.monotonic()
    wait = max(0.05, deadline - t0 - (PING_COUNT - 1) * PING_INTERVAL)
    out = host.ping(address, count=PING_COUNT, interval=PING_INTERVAL, timeout=wait)
    out["time_ms"] = round((time.monotonic() - t0) * 1000, 2)
    return out


def _ping_group_range(host) -> str | None:
    text = host.read_text("/proc/sys/net/ipv4/ping_group_range", missing="").split()
    return " ".join(text) or None


def probe_gateway(host, item: dict[str, Any], pool: cf.Executor) -> dict[str, Any]:
    """All rungs for one [[gateway]] entry; never raises for a rung."""
    from diagnose.checks.gateway import arp, sip

    name, address = item.get("name"), item.get("address")
    facts: dict[str, Any] = {"name": name, "address": address, "configured_address": address,
                             "sip_port": item["sip_port"], "sip_transport": item["sip_transport"],
                             "http_port": item.get("http_port"), "step_timeout_s": item["step_timeout_s"],
                             "rungs": {}, "not_collected": [], "error": None}
    if not name or not address:
        facts["error"] = "missing " + " and ".join(k for k in ("name", "address") if not item.get(k))
        return facts
    t0 = time.monotonic()
    deadline = t0 + float(item["step_timeout_s"]) - TEARDOWN_S
    try:
        ipaddress.IPv4Address(address)
    except ValueError:
        try:
            found = [a for a in host.resolve(address, timeout=item["step_timeout_s"]) if ":" not in a]
        except OSError as exc:
            facts["error"] = f"cannot resolve {address}: {exc.strerror or exc}"
            return facts
        if not found:
            facts["error"] = f"{address} has no IPv4 address (IPv6 gateways are not supported)"
            return facts
        facts["address"] = address = found[0]
        deadline = time.monotonic() + float(item["step_timeout_s"]) - TEARDOWN_S

    route = arp.route_to(host, address, item.get("interface"))
    facts["route"] = route
    iface = item.get("interface") or route.get("interface")
    link = arp.link_state(host, iface) if iface else None
    facts["link"] = link
    privileged = arp.can_use_raw(host)
    facts["privileged"] = privileged
    try:
        facts["source"] = sip.source_address(host, address, item["sip_port"]) if route["found"] else None
    except OSError:
        facts["source"] = None

    jobs: dict[str, cf.Future] = {}
    if not route["found"]:
        facts["rungs"]["arp"] = {"state": "skipped", "why": "no route to the gateway"}
    elif not route["connected"]:
        facts["rungs"]["arp"] = {"state": "skipped",
                                 "why": f"not on a directly connected subnet: routed via {route['via']}"}
    elif privileged and link and link.get("mac"):
        jobs["arp"] = pool.submit(arp.arp_scapy, host, address, iface, facts["source"],
                                  link["mac"], deadline)
    else:
        jobs["arp"] = pool.submit(arp.arp_neighbour, host, address, iface, deadline)
    jobs["icmp"] = pool.submit(_ping, host, address, deadline)
    port = item["sip_port"]
    if item["sip_transport"] in ("udp", "both"):
        jobs["sip_udp"] = pool.submit(sip.options_udp, host, address, port, deadline)
    if item["sip_transport"] in ("tcp", "both"):
        jobs["sip_tcp"] = pool.submit(sip.options_tcp, host, address, port, deadline)
    if item.get("http_port"):
        jobs["http"] = pool.submit(_http_head, host, address, item["http_port"], deadline)
    for rung, fut in jobs.items():
        try:
            facts["rungs"][rung] = fut.result()
        except Exception as exc:  # one broken rung is a fact, the ladder goes on
            facts["rungs"][rung] = {"state": "error", "error": f"{type(exc).__name__}: {exc}"}
    icmp = facts["rungs"]["icmp"]
    if icmp.get("mode") is None:
        facts["not_collected"].append({
            "rung": "icmp", "why": icmp.get("error") or "no ICMP socket",
            "ping_group_range": _ping_group_range(host)})
    if "arp" in facts["rungs"] and facts["rungs"]["arp"].get("method") == "neighbour-table":
        facts["not_collected"].append({
            "rung": "arp", "why": "no CAP_NET_RAW: no fresh ARP request; read the kernel "
                                  "neighbour table after a probe datagram instead"})
    facts["duration_ms"] = round((time.monotonic() - t0) * 1000, 2)
    return facts


# -- judging -------------------------------------------------------------------

def _arp_view(r: dict | None) -> tuple[str, str]:
    """(answered|silent|unknown, one-line result) for the ARP rung."""
    if r is None:
        return "unknown", "not run"
    state = r.get("state")
    if state == "answered":
        how = "who-has answered" if r.get("method") == "scapy" else "kernel neighbour entry confirmed"
        return "answered", f"{how} by {r.get('mac')}"
    if state == "skipped":
        return "unknown", f"skipped: {r.get('why')}"
    if state == "unconfirmed":
        after = r.get("after") or {}
        return "unknown", (f"kernel neighbour entry {after.get('nud')} ({after.get('mac')}), "
                           "not re-confirmed during the probe")
    if state == "error":
        return "unknown", f"error: {r.get('error')}"
    return "silent", "no ARP reply"


def _icmp_view(r: dict | None) -> tuple[str, str]:
    if r is None or r.get("mode") is None:
        why = (r or {}).get("error") or "not run"
        return "unknown", f"not collected: {why}"
    if r.get("received"):
        return "answered", f"{r['received']}/{r['sent']} echo replies, avg {r.get('avg_ms')} ms"
    if r.get("unreachable"):
        return "silent", f"0/{r.get('sent')} replies, host unreachable ({r.get('error') or 'ICMP'})"
    return "silent", f"0/{r.get('sent')} echo replies"


def _sip_view(r: dict) -> str:
    state = r.get("state")
    resp = r.get("response") or {}
    if state == "answered":
        return f"{resp.get('code')} {resp.get('reason')}"
    if state == "refused":
        return ("ICMP port unreachable" if r.get("transport") == "udp" else "TCP connection refused")
    if state == "unreachable":
        icmp = r.get("icmp") or {}
        return f"unreachable: {icmp.get('meaning') or r.get('error')}"
    if state == "error":
        return f"error: {r.get('error')}"
    extra = f" (only a provisional {resp.get('code')})" if resp else ""
    return f"no answer to {r.get('sent', 0)} request(s){extra}"


def _http_view(r: dict) -> tuple[str, str]:
    state = r.get("state")
    if state == "open":
        status = r.get("status")
        return "answered", f"port open, HEAD / -> {status if status else 'no HTTP answer'}"
    if state == "refused":
        return "answered", "connection refused (TCP reset: the host is up)"
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
            extra = (f" (net.ipv4.ping_group_range = {rng} allows no unprivileged ping socket)"
                     if rng else "")
            parts.append(f"ICMP echo could not be sent: {m['why']}{extra}")
        else:
            parts.append(f"{m['rung'].upper()}: {m['why']}")
    return " Not collected without root: " + "; ".join(parts) + "."


def judge_gateway(g: dict) -> list[Finding]:
    name = g.get("name") or "(unnamed gateway)"
    addr = g.get("address")
    evidence: dict[str, Any] = {
        "scope": "remote", "address": addr, "configured_address": g.get("configured_address"),
        "interface": (g.get("route") or {}).get("interface"), "route": g.get("route"),
        "ladder": _ladder(g), "not_collected": g.get("not_collected", []),
        "privileged": g.get("privileged"), "source": g.get("source"),
        "duration_ms": g.get("duration_ms"),
    }

    def finding(status: Status, title: str, fault: Fault | None = None, detail: str = "",
                remedy: str = "") -> Finding:
        return Finding("gateway.power", name, status, title, fault, detail, dict(evidence), remedy)

    if g.get("error"):
        return [finding(Status.ERROR, f"Gateway {name} cannot be probed: {g['error']}", Fault.SITE,
                        f"The [[gateway]] entry is incomplete or its address unusable: {g['error']}.",
                        "Set name and address (an IPv4 address) in the [[gateway]] table of the "
                        "config, e.g. address = \"192.0.2.20\".")]
    rungs = g.get("rungs", {})
    port = g.get("sip_port")
    note = _not_collected_note(g)
    route = g.get("route") or {}
    link = g.get("link") or {}
    sips = [rungs[k] for k in ("sip_udp", "sip_tcp") if k in rungs]
    answered = [r for r in sips if r.get("state") == "answered"]
    ladder = "; ".join(f"{row['rung']}: {row['result']}" for row in evidence["ladder"])

    if not answered:
        if not route.get("found"):
            return [finding(Status.FAIL, f"No route from this server to gateway {name} ({addr})",
                            Fault.SITE,
                            f"The routing table has no route towards {addr}, so nothing was sent.",
                            f"Check this server's address and routes (`ip -4 addr`, `ip route get {addr}`)"
                            " and its network cable.")]
        # carrier reads 0 when the cable (or the switch port) is gone; an
        # administratively down interface has no readable carrier at all.
        if link.get("carrier") is False or link.get("operstate") in ("down", "lowerlayerdown"):
            iface = link.get("interface")
            local = Finding("gateway.power", f"link:{iface}", Status.FAIL,
                            f"This server's link {iface} is down", Fault.SITE,
                            f"Interface {iface}, which leads to gateway {name}, has "
                            f"operstate {link.get('operstate')} and carrier {link.get('carrier')}.",
                            {"scope": "local", "interface": iface, "link": link},
                            f"Check the network cable of this server on {iface} and its switch port "
                            f"(`ip link show {iface}`).")
            gw = finding(Status.FAIL, f"Gateway {name} cannot be judged: this server's link {iface} is down",
                         Fault.SITE,
                         f"Nothing reaches {addr} while {iface} is down; the gateway itself may be fine. "
                         f"Ladder: {ladder}.",
                         f"Fix this server's link {iface} first, then run diagnose again.")
            gw.caused_by = [local.id]
            return [local, gw]

    if answered:
        return [_judge_answer(g, name, addr, port, answered, sips, note, finding)]

    arp_state = _arp_view(rungs.get("arp"))[0]
    icmp_state = _icmp_view(rungs.get("icmp"))[0]
    http_state = _http_view(rungs["http"])[0] if "http" in rungs else "unknown"
    refused = [r for r in sips if r.get("state") == "refused"]
    alive = [what for what, st in (("ARP", arp_state), ("ICMP echo", icmp_state),
                                   ("HTTP admin port", http_state)) if st == "answered"]
    if refused:
        alive.append("its SIP port answers port unreachable / reset")
    iface = route.get("interface")
    sipsak = f"`sipsak -vv -s sip:{addr}:{port}`"
    if alive:
        how = "; ".join(f"{r['transport'].upper()} {_sip_view(r)}" for r in sips)
        return [finding(
            Status.FAIL, f"Gateway {name} is up, its SIP service is not answering", Fault.SITE,
            f"{addr} answers ({', '.join(alive)}) but SIP OPTIONS on port {port} got: {how}. "
            f"The device has power and network; its SIP service is stopped, crashed or moved.{note}",
            f"Open the gateway's admin page (http://{addr}/) and check SIP is enabled on port {port}; "
            f"restart its SIP service or power-cycle the gateway, then test with {sipsak}.")]
    dead = [what for what, st in (("ARP", arp_state), ("ICMP echo", icmp_state)) if st == "silent"]
    dead += [f"SIP/{r['transport'].upper()}" for r in sips]
    if arp_state == "silent" or icmp_state == "silent" or any(r.get("state") == "unreachable" for r in sips):
        arping = f"; `arping -I {iface} -c 3 {addr}`" if route.get("connected") and iface else ""
        return [finding(
            Status.FAIL, f"Gateway {name} powered off or disconnected", Fault.SITE,
            f"Nothing at {addr} answers: {', '.join(dead)} all silent within "
            f"{g.get('step_timeout_s')} s. A powered device on this network answers ARP and ping "
            f"even when its SIP service is down.{note}",
            f"Check gateway {name}: power supply and power LED, network cable and the switch port's "
            f"link LED. If it is on and cabled, check it still has address {addr} "
            f"(`ip neigh show {addr}`{arping}).")]
    # Both readings (no power, dead SIP service) are site faults; only which
    # one is open when no lower rung could be collected.
    return [finding(
        Status.FAIL, f"Gateway {name} does not answer SIP: powered off or its SIP service is down",
        Fault.SITE,
        f"SIP OPTIONS to {addr}:{port} got no answer and no lower rung could tell power from "
        f"service (ladder: {ladder}).{note}",
        f"Check the gateway's power LED and network cable; if it is on, check its SIP service. "
        f"Run diagnose as root to collect ARP and ICMP evidence, or test with {sipsak}.")]


def _judge_answer(g, name, addr, port, answered, sips, note, finding) -> Finding:
    """A SIP final response came back: the gateway is alive; what did it say?"""
    first = answered[0]
    resp = first["response"]
    code, reason = resp["code"], resp.get("reason", "")
    transport = first["transport"].upper()
    rtt = resp.get("rtt_ms", first.get("time_ms"))
    server = f" ({resp['server']})" if resp.get("server") else ""
    src = f"this server ({g['source']})" if g.get("source") else "this server"
    test = f"`sipsak -vv -s sip:{addr}:{port}`"
    if code in REJECT_CODES:
        return finding(
            Status.WARN, f"Gateway {name} alive, its SIP configuration rejects this server "
                         f"({code} {reason})", Fault.SITE,
            f"The gateway{server} answered OPTIONS over {transport} with {code} {reason}: it is powered "
            f"and its SIP service runs, but its configuration does not accept requests from {src}.{note}",
            f"In the gateway's admin page (http://{addr}/) add this server as a trusted SIP peer / "
            f"trunk (IP access list, allowed hosts, credentials for 401/407), then test with {test}.")
    if code == 503:
        return finding(
            Status.WARN, f"Gateway {name} alive, trunk or service unavailable ({code} {reason})",
            Fault.SITE,
            f"The gateway{server} answered OPTIONS over {transport} with 503: it is powered and its "
            f"SIP service runs, but it has no working line or trunk to offer (FXO line unplugged, "
            f"PBX side down, or the service is in maintenance).{note}",
            f"Check the gateway's line/trunk status page (http://{addr}/) and that the telephone line "
            f"from the office PBX is plugged into its FXO port; then test with {test}.")
    silent = [r for r in sips if r.get("state") != "answered"]
    if code < 300 or code in NOT_SUPPORTED_CODES:
        if silent:
            other = silent[0]
            return finding(
                Status.WARN, f"Gateway {name} answers SIP over {transport} but not over "
                             f"{other['transport'].upper()}", Fault.SITE,
                f"OPTIONS over {transport} got {code} {reason} in {rtt} ms; over "
                f"{other['transport'].upper()}: {_sip_view(other)}.{note}",
                f"Enable SIP over {other['transport'].upper()} on port {port} in the gateway's admin "
                f"page, or set sip_transport = \"{first['transport']}\" in the [[gateway]] entry.")
        extra = " (it does not support OPTIONS, but its SIP stack answered)" if code >= 300 else ""
        return finding(Status.OK, f"Gateway {name} answers SIP: {code} {reason} in {rtt} ms{extra}",
                       None, f"OPTIONS over {transport} answered{server}.{note}")
    return finding(
        Status.WARN, f"Gateway {name} alive, answers SIP with {code} {reason}", Fault.SITE,
        f"The gateway{server} answered OPTIONS over {transport} with {code} {reason}: it is powered "
        f"and its SIP service runs, but it does not accept this server's requests as they are.{note}",
        f"Check the SIP settings for this server in the gateway's admin page (http://{addr}/); "
        f"test with {test}.")


class GatewayPower(Check):
    name = "gateway.power"
    summary = "FXO/VoIP gateway: ARP -> ICMP -> SIP OPTIONS -> HTTP tells no power from misconfigured"
    section = "gateway"
    multi = True
    needs = Needs(section=True, role="server", live=True)
    # The gateway's SIP Server header names its model and firmware: a
    # replaced or re-flashed gateway shows here.
    stable = ("gateways.*.rungs.sip_udp.response.server", "gateways.*.rungs.sip_tcp.response.server")
    schema = {
        "name": Key(str, None, "gateway name, the finding's subject"),
        "address": Key(str, None, "IPv4 address or host name of the gateway"),
        "sip_port": Key(int, 5060, "SIP port of the gateway"),
        "sip_transport": Key(str, "udp", "udp | tcp | both", choices=("udp", "tcp", "both")),
        "http_port": Key(int, None, "admin web port to test (optional)"),
        "interface": Key(str, None, "interface towards the gateway (default: from the routing table)"),
        "step_timeout_s": Key((int, float), 1.0,
                              "how long each rung waits for an answer; rungs run concurrently"),
    }

    def probe(self, host, cfg: dict[str, Any]) -> dict[str, Any]:
        host.require_live("probing gateways")
        items = cfg.get("items", [])
        # Gateways in parallel, and up to 5 rungs per gateway at once: every
        # rung is I/O-bound. Two pools, so gateways never wait for a free
        # worker that another gateway's ladder holds.
        n = max(1, len(items))
        with cf.ThreadPoolExecutor(max_workers=5 * n) as rungs, \
                cf.ThreadPoolExecutor(max_workers=n) as ladders:
            outer = [ladders.submit(probe_gateway, host, item, rungs) for item in items]
            gateways = [f.result() for f in outer]
        return {"gateways": gateways}

    def judge(self, facts: dict[str, Any], cfg: dict[str, Any]) -> list[Finding]:
        out: list[Finding] = []
        seen: set[str] = set()
        for g in facts.get("gateways", []):
            for f in judge_gateway(g):
                if f.id in seen:  # one link finding for several gateways behind it
                    continue
                seen.add(f.id)
                out.append(f)
        return out
