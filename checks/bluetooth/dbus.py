"""Probe side, D-Bus: the adapters and devices BlueZ knows, read with dbus-fast.

The D-Bus part runs in its own event loop under a time limit, so a hung
bluetoothd cannot hold up the run.
"""

from __future__ import annotations

import os
import re
from typing import Any

from diagnose.checks.bluetooth.common import AUDIO_UUIDS, BLUEZ, DBUS_TIMEOUT_S
from diagnose.i18n import _


def _unvariant(value: Any) -> Any:
    """dbus-fast Variants (possibly nested) to plain JSON-able values."""
    value = getattr(value, "value", value)
    if isinstance(value, dict):
        return {str(k): _unvariant(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_unvariant(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return value


async def _call(bus, path: str, iface: str, member: str, signature: str = "", body: list | None = None,
                dest: str = BLUEZ):
    from dbus_fast import Message, MessageFlag, MessageType

    # NO_AUTOSTART: asking must never start bluetoothd through bus activation.
    reply = await bus.call(Message(destination=dest, path=path, interface=iface, member=member,
                                   signature=signature, body=body or [],
                                   flags=MessageFlag.NO_AUTOSTART))
    if reply.message_type == MessageType.ERROR:
        text = " ".join(map(str, reply.body)).strip().splitlines()
        raise RuntimeError(f"{iface}.{member}: {reply.error_name}: {text[-1] if text else ''}"[:300])
    return reply.body


async def _has_bluez(bus) -> bool:
    body = await _call(bus, "/org/freedesktop/DBus", "org.freedesktop.DBus", "NameHasOwner", "s",
                       [BLUEZ], dest="org.freedesktop.DBus")
    return bool(body[0])


def _run_dbus(host, what: str, fn, timeout: float):
    """Run ``fn(bus)`` on a fresh system-bus connection inside its own event
    loop (probes run in worker threads, which have none)."""
    import asyncio

    host.require_live(what)

    async def main():
        from dbus_fast import BusType
        from dbus_fast.aio import MessageBus

        bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        try:
            return await fn(bus)
        finally:
            bus.disconnect()

    async def bounded():
        return await asyncio.wait_for(main(), timeout)

    return asyncio.run(bounded())


def bluez_absent_reason(host) -> str | None:
    """Why the check cannot ask BlueZ here, or None when org.bluez is on the bus.

    ``diagnose list`` asks this of every check, so it avoids importing
    dbus-fast: no socket means no bus, and dbus-send (shipped with the bus
    daemon) answers NameHasOwner for a few milliseconds; dbus-fast is the
    fallback where dbus-send is missing.
    """
    where = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or "unix:path=/run/dbus/system_bus_socket"
    sock = re.match(r"unix:path=([^,;]+)", where)
    if sock and not host.exists(sock.group(1)):
        return _("there is no D-Bus system bus here (no socket {socket}), so BlueZ cannot be asked; "
                 "install and start dbus and bluez", socket=sock.group(1))

    def unreachable(error: str) -> str:
        return _("the D-Bus system bus at {address} cannot be reached ({error}), so BlueZ cannot be asked; "
                 "check `systemctl status dbus`", address=where, error=error)
    if host.which("dbus-send"):
        r = host.run(["dbus-send", "--system", "--print-reply", "--dest=org.freedesktop.DBus",
                      "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", "string:" + BLUEZ],
                     timeout=2)
        if not r.ok:
            return unreachable((r.stderr or "no answer within 2s").strip()[-200:])
        # The reply's body is printed as "   boolean true" / "   boolean false".
        running = re.search(r"^\s*boolean true\s*$", r.stdout, re.M) is not None
    else:
        try:
            running = _run_dbus(host, "asking D-Bus for BlueZ", _has_bluez, 2.0)
        except (OSError, TimeoutError, RuntimeError, EOFError, ValueError) as exc:
            return unreachable(f"{type(exc).__name__}: {exc}")
    if not running:
        return _("BlueZ is not running: nothing owns org.bluez on the system bus "
                 "(start it with `systemctl start bluetooth`; install the bluez package if missing)")
    return None


def bluez_objects(host, discovery_s: float) -> dict[str, Any]:
    """Adapters and devices BlueZ knows, after an optional discovery window."""

    import asyncio

    async def read(bus):
        objects = (await _call(bus, "/", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects"))[0]
        discovery: dict[str, Any] = {"window_s": discovery_s, "ran": False, "adapters": [], "error": None}
        powered = [p for p, ifs in objects.items()
                   if "org.bluez.Adapter1" in ifs and _unvariant(ifs["org.bluez.Adapter1"].get("Powered"))]
        if discovery_s > 0 and powered:
            try:
                for path in powered:
                    # An empty filter is this client's own "no filter" (BR/EDR
                    # and LE); BlueZ drops it with our discovery session.
                    await _call(bus, path, "org.bluez.Adapter1", "SetDiscoveryFilter", "a{sv}", [{}])
                    await _call(bus, path, "org.bluez.Adapter1", "StartDiscovery")
                    discovery["adapters"].append(path.rsplit("/", 1)[-1])
                await asyncio.sleep(discovery_s)
                objects = (await _call(bus, "/", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects"))[0]
                discovery["ran"] = True
            except RuntimeError as exc:
                discovery["error"] = str(exc)
            finally:
                for path in powered:
                    try:
                        await _call(bus, path, "org.bluez.Adapter1", "StopDiscovery")
                    except RuntimeError:
                        pass  # not discovering (StartDiscovery failed): nothing to stop
        return objects, discovery

    objects, discovery = _run_dbus(host, "reading BlueZ over D-Bus", read, DBUS_TIMEOUT_S + discovery_s)
    adapters, devices = [], []
    for path, ifaces in sorted(objects.items()):
        if "org.bluez.Adapter1" in ifaces:
            a = _unvariant(ifaces["org.bluez.Adapter1"])
            adapters.append({"name": path.rsplit("/", 1)[-1], "path": path, "address": a.get("Address"),
                             "alias": a.get("Alias"), "powered": bool(a.get("Powered")),
                             "discovering": bool(a.get("Discovering"))})
        if "org.bluez.Device1" in ifaces:
            d = _unvariant(ifaces["org.bluez.Device1"])
            adapter = str(d.get("Adapter") or path.rsplit("/", 1)[0]).rsplit("/", 1)[-1]
            devices.append({
                "address": d.get("Address"), "name": d.get("Alias") or d.get("Name") or d.get("Address"),
                "adapter": adapter, "address_type": d.get("AddressType"), "icon": d.get("Icon"),
                "class": d.get("Class"), "modalias": d.get("Modalias"),
                "connected": bool(d.get("Connected")), "paired": bool(d.get("Paired")),
                "trusted": bool(d.get("Trusted")),
                "audio_profiles": sorted({AUDIO_UUIDS[u] for u in d.get("UUIDs") or [] if u in AUDIO_UUIDS}),
                "tx_power": d.get("TxPower"),
                "readings": {"device1": d.get("RSSI")},
            })
    return {"bluez": {"running": True}, "adapters": adapters, "devices": devices, "discovery": discovery}
