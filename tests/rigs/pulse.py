"""A real PulseAudio for audio.settings tests.

What works here (as root, no desktop session, no sound card):

- ``pulseaudio -n --daemonize=no`` in the foreground, so the test owns the
  pid and stops it by pid; ``-n`` skips default.pa (no udev/ALSA detection,
  no X11/D-Bus modules), ``--exit-idle-time=-1`` keeps it up without clients.
- It runs as root without ``--system`` (it only warns), with its own
  XDG_RUNTIME_DIR and HOME in a temp dir: socket at <dir>/pulse/native,
  cookie at <dir>/.config/pulse/cookie.
- Devices are ``module-null-sink`` and ``module-null-source``. PulseAudio 16's
  null source takes no ``source_properties``, so each microphone is a
  ``module-remap-source`` on top of a null source, which does. The
  properties give one pair what an ALSA USB headset has (device.bus=usb,
  device.vendor.id, device.form_factor=headset), the other what built-in
  analog audio has.
- ``as_uid`` runs the server as another (unused) uid through ``setpriv``, the
  way a desktop user's server runs while diagnose runs as root from cron.

Names contain ``dgaudio`` and the test process's pid, so parallel runs by
other engineers on this machine do not collide.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

import pytest

HEADSET_DESC = "Jabra EVOLVE 65 Analog Stereo"
HEADSET_MIC_DESC = "Jabra EVOLVE 65 Mono"
BUILTIN_DESC = "Built-in Audio Analog Stereo"


def _props(desc: str, headset: bool) -> str:
    if headset:
        extra = ("device.bus=usb device.vendor.id=0b0e device.product.id=0311 "
                 "device.form_factor=headset device.bus_path=pci-0000:00:14.0-usb-0:2:1.0")
    else:
        extra = "device.bus=pci device.form_factor=internal"
    return f"'device.description=\"{desc}\" {extra}'"


@dataclass
class PulseRig:
    dir: str
    proc: subprocess.Popen
    tag: str
    uid: int = 0
    names: dict[str, str] = field(default_factory=dict)

    @property
    def socket(self) -> str:
        return os.path.join(self.dir, "pulse", "native")

    @property
    def env(self) -> dict[str, str]:
        """Environment of a process in this server's session."""
        return {"XDG_RUNTIME_DIR": self.dir, "HOME": self.dir, "PULSE_SERVER": ""}

    def set(self, kind: str, key: str, *, mute: bool | None = None, volume: str | None = None,
            default: bool = False) -> None:
        """Change a device the way a user in the sound settings would
        (*volume* as pactl takes it: "0%", "35%")."""
        name = self.names[key]
        steps = []
        if mute is not None:
            steps.append([f"set-{kind}-mute", name, "1" if mute else "0"])
        if volume is not None:
            steps.append([f"set-{kind}-volume", name, volume])
        if default:
            steps.append([f"set-default-{kind}", name])
        for step in steps:
            res = self.pactl(*step)
            if res.returncode != 0:
                raise RuntimeError(f"pactl {' '.join(step)}: {res.stderr}")

    def pactl(self, *args: str) -> subprocess.CompletedProcess:
        env = dict(os.environ, PULSE_SERVER=f"unix:{self.socket}")
        if self.uid:
            env["PULSE_COOKIE"] = os.path.join(self.dir, ".config", "pulse", "cookie")
        return subprocess.run(["pactl", *args], env=env, capture_output=True, text=True, timeout=10)


def start(tag: str, uid: int = 0) -> PulseRig:
    d = tempfile.mkdtemp(prefix=f"dgaudio-{os.getpid()}-{tag}-")
    names = {
        "headset_sink": f"dgaudio_{os.getpid()}_{tag}_headset",
        "headset_source": f"dgaudio_{os.getpid()}_{tag}_headset_mic",
        "builtin_sink": f"dgaudio_{os.getpid()}_{tag}_builtin",
        "builtin_source": f"dgaudio_{os.getpid()}_{tag}_builtin_mic",
        "raw_source": f"dgaudio_{os.getpid()}_{tag}_raw",
    }
    argv = [
        "pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
        "--disable-shm=yes", "--log-target=stderr",
        "--load=module-native-protocol-unix",
        f"--load=module-null-sink sink_name={names['builtin_sink']} "
        f"sink_properties={_props(BUILTIN_DESC, False)}",
        f"--load=module-null-sink sink_name={names['headset_sink']} "
        f"sink_properties={_props(HEADSET_DESC, True)}",
        f"--load=module-null-source source_name={names['raw_source']} description=Rig_signal",
        f"--load=module-remap-source master={names['raw_source']} "
        f"source_name={names['builtin_source']} "
        f"source_properties={_props('Built-in Audio Microphone', False)}",
        f"--load=module-remap-source master={names['raw_source']} "
        f"source_name={names['headset_source']} "
        f"source_properties={_props(HEADSET_MIC_DESC, True)}",
    ]
    if uid:
        os.chown(d, uid, uid)
        argv = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *argv]
    env = dict(os.environ, XDG_RUNTIME_DIR=d, HOME=d)
    env.pop("PULSE_SERVER", None)
    log = open(os.path.join(d, "pulseaudio.log"), "w")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=log, start_new_session=True)
    log.close()
    rig = PulseRig(d, proc, tag, uid, names)
    try:
        _wait_ready(rig)
        rig.set("sink", "headset_sink", default=True)
        rig.set("source", "headset_source", default=True)
    except BaseException:
        stop(rig)
        raise
    return rig


def _wait_ready(rig: PulseRig) -> None:
    deadline = time.monotonic() + 10
    while True:
        if rig.proc.poll() is not None:
            text = open(os.path.join(rig.dir, "pulseaudio.log")).read()
            raise RuntimeError(f"pulseaudio exited with {rig.proc.returncode}: {text[-2000:]}")
        if os.path.exists(rig.socket) and rig.pactl("info").returncode == 0:
            if rig.pactl("list", "short", "sources").stdout.count(rig.names["headset_source"]) >= 1:
                return
            text = open(os.path.join(rig.dir, "pulseaudio.log")).read()
            raise RuntimeError(f"pulseaudio did not load the rig's devices: {text[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError("pulseaudio did not come up within 10 s")
        time.sleep(0.05)


def stop(rig: PulseRig) -> None:
    if rig.proc.poll() is None:
        rig.proc.send_signal(signal.SIGTERM)
        try:
            rig.proc.wait(5)
        except subprocess.TimeoutExpired:
            rig.proc.kill()
            rig.proc.wait(5)
    shutil.rmtree(rig.dir, ignore_errors=True)


@pytest.fixture
def pulse_rig():
    """PulseAudio with a USB-headset-like sink/source pair (the defaults)
    and a built-in pair, all at 100 % and unmuted."""
    rig = start("ws")
    try:
        yield rig
    finally:
        stop(rig)


@pytest.fixture
def desktop_pulse_rig():
    """The same server run as an unused uid, as a desktop user's would be."""
    uid = 61000 + os.getpid() % 3000
    rig = start("user", uid=uid)
    try:
        yield rig
    finally:
        stop(rig)
