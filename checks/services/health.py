"""Probe side: does the service answer its health URL? A process that runs and
accepts connections can still be hung (a deadlock, a stuck database call):
only a request that gets an answer tells.

Only the status line is kept, never the body, and credentials in the URL are
redacted before anything is stored.
"""

from __future__ import annotations

import time
from typing import Any

from diagnose.redact import redact_text


def health(host: Any, url: str, timeout_s: float) -> dict[str, Any]:
    host.require_live("a health URL")
    # Here, not at the top: urllib.request pulls in socket, http.client, ssl
    # and email (about 14 ms), which a run without health URLs never needs.
    import socket
    import urllib.error
    import urllib.request

    out: dict[str, Any] = {"url": redact_text(url), "status": None, "error": None, "state": None,
                           "time_ms": None}
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 - a configured URL
            out.update(status=resp.status, state="answered")
    except urllib.error.HTTPError as exc:  # an answer, just not 2xx
        out.update(status=exc.code, state="answered", error=f"HTTP {exc.code}")
    except (socket.timeout, TimeoutError):
        out.update(state="silent", error=f"no answer within {timeout_s:g} s")
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            out.update(state="silent", error=f"no answer within {timeout_s:g} s")
        elif isinstance(reason, ConnectionRefusedError):
            out.update(state="refused", error="connection refused")
        else:
            out.update(state="error", error=redact_text(str(reason)))
    except (OSError, ValueError) as exc:
        out.update(state="error", error=redact_text(str(exc)))
    out["time_ms"] = round((time.monotonic() - t0) * 1000, 1)
    return out
