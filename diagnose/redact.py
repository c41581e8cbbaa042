"""Secrets never reach a report, a facts file, a mail or a log.

Probes read process arguments, log lines and configuration files that may
carry passwords. The runner passes every fact and every finding through
:func:`redact_obj`; the CLI passes what it prints on stderr through
:func:`redact_text`. What is recognised, and shown as ``***``:

- URL user info and query parameters:
  ``mysql://cc:SECRET@db/cc``, ``https://h/x?user=a&password=SECRET``;
- key/value spellings, whatever the quoting and case: ``password=SECRET``,
  ``PASSWORD = SECRET``, ``pwd=SECRET``, JSON ``"password": "SECRET"``,
  ``--password=SECRET``, ``db_pass: SECRET``, ``api_key=...``, ``token=...``,
  Asterisk's ``secret = SECRET`` and ``md5secret = ...``;
- command-line flags with the value in the next word: ``--password SECRET``,
  ``--token SECRET``; MySQL's glued ``-pSECRET`` (in an argument list, or in
  a text that runs a mysql/mariadb program);
- ``Authorization: Basic ...`` / ``Bearer ...`` (and a lone ``Bearer``
  token), SQL's ``IDENTIFIED BY 'SECRET'``;
- in structured facts, the value of any dict key that names a secret
  (``{"password": ...}``), and a ``baseline``/``current`` pair whose
  ``key`` names one (a changed ``secret =`` line of an Asterisk config).

Keys that only *name where* a secret is (``password_env``,
``password_file``) are not secrets and stay readable.

Every pattern is linear in the length of its input: quantifiers are bounded
or cannot backtrack into each other, so a 200 KB hostile log line costs
milliseconds, not minutes.
"""

from __future__ import annotations

import functools
import os
import re
from typing import Any

MASK = "***"

# Words that make a key a secret when they appear anywhere in it.
_SECRET_WORDS = ("password", "passwd", "passphrase", "secret", "token", "credential",
                 "apikey", "api_key", "api-key", "access_key", "access-key", "private_key",
                 "private-key", "auth_key", "authkey")
# Words that make a key a secret only as a whole component (db_pass, mysql_pwd).
_SECRET_PARTS = frozenset({"pass", "pwd", "pw", "passwd", "pword", "pin"})
# A key ending so names where the secret is kept, not the secret.
_NOT_SECRET_SUFFIXES = ("_env", "-env", "env", "_file", "-file", "_path", "-path", "_dir", "-dir",
                        "_cmd", "-cmd", "_command", "-command", "_policy", "_length", "_len",
                        "_count", "_type", "_prompt", "_required", "_expiry", "_expires",
                        "_ttl", "_url_env", "_name")
_SPLIT = re.compile(r"[_.\-\s]+")


def is_secret_key(key: str) -> bool:
    """True when a key, option or field named *key* holds a secret."""
    k = key.strip().strip("\"'").lstrip("-").lower()
    if not k or len(k) > 80:
        return False
    if k.endswith(_NOT_SECRET_SUFFIXES) or k.startswith(("max_", "min_", "num_")):
        return False
    if any(w in k for w in _SECRET_WORDS):
        return True
    return any(part in _SECRET_PARTS for part in _SPLIT.split(k))


# -- patterns (each linear: bounded or non-overlapping quantifiers) -----------

_KEYWORD = (r"password|passwd|passphrase|pword|secret|token|credential|api[_-]?key|access[_-]?key|"
            r"private[_-]?key|auth[_-]?key|pass|pwd|pw|pin")
_QUOTED = r'"(?:[^"\\\n]|\\.){0,512}"|\'(?:[^\'\\\n]|\\.){0,512}\''
# key = value, key: value, "key": "value", key="value"
_KV = (
    r"(?i)(?P<word>" + _KEYWORD + r")(?P<rest>[\w.-]{0,40})(?P<sep>[\"']?\s{0,8}[:=]\s{0,8})"
    r"(?P<val>" + _QUOTED + r"|[^\s\"'&;,<>)\]}]+)")
# --flag value (the value in the next word); the value never starts with '-'
_FLAG = (
    r"(?<![\w-])(?P<flag>--?[A-Za-z0-9][\w-]{0,40})(?P<sp>[ \t]+)(?P<val>(?!-)(?:" + _QUOTED +
    r"|[^\s\"']+))")
# mysql -pSECRET
_DASH_P = r"(?<![\w-])-p(?P<val>[^\s\"'-][^\s\"']*)"
_MYSQL_PROGRAM = r"(?i)\b(?:mysql|mariadb|mysqldump|mysqladmin|mysqlcheck|sshpass)"
# scheme://user:SECRET@host
_URL_USERINFO = (
    r"(?P<pre>\b[A-Za-z][A-Za-z0-9+.-]{0,30}://[^/:@\s]{0,128}:)(?P<pw>[^\s/?#]{1,256})(?P<at>@)")
_AUTH = (
    r"(?i)(?P<pre>\b(?:proxy-)?authorization[\"']?\s{0,8}[:=]\s{0,8}[\"']?"
    r"(?:(?:basic|bearer|digest|negotiate|ntlm|token|aws4-hmac-sha256)[ \t]{1,8})?)(?P<val>[^\"'\r\n]+)")
_BEARER = r"(?i)(?P<pre>\bbearer[ \t]{1,8})(?P<val>[A-Za-z0-9._~+/=-]{8,})"
_IDENTIFIED = (
    r"(?i)(?P<pre>\bidentified[ \t]{1,8}(?:with[ \t]{1,8}\w{1,40}[ \t]{1,8})?by[ \t]{1,8}"
    r"(?:password[ \t]{0,8}(?:\([ \t]{0,8})?)?)(?P<val>" + _QUOTED + r")")
# Cheap test before the patterns: most strings contain none of these.
_HINT = re.compile(r"(?i)pass|pwd|pw|pin|secret|token|credential|key|auth|bearer|://|identified|-p")


@functools.lru_cache(maxsize=None)
def _rx(pattern: str) -> re.Pattern:
    """*pattern* compiled when a string first needs it: most runs have no
    string the hint matches, and compiling all of them costs every start
    about 2 ms."""
    return re.compile(pattern)


def _mask_value(val: str) -> str:
    if len(val) >= 2 and val[0] in "\"'" and val[-1] == val[0]:
        return val[0] + MASK + val[0]
    return MASK


def _key_start(text: str, pos: int) -> int:
    """Where the key holding the keyword at *pos* begins (word characters,
    dots and dashes before it, at most 40)."""
    start = pos
    while start > 0 and pos - start < 40 and (text[start - 1].isalnum() or text[start - 1] in "_.-"):
        start -= 1
    return start


def _kv(m: re.Match) -> str:
    text = m.string
    start = _key_start(text, m.start("word"))
    if start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        return m.group()  # the word is inside a key longer than we look back
    key = text[start:m.end("rest")]
    val = m.group("val")
    if not is_secret_key(key) or val.strip("\"'") in ("", MASK):
        return m.group()
    return m.group("word") + m.group("rest") + m.group("sep") + _mask_value(val)


def _flag(m: re.Match) -> str:
    if not is_secret_key(m.group("flag")) or m.group("val").strip("\"'") == MASK:
        return m.group()
    return m.group("flag") + m.group("sp") + _mask_value(m.group("val"))


def redact_text(text: str) -> str:
    """*text* with every secret spelling in the module docstring masked."""
    if not isinstance(text, str) or not text or _HINT.search(text) is None:
        return text
    text = _rx(_URL_USERINFO).sub(lambda m: m["pre"] + MASK + m["at"], text)
    text = _rx(_AUTH).sub(lambda m: m["pre"] + MASK if m["val"].strip() != MASK else m.group(), text)
    text = _rx(_BEARER).sub(lambda m: m["pre"] + MASK, text)
    text = _rx(_IDENTIFIED).sub(lambda m: m["pre"] + _mask_value(m["val"]), text)
    text = _rx(_KV).sub(_kv, text)
    text = _rx(_FLAG).sub(_flag, text)
    if _rx(_MYSQL_PROGRAM).search(text):
        text = _rx(_DASH_P).sub(lambda m: "-p" + MASK if m["val"] != MASK else m.group(), text)
    return text


def _is_mysql(argv0: str) -> bool:
    name = os.path.basename(argv0)
    return name.startswith(("mysql", "mariadb")) or name == "sshpass"


def redact_argv(argv: list[str]) -> list[str]:
    """A process's arguments with secrets masked: what :func:`redact_text`
    finds in each, the word after a secret flag (``--password SECRET``), and
    a glued ``-pSECRET`` (for MySQL/MariaDB programs, and anywhere the rest
    is not a port number)."""
    out: list[str] = []
    mysql = bool(argv) and _is_mysql(argv[0])
    after_flag = False
    for arg in argv:
        if not isinstance(arg, str):
            out.append(arg)
            continue
        if after_flag and not arg.startswith("-"):
            out.append(MASK)
            after_flag = False
            continue
        after_flag = arg.startswith("-") and "=" not in arg and is_secret_key(arg)
        if arg.startswith("-p") and not arg.startswith("--") and len(arg) > 2 and \
                (mysql or not arg[2:].isdigit()):
            out.append("-p" + MASK)
            continue
        out.append(redact_text(arg))
    return out


_PAIR_VALUES = ("baseline", "current", "value", "old", "new", "was", "now", "expected", "found")


def redact_obj(value: Any, _depth: int = 0) -> Any:
    """A copy of a JSON-like *value* with secrets masked: strings through
    :func:`redact_text`, values of secret-named keys replaced, ``argv``
    lists through :func:`redact_argv`."""
    if isinstance(value, str):
        return redact_text(value)
    if _depth > 200:
        return value
    if isinstance(value, (list, tuple)):
        return [redact_obj(v, _depth + 1) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[Any, Any] = {}
    pair_secret = isinstance(value.get("key"), str) and is_secret_key(value["key"])
    for k, v in value.items():
        if isinstance(k, str) and ((is_secret_key(k) and isinstance(v, (str, int, float)) and
                                    not isinstance(v, bool) and v not in ("", MASK)) or
                                   (pair_secret and k in _PAIR_VALUES and v not in (None, ""))):
            out[k] = MASK
        elif k in ("argv", "cmdline", "args") and isinstance(v, list) and all(isinstance(a, str) for a in v):
            out[k] = redact_argv(v)
        else:
            out[k] = redact_obj(v, _depth + 1)
    return out


def redact_message(value: Any) -> Any:
    """A finding's title, detail or step text, masked. A translatable
    :class:`diagnose.i18n.Message` is rebuilt from masked arguments, so the
    secret is gone in every language, not only in the English text."""
    if not isinstance(value, str):
        return value
    masked = redact_text(str.__str__(value))
    if masked == str.__str__(value):
        return value
    from diagnose.i18n import Joined, Message

    if isinstance(value, Joined):
        rebuilt: Any = Joined(redact_message(value.args["sep"]),
                              [redact_message(p) for p in value.args["parts"]])
    elif isinstance(value, Message):
        args = {k: redact_message(v) if isinstance(v, str) else v for k, v in value.args.items()}
        rebuilt = type(value)(value.template, value.plural, value.n, **args)
    else:
        return masked
    # A secret split across arguments survives a rebuild: fall back to the text.
    return rebuilt if redact_text(str.__str__(rebuilt)) == str.__str__(rebuilt) else masked


def redact_finding(f: Any) -> None:
    """Mask secrets in a :class:`diagnose.model.Finding` in place: judges
    quote facts and config, and nothing they quote may carry a secret."""
    from diagnose.model import Remedy, Step

    f.subject = redact_text(f.subject)
    f.title = redact_message(f.title)
    f.detail = redact_message(f.detail)
    steps = getattr(f.remedy, "steps", None)
    if steps is not None:
        new = [Step(redact_message(s.text), redact_text(s.command) if s.command else s.command) for s in steps]
        if any(a.text is not b.text or a.command != b.command for a, b in zip(new, steps)):
            f.remedy = Remedy(new)
    else:
        f.remedy = redact_message(f.remedy)
    f.evidence = redact_obj(f.evidence)
