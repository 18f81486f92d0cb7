"""The backtest's run loop: one borrower's events through the engine, with the visits the policy asks for.

:class:`BorrowerRunner` (``run_borrower``: all at once) drives
:class:`monitor.engine.Engine` itself, one borrower at a time (borrowers are
independent in the engine), and only *observes* what the
engine does: the tier changes come from the engine's alerts, the team from the
engine's state, the tier, grade, profile and classification floor at an
instant from ``Engine.view`` after advancing to that instant. Nothing about a
borrower is derived a second way.

Visits: the inspection teams visit when the engine asks
    A backtest asks what a policy would have made the teams do. The recorded
    ``inspection_completed`` events were made under the policy of their time,
    so they are not replayed as visits. Instead, whenever the engine's next
    visit is due (``state.due``) while the borrower is on the routine schedule
    and performing (before its default), the loop makes that visit: it applies
    an ``inspection_completed`` event at exactly the due instant, through
    ``Engine.apply`` like any other event, so the engine sets the next due date
    by its own visit model (cadence after a visit, response deadlines when the
    tier rises, hand-over to workout, ...). What the visit found is the
    latest recorded finding at or before it (``normal`` when none): the
    borrower's condition as an inspector last saw it, never a later one.
    A recorded finding thus reaches the engine only when the policy sends
    someone: a policy that visits less learns of a concern later.

    Order at one instant: events first, then a visit due then, then the
    engine's own wake-up (as for any event: a wake-up at an event's instant is
    settled after it). The loop settles the engine's wake-ups one at a time,
    so a wake-up that raises the tier and pulls the due date forward gets its
    visit at the new due date, before later wake-ups and events. The result
    equals ``monitor replay`` of the borrower's events without the recorded
    inspections plus the visits made (tests/backtest/test_one_derivation.py).

    A due date before the borrower was first seen (say the first check of an
    existing loan, due before the history starts) is made at the first
    instant the engine knows the borrower, and not counted: it belongs to the
    time before the history.

    With the teams' capacity (``_teams``), the visits are not made at the due
    instants but when the team plans them: the runner is resumable
    (``run_until``), makes only the visit planned for it (``plan``), and the
    engine sets the next due date from the visit actually made.

Refused events: an event the engine refuses as a conflicting duplicate (an
event_id applied earlier with other content) or fails on is counted as
rejected and changes nothing, as ``monitor replay`` rejects it.

Duplicate memory: each event comes with its content digest, computed once
for every policy (``_worker.load_part``), or ``engine.UNIQUE`` when no other
event of the borrower has its event_id (nothing will be compared with it), or
``engine.UNSEEN`` for every event (the visits' too) of a borrower whose event
ids are all distinct (no duplicate memory kept at all);
the visits the loop makes have ids of their own (``backtest-visit-...``).

Probes: at each probe instant (month ends; any instant in tests) the loop
advances the engine to it and records ``Engine.view``: exactly what
``monitor replay --as-of`` says there, because advancing to an instant
between events settles the same wake-ups, in the same order, as the next
event would.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from monitor._time import from_us
from monitor._construct import constructor
from monitor.engine import CONFLICT, DUPLICATE, UNIQUE, Engine
from monitor.events import Event, InspectionCompleted, InspectionOutcome
from monitor.outputs import Alert, BorrowerView
from monitor.state import BorrowerState, ProfileFact

__all__ = ["BorrowerRun", "BorrowerRunner", "Probe", "Visit", "run_borrower", "visit_event"]

_OUTCOMES = {o.value: o for o in InspectionOutcome}
VISIT_SOURCE = "backtest"
VISIT_PREFIX = "backtest-visit-"
WORKOUT = "workout"  # the engine's due reason while a borrower is handed over to special-asset management


class Visit(NamedTuple):
    """A visit the policy asked for and the loop made (a named tuple: one is made every few events)."""

    at: int  # when it was made
    team: str  # the borrower's team in the engine's state then
    tier: int  # the effective tier when it was made (before the visit)
    reason: str  # why it was due (the engine's due reason)
    asked_at: int  # when the engine set this due date
    outcome: str  # the finding reported to the engine
    counted: bool  # False: due before the borrower was first seen (before the history)
    due: int  # the due instant in force when it was made (``at`` unless the teams' capacity moved it)


@dataclass(slots=True)
class BorrowerRun:
    """What the engine did for one borrower, as plain data."""

    borrower_id: str
    first_seen: int | None = None  # the instant its first profile was applied
    applied: int = 0
    duplicates: int = 0
    rejected: int = 0  # refused by the engine (conflicting duplicates) or failed in it
    after_as_of: int = 0
    alerts: list[Alert] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)
    team_time: dict[str, int] = field(default_factory=dict)  # performing microseconds per team
    # (instant, effective tier or -1 before the profile, handed over to workout) at each probe
    probes: list[tuple[int, int, bool]] = field(default_factory=list)
    views: list[Probe] = field(default_factory=list)  # with ``views=True``: the whole view at each probe
    state: BorrowerState | None = None


@dataclass(frozen=True, slots=True)
class Probe:
    """The borrower as ``monitor replay --as-of at`` knows it: the engine's view, grade and profile."""

    at: int
    view: BorrowerView
    grade: str | None
    profile: ProfileFact | None


_MAKE_VISIT = constructor(InspectionCompleted)


def visit_event(borrower_id: str, n: int, at: int, team: str, outcome: str) -> InspectionCompleted:
    """The ``inspection_completed`` event of the ``n``-th visit the loop makes for a borrower."""
    return _MAKE_VISIT({"event_id": f"{VISIT_PREFIX}{borrower_id}-{n}", "borrower_id": borrower_id,
                        "occurred_at": from_us(at), "source": VISIT_SOURCE, "type": "inspection_completed",
                        "team": team, "inspector": VISIT_SOURCE, "outcome": _OUTCOMES[outcome], "notes": None})


_NEVER = 2**63


class BorrowerRunner:
    """One borrower's events through the engine to ``as_of``, resumable; see the module docstring.

    ``events``: (instant, event, content digest or ``UNIQUE``, ``UNSEEN`` or None to let the engine compute it), sorted
    by instant (stable). ``end``: visits are made only before this instant (the borrower's default, or
    after ``as_of``). ``findings``: the recorded inspections as (instant, outcome), sorted. ``probes``:
    sorted instants at which to record the effective tier (and with ``views`` the engine's whole view).
    ``visit_digest``: None when some event of the borrower has an id like the visits' (then their digests
    are computed). ``planned=False``: visits at the due instants; ``True``: only the visit given to
    :meth:`plan`.
    """

    __slots__ = ("engine", "run", "state", "events", "n_events", "i", "as_of", "end", "finding_at",
                 "findings", "probes", "n_probes", "pi", "views", "visit_digest", "planned", "plan_at",
                 "n_visits", "team", "team_since")

    def __init__(self, engine: Engine, borrower_id: str, events: Sequence[tuple[int, Event, int | None]],
                 as_of: int, end: int, findings: Sequence[tuple[int, str]] = (), probes: Sequence[int] = (),
                 views: bool = False, visit_digest: int | None = UNIQUE, planned: bool = False) -> None:
        self.engine = engine
        self.run = BorrowerRun(borrower_id)
        self.state = engine.new_state(borrower_id)
        self.events = events
        self.n_events = len(events)
        self.i = 0
        self.as_of = as_of
        self.end = end
        self.findings = findings
        self.finding_at = [t for t, _ in findings]
        self.probes = probes
        self.n_probes = len(probes)
        self.pi = 0
        self.views = views
        self.visit_digest = visit_digest
        self.planned = planned
        self.plan_at: int | None = None  # the planned visit (planned mode)
        self.n_visits = 0
        self.team: str | None = None
        self.team_since = 0

    # ------------------------------------------------------------ what the team scheduler reads

    def next_instant(self) -> int:
        """The earliest instant something happens to the borrower by itself or by plan (an event up to
        ``as_of``, a wake-up, the planned visit); probes are recorded on the way."""
        nxt = _NEVER
        if self.i < self.n_events:
            t = self.events[self.i][0]
            if t <= self.as_of:
                nxt = t
        wake = self.state.wake
        if wake is not None and wake < nxt:
            nxt = wake
        if self.plan_at is not None and self.plan_at < nxt:
            nxt = self.plan_at
        return nxt

    def due(self) -> int | None:
        """The due instant of the next routine visit before ``end``; None off the routine schedule."""
        state = self.state
        due = state.due if state.profile is not None else None
        return due if due is not None and due < self.end else None

    def plan(self, at: int) -> None:
        """The team will make the next visit at ``at`` (if the borrower is still on the schedule then)."""
        self.plan_at = at

    # ------------------------------------------------------------ running

    def _note_team(self, now: int) -> None:
        prof = self.state.profile
        if prof is None:
            return
        run = self.run
        if run.first_seen is None:
            run.first_seen = now
            self.team, self.team_since = prof.team, now
        elif prof.team != self.team:
            if self.team is not None:
                run.team_time[self.team] = run.team_time.get(self.team, 0) + max(0, min(now, self.end)
                                                                                - self.team_since)
            self.team, self.team_since = prof.team, min(now, self.end)

    def _settle(self, limit: int, inclusive: bool) -> None:
        """Make the visits and settle the wake-ups due before ``limit`` (or at it), in time order."""
        state = self.state
        engine = self.engine
        alerts = self.run.alerts
        end = self.end
        planned = self.planned
        while True:
            due = state.due if state.profile is not None else None
            if planned:
                at_plan = self.plan_at
                if at_plan is not None and (due is None or at_plan >= end):
                    self.plan_at = at_plan = None  # off the schedule (workout) or defaulted: not made
                due = at_plan
            if due is not None and (due > limit if inclusive else due >= limit):
                due = None
            if due is not None and due >= end:
                due = None
            wake = state.wake
            if wake is not None and (wake > limit if inclusive else wake >= limit):
                wake = None
            if wake is not None and (due is None or wake < due):
                engine.advance_into(state, wake, alerts)
                continue
            if due is None:
                return
            self._visit(due)

    def _visit(self, due: int) -> None:
        state = self.state
        run = self.run
        clock = state.clock if state.clock is not None else due
        at = due if due >= clock else clock
        owed = state.due if state.due is not None else due
        counted = run.first_seen is not None and owed >= run.first_seen
        i = bisect_right(self.finding_at, at)
        outcome = self.findings[i - 1][1] if i else "normal"
        prof = state.profile
        visit_team = prof.team if prof is not None else ""
        self.n_visits += 1
        visit = Visit(at, visit_team, state.tier, state.due_why or "", state.due_at or at, outcome, counted, owed)
        self.engine.apply_into(state, visit_event(run.borrower_id, self.n_visits, at, visit_team, outcome), at,
                               self.visit_digest, run.alerts)
        run.visits.append(visit)
        if self.planned:
            self.plan_at = None
        elif state.due == due and state.profile is not None:
            raise RuntimeError(f"backtest bug: the visit at {at} left {run.borrower_id} due at the same instant")

    def _probe_until(self, limit: int, inclusive: bool) -> None:
        probes, run, state = self.probes, self.run, self.state
        planned, end = self.planned, self.end
        while self.pi < self.n_probes and (probes[self.pi] <= limit if inclusive else probes[self.pi] < limit):
            p = probes[self.pi]
            due = state.due if state.profile is not None else None
            wake = state.wake
            if planned or (due is not None and due <= p and due < end) or (wake is not None and wake <= p):
                self._settle(p, inclusive=True)  # every wake-up due at or before p too: as advance(state, p) would
            run.probes.append((p, state.tier if state.profile is not None else -1, state.due_why == WORKOUT))
            if self.views:
                run.views.append(Probe(p, self.engine.view(state, p), state.grade, state.profile))
            self.pi += 1

    def run_until(self, limit: int) -> None:
        """Everything strictly before ``limit`` (and not after ``as_of``): events, visits, wake-ups, probes."""
        state = self.state
        run = self.run
        apply = self.engine.apply_into
        alerts = run.alerts
        events = self.events
        probes = self.probes
        n, n_probes = self.n_events, self.n_probes
        as_of = self.as_of
        planned = self.planned
        i = self.i
        probe = probes[self.pi] if self.pi < n_probes else _NEVER  # the next probe instant
        applied = duplicates = rejected = 0  # added to the run's counts at the end
        while i < n:
            t, event, digest = events[i]
            if t >= limit:
                break
            i += 1
            if t > as_of:
                run.after_as_of += 1
                continue
            if probe < t:
                self._probe_until(t, inclusive=False)
                probe = probes[self.pi] if self.pi < n_probes else _NEVER
            due, wake = state.due, state.wake
            if (due is not None and due < t) or (wake is not None and wake < t) or \
                    (planned and self.plan_at is not None):
                self._settle(t, inclusive=False)  # else nothing is due before the event: the engine settles the rest
            mark = len(alerts)
            try:
                outcome = apply(state, event, t, digest, alerts)
            except Exception:  # noqa: BLE001 - as monitor replay: the event is rejected, the rest goes on
                del alerts[mark:]  # what the failed step decided is not kept, as with ``Engine.apply``
                rejected += 1
                continue
            if outcome == DUPLICATE:
                duplicates += 1
            elif outcome == CONFLICT:
                rejected += 1
            else:
                applied += 1
            prof = state.profile
            if prof is not None and prof.team != self.team:  # a team is a string: never None
                self._note_team(t)
        self.i = i
        run.applied += applied
        run.duplicates += duplicates
        run.rejected += rejected
        stop = min(limit, as_of + 1)
        if self.pi < n_probes and probes[self.pi] < stop:
            self._probe_until(stop, inclusive=False)
        self._settle(stop, inclusive=False)

    def finish(self) -> BorrowerRun:
        """Run to ``as_of`` inclusive and close the team time; the run's plain data."""
        as_of = self.as_of
        self.run_until(as_of + 1)
        while self.i < self.n_events:  # the events after as_of
            self.i += 1
            self.run.after_as_of += 1
        state = self.state
        self.engine.advance_into(state, as_of, self.run.alerts)
        if self.team is not None:
            self.run.team_time[self.team] = self.run.team_time.get(self.team, 0) + max(
                0, min(as_of, self.end) - self.team_since)
        self.run.state = state
        return self.run


def run_borrower(engine: Engine, borrower_id: str, events: Sequence[tuple[int, Event, int | None]], as_of: int,
                 end: int, findings: Sequence[tuple[int, str]] = (), probes: Sequence[int] = (),
                 views: bool = False, visit_digest: int | None = UNIQUE) -> BorrowerRun:
    """Run one borrower's events to ``as_of``, the visits at the due instants; see :class:`BorrowerRunner`."""
    return BorrowerRunner(engine, borrower_id, events, as_of, end, findings, probes, views, visit_digest).finish()
