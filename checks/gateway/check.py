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
from diagnose.checks.gateway.judge import judge_gateway
from diagnose.model import Finding

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
