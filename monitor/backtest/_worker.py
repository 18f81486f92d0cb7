"""One part of a backtest: its events read once, then run under each policy and reduced to plain data.

``load_part`` reads and validates a part's event files (with the event
contract, as ``monitor replay`` does; bad lines are counted as rejected) and
groups the events by borrower, each borrower's in ``occurred_at`` order
(stable: equal instants keep the input order, as in the replay). The recorded
``inspection_completed`` events become findings (see ``_loop``). Each event
carries its content digest for the engine's duplicate memory, computed here
once for all the policies run over the part, and only for the events whose
event_id the borrower has more than once (the others are ``UNIQUE``: nothing
will ever be compared with them).

``run_policy`` runs every borrower of a loaded part through the engine with
:func:`monitor.backtest._loop.run_borrower` and returns primitives only
(lists, tuples, dicts, strings, numbers), so that results cross process
boundaries cheaply and merge deterministically:

- ``alerts``: ``(borrower, at, from_level, to_level, rules)`` per alert
  (levels 0 normal .. 3 severe; rules: the signals listed then);
- ``borrowers``: ``(borrower, first_seen, ((team, performing_us), ...))``
  for every borrower whose profile the engine applied;
- ``visits``: ``((team, tier, reason, counted), n)``: how many visits the
  policy asked for and the loop made, by the borrower's team then, the tier
  then, why it was due and whether it counts (due before the history: not);
- with the teams' capacity, ``late``: ``((team, days late), n)`` of the
  counted visits made (days from the local due date to the local date made,
  0 when on time), and ``owed``: ``((team, days overdue), n)`` of the visits
  due by the as-of instant and not made;
- ``month_ends``: per probe instant, the number of borrowers monitored then
  by effective tier, of those that had defaulted (by the outcomes) and of
  those handed over to workout (by the engine), the last two apart.
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor._time import from_us, to_us
from monitor.backtest._loop import VISIT_PREFIX, BorrowerRunner
from monitor.backtest._teams import LocalDates, run_with_teams
from monitor.engine import UNIQUE, Engine, content_digest
from monitor.events import Event, InspectionCompleted
from monitor.jsonl import iter_lines
from monitor.replay import Reject, parse_lines
from monitor.teams import TeamsConfig
from monitor.rules.loader import load_policy
from monitor.rules.policy import LEVEL_NAMES, Policy, parse_policy

__all__ = ["Part", "PolicySource", "load_part", "month_ends", "resolve_policy", "run_policy"]

_LEVEL = {name: i for i, name in enumerate(LEVEL_NAMES)}

# a policy file's path, or a policy mapping (as read from TOML) with a name for messages
PolicySource = str | tuple[str, dict[str, Any]]


@dataclass(slots=True)
class Part:
    """A part's events, validated and grouped by borrower."""

    index: int
    # per borrower: (instant, event, content digest or UNIQUE), in the order the engine takes them
    events: dict[str, list[tuple[int, Event, int]]] = field(default_factory=dict)
    findings: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    visit_ids_taken: set[str] = field(default_factory=set)  # borrowers with an event_id like the visits' ids
    read: int = 0
    rejected: int = 0
    recorded_visits: int = 0
    first: int | None = None  # the earliest valid instant
    latest: int | None = None  # the latest valid instant


def load_part(index: int, paths: Sequence[str]) -> Part:
    """Read and group a part's events; see the module docstring."""
    was_enabled = gc.isenabled()
    gc.disable()  # many long-lived objects, no cycles: the collector would only rescan them
    try:
        return _load_part(index, paths)
    finally:
        if was_enabled:
            gc.enable()


def _load_part(index: int, paths: Sequence[str]) -> Part:
    part = Part(index)
    rejects: list[Reject] = []
    parsed: list[tuple[int, Event]] = []
    for path in paths:
        before = len(parsed) + len(rejects)
        parsed.extend(parse_lines(str(path), iter_lines(path), rejects))
        part.read += len(parsed) + len(rejects) - before
    part.rejected = len(rejects)
    events = part.events
    findings = part.findings
    ids: set[str] = set()
    again: set[str] = set()  # event ids met more than once (in this part)
    first = latest = None
    for t, event in parsed:
        if first is None or t < first:
            first = t
        if latest is None or t > latest:
            latest = t
        bid = event.borrower_id
        if isinstance(event, InspectionCompleted):
            findings.setdefault(bid, []).append((t, event.outcome.value))
            part.recorded_visits += 1
            continue
        eid = event.event_id
        if eid in ids:
            again.add(eid)
        else:
            ids.add(eid)
        got = events.get(bid)
        if got is None:
            events[bid] = [(t, event, UNIQUE)]
        else:
            got.append((t, event, UNIQUE))
    part.first, part.latest = first, latest
    for rows in events.values():
        rows.sort(key=lambda r: r[0])  # stable: equal instants keep the input order
    if again:  # their copies are compared by content: the digest once for every policy
        for rows in events.values():
            if any(r[1].event_id in again for r in rows):
                rows[:] = [(t, e, content_digest(e, t)) if e.event_id in again else (t, e, d) for t, e, d in rows]
    if any(i.startswith(VISIT_PREFIX) for i in ids):
        part.visit_ids_taken.update(bid for bid, rows in events.items()
                                    if any(r[1].event_id.startswith(VISIT_PREFIX) for r in rows))
    for rows in findings.values():
        rows.sort(key=lambda r: r[0])
    return part


def resolve_policy(source: PolicySource) -> Policy:
    if isinstance(source, str):
        return load_policy(source)
    name, data = source
    return parse_policy(data, name)


def month_ends(first: int, last: int, policy: Policy) -> list[int]:
    """The last microsecond of every calendar month (in the policy's time zone) from ``first`` to ``last``."""
    zone = policy.zone
    local = from_us(first).astimezone(zone)
    year, month = local.year, local.month
    out: list[int] = []
    while True:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        edge = to_us(datetime(year, month, 1, tzinfo=zone)) - 1
        if edge > last:
            return out
        out.append(edge)


def run_policy(part: Part, source: PolicySource, policy_index: int, as_of: int | None,
               defaults: dict[str, int], *, rules: bool = True, teams: TeamsConfig | None = None) -> dict[str, Any]:
    """Run every borrower of ``part`` under one policy to ``as_of`` (None: the part's latest valid event,
    as ``monitor replay`` does for a whole input); see the module docstring. With ``teams`` the visits
    are made as the teams' capacity allows (``_teams``)."""
    if as_of is None:
        as_of = part.latest
    started, cpu_started = time.perf_counter(), time.process_time()
    was_enabled = gc.isenabled()
    gc.disable()  # many long-lived objects, no cycles: the collector would only rescan them
    try:
        policy = resolve_policy(source)
        engine = Engine(policy)
        if as_of is None:  # no valid event at all
            return {"policy": policy_index, "part": part.index, "as_of": None, "read": part.read,
                    "rejected": part.rejected, "recorded_visits": 0, "applied": 0, "duplicates": 0,
                    "after_as_of": 0, "alerts": [], "borrowers": [], "visits": [], "month_ends": [],
                    "late": [], "owed": [], "seconds": 0.0, "cpu_seconds": 0.0}
        probes = month_ends(part.first, as_of, policy) if part.first is not None else []
        month_counts = [[0] * 6 for _ in probes]  # normal, watch, warning, severe, defaulted, workout
        alerts: list[tuple[Any, ...]] = []
        borrowers: list[tuple[Any, ...]] = []
        visits: Counter[tuple[str, int, str, bool]] = Counter()
        late: Counter[tuple[str, int]] = Counter()
        owed_at: Counter[tuple[str, int]] = Counter()
        dates = LocalDates(policy.zone)
        as_of_date = dates.date(as_of)
        applied = duplicates = after = refused = 0
        taken = part.visit_ids_taken
        no_findings: list[tuple[int, str]] = []

        def runner(bid: str) -> BorrowerRunner:
            d = defaults.get(bid)
            end = d if d is not None and d <= as_of else as_of + 1  # type: ignore[operator]
            return BorrowerRunner(engine, bid, part.events[bid], as_of, end,  # type: ignore[arg-type]
                                  part.findings.get(bid, no_findings), probes,
                                  visit_digest=None if bid in taken else UNIQUE, planned=teams is not None)

        if teams is None:
            runs: Iterator[tuple[str, BorrowerRunner]] = ((bid, runner(bid)) for bid in sorted(part.events))
        else:
            runners = {bid: runner(bid) for bid in sorted(part.events)}
            run_with_teams(runners, teams, policy.zone, as_of)
            runs = iter(runners.items())
        for bid, r in runs:
            run = r.finish()
            d = defaults.get(bid)
            applied += run.applied
            duplicates += run.duplicates
            refused += run.rejected
            after += run.after_as_of
            for a in run.alerts:
                alerts.append((bid, to_us(a.at), _LEVEL[a.from_tier], _LEVEL[a.to_tier],
                               tuple(s.rule for s in a.signals) if rules else ()))
            if run.first_seen is None:
                continue
            borrowers.append((bid, run.first_seen, tuple(sorted(run.team_time.items()))))
            for v in run.visits:
                visits[(v.team, v.tier, v.reason, v.counted)] += 1
                if teams is not None and v.counted:
                    late[(v.team, max(0, (dates.date(v.at) - dates.date(v.due)).days))] += 1
            owed = r.due()
            if teams is not None and owed is not None and owed <= as_of and r.state.profile is not None \
                    and owed >= run.first_seen:
                owed_at[(r.state.profile.team, max(0, (as_of_date - dates.date(owed)).days))] += 1
            for i, (p, tier, workout) in enumerate(run.probes):
                if tier < 0:
                    continue
                month_counts[i][4 if d is not None and d <= p else 5 if workout else tier] += 1
        return {
            "policy": policy_index, "part": part.index, "as_of": as_of,
            "read": part.read, "rejected": part.rejected + refused, "recorded_visits": part.recorded_visits,
            "applied": applied, "duplicates": duplicates, "after_as_of": after,
            "alerts": alerts, "borrowers": borrowers, "visits": sorted(visits.items()), "late": sorted(late.items()),
            "owed": sorted(owed_at.items()),
            "month_ends": [(p, tuple(c)) for p, c in zip(probes, month_counts)],
            "seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu_started,
        }
    finally:
        if was_enabled:
            gc.enable()
