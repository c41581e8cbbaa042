"""Cross-check attribution: which findings are consequences of which.

Judges attribute what they can see alone. Correlation across checks lives
here, and only here, as declarative :class:`Rule` rows (DESIGN.md section 4):
a rule names the cause check, the effect check, conditions on each, and the
fields that must agree. After linking, a consequence inherits the fault
domain of its root cause, so the verdict counts each real-world fault once.

Evidence keys the rules rely on (the judges' side of the contract):

- ``disk.space`` findings: subject is the mountpoint.
- ``database.integrity``: ``evidence.mount``, the mountpoint holding the
  database files (found from the server's config files or process when it
  does not answer), and ``evidence.reason`` (ok, corrupt, disk-full: cannot
  start or refuses writes on a full disk, server-down, access-denied: a
  server that cannot start because its files were given to another owner,
  auth, permission: this run may not read it, missing-file, not-verified, ...).
- ``application.services``: ``evidence.mounts`` (mountpoints of its data and
  log paths, of its databases' files, and of files its disk-full log lines
  name), ``evidence.databases`` (names of [[database]] entries it
  depends on) and ``evidence.reason`` (ok, crashed, stopped, not-listening,
  disk-full, database-corrupt, wrong-port, port-taken, oom-killed,
  access-denied, ...), and with ``access-denied`` ``evidence.denied_databases``
  (the [[database]] entries whose files it is refused).
- ``audio.settings`` findings carry ``evidence.missing_device`` when the
  sound server has no device at all for the headset.
- ``call.routing`` and ``queue.kpi`` findings: subject is the queue name
  (call.routing's finding about members with missing devices is
  ``<queue>/devices``).
- network-dependent findings carry ``evidence.scope``: ``"local"`` for this
  host's own link (``network.connectivity``), ``"remote"`` for a target
  reached over the network (the server, a gateway).
- ``config.drift`` findings carry ``evidence.file`` (the changed file, as on
  the inspected host), ``evidence.keys`` (the names of the changed keys),
  ``evidence.settings`` (``"[section] key"`` of each) and
  ``evidence.whole_file`` (true when the change is not per key: a line
  diff, a binary, an added or removed file). Any finding about a configured
  value carries ``evidence.file`` and ``evidence.key`` (and
  ``evidence.section`` for ini-style files): when a drift finding changed
  that key (in that section) of that file, or changed that file as a
  whole, the finding is its consequence ("gain too high" is explained by
  "rxgain changed 0.0 -> 9.5 by ivan") and takes its fault domain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from diagnose.i18n import N_, _, join
from diagnose.model import Fault, Finding

_MISSING = object()


class _Absent:
    """A ``*_when`` value meaning "the finding has no such field"."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = _Absent()


@dataclass(frozen=True)
class Rule:
    """An effect finding is a consequence of a cause finding when both are
    problems (warn/fail/error), the checks match (``*`` for any), every
    ``*_when`` condition holds and every ``join`` pair agrees. A join pair
    ``(effect_field, cause_field)`` agrees when the values are equal, or one
    side is a list that contains the other's value, or both are lists that
    share a value. A field may be a template of fields,
    ``"[{evidence.section}] {evidence.key}"``, missing when any part is; a
    condition :data:`ABSENT` holds when the field is missing."""

    name: str
    cause: str
    effect: str
    why: str
    join: tuple[tuple[str, str], ...] = ()
    cause_when: dict[str, Any] = field(default_factory=dict)
    effect_when: dict[str, Any] = field(default_factory=dict)


RULES: tuple[Rule, ...] = (
    Rule("disk-full-corrupts-database", cause="disk.space", effect="database.integrity",
         join=(("evidence.mount", "subject"),),
         cause_when={"status": "fail"},
         # Corrupt, down, or refusing writes; never a wrong password or a
         # missing file, which no full disk explains.
         effect_when={"evidence.reason": ("corrupt", "disk-full", "server-down", ABSENT)},
         why=N_("the database lives on the filesystem that is full")),
    Rule("disk-full-stops-service", cause="disk.space", effect="application.services",
         join=(("evidence.mounts", "subject"),),
         cause_when={"status": "fail"},
         # Only a service that is down or deaf: a wrong port or a missing
         # program is not explained by a full disk.
         effect_when={"evidence.reason": ("disk-full", "crashed", "stopped", "not-listening", "hung", "stuck-io")},
         why=N_("the service writes to the filesystem that is full")),
    Rule("disk-full-stops-report-saving", cause="disk.space", effect="report.delivery",
         join=(("evidence.mount", "subject"),),
         cause_when={"status": "fail"},
         why=N_("the reports directory is on the filesystem that is full")),
    Rule("corrupt-database-stops-service", cause="database.integrity", effect="application.services",
         join=(("evidence.databases", "subject"),),
         cause_when={"evidence.reason": ("corrupt", ABSENT)},
         effect_when={"evidence.reason": ("database-corrupt", "crashed", "stopped", "not-listening")},
         why=N_("the service depends on the corrupt database")),
    Rule("database-down-stops-service", cause="database.integrity", effect="application.services",
         join=(("evidence.databases", "subject"),),
         cause_when={"evidence.reason": ("disk-full", "server-down", "access-denied")},
         effect_when={"evidence.reason": ("disk-full", "database-corrupt", "crashed", "stopped",
                                          "not-listening", "hung")},
         why=N_("the service depends on the database, which cannot start or write")),
    Rule("refused-files-refuse-the-database-check", cause="application.services", effect="database.integrity",
         join=(("subject", "evidence.denied_databases"),),
         cause_when={"evidence.reason": "access-denied"},
         effect_when={"evidence.reason": "permission"},
         why=N_("the database file's owner or mode was changed, so it is refused to this check as to the "
                "service")),
    Rule("unplugged-headset-silences-audio", cause="headset.presence", effect="audio.settings",
         cause_when={"status": "fail"},
         effect_when={"evidence.missing_device": True},
         why=N_("the headset is unplugged, so the sound server has no headset device")),
    Rule("local-link-seen-by-gateway", cause="network.connectivity", effect="gateway.power",
         cause_when={"evidence.scope": "local", "status": "fail"},
         effect_when={"evidence.scope": "local"},
         join=(("evidence.interface", "evidence.interface"),),
         why=N_("gateway.power saw the same link of this host go down: one cable, one fault")),
    Rule("drift-explains-setting", cause="config.drift", effect="*",
         join=(("evidence.file", "evidence.file"),
               ("[{evidence.section}] {evidence.key}", "evidence.settings")),
         why=N_("the setting it is about was changed after acceptance")),
    Rule("drift-explains-key", cause="config.drift", effect="*",
         effect_when={"evidence.section": ABSENT},
         join=(("evidence.file", "evidence.file"), ("evidence.key", "evidence.keys")),
         why=N_("the setting it is about was changed after acceptance")),
    Rule("drift-explains-file", cause="config.drift", effect="*",
         cause_when={"evidence.whole_file": True},
         join=(("evidence.file", "evidence.file"),),
         why=N_("the file it is about was changed after acceptance")),
    Rule("queue-routing-misses-targets", cause="call.routing", effect="queue.kpi",
         join=(("subject", "subject"),),
         why=N_("the queue rings absent agents first or has nobody able to answer, so callers wait "
                "and give up")),
    Rule("local-link-down-hides-remote", cause="network.connectivity", effect="*",
         cause_when={"evidence.scope": "local", "status": "fail"},
         effect_when={"evidence.scope": "remote"},
         why=N_("this host's own network link is down, so remote targets cannot be judged")),
)


def _get(f: Finding, path: str) -> Any:
    if "{" in path:
        import string

        values = {}
        for _lit, name, _spec, _conv in string.Formatter().parse(path):
            if name:
                v = _get(f, name)
                if v is _MISSING or v is None or isinstance(v, (list, dict)):
                    return _MISSING
                values[name] = v
        rest = path
        for name, v in values.items():
            rest = rest.replace("{" + name + "}", str(v))
        return rest
    if path == "status":
        return str(f.status)
    if path == "fault":
        return None if f.fault is None else f.fault.value
    if path in ("subject", "check", "title"):
        return getattr(f, path)
    if path.startswith("evidence."):
        cur: Any = f.evidence
        for part in path.split(".")[1:]:
            if not isinstance(cur, dict) or part not in cur:
                return _MISSING
            cur = cur[part]
        return cur
    raise KeyError(f"attribution rule uses unknown field {path!r}")


def _holds(f: Finding, conds: dict[str, Any]) -> bool:
    for path, want in conds.items():
        got = _get(f, path)
        if want is ABSENT:
            if got is not _MISSING and got is not None:
                return False
            continue
        if isinstance(want, (list, tuple, set, frozenset)):
            # ABSENT among the allowed values admits a finding without the field.
            if got is _MISSING or got is None:
                if ABSENT not in want:
                    return False
            elif got not in want:
                return False
        elif got != want:
            return False
    return True


def _agrees(effect_value: Any, cause_value: Any) -> bool:
    if effect_value is _MISSING or cause_value is _MISSING or effect_value is None:
        return False
    if isinstance(effect_value, list) and isinstance(cause_value, list):
        return any(v in cause_value for v in effect_value)
    if isinstance(effect_value, list):
        return cause_value in effect_value
    if isinstance(cause_value, list):
        return effect_value in cause_value
    return effect_value == cause_value


def matches(rule: Rule, cause: Finding, effect: Finding) -> bool:
    if cause is effect or not (cause.status.is_problem and effect.status.is_problem):
        return False
    if rule.cause not in ("*", cause.check) or rule.effect not in ("*", effect.check):
        return False
    if not (_holds(cause, rule.cause_when) and _holds(effect, rule.effect_when)):
        return False
    return all(_agrees(_get(effect, e), _get(cause, c)) for e, c in rule.join)


def _hashable(v: Any) -> bool:
    try:
        hash(v)
        return True
    except TypeError:
        return False


class _Index:
    """The possible causes of one rule, indexed by the value of its first
    join field (each element of a list value), so an effect looks up its
    few candidates instead of comparing itself with every finding. Values
    that cannot be hashed go to a list that is always compared. Candidates
    come back in the order of *findings*, and every one is confirmed with
    :func:`matches`, so the result is the pairwise comparison's."""

    def __init__(self, rule: Rule, findings: list[Finding]) -> None:
        self.rule = rule
        self.findings = findings
        causes = [(pos, f) for pos, f in enumerate(findings)
                  if f.status.is_problem and rule.cause in ("*", f.check) and _holds(f, rule.cause_when)]
        self.causes = causes
        self.by_value: dict[Any, list[int]] | None = None
        self.always: list[int] = []
        if rule.join and causes:
            self.by_value = {}
            cause_field = rule.join[0][1]
            for pos, f in causes:
                v = _get(f, cause_field)
                if v is _MISSING:
                    continue
                values = v if isinstance(v, list) else [v]
                for item in values:
                    if _hashable(item):
                        self.by_value.setdefault(item, []).append(pos)
                    else:
                        self.always.append(pos)

    def causes_of(self, effect: Finding) -> list[Finding]:
        rule = self.rule
        if not self.causes or not effect.status.is_problem or rule.effect not in ("*", effect.check):
            return []
        if not _holds(effect, rule.effect_when):
            return []
        if self.by_value is None:
            positions: list[int] = [pos for pos, _f in self.causes]
        else:
            v = _get(effect, rule.join[0][0])
            if v is _MISSING or v is None:
                return []
            found: set[int] = set(self.always)
            for item in (v if isinstance(v, list) else [v]):
                if _hashable(item):
                    found.update(self.by_value.get(item, ()))
                else:  # an unhashable value can only be compared one by one
                    found.update(pos for pos, _f in self.causes)
            positions = sorted(found)
        return [self.findings[pos] for pos in positions if matches(rule, self.findings[pos], effect)]


def _ancestors(fid: str, by_id: dict[str, Finding]) -> set[str]:
    seen: set[str] = set()
    stack = list(by_id[fid].caused_by) if fid in by_id else []
    while stack:
        cur = stack.pop()
        if cur in seen or cur not in by_id:
            continue
        seen.add(cur)
        stack.extend(by_id[cur].caused_by)
    return seen


def root_of(f: Finding, by_id: dict[str, Finding]) -> Finding:
    """Follow the first cause up to a root (cycle-safe)."""
    seen = {f.id}
    cur = f
    while cur.caused_by:
        nxt = by_id.get(cur.caused_by[0])
        if nxt is None or nxt.id in seen:
            break
        seen.add(nxt.id)
        cur = nxt
    return cur


def attribute(findings: list[Finding], rules: tuple[Rule, ...] = RULES) -> list[Finding]:
    """Link findings by *rules*, inherit fault domains, order roots first.

    Links a judge already set between its own findings are kept. Of several
    causes of one effect, only the nearest is kept (a cause that is itself
    a consequence of another candidate wins over that other candidate), and
    a link that would close a cycle is never made.
    """
    by_id = {f.id: f for f in findings}
    why: dict[tuple[str, str], str] = {}  # (effect, cause) -> the rule's reason
    indexes = [_Index(rule, findings) for rule in rules]
    for effect in findings:
        candidates = [(c.id, ix.rule.why) for ix in indexes for c in ix.causes_of(effect)]
        for cid, reason in candidates:
            if cid in effect.caused_by or effect.id in _ancestors(cid, by_id) or cid == effect.id:
                continue
            effect.caused_by.append(cid)
            why[(effect.id, cid)] = reason
    for effect in findings:
        if len(effect.caused_by) > 1:
            ancestors = set().union(*(_ancestors(c, by_id) for c in effect.caused_by))
            effect.caused_by = [c for c in effect.caused_by if c not in ancestors]
        effect.caused_by = [c for c in effect.caused_by if c in by_id]
        # The judge saw its own facts only; say why the engine overrules it.
        for cid in effect.caused_by:
            if (effect.id, cid) in why:
                because = _("Consequence of {cause}: {why}.", cause=cid, why=_(why[(effect.id, cid)]))
                effect.detail = join(" ", [effect.detail, because]) if effect.detail else because
    for f in findings:
        f.consequences = []
    for f in findings:
        for cid in f.caused_by:
            cause = by_id[cid]
            if f.id not in cause.consequences:
                cause.consequences.append(f.id)
    for f in findings:
        if f.caused_by and f.status.is_problem:
            root = root_of(f, by_id)
            if root.fault is not None:
                f.fault = root.fault
    return order(findings, by_id)


_FAULT_ORDER = {Fault.SITE: 0, Fault.SOFTWARE: 1, Fault.UNDETERMINED: 2, None: 3}


def order(findings: list[Finding], by_id: dict[str, Finding] | None = None) -> list[Finding]:
    """Root problems worst first, then their consequences depth-first in the
    order of their roots, then everything that is fine."""
    by_id = by_id or {f.id: f for f in findings}
    roots = sorted((f for f in findings if f.is_root_cause),
                   key=lambda f: (-f.status, _FAULT_ORDER[f.fault], f.check, f.subject))
    out: list[Finding] = list(roots)
    placed = {f.id for f in out}

    def walk(f: Finding) -> None:
        for cid in f.consequences:
            if cid not in placed and cid in by_id:
                placed.add(cid)
                out.append(by_id[cid])
                walk(by_id[cid])

    for r in roots:
        walk(r)
    rest = [f for f in findings if f.id not in placed]
    rest.sort(key=lambda f: (-f.status, f.check, f.subject))
    out.extend(rest)
    return out
