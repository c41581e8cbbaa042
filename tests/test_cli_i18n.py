"""The command line in the reader's language (issue 16): ``--help`` pages
and config errors follow ``--lang`` wherever it stands, else the locale
(help is shown before any config is read); a config error in Russian keeps
the file, the line, the key and the value verbatim; every help text has a
Russian translation."""

from __future__ import annotations

import inspect
import json
import re

import click
import pytest

from diagnose import po
from diagnose.cli import cli
from diagnose import helptext
from tests.conftest import run_cli

RU = {"LANG": "ru_RU.UTF-8", "LC_ALL": "", "LC_MESSAGES": "", "LANGUAGE": ""}
EN = {"LANG": "C.UTF-8", "LC_ALL": "", "LC_MESSAGES": "", "LANGUAGE": ""}
_ENGLISH = re.compile(r"\b[A-Za-z][a-z]+(?:[ ,]+[A-Za-z][a-z]+){3,}\b")


def help_texts(cmd: click.Command, parent: click.Context | None = None, name: str = "diagnose"):
    """(command path, text) of every help text click shows for *cmd* and its subcommands."""
    ctx = click.Context(cmd, info_name=name, parent=parent)
    path = ctx.command_path
    texts = [helptext.help_text(cmd), inspect.cleandoc(cmd.short_help or ""), (cmd.epilog or "").strip("\n")]
    texts += [getattr(p, "help", None) for p in cmd.get_params(ctx)]
    out = [(path, t) for t in texts if t]
    if isinstance(cmd, click.Group):
        for sub in cmd.list_commands(ctx):
            out += help_texts(cmd.get_command(ctx, sub), ctx, sub)
    return out


def test_every_help_text_has_a_russian_translation():
    catalog = po.catalog("ru")
    missing = sorted({f"{path}: {text!r}" for path, text in help_texts(cli)
                      if not (catalog.get(text) or ("",))[0]})
    assert not missing, "no Russian translation (diagnose/commands/locale/ru.po):\n" + "\n".join(missing)
    assert len(help_texts(cli)) > 100


@pytest.mark.parametrize("args,env", [
    (("--lang", "ru", "run", "--help"), EN),
    (("run", "--lang=ru", "--help"), EN),
    (("run", "--help"), RU),
])
def test_run_help_in_russian(args, env):
    done = run_cli(*args, env=env)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    flat = re.sub(r"\s+", " ", out)
    assert out.startswith("Использование: diagnose run [OPTIONS]")
    assert "Выполнить проверки и написать отчёт." in out and "\nПараметры:\n" in out
    assert "выполнить только эту проверку (можно повторять)" in flat
    assert "  diagnose run --only disk.space --only database.integrity -v" in out  # commands as typed
    assert "коды выхода" in out
    prose = re.sub(r"\s+", " ", "\n".join(ln for ln in out.splitlines() if not ln.lstrip().startswith("diagnose ")))
    assert not _ENGLISH.findall(prose)


def test_top_level_help_lists_commands_in_russian():
    out = run_cli("--help", env=RU).stdout
    assert "\nКоманды:\n" in out and "выполнить проверки и написать отчёт" in re.sub(r"\s+", " ", out)
    assert "Показать эту справку и выйти." in out


def test_help_in_english_is_unchanged():
    out = run_cli("run", "--help", env=EN).stdout
    assert out.startswith("Usage: diagnose run [OPTIONS]")
    assert "run only this check (repeatable)" in out and "\nOptions:\n" in out
    assert not re.search("[А-Яа-я]", out)
    assert "--lang [en|ru]  language of help, messages and reports" in run_cli("--help", env=EN).stdout


@pytest.fixture
def bad_config(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text('[site]\nname = "Отдел продаж"\n\n[disk]\nwarn_free_percnt = 3\n', encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("args,env", [(("--lang", "ru", "run"), EN), (("run",), RU), (("list",), RU)])
def test_config_error_in_russian_keeps_file_line_and_key(bad_config, args, env):
    done = run_cli(*args, "--config", bad_config, env=env)
    assert done.returncode == 3 and "Traceback" not in done.stderr
    assert done.stderr == (f"diagnose: ошибка в настройках: {bad_config}:5: неизвестный ключ 'warn_free_percnt' "
                           "в [disk]; может быть, имелся в виду 'warn_free_percent'?\n")


def test_config_value_errors_in_russian(tmp_path):
    cases = {
        '[disk]\nwarn_free_percent = "ten"\n': ':2: [disk] warn_free_percent должно быть числом, а не "ten"',
        "[disk]\nwarn_free_percent = 120\n": ":2: [disk] warn_free_percent = 120: должно быть от 0 до 100",
        '[disk]\nmounts = ["/", 3]\n': ":2: [disk] mounts: каждый элемент списка должен быть строкой, а 3 — нет",
        '[dsik]\nmounts = []\n': ":1: неизвестный раздел [dsik]; может быть, имелся в виду [disk]?",
        '[email]\nwhen = "sometimes"\n': ':2: [email] when = "sometimes": допустимо одно из always, on-fault, on-change',
    }
    for i, (text, want) in enumerate(cases.items()):
        path = tmp_path / f"c{i}.toml"
        path.write_text(text, encoding="utf-8")
        ru = run_cli("run", "--config", str(path), env=RU)
        assert ru.returncode == 3 and ru.stderr.strip().endswith(str(path) + want), ru.stderr
        en = run_cli("run", "--config", str(path), env=EN)
        assert en.stderr.startswith(f"diagnose: config error: {path}:") and not re.search("[А-Яа-я]", en.stderr)


def test_the_language_is_read_from_the_command_line_before_parsing():
    assert helptext.choose(["--lang", "ru", "run", "--help"]) == "ru" and helptext.given() == "ru"
    assert helptext.choose(["run", "--lang=en"]) == "en"
    assert helptext.choose(["run", "--", "--lang", "ru"]) in ("en", "ru")  # after --: not ours
    assert helptext.given() is None


def test_cli_messages_in_russian(tmp_path):
    done = run_cli("--lang", "ru", "run", "--only", "disk.spcae", env=EN)
    assert done.returncode == 3
    assert done.stderr == "diagnose: нет проверки с именем 'disk.spcae'; может быть, имелась в виду 'disk.space'?\n"
    done = run_cli("run", "--root", str(tmp_path / "missing"), env=RU)
    assert done.returncode == 3 and done.stderr.endswith(f"--root {tmp_path / 'missing'}: это не каталог\n")
    out = run_cli("list", env=RU).stdout
    assert out.startswith("Проверки (роль этой машины: ") and "применима: " in out and "нужно: " in out
    listed = json.loads(run_cli("list", "--format", "json", env=RU).stdout)  # data for programs: English
    assert not re.search("[А-Яа-я]", json.dumps(listed, ensure_ascii=False))
    assert run_cli("--lang", "ru", "schedule", env=EN).stderr.startswith("diagnose: для schedule нужно действие")


@pytest.mark.parametrize("args,want", [
    # click words these a little differently from one release to the next (8.1 on Python 3.9)
    (("run", "--bogus"), ("Ошибка: Нет параметра", "--bogus", "Может быть, имелось в виду", "--verbose")),
    (("run", "--only"), ("Ошибка: Параметру '--only' нужен аргумент.",)),
    (("bogus",), ("Ошибка: Нет команды 'bogus'.",)),
    (("run", "--format", "xml"), ("Ошибка: Недопустимое значение '--format': недопустимый выбор: 'xml' "
                                  "(возможны: text, json, html, junit, nagios, prometheus)",)),
])
def test_clicks_own_usage_errors_in_russian_exit_3(args, want):
    done = run_cli("--lang", "ru", *args, env=EN)
    assert done.returncode == 3
    lines = done.stderr.splitlines()
    error = [ln for ln in lines if ln.startswith("Ошибка: ")]
    assert len(error) == 1 and all(w in error[0] for w in want), done.stderr
    assert not any(ln.startswith(("Usage:", "Try ", "Error:")) for ln in lines), done.stderr
    assert not re.search(r"No such|Did you|requires|Invalid", done.stderr), done.stderr
    english = run_cli(*args, env=EN)
    assert english.returncode == 3 and "Error: " in english.stderr
