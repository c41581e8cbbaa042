"""The site report's shortcuts give exactly what the plain way gives.

- The JSON of a site report is written by json's C encoder alone unless a
  value needs :func:`strict` (NaN, infinities, lone surrogates): byte for
  byte the text of the strict walk, on hostile seat reports too.
- A seat report where nothing is wrong is read off its document without
  model objects: it is accepted exactly when the full model would accept
  it, and the site report made of it is the same.
"""

from __future__ import annotations

import copy
import json
import math
import time

import pytest

from diagnose.fleet import collect
from diagnose.fleet.site import build
from diagnose.i18n import _
from diagnose.model import Fault, Status
from diagnose.reports import jsonfmt, render
from tests.rigs.seats import fleet, gathered, seat_report

NET = {"network.connectivity": "healthy"}
PORT_CLOSED = {"network.connectivity": "port-closed"}
NOW = time.time()
HOSTILE = ['</script><script>alert(1)</script>', 'quote " backslash \\ slash /', "tab\tnew\nline\rcr\x00nul\x1f",
           "line\u2028para\u2029sep", "snow\u2603man \U0001F600", "\ud800lone", "lone\udfff", "\udc80", "…",
           "", " ", "\\ud800 (escaped text, not a surrogate)", "\x7f\x80\xff"]


def _payload(doc: dict, extra: str = "") -> bytes:
    """A seat report as JSON text, with raw JSON spliced in (NaN, lone
    surrogate escapes: what json.dumps would not write)."""
    text = json.dumps(doc, ensure_ascii=False)
    return (text[:-1] + extra + "}").encode("utf-8", "surrogatepass") if extra else text.encode("utf-8", "surrogatepass")


def _hostile_seats():
    seats = {}
    for i, s in enumerate(HOSTILE):
        doc = seat_report(f"ws-{i}", PORT_CLOSED if i % 2 else NET, {"switch": s[:40] or "SW", "room": s})
        doc["findings"][0]["title"] = s + " title"
        doc["findings"][0]["evidence"] = {"text": s, s: [s, 1.5, -0.0, 10 ** 30, None, True]}
        doc["seat"]["port"] = s
        seats[f"ws-{i}"] = {"report": _payload(doc, ', "nan": NaN, "inf": [Infinity, -Infinity, 1e999], '
                                                   '"sur": "\\udc80\\ud83d", "pair": "\\ud83d\\ude00"')}
    seats["ws-plain"] = {"report": seat_report("ws-plain", NET)}
    seats["ws-broken"] = {"report": b'{"schema": "diagnose.report/1", "findings": [{"title": NaN}]}'}
    seats["ws-late"] = {"report": seat_report("ws-late", NET, started=NOW - 9000), "seen": NOW - 9000}
    for s in seats.values():
        s.setdefault("seen", NOW)  # fixed times: two builds of these seats are the same
    return seats


def _hostile_site(seats=None, encode=False):
    seats = seats or _hostile_seats()
    return build(gathered(fleet(), seats, encode=encode), fleet(), NOW, now=NOW)


def test_the_fast_json_is_byte_identical_to_the_strict_walk(monkeypatch):
    site = _hostile_site()
    fast = render(site, "json")
    slow_calls = []
    real = jsonfmt._compact_strict
    monkeypatch.setattr(jsonfmt, "_compact_strict", lambda v: slow_calls.append(1) or real(v))
    assert render(site, "json") == fast
    n_items = len(site.findings) + len(site.seats) + 2 * len(site.reports)
    assert 0 < len(slow_calls) < n_items / 2  # hostile items walked, the plain ones not
    monkeypatch.setattr(jsonfmt, "compact", real)  # the plain way for every item
    assert render(site, "json") == fast
    doc = json.loads(fast)  # strict JSON: no NaN, no lone surrogate, encodable
    fast.encode("utf-8")
    assert doc["reports"]["ws-0"]["nan"] is None and doc["reports"]["ws-0"]["inf"] == [None, None, None]
    assert doc["reports"]["ws-0"]["pair"] == "\U0001F600"
    sur = doc["reports"]["ws-0"]["sur"]
    assert sur and not jsonfmt._SURROGATE.search(sur)  # written as escape text


@pytest.mark.parametrize("value", [
    {"a": float("nan")}, [float("inf"), -math.inf], {"k\ud800": 1}, "\udfff", [1, "ok", {"x": ("t", "u")}],
    {1: "int key", 2.5: "float key", True: "bool key", None: "null key"}, {"s": {1, 2}},
    {"msg": _("{n} seats", n=3), "status": Status.FAIL, "fault": Fault.SITE}, "…\u2028", 1e308, -0.0,
    {"deep": [[[[{"x": "\ud83d"}]]]]}, "plain ascii", 10 ** 40,
])
def test_compact_equals_the_strict_walk(value):
    assert jsonfmt.compact(value) == jsonfmt._compact_strict(value)


def _summary(data: bytes):
    doc, report, why = collect.validate_report(data, 1 << 20)
    if report is None:
        return why
    return (report.started, report.verdict.to_dict(), [f.to_dict() for f in report.findings if f.status.is_problem],
            [c.to_dict() for c in report.checks if c.status is Status.ERROR], report.tool_version, report.host,
            report.resolved)


def _mutations(base: dict):
    """Documents the quick path must judge as the full model does."""
    odd = [None, 0, 1.5, "", "x", "OK", "ok", "skip", "error", "warn", [], {}, ["a"], [1], {"a": 1}, True]
    yield base
    for key in ("tool", "host", "started", "verdict", "checks", "findings", "resolved", "history", "seat"):
        for v in odd:
            d = copy.deepcopy(base)
            d[key] = v
            yield d
        d = copy.deepcopy(base)
        d.pop(key, None)
        yield d
    for key in ("status", "site_faults", "headline"):
        for v in odd:
            d = copy.deepcopy(base)
            d["verdict"][key] = v
            yield d
    for key in ("name", "status", "error"):
        for v in odd:
            d = copy.deepcopy(base)
            d["checks"][0][key] = v
            yield d
    for key in ("check", "subject", "status", "fault", "title", "detail", "evidence", "remedy", "steps",
                "caused_by", "consequences", "history"):
        for v in odd + [[{"text": "t", "command": "c"}], [["t", "c"]], [{"text": 1}], ["a", "b", "c"], "site"]:
            d = copy.deepcopy(base)
            d["findings"][0][key] = v
            yield d
        d = copy.deepcopy(base)
        d["findings"][0].pop(key, None)
        yield d
    d = copy.deepcopy(base)
    d["findings"].append("not a finding")
    yield d


def test_an_all_ok_report_is_judged_as_the_full_model_judges_it(monkeypatch):
    base = json.loads(json.dumps(seat_report("ws-1", {"network.connectivity": "healthy",
                                                      "bluetooth.interference": "healthy_headset"})))
    assert collect._all_ok(base) is not None  # the case the shortcut is for
    datas = [json.dumps(d).encode() for d in _mutations(base)]
    quick = [_summary(x) for x in datas]
    monkeypatch.setattr(collect, "_all_ok", lambda doc: None)
    full = [_summary(x) for x in datas]
    assert quick == full
    assert sum(isinstance(x, str) for x in full) > 50 and sum(not isinstance(x, str) for x in full) > 50


def test_a_site_report_is_the_same_with_and_without_the_shortcut(monkeypatch):
    seats = _hostile_seats()

    def site_json():
        site = _hostile_site(seats)
        site.duration_s, site.started = 0, ""
        return render(site, "json")

    quick = site_json()
    monkeypatch.setattr(collect, "_all_ok", lambda doc: None)
    assert site_json() == quick


def test_reports_kept_as_json_text_are_written_the_same():
    seats = _hostile_seats()
    plain, encoded = _hostile_site(seats), _hostile_site(seats, encode=True)
    for site in (plain, encoded):
        site.duration_s, site.started = 0, ""
    assert isinstance(encoded.reports["ws-0"], jsonfmt.Encoded) and isinstance(plain.reports["ws-0"], dict)
    assert render(encoded, "json") == render(plain, "json")
    assert json.loads(json.dumps(encoded.to_dict(), default=str)) == json.loads(render(plain, "json"))
