"""Rig for bluetooth.interference: BlueZ as python-dbusmock's ``bluez5``
template on a private system bus (a real ``dbus-daemon`` this rig starts).

The check reads the bus named by ``DBUS_SYSTEM_BUS_ADDRESS`` with dbus-fast,
exactly as it reads the machine's real system bus; the test drives the mock
(adapters, devices, their RSSI/Connected/Icon) through the mock's own D-Bus
API, whose ``UpdateProperties`` keeps the D-Bus types BlueZ uses (RSSI is an
int16, Class a uint32). Every process is stopped by its pid, the bus socket
lives in the test's temporary directory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""

# Class of Device (Bluetooth Assigned Numbers, "Baseband"): service bits
# Rendering (bit 18) and Audio (bit 21), major class 0x04 Audio/Video,
# minor 0x01 "Wearable Headset Device" -> 0x240404.
HEADSET_CLASS = 0x240404
PHONE_CLASS = 0x5A020C


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class SystemBus:
    """A private dbus-daemon configured as a system bus."""

    address: str
    pid: int

    @property
    def env(self) -> dict[str, str]:
        return {"DBUS_SYSTEM_BUS_ADDRESS": self.address}


@dataclass
class BlueZMock:
    """The bluez5 mock on a private bus, and helpers to shape its radio world."""

    bus: SystemBus
    pid: int
    _conn: object = field(repr=False, default=None)

    def _iface(self, path: str, iface: str):
        import dbus

        return dbus.Interface(self._conn.get_object("org.bluez", path), iface)

    def add_adapter(self, name: str = "hci0", alias: str = "dgbt-ws") -> str:
        return str(self._iface("/", "org.bluez.Mock").AddAdapter(name, alias))

    def set_adapter(self, name: str = "hci0", **props) -> None:
        self.update(f"/org/bluez/{name}", "org.bluez.Adapter1", props)

    def add_device(self, address: str, name: str, adapter: str = "hci0", *, icon: str = "audio-headset",
                   cls: int = HEADSET_CLASS, rssi: int = -79, connected: bool = False,
                   paired: bool = False) -> str:
        """A device as BlueZ lists it after a discovery saw it (RSSI set)."""
        path = str(self._iface("/", "org.bluez.Mock").AddDevice(adapter, address, name))
        self.update(path, "org.bluez.Device1", {"Icon": icon, "Class": cls, "RSSI": rssi,
                                                "Connected": connected, "Paired": paired})
        return path

    def update(self, path: str, iface: str, props: dict) -> None:
        import dbus

        typed = {}
        for k, v in props.items():
            if isinstance(v, bool):
                typed[k] = dbus.Boolean(v)
            elif k == "RSSI" or k == "TxPower":
                typed[k] = dbus.Int16(v)
            elif k == "Class":
                typed[k] = dbus.UInt32(v)
            else:
                typed[k] = v
        self._iface(path, "org.freedesktop.DBus.Mock").UpdateProperties(iface, typed)


def _wait_for_socket(path: Path, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 10
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start (rc={proc.poll()})")
        time.sleep(0.02)


@contextlib.contextmanager
def running_system_bus(folder: Path) -> Iterator[SystemBus]:
    """A private dbus-daemon configured as a system bus, socket in *folder*."""
    sock = folder / f"dgbt-bus-{os.getpid()}"
    conf = folder / "bus.conf"
    conf.write_text(BUS_CONFIG.format(socket=sock))
    proc = subprocess.Popen(["dbus-daemon", f"--config-file={conf}", "--nofork", "--nopidfile"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for_socket(sock, proc, "dbus-daemon")
        yield SystemBus(f"unix:path={sock}", proc.pid)
    finally:
        _stop(proc)


@contextlib.contextmanager
def running_bluez(bus: SystemBus) -> Iterator[BlueZMock]:
    """The dbusmock bluez5 template serving org.bluez on *bus*, no adapters yet."""
    import dbus

    env = dict(os.environ, **bus.env)
    proc = subprocess.Popen([sys.executable, "-m", "dbusmock", "--system", "--template", "bluez5"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    conn = dbus.bus.BusConnection(bus.address)
    try:
        deadline = time.monotonic() + 10
        while not conn.name_has_owner("org.bluez"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dbusmock bluez5 did not start: {proc.stderr.read().decode()[-500:]}")
            time.sleep(0.02)
        yield BlueZMock(bus, proc.pid, conn)
    finally:
        conn.close()
        _stop(proc)


@pytest.fixture
def system_bus(tmp_path):
    """A private system bus; yields its address. No org.bluez on it yet."""
    with running_system_bus(tmp_path) as bus:
        yield bus


@pytest.fixture
def bluez(system_bus):
    """BlueZ (dbusmock bluez5 template) on the private system bus, no adapters yet."""
    with running_bluez(system_bus) as mock:
        yield mock


# -- radio worlds the tests and the benchmark build ---------------------------

HEADSET = "00:1B:66:A1:00:01"


def healthy(mock: BlueZMock) -> None:
    mock.add_adapter()
    mock.add_device(HEADSET, "Jabra Evolve2 65", connected=True, paired=True, rssi=-52)
    mock.add_device("5C:F3:70:00:00:09", "Pixel 7", icon="phone", cls=PHONE_CLASS, rssi=-70)


def weak(mock: BlueZMock) -> None:
    mock.add_adapter()
    mock.add_device(HEADSET, "Jabra Evolve2 65", connected=True, paired=True, rssi=-84)


def eight_in_range(mock: BlueZMock) -> None:
    mock.add_adapter()
    mock.add_device(HEADSET, "Jabra Evolve2 65", connected=True, paired=True, rssi=-55)
    for n in range(2, 9):
        mock.add_device(f"41:42:00:00:00:0{n}", f"BT-H{n} Wireless Headset", rssi=-58 - 3 * n)


def powered_off(mock: BlueZMock) -> None:
    mock.add_adapter()
    mock.add_device(HEADSET, "Jabra Evolve2 65", paired=True)
    mock.set_adapter("hci0", Powered=False)


def unapproved(mock: BlueZMock) -> None:
    mock.add_adapter()
    mock.add_device("E8:07:BF:00:00:31", "SoundPEATS Q30", connected=True, paired=True, rssi=-60)


@pytest.fixture
def pulse_server(tmp_path):
    """A real PulseAudio with one null sink and no Bluetooth card, on its own
    runtime dir; yields its server string for PULSE_SERVER."""
    runtime = tmp_path / f"dgbt-pulse-{os.getpid()}"
    runtime.mkdir(mode=0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), HOME=str(tmp_path))
    proc = subprocess.Popen(
        ["pulseaudio", "--daemonize=no", "--exit-idle-time=-1", "-n", "--use-pid-file=no",
         "--disable-shm", "--load=module-native-protocol-unix",
         f"--load=module-null-sink sink_name=dgbt_{os.getpid()}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_socket(runtime / "pulse" / "native", proc, "pulseaudio")
        yield f"unix:{runtime}/pulse/native"
    finally:
        _stop(proc)
