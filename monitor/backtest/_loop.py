"""The backtest's run loop: one borrower's events through the engine, with the visits the policy asks for.

``run_borrower`` drives :class:`monitor.engine.Engine` itself, one borrower at a
time (borrowers are independent in the engine), and only *observes* what the
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

Refused events: an event the engine refuses as a conflicting duplicate (an
event_id applied earlier with other content) or fails on is counted as
rejected and changes nothing, as ``monitor replay`` rejects it.

Duplicate memory: each event comes with its content digest, computed once
for every policy (``_worker.load_part``), or ``engine.UNIQUE`` when no other
event of the borrower has its event_id (nothing will be compared with it);
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

from monitor._time import from_us
from monitor.engine import CONFLICT, DUPLICATE, UNIQUE, Engine
from monitor.events import Event, InspectionCompleted, InspectionOutcome
from monitor.outputs import Alert, BorrowerView
from monitor.state import BorrowerState, ProfileFact

__all__ = ["BorrowerRun", "Probe", "Visit", "run_borrower", "visit_event"]

_OUTCOMES = {o.value: o for o in InspectionOutcome}
VISIT_SOURCE = "backtest"
VISIT_PREFIX = "backtest-visit-"
WORKOUT = "workout"  # the engine's due reason while a borrower is handed over to special-asset management


@dataclass(frozen=True, slots=True)
class Visit:
    """A visit the policy asked for and the loop made."""

    at: int  # the due instant, when it was made
    team: str  # the borrower's team in the engine's state then
    tier: int  # the effective tier when it was made (before the visit)
    reason: str  # why it was due (the engine's due reason)
    asked_at: int  # when the engine set this due date
    outcome: str  # the finding reported to the engine
    counted: bool  # False: due before the borrower was first seen (before the history)


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


def visit_event(borrower_id: str, n: int, at: int, team: str, outcome: str) -> InspectionCompleted:
    """The ``inspection_completed`` event of the ``n``-th visit the loop makes for a borrower."""
    return InspectionCompleted.model_construct(
        event_id=f"{VISIT_PREFIX}{borrower_id}-{n}", borrower_id=borrower_id, occurred_at=from_us(at),
        source=VISIT_SOURCE, type="inspection_completed", team=team, inspector=VISIT_SOURCE,
        outcome=_OUTCOMES[outcome], notes=None)


def _on_schedule(state: BorrowerState) -> int | None:
    """The instant of the next routine visit, None when the borrower is off the routine schedule."""
    return state.due if state.profile is not None else None


def run_borrower(engine: Engine, borrower_id: str, events: Sequence[tuple[int, Event, int | None]], as_of: int,
                 end: int, findings: Sequence[tuple[int, str]] = (), probes: Sequence[int] = (),
                 views: bool = False, visit_digest: int | None = UNIQUE) -> BorrowerRun:
    """Run one borrower's events (sorted by instant, stable) to ``as_of``; see the module docstring.

    ``events``: (instant, event, content digest or ``UNIQUE`` or None to let the engine compute it).
    ``end``: visits are made only before this instant (the borrower's default, or after ``as_of``).
    ``findings``: the recorded inspections as (instant, outcome), sorted. ``probes``: sorted instants
    at which to record the effective tier (and with ``views`` the engine's whole view).
    ``visit_digest``: None when some event of the borrower has an id like the visits' (then their
    digests are computed).
    """
    run = BorrowerRun(borrower_id)
    state = engine.new_state(borrower_id)
    apply = engine.apply
    advance = engine.advance
    alerts = run.alerts
    finding_at = [t for t, _ in findings]
    n_visits = 0
    team: str | None = None
    team_since = 0
    pi = 0
    n_probes = len(probes)

    def note_team(now: int) -> None:
        nonlocal team, team_since
        prof = state.profile
        if prof is None:
            return
        if run.first_seen is None:
            run.first_seen = now
            team, team_since = prof.team, now
        elif prof.team != team:
            if team is not None:
                run.team_time[team] = run.team_time.get(team, 0) + max(0, min(now, end) - team_since)
            team, team_since = prof.team, min(now, end)

    def settle(limit: int, inclusive: bool) -> None:
        """Make the visits and settle the wake-ups due before ``limit`` (or at it), in time order."""
        nonlocal n_visits
        while True:
            due = _on_schedule(state)
            if due is not None and (due > limit if inclusive else due >= limit):
                due = None
            if due is not None and due >= end:
                due = None
            wake = state.wake
            if wake is not None and (wake > limit if inclusive else wake >= limit):
                wake = None
            if wake is not None and (due is None or wake < due):
                step = advance(state, wake)
                if step.alerts:
                    alerts.extend(step.alerts)
                continue
            if due is None:
                return
            clock = state.clock if state.clock is not None else due
            at = due if due >= clock else clock
            counted = run.first_seen is not None and due >= run.first_seen
            i = bisect_right(finding_at, at)
            outcome = findings[i - 1][1] if i else "normal"
            prof = state.profile
            visit_team = prof.team if prof is not None else ""
            n_visits += 1
            visit = Visit(at, visit_team, state.tier, state.due_why or "", state.due_at or at, outcome, counted)
            step = apply(state, visit_event(borrower_id, n_visits, at, visit_team, outcome), at, visit_digest)
            if step.alerts:
                alerts.extend(step.alerts)
            run.visits.append(visit)
            if _on_schedule(state) == due:
                raise RuntimeError(f"backtest bug: the visit at {at} left {borrower_id} due at the same instant")

    def probe_until(limit: int, inclusive: bool) -> None:
        nonlocal pi
        while pi < n_probes and (probes[pi] <= limit if inclusive else probes[pi] < limit):
            p = probes[pi]
            settle(p, inclusive=True)  # every wake-up due at or before p too: as advance(state, p) would
            run.probes.append((p, state.tier if state.profile is not None else -1, state.due_why == WORKOUT))
            if views:
                run.views.append(Probe(p, engine.view(state, p), state.grade, state.profile))
            pi += 1

    for t, event, digest in events:
        if t > as_of:
            run.after_as_of += 1
            continue
        if pi < n_probes and probes[pi] < t:
            probe_until(t, inclusive=False)
        due, wake = state.due, state.wake
        if (due is not None and due < t) or (wake is not None and wake < t):
            settle(t, inclusive=False)  # else nothing is due before the event: the engine settles the rest
        try:
            step = apply(state, event, t, digest)
        except Exception:  # noqa: BLE001 - as monitor replay: the event is rejected, the rest goes on
            run.rejected += 1
            continue
        outcome = step.outcome
        if outcome == DUPLICATE:
            run.duplicates += 1
        elif outcome == CONFLICT:
            run.rejected += 1
        else:
            run.applied += 1
        if step.alerts:
            alerts.extend(step.alerts)
        if state.profile is not None and (team is None or state.profile.team != team):
            note_team(t)
    if n_probes:
        probe_until(as_of, inclusive=True)
    settle(as_of, inclusive=True)
    step = advance(state, as_of)
    if step.alerts:
        alerts.extend(step.alerts)
    if team is not None:
        run.team_time[team] = run.team_time.get(team, 0) + max(0, min(as_of, end) - team_since)
    run.state = state
    return run
