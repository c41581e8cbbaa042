"""Where a seat is: its switch and port, its subnet, its room.

LLDP first: when lldpd runs on the seat, ``lldpctl -f json`` names the
switch (the neighbour's system name) and the port the cable goes into.
Without it, the subnet of the interface holding the default route and the
default gateway's MAC address (from the kernel's ARP table) stand in: seats
sharing them share the path to the server. ``[fleet] switch`` and ``room``
set by hand win over anything detected.

Probe side reads through :class:`diagnose.host.Host`; the parsers are pure
and tested on recorded output.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import struct
from typing import Any

# lldpctl's JSON: one neighbour is a dict under "interface", several a list
# of single-key dicts; a chassis is {name: {...}} or, without a name, {"id": ...}.


def parse_lldp(text: str) -> list[dict[str, str]]:
    """Neighbours from ``lldpctl -f json``: ``[{interface, switch, port, chassis_id}]``."""
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return []
    ifaces = (data.get("lldp") or {}).get("interface") or {}
    pairs: list[tuple[str, Any]] = []
    if isinstance(ifaces, dict):
        pairs = list(ifaces.items())
    elif isinstance(ifaces, list):
        for item in ifaces:
            if isinstance(item, dict):
                pairs.extend(item.items())
    out = []
    for ifname, body in pairs:
        if not isinstance(body, dict):
            continue
        chassis = body.get("chassis") or {}
        name, cid = "", ""
        if isinstance(chassis, dict):
            if "id" in chassis and isinstance(chassis["id"], dict):
                cid = str(chassis["id"].get("value", ""))
            else:
                for k, v in chassis.items():
                    name = str(k)
                    if isinstance(v, dict) and isinstance(v.get("id"), dict):
                        cid = str(v["id"].get("value", ""))
                    break
        port = body.get("port") or {}
        pid = port.get("id") if isinstance(port.get("id"), dict) else {}
        # Switches put the port's name in the description or in an ifname id.
        port_name = str(port.get("descr") or "") if pid.get("type") != "ifname" else str(pid.get("value", ""))
        port_name = port_name or str(pid.get("value", ""))
        out.append({"interface": str(ifname), "switch": name or cid, "port": port_name, "chassis_id": cid})
    return out


def parse_default_route(text: str) -> dict[str, str] | None:
    """``/proc/net/route``: the interface and gateway of the default route."""
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) >= 8 and f[1] == "00000000" and f[7] == "00000000":
            gw = socket.inet_ntoa(struct.pack("<L", int(f[2], 16)))
            return {"interface": f[0], "gateway": gw}
    return None


def parse_arp(text: str) -> dict[str, str]:
    """``/proc/net/arp``: IP -> MAC of complete entries."""
    out = {}
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) >= 6 and f[3] != "00:00:00:00:00:00" and int(f[2], 16) & 0x2:
            out[f[0]] = f[3].lower()
    return out


def subnet_of(addresses: list[dict[str, str]]) -> str:
    """The first IPv4 network among ``[{address, netmask}]``, as CIDR."""
    for a in addresses:
        try:
            net = ipaddress.ip_interface(f"{a['address']}/{a['netmask']}")
        except (KeyError, ValueError):
            continue
        if net.version == 4:
            return str(net.network)
    return ""


def _addresses(ifname: str) -> list[dict[str, str]]:
    import psutil

    return [{"address": a.address, "netmask": a.netmask or ""}
            for a in psutil.net_if_addrs().get(ifname, []) if a.family == socket.AF_INET]


def probe(host: Any, lldp_socket: str = "") -> dict[str, Any]:
    """Facts about where this seat is plugged in (JSON)."""
    facts: dict[str, Any] = {"lldp": [], "lldp_error": None}
    if host.which("lldpctl"):
        argv = ["lldpctl"] + (["-u", lldp_socket] if lldp_socket else []) + ["-f", "json"]
        res = host.run(argv, timeout=3.0)
        if res.ok:
            facts["lldp"] = parse_lldp(res.stdout)
        else:
            facts["lldp_error"] = (res.stderr or "lldpctl failed").strip()[:200]
    else:
        facts["lldp_error"] = "lldpctl not installed"
    route = parse_default_route(host.read_text("/proc/net/route", missing=""))
    facts["route"] = route
    if route:
        facts["subnet"] = subnet_of(_addresses(route["interface"])) if host.live else ""
        facts["gateway_mac"] = parse_arp(host.read_text("/proc/net/arp", missing="")).get(route["gateway"], "")
    return facts


def locate(facts: dict[str, Any], seat: str, switch: str = "", room: str = "") -> dict[str, Any]:
    """The report's ``seat`` object from location facts and hand settings."""
    route = facts.get("route") or {}
    lldp = facts.get("lldp") or []
    mine = [n for n in lldp if n.get("interface") == route.get("interface")] or lldp
    out = {"name": seat, "switch": switch, "port": "", "subnet": facts.get("subnet") or "", "room": room,
           "gateway_mac": facts.get("gateway_mac") or "", "located_by": "config" if switch else ""}
    if mine:
        out["port"] = mine[0].get("port") or ""
        if not switch:
            out["switch"] = mine[0].get("switch") or ""
            out["located_by"] = "lldp"
    if not out["located_by"]:
        out["located_by"] = "subnet" if out["subnet"] else "unknown"
    return out
