"""One DNS question, asked of one server, to tell why a name did not resolve.

The system resolver (getaddrinfo) answers "temporary failure" both when the
DNS server is unreachable and when it refused, and "not known" when the name
does not exist; a technician needs to know which: an unreachable resolver is
the site's network, a name that does not exist is a wrong configuration. So,
after getaddrinfo failed, the probe asks each nameserver of resolv.conf itself.

Wire format: RFC 1035 section 4 (header, one question, QTYPE A, QCLASS IN).
Reached through :meth:`diagnose.host.Host.dns_query`, never directly by probes.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from typing import Any

RCODES = {0: "answered", 2: "servfail", 3: "nxdomain", 5: "refused"}


def question(name: str, ident: int) -> bytes:
    header = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0)  # RD set, one question
    labels = b"".join(bytes([len(p)]) + p for p in (x.encode("idna") for x in name.rstrip(".").split(".")) if p)
    return header + labels + b"\0" + struct.pack("!HH", 1, 1)


def query(server: str, name: str, timeout: float, port: int = 53) -> dict[str, Any]:
    """Ask *server* for the A record of *name*: state answered | nxdomain |
    servfail | refused (the server said so) | unreachable (ICMP: nothing
    listens) | silent (no answer in *timeout*) | error."""
    out: dict[str, Any] = {"server": server, "state": "error", "rcode": None, "answers": 0, "time_ms": None,
                           "error": None}
    ident = int.from_bytes(os.urandom(2), "big")
    t0 = time.monotonic()
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            # A connected UDP socket reports an ICMP port unreachable as
            # ECONNREFUSED on the next recv (Linux, udp(7)).
            sock.connect((server, port))
            sock.settimeout(max(0.05, timeout))
            sock.send(question(name, ident))
            while True:
                data = sock.recv(4096)
                if len(data) >= 12 and struct.unpack("!H", data[:2])[0] == ident:
                    break
            flags, _, ancount = struct.unpack("!HHH", data[2:8])
            rcode = flags & 0x000F
            out.update(rcode=rcode, answers=ancount, state=RCODES.get(rcode, "error"))
            if rcode == 0 and ancount == 0:
                out["state"] = "no-address"
    except ConnectionRefusedError:
        out.update(state="unreachable", error="connection refused: no DNS server listens there")
    except (socket.timeout, TimeoutError):
        out.update(state="silent", error=f"no answer within {timeout:g} s")
    except (OSError, UnicodeError, ValueError) as exc:
        out.update(state="error", error=str(exc))
    out["time_ms"] = round((time.monotonic() - t0) * 1000, 1)
    return out


def nameservers(resolv_conf: str) -> list[str]:
    """The nameserver lines of a resolv.conf, in order (resolv.conf(5): at most 3 count)."""
    out = []
    for line in resolv_conf.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            out.append(words[1].split("%")[0])
    return out[:3]
