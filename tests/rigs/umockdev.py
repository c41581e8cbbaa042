"""USB headsets without hardware: umockdev testbeds.

The descriptions under tests/data/umockdev/*.umockdev are in
``umockdev-record`` format, each device listed child first: the sound card
(with its pcm playback/capture nodes), the USB interface (bInterfaceClass=01,
driver snd-usb-audio), the HID interface with its report descriptor, the USB
device (idVendor/idProduct/product) and the host controller.

``umockdev-run --device FILE -- cmd`` runs *cmd* with libudev, /sys and /dev
redirected into a temporary testbed, so pyudev sees exactly those devices and
nothing of the real machine; ``umockdev-run -- cmd`` with no device is a PC
with the headset unplugged. umockdev-run deletes its testbed itself when the
command ends; the testbed's path is in $UMOCKDEV_DIR for the command, which
is how :meth:`Umockdev.record_tree` copies it out as a recorded /sys tree.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import DATA

DEVICES = DATA / "umockdev"


class Umockdev:
    def device(self, name: str) -> Path:
        path = DEVICES / f"{name}.umockdev"
        assert path.is_file(), f"no testbed description {path}"
        return path

    def prefix(self, *names: str) -> list[str]:
        """argv prefix that runs a command in a testbed holding *names*."""
        argv = ["umockdev-run"]
        for n in names:
            argv += ["--device", str(self.device(n))]
        return argv + ["--"]

    def record_tree(self, dest: Path, *names: str) -> Path:
        """Copy the testbed's /sys to *dest*/sys, as a technician's recorded
        tree would hold it (for ``diagnose run --root``)."""
        dest.mkdir(parents=True, exist_ok=True)
        subprocess.run(self.prefix(*names) + ["sh", "-c", 'cp -a "$UMOCKDEV_DIR/sys" "$0"', str(dest)],
                       check=True, timeout=30)
        return dest


@pytest.fixture
def umockdev():
    if shutil.which("umockdev-run") is None:
        pytest.skip("needs umockdev (scripts/test-packages.txt)")
    return Umockdev()
