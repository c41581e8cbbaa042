"""Scheduled audits: ``diagnose schedule install | show | remove``.

Where systemd runs (``/run/systemd/system`` exists) the schedule is a
``diagnose.service`` + ``diagnose.timer`` pair in /etc/systemd/system;
elsewhere it is one line in /etc/cron.d/diagnose. Either way the command
uses absolute paths (cron's PATH is minimal and its cwd is $HOME), mails the
report (``--email``) and takes the run lock (``--lock``), so a slow run and
the next one never overlap.

Everything is written under a root prefix, so tests (and image builders)
install into a directory tree. Files are validated before they are
installed: units with ``systemd-analyze verify`` when it is available,
cron lines by their five time fields, user and absolute command.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from diagnose.fsutil import atomic_write
from diagnose.i18n import _
from diagnose.delivery.lock import DEFAULT_LOCK

CRON_FILE = "etc/cron.d/diagnose"
UNIT_DIR = "etc/systemd/system"
SERVICE, TIMER = "diagnose.service", "diagnose.timer"
DEFAULT_AT = "02:00"
DEFAULT_CONFIG = "/etc/diagnose/site.toml"
CRON_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Words that need no quoting in a cron command or a unit's ExecStart.
# Cron turns an unescaped % into a newline and systemd expands %-specifiers,
# so anything outside this set is refused rather than escaped twice over.
_SAFE_WORD = re.compile(r"^[A-Za-z0-9@._+:/=,-]+$")


class ScheduleError(Exception):
    """A schedule that cannot be installed as asked; the message says why."""


@dataclass
class Installed:
    kind: str  # cron | systemd
    files: list[str]
    when: str  # human description
    notes: list[str] = field(default_factory=list)


def _under(root: str, path: str) -> Path:
    return Path(root) / path.lstrip("/")


def uses_systemd(root: str) -> bool:
    # The test sd_booted(3) uses: this directory exists only while systemd is PID 1.
    return _under(root, "/run/systemd/system").is_dir()


def parse_at(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not m or int(m[1]) > 23 or int(m[2]) > 59:
        raise ScheduleError(_("--at {value}: expected HH:MM on a 24-hour clock, e.g. 02:30", value=repr(text)))
    return int(m[1]), int(m[2])


def parse_every(text: str) -> int:
    """``30m``, ``6h``, ``1d`` -> minutes."""
    m = re.fullmatch(r"(\d+)\s*(m|min|h|d)", text.strip())
    if not m or int(m[1]) == 0:
        raise ScheduleError(_("--every {value}: expected a number and a unit, e.g. 30m, 6h or 1d", value=repr(text)))
    minutes = int(m[1]) * {"m": 1, "min": 1, "h": 60, "d": 1440}[m[2]]
    if minutes < 5:
        raise ScheduleError(_("--every {value}: runs closer than 5 minutes apart would overlap; use 5m or more",
                              value=repr(text)))
    return minutes


def diagnose_argv() -> list[str]:
    """How to start this same diagnose from cron or systemd, by absolute path.
    The console script beside this interpreter first (a PATH lookup may find
    a pyenv shim that needs the caller's environment), else ``python -m``."""
    beside = os.path.join(os.path.dirname(os.path.abspath(sys.executable)), "diagnose")
    if os.access(beside, os.X_OK):
        return [beside]
    found = shutil.which("diagnose")
    if found and "/shims/" not in found:
        return [os.path.abspath(found)]
    return [os.path.abspath(sys.executable), "-m", "diagnose"]


def run_command(config: str, emails: list[str], lock: str = DEFAULT_LOCK) -> list[str]:
    argv = diagnose_argv() + ["run", "--config", config]
    argv += [a for e in emails for a in ("--email", e)] or ["--email"]
    argv += ["--lock", lock, "--quiet"]
    for word in argv:
        if not _SAFE_WORD.match(word):
            raise ScheduleError(_("{word} cannot go into a scheduled command as is (spaces, quotes, % and $ are "
                                  "not allowed); use a plainer path or address", word=repr(word)))
    return argv


# --- cron -------------------------------------------------------------------------

def cron_times(at: tuple[int, int] | None, every: int | None) -> str:
    if every is None:
        h, m = at or parse_at(DEFAULT_AT)
        return f"{m} {h} * * *"
    if every < 60 and 60 % every == 0:
        return f"*/{every} * * * *"
    if every % 60 == 0 and 24 % (every // 60) == 0:
        hours = every // 60
        return "0 0 * * *" if hours == 24 else f"0 */{hours} * * *"
    raise ScheduleError(_("cron cannot repeat every {n} minutes evenly: choose a divisor of 60 minutes (5m, 10m, "
                          "15m, 20m, 30m) or of 24 hours (1h, 2h, 3h, 4h, 6h, 8h, 12h, 1d)", n=every))


def cron_file(times: str, argv: list[str], when: str) -> str:
    # stdout (the text report) is dropped: the report is saved and mailed.
    # stderr stays, so cron mails root when a run is refused or breaks.
    return (f"# diagnose: call-center installation audit, {when}.\n"
            f"# Installed by `diagnose schedule install` on {dt.date.today().isoformat()}; "
            "remove with `diagnose schedule remove`.\n"
            "SHELL=/bin/sh\n"
            f"PATH={CRON_PATH}\n"
            f"{times} root {' '.join(argv)} >/dev/null\n")


_CRON_FIELD = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
_CRON_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*=")


def _cron_field_ok(text: str, low: int, high: int) -> bool:
    for part in text.split(","):
        m = re.fullmatch(r"(\*|(\d+)(?:-(\d+))?)(?:/(\d+))?", part)
        if not m:
            return False
        if m[2] is not None:
            a, b = int(m[2]), int(m[3] if m[3] is not None else m[2])
            if not (low <= a <= b <= high):
                return False
        if m[4] is not None and int(m[4]) == 0:
            return False
    return True


def validate_cron(text: str) -> None:
    """Check a cron.d file as Debian's cron reads it: comments, VAR=value
    lines, and entries of five time fields, a user and a command; the file
    must end with a newline (cron ignores a last line without one)."""
    if not text.endswith("\n"):
        raise ScheduleError("cron.d file does not end with a newline; cron would skip its last line")
    entries = 0
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#") or _CRON_ENV.match(line):
            continue
        fields = line.split(None, 6)
        if len(fields) < 7:
            raise ScheduleError(f"cron line {n}: expected 5 time fields, a user and a command: {line!r}")
        for value, (low, high) in zip(fields[:5], _CRON_FIELD):
            if not _cron_field_ok(value, low, high):
                raise ScheduleError(f"cron line {n}: bad time field {value!r} (allowed {low}-{high})")
        if not re.fullmatch(r"[a-z_][a-z0-9_-]*", fields[5]):
            raise ScheduleError(f"cron line {n}: {fields[5]!r} is not a user name")
        if not fields[6].startswith("/"):
            raise ScheduleError(f"cron line {n}: the command must start with an absolute path")
        entries += 1
    if entries != 1:
        raise ScheduleError(f"cron.d file has {entries} entries, expected 1")


# --- systemd ------------------------------------------------------------------------

def _span(minutes: int) -> str:
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}min"


def systemd_units(argv: list[str], at: tuple[int, int] | None, every: int | None,
                  when: str) -> dict[str, str]:
    service = (
        "[Unit]\n"
        "Description=diagnose: call-center installation audit, report mailed\n"
        "Wants=network-online.target\n"
        "After=network-online.target\n\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"ExecStart={' '.join(argv)}\n"
        "StandardOutput=null\n"
        # 1 and 2 are findings (warn, fail): the run itself worked and the
        # report is mailed. 4 (skipped: another run held the lock) is not a
        # success: nothing was checked; the unit shows failed and the next
        # report counts the skip. 3 (a check erred, bad config) fails too.
        "SuccessExitStatus=1 2\n")
    if every is None:
        h, m = at or parse_at(DEFAULT_AT)
        trigger = f"OnCalendar=*-*-* {h:02d}:{m:02d}:00\nPersistent=true\n"
    else:
        trigger = f"OnBootSec={_span(every)}\nOnUnitActiveSec={_span(every)}\n"
    timer = (f"[Unit]\nDescription=diagnose audit, {when}\n\n"
             f"[Timer]\n{trigger}\n"
             "[Install]\nWantedBy=timers.target\n")
    return {SERVICE: service, TIMER: timer}


_UNIT_KEYS = {
    SERVICE: {"Unit": {"Description", "Wants", "After"},
              "Service": {"Type", "ExecStart", "StandardOutput", "SuccessExitStatus"}},
    TIMER: {"Unit": {"Description"}, "Timer": {"OnCalendar", "Persistent", "OnBootSec", "OnUnitActiveSec"},
            "Install": {"WantedBy"}},
}


def _parse_units(units: dict[str, str]) -> None:
    """Structural check used when systemd-analyze is not installed."""
    for name, text in units.items():
        section = None
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            m = re.fullmatch(r"\[(\w+)\]", line)
            if m:
                section = m[1]
                if section not in _UNIT_KEYS[name]:
                    raise ScheduleError(f"{name}:{n}: unexpected section [{section}]")
                continue
            key, sep, value = line.partition("=")
            if not sep or section is None or key not in _UNIT_KEYS[name][section] or not value:
                raise ScheduleError(f"{name}:{n}: not a valid setting here: {line!r}")


def validate_units(units: dict[str, str]) -> None:
    """``systemd-analyze verify`` the units in a scratch directory (it
    needs no running systemd); any complaint is an error. Without
    systemd-analyze, a structural parse."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        _parse_units(units)
        return
    with tempfile.TemporaryDirectory(prefix="diagnose-units-") as tmp:
        paths = []
        for name, text in units.items():
            (Path(tmp) / name).write_text(text)
            paths.append(str(Path(tmp) / name))
        proc = subprocess.run([analyze, "verify", "--man=no", *paths], capture_output=True,
                              text=True, timeout=30)
    # verify only warns about unknown keys and bad values; treat any remark
    # about our files as an error.
    complaints = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "diagnose" in ln]
    if proc.returncode != 0 or complaints:
        raise ScheduleError("systemd-analyze verify rejected the units:\n  " +
                            "\n  ".join(complaints or [proc.stderr.strip()]))


def _systemctl(root: str, *args: str) -> subprocess.CompletedProcess | None:
    exe = shutil.which("systemctl")
    if exe is None:
        return None
    argv = [exe, *args] if root == "/" else [exe, f"--root={root}", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


# --- install / show / remove ------------------------------------------------------------

def _recipients_in(config_file: Path) -> list[str]:
    from diagnose.compat import tomllib

    toml = tomllib()
    try:
        with config_file.open("rb") as fh:
            data = toml.load(fh)
    except (OSError, toml.TOMLDecodeError):
        return []
    to = data.get("email", {}).get("to", [])
    return to if isinstance(to, list) else []


def _config_for(root: str, config: str | None) -> str:
    """The config file the scheduled run will use, by absolute path.

    On this machine (root /) it is the one ``diagnose run`` would use now
    (--config, $DIAGNOSE_CONFIG, ./diagnose.toml, /etc/diagnose/site.toml),
    and it must exist: a job pointing at a missing file exits 3 every night
    before saving or mailing anything. Into another tree (an image being
    built) the file may come later."""
    from diagnose.config import find_config_file

    if root != "/":
        return os.path.abspath(config) if config else DEFAULT_CONFIG
    found = find_config_file(config)
    if found and os.path.isfile(found):
        return os.path.abspath(found)
    if config:
        raise ScheduleError(_("{config} does not exist: the scheduled run would fail every night; write it with "
                              "`diagnose init --output FILE` or name an existing config", config=config))
    raise ScheduleError(_("no config file found (--config, $DIAGNOSE_CONFIG, ./diagnose.toml, {default}): write one "
                          "with `diagnose init --output {default}`, edit it, then install the schedule again",
                          default=DEFAULT_CONFIG))


def installed_command(root: str = "/") -> tuple[str, list[str]] | None:
    """The command the installed schedule runs: ("cron", [shell line]) or
    ("systemd", argv), or None when nothing is installed."""
    cron = _under(root, CRON_FILE)
    if cron.exists():
        for line in cron.read_text().splitlines():
            if line.strip() and not line.startswith("#") and not _CRON_ENV.match(line):
                return "cron", [line.split(None, 6)[6]]
    unit = _under(root, f"{UNIT_DIR}/{SERVICE}")
    if unit.exists():
        for line in unit.read_text().splitlines():
            if line.startswith("ExecStart="):
                return "systemd", line[len("ExecStart="):].split()
    return None


def run_now(root: str = "/", timeout: float = 600) -> tuple[str, int, str, str]:
    """Run the installed command once, now, as its scheduler would (cron: /bin/sh
    with cron's PATH and cwd /; systemd: the ExecStart argv). Returns the
    command, its exit code, stdout and stderr."""
    found = installed_command(root)
    if found is None:
        raise ScheduleError(_("no diagnose schedule is installed; add one with `diagnose schedule install`"))
    kind, words = found
    env = {"PATH": CRON_PATH, "HOME": "/root", "LANG": os.environ.get("LANG", "C.UTF-8")}
    argv = ["/bin/sh", "-c", words[0]] if kind == "cron" else words
    done = subprocess.run(argv, env=env, cwd="/", capture_output=True, text=True, timeout=timeout)
    return " ".join(words), done.returncode, done.stdout, done.stderr


def install(root: str = "/", at: str | None = None, every: str | None = None,
            emails: list[str] | tuple[str, ...] = (), config: str | None = None,
            lock: str = DEFAULT_LOCK) -> Installed:
    """Install the schedule under *root* (``--at HH:MM`` daily, default
    02:00, or ``--every 30m|6h|1d``), replacing an earlier one."""
    if at and every:
        raise ScheduleError(_("use --at or --every, not both"))
    when_at = parse_at(at) if at else None
    minutes = parse_every(every) if every else None
    # A message: English in the cron file and the units, the reader's language on screen.
    when = (_("every {span}", span=_span(minutes)) if minutes else
            _("daily at {time}", time="%02d:%02d" % (when_at or parse_at(DEFAULT_AT))))
    config = _config_for(root, config)
    emails = list(emails)
    if not emails and not _recipients_in(_under(root, config)):
        raise ScheduleError(_("no one to mail the report to: pass --email ADDRESS, or set [email] to = [\"...\"] "
                              "in {config}", config=config))
    argv = run_command(config, emails, lock)
    notes = []
    if not _under(root, config).is_file():
        notes.append(_("{config} does not exist yet: the scheduled run will use built-in defaults", config=config))

    if uses_systemd(root):
        units = systemd_units(argv, when_at, minutes, when)
        validate_units(units)
        files = []
        for name, text in units.items():
            path = _under(root, f"{UNIT_DIR}/{name}")
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(str(path), text, 0o644)
            files.append(str(path))
        _remove_cron(root)
        if root == "/":
            _systemctl(root, "daemon-reload")
        done = _systemctl(root, "enable", *(["--now"] if root == "/" else []), TIMER)
        if done is None or done.returncode != 0:
            notes.append(_("could not enable {timer}: {error}; run `systemctl enable --now {timer}`", timer=TIMER,
                           error=done.stderr.strip() if done else "systemctl not found"))
        return Installed("systemd", files, when, notes)

    text = cron_file(cron_times(when_at, minutes), argv, when)
    validate_cron(text)
    path = _under(root, CRON_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    # cron ignores files that are group- or world-writable.
    atomic_write(str(path), text, 0o644)
    return Installed("cron", [str(path)], when, notes)


def _remove_cron(root: str) -> list[str]:
    path = _under(root, CRON_FILE)
    if path.exists():
        path.unlink()
        return [str(path)]
    return []


def show(root: str = "/") -> str:
    """What is installed, with the files' contents; when systemd runs
    here, the timer's next run too."""
    out = []
    cron = _under(root, CRON_FILE)
    if cron.exists():
        out.append(f"cron: {cron}\n{cron.read_text()}")
    for name in (SERVICE, TIMER):
        unit = _under(root, f"{UNIT_DIR}/{name}")
        if unit.exists():
            out.append(f"systemd: {unit}\n{unit.read_text()}")
    if not out:
        return _("no diagnose schedule is installed; add one with `diagnose schedule install`") + "\n"
    if root == "/" and uses_systemd(root) and _under(root, f"{UNIT_DIR}/{TIMER}").exists():
        timers = _systemctl(root, "list-timers", "--all", "--no-pager", TIMER)
        if timers is not None:
            out.append(timers.stdout)
    return "\n".join(out)


def remove(root: str = "/") -> list[str]:
    """Remove the schedule (cron entry and/or timer); the removed paths."""
    removed = _remove_cron(root)
    timer = _under(root, f"{UNIT_DIR}/{TIMER}")
    if timer.exists():
        _systemctl(root, "disable", *(["--now"] if root == "/" else []), TIMER)
        wants = _under(root, f"{UNIT_DIR}/timers.target.wants/{TIMER}")
        if wants.is_symlink():
            wants.unlink()
    for name in (TIMER, SERVICE):
        unit = _under(root, f"{UNIT_DIR}/{name}")
        if unit.exists():
            unit.unlink()
            removed.append(str(unit))
    if removed and root == "/" and uses_systemd(root):
        _systemctl(root, "daemon-reload")
    return removed
