"""audio.settings against a real PulseAudio (tests/rigs/pulse.py), through the
real CLI, and its parsers and judge from recorded scenarios."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess

import pytest

from diagnose.checks.audio.check import AudioSettings, parse_amixer
from diagnose.check import section_config
from tests.conftest import needs_root, run_cli
from tests.rigs.pulse import BUILTIN_DESC, HEADSET_DESC, HEADSET_MIC_DESC
from tests.rigs.pulse import desktop_pulse_rig, pulse_rig  # noqa: F401 - fixtures

pytestmark = pytest.mark.skipif(shutil.which("pulseaudio") is None,
                                reason="needs pulseaudio (scripts/test-packages.txt)")


def write_config(tmp_path, audio: str = "") -> str:
    cfg = tmp_path / "diagnose.toml"
    cfg.write_text(f'[site]\nrole = "workstation"\n[audio]\n{audio}\n')
    return str(cfg)


def run_audio(tmp_path, env: dict, audio: str = "", prefix: list[str] | None = None):
    proc = run_cli("run", "--config", write_config(tmp_path, audio), "--only", "audio.settings",
                   "--format", "json", env=env, prefix=prefix, timeout=60)
    assert proc.stdout, proc.stderr
    report = json.loads(proc.stdout)
    return proc.returncode, report, {f["subject"]: f for f in report["findings"]}


def test_normal_settings_are_ok(tmp_path, pulse_rig):
    rc, report, found = run_audio(tmp_path, pulse_rig.env)
    assert rc == 0, report
    mic, spk = found["microphone"], found["speaker"]
    assert mic["status"] == spk["status"] == "ok"
    assert HEADSET_MIC_DESC in mic["title"] and "100%" in mic["title"]
    assert HEADSET_DESC in spk["title"]
    assert mic["evidence"]["is_headset"] is True
    assert mic["evidence"]["device"]["name"] == pulse_rig.names["headset_source"]
    assert mic["evidence"]["via"] == "XDG_RUNTIME_DIR"


def test_muted_microphone_is_a_site_fault_and_the_remedy_fixes_it(tmp_path, pulse_rig):
    pulse_rig.set("source", "headset_source", mute=True)
    rc, _, found = run_audio(tmp_path, pulse_rig.env)
    assert rc == 2
    mic = found["microphone"]
    assert (mic["status"], mic["fault"]) == ("fail", "site")
    assert mic["title"].startswith("Sound settings changed on this workstation")
    assert "muted" in mic["title"]
    assert mic["evidence"]["device"]["mute"] is True
    command = f"pactl set-source-mute {pulse_rig.names['headset_source']} 0"
    assert command in mic["steps"][0]["command"].split("; ")  # a step's command, pasteable
    assert found["speaker"]["status"] == "ok"

    # A technician follows the remedy word for word; the next run is clean.
    assert pulse_rig.pactl(*shlex.split(command)[1:]).returncode == 0
    rc, _, found = run_audio(tmp_path, pulse_rig.env)
    assert rc == 0 and found["microphone"]["status"] == "ok"


def test_speaker_volume_zero_is_a_site_fault(tmp_path, pulse_rig):
    pulse_rig.set("sink", "headset_sink", volume="0%")
    rc, _, found = run_audio(tmp_path, pulse_rig.env)
    assert rc == 2
    spk = found["speaker"]
    assert (spk["status"], spk["fault"]) == ("fail", "site")
    assert "volume 0%" in spk["title"]
    assert f"pactl set-sink-volume {pulse_rig.names['headset_sink']} 100%" in spk["steps"][0]["command"].split("; ")
    assert spk["evidence"]["device"]["volume"] == [0, 0]


def test_near_zero_follows_the_configured_threshold(tmp_path, pulse_rig):
    pulse_rig.set("source", "headset_source", volume="15%")
    rc, _, found = run_audio(tmp_path, pulse_rig.env)
    assert rc == 0 and found["microphone"]["status"] == "ok"
    rc, _, found = run_audio(tmp_path, pulse_rig.env, audio="min_volume_percent = 20")
    assert rc == 2 and "volume 15%" in found["microphone"]["title"]


def test_default_moved_off_the_headset(tmp_path, pulse_rig):
    pulse_rig.set("sink", "builtin_sink", default=True)
    rc, _, found = run_audio(tmp_path, pulse_rig.env)
    assert rc == 2
    spk = found["speaker"]
    assert (spk["status"], spk["fault"]) == ("fail", "site")
    assert f"moved off the headset to {BUILTIN_DESC}" in spk["title"]
    assert BUILTIN_DESC in spk["detail"]
    assert f"pactl set-default-sink {pulse_rig.names['headset_sink']}" in spk["steps"][0]["command"].split("; ")
    assert spk["evidence"]["default"] == pulse_rig.names["builtin_sink"]


def test_monitor_as_default_microphone(tmp_path, pulse_rig):
    monitor = pulse_rig.names["headset_sink"] + ".monitor"
    assert pulse_rig.pactl("set-default-source", monitor).returncode == 0
    rc, _, found = run_audio(tmp_path, pulse_rig.env)
    assert rc == 2
    mic = found["microphone"]
    assert "monitor of" in mic["detail"] and mic["fault"] == "site"
    assert f"pactl set-default-source {pulse_rig.names['headset_source']}" in mic["remedy"]


def test_headset_named_in_config_wins(tmp_path, pulse_rig):
    """Sites with an unknown headset brand name it; the built-in mic then is
    'not the headset'."""
    pulse_rig.set("source", "builtin_source", default=True)
    rc, _, found = run_audio(tmp_path, pulse_rig.env, audio='headset = "Built-in Audio Microphone"')
    assert rc == 0, found["microphone"]["title"]
    assert found["microphone"]["evidence"]["is_headset"] is True


def test_dead_sound_server_is_reported_not_skipped(tmp_path, pulse_rig):
    # SIGKILL leaves the socket behind: a crashed server.
    pulse_rig.proc.kill()
    pulse_rig.proc.wait(5)
    assert os.path.exists(pulse_rig.socket)
    rc, _, found = run_audio(tmp_path, pulse_rig.env)
    assert rc == 2
    f = found["sound-server"]
    assert (f["status"], f["fault"]) == ("fail", "undetermined")
    assert "restart" in f["remedy"] and "Connection refused" in f["detail"]
    assert f["evidence"]["tried"][0]["address"] == f"unix:{pulse_rig.socket}"


def _private_run_user(uid: int, runtime_dir: str, passwd: str) -> list[str]:
    """Run the CLI in a private mount namespace where /run/user/<uid> is the
    rig's runtime dir and /etc/passwd knows the uid, as on a desktop."""
    script = (f"mount -t tmpfs dgaudio /run && mkdir -p /run/user/{uid} && "
              f"mount --bind {shlex.quote(runtime_dir)} /run/user/{uid} && "
              f"mount --bind {shlex.quote(passwd)} /etc/passwd && exec \"$@\"")
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh"]


@needs_root
def test_root_finds_the_desktop_users_server_and_cookie(tmp_path, desktop_pulse_rig):
    rig = desktop_pulse_rig
    user = f"dgaudio{os.getpid()}"
    passwd = tmp_path / "passwd"
    passwd.write_text(open("/etc/passwd").read() + f"{user}:x:{rig.uid}:{rig.uid}::{rig.dir}:/bin/sh\n")
    env = {"XDG_RUNTIME_DIR": "", "PULSE_SERVER": "", "HOME": str(tmp_path)}
    prefix = _private_run_user(rig.uid, rig.dir, str(passwd))
    rig.set("source", "headset_source", mute=True)
    rc, report, found = run_audio(tmp_path, env, prefix=prefix)
    mic = found["microphone"]
    assert mic["evidence"]["via"] == f"desktop user {user}", report
    assert mic["evidence"]["address"] == f"unix:/run/user/{rig.uid}/pulse/native"
    assert rc == 2 and "muted" in mic["title"]
    assert found["speaker"]["status"] == "ok"

    # The remedy is written for the shell diagnose ran in (root): run it there.
    command = (f"runuser -u {user} -- env XDG_RUNTIME_DIR=/run/user/{rig.uid} "
               f"pactl set-source-mute {rig.names['headset_source']} 0")
    assert command in mic["steps"][0]["command"].split("; ")  # a step's command, pasteable
    fixed = subprocess.run(prefix + shlex.split(command), capture_output=True, text=True, timeout=30)
    assert fixed.returncode == 0, fixed.stderr
    rc, _, found = run_audio(tmp_path, env, prefix=prefix)
    assert rc == 0 and found["microphone"]["status"] == "ok"


@needs_root
def test_server_refusing_root_without_the_users_cookie_is_not_a_site_fault(tmp_path, desktop_pulse_rig):
    rig = desktop_pulse_rig
    # The uid has no passwd entry here, so there is no home and no cookie to find.
    prefix = _private_run_user(rig.uid, rig.dir, "/etc/passwd")
    rc, _, found = run_audio(tmp_path, {"XDG_RUNTIME_DIR": "", "PULSE_SERVER": ""}, prefix=prefix)
    f = found["sound-server"]
    assert rc == 1 and (f["status"], f["fault"]) == ("warn", "undetermined")
    assert "Access denied" in f["detail"] and "cookie" in f["remedy"]


@needs_root
def test_no_sound_server_and_no_alsa_skips_with_the_reason(tmp_path):
    env = {"XDG_RUNTIME_DIR": "", "PULSE_SERVER": ""}
    # An empty /run hides any real desktop session's socket from this run.
    prefix = ["unshare", "-m", "--propagation", "private", "sh", "-c",
              'mount -t tmpfs dgaudio /run && exec "$@"', "sh"]
    if os.path.exists("/proc/asound/cards") and shutil.which("amixer"):
        pytest.skip("this machine has an ALSA card: the check would read it")
    proc = run_cli("run", "--config", write_config(tmp_path), "--only", "audio.settings",
                   "--format", "json", env=env, prefix=prefix)
    report = json.loads(proc.stdout)
    assert proc.returncode == 3, "nothing was checked: Nagios UNKNOWN"
    assert report["verdict"]["status"] == "skip" and "Nothing was checked" in report["verdict"]["headline"]
    (check,) = report["checks"]
    assert check["status"] == "skip"
    assert "no sound server socket" in check["skipped"] and "alsa-utils" in check["skipped"]


AMIXER = """\
Simple mixer control 'Master',0
  Capabilities: pvolume pvolume-joined pswitch pswitch-joined
  Playback channels: Mono
  Limits: Playback 0 - 87
  Mono: Playback 0 [0%] [-65.25dB] [off]
Simple mixer control 'Capture',0
  Capabilities: cvolume cswitch
  Capture channels: Front Left - Front Right
  Limits: Capture 0 - 63
  Front Left: Capture 39 [62%] [12.00dB] [off]
  Front Right: Capture 39 [62%] [12.00dB] [off]
Simple mixer control 'Mic Boost',0
  Capabilities: volume
  Playback channels: Front Left - Front Right
  Capture channels: Front Left - Front Right
  Limits: 0 - 3
  Front Left: 1 [33%] [10.00dB]
  Front Right: 1 [33%] [10.00dB]
"""


SWITCH_ONLY = """\
Simple mixer control 'Headphone',0
  Capabilities: pswitch
  Playback channels: Front Left - Front Right
  Mono:
  Front Left: Playback [off]
  Front Right: Playback [off]
Simple mixer control 'Mic',0
  Capabilities: cvolume cvolume-joined cswitch cswitch-joined
  Capture channels: Mono
  Limits: Capture 0 - 16
  Mono: Capture 0 [0%] [on]
Simple mixer control 'Auto-Mute Mode',0
  Capabilities: enum
  Items: 'Disabled' 'Enabled'
  Item0: 'Enabled'
"""


def test_amixer_output_is_parsed_into_switches_and_percent():
    controls = {c["name"]: c for c in parse_amixer(AMIXER)}
    assert controls["Master"]["playback"] == {"percent": 0, "switch": "off"}
    assert controls["Capture"]["capture"] == {"percent": 62, "switch": "off"}
    controls = {c["name"]: c for c in parse_amixer(SWITCH_ONLY)}
    assert controls["Headphone"]["playback"] == {"percent": None, "switch": "off"}
    assert controls["Mic"]["capture"] == {"percent": 0, "switch": "on"}
    assert "Auto-Mute Mode" not in controls  # an enum is no volume or switch


def test_alsa_fallback_judge_gives_the_amixer_commands():
    check = AudioSettings()
    facts = {"backend": "alsa", "tried": [], "alsa": {"cards": [
        {"card": 1, "id": "E65", "description": "Jabra EVOLVE 65", "controls": parse_amixer(AMIXER)}]}}
    (f,) = check.judge(facts, section_config(check, {}))
    assert (str(f.status), str(f.fault), f.subject) == ("fail", "site", "alsa:E65")
    assert "amixer -c 1 sset Capture cap" in f.remedy.steps[0].command.split("; ")
    assert "amixer -c 1 sset Master unmute" in f.remedy.steps[0].command.split("; ")
    assert "amixer -c 1 sset Master 80%" in f.remedy.steps[0].command.split("; ")


def test_remedy_quotes_device_names_for_the_shell():
    check = AudioSettings()
    dev = {"name": "alsa_input.usb-Odd Name", "description": "Odd", "mute": True, "volume": [100],
           "port": None, "props": {"device.form_factor": "headset"}}
    facts = {"backend": "pulse", "server_name": "pulseaudio", "server_version": "16.1",
             "default_sink": None, "default_source": dev["name"], "sinks": [], "sources": [dev]}
    found = {f.subject: f for f in check.judge(facts, section_config(check, {}))}
    assert "pactl set-source-mute 'alsa_input.usb-Odd Name' 0" in found["microphone"].remedy.steps[0].command.split("; ")
    assert str(found["speaker"].status) == "fail" and found["speaker"].title == "No speaker on this workstation"

