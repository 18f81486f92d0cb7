"""One part of a backtest: its events read once, then run under each policy and reduced to plain data.

``load_part`` reads and validates a part's event files (with the event
contract, as ``monitor replay`` does; bad lines are counted as rejected) and
groups the events by borrower, each borrower's in ``occurred_at`` order
(stable: equal instants keep the input order, as in the replay). The recorded
``inspection_completed`` events become findings (see ``_loop``). Each event
carries its content digest for the engine's duplicate memory, computed here
once for all the policies run over the part, and only for the events whose
event_id the borrower has more than once (the others are ``UNIQUE``: nothing
will ever be compared with them); a borrower with no repeated event_id (nor
one like the visits' ids) has all its events ``UNSEEN``: the engine keeps no
duplicate memory for it at all. The lines are validated borrower by
borrower (grouped by the id the raw line shows), so that a borrower's events
lie side by side in memory for the runs (see ``_load_part``).

``run_policies`` runs every borrower of a loaded part through the engine under
each policy (a borrower under every policy in turn, its events still in the
CPU's caches), with :class:`monitor.backtest._loop.BorrowerRunner`, and
returns, per policy, primitives only
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
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from datetime import datetime
from typing import Any

from monitor._time import from_us, to_us
from monitor.backtest._loop import VISIT_PREFIX, BorrowerRunner
from monitor.backtest._teams import LocalDates, run_with_teams
from monitor.engine import UNIQUE, UNSEEN, Engine, content_digest
from monitor.events import Event, InspectionCompleted
from monitor.jsonl import iter_lines
from monitor.replay import Reject, parse_lines
from monitor.teams import TeamsConfig
from monitor.rules.loader import load_policy
from monitor.rules.policy import LEVEL_NAMES, Policy, parse_policy

__all__ = ["Part", "PolicySource", "load_part", "month_ends", "resolve_policy", "run_policies", "run_policy"]

_LEVEL = {name: i for i, name in enumerate(LEVEL_NAMES)}

# a policy file's path, or a policy mapping (as read from TOML) with a name for messages
PolicySource = str | tuple[str, dict[str, Any]]


@dataclass(slots=True)
class Part:
    """A part's events, validated and grouped by borrower."""

    index: int
    # per borrower: (instant, event, content digest or UNIQUE or UNSEEN), in the order the engine takes them
    events: dict[str, list[tuple[int, Event, int]]] = field(default_factory=dict)
    findings: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    visit_ids_taken: set[str] = field(default_factory=set)  # borrowers with an event_id like the visits' ids
    remembered: set[str] = field(default_factory=set)  # borrowers whose events go to the duplicate memory
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


_BORROWER = re.compile(rb'"borrower_id"\s*:\s*"([^"\\]*)"')
_PLAIN = b'"borrower_id":"'
_INSTANT = itemgetter(0)


def _raw_lines(path: str) -> list[bytes]:
    """A file's lines as ``iter_lines`` gives them."""
    with open(path, "rb") as fh:
        data = fh.read()
    if data[:2] == b"\x1f\x8b" or b"\r" in data:
        return [raw for _number, raw in iter_lines(path)]
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()  # the last line's newline
    return lines


def _by_borrower(paths: Sequence[str]) -> tuple[dict[bytes, list[bytes]], int]:
    """A part's lines grouped by the borrower id as the raw line shows it (read without parsing, b"":
    none), each group in input order; and the number of lines."""
    groups: dict[bytes, list[bytes]] = {}
    search = _BORROWER.search
    n = 0
    for path in paths:
        lines = _raw_lines(str(path))
        n += len(lines)
        for raw in lines:
            i = raw.find(_PLAIN)
            if i >= 0:
                i += 15
                key = raw[i:raw.find(b'"', i)]
            else:
                m = search(raw)
                key = m.group(1) if m is not None else b""
            got = groups.get(key)
            if got is None:
                groups[key] = [raw]
            else:
                got.append(raw)
    return groups, n


def _load_part(index: int, paths: Sequence[str], *, grouped: bool = True) -> Part:
    """Validated one borrower after another, not in file order: a borrower's events then lie side by
    side in memory, and the runs, which take one borrower at a time, find them in the CPU's caches
    (2,000 x 24: a run 1.14 -> 0.89 s CPU). Each group is in input order, so a borrower's events are
    in input order before the stable sort by instant, as long as all of them are in one group; when
    not (an id the raw lines do not all show alike, say with escapes), the part is read again in
    input order (``grouped=False``: all the lines as one group)."""
    part = Part(index)
    if grouped:
        groups, part.read = _by_borrower(paths)
    else:
        lines = [raw for path in paths for raw in _raw_lines(str(path))]
        groups, part.read = {b"": lines}, len(lines)
    rejects: list[Reject] = []
    events = part.events
    findings = part.findings
    home: dict[str, bytes] = {}  # the group each borrower was met in
    ids: dict[str, str] = {}  # event id -> the borrower it was first met in
    again: set[str] = set()  # event ids met more than once (in this part)
    again_of: set[str] = set()  # the borrowers that have one of them
    first = latest = None
    recorded = 0
    source = ",".join(str(p) for p in paths)
    for key in sorted(groups):
        last = None
        parsed = parse_lines(source, enumerate(groups.pop(key), start=1), rejects)
        if not parsed:
            continue
        lo, hi = min(parsed, key=_INSTANT)[0], max(parsed, key=_INSTANT)[0]
        if first is None or lo < first:
            first = lo
        if latest is None or hi > latest:
            latest = hi
        for t, event in parsed:
            bid = event.borrower_id
            if bid != last:
                if home.setdefault(bid, key) != key:
                    return _load_part(index, paths, grouped=False)
                last = bid
            if event.__class__ is InspectionCompleted:  # the event contract's own classes: no subclass
                got_f = findings.get(bid)
                if got_f is None:
                    findings[bid] = [(t, event.outcome.value)]
                else:
                    got_f.append((t, event.outcome.value))
                recorded += 1
                continue
            eid = event.event_id
            was = ids.get(eid)
            if was is None:
                ids[eid] = bid
            else:
                again.add(eid)
                again_of.add(was)
                again_of.add(bid)
            got = events.get(bid)
            if got is None:
                events[bid] = [(t, event, UNSEEN)]
            else:
                got.append((t, event, UNSEEN))
    part.rejected = len(rejects)
    part.recorded_visits = recorded
    part.first, part.latest = first, latest
    _finish(part, ids, again, again_of)
    return part


def _finish(part: Part, ids: dict[str, str], again: set[str], again_of: set[str]) -> None:
    """Each borrower's rows in time order (stable), the digests of repeated ids, the visits' ids taken."""
    events = part.events
    for rows in events.values():
        rows.sort(key=_INSTANT)  # stable: equal instants keep the input order
    if any(i.startswith(VISIT_PREFIX) for i in ids):
        part.visit_ids_taken.update(bid for bid, rows in events.items()
                                    if any(r[1].event_id.startswith(VISIT_PREFIX) for r in rows))
    part.remembered = again_of | part.visit_ids_taken
    for bid in part.remembered:  # copies compared by content (the digest once for every policy), the rest UNIQUE
        rows = events[bid]
        rows[:] = [(t, e, content_digest(e, t) if e.event_id in again else UNIQUE) for t, e, _d in rows]
    for rows in part.findings.values():
        rows.sort(key=_INSTANT)


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


class _Tally:
    """One policy's run over a part, reduced borrower by borrower to plain data (see the module docstring)."""

    def __init__(self, part: Part, source: PolicySource, policy_index: int, as_of: int,
                 defaults: dict[str, int], rules: bool, teams: TeamsConfig | None) -> None:
        self.cpu = 0.0
        self.part = part
        self.index = policy_index
        self.as_of = as_of
        self.defaults = defaults
        self.rules = rules
        self.teams = teams
        self.policy = policy = resolve_policy(source)
        self.engine = Engine(policy, own_states=True)
        self.probes = month_ends(part.first, as_of, policy) if part.first is not None else []
        self.month_counts = [[0] * 6 for _ in self.probes]  # normal, watch, warning, severe, defaulted, workout
        self.alerts: list[tuple[Any, ...]] = []
        self.borrowers: list[tuple[Any, ...]] = []
        self.visits: Counter[tuple[str, int, str, bool]] = Counter()
        self.late: Counter[tuple[str, int]] = Counter()
        self.owed_at: Counter[tuple[str, int]] = Counter()
        self.dates = LocalDates(policy.zone)
        self.as_of_date = self.dates.date(as_of)
        self.applied = self.duplicates = self.after = self.refused = 0

    def runner(self, bid: str) -> BorrowerRunner:
        d = self.defaults.get(bid)
        as_of = self.as_of
        end = d if d is not None and d <= as_of else as_of + 1
        part = self.part
        return BorrowerRunner(self.engine, bid, part.events[bid], as_of, end, part.findings.get(bid, _NO_FINDINGS),
                              self.probes, visit_digest=None if bid in part.visit_ids_taken
                              else UNIQUE if bid in part.remembered else UNSEEN,
                              planned=self.teams is not None)

    def add(self, bid: str, r: BorrowerRunner) -> None:
        """Run the borrower to the end and count what it did."""
        run = r.finish()
        d = self.defaults.get(bid)
        self.applied += run.applied
        self.duplicates += run.duplicates
        self.refused += run.rejected
        self.after += run.after_as_of
        alerts = self.alerts
        rules = self.rules
        for a in run.alerts:
            alerts.append((bid, to_us(a.at), _LEVEL[a.from_tier], _LEVEL[a.to_tier],
                           tuple(s.rule for s in a.signals) if rules else ()))
        if run.first_seen is None:
            return
        self.borrowers.append((bid, run.first_seen, tuple(sorted(run.team_time.items()))))
        teams = self.teams
        visits = self.visits
        for v in run.visits:
            visits[(v.team, v.tier, v.reason, v.counted)] += 1
            if teams is not None and v.counted:
                self.late[(v.team, max(0, (self.dates.date(v.at) - self.dates.date(v.due)).days))] += 1
        if teams is not None:
            owed = r.due()
            as_of = self.as_of
            if owed is not None and owed <= as_of and r.state.profile is not None and owed >= run.first_seen:
                self.owed_at[(r.state.profile.team, max(0, (self.as_of_date - self.dates.date(owed)).days))] += 1
        month_counts = self.month_counts
        for i, (p, tier, workout) in enumerate(run.probes):
            if tier < 0:
                continue
            month_counts[i][4 if d is not None and d <= p else 5 if workout else tier] += 1

    def result(self, seconds: float) -> dict[str, Any]:
        part = self.part
        return {
            "policy": self.index, "part": part.index, "as_of": self.as_of,
            "read": part.read, "rejected": part.rejected + self.refused, "recorded_visits": part.recorded_visits,
            "applied": self.applied, "duplicates": self.duplicates, "after_as_of": self.after,
            "alerts": self.alerts, "borrowers": self.borrowers, "visits": sorted(self.visits.items()),
            "late": sorted(self.late.items()), "owed": sorted(self.owed_at.items()),
            "month_ends": [(p, tuple(c)) for p, c in zip(self.probes, self.month_counts)],
            "seconds": seconds, "cpu_seconds": self.cpu,
        }


_NO_FINDINGS: list[tuple[int, str]] = []


def _empty(part: Part, policy_index: int) -> dict[str, Any]:
    """No valid event at all."""
    return {"policy": policy_index, "part": part.index, "as_of": None, "read": part.read,
            "rejected": part.rejected, "recorded_visits": 0, "applied": 0, "duplicates": 0,
            "after_as_of": 0, "alerts": [], "borrowers": [], "visits": [], "month_ends": [],
            "late": [], "owed": [], "seconds": 0.0, "cpu_seconds": 0.0}


def run_policies(part: Part, sources: Sequence[tuple[int, PolicySource]], as_of: int | None,
                 defaults: dict[str, int], *, rules: bool = True, teams: TeamsConfig | None = None
                 ) -> list[dict[str, Any]]:
    """Run every borrower of ``part`` under each policy (index, source) to ``as_of`` (None: the part's
    latest valid event, as ``monitor replay`` does for a whole input); one result per policy, in the
    order given; see the module docstring. Without ``teams`` the policies take each borrower in turn
    (its events are read from the CPU's caches by all of them); with ``teams`` each policy runs the
    whole part, the visits made as the teams' capacity allows (``_teams``)."""
    if as_of is None:
        as_of = part.latest
    was_enabled = gc.isenabled()
    gc.disable()  # many long-lived objects, no cycles: the collector would only rescan them
    try:
        if as_of is None:
            for _pi, source in sources:
                resolve_policy(source)  # a bad policy fails as it would with events
            return [_empty(part, pi) for pi, _source in sources]
        started = time.perf_counter()
        tallies = []
        for pi, source in sources:
            cpu = time.process_time()
            tally = _Tally(part, source, pi, as_of, defaults, rules, teams)
            tally.cpu += time.process_time() - cpu
            tallies.append(tally)
        if teams is not None:
            for tally in tallies:
                cpu = time.process_time()
                runners = {bid: tally.runner(bid) for bid in sorted(part.events)}
                run_with_teams(runners, teams, tally.policy.zone, as_of)
                for bid, r in runners.items():
                    tally.add(bid, r)
                tally.cpu += time.process_time() - cpu
        else:
            # the CPU time of the whole pass is shared among the policies by their elapsed times (the
            # process's CPU clock is a system call: too dear to read per borrower)
            clock = time.perf_counter
            elapsed = [0.0] * len(tallies)
            cpu = time.process_time()
            for bid in sorted(part.events):
                for k, tally in enumerate(tallies):
                    t = clock()
                    tally.add(bid, tally.runner(bid))
                    elapsed[k] += clock() - t
            cpu = time.process_time() - cpu
            whole = sum(elapsed) or 1.0
            for k, tally in enumerate(tallies):
                tally.cpu += cpu * elapsed[k] / whole
        seconds = (time.perf_counter() - started) / len(tallies)  # elapsed, shared evenly
        return [t.result(seconds) for t in tallies]
    finally:
        if was_enabled:
            gc.enable()


def run_policy(part: Part, source: PolicySource, policy_index: int, as_of: int | None,
               defaults: dict[str, int], *, rules: bool = True, teams: TeamsConfig | None = None) -> dict[str, Any]:
    """One policy over ``part``: ``run_policies`` with one."""
    return run_policies(part, [(policy_index, source)], as_of, defaults, rules=rules, teams=teams)[0]
