"""The ``[fleet]`` section, broker URLs, topics and small parsers shared by
the seat agent and the site report (DESIGN.md section 9).

Topics, under ``topic_prefix`` (default ``diagnose``) and the site id:

- ``<prefix>/<site_id>/<seat>/report``  retained: the seat's last report
  (``diagnose.report/1`` plus a ``seat`` object);
- ``<prefix>/<site_id>/<seat>/status``  retained: ``{"state": "online",
  "time": ...}``; the broker publishes the will (``offline``) when the seat drops;
- ``<prefix>/<site_id>/<seat>/seen``    retained heartbeat ``{"time": ...}``
  every ``keepalive_s``: the will overwrites the status, so this is where the
  site report finds out when a dropped seat was last alive;
- ``<prefix>/<site_id>/cmd/run``        a run request (any payload; it is
  never parsed for a command, a path or anything else).
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
_SLUG = re.compile(r"[^a-z0-9]+")
# Topic levels we publish or accept: no MQTT wildcards, no separators, no
# control characters, bounded. Seat names come from the wire: untrusted.
_LEVEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class FleetError(ValueError):
    """A [fleet] setting that cannot work; the message names the key."""


def slug(text: str) -> str:
    return _SLUG.sub("-", text.lower()).strip("-")[:64]


def valid_level(name: str) -> bool:
    return bool(_LEVEL.match(name or ""))


def parse_interval(text: str | int | float) -> float:
    """``30s``, ``15m``, ``1h``, ``1d`` or plain seconds -> seconds."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*", str(text))
        if not m:
            raise FleetError(f"[fleet] interval {text!r}: expected a number and a unit, e.g. 30s, 15m or 1h")
        seconds = float(m[1]) * {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, None: 1}[m[2]]
    if seconds < 1:
        raise FleetError(f"[fleet] interval {text!r}: must be at least one second")
    return seconds


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    tls: bool

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_broker(url: str) -> Broker:
    """``mqtt://host[:port]`` or ``mqtts://host[:port]``. Credentials never
    go in the URL (they would end up in unit files and process lists)."""
    if not url:
        raise FleetError("[fleet] broker is not set: add broker = \"mqtt://HOST:1883\" (or pass --broker)")
    if "://" not in url:
        url = "mqtt://" + url
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS:
        raise FleetError(f"broker {url!r}: the scheme must be mqtt:// or mqtts://")
    if parts.username or parts.password:
        raise FleetError(f"broker URL must not carry a user or password; use [fleet] user and password_env")
    if not parts.hostname:
        raise FleetError(f"broker {url!r}: no host name")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise FleetError(f"broker {url!r}: the port is not a number from 1 to 65535") from None
    return Broker(unquote(parts.hostname), port, parts.scheme == "mqtts")


@dataclass(frozen=True)
class Fleet:
    """The resolved [fleet] settings of one machine."""

    broker: Broker | None
    user: str
    password_env: str
    ca_file: str
    site_id: str
    site_name: str
    seat: str
    interval_s: float
    keepalive_s: int
    room: str
    switch: str
    prefix: str
    lldp_socket: str
    max_report_bytes: int

    def topic(self, seat: str, leaf: str) -> str:
        return f"{self.prefix}/{self.site_id}/{seat}/{leaf}"

    @property
    def cmd_topic(self) -> str:
        return f"{self.prefix}/{self.site_id}/cmd/run"

    @property
    def site_filter(self) -> str:
        """Everything the site report subscribes to: every seat's topics."""
        return f"{self.prefix}/{self.site_id}/+/+"


def resolve(config: Any, broker_override: str | None = None, need_broker: bool = True) -> Fleet:
    """Build :class:`Fleet` from a loaded Config (``config.section``)."""
    sect = config.section("fleet")
    site = config.section("site")
    site_name = site.get("name") or ""
    site_id = sect.get("site_id") or slug(site_name) or "site"
    seat = sect.get("seat") or socket.gethostname().split(".")[0]
    prefix = sect.get("topic_prefix") or "diagnose"
    for key, value in (("site_id", site_id), ("seat", seat)):
        if not valid_level(value):
            raise FleetError(f"[fleet] {key} {value!r}: use letters, digits, '.', '_' or '-' "
                             "(it is a topic level; no spaces, '/', '+' or '#')")
    if not all(valid_level(p) for p in prefix.split("/")):
        raise FleetError(f"[fleet] topic_prefix {prefix!r}: levels of letters, digits, '.', '_' or '-'")
    url = broker_override or sect.get("broker") or ""
    broker = parse_broker(url) if (url or need_broker) else None
    keepalive = int(sect.get("keepalive_s") or 60)
    if keepalive < 1:
        raise FleetError("[fleet] keepalive_s must be at least 1")
    return Fleet(broker=broker, user=sect.get("user") or seat, password_env=sect.get("password_env") or "",
                 ca_file=sect.get("ca_file") or "", site_id=site_id, site_name=site_name, seat=seat,
                 interval_s=parse_interval(sect.get("interval") or "15m"), keepalive_s=keepalive,
                 room=sect.get("room") or "", switch=sect.get("switch") or "", prefix=prefix,
                 lldp_socket=sect.get("lldp_socket") or "",
                 max_report_bytes=int(sect.get("max_report_kb") or 1024) * 1024)
