"""A minimal SIP OPTIONS client: "are you there, and will you talk to me?"

SIP OPTIONS (RFC 3261 section 11) is the standard keep-alive a PBX sends to
its trunks: any final answer proves the remote SIP stack is alive, and the
status code says whether it accepts this server (200), rejects it (401, 403,
404, 407) or has no trunk behind it (503).

Over UDP the socket sets IP_RECVERR: without it Linux reports ICMP "host
unreachable" to a UDP socket only as a soft error that is never surfaced, so
a dead host would look exactly like a silent one. With it every ICMP error
lands on the socket's error queue (MSG_ERRQUEUE) with its type and code.

These are system primitives in the sense of diagnose.host: they take the
host and call ``host.require_live``. They return plain dicts of facts
(JSON-serialisable) and never judge.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
import time
import uuid

# <linux/errqueue.h>: struct sock_extended_err, then the offender's sockaddr.
_EE = struct.Struct("=IBBBBII")
SO_EE_ORIGIN_LOCAL = 1
SO_EE_ORIGIN_ICMP = 2
IP_RECVERR = getattr(socket, "IP_RECVERR", 11)
MSG_ERRQUEUE = getattr(socket, "MSG_ERRQUEUE", 0x2000)
ICMP_UNREACH_CODES = {0: "network unreachable", 1: "host unreachable", 2: "protocol unreachable",
                      3: "port unreachable", 9: "network prohibited", 10: "host prohibited",
                      13: "administratively prohibited"}
T1 = 0.5  # RFC 3261 timer T1: first UDP retransmission after 500 ms


def _token() -> str:
    return uuid.uuid4().hex[:16]


def build_options(address: str, port: int, transport: str, local_ip: str, local_port: int,
                  *, branch: str, tag: str, call_id: str, cseq: int = 1) -> bytes:
    """An OPTIONS request as RFC 3261 section 8.1.1 and 11 want it.

    The branch starts with the magic cookie ``z9hG4bK`` (section 8.1.1.7) so
    the gateway treats it as an RFC 3261 transaction; ``rport`` (RFC 3581)
    asks it to answer to the port the request really came from, which
    matters behind NAT and for our ephemeral source port.
    """
    uri = f"sip:{address}:{port}" if port != 5060 else f"sip:{address}"
    if transport == "tcp":
        uri += ";transport=tcp"
    host = socket.gethostname() or "diagnose"
    lines = [
        f"OPTIONS {uri} SIP/2.0",
        f"Via: SIP/2.0/{transport.upper()} {local_ip}:{local_port};branch=z9hG4bK{branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:diagnose@{local_ip}>;tag={tag}",
        f"To: <{uri}>",
        f"Call-ID: {call_id}@{host}",
        f"CSeq: {cseq} OPTIONS",
        f"Contact: <sip:diagnose@{local_ip}:{local_port}>",
        "Accept: application/sdp",
        "User-Agent: diagnose gateway.power",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_response(data: bytes) -> dict | None:
    """Status line and the headers worth showing of a SIP response; None
    when *data* is not a SIP response at all."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or parts[0] != "SIP/2.0" or not parts[1].isdigit():
        return None
    headers: dict[str, str] = {}
    # Compact header forms (RFC 3261 section 7.3.3): i = Call-ID, v = Via.
    compact = {"i": "call-id", "v": "via"}
    for line in lines[1:]:
        if ":" not in line:
            continue
        name, value = line.split(":", 1)
        name = compact.get(name.strip().lower(), name.strip().lower())
        headers.setdefault(name, value.strip())
    server = headers.get("server") or headers.get("user-agent")
    # Shown in titles and reports: keep what a device sends short.
    return {
        "code": int(parts[1]),
        "reason": (parts[2] if len(parts) > 2 else "")[:80],
        "server": server[:120] if server else None,
        "allow": headers.get("allow"),
        "call_id": headers.get("call-id"),
        "via": headers.get("via"),
        "cseq": headers.get("cseq"),
    }


def _matches(resp: dict, branch: str, call_id: str) -> bool:
    return (resp.get("call_id") or "").startswith(call_id) and branch in (resp.get("via") or "")


def _read_errqueue(sock: socket.socket) -> dict | None:
    """One ICMP (or local) error from the socket's error queue, decoded."""
    try:
        _data, ancdata, _flags, _addr = sock.recvmsg(512, 512, MSG_ERRQUEUE | socket.MSG_DONTWAIT)
    except (BlockingIOError, InterruptedError):
        return None
    return decode_errqueue(ancdata)


def decode_errqueue(ancdata) -> dict | None:
    """The IP_RECVERR control message of one error-queue read, decoded."""
    for level, ctype, cdata in ancdata:
        if level != socket.IPPROTO_IP or ctype != IP_RECVERR or len(cdata) < _EE.size:
            continue
        ee_errno, origin, itype, code, _pad, _info, _d = _EE.unpack_from(cdata)
        offender = None
        rest = cdata[_EE.size:]
        if len(rest) >= 8 and struct.unpack_from("=H", rest)[0] == socket.AF_INET:
            offender = socket.inet_ntoa(rest[4:8])
        return {
            "errno": errno.errorcode.get(ee_errno, str(ee_errno)),
            "origin": {SO_EE_ORIGIN_LOCAL: "local", SO_EE_ORIGIN_ICMP: "icmp"}.get(origin, str(origin)),
            "icmp_type": itype, "icmp_code": code,
            "meaning": ICMP_UNREACH_CODES.get(code, os.strerror(ee_errno)) if itype == 3 else os.strerror(ee_errno),
            "from": offender,
        }
    return None


def stream_response(buf: bytes, branch: str, call_id: str) -> dict | None:
    """The final response to our request among the messages of a TCP
    stream so far (each ends after its headers and Content-Length bytes)."""
    while b"\r\n\r\n" in buf:
        head, buf = buf.split(b"\r\n\r\n", 1)
        resp = parse_response(head + b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() in (b"content-length", b"l") and value.strip().isdigit():
                length = int(value.strip())
        buf = buf[length:]
        if resp and _matches(resp, branch, call_id) and resp["code"] >= 200:
            return resp
    return None


def source_address(host, address: str, port: int) -> str:
    """The local address the kernel would use towards *address* (a UDP
    connect sends nothing)."""
    host.require_live("a route lookup")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect((address, port))
        return s.getsockname()[0]
    finally:
        s.close()


def options_udp(host, address: str, port: int, deadline: float) -> dict:
    """Send OPTIONS over UDP (one retransmission at T1) until a final
    response, an ICMP error or *deadline* (a time.monotonic() value).

    Facts: state answered | unreachable | refused | silent | error, the
    response (code, reason, server), the ICMP error, sends and time_ms.
    """
    host.require_live("SIP OPTIONS over UDP")
    t0 = time.monotonic()
    out: dict = {"transport": "udp", "port": port, "state": "silent", "response": None,
                 "icmp": None, "sent": 0, "error": None, "time_ms": None}
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
        sock.bind(("0.0.0.0", 0))
        local_ip = source_address(host, address, port)
        local_port = sock.getsockname()[1]
        branch, tag, call_id = _token(), _token()[:8], _token()
        msg = build_options(address, port, "udp", local_ip, local_port,
                            branch=branch, tag=tag, call_id=call_id)
        poller = select.poll()
        poller.register(sock, select.POLLIN | select.POLLERR)
        next_send = last_sent = t0
        interval = T1
        provisional = None
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            if now >= next_send:
                try:
                    sock.sendto(msg, (address, port))
                    last_sent = time.monotonic()
                    out["sent"] += 1
                except OSError as exc:
                    # A pending ICMP error surfaces on the next send too.
                    icmp = _read_errqueue(sock)
                    if icmp is not None:
                        out.update(state=_icmp_state(icmp), icmp=icmp)
                        break
                    out.update(state="error", error=exc.strerror or str(exc))
                    break
                next_send = now + interval
                interval = min(interval * 2, 4.0)  # timer A doubles (section 17.1.2.2)
            wait = max(0.0, min(deadline, next_send) - time.monotonic())
            events = poller.poll(wait * 1000)
            if not events:
                continue
            icmp = _read_errqueue(sock)
            if icmp is not None:
                out.update(state=_icmp_state(icmp), icmp=icmp)
                break
            try:
                data, src = sock.recvfrom(65535, socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            except OSError:
                continue  # the error itself is read from the queue on the next turn
            resp = parse_response(data)
            if resp is None or not _matches(resp, branch, call_id):
                continue
            resp["from"] = f"{src[0]}:{src[1]}"
            # From the latest transmission: a retransmission's answer is
            # indistinguishable from the first one's (RFC 3261 has no
            # per-transmission id), so this errs on the short side.
            resp["rtt_ms"] = round((time.monotonic() - last_sent) * 1000, 3)
            if resp["code"] < 200:
                provisional = resp  # 1xx: keep waiting for the final answer
                next_send = deadline
                continue
            out.update(state="answered", response=resp)
            break
        if out["state"] == "silent" and provisional is not None:
            out["response"] = provisional
    except OSError as exc:
        out.update(state="error", error=exc.strerror or str(exc))
    finally:
        sock.close()
        out["time_ms"] = round((time.monotonic() - t0) * 1000, 2)
    return out


def _icmp_state(icmp: dict) -> str:
    if icmp["icmp_type"] == 3 and icmp["icmp_code"] == 3:
        return "refused"
    return "unreachable"


def options_tcp(host, address: str, port: int, deadline: float) -> dict:
    """Send OPTIONS over a TCP connection and read one response.

    Facts as :func:`options_udp`; ``refused`` here is a TCP reset, which,
    like an ICMP port unreachable, proves the host itself is up.
    """
    host.require_live("SIP OPTIONS over TCP")
    t0 = time.monotonic()
    out: dict = {"transport": "tcp", "port": port, "state": "silent", "response": None,
                 "icmp": None, "sent": 0, "error": None, "time_ms": None}
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            sock.connect((address, port))
        except ConnectionRefusedError:
            out.update(state="refused", error="connection refused (TCP reset)")
            return out
        except (socket.timeout, TimeoutError):
            out.update(error="no answer to the TCP connection")
            return out
        except OSError as exc:
            state = "unreachable" if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH) else "error"
            out.update(state=state, error=exc.strerror or str(exc))
            return out
        local_ip, local_port = sock.getsockname()[:2]
        branch, tag, call_id = _token(), _token()[:8], _token()
        sock.sendall(build_options(address, port, "tcp", local_ip, local_port,
                                   branch=branch, tag=tag, call_id=call_id))
        sent_at = time.monotonic()
        out["sent"] = 1
        buf = b""
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65535)
            except (socket.timeout, TimeoutError):
                break
            if not chunk:
                out["error"] = "the gateway closed the connection without answering"
                break
            buf += chunk
            # A stream carries messages back to back; each ends after its headers
            # (OPTIONS answers may carry a body, which we skip).
            while b"\r\n\r\n" in buf:
                head, buf = buf.split(b"\r\n\r\n", 1)
                resp = parse_response(head + b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() in (b"content-length", b"l") and value.strip().isdigit():
                        length = int(value.strip())
                buf = buf[length:]
                if resp and _matches(resp, branch, call_id) and resp["code"] >= 200:
                    resp["from"] = f"{address}:{port}"
                    resp["rtt_ms"] = round((time.monotonic() - sent_at) * 1000, 3)
                    out.update(state="answered", response=resp)
                    return out
    except OSError as exc:
        out.update(state="error", error=exc.strerror or str(exc))
    finally:
        sock.close()
        out["time_ms"] = round((time.monotonic() - t0) * 1000, 2)
    return out
