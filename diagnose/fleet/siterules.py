"""Site-level attribution: many seats' findings -> few site-level root causes.

Declarative, like :mod:`diagnose.attribution`: each :class:`SiteRule` names
which seat findings it gathers (``member_when``), what they must share
(``group_by``: the seat's switch, subnet or room, or the finding's check and
subject), how close in time they must be (``within_s``), and how many seats
it takes (``min_seats`` and ``min_share`` of the seats that could have
shown it). A group that qualifies becomes one site finding naming the seats;
the members are nested under it as its consequences. Rules apply in order
and a finding already explained by an earlier rule is not reconsidered, so
"the server is down for everyone" wins over "every switch lost the server".

Seat findings the rules see:

- every problem finding of a seat's own report that is a root cause there
  (lifted with the seat's name in its id);
- ``site.seat:<seat>`` for a seat that is offline (the broker published its
  will; ``evidence.state = "offline"``) or silent for more than two of its
  intervals (``"silent"``), with its last known report;
- ``site.report:<seat>`` for a report refused as oversized or malformed.

A finding no rule groups stays that seat's own: a single seat's fault is
that seat's fault.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from diagnose.attribution import _holds
from diagnose.fleet.sitemodel import SiteFinding, owner
from diagnose.model import Fault, Status


@dataclass(frozen=True)
class SiteRule:
    name: str
    check: str                       # check name of the site finding it makes
    member_when: tuple[dict[str, Any], ...]  # a seat finding joins when any of these holds
    group_by: tuple[str, ...]        # seat.switch | seat.subnet | seat.gateway_mac | seat.room | check | subject
    subject: str                     # which group_by field names the site finding
    title: str                       # format fields: key, n, total, since, what, first_title
    detail: str
    remedy: str
    label: str
    min_seats: int = 2
    min_share: float = 0.5
    share_of: str = "group"          # group: seats sharing the key; reporting: seats with a report
    within_s: float | None = None    # members' event times must lie this close together
    fault: Fault | None = Fault.SITE  # None: the members' common fault domain
    evidence_keys: tuple[str, ...] = field(default_factory=tuple)


_OFFLINE = {"check": "site.seat", "evidence.state": "offline"}
_LOST_SERVER = {"check": "network.connectivity", "evidence.role": "call-center server", "status": "fail"}

SITE_RULES: tuple[SiteRule, ...] = (
    SiteRule(
        "server-side-failure", check="site.server",
        member_when=({"evidence.scope": "remote"},),
        group_by=("check", "subject", "status", "fault"), subject="subject",
        share_of="reporting", fault=None,
        title="{first_title}: seen by {n} of {total} seats",
        detail="The same failure of {key} shows on {n} of the {total} seats that reported: it is on the server "
               "side (or on the path every seat shares), not at the seats.",
        remedy="{first_remedy}",
        label="server {key}: {n} seats"),
    SiteRule(
        "switch-down", check="site.switch",
        member_when=(_OFFLINE, _LOST_SERVER),
        group_by=("seat.switch",), subject="seat.switch", within_s=60.0,
        title="Switch {key} or its uplink: {n} seats {what} since {since}",
        detail="{n} of the {total} seats on switch {key} went {what} within the same minute ({seats}): one "
               "switch, its power or its uplink, not {n} separate faults.",
        remedy="Check switch {key}: power, its uplink cable and port to the core switch or server room, and "
               "its port LEDs; the seats come back by themselves when the switch does.",
        label="switch {key}: {n} seats"),
    SiteRule(
        "subnet-down", check="site.subnet",
        member_when=(_OFFLINE, _LOST_SERVER),
        group_by=("seat.subnet",), subject="seat.subnet", within_s=60.0,
        title="Network {key}: {n} seats {what} since {since}",
        detail="{n} of the {total} seats in {key} (same default gateway) went {what} within the same minute "
               "({seats}): the switch, router or uplink they share, not {n} separate faults.",
        remedy="Check the switch and router that serve {key}: power, uplink cable, port LEDs; "
               "run `lldpctl` on a seat to learn its switch (install lldpd on the seats to name it here).",
        label="network {key}: {n} seats"),
    SiteRule(
        "bluetooth-room", check="site.room",
        member_when=({"check": "bluetooth.interference", "subject": "radio"},),
        group_by=("seat.room",), subject="seat.room",
        title="Room {key}: Bluetooth congestion on {n} of {total} seats",
        detail="{n} of the {total} seats in room {key} report too many Bluetooth audio devices in range: "
               "the room's air is crowded, not one seat's headset.",
        remedy="Limit Bluetooth headsets in room {key}: switch off or unpair the ones not in use, spread "
               "Bluetooth seats apart, give dense rows wired USB headsets.",
        label="room {key}: {n} seats"),
)


def _value(f: SiteFinding, seat: dict[str, Any], path: str) -> Any:
    if path.startswith("seat."):
        return seat.get(path[5:]) or ""
    if path == "status":
        return str(f.status)
    if path == "fault":
        return f.fault.value if f.fault else ""
    return getattr(f, path)


def _member(f: SiteFinding, rule: SiteRule) -> bool:
    try:
        return any(_holds(f, cond) for cond in rule.member_when)
    except KeyError:
        return False


def _clusters(items: list[tuple[SiteFinding, float | None]], within: float | None) -> list[list[SiteFinding]]:
    """Split by event time: members of one cluster lie within *within*
    seconds of its first. Members with no known time join the largest."""
    if within is None:
        return [[f for f, _ in items]]
    timed = sorted((t, i, f) for i, (f, t) in enumerate(items) if t is not None)
    untimed = [f for f, t in items if t is None]
    out: list[list[SiteFinding]] = []
    start = None
    for t, _, f in timed:
        if start is None or t - start > within:
            out.append([])
            start = t
        out[-1].append(f)
    if untimed:
        if out:
            max(out, key=len).extend(untimed)
        else:
            out.append(untimed)
    return out


def _hhmm(ts: float | None) -> str:
    if ts is None:
        return "an unknown time"
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%H:%M UTC")


def apply(rules: tuple[SiteRule, ...], findings: list[SiteFinding], seats: dict[str, dict[str, Any]],
          times: dict[str, float | None], reporting: int) -> list[SiteFinding]:
    """Group seat findings by *rules*; returns the new site findings and
    links the members (``caused_by``) to them. *seats* maps a seat to its
    seat object, *times* a finding id to its event time (epoch seconds)."""
    made: list[SiteFinding] = []
    counted: dict[tuple[str, ...], dict[tuple[Any, ...], int]] = {}
    candidates = [(f, seat) for f in findings for seat in (owner(f),)
                  if seat and f.status.is_problem]
    for rule in rules:
        groups: dict[tuple[Any, ...], list[tuple[SiteFinding, float | None]]] = {}
        for f, seat in candidates:
            if f.caused_by or not _member(f, rule):
                continue
            key = tuple(_value(f, seats.get(seat, {}), p) for p in rule.group_by)
            if any(k in ("", None) for k in key):
                continue
            groups.setdefault(key, []).append((f, times.get(f.id)))
        for key, items in sorted(groups.items(), key=lambda kv: str(kv[0])):
            for members in _clusters(items, rule.within_s):
                names = sorted({owner(m) for m in members})
                if rule.share_of == "reporting":
                    total = reporting
                else:
                    total = _sharing(rule, seats, counted).get(tuple(key[i] for i in _seat_paths(rule)), 0)
                if len(names) < rule.min_seats or not total or len(names) / total < rule.min_share:
                    continue
                made.append(_make(rule, key, members, names, total, times))
    return made


def _seat_paths(rule: SiteRule) -> list[int]:
    return [i for i, p in enumerate(rule.group_by) if p.startswith("seat.")]


def _sharing(rule: SiteRule, seats: dict[str, dict[str, Any]],
             counted: dict[tuple[str, ...], dict[tuple[Any, ...], int]]) -> dict[tuple[Any, ...], int]:
    """How many seats share each value of the rule's seat fields (switch,
    room...), counted once per rule: the other parts of a group's key are
    the finding's own, the same for every seat."""
    paths = tuple(rule.group_by[i] for i in _seat_paths(rule))
    if paths not in counted:
        counts: dict[tuple[Any, ...], int] = {}
        for s in seats.values():
            k = tuple(s.get(p[5:]) or "" for p in paths)
            counts[k] = counts.get(k, 0) + 1
        counted[paths] = counts
    return counted[paths]


def _make(rule: SiteRule, key: tuple[Any, ...], members: list[SiteFinding], names: list[str], total: int,
          times: dict[str, float | None]) -> SiteFinding:
    subject = str(key[rule.group_by.index(rule.subject)])
    known = [times[m.id] for m in members if times.get(m.id) is not None]
    offline = sum(1 for m in members if m.check == "site.seat")
    what = ("offline" if offline == len(members) else "cut off from the server" if not offline
            else "offline or cut off from the server")
    first = members[0]
    fields = {"key": subject, "n": len(names), "total": total, "since": _hhmm(min(known) if known else None),
              "what": what, "seats": ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20
                                                                else ""),
              "first_title": first.title, "first_remedy": first.remedy}
    faults = {m.fault for m in members}
    fault = rule.fault if rule.fault is not None else (faults.pop() if len(faults) == 1 else Fault.UNDETERMINED)
    site = SiteFinding(
        check=rule.check, subject=subject, status=max(m.status for m in members),
        title=rule.title.format(**fields), fault=fault, detail=rule.detail.format(**fields),
        evidence={"rule": rule.name, "seats": names, "seats_total": total,
                  "since": dt.datetime.fromtimestamp(min(known), dt.timezone.utc).isoformat() if known else None,
                  "members": [m.id for m in members][:200]},
        remedy=rule.remedy.format(**fields), seats=names, label=rule.label.format(**fields))
    why = {"site.switch": f"one of {len(names)} seats on switch {subject} that dropped together",
           "site.subnet": f"one of {len(names)} seats in {subject} that dropped together",
           "site.room": f"one of {len(names)} seats of room {subject} in the same crowded air",
           "site.server": f"the same failure shows on {len(names)} of {total} seats"}.get(rule.check, rule.name)
    for m in members:
        m.caused_by = [site.id]
        m.detail = (m.detail + " " if m.detail else "") + f"Part of {site.id}: {why}."
        if m.status.is_problem:
            m.fault = fault
    site.consequences = [m.id for m in members]
    return site


def inherit(findings: list[SiteFinding]) -> None:
    """Consequences within a seat take their root's (possibly new) fault."""
    by_id = {f.id: f for f in findings}
    for f in findings:
        root, seen = f, {f.id}
        while root.caused_by and root.caused_by[0] in by_id and root.caused_by[0] not in seen:
            root = by_id[root.caused_by[0]]
            seen.add(root.id)
        if root is not f and f.status.is_problem and root.fault is not None:
            f.fault = root.fault


def worst(statuses: list[Status]) -> Status:
    return max(statuses, default=Status.OK)
