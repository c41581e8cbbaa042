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

# click writes its own messages (a mistyped option, a missing argument, a bad
# value, "Try ... for help.") through the standard library's gettext, looked
# up in each of its modules as ``_`` and ``ngettext``. In another language
# those two names point at our catalogs instead, whose entries carry click's
# English texts as msgids (diagnose/commands/locale/ru.po, "click's own").
CLICK_MODULES = ("click.core", "click.parser", "click.exceptions", "click.types", "click.decorators")
CLICK_MESSAGES = (
    i18n.N_("Error: {message}"), i18n.N_("Try '{command} {option}' for help."),
    i18n.N_("No such option {name!r}."), i18n.N_("No such option: {name}"),  # click 8.2+, 8.1
    i18n.N_("No such command {name!r}."),
    i18n.N_("Missing argument"), i18n.N_("Missing option"), i18n.N_("Missing parameter"),
    i18n.N_("Missing parameter: {param_name}"), i18n.N_("Missing command."),
    i18n.N_("Invalid value: {message}"), i18n.N_("Invalid value for {param_hint}: {message}"),
    i18n.N_("Option {name!r} does not take a value."),
    i18n.N_("{value!r} is not a valid {number_type}."), i18n.N_("{value} is not in the range {range}."),
    i18n.N_("{name} {filename!r} does not exist."), i18n.N_("{name} {filename!r} is a file."),
    i18n.N_("{name} {filename!r} is a directory."), i18n.N_("{name} {filename!r} is not readable."),
    i18n.N_("file"), i18n.N_("directory"), i18n.N_("path"),
    i18n.N_("Aborted!"),
)


def _click_plurals() -> None:  # pragma: no cover
    """Never called: marks click's ngettext messages (singular, plural) for
    the catalog, whose extraction reads them from this source."""
    i18n._n("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)", 1)
    i18n._n("Option {name!r} requires an argument.", "Option {name!r} requires {nargs} arguments.", 1)
    i18n._n("Got unexpected extra argument ({args})", "Got unexpected extra arguments ({args})", 1)
    i18n._n("{value!r} is not {choice}.", "{value!r} is not one of {choices}.", 1)


def speak_click() -> None:
    """Let click's own messages follow the chosen language (no-op in English)."""
    code = lang()
    if code == "en":
        return
    import importlib
    import sys

    def gettext(msg: str) -> str:
        return i18n._lookup(msg, None, None, code)

    def ngettext(singular: str, plural: str, n: int) -> str:
        return i18n._lookup(singular, plural, n, code)

    for name in CLICK_MODULES:
        mod = sys.modules.get(name) or importlib.import_module(name)
        if hasattr(mod, "_"):
            mod._ = gettext
        if hasattr(mod, "ngettext"):
            mod.ngettext = ngettext
