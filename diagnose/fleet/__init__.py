"""The whole site at once: the seat agent that publishes its reports over MQTT,
and the site report that joins every seat's report into one.
"""

from __future__ import annotations

from diagnose.schema import Key

# The [fleet] section (diagnose.fleet.settings reads it). Kept here, with no
# other import, so that loading a config does not import the fleet's
# sockets, URL parsing and patterns.
FLEET_SCHEMA: dict[str, Key] = {
    "broker": Key(str, "", "MQTT broker: mqtt://host:port or mqtts://host:port (TLS)"),
    "user": Key(str, "", "broker login (default: the seat name)"),
    "password_env": Key(str, "", "environment variable holding the broker password"),
    "ca_file": Key(str, "", "CA certificate that signed the broker's (mqtts://); default: system CAs"),
    "site_id": Key(str, "", "site part of the topics; default: the [site] name as a slug"),
    "seat": Key(str, "", "this seat's name; default: the host name"),
    "interval": Key(str, "15m", "how often the agent runs the audit: 30s, 15m, 1h"),
    "keepalive_s": Key(int, 60, "MQTT keepalive: the broker declares a silent seat offline after 1.5x this"),
    "room": Key(str, "", "room or hall of this seat (Bluetooth congestion is judged per room)"),
    "switch": Key(str, "", "switch this seat hangs on; default: from LLDP, else the subnet"),
    "topic_prefix": Key(str, "diagnose", "first level of every topic"),
    "lldp_socket": Key(str, "", "lldpctl's control socket (lldpctl -u); default: lldpd's own"),
    "max_report_kb": Key(int, 1024, "the site report refuses seat reports larger than this"),
}
