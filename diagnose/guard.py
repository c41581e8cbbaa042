"""The CLI's last line of defence: no traceback ever reaches the user.

:func:`guarded` runs a command and turns whatever escapes it into one clear
line on stderr and an exit code:

- bad configuration, a bad facts file, an unusable output path: exit 3
  (Nagios UNKNOWN: "the run could not be done"), the message naming the
  file, line or key;
- anything else (a bug): exit 3 with the exception's type and message and
  how to get the traceback (``DIAGNOSE_DEBUG=1``), never exit 1, which
  Nagios would read as WARNING and a systemd unit with
  ``SuccessExitStatus=1 2`` as success;
- SIGINT: exit 130, SIGTERM: exit 143 (128 + the signal, as a shell reports
  them, and outside 0-4 so no scheduler takes them for a result); files
  being written are left as they were (writes are atomic), the run lock is
  released, and the message says what was interrupted.

Every message goes through :func:`diagnose.redact.redact_text` and
:func:`diagnose.safetext.show`: an error quoting a config value or a file
name can carry neither a password nor a terminal escape.
"""

from __future__ import annotations

import math
import os
import signal
import sys
from typing import Any, Callable

from diagnose.i18n import N_, _

EXIT_UNKNOWN = 3
EXIT_SIGINT = 128 + signal.SIGINT
EXIT_SIGTERM = 128 + signal.SIGTERM


class Terminated(BaseException):
    """Raised in the main thread when SIGTERM arrives (like KeyboardInterrupt
    for SIGINT), so ``finally`` blocks and context managers clean up."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


def install_signal_handlers() -> None:
    """SIGTERM raises :class:`Terminated` in the main thread. Only from the
    main thread (signal.signal refuses elsewhere); a no-op otherwise."""
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)


def safe_message(text: str) -> str:
    from diagnose.redact import redact_text
    from diagnose.safetext import show

    return show(redact_text(str(text)), keep_newlines=True)


def say(message: str, stream: Any = None) -> None:
    """One message on stderr, secrets masked and controls escaped; a
    closed or broken stderr is not a reason to crash."""
    stream = stream or sys.stderr
    try:
        stream.write(f"diagnose: {safe_message(_translated(message))}\n")
        stream.flush()
    except (OSError, ValueError):
        pass


def _translated(message: Any) -> str:
    """The message in the reader's language; a message of the engine (a
    Message) by its template, a plain string when it is one we know. Never
    fails: this is the last line of defence."""
    try:
        from diagnose import helptext

        return helptext.t(message)
    except Exception:  # noqa: BLE001
        return str(message)


def die(message: str, code: int = EXIT_UNKNOWN) -> int:
    say(message)
    return code


def _known(exc: BaseException) -> str | None:
    """The message for an expected failure, or None for a bug."""
    from diagnose.config import ConfigError
    from diagnose.factsfile import FactsError
    from diagnose.fsutil import UnsafeTarget, describe_oserror

    if isinstance(exc, ConfigError):
        from diagnose import helptext

        return helptext.config_error(exc)
    if isinstance(exc, FactsError):
        return _("facts file: {error}", error=exc.args[0] if exc.args else str(exc))
    if isinstance(exc, UnsafeTarget):
        return describe_oserror(exc)
    if isinstance(exc, MemoryError):
        return _("out of memory")
    if isinstance(exc, RecursionError):
        return _("input nested too deeply to process")
    return None


def guarded(fn: Callable[..., int], *args: Any, what: str = N_("the run"), **kwargs: Any) -> int:
    """``fn(*args, **kwargs)`` with every way out turned into an exit code
    (module docstring)."""
    try:
        code = fn(*args, **kwargs)
        return EXIT_UNKNOWN if not isinstance(code, int) or isinstance(code, bool) else code
    except SystemExit:
        raise
    except KeyboardInterrupt:
        return die(_("interrupted (SIGINT); {what} stopped, nothing half-written was left behind", what=_(what)),
                   EXIT_SIGINT)
    except Terminated:
        return die(_("terminated (SIGTERM); {what} stopped, nothing half-written was left behind", what=_(what)),
                   EXIT_SIGTERM)
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except BaseException as exc:  # noqa: BLE001 - the last line of defence
        known = _known(exc)
        if known is not None:
            return die(known)
        if os.environ.get("DIAGNOSE_DEBUG"):
            import traceback

            traceback.print_exc()
        return die(_("internal error: {error}. This is a bug in diagnose; please report it with the command line "
                     "(DIAGNOSE_DEBUG=1 shows the traceback)", error=f"{type(exc).__name__}: {exc}"))


def _quiet_stdout() -> None:
    """The reader of stdout went away (``| head``): point stdout at
    /dev/null so the interpreter's final flush does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def seconds(text: Any, what: str = "--timeout") -> float:
    """A positive, finite number of seconds from a command-line value;
    ValueError with a message naming *what* otherwise."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{what} {text!r}: not a number of seconds") from None
    if not math.isfinite(value) or value <= 0 or value > 7 * 24 * 3600:
        raise ValueError(f"{what} {text!r}: must be more than 0 and at most a week (604800) seconds")
    return value
