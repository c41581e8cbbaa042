"""bluetooth.interference side by side with what a technician types instead.

The radio world is the test rig's "eight headsets in range" (python-dbusmock
bluez5 on a private dbus-daemon, see tests/rigs/bluez.py). Figures, medians
of several runs:

- the whole CLI (`diagnose run --only bluetooth.interference --format json`)
  against the manual route with bluetoothctl: `show` for the adapter,
  `devices`, then `info` for each device to read Connected/Icon/RSSI;
- the probe alone, in process, against one raw `busctl` GetManagedObjects
  call, the floor of reading BlueZ at all.

Needs root-free tools only: dbus-daemon, python-dbusmock, bluetoothctl
(bluez), busctl (systemd).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from common import diagnose_exe, row, time_cmd, time_fn, time_pair  # noqa: E402

from tests.rigs.bluez import eight_in_range, running_bluez, running_system_bus  # noqa: E402


def main() -> int:
    missing = [t for t in ("dbus-daemon", "bluetoothctl", "busctl") if not shutil.which(t)]
    if missing:
        print(f"skipped: needs {', '.join(missing)}")
        return 0
    with tempfile.TemporaryDirectory(prefix="dgbt-bench-") as tmp:
        with running_system_bus(Path(tmp)) as bus, running_bluez(bus) as mock:
            eight_in_range(mock)
            env = dict(bus.env, PULSE_SERVER="")
            cfg = Path(tmp) / "site.toml"
            cfg.write_text('[site]\nrole = "workstation"\n[bluetooth]\n')
            addrs = ["00:1B:66:A1:00:01"] + [f"41:42:00:00:00:0{n}" for n in range(2, 9)]
            manual = "bluetoothctl show >/dev/null; bluetoothctl devices >/dev/null; " + "; ".join(
                f"bluetoothctl info {a} >/dev/null" for a in addrs)
            ours, theirs = time_pair([diagnose_exe(), "run", "--config", str(cfg), "--only",
                                      "bluetooth.interference", "--format", "json"],
                                     ["sh", "-c", manual], runs=7, env=env)
            row("8 headsets: diagnose run (whole CLI)", ours, theirs, "bluetoothctl x10")

            os.environ.update(bus.env)
            from diagnose.checks.bluetooth.check import BluetoothInterference
            from diagnose.check import section_config
            from diagnose.host import Host

            check = BluetoothInterference()
            probe = time_fn(lambda: check.probe(Host(), section_config(check, {})), runs=7)
            raw = time_cmd(["busctl", "--system", "call", "org.bluez", "/",
                            "org.freedesktop.DBus.ObjectManager", "GetManagedObjects"], runs=7, env=env)
            row("8 headsets: probe in process (BlueZ+btmgmt+audio+Wi-Fi)", probe, raw, "busctl GetManagedObjects")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
