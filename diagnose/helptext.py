"""The command line in its reader's language: ``--help`` pages and the
messages about bad input (config errors).

The language is settled before click parses anything, because click shows
help while it parses, before any config is read: ``--lang`` wherever it
stands (``diagnose --lang ru run --help``, ``diagnose run --lang ru``), else
the locale (LANGUAGE, LC_ALL, LC_MESSAGES, LANG). Never ``[site] language``:
the config may be the very thing that is broken.

Help texts are written in English where the commands are (docstrings,
``short_help``, option help, epilogs); the catalog entry of each is its
English text as click holds it (diagnose/commands/locale/ru.po).
tests/test_cli_i18n.py walks every command and fails on a help text
without a Russian translation. It lives beside the engine, not among the
commands: every command uses it, and a command imports no other command.
"""

from __future__ import annotations

from typing import Any, Sequence

from diagnose import i18n

_CHOSEN: list[str] = []  # [lang] once main() has looked at the command line
_GIVEN: list[str] = []  # [lang] when --lang was on the command line


def choose(argv: Sequence[str]) -> str:
    """Settle the language from the command line (``--lang X`` or
    ``--lang=X`` before a ``--``), else the locale."""
    given = None
    args = list(argv)
    for i, a in enumerate(args):
        if a == "--":
            break
        if a == "--lang" and i + 1 < len(args):
            given = args[i + 1]
        elif a.startswith("--lang="):
            given = a.split("=", 1)[1]
    code = i18n.normalise(given)
    _GIVEN[:] = [code] if code else []
    _CHOSEN[:] = [code or i18n.from_locale()]
    return _CHOSEN[0]


def lang() -> str:
    return _CHOSEN[0] if _CHOSEN else i18n.from_locale()


def given() -> str | None:
    """The language named by ``--lang`` on the command line, if any."""
    return _GIVEN[0] if _GIVEN else None


def t(text: Any) -> str:
    """*text* (a help text, a heading, a message) in the reader's language."""
    if not text:
        return text
    return i18n.tr(text, lang())


def help_text(cmd: Any) -> str:
    """A command's help as click shows it (cleaned, up to a form feed)."""
    import inspect

    return inspect.cleandoc(cmd.help).partition("\f")[0] if cmd.help else ""


def short_help(cmd: Any, limit: int) -> str:
    if cmd.short_help:
        import inspect

        return t(inspect.cleandoc(cmd.short_help)).strip()
    from click.utils import make_default_short_help

    return make_default_short_help(t(help_text(cmd)), limit)


def config_error(exc: Any, label: bool = True) -> str:
    """A :class:`diagnose.config.ConfigError` as the reader reads it: file
    and line as they are, the message translated (a key, a section or a
    value it quotes stays verbatim)."""
    where = exc.path or "<config>"
    if exc.line:
        where += f":{exc.line}"
    text = f"{where}: {t(exc.message)}"
    return t(i18n._("config error: {error}", error=text)) if label else text


# The words click itself prints around the texts above.
i18n.N_("Usage: "), i18n.N_("Options"), i18n.N_("Commands")
