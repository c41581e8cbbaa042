"""Runs checks: applicability, concurrent isolated probes, judges, attribution.

Every probe runs in its own daemon thread with a timeout; the whole run has a
deadline. A probe that raises or hangs becomes an ``error`` result naming the
check, and the rest of the run goes on. Daemon threads matter here: a probe
stuck in a blocking call cannot be killed in Python, so the runner stops
waiting for it and the interpreter does not wait for it at exit either.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from diagnose import __version__
from diagnose.activity import of_thread
from diagnose.attribution import attribute
from diagnose.check import Check
from diagnose.config import Config, digest_of
from diagnose.host import Host, NotLive
from diagnose.i18n import _
from diagnose.model import CheckResult, Finding, Report, Status, make_verdict
from diagnose.redact import redact_finding, redact_obj, redact_text
from diagnose.registry import Registry

FACTS_SCHEMA = "diagnose.facts/1"

# Debian package names for commands checks commonly need; used in skip reasons.
PACKAGE_OF = {"sqlite3": "sqlite3", "psql": "postgresql-client", "systemctl": "systemd",
              "pactl": "pulseaudio-utils", "btmgmt": "bluez", "iw": "iw", "sipsak": "sipsak"}


@dataclass
class Collected:
    """What probing one check produced: facts, or why there are none."""

    name: str
    state: str  # ran | skipped | error
    facts: dict[str, Any] | None = None
    error: str | None = None
    skipped: str | None = None
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "facts": self.facts, "error": self.error,
                "skipped": self.skipped, "duration_s": round(self.duration_s, 4)}

    @classmethod
    def from_dict(cls, name: str, d: dict[str, Any]) -> "Collected":
        return cls(name, d["state"], d.get("facts"), d.get("error"), d.get("skipped"),
                   d.get("duration_s") or 0.0)


@dataclass
class Collection:
    """All probes' output plus where and when: the content of a facts file."""

    host: str
    site: str
    role: str
    started: str
    duration_s: float
    config: dict[str, Any]
    config_digest: str  # "": computed from config when the facts are written (to_dict)
    results: dict[str, Collected] = field(default_factory=dict)
    config_file: str | None = None  # the file the config came from; None: built-in defaults
    # What the run history knew of this host when the facts were collected
    # (diagnose.state.history.History.context): kept with the facts so that
    # --from-facts marks findings new/recurring/flapping the same way.
    history: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": FACTS_SCHEMA,
            "tool": {"name": "diagnose", "version": __version__},
            "host": self.host, "site": self.site, "role": self.role,
            "started": self.started, "duration_s": round(self.duration_s, 4),
            "config_digest": self.config_digest or digest_of(self.config), "config": self.config, "config_file": self.config_file,
            "checks": {n: c.to_dict() for n, c in self.results.items()},
            **({"history": self.history} if self.history is not None else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Collection":
        """Raises :class:`diagnose.factsfile.FactsError` (a ValueError) when
        *d* does not follow the facts schema. Secrets a file written by an
        older version may hold are masked on the way in."""
        from diagnose.factsfile import validate

        validate(d)
        d = redact_obj(d)
        col = cls(d["host"], d.get("site") or "", d.get("role") or "", d["started"],
                  d.get("duration_s") or 0.0, d.get("config") or {}, d.get("config_digest") or "")
        col.results = {n: Collected.from_dict(n, c) for n, c in d["checks"].items()}
        col.config_file = d.get("config_file")
        col.history = d.get("history") if isinstance(d.get("history"), dict) else None
        return col


def detect_role(host: Host, config: Config) -> str:
    """[site] role when set; otherwise guessed from what is configured and
    what hardware is here. Server evidence: [[database]], [[service]] or
    [[gateway]] configured. Workstation evidence: [headset], [audio] or
    [bluetooth] configured, or a sound card present. Both -> both; no
    evidence at all -> server: a machine without any sound hardware is not an
    agent's seat, and calling its missing headset a fault would be false."""
    role = config.section("site").get("role")
    if role:
        return role
    server = any(config.has(s) for s in ("database", "service", "gateway"))
    cards = host.read_text("/proc/asound/cards", missing="").strip()
    workstation = any(config.has(s) for s in ("headset", "audio", "bluetooth")) or (
        bool(cards) and "no soundcards" not in cards)
    if server and workstation:
        return "both"
    return "workstation" if workstation else "server"


def probe_config(check: Check, config: Config, role: str, registry: Registry | None = None) -> dict[str, Any]:
    """The cfg a check's applies() and probe() receive: its section, and for
    a ``run_context`` check the run itself under ``_run``."""
    cfg = config.for_check(check)
    if check.run_context:
        cfg = dict(cfg, _run={"registry": registry, "config": config, "role": role})
    return cfg


def why_skip(check: Check, host: Host, config: Config, role: str, asked: bool = False) -> str | None:
    """The runner's decision whether *check* applies here; a reason when not.
    A check *asked* for by name (``--only``) runs whatever this host's role."""
    cfg = config.for_check(check)
    if check.section and cfg.get("enabled") is False:
        return _("disabled in the config ([{section}] enabled = false)", section=check.section)
    needs = check.needs
    if needs.role != "any" and role not in (needs.role, "both") and not asked:
        return _("a {need} check; this host's role is {role} (set [site] role to change)",
                 need=needs.role, role=role)
    if needs.section and not config.has(check.section):
        table = f"[[{check.section}]]" if check.multi else f"[{check.section}]"
        return _("not configured: add a {table} section to the config (see diagnose init)", table=table)
    if needs.live and not host.live:
        return _("needs the live machine; facts are from the recorded tree at {root}", root=host.root)
    if needs.commands and not any(host.which(c) for c in needs.commands):
        pkgs = sorted({PACKAGE_OF.get(c, c) for c in needs.commands})
        return _("needs {commands} on PATH (apt-get install {packages})",
                 commands=" or ".join(needs.commands), packages=" ".join(pkgs))
    if needs.paths and not any(host.exists(p) for p in needs.paths):
        return _("none of {paths} exists on this host", paths=", ".join(needs.paths))
    if needs.modules:
        import importlib.util
    for mod in needs.modules:
        if importlib.util.find_spec(mod) is None:
            return _("needs the Python module {module} (pip install diagnose's dependencies)", module=mod)
    return check.applies(host, probe_config(check, config, role) if check.run_context else cfg)


class _Call:
    """One isolated call in a daemon thread, pytest ``CallInfo``-style."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.value: Any = None
        self.exc: BaseException | None = None
        self.tb: str = ""
        self.started = time.monotonic()
        self.ended: float | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self.thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self.value = fn()
        except BaseException as exc:  # noqa: BLE001 - everything becomes a result
            import traceback

            self.exc = exc
            self.tb = traceback.format_exc(limit=-4)
        finally:
            self.ended = time.monotonic()
            self.done.set()

    @property
    def duration(self) -> float:
        return (self.ended or time.monotonic()) - self.started


def _hung_at(call: _Call) -> str:
    what = of_thread(call.thread.ident)
    return _("still hung while {what}", what=what) if what else _("still hung")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, NotLive):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def check_timeout(check: Check, config: Config, override: float | None) -> float:
    return timeout_of(check, config, override)[0]


def timeout_of(check: Check, config: Config, override: float | None) -> tuple[float, bool]:
    """(seconds, own): the check's section ``timeout_s``, else ``--timeout``,
    else ``[runner] timeout_s`` when the file sets it, else the check's own
    default. *own* is true for the first and the last: a timeout the check
    (or its section) chose is never cut short by the run's deadline."""
    sect = config.section(check.section) if check.section else {}
    # [[section]] tables each may set timeout_s: the probe runs them all, so the longest
    own = [i.get("timeout_s") for i in sect.get("items", [])] if check.multi else [sect.get("timeout_s")]
    own = [t for t in own if t]
    if own:
        return float(max(own)), True
    if override:
        return float(override), False
    if config.set_by_file("runner", "timeout_s"):
        return float(config.section("runner")["timeout_s"]), False
    return float(check.timeout), True


def collect(registry: Registry, host: Host, config: Config, *, only: list[str] | None = None,
            skip: list[str] | None = None, timeout: float | None = None,
            deadline: float | None = None,
            progress: Callable[[str, str], None] | None = None,
            inputs: Callable[[Check, dict[str, Any]], Any] | None = None) -> Collection:
    """Probe every applicable check concurrently; never raises for a check.

    *inputs(check, cfg)*, called for each check about to be probed, gives
    what its probe gets as ``cfg["_history"]`` (None: nothing)
    (its own recorded numbers, see ``Check.history_window``)."""
    t0 = time.monotonic()
    started = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    role = detect_role(host, config)
    col = Collection(host.hostname(), config.section("site").get("name") or "", role, started, 0.0,
                     config.for_facts(), "", config_file=config.path)  # digest: when facts are saved
    names = sorted(set(registry.checks) | set(registry.broken))
    if only:
        names = [n for n in names if n in only]
    if skip:
        names = [n for n in names if n not in skip]

    calls: dict[str, tuple[_Call, float]] = {}
    own: set[str] = set()
    for name in names:
        if name in registry.broken:
            col.results[name] = Collected(name, "error", error=registry.broken[name])
            continue
        check = registry.checks[name]
        try:
            reason = why_skip(check, host, config, role, asked=bool(only) and name in only)
        except Exception as exc:  # an applies() hook that raises is the check's error
            col.results[name] = Collected(name, "error", error=_("applicability test failed: {error}",
                                                                       error=_describe(exc)))
            continue
        if reason:
            col.results[name] = Collected(name, "skipped", skipped=reason)
            continue
        cfg = probe_config(check, config, role, registry)
        extra = inputs(check, cfg) if inputs else None
        if extra is not None:
            cfg = dict(cfg, _history=extra)
        limit, mine = timeout_of(check, config, timeout)
        # A probe with a budget of its own (the disk walk) fits it inside this.
        cfg = dict(cfg, _timeout_s=limit)
        if mine:
            own.add(name)
        calls[name] = (_Call(lambda c=check, k=cfg: c.probe(host, k)), limit)
        if progress:
            progress(name, "started")

    if deadline is None:
        longest = max((t for _, t in calls.values()), default=0.0)
        deadline = float(config.section("runner")["deadline_s"]) \
            if config.set_by_file("runner", "deadline_s") else longest + 5.0
    end = t0 + deadline
    pending = dict(calls)
    while pending:
        now = time.monotonic()
        for name, (call, limit) in list(pending.items()):
            if call.done.is_set():
                col.results[name] = _collected(name, call)
            elif now - call.started >= limit:
                col.results[name] = Collected(
                    name, "error", duration_s=call.duration,
                    error=redact_text(_("probe timed out after {limit:g}s and was abandoned, {how}",
                                        limit=limit, how=_hung_at(call))))
            elif now >= end and name not in own:
                col.results[name] = Collected(
                    name, "error", duration_s=call.duration,
                    error=redact_text(_("probe still running at the run deadline ({limit:g}s) and was "
                                        "abandoned, {how}", limit=deadline, how=_hung_at(call))))
            else:
                continue
            del pending[name]
            if progress:
                progress(name, col.results[name].state)
        if not pending:
            break
        waits = [call.started + limit for call, limit in pending.values()]
        if any(n not in own for n in pending):
            waits.append(end)
        nearest_expiry = min(waits) - time.monotonic()
        # Wake as soon as any probe finishes: wait on the first pending one
        # in short slices rather than polling all of them.
        first = next(iter(pending.values()))[0]
        first.done.wait(max(0.0, min(nearest_expiry, 0.02)))
    _finish(registry, col, config, role, calls)
    col.results = {n: col.results[n] for n in names if n in col.results}
    col.duration_s = time.monotonic() - t0
    return col


def _finish(registry: Registry, col: Collection, config: Config, role: str, calls: dict) -> None:
    """Let run_context checks amend their facts from everyone else's."""
    for name in calls:
        check = registry.checks[name]
        got = col.results.get(name)
        if not check.run_context or got is None or got.state != "ran":
            continue
        others = {n: r.facts for n, r in col.results.items() if n != name and r.state == "ran" and r.facts}
        try:
            facts = check.finish(got.facts or {}, others, probe_config(check, config, role, registry))
            got.facts = json.loads(json.dumps(facts, allow_nan=False))
        except Exception as exc:  # noqa: BLE001 - the check's error, not the run's
            col.results[name] = Collected(name, "error", duration_s=got.duration_s,
                                          error=_("finish raised {error}", error=_describe(exc)))


def _collected(name: str, call: _Call) -> Collected:
    if call.exc is not None:
        return Collected(name, "error", duration_s=call.duration,
                         error=redact_text(_("probe raised {error}", error=_describe(call.exc))))
    try:
        # Round-trip through JSON so judges see exactly what a facts file holds.
        facts = json.loads(json.dumps(call.value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        return Collected(name, "error", duration_s=call.duration,
                         error=f"probe returned facts that are not JSON-serialisable: {exc}")
    if not isinstance(facts, dict):
        return Collected(name, "error", duration_s=call.duration,
                         error=f"probe returned {type(facts).__name__}, not a dict of facts")
    # Secrets never reach a facts file, a judge or a report (diagnose.redact).
    return Collected(name, "ran", facts=redact_obj(facts), duration_s=call.duration)


def judge_one(check: Check, facts: dict[str, Any], cfg: dict[str, Any],
              timeout: float) -> tuple[list[Finding], str | None]:
    """Run a judge isolated: (findings, None) or ([], error message)."""
    call = _Call(lambda: check.judge(facts, cfg))
    if not call.done.wait(timeout):
        return [], f"judge timed out after {timeout:g}s"
    if call.exc is not None:
        return [], f"judge raised {_describe(call.exc)}"
    findings = call.value
    if not isinstance(findings, list) or not all(isinstance(f, Finding) for f in findings):
        return [], "judge did not return a list of Finding"
    for f in findings:
        bad = _malformed(f)
        if bad:  # a judge fed facts it did not expect; never let it break the report
            return [], f"judge returned a malformed finding: {bad}"
    for f in findings:
        f.check = check.name
        redact_finding(f)
    return findings, None


def _malformed(f: Finding) -> str | None:
    for name in ("subject", "title", "detail"):
        if not isinstance(getattr(f, name), str):
            return f"{name} is {type(getattr(f, name)).__name__}, not a string"
    if not isinstance(f.evidence, dict):
        return f"evidence is {type(f.evidence).__name__}, not an object"
    for name in ("caused_by", "consequences"):
        ids = getattr(f, name)
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return f"{name} is not a list of finding ids"
    try:
        json.dumps(f.evidence, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return f"evidence is not JSON: {exc}"
    return None


def evaluate(registry: Registry, col: Collection, config: Config,
             timeout: float | None = None) -> Report:
    """Judge collected facts, attribute causes, build the report."""
    findings: list[Finding] = []
    results: list[CheckResult] = []
    for name, got in col.results.items():
        check = registry.checks.get(name)
        if got.state == "skipped":
            results.append(CheckResult(name, Status.SKIP, got.duration_s, skipped=got.skipped))
            continue
        if got.state == "error" or check is None:
            err = redact_text(got.error or f"no check named {name} is installed here")
            results.append(CheckResult(name, Status.ERROR, got.duration_s, error=err))
            continue
        cfg = config.for_check(check)
        t0 = time.monotonic()
        found, err = judge_one(check, got.facts or {}, cfg, check_timeout(check, config, timeout))
        duration = got.duration_s + (time.monotonic() - t0)
        if err:
            results.append(CheckResult(name, Status.ERROR, duration, error=err))
            continue
        findings.extend(found)
        worst = max((f.status for f in found), default=Status.OK)
        results.append(CheckResult(name, worst, duration))
    findings = attribute(findings)
    return Report(
        tool_version=__version__, host=col.host, site=col.site, role=col.role,
        started=col.started, duration_s=col.duration_s, findings=findings, checks=results,
        verdict=make_verdict(findings, results), config_file=col.config_file,
    )


def config_from_facts(col: Collection, registry: Registry) -> Config:
    """The configuration recorded in a facts file, validated as a config
    (sections and keys unknown here are skipped: another version or a
    plugin wrote them). Raises ConfigError naming the bad value."""
    from diagnose.config import apply, load

    base = load(None, registry.schemas(), registry.multi_sections())
    data = {k: (v["items"] if k in base.multi and isinstance(v, dict) and "items" in v else v)
            for k, v in col.config.items()}
    apply(base, data, None, "facts file config", strict=False)
    return base
