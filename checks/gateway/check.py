"""gateway.power: is the FXO/VoIP gateway switched off, up with a dead SIP
service, or up and rejecting this server?

The probe climbs a ladder of independent rungs, all at once, each waiting
``step_timeout_s`` from when its own first packet left, so a powered-off
gateway costs one timeout, not four. Each rung is one sweep over every
gateway with one socket (checks/gateway/sweep.py), so hundreds of gateways
cost about what one does:

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

import ipaddress
import time
from typing import Any

from diagnose.check import Check, Key, Needs
from diagnose.i18n import N_
from diagnose.model import Finding

PING_COUNT = 3
PING_INTERVAL = 0.05
# Rungs stop waiting this much before the step timeout, so that their own
# teardown still ends within it and a powered-off gateway costs one step
# timeout, not a bit more.
TEARDOWN_S = 0.03


def _ping_group_range(host) -> str | None:
    text = host.read_text("/proc/sys/net/ipv4/ping_group_range", missing="").split()
    return " ".join(text) or None


def _start(host, item: dict[str, Any], table: str, links: dict, privileged: bool) -> dict[str, Any]:
    """The facts of one [[gateway]] entry before any rung: its address,
    route, the link it leaves by and the source address; never raises."""
    from diagnose.checks.gateway import arp, sip

    name, address = item.get("name"), item.get("address")
    facts: dict[str, Any] = {"name": name, "address": address, "configured_address": address,
                             "sip_port": item["sip_port"], "sip_transport": item["sip_transport"],
                             "http_port": item.get("http_port"), "step_timeout_s": item["step_timeout_s"],
                             "rungs": {}, "not_collected": [], "error": None}
    if not name or not address:
        facts["error"] = "missing " + " and ".join(k for k in ("name", "address") if not item.get(k))
        return facts
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
        facts["address"] = found[0]
    route = arp.route_to(host, facts["address"], item.get("interface"), table)
    facts["route"] = route
    iface = item.get("interface") or route.get("interface")
    if iface and iface not in links:
        links[iface] = arp.link_state(host, iface)
    facts["link"] = links.get(iface) if iface else None
    facts["privileged"] = privileged
    try:
        facts["source"] = sip.source_address(host, facts["address"], item["sip_port"]) if route["found"] else None
    except OSError:
        facts["source"] = None
    return facts


def _http_reply(job: dict, buf: bytes) -> dict | None:
    if b"\r\n\r\n" not in buf and len(buf) < 16384:
        return None
    lines = buf.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    out: dict[str, Any] = {"status": None, "server": None}
    if len(parts) >= 2 and parts[0].startswith("HTTP/") and parts[1].isdigit():
        out["status"] = int(parts[1])
    for line in lines[1:]:
        if line.lower().startswith("server:"):
            out["server"] = line.split(":", 1)[1].strip()[:120]
            break
    return out


def _sip_request(job: dict, local_ip: str, local_port: int) -> bytes:
    from diagnose.checks.gateway import sip

    return sip.build_options(job["address"], job["port"], "tcp", local_ip, local_port,
                             branch=job["branch"], tag=job["tag"], call_id=job["call_id"])


def _sip_reply(job: dict, buf: bytes) -> dict | None:
    from diagnose.checks.gateway import sip

    resp = sip.stream_response(buf, job["branch"], job["call_id"])
    if resp is None:
        return None
    resp["from"] = f"{job['address']}:{job['port']}"
    return {"state": "answered", "response": resp}


def _sip_tcp_facts(o: dict) -> dict:
    """tcp_sweep's facts in the shape of an OPTIONS rung."""
    o = dict(o, transport="tcp", icmp=None)
    o.setdefault("response", None)
    if o["state"] in ("open", "timeout"):
        o["state"] = "silent"
        if o.get("error") == "the peer closed the connection without answering":
            o["error"] = "the gateway closed the connection without answering"
    elif o["state"] == "refused":
        o["error"] = "connection refused (TCP reset)"
    return o


def _http_facts(o: dict) -> dict:
    o = dict(o)
    o.setdefault("status", None)
    o.setdefault("server", None)
    o.pop("sent", None)
    if o["state"] == "open" and o.get("error") == "connected, but no answer":
        o["error"] = "connected, but no HTTP answer to HEAD"
    return o


def probe_gateways(host, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every rung for every [[gateway]] entry: one sweep per rung type, all
    rungs at once; never raises for a rung."""
    import concurrent.futures as cf  # here: it imports logging, which a run of other checks never needs

    from diagnose.checks.gateway import arp, sip, sweep

    table = host.read_text("/proc/net/route", missing="")
    links: dict[str, dict] = {}
    privileged = arp.can_use_raw(host)
    named = [it for it in items if it.get("address") and not _is_ip(it["address"])]
    with cf.ThreadPoolExecutor(max_workers=min(16, len(named) or 1)) as pool:
        # Names resolve in parallel; addresses cost nothing here.
        gateways = list(pool.map(lambda it: _start(host, it, table, links, privileged), items))
    t0 = time.monotonic()
    ready = [i for i, g in enumerate(gateways) if not g["error"]]

    def target(i: int, **extra: Any) -> dict:
        g = gateways[i]
        return dict({"i": i, "address": g["address"], "source": g.get("source"),
                     "timeout": max(0.05, float(g["step_timeout_s"]) - TEARDOWN_S)}, **extra)

    arp_raw: dict[tuple[str, str], list[dict]] = {}
    arp_kernel: dict[str, list[dict]] = {}
    for i in ready:
        g, route = gateways[i], gateways[i]["route"]
        iface = items[i].get("interface") or route.get("interface")
        if not route["found"]:
            g["rungs"]["arp"] = {"state": "skipped", "why": "no route to the gateway"}
        elif not route["connected"]:
            g["rungs"]["arp"] = {"state": "skipped",
                                 "why": f"not on a directly connected subnet: routed via {route['via']}"}
        elif privileged and g["link"] and g["link"].get("mac"):
            arp_raw.setdefault((iface, g["link"]["mac"]), []).append(target(i))
        else:
            arp_kernel.setdefault(iface, []).append(target(i))
    udp = [target(i, port=gateways[i]["sip_port"]) for i in ready
           if gateways[i]["sip_transport"] in ("udp", "both")]
    tcp = [target(i, port=gateways[i]["sip_port"], branch=sip._token(), tag=sip._token()[:8],
                  call_id=sip._token()) for i in ready if gateways[i]["sip_transport"] in ("tcp", "both")]
    http = [target(i, port=gateways[i]["http_port"]) for i in ready if gateways[i].get("http_port")]
    answered: set[int] = set()
    host.require_live("gateway sweeps")
    jobs: list[tuple[str, Any]] = []
    with cf.ThreadPoolExecutor(max_workers=8) as pool:
        for (iface, mac), ts in arp_raw.items():
            jobs.append(("arp", pool.submit(arp.arp_sweep, host, iface, mac, ts)))
        for iface, ts in arp_kernel.items():
            jobs.append(("arp", pool.submit(arp.arp_neighbour_sweep, host, iface, ts, answered.__contains__)))
        if ready:
            jobs.append(("icmp", pool.submit(sweep.icmp_sweep, [target(i) for i in ready],
                                             PING_COUNT, PING_INTERVAL)))
        if udp:
            jobs.append(("sip_udp", pool.submit(sweep.options_udp_sweep, udp, answered.add)))
        if tcp:
            jobs.append(("sip_tcp", pool.submit(sweep.tcp_sweep, tcp, _sip_request, _sip_reply)))
        if http:
            jobs.append(("http", pool.submit(sweep.tcp_sweep, http, _http_request, _http_reply)))
        for rung, fut in jobs:
            try:
                got = fut.result()
            except Exception as exc:  # one broken rung is a fact, the ladder goes on
                whom = {"arp": [t for ts in list(arp_raw.values()) + list(arp_kernel.values())
                                for t in ts],
                        "icmp": [target(i) for i in ready], "sip_udp": udp, "sip_tcp": tcp,
                        "http": http}[rung]
                got = {t["i"]: {"state": "error", "error": f"{type(exc).__name__}: {exc}"} for t in whom}
            for i, facts in got.items():
                if rung == "sip_tcp" and "port" in facts:
                    facts = _sip_tcp_facts(facts)
                elif rung == "http" and "port" in facts:
                    facts = _http_facts(facts)
                gateways[i]["rungs"][rung] = facts
    spent = round((time.monotonic() - t0) * 1000, 2)
    for i in ready:
        g = gateways[i]
        icmp = g["rungs"]["icmp"]
        if icmp.get("mode") is None:
            g["not_collected"].append({
                "rung": "icmp", "why": icmp.get("error") or "no ICMP socket",
                "ping_group_range": _ping_group_range(host)})
        if g["rungs"].get("arp", {}).get("method") == "neighbour-table":
            g["not_collected"].append({
                "rung": "arp", "why": arp.ARP_FROM_NEIGHBOURS})
        for key in ("sip_udp", "sip_tcp"):
            if g["rungs"].get(key, {}).get("state") == "not_collected":
                g["not_collected"].append({"rung": key, "why": g["rungs"][key].get("error")})
        g["duration_ms"] = max([0.0] + [r.get("time_ms") or 0 for r in g["rungs"].values()])
        g["sweep_ms"] = spent
    return gateways


def _http_request(job: dict, local_ip: str, local_port: int) -> bytes:
    return f"HEAD / HTTP/1.0\r\nHost: {job['address']}\r\nUser-Agent: diagnose\r\n\r\n".encode()


def _is_ip(address: str) -> bool:
    try:
        ipaddress.IPv4Address(address)
        return True
    except ValueError:
        return False


class GatewayPower(Check):
    name = "gateway.power"
    summary = N_("FXO/VoIP gateway: ARP -> ICMP -> SIP OPTIONS -> HTTP tells no power from misconfigured")
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
        return {"gateways": probe_gateways(host, cfg.get("items", []))}

    def judge(self, facts: dict[str, Any], cfg: dict[str, Any]) -> list[Finding]:
        from diagnose.checks.gateway.judge import judge_gateway  # not needed to validate [[gateway]]

        out: list[Finding] = []
        seen: set[str] = set()
        for g in facts.get("gateways", []):
            for f in judge_gateway(g):
                if f.id in seen:  # one link finding for several gateways behind it
                    continue
                seen.add(f.id)
                out.append(f)
        return out
