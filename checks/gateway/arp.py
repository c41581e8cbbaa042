"""Link-layer facts for gateway.power: the route to a target, the state of
the interface it leaves by, and whether the target answers ARP.

ARP is the lowest rung of the ladder: a device that answers ARP has power
and a working network port, whatever its IP services do. Two ways to ask:

- privileged (CAP_NET_RAW): a fresh who-has broadcast with scapy's ``srp1``
  on the right interface; only ``scapy.layers.l2`` and ``scapy.sendrecv`` are
  imported, never ``scapy.all`` (about a second of imports);
- unprivileged: send one harmless UDP datagram (discard port 9) so the
  kernel resolves the address itself, then read the kernel's neighbour
  entry through pyroute2 (netlink needs no privilege).

Everything here is a primitive taking the host and calling
``host.require_live``; results are plain dicts of facts.
"""

from __future__ import annotations

import socket
import struct
import time

# NUD_* states of <linux/neighbour.h>.
NUD_STATES = {0x01: "INCOMPLETE", 0x02: "REACHABLE", 0x04: "STALE", 0x08: "DELAY",
              0x10: "PROBE", 0x20: "FAILED", 0x40: "NOARP", 0x80: "PERMANENT"}
USER_HZ = 100  # NDA_CACHEINFO ages are in clock ticks (jiffies_to_clock_t)
DISCARD_PORT = 9


def _hex_ip(h: str) -> int:
    # /proc/net/route prints addresses as host-order (little-endian) hex.
    return struct.unpack("!I", struct.pack("<I", int(h, 16)))[0]


def _ip_int(address: str) -> int:
    return struct.unpack("!I", socket.inet_aton(address))[0]


def route_to(host, address: str, interface: str | None = None) -> dict:
    """The IPv4 route the kernel table gives for *address* (longest prefix,
    then lowest metric), read from /proc/net/route: the interface, and the
    router it goes through (None when the target is on a directly connected
    subnet). Policy routing rules are not considered."""
    text = host.read_text("/proc/net/route", missing="")
    target = _ip_int(address)
    best = None
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 8:
            continue
        iface, dest, gw, flags, metric, mask = f[0], _hex_ip(f[1]), _hex_ip(f[2]), int(f[3], 16), int(f[6]), _hex_ip(f[7])
        if not flags & 0x1 or (interface and iface != interface):  # RTF_UP
            continue
        if target & mask != dest:
            continue
        key = (bin(mask).count("1"), -metric)
        if best is None or key > best[0]:
            via = socket.inet_ntoa(struct.pack("!I", gw)) if flags & 0x2 else None  # RTF_GATEWAY
            best = (key, {"interface": iface, "via": via, "prefix_len": key[0], "metric": metric})
    if best is None:
        return {"found": False, "interface": interface, "via": None, "connected": False}
    route = dict(best[1], found=True)
    route["connected"] = route["via"] is None
    return route


def link_state(host, iface: str) -> dict:
    """operstate, carrier and MAC of *iface* from sysfs (carrier is
    unreadable, EINVAL, while the interface is administratively down)."""
    base = f"/sys/class/net/{iface}"
    if not host.exists(base):
        return {"interface": iface, "exists": False, "operstate": None, "carrier": None, "mac": None}

    def read(name: str) -> str | None:
        try:
            return host.read_text(f"{base}/{name}", missing="").strip() or None
        except OSError:
            return None

    carrier = read("carrier")
    return {"interface": iface, "exists": True, "operstate": read("operstate"),
            "carrier": None if carrier is None else carrier == "1", "mac": read("address")}


def can_use_raw(host) -> bool:
    """Whether this process may open packet sockets (CAP_NET_RAW): the one
    honest test, it holds for root, for a capability-stripped root and for a
    user granted the capability alike."""
    host.require_live("a packet socket")
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
        return True
    except PermissionError:
        return False


def arp_scapy(host, address: str, iface: str, src_ip: str, src_mac: str, deadline: float) -> dict:
    """A who-has broadcast for *address* on *iface*, answered or not by
    *deadline* (a time.monotonic() value)."""
    host.require_live("an ARP request")
    t0 = time.monotonic()
    from scapy.config import conf
    from scapy.layers.l2 import ARP, Ether
    from scapy.sendrecv import srp1

    conf.verb = 0
    pkt = Ether(dst="ff:ff:ff:ff:ff:ff", src=src_mac) / ARP(
        op=1, hwsrc=src_mac, psrc=src_ip, pdst=address)
    sent = time.monotonic()
    answer = srp1(pkt, iface=iface, timeout=max(0.05, deadline - sent), verbose=0)
    done = time.monotonic()
    out = {"method": "scapy", "interface": iface, "state": "silent", "mac": None,
           "rtt_ms": None, "time_ms": round((done - t0) * 1000, 2)}
    if answer is not None and answer.haslayer(ARP) and answer[ARP].psrc == address:
        out.update(state="answered", mac=answer[ARP].hwsrc,
                   rtt_ms=round((answer.time - pkt.sent_time) * 1000, 3)
                   if getattr(pkt, "sent_time", None) else round((done - sent) * 1000, 3))
    return out


def _neighbour(ipr, address: str, iface_index: int | None) -> dict | None:
    kwargs = {"dst": address}
    if iface_index is not None:
        kwargs["ifindex"] = iface_index
    for msg in ipr.get_neighbours(**kwargs):
        state = msg["state"]
        cache = msg.get_attr("NDA_CACHEINFO") or {}
        return {"nud": NUD_STATES.get(state, hex(state)), "mac": msg.get_attr("NDA_LLADDR"),
                "confirmed_ago_s": (cache.get("ndm_confirmed", 0) / USER_HZ) if cache else None}
    return None


def arp_neighbour(host, address: str, iface: str, deadline: float) -> dict:
    """Unprivileged ARP evidence: provoke a resolution with one UDP datagram
    to the discard port, then watch the kernel's neighbour entry until it
    is confirmed, fails, or *deadline* passes.

    A REACHABLE entry only counts as an answer when the kernel confirmed it
    during this probe (``confirmed_ago_s`` shorter than the probe): an entry
    cached from earlier says nothing about now, and the kernel waits several
    seconds (DELAY) before re-probing a STALE one.
    """
    host.require_live("the kernel neighbour table")
    t0 = time.monotonic()
    from pyroute2 import IPRoute

    out = {"method": "neighbour-table", "interface": iface, "state": "silent", "mac": None,
           "before": None, "after": None, "time_ms": None}
    with IPRoute() as ipr:
        idx = ipr.link_lookup(ifname=iface)
        index = idx[0] if idx else None
        out["before"] = _neighbour(ipr, address, index)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.sendto(b"", (address, DISCARD_PORT))
        except OSError as exc:
            out["error"] = exc.strerror or str(exc)
        finally:
            s.close()
        while True:
            entry = _neighbour(ipr, address, index)
            out["after"] = entry
            elapsed = time.monotonic() - t0
            fresh = (entry is not None and entry["nud"] in ("REACHABLE", "PERMANENT")
                     and (entry["nud"] == "PERMANENT" or
                          (entry["confirmed_ago_s"] is not None and entry["confirmed_ago_s"] <= elapsed + 0.01)))
            if fresh:
                out.update(state="answered", mac=entry["mac"])
                break
            if time.monotonic() >= deadline:
                if entry is not None and entry["nud"] in ("STALE", "DELAY", "PROBE", "REACHABLE"):
                    out["state"] = "unconfirmed"
                break
            time.sleep(0.01)
    out["time_ms"] = round((time.monotonic() - t0) * 1000, 2)
    return out
