"""telephony.card's findings as people read them (issue 16): every faulty
recorded scenario (tests/data/telephony.card/) judged and rendered for the
customer and the vendor, as text and HTML, in Russian without an English
sentence of ours, and counts of lines and lists of channels in the right
Russian forms for 1, 2, 5 and 21."""

from __future__ import annotations

import copy
import functools
import json
import re

import pytest

from diagnose.i18n import tr
from diagnose.reports import redact, render
from diagnose.runner import evaluate
from tests.rigs import faulty
from tests.telephony_trees import HERE
from tests.test_report_audiences import _ENGLISH, _TECHNICAL, _data_strings, page_text

FAULTY = sorted(p.stem for p in HERE.glob("*.json")
                if any(e["status"] != "ok" for e in json.loads(p.read_text())["expect"]))


def _report(scenario: str, facts: dict | None = None, config: dict | None = None):
    registry, cfg, col = faulty.collection([f"telephony.card/{scenario}"], "cc-srv01", "server")
    if facts is not None:
        col.results["telephony.card"].facts = facts
    if config:
        cfg.sections["telephony"] = dict(cfg.sections["telephony"], **config)
    return evaluate(registry, col, cfg), cfg


@functools.lru_cache(maxsize=None)
def built(scenario: str):
    return _report(scenario)


def readable(report, cfg, audience: str, lang: str, fmt: str) -> str:
    out = render(report, fmt, width=80, verbose=True, audience=audience, lang=lang,
                 site_addresses=redact.site_addresses(report, cfg))
    if fmt == "html":
        out = page_text(out, prose_only=True)
    return re.sub(r"\s+", " ", out)


def test_every_faulty_scenario_is_covered():
    assert {"fxo4-port2-no-battery", "fxo4-all-down", "t1-span1-red", "fxo4-no-card",
            "fxo4-gains-raised", "fxo4-live-gain", "fxo4-no-ec-port3"} <= set(FAULTY)


@pytest.mark.parametrize("fmt", ("text", "html"))
@pytest.mark.parametrize("audience", ("customer", "vendor"))
@pytest.mark.parametrize("scenario", FAULTY)
def test_russian_report_has_no_english_sentence_of_ours(scenario, audience, fmt):
    report, cfg = built(scenario)
    assert any(f.check == "telephony.card" and f.status.is_problem for f in report.findings)
    text = readable(report, cfg, audience, "ru", fmt)
    for data in _data_strings(report):
        text = text.replace(data, " ")
    for token in _TECHNICAL:
        text = text.replace(token, " ")
    english = _ENGLISH.findall(text)
    assert not english, f"untranslated: {english}"
    assert re.search("[а-я]{4,}", text)
    assert not re.search("[А-Яа-я]", readable(report, cfg, audience, "en", fmt))


def _ports(scenario: str, n: int) -> dict:
    """The facts of *scenario* on a card with *n* FXO ports shaped like its first."""
    facts = json.loads((HERE / f"{scenario}.json").read_text())["facts"]
    span = facts["proc"]["spans"][0]
    first = span["channels"][0]
    span["channels"] = [dict(copy.deepcopy(first), channel=i, name=f"WCTDM/0/{i - 1}",
                             line=first["line"].replace("WCTDM/0/0", f"WCTDM/0/{i - 1}").replace("1 ", f"{i} ", 1))
                        for i in range(1, n + 1)]
    for part, key in ((facts["system_conf"], "channels"), (facts["system_conf"], "echocancellers"),
                      (facts["chan_dahdi"], "channels")):
        part[key] = [dict(copy.deepcopy(part[key][0]), channel=i) for i in range(1, n + 1)]
    return facts


def _title(scenario: str, n: int, subject_prefix: str, lang: str) -> tuple[str, str]:
    report, cfg = _report(scenario, _ports(scenario, n))
    [f] = [f for f in report.findings if f.check == "telephony.card" and f.subject.startswith(subject_prefix)]
    return tr(f.title, lang), readable(report, cfg, "customer", lang, "text")


@pytest.mark.parametrize("n,ru", [(1, "1 линия FXO в работе"), (2, "2 линии FXO в работе"),
                                  (5, "5 линий FXO в работе"), (21, "21 линия FXO в работе")])
def test_lines_up_in_the_three_russian_forms(n, ru):
    title, page = _title("fxo4-healthy", n, "card", "ru")
    assert title.startswith(f"Плата телефонии Wildcard TDM410P: {ru}, "), title
    assert ru in page
    en, _ = _title("fxo4-healthy", n, "card", "en")
    assert f": {n} FXO line{'s' if n != 1 else ''} up, " in en


@pytest.mark.parametrize("n,ru", [(2, "ни на одной из 2 линий FXO"), (5, "ни на одной из 5 линий FXO"),
                                  (21, "ни на одной из 21 линии FXO")])
def test_all_lines_down_in_the_russian_forms(n, ru):
    title, page = _title("fxo4-all-down", n, "fxo:", "ru")
    assert title.startswith(f"Нет напряжения (батареи) {ru} к офисной АТС (каналы 1-{n}): "), title
    assert ru in page
    en, _ = _title("fxo4-all-down", n, "fxo:", "en")
    assert en.startswith(f"All {n} FXO lines to the office PBX have no battery (channels 1-{n}): ")


@pytest.mark.parametrize("n,ru,en", [
    (1, "на канале 1:", "on channel 1:"), (2, "на каналах 1-2:", "on channels 1-2:"),
    (5, "на каналах 1-5:", "on channels 1-5:"), (21, "на каналах 1-21:", "on channels 1-21:")])
def test_a_channel_list_reads_as_one_or_several_whatever_its_count_ends_in(n, ru, en):
    title, page = _title("fxo4-gains-raised", n, "rxgain:", "ru")
    assert title == f"Усиление на приём +9,5\u00a0дБ {ru} речь будет хрипеть и трещать"
    assert re.sub(r"\s+", " ", title) in page  # the page's text, its spaces (no-break ones too) collapsed
    assert _title("fxo4-gains-raised", n, "rxgain:", "en")[0] == \
        f"Receive gain +9.5 dB {en} speech will clip and crackle"
