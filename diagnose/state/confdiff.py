"""What changed in a configuration file, per section and key, without secrets.

Asterisk and DAHDI configs (and systemd units, NetworkManager connections,
PulseAudio's daemon.conf ...) are ini-style: ``[section]`` headers and
``key = value`` or ``key => value`` lines, ``;`` comments (``\\;`` is a
literal semicolon), ``#include``/``#exec`` directives, and templates
``[name](!)`` / ``[name](tpl)``. Such files are compared per section and key
(``rxgain 0.0 -> 9.5 in [channels]``); a key that repeats inside a section
(``member =>`` in queues.conf, ``channel =>`` in chan_dahdi.conf) is compared
as the ordered list of its values. Other files are compared line by line.

Secrets never leave this module as values: before a text is stored or
compared, the value of every key that names a secret (``secret``,
``md5secret``, ``password``, ``psk`` ...), the password of a URL and the
password field of Asterisk's voicemail.conf are replaced by a keyed digest
token. Two digests tell "changed" from "unchanged" and nothing else.
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import os
import re
from typing import Any

# Key names that hold secrets (Asterisk: secret, md5secret, password,
# remotesecret; NetworkManager/wpa_supplicant: psk, password; SNMP: community).
SECRET_KEY = re.compile(r"(?i)(secret|passw|^pass$|_pass$|^psk$|[_.-]psk$|token|api[_-]?key|"
                        r"private[_-]?key|auth[_-]?key|^community$)")
# Files whose whole content is secret: only their digest is kept.
SECRET_FILE_NAMES = frozenset({"shadow", "gshadow", "shadow-", "gshadow-", "sudoers"})
SECRET_FILE_SUFFIXES = (".key", "_key", ".p12", ".pfx", ".keytab")

TOKEN = re.compile(r"<secret sha256:([0-9a-f]{16})>")
_URL_PW = re.compile(r"(?P<pre>[a-zA-Z][a-zA-Z0-9+.-]*://[^/:@\s]*:)(?P<pw>[^@\s/]+)(?P<at>@)")
# Every line that may hold a secret has one of these (lower-cased); the
# rest are copied as they are, without a regular expression.
_HINTS = ("secret", "pass", "psk", "token", "apikey", "api_key", "api-key", "private", "authkey", "auth_key",
          "auth-key", "community", "://")


def _may_hold_secret(text: str) -> bool:
    low = text.lower()
    return any(h in low for h in _HINTS)


_INLINE = re.compile(r"(?P<k>(?<![A-Za-z0-9_.\-])[A-Za-z0-9_.\-]*(?i:secret|passw|psk|token)[A-Za-z0-9_.\-]*)"
                     r"(?P<sep>\s*(?:=>|=|:)\s*)(?P<v>(?!<secret )[^\s;,\"'<]+)")
_KV = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z0-9_.\-]+)(?P<sep>\s*(?:=>|=|:)\s*)(?P<rest>.*)$")
_HEADER = re.compile(r"^\s*\[(?P<name>[^\]]*)\]\s*(?:\((?P<tpl>[^)]*)\))?\s*(?:[;#].*)?$")
_ASSIGN = re.compile(r"^\s*(?P<key>[^=\[\]\s][^=]*?)\s*(?:=>|=)\s*(?P<value>.*?)\s*$")
_DIRECTIVE = re.compile(r"^\s*#(?P<key>include|tryinclude|exec)\s+(?P<value>.+?)\s*$")


def is_secret_file(path: str) -> bool:
    base = os.path.basename(path)
    return base in SECRET_FILE_NAMES or base.endswith(SECRET_FILE_SUFFIXES) or "/private/" in path


def digest(salt: bytes, value: str) -> str:
    """The token a secret value is stored as: a keyed digest, never the value."""
    mac = hmac.new(salt, value.encode("utf-8", "replace"), hashlib.sha256).hexdigest()[:16]
    return f"<secret sha256:{mac}>"


def _split_comment(rest: str) -> tuple[str, str]:
    """Value and trailing ``;`` comment (``\\;`` is not a comment)."""
    m = re.search(r"(?<!\\)\s*;", rest)
    if m is None:
        return rest.rstrip(), rest[len(rest.rstrip()):]
    return rest[:m.start()], rest[m.start():]


def redact(text: str, salt: bytes, path: str = "") -> tuple[str, int]:
    """*text* with every secret value replaced by its digest token, and how
    many were replaced. Keeps the layout, so line numbers stay the same."""
    voicemail = os.path.basename(path) == "voicemail.conf"
    if not voicemail and not _may_hold_secret(text):
        return text, 0
    out, count = [], 0
    for line in text.split("\n"):
        if not voicemail and not _may_hold_secret(line):
            out.append(line)
            continue
        new = line
        # A commented-out setting (";secret=old") is as secret as a live one.
        lead = re.match(r"^\s*[;#]*", line).group(0)
        m = _KV.match(line[len(lead):])
        if m:
            m_indent = lead + m["indent"]
            key, rest = m["key"], m["rest"]
            value, comment = _split_comment(rest)
            if SECRET_KEY.search(key) and value.strip():
                quote = value.strip()[0] if value.strip()[0] in "\"'" else ""
                new = m_indent + key + m["sep"] + quote + digest(salt, value.strip().strip("\"'")) \
                    + quote + comment
                count += 1
            elif voicemail and m["sep"].strip() == "=>" and value.strip():
                # voicemail.conf: mailbox => password,full name,email,...
                pw, _, tail = value.partition(",")
                new = m_indent + key + m["sep"] + digest(salt, pw.strip()) + ("," + tail if _ else "") \
                    + comment
                count += 1
        new, n = _URL_PW.subn(lambda u: u["pre"] + digest(salt, u["pw"]) + u["at"], new)
        count += n
        # "password=x" further along a line (a comment, an option string).
        new, n = _INLINE.subn(lambda i: i["k"] + i["sep"] + digest(salt, i["v"]), new)
        count += n
        out.append(new)
    return "\n".join(out), count


# -- ini-style parsing -----------------------------------------------------------

def parse_ini(text: str) -> list[tuple[str, str, str, int]] | None:
    """``(section, key, value, line)`` rows of an ini-style text, or None when
    the text is not ini-style (a line that is neither a header, a setting, a
    directive, a comment nor blank). Settings before any header are in
    section ``""``. A template suffix ``(!)``/``(tpl)`` is kept as the key
    ``(template)`` of the section."""
    rows: list[tuple[str, str, str, int]] = []
    section = ""
    in_block = False
    settings = 0
    for n, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if in_block:  # Asterisk block comment ;-- ... --;
            if "--;" in line:
                in_block = False
            continue
        if line.startswith(";--") and "--;" not in line[3:]:
            in_block = True
            continue
        if not line or line.startswith(";") or (line.startswith("#") and not _DIRECTIVE.match(line)):
            continue
        h = _HEADER.match(line)
        if h:
            section = h["name"].strip()
            if h["tpl"] is not None:
                rows.append((section, "(template)", h["tpl"].strip(), n))
            continue
        d = _DIRECTIVE.match(line)
        if d:
            rows.append((section, "#" + d["key"], d["value"], n))
            continue
        value_part, _ = _split_comment(line)
        a = _ASSIGN.match(value_part)
        if not a:
            return None
        rows.append((section, a["key"].strip(), a["value"].strip().replace("\\;", ";"), n))
        settings += 1
    return rows if settings else None


def _grouped(rows: list[tuple[str, str, str, int]]) -> dict[tuple[str, str], list[str]]:
    out: dict[tuple[str, str], list[str]] = {}
    for section, key, value, _ in rows:
        out.setdefault((section, key), []).append(value)
    return out


def _shown(values: list[str] | None) -> Any:
    if values is None:
        return None
    return values[0] if len(values) == 1 else list(values)


def _is_secret_values(values: list[str] | None) -> bool:
    return bool(values) and any(TOKEN.search(v) for v in values)


def ini_changes(old_rows: list, new_rows: list) -> list[dict[str, Any]]:
    """Per section and key: ``{section, key, baseline, current}`` (None when
    absent; a list when the key repeats). Secret values appear as
    ``"(secret)"`` / ``"(secret, changed)"`` with ``secret: true``."""
    old, new = _grouped(old_rows), _grouped(new_rows)
    order = list(dict.fromkeys(list(old) + list(new)))
    changes = []
    for section, key in order:
        a, b = old.get((section, key)), new.get((section, key))
        if a == b:
            continue
        change: dict[str, Any] = {"section": section, "key": key}
        if _is_secret_values(a) or _is_secret_values(b) or SECRET_KEY.search(key):
            change.update(baseline=None if a is None else "(secret)",
                          current=None if b is None else ("(secret, changed)" if a is not None else "(secret)"),
                          secret=True)
        else:
            change.update(baseline=_shown(a), current=_shown(b))
        changes.append(change)
    return changes


def line_changes(old_text: str, new_text: str, limit: int = 40) -> list[dict[str, Any]]:
    """Changed lines: ``{line, baseline, current}``, None for a side that has
    no such line; ``line`` numbers the current file, or the accepted one for
    a removed line. Secret tokens are shown as ``(secret)``."""
    a, b = old_text.split("\n"), new_text.split("\n")
    out: list[dict[str, Any]] = []
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            continue
        for k in range(max(i2 - i1, j2 - j1)):
            old = a[i1 + k] if i1 + k < i2 else None
            new = b[j1 + k] if j1 + k < j2 else None
            entry = {"line": (j1 + k + 1) if new is not None else i1 + k + 1,
                     "baseline": _mask(old), "current": _mask(new)}
            if (old and TOKEN.search(old)) or (new and TOKEN.search(new)):
                entry["secret"] = True
            out.append(entry)
            if len(out) >= limit:
                return out
    return out


def _mask(line: str | None) -> str | None:
    return None if line is None else TOKEN.sub("(secret)", line)


def compare(old_text: str, new_text: str) -> dict[str, Any]:
    """How two (already redacted) texts differ: ``{style, changes,
    comment_only}``. ``comment_only`` when an ini-style file differs only in
    comments, blank lines or layout."""
    old_rows, new_rows = parse_ini(old_text), parse_ini(new_text)
    if old_rows is not None and new_rows is not None:
        changes = ini_changes(old_rows, new_rows)
        return {"style": "ini", "changes": changes, "comment_only": not changes}
    return {"style": "lines", "changes": line_changes(old_text, new_text), "comment_only": False}


def unified(old_text: str, new_text: str, path: str, old_label: str = "accepted",
            new_label: str = "current") -> str:
    """A unified diff of two redacted texts, secret tokens masked."""
    lines = difflib.unified_diff(old_text.split("\n"), new_text.split("\n"),
                                 f"{path} ({old_label})", f"{path} ({new_label})", lineterm="")
    return "\n".join(_mask(x) or "" for x in lines)


def _settings_by_place(text: str) -> dict[tuple[str, str], list[str]]:
    """``(section, key) -> [raw value text, ...]`` of a file as it is, in order."""
    out: dict[tuple[str, str], list[str]] = {}
    section = ""
    for line in text.split("\n"):
        h = _HEADER.match(line)
        if h:
            section = h["name"].strip()
            continue
        m = _KV.match(line)
        if m:
            value, _ = _split_comment(m["rest"])
            out.setdefault((section, m["key"]), []).append(value.strip())
    return out


def restore_secrets(accepted: str, current_raw: str, salt: bytes) -> tuple[str, list[str]]:
    """The accepted text with each secret token replaced by a real value.

    A secret that did not change comes back from the current file (a value
    there with the same digest). A secret that changed since acceptance
    cannot come back (the baseline keeps only its digest): that setting
    keeps its current value, and it is listed in the second result as
    ``[section] key``. Raises ValueError when a changed secret's setting is
    gone from the current file, so there is nothing to keep either."""
    values: dict[str, str] = {}
    for line in current_raw.split("\n"):
        lead = re.match(r"^\s*[;#]*", line).group(0)
        m = _KV.match(line[len(lead):])
        if m:
            value, _ = _split_comment(m["rest"])
            for candidate in {value.strip(), value.strip().strip("\"'"), value.strip().partition(",")[0]}:
                if candidate:
                    values[digest(salt, candidate)] = candidate
        for u in _URL_PW.finditer(line):
            values[digest(salt, u["pw"])] = u["pw"]
        for i in _INLINE.finditer(line):
            values[digest(salt, i["v"])] = i["v"]
    current = _settings_by_place(current_raw)
    kept: list[str] = []
    out: list[str] = []
    section = ""
    for line in accepted.split("\n"):
        h = _HEADER.match(line)
        if h:
            section = h["name"].strip()
        if TOKEN.search(line) is None:
            out.append(line)
            continue
        filled = TOKEN.sub(lambda m: values.get(m.group(0), m.group(0)), line)
        if TOKEN.search(filled) is None:
            out.append(filled)
            continue
        m = _KV.match(line)
        now = current.get((section, m["key"])) if m else None
        if not now:
            where = f"[{section}] {m['key']}" if m else "a secret"
            raise ValueError(f"{where}: the accepted secret changed and the setting is gone now; "
                             "the baseline keeps only its digest, so set it by hand")
        value, comment = _split_comment(m["rest"])
        out.append(m["indent"] + m["key"] + m["sep"] + now[0] + comment)
        kept.append(f"[{section}] {m['key']}")
    return "\n".join(out), kept
