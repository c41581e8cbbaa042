"""network.connectivity: can this workstation reach the call-center server?

Settles the complaint "the program won't start on one seat" by walking the
path outwards: this PC's link (carrier), its address, its default route, the
default gateway (does it answer ARP), the server's name, the server itself
and its application ports, and the voice quality of the path (ICMP loss,
RTT, jitter).

The probe gathers facts only; the judge decides. Findings about this host's
own link carry ``evidence.scope = "local"``; findings about the gateway, the
server and its ports carry ``"remote"``. When the local link is down the
judge links the remote findings to it (``caused_by``), so the report shows
one site fault ("cable unplugged") instead of a list of unreachable targets.
"""

from __future__ import annotations

import json
from typing import Any

from diagnose.check import Check, Key, Needs
from diagnose.checks.network.common import NAME
from diagnose.i18n import N_
from diagnose.model import Finding

# The probe and the judge are imported when used: a run that only validates
# the [network] section (another check asked for) needs the schema alone.


class NetworkConnectivity(Check):
    """Link, address, route, gateway ARP, DNS, server ports and voice quality."""

    name = NAME
    summary = N_("link/carrier, address, default route, gateway ARP, DNS, the server's ports, loss/latency/jitter")
    section = "network"
    # Any role: a server's own link and default gateway matter as much as a seat's.
    needs = Needs(role="any", live=True)
    # Interface and resolver configuration, whichever manager is in use.
    watches = ("/etc/network/interfaces", "/etc/network/interfaces.d/*", "/etc/netplan/*.yaml",
               "/etc/NetworkManager/system-connections/*", "/etc/systemd/network/*", "/etc/resolv.conf",
               "/etc/hosts")
    # A link that trained at 1000 Mb/s at acceptance and runs at 100 now is a cable or a port.
    stable = ("interfaces.*.speed_mbps", "interfaces.*.duplex", "interfaces.*.mtu")
    schema = {
        "interface": Key(str, "", "network interface to check; default: the one holding the default route"),
        "server": Key(str, "", "host name or address of the call-center server"),
        "ports": Key(list, [], "TCP ports of the call-center application on the server", item=int),
        "loss_percent": Key((int, float), 1, "ICMP loss above this is too poor for voice"),
        "jitter_ms": Key((int, float), 30, "jitter (mean RTT difference) above this is too poor for voice"),
        "rtt_ms": Key((int, float), 150, "average round-trip time above this is too poor for voice"),
        "ping_count": Key(int, 20, "ICMP echo requests per target (sent 20 ms apart)"),
        "probe_timeout_s": Key((int, float), 1.0,
                               "the network steps (DNS, TCP, ICMP) run concurrently and all end within this"),
    }

    def probe(self, host, cfg: dict[str, Any]) -> dict[str, Any]:
        from diagnose.checks.network.probe import probe

        return probe(host, cfg)

    def init_section(self, host) -> str | None:
        """``[network]`` naming the interface that holds the default route."""
        if not host.live:
            return None
        from diagnose.checks.network.probe import _Netlink

        nl = _Netlink()
        try:
            routes = nl.default_routes()
        finally:
            nl.close()
        if not routes or not routes[0]["dev"]:
            return None
        lines = [f"# {self.name}: {self.summary}", "[network]",
                 f'interface = "{routes[0]["dev"]}"  # holds the default route (gateway {routes[0]["gateway"]})']
        for key, spec in self.schema.items():
            if key != "interface":
                value = json.dumps(spec.default)
                lines.append(f"# {key} = {value}  # {spec.doc}")
        return "\n".join(lines)

    def judge(self, facts: dict[str, Any], cfg: dict[str, Any]) -> list[Finding]:
        from diagnose.checks.network.judge import judge

        return judge(facts, cfg)


