"""The queue checks in the customer's language (issue 16): call.routing and
queue.kpi judged from the recorded scenarios (tests/data/call.routing,
tests/data/queue.kpi) and rendered in Russian for the customer and the
vendor, as text and as HTML with the queue's day chart, hold no English
sentence of ours: what stays English is a command, a path, a config key
or a name from the system. Counts take Russian's three plural forms."""

from __future__ import annotations

import copy
import json
import re
from html.parser import HTMLParser

import pytest

from diagnose.attribution import attribute
from diagnose.check import section_config
from diagnose.checks.asterisk.kpi import QueueKpi
from diagnose.checks.asterisk.routing import CallRouting
from diagnose.host import Host
from diagnose.i18n import tr
from diagnose.model import CheckResult, Report, Status, make_verdict
from diagnose.reports import render
from tests.conftest import load_scenarios

ROUTING, KPI = CallRouting(), QueueKpi()
SCENARIOS = [name for name, _ in load_scenarios("call.routing")]
_ENGLISH = re.compile(r"\b[A-Za-z][a-z]+(?:[ ,]+[A-Za-z][a-z]+){3,}\b")


def judged(check, facts: dict, config: dict | None = None) -> list:
    facts = json.loads(json.dumps(facts))  # as recorded on site: plain JSON
    return check.judge(facts, section_config(check, config or {}))


def report_of(name: str) -> Report:
    findings, checks = [], []
    for check in (ROUTING, KPI):
        scenario = dict(load_scenarios(check.name)).get(name)
        if scenario is None:
            continue
        mine = judged(check, scenario["facts"], scenario.get("config"))
        findings += mine
        checks.append(CheckResult(check.name, max(f.status for f in mine), 0.1))
    findings = attribute(findings)
    return Report("0.1.0", "cc-srv01", "Отдел продаж", "server", "2025-11-21T18:00:00+00:00", 0.2,
                  findings, checks, make_verdict(findings, checks))


class _Prose(HTMLParser):
    """The text a reader sees on the page, without the evidence appendix
    (raw data by design, English like the JSON)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if self.skip or dict(attrs).get("data-role") == "evidence":
            self.skip += 1

    def handle_endtag(self, tag):
        if self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def prose(report: Report, fmt: str, audience: str, lang: str) -> str:
    out = render(report, fmt, width=80, verbose=False, audience=audience, lang=lang)
    if fmt == "html":
        p = _Prose()
        p.feed(out)
        out = " ".join(p.parts)
    return re.sub(r"\s+", " ", out.replace(" \\\n", " "))


def tokens(report: Report) -> list[str]:
    """What a Russian report keeps as it is: commands, check names, ids."""
    out = [c.name for c in report.checks]
    for f in report.findings:
        out += [f.id, f.subject] + [s.command for s in f.remedy.steps if s.command]
    return sorted({re.sub(r"\s+", " ", s) for s in out if s}, key=len, reverse=True)


@pytest.mark.parametrize("fmt", ("text", "html"))
@pytest.mark.parametrize("audience", ("customer", "vendor"))
@pytest.mark.parametrize("name", SCENARIOS)
def test_russian_queue_report_has_no_english_sentence_of_ours(name, audience, fmt):
    report = report_of(name)
    text = prose(report, fmt, audience, "ru")
    for token in tokens(report):
        text = text.replace(token, " ")
    english = _ENGLISH.findall(text)
    assert not english, f"untranslated: {english}"
    assert re.search("[а-я]{4,}", text)
    assert not re.search("[А-Яа-я]", prose(report, fmt, audience, "en").replace("Отдел продаж", ""))


def test_the_story_in_russian_names_queue_agents_strategy_and_wait():
    report = report_of("linear-absent-first")
    text = prose(report, "text", "customer", "ru")
    assert "Звонки сначала идут 4 отсутствующим операторам (201, 202, 203, 204)" in text
    assert "стратегия linear; каждый звонок ждёт примерно на 80 с дольше" in text
    assert "Очередь support не выполняет 4 целевых показателя: среднее время ответа 89,4 с (цель 30 с)" in text
    assert "уровень обслуживания 0% (цель 80%)" in text
    assert "asterisk -rx 'queue reload all'" in text  # commands stay as they are typed
    page = prose(report, "html", "customer", "ru")
    assert "Очередь support: день по часам" in page and "поступило звонков: 380, принято: 270" in page
    assert "10: поступило 60" in page and "цель по времени ответа 30 с" in page  # the chart's own words
    # the English report is unchanged
    en = prose(report, "text", "customer", "en")
    assert ("Calls ring 4 absent agents first (201, 202, 203, 204): queue support uses strategy linear; "
            "each call waits about 80 s longer") in en


def test_skip_reasons_are_translated(tmp_path):
    host = Host(str(tmp_path))
    assert tr(ROUTING.applies(host, section_config(ROUTING, {})), "ru") == (
        "здесь нет /etc/asterisk/queues.conf: это не сервер очередей Asterisk (иначе задайте [asterisk] config_dir)")
    assert tr(KPI.applies(host, section_config(KPI, {})), "ru").startswith(
        "здесь нет /var/log/asterisk/queue_log (и его ротированных копий)")


# --- plural forms ----------------------------------------------------------------

def _queue_of(n_absent: int, configured: bool = True) -> dict:
    """The recorded linear queue with *n_absent* agents ahead of one who answers."""
    facts = copy.deepcopy(dict(load_scenarios("call.routing"))["linear-absent-first"]["facts"])
    q = facts["queues"]["support"]
    log = facts["log"]["queues"]["support"]
    names = [str(3000 + i) for i in range(n_absent + 1)]
    q["members"] = [{"interface": f"PJSIP/{m}", "penalty": 0, "name": m, "state_interface": "", "paused": False,
                     "file": q["file"], "line": 22 + i} for i, m in enumerate(names)]
    log["members"] = {m: {"rna": 3 if i < n_absent else 0, "rna_ms": 45000 if i < n_absent else 0,
                          "connects": 0 if i < n_absent else 10, "paused": False, "present": True,
                          "paused_at": None} for i, m in enumerate(names)}
    facts["devices"]["pjsip"] = names if configured else names[-1:]
    return facts


RU_FORMS = {1: 0, 2: 1, 5: 2, 21: 0}


@pytest.mark.parametrize("n", sorted(RU_FORMS))
def test_russian_plurals_in_queue_titles(n):
    form = RU_FORMS[n]
    route = next(f for f in judged(ROUTING, _queue_of(n)) if f.subject == "support")
    assert route.status is Status.FAIL
    assert tr(route.title, "ru").startswith("Звонки сначала идут " + [
        f"{n} отсутствующему оператору", f"{n} отсутствующим операторам", f"{n} отсутствующим операторам"][form])
    assert route.title.startswith(f"Calls ring {n} absent agent{'s' if n != 1 else ''} first")

    devices = next(f for f in judged(ROUTING, _queue_of(n, configured=False)) if f.subject == "support/devices")
    assert tr(devices.title, "ru").startswith("В очереди support " + [
        f"{n} оператор с", f"{n} оператора с", f"{n} операторов с"][form])

    facts = copy.deepcopy(dict(load_scenarios("queue.kpi"))["linear-absent-first"]["facts"])
    facts["log"]["health"]["lines"] = n
    log = next(f for f in judged(KPI, facts) if f.subject == "queue_log")
    assert tr(log.title, "ru").startswith("queue_log: " + [
        f"прочитана {n} строка", f"прочитаны {n} строки", f"прочитано {n} строк"][form])
    facts["log"]["health"].update(malformed=n)
    log = next(f for f in judged(KPI, facts) if f.subject == "queue_log")
    assert [f"пропущена {n} повреждённая строка", f"пропущены {n} повреждённые строки",
            f"пропущено {n} повреждённых строк"][form] in tr(log.title, "ru")
