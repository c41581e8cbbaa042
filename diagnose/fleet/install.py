"""``diagnose agent install | remove``: the seat agent as a systemd service,
written under a root directory as ``diagnose schedule`` does (image builds
and tests use a scratch root), and the broker-side lines to add for this
seat: its mosquitto password entry and ACL.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from diagnose.delivery import schedule
from diagnose.fleet.settings import Fleet
from diagnose.fsutil import atomic_write

UNIT = "diagnose-agent.service"
ENV_FILE = "/etc/diagnose/agent.env"
DEFAULT_CONFIG = "/etc/diagnose/site.toml"


class InstallError(Exception):
    pass


@dataclass
class Installed:
    files: list[str]
    notes: list[str] = field(default_factory=list)


def unit_text(argv: list[str]) -> str:
    return (
        "[Unit]\n"
        "Description=diagnose seat agent: audits this seat and reports to the site broker (MQTT)\n"
        "Wants=network-online.target\n"
        "After=network-online.target\n\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={' '.join(argv)}\n"
        # The broker password: NAME=secret, where NAME is [fleet] password_env.
        f"EnvironmentFile=-{ENV_FILE}\n"
        "Restart=always\n"
        "RestartSec=10\n"
        "NoNewPrivileges=yes\n"
        "PrivateTmp=yes\n\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n")


def _check(argv: list[str]) -> None:
    for word in argv:
        if not schedule._SAFE_WORD.match(word):
            raise InstallError(f"{word!r} cannot go into a unit's ExecStart as is (spaces, quotes, % and $ "
                               "are not allowed); use a plainer path")


def validate(text: str) -> None:
    """``systemd-analyze verify`` where it is installed (as the schedule's
    units are); otherwise every line must be a section or a Key=value."""
    import shutil
    import tempfile

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        for n, line in enumerate(text.splitlines(), 1):
            if line and not line.startswith("#") and not (line.startswith("[") or "=" in line):
                raise InstallError(f"{UNIT}:{n}: not a valid line: {line!r}")
        return
    with tempfile.TemporaryDirectory(prefix="diagnose-unit-") as tmp:
        path = os.path.join(tmp, UNIT)
        with open(path, "w") as fh:
            fh.write(text)
        proc = subprocess.run([analyze, "verify", "--man=no", path], capture_output=True, text=True, timeout=30)
    complaints = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "diagnose-agent" in ln]
    if proc.returncode != 0 or complaints:
        raise InstallError("systemd-analyze verify rejected the unit:\n  " +
                           "\n  ".join(complaints or [proc.stderr.strip()]))


def install(root: str, fleet: Fleet, config: str = DEFAULT_CONFIG) -> Installed:
    config = os.path.abspath(config)
    argv = schedule.diagnose_argv() + ["agent", "--config", config]
    _check(argv)
    text = unit_text(argv)
    validate(text)
    path = Path(root) / schedule.UNIT_DIR / UNIT
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(str(path), text, 0o644)
    notes = []
    if fleet.password_env:
        notes.append(f"put {fleet.password_env}=<this seat's broker password> into {ENV_FILE} "
                     f"(chmod 600); the unit reads it from there")
    if root == "/" and schedule.uses_systemd(root):
        schedule._systemctl(root, "daemon-reload")
    done = schedule._systemctl(root, "enable", *(["--now"] if root == "/" else []), UNIT)
    if done is None or done.returncode != 0:
        notes.append(f"could not enable {UNIT}: {done.stderr.strip() if done else 'systemctl not found'}; "
                     f"run `systemctl enable --now {UNIT}`")
    return Installed([str(path)], notes)


def remove(root: str) -> list[str]:
    path = Path(root) / schedule.UNIT_DIR / UNIT
    if not path.exists():
        return []
    schedule._systemctl(root, "disable", *(["--now"] if root == "/" else []), UNIT)
    wants = Path(root) / schedule.UNIT_DIR / "multi-user.target.wants" / UNIT
    if wants.is_symlink():
        wants.unlink()
    path.unlink()
    if root == "/" and schedule.uses_systemd(root):
        schedule._systemctl(root, "daemon-reload")
    return [str(path)]


def broker_lines(fleet: Fleet, site_user: str = "diagnose-site") -> str:
    """What the broker's administrator adds for this seat (and, once, for
    the site report's reader): a password entry and ACL lines that let the
    seat write only its own topics."""
    base = f"{fleet.prefix}/{fleet.site_id}"
    env = fleet.password_env or "PASSWORD_ENV"
    return (
        f"# On the broker: this seat's login (mosquitto_passwd hashes the password)\n"
        f"mosquitto_passwd -b /etc/mosquitto/diagnose.passwd {fleet.user} \"${env}\"\n"
        f"\n"
        f"# On the broker: add to the acl_file (e.g. /etc/mosquitto/diagnose.acl)\n"
        f"user {fleet.user}\n"
        f"topic write {base}/{fleet.seat}/#\n"
        f"topic read {base}/cmd/run\n"
        f"\n"
        f"# Once per site, for the site report's reader ({site_user}):\n"
        f"# user {site_user}\n"
        f"# topic read {base}/#\n"
        f"# topic write {base}/cmd/run\n"
        f"\n"
        f"# mosquitto.conf (Debian: /etc/mosquitto/conf.d/diagnose.conf), then restart mosquitto:\n"
        f"# listener 8883\n"
        f"# cafile /etc/mosquitto/certs/ca.crt\n"
        f"# certfile /etc/mosquitto/certs/server.crt\n"
        f"# keyfile /etc/mosquitto/certs/server.key\n"
        f"# allow_anonymous false\n"
        f"# password_file /etc/mosquitto/diagnose.passwd\n"
        f"# acl_file /etc/mosquitto/diagnose.acl\n"
        f"# max_queued_messages 0   (the site report reads every seat's retained messages at once)\n")
