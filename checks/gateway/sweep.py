"""Sweeps: one socket per rung for every gateway at once, as fping does.

A thread per target stops scaling long before a site's hundreds of
gateways (threads start late, a rung's deadline passes before it sent
anything, and a healthy gateway reads as silent). Here every rung is one
loop over one socket:

- ICMP: one raw or ping socket; replies matched by source address and
  sequence number (each target gets its own sequence numbers; raw sockets
  also by our id);
- SIP OPTIONS over UDP: one socket with IP_RECVERR; answers matched by
  Call-ID and Via branch, ICMP errors by the destination they came back for;
- TCP (SIP over TCP, HTTP HEAD): non-blocking connects under one selector.

Each target's deadline counts from when its own first packet really left
(``timeout`` seconds later); a target the loop never sent to is reported
``not_collected``, never as silent. Results are plain dicts of facts keyed
by the target's index, in the shapes the single-target functions had.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import statistics
import struct
import time
from typing import Any, Callable

from diagnose.checks.gateway import sip
from diagnose.net import ICMP_DEST_UNREACH, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, _checksum, _open_icmp

BATCH = 64          # packets sent before the receive queue is drained again
BUF = 4 << 20       # socket buffers wide enough for a thousand answers
GRACE = 1.0         # how much longer than its timeout a rung may try to get a packet out
# A silent TCP connect is tried again this often within its timeout (at
# least TCP_MIN_SPACING_S apart); at most EXTRA_ATTEMPTS_MAX extra sockets per sweep.
TCP_ATTEMPTS = 8
TCP_MIN_SPACING_S = 0.1
EXTRA_ATTEMPTS_MAX = 256


def widen_buffers(sock: socket.socket) -> None:
    """Ask for large buffers; the *FORCE options pass net.core.*mem_max
    with CAP_NET_ADMIN, the plain ones are capped there otherwise."""
    for force, plain in ((33, socket.SO_RCVBUF), (32, socket.SO_SNDBUF)):  # SO_*BUFFORCE
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, BUF)
        except OSError:
            try:
                sock.setsockopt(socket.SOL_SOCKET, plain, BUF)
            except OSError:
                pass


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


# -- ICMP ---------------------------------------------------------------------

def icmp_sweep(targets: list[dict], count: int = 3, interval: float = 0.05) -> dict[int, dict]:
    """*count* echo requests to every target (``{"i", "address", "timeout"}``),
    *interval* apart per target; facts as :func:`diagnose.net.ping`."""
    try:
        sock, mode = _open_icmp()
    except OSError as exc:
        why = f"no ICMP socket: {exc.strerror or exc}"
        return {t["i"]: {"address": t["address"], "mode": None, "error": why, "sent": 0, "received": 0,
                         "loss_percent": None, "rtt_ms": [], "avg_ms": None, "max_ms": None,
                         "jitter_ms": None, "unreachable": 0, "time_ms": 0.0} for t in targets}
    ident = os.getpid() & 0xFFFF
    payload = b"diagnose-ping-" + b"\0" * 18
    n = len(targets)
    seqs: dict[int, tuple[int, int]] = {}            # seq -> (target position, round)
    sent_at: list[dict[int, float]] = [{} for _ in targets]
    rtts: list[dict[int, float]] = [{} for _ in targets]
    unreach = [0] * n
    errors: list[str | None] = [None] * n
    first: list[float | None] = [None] * n
    by_addr: dict[str, list[int]] = {}
    for pos, t in enumerate(targets):
        by_addr.setdefault(t["address"], []).append(pos)
    queue = [(pos, k) for k in range(count) for pos in range(n)]  # round by round
    hard_end = time.monotonic() + max(t["timeout"] for t in targets) + GRACE
    try:
        sock.setblocking(False)
        widen_buffers(sock)
        qi = 0
        while True:
            now = time.monotonic()
            burst = 0
            while qi < len(queue) and burst < BATCH:
                pos, k = queue[qi]
                due = (first[pos] + k * interval) if first[pos] is not None else now
                if k and due > now:
                    break
                seq = (pos * count + k) & 0xFFFF
                header = struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, 0, ident, seq)
                packet = struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, _checksum(header + payload),
                                     ident, seq) + payload
                try:
                    sock.sendto(packet, (targets[pos]["address"], 0))
                except BlockingIOError:
                    break
                except OSError as exc:
                    errors[pos] = exc.strerror or str(exc)
                    if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
                        unreach[pos] += 1
                stamp = time.monotonic()
                if first[pos] is None:
                    first[pos] = stamp
                seqs[seq] = (pos, k)
                sent_at[pos][k] = stamp
                qi += 1
                burst += 1
            now = time.monotonic()
            pending = [pos for pos in range(n) if first[pos] is None
                       or (len(rtts[pos]) < count and now < first[pos] + targets[pos]["timeout"])]
            if (qi >= len(queue) and not pending) or now > hard_end:
                break
            _icmp_drain(sock, mode, ident, seqs, sent_at, rtts, unreach, targets, wait=0.005)
    finally:
        sock.close()
    end = time.monotonic()
    out = {}
    for pos, t in enumerate(targets):
        series = [round(rtts[pos][k] * 1000, 3) for k in sorted(rtts[pos])]
        sent = len(sent_at[pos])
        out[t["i"]] = {
            "address": t["address"], "mode": mode, "error": errors[pos], "sent": sent,
            "received": len(series),
            "loss_percent": round(100.0 * (sent - len(series)) / sent, 1) if sent else None,
            "rtt_ms": series, "avg_ms": round(statistics.fmean(series), 3) if series else None,
            "max_ms": max(series) if series else None,
            "jitter_ms": round(statistics.fmean(abs(b - a) for a, b in zip(series, series[1:])), 3)
            if len(series) >= 2 else None,
            "unreachable": unreach[pos],
            "time_ms": _ms(_icmp_span(first[pos], sent_at[pos], rtts[pos], count, t["timeout"], end))
            if sent else 0.0,
        }
        if not sent:
            out[t["i"]]["error"] = out[t["i"]]["error"] or "not collected: nothing was sent in time"
            out[t["i"]]["mode"] = None
    return out


def _icmp_span(first, sent_at, rtts, count, timeout, end) -> float:
    """From the first request to the last reply, or to the deadline (or the
    end of the sweep) when a reply is missing."""
    if len(rtts) == count:
        return max(sent_at[k] + rtts[k] for k in rtts) - first
    return min(end, first + timeout) - first


def _icmp_drain(sock, mode, ident, seqs, sent_at, rtts, unreach, targets, wait: float) -> None:
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    try:
        if not sel.select(wait):
            return
    finally:
        sel.close()
    while True:
        try:
            data, src = sock.recvfrom(2048)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            continue
        got = time.monotonic()
        icmp = data[(data[0] & 0x0F) * 4:] if mode == "raw" else data
        if len(icmp) < 8:
            continue
        itype, _code, _c, rid, rseq = struct.unpack("!BBHHH", icmp[:8])
        if itype == ICMP_ECHO_REPLY:
            # The kernel rewrites the id of a ping socket; seq and source there.
            if (mode == "dgram" or rid == ident) and rseq in seqs:
                pos, k = seqs[rseq]
                if targets[pos]["address"] == src[0] and k in sent_at[pos] and k not in rtts[pos]:
                    rtts[pos][k] = got - sent_at[pos][k]
        elif itype == ICMP_DEST_UNREACH and mode == "raw" and len(icmp) >= 36:
            inner = icmp[8:]
            ihl = (inner[0] & 0x0F) * 4
            orig = inner[ihl:ihl + 8]
            if len(orig) == 8 and struct.unpack("!H", orig[4:6])[0] == ident:
                oseq = struct.unpack("!H", orig[6:8])[0]
                if oseq in seqs:
                    unreach[seqs[oseq][0]] += 1


# -- SIP OPTIONS over UDP -------------------------------------------------------

def options_udp_sweep(targets: list[dict], on_answer: Callable[[int], None] | None = None
                      ) -> dict[int, dict]:
    """OPTIONS to every target (``{"i", "address", "port", "source", "timeout"}``)
    from one UDP socket, retransmitted at T1, T1*2 ... until a final answer,
    an ICMP error or the target's own deadline. *on_answer(i)* is called as
    soon as target *i* answers (other rungs may stop waiting for it)."""
    n = len(targets)
    outs = [{"transport": "udp", "port": t["port"], "state": "silent", "response": None, "icmp": None,
             "sent": 0, "error": None, "time_ms": None} for t in targets]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.IPPROTO_IP, sip.IP_RECVERR, 1)
        sock.setblocking(False)
        widen_buffers(sock)
        sock.bind(("0.0.0.0", 0))
        local_port = sock.getsockname()[1]
    except OSError as exc:
        sock.close()
        for o in outs:
            o.update(state="error", error=exc.strerror or str(exc), time_ms=0.0)
        return {t["i"]: o for t, o in zip(targets, outs)}
    msgs, calls, by_dest = [], {}, {}
    for pos, t in enumerate(targets):
        branch, tag, call_id = sip._token(), sip._token()[:8], sip._token()
        msgs.append((branch, sip.build_options(t["address"], t["port"], "udp", t.get("source") or "0.0.0.0",
                                               local_port, branch=branch, tag=tag, call_id=call_id)))
        calls[call_id] = pos
        by_dest.setdefault((t["address"], t["port"]), []).append(pos)
    first: list[float | None] = [None] * n
    last: list[float] = [0.0] * n
    next_send = [0.0] * n
    gap = [sip.T1] * n
    provisional: list[dict | None] = [None] * n
    done = [False] * n
    t_start = time.monotonic()
    hard_end = t_start + max(t["timeout"] for t in targets) + GRACE
    try:
        while True:
            now = time.monotonic()
            burst = 0
            for pos in range(n):
                if done[pos] or now < next_send[pos] or burst >= BATCH:
                    continue
                if first[pos] is not None and now >= first[pos] + targets[pos]["timeout"]:
                    continue
                t = targets[pos]
                try:
                    sock.sendto(msgs[pos][1], (t["address"], t["port"]))
                except BlockingIOError:
                    break
                except OSError as exc:
                    # A pending ICMP error may surface on any send: read the
                    # queue, which names the destination it belongs to.
                    if not _udp_errors(sock, by_dest, outs, done, first):
                        outs[pos].update(state="error", error=exc.strerror or str(exc))
                        done[pos] = True
                    continue
                last[pos] = time.monotonic()
                if first[pos] is None:
                    first[pos] = last[pos]
                outs[pos]["sent"] += 1
                next_send[pos] = now + gap[pos]
                gap[pos] = min(gap[pos] * 2, 4.0)  # timer A doubles (RFC 3261 17.1.2.2)
                burst += 1
            now = time.monotonic()
            open_ = [pos for pos in range(n) if not done[pos]
                     and (first[pos] is None or now < first[pos] + targets[pos]["timeout"])]
            if not open_ or now >= hard_end:
                break
            sel = selectors.DefaultSelector()
            sel.register(sock, selectors.EVENT_READ)
            wake = min([next_send[p] for p in open_] + [first[p] + targets[p]["timeout"]
                                                        for p in open_ if first[p] is not None])
            sel.select(0 if burst >= BATCH else max(0.0, min(wake - now, 0.05)))
            sel.close()
            _udp_errors(sock, by_dest, outs, done, first)
            while True:
                try:
                    data, src = sock.recvfrom(65535)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    _udp_errors(sock, by_dest, outs, done, first)
                    continue
                resp = sip.parse_response(data)
                if resp is None:
                    continue
                pos = calls.get((resp.get("call_id") or "").split("@", 1)[0])
                if pos is None or done[pos] or msgs[pos][0] not in (resp.get("via") or ""):
                    continue
                resp["from"] = f"{src[0]}:{src[1]}"
                resp["rtt_ms"] = round((time.monotonic() - last[pos]) * 1000, 3)
                if resp["code"] < 200:
                    provisional[pos] = resp  # 1xx: wait for the final answer, send no more
                    next_send[pos] = float("inf")
                    continue
                outs[pos].update(state="answered", response=resp)
                outs[pos]["time_ms"] = _ms(time.monotonic() - first[pos])
                done[pos] = True
                if on_answer is not None:
                    on_answer(targets[pos]["i"])
    finally:
        sock.close()
    end = time.monotonic()
    for pos, o in enumerate(outs):
        if o["state"] == "silent" and provisional[pos] is not None:
            o["response"] = provisional[pos]
        if o["sent"] == 0 and o["state"] == "silent":
            o.update(state="not_collected", error="nothing was sent before the check's time ran out")
        if o["time_ms"] is None:
            o["time_ms"] = _ms(min(end, first[pos] + targets[pos]["timeout"]) - first[pos]) \
                if first[pos] is not None else 0.0
    return {t["i"]: o for t, o in zip(targets, outs)}


def _udp_errors(sock, by_dest, outs, done, first) -> bool:
    """Read every queued ICMP error and give it to the target it was for."""
    got = False
    while True:
        try:
            _data, ancdata, _flags, addr = sock.recvmsg(512, 512, sip.MSG_ERRQUEUE | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return got
        except OSError:
            return got
        icmp = sip.decode_errqueue(ancdata)
        if icmp is None or not addr:
            continue
        got = True
        for pos in by_dest.get((addr[0], addr[1]), []):
            if not done[pos]:
                outs[pos].update(state=sip._icmp_state(icmp), icmp=icmp,
                                 time_ms=_ms(time.monotonic() - (first[pos] or time.monotonic())))
                done[pos] = True


# -- TCP: SIP OPTIONS over TCP and HTTP HEAD ---------------------------------------

def tcp_sweep(jobs: list[dict], request: Callable[[dict, str, int], bytes],
              reply: Callable[[dict, bytes], Any]) -> dict[int, dict]:
    """Non-blocking connects to every job (``{"i", "address", "port", "timeout"}``)
    under one selector; once connected, send ``request(job, local_ip,
    local_port)`` and feed what comes back to ``reply(job, buffer)`` until it
    returns a result dict (merged into the facts) or the job's deadline.

    A connect that hears nothing is tried again (a fresh SYN every
    ``timeout / TCP_ATTEMPTS`` s, at least 0.1 s) while the earlier attempts
    wait on; the first answer wins. The kernel would resend a lost SYN only
    after a second, so on a lossy path a listening gateway would otherwise
    read as silent in one run and answer in the next.

    Facts: state open|answered|refused|unreachable|timeout|error, error,
    connect_ms, time_ms, sent, attempts, plus what *reply* returned."""
    sel = selectors.DefaultSelector()
    outs: dict[int, dict] = {}
    live: dict[int, dict] = {}
    spare = [EXTRA_ATTEMPTS_MAX]  # extra sockets this sweep may still open (file descriptors are finite)
    for pos, job in enumerate(jobs):
        o = {"port": job["port"], "state": "timeout", "error": None, "connect_ms": None,
             "time_ms": None, "sent": 0, "attempts": 0}
        outs[pos] = o
        t0 = time.monotonic()
        st = {"sock": None, "socks": [], "t0": t0, "buf": b"", "connected": False,
              "spacing": max(TCP_MIN_SPACING_S, job["timeout"] / TCP_ATTEMPTS), "next_try": t0}
        err = _tcp_attempt(sel, st, o, job, pos)
        if err not in (0, errno.EINPROGRESS):
            _tcp_fail(o, err)
            o["time_ms"] = 0.0
            _tcp_close(sel, st, o)
            continue
        live[pos] = st
    try:
        while live:
            now = time.monotonic()
            for pos in [p for p, st in live.items() if now >= st["t0"] + jobs[p]["timeout"]]:
                st = live.pop(pos)
                o = outs[pos]
                if o["state"] == "timeout":
                    o["error"] = f"no answer to the TCP connection ({o['attempts']} attempts)"
                elif o["error"] is None and "result" not in st:
                    o["error"] = "connected, but no answer"
                _tcp_close(sel, st, o)
            for pos, st in list(live.items()):
                end = st["t0"] + jobs[pos]["timeout"]
                if (not st["connected"] and now >= st["next_try"] and len(st["socks"]) < TCP_ATTEMPTS
                        and end - now >= st["spacing"] / 2 and spare[0] > 0):
                    spare[0] -= 1
                    err = _tcp_attempt(sel, st, outs[pos], jobs[pos], pos)
                    if err not in (0, errno.EINPROGRESS):
                        _tcp_fail(outs[pos], err)
                        _tcp_close(sel, live.pop(pos), outs[pos])
            if not live:
                break
            wake = min(min(st["t0"] + jobs[p]["timeout"], st["next_try"] if not st["connected"]
                           and len(st["socks"]) < TCP_ATTEMPTS else float("inf")) for p, st in live.items())
            for key, _ev in sel.select(max(0.0, min(wake - now, 0.05))):
                pos = key.data
                st = live.get(pos)
                if st is None:
                    continue
                o, job = outs[pos], jobs[pos]
                if not st["connected"]:
                    s = key.fileobj
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err in (errno.ETIMEDOUT, errno.EAGAIN):
                        sel.unregister(s)  # this attempt gave up; the others wait on
                        continue
                    if err:
                        _tcp_fail(o, err)
                        _tcp_close(sel, live.pop(pos), o)
                        continue
                    st["connected"], st["sock"] = True, s
                    for other in st["socks"]:  # the first answer wins; the rest are dropped
                        if other is not s:
                            _drop(sel, other)
                    st["socks"] = [s]
                    o.update(state="open", connect_ms=_ms(time.monotonic() - st["t0"]))
                    local_ip, local_port = s.getsockname()[:2]
                    try:
                        s.send(request(job, local_ip, local_port))  # small: fits the empty buffer
                        o["sent"] = 1
                    except OSError as exc:
                        o.update(state="error", error=exc.strerror or str(exc))
                        _tcp_close(sel, live.pop(pos), o)
                        continue
                    st["sent_at"] = time.monotonic()
                    sel.modify(s, selectors.EVENT_READ, pos)
                    continue
                s = st["sock"]
                try:
                    chunk = s.recv(65535)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as exc:
                    o["error"] = exc.strerror or str(exc)
                    _tcp_close(sel, live.pop(pos), o)
                    continue
                st["buf"] += chunk
                result = reply(job, st["buf"]) if chunk else None
                if result is not None:
                    if isinstance(result.get("response"), dict):
                        result["response"]["rtt_ms"] = round((time.monotonic() - st["sent_at"]) * 1000, 3)
                    o.update(result)
                    st["result"] = True
                    _tcp_close(sel, live.pop(pos), o)
                elif not chunk:
                    o["error"] = "the peer closed the connection without answering"
                    _tcp_close(sel, live.pop(pos), o)
    finally:
        for st in live.values():
            for s in st["socks"]:
                s.close()
        sel.close()
    return {jobs[pos]["i"]: o for pos, o in outs.items()}


def _tcp_attempt(sel, st: dict, o: dict, job: dict, pos: int) -> int:
    """Start one more connect for a job: its errno (0 or EINPROGRESS: pending)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    st["socks"].append(s)
    o["attempts"] += 1
    st["next_try"] = time.monotonic() + st["spacing"]
    err = s.connect_ex((job["address"], job["port"]))
    if err in (0, errno.EINPROGRESS):
        sel.register(s, selectors.EVENT_WRITE, pos)
    return err


def _drop(sel, s) -> None:
    try:
        sel.unregister(s)
    except (KeyError, ValueError):
        pass
    s.close()


def _tcp_fail(o: dict, err: int) -> None:
    if err == errno.ECONNREFUSED:
        o.update(state="refused", error="connection refused")
    elif err in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        o.update(state="unreachable", error=os.strerror(err))
    else:
        o.update(state="error", error=os.strerror(err))


def _tcp_close(sel, st: dict, o: dict) -> None:
    o["time_ms"] = _ms(time.monotonic() - st["t0"])
    for s in st["socks"]:
        _drop(sel, s)
    st["socks"] = []
