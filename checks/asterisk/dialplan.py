"""Which devices exist: PJSIP endpoints (pjsip.conf and the files it
includes, FreePBX's pjsip.endpoint.conf among them), chan_sip peers
(sip.conf, sip_additional.conf) and the dialplan's contexts, extensions and
hints (extensions.conf, extensions_additional.conf, extensions_custom.conf).

A queue member names a device directly (``PJSIP/201``, ``SIP/201``), through
a Local channel into the dialplan (``Local/201@from-queue/n``), or through its
state interface, possibly a hint (``hint:201@ext-local``). :func:`device_of`
follows that and :func:`exists` says whether the configuration defines it:
True, False, or None when this configuration cannot tell (no such
channel driver configured, DAHDI, IAX2, ...).
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from diagnose.checks.asterisk import conf
from diagnose.i18n import _

_PATTERN_CHARS = {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]", ".": ".+", "!": ".*"}


def _pattern(p: str) -> re.Pattern[str] | None:
    """An Asterisk extension pattern (``_NXX``, ``_2[0-4]X.``) as a regex."""
    if not p.startswith("_"):
        return None
    out, i = [], 1
    while i < len(p):
        ch = p[i]
        if ch == "[":
            end = p.find("]", i)
            if end < 0:
                return None
            out.append("[" + re.sub(r"[\\^]", "", p[i + 1:end]) + "]")
            i = end + 1
            continue
        out.append(_PATTERN_CHARS.get(ch.upper(), re.escape(ch)))
        i += 1
    return re.compile("".join(out) + r"\Z")


def load_devices(host: Any, config_dir: str) -> dict[str, Any]:
    """Facts: endpoints, peers, contexts with their extensions, hints, and
    which files were read."""
    files: list[dict[str, Any]] = []
    facts: dict[str, Any] = {"pjsip": None, "sip": None, "contexts": None, "hints": {}, "files": files}
    pj_path = posixpath.join(config_dir, "pjsip.conf")
    if host.exists(pj_path):
        pj = conf.load(host, pj_path, config_dir)
        files.extend(pj.files)
        facts["pjsip"] = sorted({c.name for c in pj.categories if not c.template and any(
            v.key == "type" and v.value.lower() == "endpoint" for v in pj.effective(c))})
    sip_path = posixpath.join(config_dir, "sip.conf")
    if host.exists(sip_path):
        sp = conf.load(host, sip_path, config_dir)
        files.extend(sp.files)
        facts["sip"] = sorted({c.name for c in sp.categories
                               if not c.template and c.name.lower() not in ("general", "authentication")})
    ext_path = posixpath.join(config_dir, "extensions.conf")
    if host.exists(ext_path):
        ex = conf.load(host, ext_path, config_dir)
        files.extend(ex.files)
        contexts: dict[str, dict[str, list[str]]] = {}
        for c in ex.categories:
            if c.name.lower() in ("general", "globals"):
                continue
            ctx = contexts.setdefault(c.name, {"extensions": [], "includes": []})
            for v in c.vars:
                key = v.key.lower()
                if key == "include":
                    ctx["includes"].append(v.value.split(",")[0].strip())
                elif key == "exten":
                    parts = v.value.split(",", 2)
                    name = parts[0].strip()
                    if name not in ctx["extensions"]:
                        ctx["extensions"].append(name)
                    if len(parts) == 3 and parts[1].strip().lower() == "hint":
                        facts["hints"][f"{name}@{c.name}"] = parts[2].strip()
        facts["contexts"] = contexts
    return facts


def _in_context(devices: dict[str, Any], exten: str, context: str, depth: int = 0) -> bool:
    ctx = (devices.get("contexts") or {}).get(context)
    if ctx is None or depth > 8:
        return False
    for e in ctx["extensions"]:
        if e == exten:
            return True
        pat = _pattern(e)
        if pat is not None and pat.match(exten):
            return True
    return any(_in_context(devices, exten, inc, depth + 1) for inc in ctx["includes"])


def device_of(interface: str, state_interface: str, devices: dict[str, Any]) -> str:
    """The device a member's phone is: the state interface (a hint resolved
    to its first device), else the interface itself."""
    state = (state_interface or "").strip()
    if state.lower().startswith("hint:"):
        hint = state[5:]
        if "@" not in hint:
            hint += "@default"
        target = (devices.get("hints") or {}).get(hint)
        if target:
            return target.split("&")[0].strip()
        return state
    return state or interface


def exists(device: str, devices: dict[str, Any]) -> tuple[bool | None, str]:
    """Whether the configuration defines *device*, and why we think so."""
    tech, _sep, rest = device.partition("/")
    tech_l = tech.lower()
    if device.lower().startswith("hint:"):
        return False, _("no hint {hint} in the dialplan", hint=device[5:])
    if tech_l == "pjsip":
        if devices.get("pjsip") is None:
            return None, _("no pjsip.conf to look in")
        name = rest.split("/")[0]
        ok = name in devices["pjsip"]
        return ok, (_("endpoint [{name}] is in pjsip.conf", name=name) if ok else
                    _("no endpoint [{name}] in pjsip.conf or the files it includes", name=name))
    if tech_l == "sip":
        if devices.get("sip") is None:
            return None, _("no sip.conf to look in")
        name = rest.split("/")[0]
        ok = name in devices["sip"]
        return ok, (_("peer [{name}] is in sip.conf", name=name) if ok else
                    _("no peer [{name}] in sip.conf or the files it includes", name=name))
    if tech_l == "local":
        target = rest.split("/")[0]
        exten, _at, context = target.partition("@")
        context = context or "default"
        if devices.get("contexts") is None:
            return None, _("no extensions.conf to look in")
        ok = _in_context(devices, exten, context)
        return ok, (_("extension {exten} is in context [{context}]", exten=exten, context=context) if ok else
                    _("no extension {exten} in dialplan context [{context}]", exten=exten, context=context))
    return None, _("{tech} devices are not checked against a configuration", tech=tech or device)
