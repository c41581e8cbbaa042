"""Translatable messages (diagnose/i18n.py) and the catalogs (diagnose/po.py):
English in JSON, translated when shown, plural forms, and a Russian
translation for every marked message."""

from __future__ import annotations

import copy
import pickle
import string

import pytest

from diagnose import i18n, po
from diagnose.i18n import N_, _, _n, join, size, tr, when
from diagnose.model import CheckResult, Fault, Finding, Remedy, Status, make_verdict, step


def test_a_message_is_its_english_text_and_renders_translated():
    m = _("{n} site fault", n=1)  # a real catalog entry (a plural one, looked up by its singular)
    assert m == "1 site fault" and isinstance(m, str)
    assert tr(_("no site faults"), "ru") == "неисправностей на стороне объекта нет"
    assert tr(_("no site faults"), "en") == "no site faults"
    assert "site" in m and m.startswith("1 ")


@pytest.mark.parametrize("n,ru", [
    (1, "1 неисправность на стороне объекта"), (2, "2 неисправности на стороне объекта"),
    (5, "5 неисправностей на стороне объекта"), (11, "11 неисправностей на стороне объекта"),
    (21, "21 неисправность на стороне объекта"), (22, "22 неисправности на стороне объекта"),
    (112, "112 неисправностей на стороне объекта")])
def test_russian_has_three_plural_forms(n, ru):
    m = _n("{n} site fault", "{n} site faults", n)
    assert m == (f"{n} site fault" if n == 1 else f"{n} site faults")
    assert tr(m, "ru") == ru


@pytest.mark.parametrize("n,en,ru", [
    (1, "1 site fault, no software faults", "1 неисправность на стороне объекта, ошибок программы нет"),
    (2, "2 site faults, no software faults", "2 неисправности на стороне объекта, ошибок программы нет"),
    (5, "5 site faults, no software faults", "5 неисправностей на стороне объекта, ошибок программы нет"),
    (21, "21 site faults, no software faults", "21 неисправность на стороне объекта, ошибок программы нет")])
def test_headline_plurals_in_both_languages(n, en, ru):
    findings = [Finding("disk.space", f"/m{i}", Status.FAIL, "full", Fault.SITE) for i in range(n)]
    v = make_verdict(findings, [CheckResult("disk.space", Status.FAIL)])
    assert v.headline == en and v.to_dict()["headline"] == en
    assert tr(v.headline, "ru") == ru


def test_healthy_verdict_is_ok_even_when_some_checks_skipped():
    v = make_verdict([], [CheckResult("disk.space", Status.OK),
                          CheckResult("gateway.power", Status.SKIP, skipped="not configured")])
    assert str(v.status) == "ok"
    assert tr(v.headline, "ru").startswith("Все проверки пройдены")


def test_nothing_checked_is_not_an_all_clear():
    v = make_verdict([], [CheckResult("gateway.power", Status.SKIP, skipped="not configured")])
    assert str(v.status) == "skip"
    assert tr(v.headline, "ru").startswith("Ничего не проверено")


def test_joined_and_added_messages_stay_translatable():
    both = _("no site faults") + "; " + _("no software faults")
    assert both == "no site faults; no software faults"
    assert tr(both, "ru") == "неисправностей на стороне объекта нет; ошибок программы нет"
    j = join(", ", [_("no site faults"), "/srv"])
    assert j == "no site faults, /srv" and tr(j, "ru") == "неисправностей на стороне объекта нет, /srv"
    assert join(", ", ["a", "b"]) == "a, b" and not isinstance(join(", ", ["a", "b"]), i18n.Message)


def test_messages_survive_copy_and_pickle():
    m = _n("{n} site fault", "{n} site faults", 2)
    for clone in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert clone == m and tr(clone, "ru") == tr(m, "ru")
    r = Remedy.of([step(_("no site faults"), "df -h /srv")])
    assert copy.deepcopy(r).steps == r.steps


def test_numbers_sizes_and_dates_per_language():
    assert str(size(44_236_000_000)) == "41.2 GB"
    assert tr(size(44_236_000_000), "ru") == "41,2\u00a0ГБ"
    assert tr(_("Consequence of {cause}: {why}.", cause="x", why=1.5), "ru") == "Следствие x: 1,5."
    assert i18n.number_text("12345.5", "ru") == "12345,5"
    assert i18n.number_text("57899", "ru") == "57899"  # ports and pids are never grouped
    assert str(when("2026-11-22T07:00:00+00:00")) == "22 Nov 2026, 07:00 UTC"
    assert tr(when("2026-11-22T07:00:00+00:00"), "ru") == "22 ноября 2026, 07:00 UTC"
    assert str(when("not a date")) == "not a date"


def test_a_plain_string_from_json_is_translated_when_it_matches_exactly():
    assert tr("no site faults", "ru") == "неисправностей на стороне объекта нет"
    assert tr("/srv/share", "ru") == "/srv/share"
    assert tr(None, "ru") == ""


def test_language_choice_order():
    assert i18n.choose("ru", "en", {"LANG": "en_US.UTF-8"}) == "ru"
    assert i18n.choose(None, "ru", {"LANG": "en_US.UTF-8"}) == "ru"
    assert i18n.choose(None, "", {"LANG": "ru_RU.UTF-8"}) == "ru"
    assert i18n.choose(None, None, {"LC_ALL": "C", "LANG": "ru_RU.UTF-8"}) == "en"
    assert i18n.choose(None, None, {"LANG": "C"}) == "en"
    assert i18n.choose(None, None, {"LANGUAGE": "de:ru", "LANG": "de_DE.UTF-8"}) == "ru"
    assert i18n.choose(None, None, {}) == "en"
    assert i18n.choose("de", None, {"LANG": "ru_RU.KOI8-R"}) == "ru"


def test_remedy_steps_are_backward_compatible():
    plain = Finding("disk.space", "/", Status.WARN, "t", remedy="Move the films")
    assert plain.remedy == "Move the films" and plain.remedy.steps == (step("Move the films"),)
    multi = Finding("disk.space", "/", Status.WARN, "t", remedy=[
        step("Ask the owner"), step("Check again:", "df -h /"), ("See the log", "journalctl -n 50")])
    assert multi.remedy == "1) Ask the owner 2) Check again: df -h / 3) See the log: journalctl -n 50"
    d = multi.to_dict()
    assert d["remedy"] == str(multi.remedy)
    assert d["steps"][1] == {"text": "Check again:", "command": "df -h /"}
    assert Finding.from_dict(d).to_dict() == d
    legacy = {k: v for k, v in plain.to_dict().items() if k != "steps"}
    assert Finding.from_dict(legacy).remedy == "Move the films"
    assert Finding("x", "y", Status.OK, "t").remedy == "" and not Finding("x", "y", Status.OK, "t").remedy.steps


def test_po_parser_handles_plurals_continuations_and_fuzzy():
    cat = po.parse('msgid ""\nmsgstr "Language: ru\\n"\n\n#: a.py\nmsgid "a {n}"\nmsgid_plural "as {n}"\n'
                   'msgstr[0] "x"\nmsgstr[1] "y"\nmsgstr[2] "z"\n#, fuzzy\nmsgid "b"\nmsgstr "bb"\n'
                   'msgid ""\n"long "\n"one"\nmsgstr "дл\\"инный"\n')
    assert cat == {"a {n}": ("x", "y", "z"), "long one": ('дл"инный',)}
    with pytest.raises(ValueError, match="<po>:1"):
        po.parse("bogus line\n")


def _fields(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f}


def test_every_marked_message_has_a_russian_translation():
    missing = po.untranslated("ru")
    assert not missing, "no Russian translation (run `python3 -m diagnose.po update`, fill in msgstr):\n" + \
        "\n".join(f"  {where[0]}: {msgid!r}" for msgid, (_, where) in missing.items())


def test_translations_keep_the_fields_of_their_message():
    bad = []
    for path in po.catalog_files("ru"):
        for msgid, forms in po.parse(path.read_text(encoding="utf-8"), str(path)).items():
            for form in forms:
                allowed = _fields(msgid) | _fields(getattr(forms, "plural", None) or "") | {"n"}
                if form and _fields(form) - allowed:
                    bad.append(f"{path.name}: {msgid!r} -> {form!r}")
    assert not bad, "\n".join(bad)


def test_a_message_in_two_catalogs_has_one_translation():
    """Catalogs are merged into one: the same msgid in two packages' ru.po
    must read the same, or the package read last silently wins."""
    first: dict[str, tuple] = {}
    bad = []
    for path in po.catalog_files("ru"):
        for msgid, forms in po.parse(path.read_text(encoding="utf-8"), str(path)).items():
            where, seen = first.setdefault(msgid, (path, forms))
            if seen != forms:
                bad.append(f"{msgid!r}: {where} says {seen}, {path} says {forms}")
    assert not bad, "\n".join(bad)


def test_marked_constants_are_found_by_extraction():
    found = po.messages()
    assert "Jan" in found and "{n} site fault" in found
    assert found["{n} site fault"][0] == "{n} site faults"
    assert N_("x") == "x" and not isinstance(N_("x"), i18n.Message)


def test_english_read_back_from_json_is_translated_by_its_template():
    """A report or facts file read back from JSON holds plain English; the
    catalog's templates recognise it, arguments and plural forms included."""
    assert tr("2 site faults, no software faults; 1 check could not run", "ru") == \
        "2 неисправности на стороне объекта, ошибок программы нет; 1 проверка не смогла выполниться"
    assert tr("Consequence of disk.space:/srv: the database lives on the filesystem that is full.",
              "ru") == "Следствие disk.space:/srv: база данных лежит на переполненной файловой системе."
    assert tr("hello, world", "ru") == "hello, world"  # "{a}, {b}" only when both parts are known
