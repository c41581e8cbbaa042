"""Small network primitives shared by checks: ICMP echo series and a TCP
connect that retries silence.

Reached through :meth:`diagnose.host.Host.ping` and
:meth:`diagnose.host.Host.tcp_connect`, never directly by probes.
"""

from __future__ import annotations

import errno
import os
import select
import selectors
import socket
import statistics
import struct
import time

ICMP_ECHO_REQUEST = 8
ICMP_ECHO_REPLY = 0
ICMP_DEST_UNREACH = 3


def _checksum(data: bytes) -> int:
    # RFC 1071 internet checksum: one's complement sum of 16-bit words.
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def _open_icmp() -> tuple[socket.socket, str]:
    """A raw socket when allowed (root / CAP_NET_RAW), else the unprivileged
    "ping socket" (Linux, gated by net.ipv4.ping_group_range)."""
    try:
        return socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP), "raw"
    except PermissionError:
        pass
    return socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP), "dgram"


def ping(address: str, count: int = 5, interval: float = 0.05, timeout: float = 1.0) -> dict:
    """Send *count* echo requests to an IPv4 *address*, wait at most *timeout*
    after the last one, and return facts: sent, received, loss_percent,
    rtt_ms list, avg/max RTT, jitter (mean absolute difference of successive
    RTTs, as RFC 3550 uses for RTP) and ICMP errors seen (unreachable)."""
    try:
        sock, mode = _open_icmp()
    except OSError as exc:
        return {"address": address, "mode": None, "error": f"no ICMP socket: {exc.strerror or exc}",
                "sent": 0, "received": 0, "loss_percent": None, "rtt_ms": [],
                "avg_ms": None, "max_ms": None, "jitter_ms": None, "unreachable": 0}
    ident = os.getpid() & 0xFFFF
    sent_at: dict[int, float] = {}
    rtts: dict[int, float] = {}
    unreachable = 0
    error = None
    payload = b"diagnose-ping-" + b"\0" * 18
    try:
        sock.setblocking(False)
        next_send = time.monotonic()
        seq = 0
        deadline = None
        while True:
            now = time.monotonic()
            if seq < count and now >= next_send:
                header = struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, 0, ident, seq)
                csum = _checksum(header + payload)
                packet = struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, csum, ident, seq) + payload
                try:
                    sock.sendto(packet, (address, 0))
                except OSError as exc:
                    error = exc.strerror or str(exc)
                    if exc.errno in (101, 113):  # ENETUNREACH, EHOSTUNREACH
                        unreachable += 1
                sent_at[seq] = time.monotonic()
                seq += 1
                next_send = now + interval
                if seq == count:
                    deadline = time.monotonic() + timeout
            if deadline is not None and (time.monotonic() >= deadline or len(rtts) == count):
                break
            wait = (deadline - time.monotonic()) if deadline else max(0.0, next_send - time.monotonic())
            ready, _, _ = select.select([sock], [], [], max(0.0, min(wait, interval)))
            if not ready:
                continue
            try:
                data, src = sock.recvfrom(2048)
            except OSError:
                continue
            got = time.monotonic()
            if mode == "raw":
                ihl = (data[0] & 0x0F) * 4  # raw sockets deliver the IP header too
                icmp = data[ihl:]
            else:
                icmp = data
            if len(icmp) < 8:
                continue
            itype, _code, _c, rid, rseq = struct.unpack("!BBHHH", icmp[:8])
            if itype == ICMP_ECHO_REPLY and src[0] == address:
                # The kernel rewrites the id of a ping socket; match on seq only there.
                if (mode == "dgram" or rid == ident) and rseq in sent_at and rseq not in rtts:
                    rtts[rseq] = (got - sent_at[rseq]) * 1000
            elif itype == ICMP_DEST_UNREACH and mode == "raw" and len(icmp) >= 36:
                inner = icmp[8:]
                inner_ihl = (inner[0] & 0x0F) * 4
                orig = inner[inner_ihl:inner_ihl + 8]
                if len(orig) == 8 and struct.unpack("!H", orig[4:6])[0] == ident:
                    unreachable += 1
    finally:
        sock.close()
    series = [round(rtts[s], 3) for s in sorted(rtts)]
    sent = len(sent_at)
    jitter = None
    if len(series) >= 2:
        jitter = round(statistics.fmean(abs(b - a) for a, b in zip(series, series[1:])), 3)
    return {
        "address": address,
        "mode": mode,
        "error": error,
        "sent": sent,
        "received": len(series),
        "loss_percent": round(100.0 * (sent - len(series)) / sent, 1) if sent else None,
        "rtt_ms": series,
        "avg_ms": round(statistics.fmean(series), 3) if series else None,
        "max_ms": max(series) if series else None,
        "jitter_ms": jitter,
        "unreachable": unreachable,
    }


# A connect that hears nothing is tried again this often (at most
# TCP_ATTEMPTS times) within its budget: the kernel itself resends a SYN
# only after one second, then three, so on a lossy path a single lost SYN
# would otherwise turn an open port into "filtered" at random.
TCP_ATTEMPTS = 8
TCP_MIN_SPACING_S = 0.1


def tcp_connect(address: str, port: int, timeout: float = 2.0) -> dict:
    """Try a TCP connection within *timeout* seconds; facts: state
    open|refused|timeout|unreachable|error, error, time_ms, attempts.

    Only silence is retried: every ``max(0.1, timeout / 8)`` s a new
    connection (a fresh SYN) is started while the earlier ones stay open, and
    the first answer wins. A reset is a definitive "refused" and an ICMP
    unreachable a definitive "unreachable"; "timeout" means that none of the
    attempts heard anything, so a port's verdict does not change with random
    packet loss from one run to the next."""
    t0 = time.monotonic()
    end = t0 + max(0.0, timeout)
    spacing = max(TCP_MIN_SPACING_S, timeout / TCP_ATTEMPTS)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sel = selectors.DefaultSelector()
    socks: list[socket.socket] = []
    state, err = "timeout", None
    next_try = t0
    try:
        while True:
            now = time.monotonic()
            if now >= end:
                break
            # A new attempt only while it has at least half a spacing to hear back.
            if now >= next_try and len(socks) < TCP_ATTEMPTS and end - now >= spacing / 2:
                s = socket.socket(family, socket.SOCK_STREAM)
                s.setblocking(False)
                socks.append(s)
                code = s.connect_ex((address, port))
                if code not in (0, errno.EINPROGRESS):
                    state, err = _connect_failed(code)
                    break
                sel.register(s, selectors.EVENT_WRITE)
                next_try = now + spacing
            wait = min(end, next_try if len(socks) < TCP_ATTEMPTS else end) - time.monotonic()
            decided = False
            for key, _ev in sel.select(max(0.0, wait)):
                code = key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code == 0:
                    state, err, decided = "open", None, True
                    break
                if code in (errno.ETIMEDOUT, errno.EAGAIN):
                    sel.unregister(key.fileobj)  # this attempt gave up; the others go on
                    continue
                state, err = _connect_failed(code)
                decided = True
                break
            if decided:
                break
    finally:
        sel.close()
        for s in socks:
            s.close()
    if state == "timeout":
        err = f"no answer within {round(timeout, 2):g}s to {len(socks)} attempts"
    return {"address": address, "port": port, "state": state, "error": err,
            "time_ms": round((time.monotonic() - t0) * 1000, 2), "attempts": len(socks)}


def _connect_failed(code: int) -> tuple[str, str]:
    if code == errno.ECONNREFUSED:
        return "refused", "connection refused"
    if code in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "unreachable", os.strerror(code)
    return "error", os.strerror(code)
