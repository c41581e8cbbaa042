"""The reports people read (issue 16): the faulty server and the faulty
workstation of the story (tests/rigs/faulty.py, judged from recorded
scenarios) rendered for the customer and the vendor, in Russian and English,
as text, HTML and mail.

- the customer's report holds no address but the site's own, no secret, no
  caller's number, no raw evidence, and keeps the site's own names;
- the Russian report holds no English sentence of ours (what remains in
  English is data: log lines, device names, commands);
- text fits 80 columns; HTML renders in headless Chromium at desktop and
  phone widths with separate site and software sections, no sideways
  scrolling and no command or check name broken inside a token (the
  screenshots are kept in tests/artefacts/ or $DIAGNOSE_ARTEFACTS).
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from diagnose.delivery import message
from diagnose.model import CheckResult, Fault, Finding, Status, make_verdict
from diagnose.reports import redact, render
from tests.conftest import ROOT, run_cli
from tests.rigs import faulty
from tests.rigs.chromium import chromium  # noqa: F401  (fixture)

ARTEFACTS = Path(os.environ.get("DIAGNOSE_ARTEFACTS") or ROOT / "tests" / "artefacts")
KINDS = ("server", "workstation")
VIEWS = [("customer", "ru"), ("customer", "en"), ("vendor", "ru"), ("vendor", "en")]
FORMATS = ("text", "html", "mail-text", "mail-html")
EMAIL = {"to": ["support@vendor.example"], "customer_to": ["director@sales-office.example"],
         "from": "", "smtp_host": "127.0.0.1", "smtp_port": 25}
SITE_NETS = [ipaddress.ip_network(n) for n in faulty.SITE_NETWORKS]
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")


@functools.lru_cache(maxsize=None)
def built(kind: str):
    return faulty.faulty_server() if kind == "server" else faulty.faulty_workstation()


class _Text(HTMLParser):
    """The text a reader sees on a page (script/style-free by construction);
    with *prose_only*, without the evidence appendix (raw data by design)."""

    def __init__(self, prose_only: bool) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.prose_only, self.skip = prose_only, 0

    def handle_starttag(self, tag, attrs):
        if self.skip or (self.prose_only and dict(attrs).get("data-role") == "evidence"):
            self.skip += 1

    def handle_endtag(self, tag):
        if self.skip:
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def page_text(html: str, prose_only: bool = False) -> str:
    p = _Text(prose_only)
    p.feed(html)
    return " ".join(p.parts)


@functools.lru_cache(maxsize=None)
def rendered(kind: str, audience: str, lang: str, fmt: str) -> str:
    report, config = built(kind)
    if fmt.startswith("mail"):
        group = message.Group(audience, lang, ["reader@example.org"])
        msg = message.build(report, EMAIL, group, redact.site_addresses(report, config))
        part = msg.get_body(("plain",) if fmt == "mail-text" else ("html",))
        return part.get_content()
    view = dict(audience=audience, lang=lang, site_addresses=redact.site_addresses(report, config),
                vendor_domains=redact.vendor_domains(EMAIL))
    return render(report, fmt, width=80, verbose=True, **view)


def readable(kind: str, audience: str, lang: str, fmt: str) -> str:
    """What a reader reads, on one line: prose and data, without the HTML
    evidence appendix (raw data by design) or text wrapping."""
    out = rendered(kind, audience, lang, fmt)
    if fmt in ("html", "mail-html"):
        out = page_text(out, prose_only=True)
    return re.sub(r"\s+", " ", out)


def _site_own(ip: str) -> bool:
    a = ipaddress.ip_address(ip)
    return a.is_loopback or any(a in n for n in SITE_NETS)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("lang", ("ru", "en"))
@pytest.mark.parametrize("kind", KINDS)
def test_customer_report_keeps_the_vendors_and_callers_secrets(kind, lang, fmt):
    out = rendered(kind, "customer", lang, fmt)
    foreign = [ip for ip in _IPV4.findall(out) if not _site_own(ip)]
    assert not foreign, f"addresses that are not the site's own: {foreign}"
    assert faulty.SECRET not in out
    assert faulty.CALLER_DIGITS not in out and "123-45-67" not in out
    assert faulty.VENDOR_HOST not in out and "vendor.example" not in out
    assert "data-role=\"evidence\"" not in out and "Evidence:" not in out and "Данные проверки:" not in out
    # the site's own names stay: they are the evidence the customer needs
    if kind == "server":
        assert "/srv/share/Movies" in out and "nobody" in out and "203.0.113.20" in out
    else:
        assert "Jabra EVOLVE 65" in out
    # the vendor's report of the same run has them (so the checks above can fail)
    vendor = rendered(kind, "vendor", lang, fmt)
    if kind == "server":
        assert faulty.VENDOR_HOST in vendor
        if fmt in ("text", "html"):  # evidence: the text with -v, the page always
            assert faulty.VENDOR_IPS[0] in vendor and faulty.CALLER_DIGITS in vendor
    assert faulty.SECRET not in vendor  # secrets: never, whatever the audience


# English that is data, not ours: what the system said (log lines, device
# and program names, errors quoted by a check), commands, and ids.
def _data_strings(report) -> list[str]:
    out: list[str] = [report.host, report.site]

    def walk(v: Any) -> None:
        if isinstance(v, str):
            out.append(v)
            out.extend(v.split(": ", 1)[1:])  # "KeyError: 'x'" quoted after a label
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)

    for f in report.findings:
        walk(f.evidence)
        out += [f.id, f.check, f.subject] + [s.command for s in f.remedy.steps if s.command]
    for c in report.checks:
        out.append(c.name)
    shown = redact.Redactor(faulty.SITE_NETWORKS, ["vendor.example"])  # as the customer sees data
    out += [shown(s) for s in out]
    return sorted({re.sub(r"\s+", " ", s) for s in out if s and len(s) > 3}, key=len, reverse=True)


_ENGLISH = re.compile(r"\b[A-Za-z][a-z]+(?:[ ,]+[A-Za-z][a-z]+){3,}\b")
# Technical words a Russian sentence keeps as they are.
_TECHNICAL = {"PRAGMA integrity_check"}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("audience", ("customer", "vendor"))
@pytest.mark.parametrize("kind", KINDS)
def test_russian_report_has_no_english_sentence_of_ours(kind, audience, fmt):
    report, _ = built(kind)
    text = readable(kind, audience, "ru", fmt)
    for data in _data_strings(report):
        text = text.replace(data, " ")
    for token in _TECHNICAL:
        text = text.replace(token, " ")
    english = _ENGLISH.findall(text)
    assert not english, f"untranslated: {english}"
    assert re.search("[а-я]{4,}", text)
    # and the English report is English throughout
    assert not re.search("[А-Яа-я]", readable(kind, audience, "en", fmt))


@pytest.mark.parametrize("audience,lang", VIEWS)
@pytest.mark.parametrize("kind", KINDS)
def test_text_fits_80_columns_breaking_no_word(kind, audience, lang):
    for verbose in (False, True):
        report, config = built(kind)
        out = render(report, "text", width=80, verbose=verbose, audience=audience, lang=lang,
                     site_addresses=redact.site_addresses(report, config))
        for line in out.splitlines():
            if len(line) > 80:  # only a word longer than a line may stick out, alone
                body = line.strip().removesuffix(" \\").removeprefix("- ")
                assert " " not in body.split(": ", 1)[-1], line


def test_text_numbers_steps_and_shows_commands_without_backticks():
    out = rendered("server", "vendor", "en", "text")
    assert "`" not in out
    lines = out.splitlines()
    i = lines.index("      1. Move or delete /srv/share/Movies (5.5 MB, owner nobody),")
    assert lines[i + 3] == "      2. Then check the free space:"
    assert lines[i + 4] == "           df -h /srv"  # the command alone on its line, under its step


@pytest.mark.parametrize("n,ru", [(1, "1 неисправность на стороне объекта"), (2, "2 неисправности на стороне объекта"),
                                  (5, "5 неисправностей на стороне объекта"),
                                  (21, "21 неисправность на стороне объекта")])
def test_verdict_plural_forms_in_the_rendered_report(n, ru):
    findings = [Finding("disk.space", f"/m{i}", Status.FAIL, "full", Fault.SITE) for i in range(n)]
    checks = [CheckResult("disk.space", Status.FAIL)]
    from diagnose.model import Report

    report = Report("0.1.0", "cc-srv01", "Sales office", "server", "2026-11-22T07:00:00+00:00", 1.0,
                    findings, checks, make_verdict(findings, checks))
    assert render(report, "text", lang="ru").splitlines()[-1] == f"[✗] Итог: {ru}, ошибок программы нет"
    assert f">{ru}, ошибок программы нет<" in render(report, "html", lang="ru")
    en = f"{n} site fault{'s' if n != 1 else ''}, no software faults"
    assert render(report, "text").splitlines()[-1] == f"[✗] Verdict: {en}"


def test_mail_subject_and_headers_per_audience():
    report, config = built("server")
    for audience, lang in VIEWS:
        msg = message.build(report, EMAIL, message.Group(audience, lang, ["x@example.org"]),
                            redact.site_addresses(report, config))
        subject = str(msg["Subject"])
        assert subject.startswith("[diagnose] Sales office / cc-srv01: ")
        head = "3 site faults, 1 software fault" if lang == "en" else \
            "3 неисправности на стороне объекта, 1 ошибка программы"
        assert subject.endswith(head), subject
        assert msg["Auto-Submitted"] == "auto-generated"
        assert "@" in msg["From"] and "." in str(msg["From"]).rsplit("@", 1)[1]
        assert msg["Message-ID"].startswith("<") and "." in msg["Message-ID"].rsplit("@", 1)[1]
        attachments = [p.get_content_type() for p in msg.iter_attachments()]
        assert attachments == (["application/json"] if audience == "vendor" else [])


# --- HTML in a real browser ------------------------------------------------------

def _healthy_report():
    ok = [Finding("disk.space", "/srv", Status.OK, "Disk /srv: 40.2 GB free (61%)"),
          Finding("network.connectivity", "eth0", Status.OK, "eth0 is up at 1000 Mb/s full duplex")]
    checks = [CheckResult("disk.space", Status.OK, 0.1), CheckResult("network.connectivity", Status.OK, 0.2),
              CheckResult("gateway.power", Status.SKIP, 0.0, skipped="not configured")]
    from diagnose.model import Report

    return Report("0.1.0", "cc-srv01", "Sales office", "server", "2026-11-22T07:00:00+00:00", 0.4,
                  ok, checks, make_verdict(ok, checks))


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _tags(dom: str) -> list[tuple[str, dict]]:
    p = _Tags()
    p.feed(dom)
    return p.tags


def _shoot(chromium, page: Path, name: str, width: int) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    shot = chromium.screenshot(page, ARTEFACTS / f"{name}-{width}.png", width, 900 if width > 500 else 844)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("width", (1280, 390), ids=("desktop", "phone"))
@pytest.mark.parametrize("audience,lang", VIEWS)
def test_html_in_chromium_separates_who_acts(chromium, tmp_path, audience, lang, width):
    page = tmp_path / f"server-{audience}-{lang}.html"
    page.write_text(rendered("server", audience, lang, "html"), encoding="utf-8")
    _shoot(chromium, page, f"server-{audience}-{lang}", width)
    dom, layout = chromium.view(page, width, 900)
    tags = _tags(dom)
    sections = {a["data-fault"]: a for t, a in tags if a.get("data-role") == "section"}
    assert set(sections) == {"site", "software"}
    colour = {k: re.search(r"border-top:6px solid (#[0-9a-f]+)", a["style"]).group(1) for k, a in sections.items()}
    assert colour["site"] != colour["software"]
    assert len([a for t, a in tags if a.get("data-role") == "who-acts"]) == 2
    assert layout["innerWidth"] == width and layout["scrollWidth"] <= width
    assert layout["commands"] > 0 and layout["broken"] == [], layout["broken"]
    assert layout["evidence_open"] == 0
    evidence = [a for t, a in tags if a.get("data-role") == "evidence"]
    assert (audience == "vendor") == bool(evidence)
    # the site's root causes come before the software's
    order = [a["data-fault"] for t, a in tags if a.get("data-role") == "section"]
    assert order == ["site", "software"]


@pytest.mark.parametrize("width", (1280, 390), ids=("desktop", "phone"))
@pytest.mark.parametrize("lang", ("en", "ru"))
def test_healthy_run_has_a_green_banner(chromium, tmp_path, lang, width):
    report = _healthy_report()
    assert str(report.verdict.status) == "ok"
    page = tmp_path / f"healthy-{lang}.html"
    page.write_text(render(report, "html", lang=lang, audience="customer"), encoding="utf-8")
    _shoot(chromium, page, f"healthy-customer-{lang}", width)
    dom, layout = chromium.view(page, width, 900)
    [banner] = [a for t, a in _tags(dom) if a.get("data-role") == "verdict"]
    assert banner["data-status"] == "ok" and "background:#dafbe1" in banner["style"]
    assert not [a for t, a in _tags(dom) if a.get("data-role") == "section"]
    assert layout["scrollWidth"] <= width and layout["broken"] == []


# --- the command line ----------------------------------------------------------------

@pytest.fixture(scope="module")
def facts_file(tmp_path_factory):
    _, _, col = faulty.collection(faulty.WORKSTATION, "ws-07", "workstation", site="Отдел продаж")
    path = tmp_path_factory.mktemp("facts") / "ws.json"
    path.write_text(json.dumps(col.to_dict(), ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_cli_ascii_terminal_and_lang_c_never_crash(facts_file):
    for env in ({"LANG": "C", "LC_ALL": "C", "PYTHONIOENCODING": "ascii"},
                {"LANG": "C", "LC_ALL": "C"}):
        for lang in ("ru", "en"):
            done = run_cli("run", "--from-facts", facts_file, "--lang", lang, env=env)
            assert done.returncode == 2, done.stderr
            assert "Traceback" not in done.stderr
            if env.get("PYTHONIOENCODING") == "ascii":
                assert "[X] " in done.stdout and "✗" not in done.stdout  # ASCII marks
                assert "\\u" in done.stdout  # Cyrillic the terminal cannot show, escaped
    done = run_cli("run", "--from-facts", facts_file, env={"LANG": "ru_RU.UTF-8"})
    assert "Итог:" in done.stdout  # the language from the locale


def test_cli_color_and_width(facts_file):
    def out(*args, **env):
        return run_cli("run", "--from-facts", facts_file, *args, env=env).stdout

    assert "\033[" not in out()  # not a terminal
    assert "\033[31m" in out("--color", "always")
    assert "\033[" not in out("--color", "always", "--color", "never")
    assert "\033[" in out(FORCE_COLOR="1")
    assert "\033[" not in out(FORCE_COLOR="1", NO_COLOR="1")
    narrow = out(COLUMNS="60")
    assert max(len(line) for line in narrow.splitlines() if " " in line.strip()) <= 60
    customer = out("--audience", "customer", "--lang", "ru")
    assert "Что сделать вашим сотрудникам" in customer and "Что сделает поставщик" in customer
    bad = run_cli("run", "--from-facts", facts_file, "--audience", "boss")
    assert bad.returncode == 3


def test_configured_gateways_and_server_are_the_sites_own(tmp_path):
    """A [[gateway]] list is {"items": [...]} in a loaded config: every
    gateway's address is the site's own, and so are [network] server and
    [site] networks (their addresses stay in the customer's report)."""
    from diagnose.config import load
    from diagnose.registry import Registry

    path = tmp_path / "site.toml"
    path.write_text('[site]\nnetworks = ["10.1.0.0/24"]\n\n'
                    '[[gateway]]\nname = "gw1"\naddress = "192.0.2.10"\n\n'
                    '[[gateway]]\nname = "gw2"\naddress = "192.0.2.11"\n\n'
                    '[network]\nserver = "198.51.100.7"\n')
    registry = Registry.discover()
    config = load(str(path), registry.schemas(), registry.multi_sections())
    assert redact.site_addresses(None, config) == ["10.1.0.0/24", "192.0.2.10", "192.0.2.11", "198.51.100.7"]
    hide = redact.Redactor(redact.site_addresses(None, config))
    assert hide("gw2 192.0.2.11 answers; 203.0.113.9 does not") == \
        "gw2 192.0.2.11 answers; [address hidden] does not"
