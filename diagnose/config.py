"""Site configuration: TOML, looked up, validated, with defaults applied.

Lookup order (DESIGN.md section 5): ``--config FILE``, ``$DIAGNOSE_CONFIG``,
``./diagnose.toml``, ``/etc/diagnose/site.toml``; no file at all is fine and
means built-in defaults. Every section is validated against the schema of
the check (or engine part) that owns it: unknown keys and wrong types are a
:class:`ConfigError` naming the file, the line and the nearest valid key.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Iterable

from diagnose.conflines import Lines
from diagnose import configmsg as cmsg
from diagnose.confvalues import WEEK_S, problem, short
from diagnose.i18n import _
from diagnose.fleet import FLEET_SCHEMA
from diagnose.schema import COMMON_KEYS, Key, MergedSchemas
from diagnose.state import HISTORY_SCHEMA

DEFAULT_PATHS = ("./diagnose.toml", "/etc/diagnose/site.toml")

# Sections that belong to the engine rather than to a check.
ENGINE_SCHEMAS: dict[str, dict[str, Key]] = {
    "site": {
        "name": Key(str, "", "site name shown in reports"),
        "role": Key(str, None, "server | workstation | both; default: detected",
                    choices=("server", "workstation", "both")),
        "state_dir": Key(str, "/var/lib/diagnose", "where baseline, history and saved reports live "
                                                   "($DIAGNOSE_STATE_DIR overrides)"),
        "language": Key(str, None, "language of reports and messages: en | ru (--lang overrides; "
                                   "default: the locale)", choices=("en", "ru")),
        "networks": Key(list, [], "the site's own address ranges (\"192.168.10.0/24\"): addresses in "
                                  "them stay in the customer's report, other addresses are hidden",
                        item=str),
    },
    "runner": {
        "timeout_s": Key((int, float), 10.0, "default per-check timeout in seconds (each check's own "
                                              "default when unset)", low=0, high=WEEK_S, low_open=True),
        "deadline_s": Key((int, float), 60.0, "the run stops waiting for probes timed by --timeout or "
                                               "[runner] timeout_s after this many seconds; a check's own "
                                               "timeout (its default or its section's timeout_s) is never "
                                               "cut (default: the longest timeout + 5)",
                           low=0, high=WEEK_S, low_open=True),
    },
    "history": HISTORY_SCHEMA,
    "email": {
        "to": Key(list, [], "recipients of the vendor's report (everything, JSON attached)", item=str),
        "cc": Key(list, [], "copy recipients of the vendor's report", item=str),
        "customer_to": Key(list, [], "recipients of the customer's report (plain language, no "
                                     "evidence, no addresses but the site's own)", item=str),
        "recipients": Key(list, [], "per-recipient tables: [[email.recipients]] address = \"...\", "
                                    "audience = \"vendor\" | \"customer\", lang = \"en\" | \"ru\"",
                          item=dict),
        "vendor_domains": Key(list, [], "mail domains of the vendor: its host names and addresses are "
                                        "hidden from the customer's report (default: the domains of "
                                        "to/cc when customer recipients are listed)", item=str),
        "from": Key(str, "", "sender address; default diagnose@<host>"),
        "smtp_host": Key(str, "127.0.0.1", "SMTP server"),
        "smtp_port": Key(int, 25, "SMTP port", low=1, high=65535),
        "starttls": Key(bool, False, "upgrade with STARTTLS"),
        "ssl": Key(bool, False, "implicit TLS (port 465)"),
        "user": Key(str, "", "SMTP login"),
        "password_env": Key(str, "", "environment variable holding the SMTP password"),
        "when": Key(str, "always", "always | on-fault | on-change",
                    choices=("always", "on-fault", "on-change")),
        "reports_dir": Key(str, "/var/lib/diagnose/reports", "where reports are kept before mailing"),
        "keep": Key(int, 30, "how many reports to keep", low=1, high=100000),
        "keep_days": Key(int, 90, "delete reports older than this many days", low=1, high=36500),
        "deadline_s": Key((int, float), 60.0, "all SMTP traffic of one run (spooled mail and this report) "
                                               "ends within this many seconds", low=0, high=3600, low_open=True),
        "fallback_dir": Key(str, "/run/diagnose/reports", "where the report is saved when reports_dir "
                                                          "is full, read-only or not writable"),
    },
    # The seat agent and the site report (issue 15, diagnose/fleet/).
    "fleet": FLEET_SCHEMA,
}

class ConfigError(Exception):
    """A configuration problem to show the user as ``file:line: message``."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None) -> None:
        self.message, self.path, self.line = message, path, line
        where = path or "<config>"
        if line:
            where += f":{line}"
        super().__init__(f"{where}: {message}")


def _is_type(value: Any, t: type | tuple[type, ...]) -> bool:
    types = t if isinstance(t, tuple) else (t,)
    if isinstance(value, bool) and bool not in types:
        return False  # TOML true is not a number
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, types)


def nearest(word: str, choices: Iterable[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return found[0] if found else None


def redact(value: Any) -> Any:
    """Copy *value* with secrets masked (see :mod:`diagnose.redact`)."""
    from diagnose.redact import redact_obj

    return redact_obj(value)


MAX_FILE = 4 * 1024 * 1024
MAX_DEPTH = 32


@dataclass
class Config:
    """Validated configuration. ``sections`` holds what the file said (with
    defaults filled in); ``present`` the sections the file actually had."""

    path: str | None = None
    sections: dict[str, Any] = field(default_factory=dict)
    present: set[str] = field(default_factory=set)
    schemas: dict[str, dict[str, Key]] = field(default_factory=dict)
    multi: set[str] = field(default_factory=set)
    # keys the file itself set, per (non-multi) section; defaults are not in it
    given: dict[str, set[str]] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Any]:
        """The section with defaults; a multi section is ``{"items": [...]}``."""
        if name in self.sections:
            return self.sections[name]
        schema = self.schemas.get(name, {})
        if name in self.multi:
            return {"items": []}
        return {k: _default(v) for k, v in schema.items()}

    def has(self, name: str) -> bool:
        return name in self.present

    def for_check(self, check: Any) -> dict[str, Any]:
        """What *check*'s probe and judge receive: its own section, plus
        each section it also ``reads`` under that section's name."""
        cfg = self.section(check.section) if check.section else {}
        reads = getattr(check, "reads", None) or {}
        if reads:
            cfg = dict(cfg)
            for name in reads:
                cfg[name] = self.section(name)
        # Sections owned by other checks that this one only looks at
        # (Check.borrows), present only when the file has them.
        borrows = getattr(check, "borrows", None) or ()
        if borrows:
            cfg = dict(cfg)
            cfg["_borrowed"] = {name: self.section(name) for name in borrows if self.has(name)}
        return cfg

    def set_by_file(self, section: str, key: str) -> bool:
        """True when the file itself set [section] key (not a default)."""
        return key in self.given.get(section, ())

    def for_facts(self) -> dict[str, Any]:
        """The effective config, secrets redacted, to store beside facts so
        that ``--from-facts`` judges with what the site had."""
        out: dict[str, Any] = {}
        for name, value in self.sections.items():
            schema = self.schemas.get(name, {})
            if name in self.multi:
                value = {"items": [_strip_secrets(v, schema) for v in value["items"]]}
            else:
                value = _strip_secrets(value, schema)
            out[name] = redact(value)
        return out

    def digest(self) -> str:
        return digest_of(self.for_facts())


def digest_of(facts_config: dict[str, Any]) -> str:
    """The digest of an effective config as :meth:`Config.for_facts` gives it."""
    import hashlib

    blob = json.dumps(facts_config, sort_keys=True, default=str).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()[:16]


def _default(key: Key) -> Any:
    d = key.default
    return list(d) if isinstance(d, list) else dict(d) if isinstance(d, dict) else d


def _strip_secrets(values: dict[str, Any], schema: dict[str, Key]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if not (k in schema and schema[k].secret)}


def find_config_file(explicit: str | None, env: dict[str, str] | None = None) -> str | None:
    env = os.environ if env is None else env
    if explicit:
        return explicit
    if env.get("DIAGNOSE_CONFIG"):
        return env["DIAGNOSE_CONFIG"]
    for p in DEFAULT_PATHS:
        if os.path.isfile(p):
            return p
    return None


def _read(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE + 1)
    except FileNotFoundError:
        raise ConfigError(_("config file not found"), path) from None
    except IsADirectoryError:
        raise ConfigError(_("is a directory, not a config file"), path) from None
    except OSError as exc:
        raise ConfigError(_("cannot read config file: {error}", error=exc.strerror), path) from None
    if len(raw) > MAX_FILE:
        raise ConfigError(_("is larger than {mb} MB; a site config is a few KB (is this the right file?)",
                            mb=MAX_FILE // (1024 * 1024)), path)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(_("not valid UTF-8 (byte 0x{byte:02x}); TOML files are UTF-8: re-save it as UTF-8",
                            byte=raw[exc.start]), path, line) from None


def _nesting_line(text: str) -> int | None:
    """The first line nesting (brackets, braces, dotted keys) deeper than MAX_DEPTH."""
    depth = 0
    for n, line in enumerate(text.splitlines(), 1):
        quote, dots = None, 0  # a dotted key (a.b.c...) nests tables too; tomli recurses on it
        for ch in line:
            if quote:
                if ch == quote:
                    quote = None
            elif ch in "\"'":
                quote = ch
            elif ch == "#":
                break
            elif ch in "[{":
                depth += 1
                if depth > MAX_DEPTH:
                    return n
            elif ch in "]}":
                depth = max(0, depth - 1)
            elif ch == "." and (dots := dots + 1) > MAX_DEPTH:
                return n
    return None


def _parse(text: str, path: str) -> dict[str, Any]:
    from diagnose.compat import tomllib as toml_module

    tomllib = toml_module()
    deep = _nesting_line(text)
    if deep is not None:
        raise ConfigError(_("values nested more than {n} levels deep; a site config needs two or three",
                            n=MAX_DEPTH), path, deep)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column \d+\)", msg)
        line = int(m.group(1)) if m else (max(1, len(text.splitlines())) if "end of document" in msg else None)
        raise ConfigError(_("not valid TOML: {error}", error=msg), path, line) from None
    except RecursionError:
        raise ConfigError(_("values nested too deeply to read"), path, _nesting_line(text)) from None


def load(path: str | None, check_schemas: dict[str, dict[str, Key]],
         multi_sections: set[str]) -> Config:
    """Read and validate *path* (None: defaults only)."""
    cfg = Config(path=path, schemas=all_schemas(check_schemas), multi=set(multi_sections))
    if path is None:
        return cfg
    text = _read(path)
    data = _parse(text, path)
    apply(cfg, data, Lines(text), path)
    return cfg


def all_schemas(check_schemas: Mapping) -> Mapping:
    if not isinstance(check_schemas, dict):  # computed on demand (Registry.schemas)
        return MergedSchemas(check_schemas, ENGINE_SCHEMAS)
    schemas = dict(ENGINE_SCHEMAS)
    for name, schema in check_schemas.items():
        merged = dict(COMMON_KEYS)
        merged.update(schema)
        schemas[name] = merged
    return schemas


def apply(cfg: Config, data: dict[str, Any], lines: Lines | None, path: str,
          strict: bool = True) -> None:
    """Validate the parsed *data* into *cfg*. ``strict=False`` (a facts
    file's recorded config) skips sections and keys unknown here instead of
    refusing them: they come from another version or a plugin."""
    lines = lines or Lines("")
    schemas, multi = cfg.schemas, cfg.multi
    for name, value in data.items():
        if name not in schemas:
            if not strict:
                continue
            hint = nearest(name, schemas)
            raise ConfigError(cmsg.unknown_section(_cut(name, 60), hint, sorted(schemas)), path, lines.find(name))
        schema = schemas[name]
        if name in multi:
            if isinstance(value, dict):
                raise ConfigError(_("[{name}] is a list of tables: write [[{name}]]", name=name), path,
                                  lines.find(name))
            if not isinstance(value, list):
                raise ConfigError(_("{name} must be written as [[{name}]] tables", name=name),
                                  path, lines.find("", name))
            if len(value) > 1000:
                raise ConfigError(_("{n} [[{name}]] tables; at most 1000 are allowed", n=len(value), name=name),
                                  path, lines.find(name))
            items = []
            for i, item in enumerate(value):
                if not isinstance(item, dict):
                    raise ConfigError(_("{name} = [... {item} ...]: each [[{name}]] must be a table of keys "
                                        "(write [[{name}]] and the keys under it)", name=name, item=short(item)),
                                      path, lines.find(name, None, i))
                items.append(_validate(name, item, schema, path, lines, i, strict))
            cfg.sections[name] = {"items": items}
        else:
            if not isinstance(value, dict):
                raise ConfigError(_("{name} must be a section [{name}], not a value", name=name),
                                  path, lines.find("", name))
            cfg.sections[name] = _validate(name, value, schema, path, lines, 0, strict)
            cfg.given[name] = {k for k in value if k in schema}
        cfg.present.add(name)
    if "email" in cfg.sections:
        _check_recipients(cfg.sections["email"].get("recipients") or [], path, lines)


_RECIPIENT_KEYS = {"address": None, "audience": ("vendor", "customer"), "lang": ("en", "ru")}


def _check_recipients(items: list[dict[str, Any]], path: str, lines: Lines) -> None:
    """[[email.recipients]]: an address, and an audience and a language
    from their lists."""
    for item in items:
        line = lines.find("email.recipients") or lines.find("email", "recipients")
        for key, value in item.items():
            if key not in _RECIPIENT_KEYS:
                hint = nearest(key, _RECIPIENT_KEYS)
                raise ConfigError(cmsg.unknown_recipient_key(key, hint), path, line)
            choices = _RECIPIENT_KEYS[key]
            if not isinstance(value, str) or (choices and value not in choices):
                raise ConfigError(cmsg.recipient_value(key, json.dumps(value, default=str), choices), path, line)
        if "address" not in item:
            raise ConfigError(_("[[email.recipients]] needs an address"), path, line)


def _validate(section: str, values: dict[str, Any], schema: dict[str, Key], path: str,
              lines: Lines, index: int, strict: bool = True) -> dict[str, Any]:
    # The line of a key is looked up only for the message of a bad one: a
    # lookup walks the file's rows, and a site file of 1000 [[gateway]]
    # tables has thousands of keys.
    out = {k: _default(v) for k, v in schema.items()}
    for key, value in values.items():
        if key not in schema:
            if not strict:
                continue
            hint = nearest(key, schema)
            raise ConfigError(cmsg.unknown_key(_cut(key, 60), section, hint, sorted(schema)), path,
                              lines.find(section, key, index))
        spec = schema[key]
        if value is None and spec.default is None:  # unset (a facts file records defaults)
            out[key] = None
            continue
        wrong = _wrong(section, key, value, spec)
        if wrong:
            raise ConfigError(wrong, path, lines.find(section, key, index))
        out[key] = value
    return out


def _wrong(section: str, key: str, value: Any, spec: Key) -> str | None:
    """What is wrong with [section] key = value, or None."""
    if not _is_type(value, spec.type):
        return cmsg.wrong_type(section, key, spec.type, short(value))
    if spec.item is not None and isinstance(value, list):
        for v in value:
            if not _is_type(v, spec.item):
                return cmsg.wrong_item(section, key, spec.item, short(v))
    # choices constrain string values; a (bool, str) key may also be true/false.
    if spec.choices and isinstance(value, str) and value not in spec.choices:
        hint = nearest(str(value), spec.choices)
        return cmsg.not_a_choice(section, key, short(value), spec.choices, json.dumps(hint) if hint else None)
    why = problem(key, value, spec)
    if why:
        return cmsg.bad_value(section, key, short(value), why)
    return None


def _cut(s: str, limit: int) -> str:
    from diagnose.safetext import cut

    return cut(s, limit)


class _OwnOnly:
    """A check's own section alone (for :func:`load_section`)."""

    def __init__(self, check: Any) -> None:
        self.section, self.schema, self.multi = check.section, check.schema, check.multi


def load_section(check: Any, values: dict[str, Any]) -> dict[str, Any]:
    """Validate one check's section from a dict (see ``section_config``)."""
    schema = dict(COMMON_KEYS)
    schema.update(check.schema)
    lines = Lines("")
    reads = getattr(check, "reads", None) or {}
    if reads:
        values = dict(values)
        extra = {}
        for name, other in reads.items():
            merged = dict(COMMON_KEYS)
            merged.update(other)
            extra[name] = _validate(name, values.pop(name, None) or {}, merged, "<dict>", lines, 0)
        own = load_section(_OwnOnly(check), values)
        own.update(extra)
        return own
    if check.multi:
        items = values.get("items", [])
        return {"items": [_validate(check.section, i, schema, "<dict>", lines, n)
                          for n, i in enumerate(items)]}
    return _validate(check.section, values, schema, "<dict>", lines, 0)
