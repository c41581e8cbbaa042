"""What a config error says, as translatable messages (diagnose.i18n).

diagnose/config.py raises :class:`diagnose.config.ConfigError` with these;
the command line shows them in the reader's language
(diagnose.helptext.config_error). Whatever comes from the file
(section and key names, values, the nearest valid key) is an argument and
stays verbatim; so do the file and the line. The English is what the
messages always said: tests and scripts match on it.
"""

from __future__ import annotations

from typing import Any, Iterable

from diagnose.i18n import N_, Message, _, join

TYPE_NAMES = {str: N_("a string"), int: N_("an integer"), float: N_("a number"), bool: N_("true or false"),
              list: N_("a list"), dict: N_("a table")}


def type_name(t: Any) -> str:
    """``str`` -> "a string"; ``(int, float)`` -> "a number"; other tuples
    joined with "or"; a type of no name here: its Python name."""
    if isinstance(t, tuple):
        if set(t) == {int, float}:
            return _(TYPE_NAMES[float])
        return join(_(" or "), [type_name(x) for x in t])
    return _(TYPE_NAMES[t]) if t in TYPE_NAMES else t.__name__


def unknown_section(name: str, hint: str | None, valid: Iterable[str]) -> Message:
    if hint:
        return _("unknown section [{name}]; did you mean [{hint}]?", name=name, hint=hint)
    return _("unknown section [{name}]; valid sections: {valid}", name=name, valid=", ".join(valid))


def unknown_key(key: str, section: str, hint: str | None, valid: Iterable[str]) -> Message:
    if hint:
        return _("unknown key '{key}' in [{section}]; did you mean '{hint}'?", key=key, section=section,
                 hint=hint)
    return _("unknown key '{key}' in [{section}]; valid keys: {valid}", key=key, section=section,
             valid=", ".join(valid))


def unknown_recipient_key(key: str, hint: str | None) -> Message:
    if hint:
        return _("unknown key '{key}' in [[email.recipients]]; did you mean '{hint}'?", key=key, hint=hint)
    return _("unknown key '{key}' in [[email.recipients]]", key=key)


def recipient_value(key: str, value: str, choices: Any) -> Message:
    if choices:
        return _("[[email.recipients]] {key} = {value} must be {choices}", key=key, value=value,
                 choices=join(_(" or "), list(choices)))
    return _("[[email.recipients]] {key} = {value} must be a string", key=key, value=value)


def wrong_type(section: str, key: str, t: Any, value: str) -> Message:
    return _("[{section}] {key} must be {type}, not {value}", section=section, key=key, type=type_name(t),
             value=value)


def wrong_item(section: str, key: str, t: Any, value: str) -> Message:
    return _("[{section}] {key} must be a list of {type}s; {value} is not", section=section, key=key,
             type=type_name(t), value=value)


def not_a_choice(section: str, key: str, value: str, choices: Iterable[str], hint: str | None) -> Message:
    if hint:
        return _("[{section}] {key} = {value} is not one of {choices}; did you mean {hint}?", section=section,
                 key=key, value=value, choices=", ".join(choices), hint=hint)
    return _("[{section}] {key} = {value} is not one of {choices}", section=section, key=key, value=value,
             choices=", ".join(choices))


def bad_value(section: str, key: str, value: str, why: str) -> Message:
    return _("[{section}] {key} = {value}: {why}", section=section, key=key, value=value, why=why)
