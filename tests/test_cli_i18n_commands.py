"""The commands' own output in the reader's language (issue 16): baseline,
history, schedule, agent, site and a bad facts file, run as the real CLI
with --lang ru, hold no untranslated English sentence; technical tokens
(commands in backticks, paths, config keys) stay as they are. The same
commands in English are unchanged."""

from __future__ import annotations

import re

import pytest

from tests.conftest import run_cli
from tests.rigs import baseline as rig

EN = {"LANG": "C.UTF-8", "LC_ALL": "", "LC_MESSAGES": "", "LANGUAGE": ""}
# Four English words in a row: a sentence nobody translated.
_ENGLISH = re.compile(r"\b[A-Za-z][a-z]+(?:[ ,]+[A-Za-z][a-z]+){3,}\b")


def english(text: str) -> list[str]:
    """English sentences left in *text*, technical tokens taken out first."""
    plain = re.sub(r"`[^`]*`", " ", text)          # commands as typed
    plain = re.sub(r"(?:\S*/\S+)", " ", plain)      # paths, URLs
    plain = re.sub(r"\[[^\]]*\]", " ", plain)       # [section] names
    return _ENGLISH.findall(plain)


@pytest.fixture
def env(tmp_path):
    return {**EN, "DIAGNOSE_STATE_DIR": str(tmp_path / "state")}


def ru(*args: str, env: dict, code: int = 0) -> str:
    done = run_cli("--lang", "ru", *args, env=env)
    assert done.returncode == code, done.stderr
    out = done.stdout + done.stderr
    assert re.search("[А-Яа-я]", out), out
    assert not english(out), (english(out), out)
    return out


def test_baseline_record_show_and_diff_in_russian(tmp_path, env):
    root = rig.make_tree(tmp_path / "tree")
    cfg = str(rig.config(tmp_path, root))
    assert "нет эталона" in ru("baseline", "show", "--config", cfg, "--root", str(root), env=env)
    out = ru("baseline", "record", "--by", "integrator", "--config", cfg, "--root", str(root), env=env)
    assert out.startswith("эталон ") and "(теперь текущий)" in out and "\n  файлы:    " in out
    assert "Эталоны в " in ru("baseline", "show", "--config", cfg, "--root", str(root), env=env)
    assert "отличий от текущего эталона нет" in ru("baseline", "diff", "--config", cfg, "--root", str(root),
                                                   env=env)
    out = ru("baseline", "accept", "/etc/nowhere.conf", "--by", "x", "--why", "y", "--config", cfg,
             "--root", str(root), env=env, code=3)
    assert "нет ни в эталоне, ни на этой машине" in out
    english_out = run_cli("baseline", "show", "--config", cfg, "--root", str(root), env=env).stdout
    assert english_out.startswith("Baselines in ")


def test_history_schedule_agent_and_site_in_russian(tmp_path, env):
    tree = tmp_path / "tree"
    tree.mkdir()
    assert "Истории проверок" in ru("history", env=env)
    assert "расписание diagnose не установлено" in ru("schedule", "show", "--root", str(tree), env=env)
    assert "расписание не было установлено" in ru("schedule", "remove", "--root", str(tree), env=env)
    ru("schedule", "test", "--root", str(tree), env=env, code=3)
    out = ru("schedule", "install", "--root", str(tree), "--at", "25:00", "--email", "a@b.example",
             env=env, code=3)
    assert "ожидается ЧЧ:ММ" in out
    assert "юнит агента не был установлен" in ru("agent", "remove", "--root", str(tree), env=env)
    assert "это не каталог" in ru("site", "--reports", str(tmp_path / "missing"), env=env, code=3)


def test_a_bad_facts_file_is_explained_in_russian(tmp_path, env):
    bad = tmp_path / "facts.json"
    bad.write_text("{not json")
    out = ru("run", "--from-facts", str(bad), env=env, code=3)
    assert "не JSON" in out
    wrong = tmp_path / "other.json"
    wrong.write_text('{"schema": "something/1"}')
    assert "это не файл сведений diagnose" in ru("run", "--from-facts", str(wrong), env=env, code=3)


def test_history_timeline_text_in_russian():
    from diagnose.state.timeline import render_text

    run = {"host": "cc-srv01", "time": "2026-12-01T02:00:00+00:00"}
    finding = {"id": "disk.space:/srv", "host": "cc-srv01", "now": "fail", "runs_seen": 2, "runs": 5,
               "first_seen": "2026-12-01T02:00:00+00:00", "last_seen": "2026-12-02T02:00:00+00:00",
               "flapping": True, "changes": [{"time": "2026-12-01T02:00:00+00:00", "status": "fail",
                                              "title": "/srv is 97% full"}]}
    doc = {"runs": [run] * 5, "findings": [finding], "check": None, "database": "/var/lib/diagnose/history.db",
           "since": None}
    out = render_text(doc, "ru")
    assert out.startswith("5 проверок на cc-srv01 с 2026-12-01 02:00 UTC по 2026-12-01 02:00 UTC")
    assert "disk.space:/srv: сейчас fail; проблема в 2 из 5 проверок" in out and "[мигает]" in out
    assert not english(out), english(out)
    assert render_text(doc).startswith("5 runs of cc-srv01 from ")
    assert "Ни одна находка не была проблемой" in render_text({**doc, "findings": []}, "ru")
