"""The site report's buffered MQTT reader on a real socket pair: packets cut
at every byte boundary, remaining lengths of one to four bytes, QoS 1 and 2
messages acknowledged, keepalive pings, a malformed length refused. (With a
real broker, plain and TLS: tests/test_fleet_broker.py and the bench.)"""

from __future__ import annotations

import socket
import struct

import pytest

from diagnose.fleet.mqttread import ProtocolError, Stream, _packet


def publish(topic: str, payload: bytes, qos: int = 0, mid: int = 0, retain: bool = True) -> bytes:
    t = topic.encode()
    body = struct.pack("!H", len(t)) + t + (struct.pack("!H", mid) if qos else b"") + payload
    return _packet(0x30 | (qos << 1) | int(retain), body)


def suback(mid: int) -> bytes:
    return _packet(0x90, struct.pack("!H", mid) + b"\x00")


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    yield a, b
    a.close()
    b.close()


def _stream(sock, keepalive=60.0):
    got, subacks = [], []
    s = Stream(sock, keepalive, lambda t, p, r: got.append((t, p, r)), subacks.append)
    return s, got, subacks


def test_remaining_length_of_one_to_four_bytes():
    for n, size in ((0, 2), (127, 2), (128, 3), (16383, 3), (16384, 4), (2097151, 4), (2097152, 5)):
        assert len(_packet(0x30, b"x" * n)) == size + n


def test_every_packet_whatever_the_cuts(pair):
    a, b = pair
    big = bytes(range(256)) * 800  # 204800 bytes: a three-byte remaining length
    wire = (publish("d/s/ws-1/report", b'{"a":1}') + publish("d/s/ws-2/status", b"", retain=False)
            + suback(1) + publish("d/s/ws-3/report", big) + _packet(0xD0, b"") + suback(2)
            + publish("d/s/ws-ü/seen", b"{}"))
    for cut in (1, 2, 3, 7, 1000, len(wire)):
        s, got, subacks = _stream(a)
        for i in range(0, len(wire), cut):
            b.sendall(wire[i:i + cut])
            s.read(0)
        while len(got) < 4:
            s.read(1.0)
        assert got == [("d/s/ws-1/report", b'{"a":1}', True), ("d/s/ws-2/status", b"", False),
                       ("d/s/ws-3/report", big, True), ("d/s/ws-ü/seen", b"{}", True)]
        assert subacks == [1, 2] and not s.buf


def test_qos_1_and_2_messages_are_acknowledged(pair):
    a, b = pair
    s, got, _ = _stream(a)
    b.sendall(publish("t/1", b"one", qos=1, mid=0x1234) + publish("t/2", b"two", qos=2, mid=7)
              + _packet(0x62, struct.pack("!H", 7)))
    while len(got) < 2:
        s.read(1.0)
    assert got == [("t/1", b"one", True), ("t/2", b"two", True)]
    b.settimeout(5)
    assert b.recv(100) == b"\x40\x02\x12\x34" + b"\x50\x02\x00\x07" + b"\x70\x02\x00\x07"


def test_subscribe_publish_ping_and_disconnect_on_the_wire(pair):
    a, b = pair
    s, _, _ = _stream(a, keepalive=0.01)
    assert s.subscribe("diagnose/site/+/+") == 1
    assert s.publish("diagnose/site/cmd/run", b"run", qos=1) == 2
    b.settimeout(5)
    sub = b"\x82" + bytes([2 + 2 + 17 + 1]) + b"\x00\x01\x00\x11diagnose/site/+/+\x00"
    pub = b"\x32" + bytes([2 + 21 + 2 + 3]) + b"\x00\x15diagnose/site/cmd/run\x00\x02run"
    assert b.recv(100) == sub + pub
    s.last_out -= 1
    s.read(0)  # nothing to read, keepalive due: PINGREQ
    assert b.recv(100) == b"\xc0\x00"
    s.close()
    assert b.recv(100) == b"\xe0\x00"


def test_a_closed_connection_and_a_malformed_length(pair):
    a, b = pair
    s, got, _ = _stream(a)
    b.sendall(b"\x30\xff\xff\xff\xff\x01")
    with pytest.raises(ProtocolError):
        s.read(1.0)
    s2, _, _ = _stream(a)
    b.close()
    s2.read(1.0)
    assert s2.closed
