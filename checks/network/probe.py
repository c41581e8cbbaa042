"""Probe side of network.connectivity: the link, addresses and routes (sysfs and
netlink), the gateway's ARP entry, DNS, the server's ports and a ping series,
each network step in its own thread under the probe's deadline."""

from __future__ import annotations

import errno
import ipaddress
import socket
import threading
import time
from typing import Any, Callable

from diagnose.checks.network.common import ARPHRD_LOOPBACK, FINISH_S, IFF_UP, NUD_STATES, PING_INTERVAL_S


class _Step:
    """A network step in a daemon thread: it may block in the kernel
    (getaddrinfo, connect), so the probe waits for it only up to its deadline
    and records a step that overran instead of hanging with it."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.value: Any = None
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self.thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self.value = fn()
        except Exception as exc:  # noqa: BLE001 - a failed step is a fact
            self.error = f"{type(exc).__name__}: {exc}"

    def result(self, deadline: float) -> Any:
        self.thread.join(max(0.0, deadline - time.monotonic()))
        if self.thread.is_alive():
            self.error = "did not finish before the probe timeout"
        return self.value


def _sysfs(host, name: str, attr: str) -> tuple[str | None, str | None]:
    """One /sys/class/net attribute: (value, error). Reading ``carrier``,
    ``speed`` or ``duplex`` of a link that is down fails with EINVAL: the
    kernel has no answer rather than a zero, and that is recorded as such."""
    try:
        return host.read_text(f"/sys/class/net/{name}/{attr}").strip(), None
    except OSError as exc:
        return None, errno.errorcode.get(exc.errno or 0, str(exc))


def _interfaces(host) -> dict[str, dict[str, Any]]:
    import psutil

    addrs = psutil.net_if_addrs()
    counters = psutil.net_io_counters(pernic=True)
    out: dict[str, dict[str, Any]] = {}
    for name in host.listdir("/sys/class/net"):
        if not host.is_dir(f"/sys/class/net/{name}"):
            continue  # bonding_masters: a control file, not an interface
        info: dict[str, Any] = {}
        for attr in ("operstate", "carrier", "speed", "duplex", "address", "mtu", "flags", "type", "ifindex"):
            value, err = _sysfs(host, name, attr)
            info[attr] = value
            if err:
                info[f"{attr}_error"] = err
        for attr in ("carrier", "mtu", "type", "ifindex"):
            if info[attr] is not None and info[attr].lstrip("-").isdigit():
                info[attr] = int(info[attr])
        speed = info.pop("speed")
        # speed is -1 (or EINVAL) when the driver does not know it.
        info["speed_mbps"] = int(speed) if speed and speed.lstrip("-").isdigit() and int(speed) > 0 else None
        flags = int(info["flags"], 16) if info["flags"] else 0
        info["admin_up"] = bool(flags & IFF_UP)
        info["loopback"] = info["type"] == ARPHRD_LOOPBACK
        info["physical"] = host.exists(f"/sys/class/net/{name}/device")
        info["wireless"] = host.exists(f"/sys/class/net/{name}/wireless")
        info["addresses"] = []
        for a in addrs.get(name, []):
            fam = {socket.AF_INET: "ipv4", socket.AF_INET6: "ipv6"}.get(a.family)
            if fam:
                info["addresses"].append({"family": fam, "address": a.address.split("%")[0],
                                          "netmask": a.netmask})
        c = counters.get(name)
        if c is not None:
            info["counters"] = {k: getattr(c, k) for k in
                                ("packets_sent", "packets_recv", "errin", "errout", "dropin", "dropout")}
        out[name] = info
    return out


class _Netlink:
    """One rtnetlink socket (pyroute2 IPRoute, this network namespace) for
    the probe's route and neighbour queries; used from the probe's thread."""

    def __init__(self) -> None:
        from pyroute2 import IPRoute

        self.ipr = IPRoute()
        self.names = {link["index"]: link.get("ifname") for link in self.ipr.get_links()}

    def close(self) -> None:
        self.ipr.close()

    def default_routes(self) -> list[dict[str, Any]]:
        out = [{"gateway": r.get("gateway"), "dev": self.names.get(r.get("oif")), "metric": r.get("priority") or 0}
               for r in self.ipr.get_default_routes(family=socket.AF_INET)]
        return sorted(out, key=lambda r: r["metric"])

    def route_to(self, ip: str) -> dict[str, Any] | None:
        """The route the kernel would use for *ip* (``ip route get``)."""
        from pyroute2.netlink.exceptions import NetlinkError

        if ":" in ip:
            return None
        try:
            got = self.ipr.route("get", dst=ip)
        except NetlinkError as exc:
            return {"error": exc.args[1] if len(exc.args) > 1 else str(exc)}
        if not got:
            return None
        r = got[0]
        return {"dev": self.names.get(r.get("oif")), "gateway": r.get("gateway"), "source": r.get("prefsrc")}

    def neighbours(self, addresses: list[str]) -> dict[str, Any]:
        """The kernel neighbour (ARP) entries for *addresses*."""
        out: dict[str, Any] = {}
        for n in self.ipr.get_neighbours(family=socket.AF_INET):
            if n.get("dst") in addresses:
                out[n.get("dst")] = {"state": NUD_STATES.get(n["state"], hex(n["state"])),
                                     "lladdr": n.get("lladdr"), "dev": self.names.get(n["ifindex"])}
        return out


def _pick_interface(cfg: dict[str, Any], interfaces: dict[str, Any], routes: dict[str, Any]) -> dict[str, Any]:
    if cfg["interface"]:
        return {"names": [cfg["interface"]], "how": "config"}
    if routes["default_routes"]:
        return {"names": [routes["default_routes"][0]["dev"]], "how": "default route"}
    rts = routes.get("route_to_server") or {}
    if rts.get("dev") and not interfaces.get(rts["dev"], {}).get("loopback"):
        return {"names": [rts["dev"]], "how": "route to the server"}
    # No route says which one: every real NIC, or every non-loopback link
    # when there is no hardware (a namespace, a VM with virtio absent).
    others = [n for n, i in interfaces.items() if not i["loopback"]]
    physical = [n for n in others if interfaces[n]["physical"]]
    return {"names": physical or others, "how": "no route names one"}


def probe(host, cfg: dict[str, Any]) -> dict[str, Any]:
    host.require_live("network probing")
    return _Prober(host, cfg).run()


class _Prober:
    """One probe run. The server path (DNS, then TCP ports and an echo
    series at once) starts first in its own thread; local facts, routes and
    the gateway's echo series follow meanwhile. Every network step is given
    only what is left until one common deadline, so timeouts never add up."""

    def __init__(self, host, cfg: dict[str, Any]) -> None:
        self.host, self.cfg = host, cfg
        self.t0 = time.monotonic()
        # The network steps end a little before probe_timeout_s so that
        # reading the ARP entries afterwards still fits in it.
        self.deadline = self.t0 + float(cfg["probe_timeout_s"]) - FINISH_S
        self.count = int(cfg["ping_count"])
        self.server = cfg["server"].strip()

    def remaining(self) -> float:
        return round(max(0.05, self.deadline - time.monotonic()), 2)

    def echo_series(self, address: str) -> dict[str, Any]:
        # Wait for the last reply only as long as the deadline allows.
        budget = max(0.05, self.remaining() - self.count * PING_INTERVAL_S)
        return self.host.ping(address, count=self.count, interval=PING_INTERVAL_S, timeout=round(budget, 2))

    def ask_resolvers(self) -> list[dict[str, Any]]:
        """The name did not resolve: ask each nameserver of resolv.conf
        ourselves, to tell a resolver that is unreachable from a name that
        does not exist (diagnose.dns)."""
        from diagnose.dns import nameservers

        servers = nameservers(self.host.read_text("/etc/resolv.conf", missing=""))
        out = []
        for ns in servers:
            wait = min(1.0, max(0.2, self.remaining()))
            try:
                out.append(self.host.dns_query(ns, self.server, timeout=wait))
            except Exception as exc:  # noqa: BLE001 - evidence, not a crash
                out.append({"server": ns, "state": "error", "error": str(exc)})
        return out

    def server_path(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.server, "addresses": [], "error": None, "literal": _is_ip(self.server)}
        if out["literal"]:
            out["addresses"] = [self.server]
        else:
            r0 = time.monotonic()
            try:
                out["addresses"] = self.host.resolve(self.server, timeout=self.remaining())
            except OSError as exc:
                out["error"] = exc.strerror or str(exc)
            out["resolve_ms"] = round((time.monotonic() - r0) * 1000, 2)
            if not out["addresses"]:
                out["resolvers"] = self.ask_resolvers()
        if not out["addresses"]:
            return {"server": out, "ports": [], "ping": None}
        v4 = [a for a in out["addresses"] if ":" not in a]
        addr = out["address"] = v4[0] if v4 else out["addresses"][0]
        ports = self.cfg["ports"]
        steps = [_Step(lambda p=p: self.host.tcp_connect(addr, p, timeout=self.remaining())) for p in ports]
        pinger = _Step(lambda: self.echo_series(addr)) if v4 else None
        got_ports = [s.result(self.deadline + 0.2) or {"address": addr, "port": p, "state": "error", "error": s.error}
                     for p, s in zip(ports, steps)]
        ping = None
        if pinger:
            ping = pinger.result(self.deadline + 0.2) or {"address": addr, "error": pinger.error,
                                                          "unfinished": pinger.thread.is_alive()}
        return {"server": out, "ports": got_ports, "ping": ping}

    def run(self) -> dict[str, Any]:
        server_step = _Step(self.server_path) if self.server else None
        facts: dict[str, Any] = {"interfaces": _interfaces(self.host), "server": None, "ports": [], "ping": {}}
        nl = _Netlink()
        try:
            server_ip = self.server if _is_ip(self.server) else None
            facts["default_routes"] = nl.default_routes()
            facts["route_to_server"] = nl.route_to(server_ip) if server_ip else None
            facts["interface"] = _pick_interface(self.cfg, facts["interfaces"], facts)
            gateway = facts["gateway"] = _path_gateway(facts)
            if gateway:
                step = _Step(lambda: self.echo_series(gateway))
                facts["ping"]["gateway"] = step.result(self.deadline + 0.2) or {
                    "address": gateway, "error": step.error, "unfinished": step.thread.is_alive()}
            if server_step:
                got = server_step.result(self.deadline + 0.5) or {}
                facts["server"] = got.get("server") or {"name": self.server, "addresses": [],
                                                        "error": server_step.error}
                facts["ports"] = got.get("ports") or []
                if got.get("ping") is not None:
                    facts["ping"]["server"] = got["ping"]
                if server_ip is None and facts["server"].get("address"):
                    # The name resolved meanwhile: ask the kernel for its route now.
                    facts["route_to_server"] = nl.route_to(facts["server"]["address"])
            # Read ARP after the pings: they made the kernel resolve the
            # gateway and the server, so the states say whether they answered.
            targets = [a for a in (gateway, (facts["server"] or {}).get("address")) if a]
            facts["neighbours"] = nl.neighbours(targets) if targets else {}
        finally:
            nl.close()
        facts["duration_ms"] = round((time.monotonic() - self.t0) * 1000, 1)
        return facts


def _is_ip(s: str) -> bool:
    try:
        ipaddress.ip_address(s)
        return True
    except ValueError:
        return False


def _path_gateway(facts: dict[str, Any]) -> str | None:
    rts = facts.get("route_to_server") or {}
    if rts.get("gateway"):
        return rts["gateway"]
    names = facts["interface"]["names"]
    for r in facts["default_routes"]:
        if r["dev"] in names and r["gateway"]:
            return r["gateway"]
    return None
