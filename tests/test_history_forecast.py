"""The disk-full forecast: a real tmpfs filled a little more before each of
10 simulated nightly runs (libfaketime) through the real CLI, and the judge
from recorded facts (tests/data/disk.space/forecast-*.json, recorded from
that rig by ``python3 -m tests.rigs.history``)."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET

import pytest

from diagnose.check import section_config
from diagnose.checks.disk.check import DiskSpace
from diagnose.checks.disk.forecast import fit
from tests.conftest import load_scenarios, needs_root
from tests.rigs.disk import small_fs  # noqa: F401  (fixture)
from tests.rigs.history import PER_DAY, daily_runs, films, needs_faketime, starting_data

CHECK = DiskSpace()
SCENARIOS = dict(load_scenarios("disk.space"))


def judge(name: str, mutate=None, **overrides):
    sc = copy.deepcopy(SCENARIOS[name])
    if mutate:
        mutate(sc["facts"]["mounts"][0])
    [f] = CHECK.judge(sc["facts"], section_config(CHECK, {**sc["config"], **overrides}))
    return sc["facts"]["mounts"][0], f


# -- real tmpfs, real clock control ------------------------------------------

@needs_root
@needs_faketime
def test_tmpfs_filling_nightly_warns_days_ahead_naming_the_growing_directory(small_fs, tmp_path):
    fs = small_fs("8m")
    starting_data(fs)
    proc = daily_runs(fs, tmp_path / "state", 10, films)
    assert proc.returncode == 1, proc.stderr
    [f] = json.loads(proc.stdout)["findings"]
    ev = f["evidence"]
    true_days = ev["free_bytes"] / PER_DAY  # the films arrive at exactly PER_DAY a night
    fc = ev["forecast"]
    assert abs(fc["days_to_full"] - true_days) <= 0.1 * true_days, (fc, true_days)
    assert abs(fc["rate_bytes_per_day"] - PER_DAY) <= 0.1 * PER_DAY
    assert fc["samples"] == 10 and fc["fit"] >= 0.99 and fc["window_days"] == 14
    assert (f["status"], f["fault"]) == ("warn", "site")
    movies = fs.path("share/Movies")
    assert f["title"] == f"Disk {fs.mountpoint} will be full in about {fc['days_to_full']:.1f} days: " \
                         f"{movies} grows"
    assert fc["growing"][0]["path"] == movies and fc["growing_basis"] == "growth"
    assert f"fits with R² 1.00" in f["detail"] and "fewer than forecast_warn_days 7" in f["detail"]
    assert f["steps"][0]["text"].startswith(f"Move or delete what fills {movies} (owner nobody)")
    # Above 20% free, so the percent thresholds alone would have said ok.
    assert ev["free_percent"] > 20
    # The trend the HTML sparkline draws: all ten nights.
    assert len(ev["free_trend"]["t"]) == 10


@needs_root
@needs_faketime
def test_a_flat_series_gives_no_forecast(small_fs, tmp_path):
    fs = small_fs("8m")
    starting_data(fs)
    proc = daily_runs(fs, tmp_path / "state", 6)
    assert proc.returncode == 0, proc.stderr
    [f] = json.loads(proc.stdout)["findings"]
    assert f["status"] == "ok" and "forecast" not in f["evidence"]
    assert len(f["evidence"]["free_trend"]["t"]) == 6


@needs_root
@needs_faketime
def test_html_draws_the_free_space_and_the_forecast_line(small_fs, tmp_path):
    fs = small_fs("8m")
    starting_data(fs)
    proc = daily_runs(fs, tmp_path / "state", 7, films, fmt="html", extra="forecast_warn_days = 30")
    assert proc.returncode == 1, proc.stderr
    start = proc.stdout.index('<svg xmlns="http://www.w3.org/2000/svg"')
    svg = ET.fromstring(proc.stdout[start:proc.stdout.index("</svg>", start) + 6])
    ns = "{http://www.w3.org/2000/svg}"
    line = svg.find(f"{ns}polyline")
    assert len(line.get("points").split()) == 7  # one point per night
    forecast = [e for e in svg.iter(f"{ns}line") if e.get("data-role") == "forecast"]
    assert len(forecast) == 1 and forecast[0].get("stroke-dasharray")
    assert "full in about" in svg.find(f"{ns}title").text
    assert 'data-role="since"' in proc.stdout and "0 new, 0 resolved" in proc.stdout


# -- the judge, from recorded facts --------------------------------------------

def test_recorded_films_forecast_is_a_site_fault():
    m, f = judge("forecast-films")
    assert (str(f.status), str(f.fault)) == ("warn", "site")
    assert f.evidence["forecast"]["days_to_full"] == pytest.approx(
        m["bavail"] * m["frsize"] / PER_DAY, rel=0.1)
    assert "share/Movies" in f.title


def test_recorded_recordings_forecast_is_a_software_fault():
    m, f = judge("forecast-recordings")
    assert (str(f.status), str(f.fault)) == ("warn", "software")
    assert f.title.endswith(f"the application's {m['mountpoint']}/callcenter grows")
    assert f.remedy.startswith(f"1) Vendor: enable or fix retention/rotation for {m['mountpoint']}/callcenter")


def test_no_warning_beyond_forecast_warn_days_but_the_forecast_is_evidence():
    _, f = judge("forecast-films", forecast_warn_days=5)
    assert str(f.status) == "ok" and f.evidence["forecast"]["days_to_full"] > 5
    assert "growing" not in f.evidence["forecast"]


def test_a_poor_fit_does_not_warn_and_says_how_good_it_is():
    def noisy(m):
        for i, s in enumerate(m["history"]):  # the same fall, with large swings around it
            s["free_bytes"] += (1 if i % 2 else -1) * 2_500_000
    _, f = judge("forecast-films", noisy)
    fc = f.evidence["forecast"]
    assert fc["fit"] < 0.8 and str(f.status) == "ok"
    _, f = judge("forecast-films", noisy, forecast_min_fit=0.1)
    assert str(f.status) == "warn"


def test_shrinking_or_flat_trends_and_too_little_history_say_nothing():
    def shrinking(m):
        for s in m["history"]:
            s["free_bytes"] = m["bavail"] * m["frsize"] - 409600 * (len(m["history"]) - m["history"].index(s))
    _, f = judge("forecast-films", shrinking)
    assert "forecast" not in f.evidence and str(f.status) == "ok"
    _, f = judge("forecast-flat")
    assert "forecast" not in f.evidence
    _, f = judge("forecast-films", lambda m: m.update(history=m["history"][-3:]))
    assert "forecast" not in f.evidence  # 4 samples < forecast_min_samples 5
    _, f = judge("forecast-films", forecast_min_samples=3,
                 mutate=lambda m: m.update(history=m["history"][-3:]))
    assert str(f.status) == "warn"
    # Older facts (no probed_at) or a window that holds too few nights: nothing.
    _, f = judge("forecast-films", lambda m: m.pop("probed_at"))
    assert "forecast" not in f.evidence and "free_trend" not in f.evidence
    _, f = judge("forecast-films", forecast_days=2)
    assert "forecast" not in f.evidence


def test_a_disk_already_short_of_space_says_when_it_fills():
    _, f = judge("forecast-films", warn_free_percent=40)
    assert str(f.status) == "warn" and "site" == str(f.fault)
    assert "foreign data" in f.title  # the threshold's own finding, with the walk's cause
    assert "At the current rate (400.0 KB a day, fit R² 1.00) it is full in about 5.6 days." in f.detail


def test_without_walks_the_cause_is_undetermined_with_a_command():
    def unwalked(m):
        m["scan"] = None
        for s in m["history"]:
            s.pop("dirs", None)
    _, f = judge("forecast-films", unwalked)
    assert (str(f.status), str(f.fault)) == ("warn", "undetermined")
    assert "du -xh --max-depth=3" in f.remedy and "scan = \"always\"" in f.remedy


def test_the_least_squares_fit():
    b, a, r2 = fit([(0, 10.0), (1, 8.0), (2, 6.0), (3, 4.0)])
    assert (b, a, r2) == (-2.0, 10.0, 1.0)
    b, a, r2 = fit([(0, 1.0), (1, 3.0), (2, 1.0), (3, 3.0)])
    assert b == pytest.approx(0.4) and r2 == pytest.approx(0.2)


def test_sparkline_is_plain_svg_with_the_mount_escaped():
    from diagnose.model import Finding, Status
    from diagnose.reports.sparkline import for_finding

    trend = {"t": [0, 86400, 172800], "free_bytes": [3000, 2000, 1000], "size_bytes": 4000}
    hostile = "/srv/<script>alert(1)</script>"
    f = Finding("disk.space", hostile, Status.OK, "x", evidence={
        "mount": hostile, "free_trend": trend,
        "forecast": {"days_to_full": 1.0, "rate_bytes_per_day": 1000, "fit": 1.0, "samples": 3}})
    svg = ET.fromstring(for_finding(f))
    ns = "{http://www.w3.org/2000/svg}"
    assert "<script>" in svg.find(f"{ns}title").text  # as text, not markup
    assert not list(svg.iter(f"{ns}script"))
    pts = [tuple(map(float, p.split(","))) for p in svg.find(f"{ns}polyline").get("points").split()]
    assert pts[0][1] < pts[1][1] < pts[2][1]  # less free space each night: the line falls
    [line] = [e for e in svg.iter(f"{ns}line") if e.get("data-role") == "forecast"]
    assert float(line.get("y2")) == pytest.approx(45)  # reaches zero (the bottom) a day later
    assert for_finding(Finding("disk.space", "/", Status.OK, "x", evidence={})) == ""
