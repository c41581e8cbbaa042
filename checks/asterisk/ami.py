"""Live queue member state over the Asterisk Manager Interface: one
``QueueStatus`` action (app_queue's manager_queues_status: a QueueParams
event per queue, a QueueMember event per member, QueueStatusComplete).

The protocol goes through panoramisk (an asyncio AMI client) and nothing
else in the checks knows about it: :func:`queue_status` returns plain
JSON facts or says what went wrong. The secret comes from the environment
variable named in ``[asterisk] ami_secret_env`` and is never part of the
facts.
"""

from __future__ import annotations

import asyncio
import os
import urllib.parse
from typing import Any

from diagnose.i18n import _

# AST_DEVICE_* numbers in QueueMember's Status field (include/asterisk/devicestate.h).
DEVICE_STATES = {0: "unknown", 1: "not in use", 2: "in use", 3: "busy", 4: "invalid",
                 5: "unavailable", 6: "ringing", 7: "ringing and in use", 8: "on hold"}
UNREACHABLE = (4, 5)


def parse_url(url: str) -> tuple[str, int, bool]:
    u = urllib.parse.urlsplit(url if "://" in url else "tcp://" + url)
    tls = u.scheme in ("tls", "ssl", "amis")
    return u.hostname or "127.0.0.1", u.port or (5039 if tls else 5038), tls


def _member(ev: dict[str, str]) -> dict[str, Any]:
    def num(key: str) -> int | None:
        try:
            return int(ev.get(key, ""))
        except ValueError:
            return None
    status = num("Status")
    return {
        "queue": ev.get("Queue", ""),
        "name": ev.get("Name") or ev.get("MemberName") or "",
        "interface": ev.get("Location") or ev.get("Interface") or "",
        "state_interface": ev.get("StateInterface", ""),
        "membership": ev.get("Membership", ""),
        "calls_taken": num("CallsTaken"), "last_call": num("LastCall"),
        "in_call": num("InCall"), "status": status, "state": DEVICE_STATES.get(status, "unknown"),
        "paused": ev.get("Paused", "0").strip() == "1", "paused_reason": ev.get("PausedReason", ""),
    }


async def _query(host: str, port: int, tls: bool, user: str, secret: str) -> dict[str, Any]:
    from panoramisk import Manager

    loop = asyncio.get_running_loop()
    manager = Manager(loop=loop, host=host, port=port, ssl=tls, username=user, secret=secret,
                      events="off", ping_delay=3600, reconnect_timeout=3600)
    try:
        await manager.connect()
        while manager.authenticated_future is None and not manager.authenticated:
            await asyncio.sleep(0.005)
        if manager.authenticated_future is not None:
            login = await manager.authenticated_future
            if not login.success:
                return {"state": "login-failed", "error": login.get("Message") or _("authentication failed")}
        version = getattr(manager.protocol, "version", None)
        events = await manager.send_action({"Action": "QueueStatus"})
        if not isinstance(events, list):
            events = [events]
        queues: dict[str, Any] = {}
        for ev in events:
            kind = ev.get("Event", "")
            if kind == "QueueParams":
                queues.setdefault(ev.get("Queue", ""), {"members": []}).update({
                    "strategy": ev.get("Strategy"), "calls": ev.get("Calls"),
                    "completed": ev.get("Completed"), "abandoned": ev.get("Abandoned"),
                    "servicelevel": ev.get("ServiceLevel"),
                    "servicelevel_perf": ev.get("ServicelevelPerf")})
            elif kind == "QueueMember":
                m = _member(dict(ev))
                queues.setdefault(m["queue"], {"members": []})["members"].append(m)
            elif ev.get("Response") == "Error":
                return {"state": "error", "error": ev.get("Message") or _("QueueStatus refused")}
        try:  # leave politely (Asterisk answers "Goodbye"); best effort
            await asyncio.wait_for(manager.send_action({"Action": "Logoff"}), 1.0)
        except Exception:  # noqa: BLE001
            pass
        return {"state": "ok", "error": None, "version": version, "queues": queues}
    finally:
        manager.close()


def queue_status(url: str, user: str, secret_env: str, timeout: float,
                 env: dict[str, str] | None = None) -> dict[str, Any]:
    """Facts from one QueueStatus over AMI; never raises."""
    env = os.environ if env is None else env
    host, port, tls = parse_url(url)
    base = {"url": f"{'tls' if tls else 'tcp'}://{host}:{port}", "user": user}
    secret = env.get(secret_env, "") if secret_env else ""
    if secret_env and not secret:
        return dict(base, state="no-secret", error=_("${name} is not set", name=secret_env))
    try:
        import panoramisk  # noqa: F401
    except ImportError:
        return dict(base, state="error", error=_("the panoramisk module is not installed"))
    try:
        got = asyncio.run(asyncio.wait_for(_query(host, port, tls, user, secret), timeout))
    except asyncio.TimeoutError:
        return dict(base, state="timeout", error=_("no complete answer within {timeout:g} s", timeout=timeout))
    except OSError as exc:
        return dict(base, state="unreachable", error=exc.strerror or str(exc))
    except Exception as exc:  # noqa: BLE001 - a protocol surprise is a fact, not a crash
        return dict(base, state="error", error=f"{type(exc).__name__}: {exc}")
    return dict(base, **got)
