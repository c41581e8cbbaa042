"""MQTT plumbing shared by the seat agent and the site report: one paho
client per connection attempt, TLS from a CA file, the password from the
environment, and connection failures turned into sentences a technician
can act on. paho-mqtt is imported here only.
"""

from __future__ import annotations

import os
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from diagnose.fleet.settings import Broker, Fleet, FleetError

# CONNACK return codes of MQTT 3.1.1 (section 3.2.2.3) and the MQTT 5
# reason codes paho reports them as.
_BAD_LOGIN = "the broker refused the login: bad user name or password (or this user may not connect)"
CONNACK = {
    1: "the broker does not speak this MQTT protocol version",
    2: "the broker refused the client id",
    3: "the broker is unavailable",
    4: _BAD_LOGIN,
    5: _BAD_LOGIN,
    132: "the broker does not speak this MQTT protocol version",
    133: "the broker refused the client id",
    134: _BAD_LOGIN,
    135: _BAD_LOGIN,
    136: "the broker is unavailable",
}


class ConnectFailed(Exception):
    """Could not connect or log in; ``kind`` is tcp | tls | auth | timeout."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Credentials:
    user: str
    password: str | None


def credentials(fleet: Fleet, env: dict[str, str] | None = None) -> Credentials:
    env = os.environ if env is None else env
    password = None
    if fleet.password_env:
        password = env.get(fleet.password_env)
        if password is None:
            raise FleetError(f"[fleet] password_env names {fleet.password_env}, which is not set in the "
                             "environment (for the service: EnvironmentFile= in its unit)")
    return Credentials(fleet.user, password)


def new_client(client_id: str, fleet: Fleet, creds: Credentials) -> Any:
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True,
                         protocol=mqtt.MQTTv311)
    if creds.user:
        client.username_pw_set(creds.user, creds.password)
    broker = fleet.broker
    if broker is not None and broker.tls:
        if fleet.ca_file and not os.path.isfile(fleet.ca_file):
            raise FleetError(f"[fleet] ca_file {fleet.ca_file}: no such file")
        client.tls_set(ca_certs=fleet.ca_file or None, cert_reqs=ssl.CERT_REQUIRED,
                       tls_version=ssl.PROTOCOL_TLS_CLIENT)
    # Large seat reports must not stall the loop thread on a slow link.
    client.max_inflight_messages_set(20)
    return client


def _rc_value(rc: Any) -> int:
    value = getattr(rc, "value", rc)
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def describe_connack(rc: Any) -> str:
    code = _rc_value(rc)
    if code in CONNACK:
        return CONNACK[code]
    return f"the broker refused the connection ({rc})"


def connect(client: Any, broker: Broker, keepalive: int, timeout: float = 10.0, threaded: bool = True) -> None:
    """Connect and wait for the broker's answer; :class:`ConnectFailed`
    otherwise. Leaves the client's network loop running on success; with
    *threaded* False there is no loop thread: the caller reads the socket
    (:mod:`diagnose.fleet.mqttread`) and closes it."""
    answered = threading.Event()
    result: dict[str, Any] = {}

    def on_connect(_c: Any, _u: Any, _flags: Any, rc: Any, _props: Any = None) -> None:
        result["rc"] = rc
        answered.set()

    client.on_connect = on_connect
    try:
        client.connect(broker.host, broker.port, keepalive=keepalive)
    except ssl.SSLCertVerificationError as exc:
        raise ConnectFailed("tls", f"TLS: the broker's certificate was not accepted "
                                   f"({exc.verify_message or exc.reason}); check [fleet] ca_file") from None
    except ssl.SSLError as exc:
        raise ConnectFailed("tls", f"TLS handshake with {broker} failed: {exc.reason or exc}") from None
    except (OSError, ValueError) as exc:
        why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise ConnectFailed("tcp", f"cannot reach the broker {broker}: {why}") from None
    if threaded:
        client.loop_start()
    else:
        end = time.monotonic() + timeout
        while not answered.is_set() and time.monotonic() < end and client.socket() is not None:
            client.loop(0.05)
    if not answered.wait(timeout if threaded else 0):
        client.loop_stop()
        _close(client)
        raise ConnectFailed("timeout", f"the broker {broker} did not answer the login within {timeout:g}s "
                                       "(a TLS port spoken to without TLS, or the other way round?)")
    rc = result["rc"]
    if getattr(rc, "is_failure", _rc_value(rc) != 0):
        client.loop_stop()
        _close(client)
        raise ConnectFailed("auth", describe_connack(rc))


def _close(client: Any) -> None:
    try:
        client.disconnect()
    except Exception:  # noqa: BLE001 - closing a dead socket
        pass
    sock = client.socket()
    if sock is not None:
        try:
            sock.close()
        except OSError:
            pass


def close(client: Any) -> None:
    """A clean goodbye: DISCONNECT goes out through the loop thread before
    the socket closes (a socket closed first would fire the will)."""
    try:
        client.disconnect()
    except Exception:  # noqa: BLE001 - already gone
        pass
    client.loop_stop()
    _close(client)


def wait(pred: Callable[[], bool], timeout: float, step: float = 0.02) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()
