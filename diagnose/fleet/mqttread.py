"""A buffered MQTT 3.1.1 reader for the site report's subscription.

paho-mqtt connects, does TLS and logs in (:mod:`diagnose.fleet.mqtt`); the
site report then takes over the socket: a site's retained burst is thousands
of messages that paho's network loop would read one packet per ``select()``
with three ``recv()`` calls each, in Python. Here the socket is read in
large chunks and every complete packet in a chunk is parsed at once
(remaining-length varint, topic, the packet id of QoS 1 and 2). What this
client sends is built here too: SUBSCRIBE, a QoS 1 PUBLISH, the
acknowledgements of QoS 1/2 messages, PINGREQ when the keepalive is due,
DISCONNECT. Works the same on a plain and on an ``ssl`` socket.

Only what the site report needs is implemented; a packet type it does not
expect is skipped by its length. A malformed length ends the connection
(:class:`ProtocolError`): the broker is not speaking MQTT 3.1.1.
"""

from __future__ import annotations

import select
import ssl
import struct
import time
from typing import Any, Callable

CHUNK = 1 << 20  # bytes asked of one recv(); a TLS socket gives one record (16 kB) at most

PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, PINGRESP = 3, 4, 5, 6, 7, 9, 13


class ProtocolError(Exception):
    pass


def _utf8(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("!H", len(data)) + data


def _packet(first: int, body: bytes) -> bytes:
    n = len(body)
    head = bytearray([first])
    while True:
        byte, n = n & 0x7F, n >> 7
        head.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(head) + body


class Stream:
    """The connection after login: *on_publish(topic, payload, retain)* for
    every message, *on_suback(packet_id)* for every subscription answered."""

    def __init__(self, sock: Any, keepalive: float, on_publish: Callable[[str, bytes, bool], None],
                 on_suback: Callable[[int], None]) -> None:
        self.sock = sock
        self.keepalive = keepalive
        self.on_publish = on_publish
        self.on_suback = on_suback
        self.buf = bytearray()
        self.closed = False  # the broker closed the connection
        self.last_out = time.monotonic()
        self.next_id = 0

    # -- sending -----------------------------------------------------------

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        end = time.monotonic() + max(10.0, self.keepalive)
        while view:
            try:
                n = self.sock.send(view)
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                if time.monotonic() > end:
                    raise TimeoutError("the broker does not take what is sent") from None
                select.select([], [self.sock], [], 1.0)
                continue
            view = view[n:]
        self.last_out = time.monotonic()

    def packet_id(self) -> int:
        self.next_id = self.next_id % 0xFFFF + 1
        return self.next_id

    def subscribe(self, topic: str, qos: int = 0) -> int:
        mid = self.packet_id()
        self.send(_packet(0x82, struct.pack("!H", mid) + _utf8(topic) + bytes([qos])))
        return mid

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> int:
        mid = self.packet_id() if qos else 0
        self.send(_packet(0x30 | (qos << 1), _utf8(topic) + (struct.pack("!H", mid) if qos else b"") + payload))
        return mid

    def ping_if_due(self) -> None:
        if self.keepalive and time.monotonic() - self.last_out >= self.keepalive:
            self.send(b"\xc0\x00")

    def close(self) -> None:
        """DISCONNECT (a clean goodbye: no will), then close the socket."""
        try:
            if not self.closed:
                self.send(b"\xe0\x00")
        except (OSError, TimeoutError):
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    # -- receiving ---------------------------------------------------------

    def read(self, timeout: float) -> None:
        """Wait up to *timeout* for data, then read and dispatch everything
        the socket has now (a TLS socket's decrypted bytes included)."""
        sock = self.sock
        pending = getattr(sock, "pending", None)
        if not (pending and pending()):
            ready, _, _ = select.select([sock], [], [], max(0.0, timeout))
            if not ready:
                self.ping_if_due()
                return
        buf = self.buf
        while True:
            try:
                data = sock.recv(CHUNK)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            except ConnectionError:
                data = b""
            if not data:
                self.closed = True
                break
            buf += data
            if len(data) < CHUNK and not (pending and pending()):
                break
        self._parse()
        self.ping_if_due()

    def _parse(self) -> None:
        buf = self.buf
        size = len(buf)
        pos = 0
        on_publish = self.on_publish
        while size - pos >= 2:
            first = buf[pos]
            # Remaining length: 1 to 4 bytes, 7 bits each, low bits first.
            length = 0
            shift = 0
            i = pos + 1
            while True:
                if i >= size:
                    self._keep(pos)
                    return
                byte = buf[i]
                length |= (byte & 0x7F) << shift
                i += 1
                if not byte & 0x80:
                    break
                shift += 7
                if shift > 21:
                    raise ProtocolError("malformed remaining length")
            end = i + length
            if end > size:
                break
            kind = first >> 4
            if length < 2 and kind in (PUBLISH, SUBACK, PUBREL):
                raise ProtocolError(f"packet type {kind} of {length} bytes")
            if kind == PUBLISH:
                qos = (first >> 1) & 3
                tlen = (buf[i] << 8) | buf[i + 1]
                start = i + 2 + tlen
                topic = bytes(buf[i + 2:start]).decode("utf-8", "replace")
                if qos:
                    mid = buf[start:start + 2]
                    start += 2
                    self.send((b"\x40\x02" if qos == 1 else b"\x50\x02") + bytes(mid))
                on_publish(topic, bytes(buf[start:end]), bool(first & 1))
            elif kind == SUBACK:
                self.on_suback((buf[i] << 8) | buf[i + 1])
            elif kind == PUBREL:
                self.send(b"\x70\x02" + bytes(buf[i:i + 2]))
            pos = end
        self._keep(pos)

    def _keep(self, pos: int) -> None:
        if pos:
            del self.buf[:pos]
