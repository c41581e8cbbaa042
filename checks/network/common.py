"""Kernel constants and timings that the probe and the judge of
network.connectivity share."""

from __future__ import annotations

NAME = "network.connectivity"

# Kernel neighbour (ARP) states, include/uapi/linux/neighbour.h. Only the
# ones holding a link-layer address that was confirmed or is being used
# mean "the gateway answered ARP at some point".
NUD_STATES = {0x01: "incomplete", 0x02: "reachable", 0x04: "stale", 0x08: "delay",
              0x10: "probe", 0x20: "failed", 0x40: "noarp", 0x80: "permanent"}
ANSWERED_NOW = {"reachable", "permanent", "noarp"}
ANSWERED_BEFORE = {"stale", "delay", "probe"}

IFF_UP = 0x1  # include/uapi/linux/if.h: administratively up
ARPHRD_LOOPBACK = 772

# Ping spacing: 20 ms is the packet interval of a G.711/G.729 voice stream,
# so jitter is measured at the rate a call would see it.
PING_INTERVAL_S = 0.02
# Kept of probe_timeout_s for the netlink reads after the network steps.
FINISH_S = 0.05
