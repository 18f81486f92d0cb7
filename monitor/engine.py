"""The decision engine: a pure function of (borrower state, event or clock) -> (state, decisions).

No I/O, no clock reads, no logging: the caller passes event time in and gets
decisions out, like a protocol state machine. The engine takes ownership of
the state it is given and returns the new state (which may be the same object,
updated): callers keep the returned one.

    engine = Engine(policy)
    state = engine.new_state("B000001")
    step = engine.apply(state, event)        # one event
    step = engine.advance(step.state, now)   # time-driven changes up to now
    step.alerts, step.outcome
    if step.schedule_changed: engine.schedule_entry(step.state)
    engine.detail(step.state)                # the borrower page, at the state's clock

An officer's ``tier_override`` bounds the effective tier (after the cure period) while
it holds: ``max(min(tier, cap), floor)``, so a floor wins over a conflicting cap (see
``monitor.rules.overrides``). Its expiry is a time-driven change like the others.

Time-driven changes (a DPD band crossed, a window ending, a cure period
ending, an override expiring) take effect at the exact instant they become
true: ``state.wake`` is the next such instant, and both ``apply`` and
``advance`` settle every wake-up due before the instant they move to, in
time order. A wake-up due at the very
instant of an event is settled together with that event, after it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor._construct import made
from monitor._digest import FORM2 as _DIGEST_FORM2
from monitor._digest import UNIQUE, content_digest, count_unseen, remember
from monitor._digest import digest_form1 as _digest_form1
from monitor._time import DAY, from_us, local_date, to_us
from monitor.events import (
    GRADE_INDEX,
    BureauReport,
    Event,
    InspectionCompleted,
    LawsuitNotice,
    LoanProfile,
    Overdue,
    RatingChange,
    TierOverride,
)
from monitor.outputs import (
    AccountDetail,
    Alert,
    AlertKind,
    BorrowerDetail,
    BorrowerView,
    BureauDetail,
    LawsuitDetail,
    OverrideDetail,
    ProfileDetail,
    ScheduleEntry,
    Signal,
    VisitDetail,
    schedule_entry_json,
)
from monitor.rules import overrides
from monitor.rules.evaluate import BureauLevels, Sig, cure_hold, evaluate, highest_dpd, quiet_family
from monitor.rules.policy import LEVEL_NAMES, Policy
from monitor.rules.visits import WORKOUT, VisitSchedule
from monitor.state import (
    AccountFact,
    BorrowerState,
    InspectionFact,
    ProfileFact,
    RatingMove,
    merge_bureau,
    merge_case,
    prune,
    schedule_key,
    schedule_moves,
)

__all__ = ["Engine", "Step", "BatchStep", "APPLIED", "DUPLICATE", "CONFLICT", "STALE", "ADVANCED", "UNIQUE",
           "UNSEEN", "content_digest"]

APPLIED = "applied"
DUPLICATE = "duplicate"  # an exact copy of an event applied within the duplicate window: ignored
# the event_id of an event applied within the duplicate window, with different content: not applied,
# and the shells refuse it (replay: rejects; worker: dead letter)
CONFLICT = "conflicting_duplicate"
STALE = "stale"  # older than the borrower's clock by more than the duplicate window: not applied
ADVANCED = "advanced"
# ``apply(..., digest=UNIQUE)``: the caller knows that no other event with this event_id will reach this
# state (a backtest holding every event of the borrower): nothing will be compared with its content, so
# no digest is computed and the duplicate memory keeps its instant alone (as for a state written before
# digests were kept): ``UNIQUE`` (-1) comes from monitor._digest, with the memory itself
# ``apply(..., digest=UNSEEN)``: the caller knows that no other event it gives this state has this event_id
# (a backtest holding all of the borrower's events; a replay that counted the ids of its input): the duplicate
# memory will never be consulted for it, so it is not kept. It still takes a place in the memory's cap
# (``duplicate_memory`` ids): while the memory holds ids of events given with a digest, ``seen`` entries
# carry the count of UNSEEN events (``state.unseen``) at their arrival, and the oldest is forgotten exactly
# when the full memory would have forgotten it. With UNSEEN for every event ``seen`` stays empty.
UNSEEN = -2


@dataclass(slots=True)
class Step:
    """What one call did: the new state, its outcome and the decisions made."""

    state: BorrowerState
    outcome: str
    alerts: tuple[Alert, ...] = ()
    schedule_changed: bool = False  # the visit-schedule entry changed: see ``Engine.schedule_entry``


@dataclass(slots=True)
class BatchStep:
    """The merged result of ``apply_batch``: the same decisions as one call per event."""

    state: BorrowerState
    outcomes: list[str] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    schedule_changed: bool = False


def _instant(now: datetime | int) -> int:
    return now if isinstance(now, int) else to_us(now)


class Engine:
    """Applies one policy to borrower states. Stateless itself; safe to share."""

    __slots__ = ("policy", "_bureau_levels", "_bureau_quiet", "_case_days", "_cure", "_dup_window", "_lookback",
                 "_memory", "_move_keep", "_own", "_tz", "_visits")

    def __init__(self, policy: Policy, *, own_states: bool = False) -> None:
        """``own_states``: the caller makes every state it passes with ``new_state`` and changes it only
        through this engine (a backtest, a replay from nothing; not a state loaded from a store, which
        another policy may have settled). Then a bureau report or an inspection that leaves its rule
        family's signals as they were, with nothing else due (no wake-up at or before its instant, no
        override), does not re-evaluate the other families: their result is the one the last evaluation
        settled, and a cure period's holds are those it left, none having ended since (the same state and
        decisions: tests/test_engine_properties.py)."""
        self.policy = policy
        self._own = own_states
        c = policy.cure_days
        self._cure = (0, c.watch * DAY, c.warning * DAY, c.severe * DAY)  # by level
        self._visits = VisitSchedule(policy)
        self._dup_window = policy.duplicate_window_days * DAY
        self._memory = policy.duplicate_memory
        r = policy.rating
        self._lookback = r.downgrade_2.lookback_days * DAY
        self._move_keep = max(r.downgrade_1.active_days, r.downgrade_2.active_days) * DAY
        self._tz = policy.zone
        levels = BureauLevels(policy)
        self._bureau_levels = levels.__call__  # (a bound method: called like a function, cheaper)
        self._bureau_quiet = levels.quiet  # (below them no bureau rule can hold: see ``BureauLevels.quiet``)
        self._case_days = policy.lawsuit.active_days * DAY

    # ------------------------------------------------------------------ API

    def new_state(self, borrower_id: str) -> BorrowerState:
        return BorrowerState(id=borrower_id)

    def apply(self, state: BorrowerState, event: Event, at: int | None = None, digest: int | None = None) -> Step:
        """Apply one event (validated by the event contract) in event time.

        ``at`` may pass ``occurred_at`` already converted to microseconds; ``digest`` its
        ``content_digest`` when the caller has it (one event applied under many policies), or
        ``UNIQUE`` (see there).
        """
        if event.borrower_id != state.id:
            raise ValueError(f"event for {event.borrower_id!r} applied to the state of {state.id!r}")
        was, state.schedule_was = state.schedule_was, None
        alerts: list[Alert] = []
        outcome = self.apply_into(state, event, to_us(event.occurred_at) if at is None else at, digest, alerts)
        return Step(state, outcome, tuple(alerts), self._moved_since(state, was))

    def apply_batch(self, state: BorrowerState, events: Iterable[Event]) -> BatchStep:
        """Apply several events of one borrower in order; the same result as one ``apply`` each."""
        was, state.schedule_was = state.schedule_was, None
        result = BatchStep(state)
        for event in events:
            result.outcomes.append(self.apply_into(state, event, to_us(event.occurred_at), None, result.alerts))
        result.schedule_changed = self._moved_since(state, was)
        return result

    def advance(self, state: BorrowerState, now: datetime | int) -> Step:
        """Settle every time-driven change due at or before ``now``.

        The state's clock moves to the last change settled: a state with nothing
        due is left exactly as it was, however often it is advanced.
        """
        t = _instant(now)
        if state.wake is None or state.wake > t:
            return Step(state, ADVANCED)
        was, state.schedule_was = state.schedule_was, None
        alerts: list[Alert] = []
        self._run_wakes(state, t, alerts, inclusive=True)
        return Step(state, ADVANCED, tuple(alerts), self._moved_since(state, was))

    @staticmethod
    def schedule_moved(state: BorrowerState) -> bool:
        """Whether the visit-schedule entry changed since the last call (for a state never asked: since it was
        made or loaded): ``schedule_key`` compared with its value then, computed only when an input moved (most
        events move none). For a caller of ``apply_into`` / ``advance_into`` that writes the entry's changes."""
        was = state.schedule_was
        if was is None:
            return False
        state.schedule_was = None
        return schedule_key(state) != was

    @staticmethod
    def _moved_since(state: BorrowerState, was: tuple[object, ...] | None) -> bool:
        """A step's ``schedule_changed`` (``was``: ``schedule_was`` set aside at its start, kept for the above)."""
        moved = state.schedule_was  # the key before the step's first change (None: it changed no input)
        if was is not None:
            state.schedule_was = was  # the earlier one stays for ``schedule_moved``
        return moved is not None and schedule_key(state) != moved

    def advance_into(self, state: BorrowerState, now: int, alerts: list[Alert]) -> None:
        """``advance`` to an instant for such a caller: alerts appended to ``alerts``."""
        if state.wake is not None and state.wake <= now:
            self._run_wakes(state, now, alerts, inclusive=True)

    def view(self, state: BorrowerState, now: datetime | int | None = None) -> BorrowerView:
        """The borrower as known at ``now`` (default: its clock); call ``advance`` first."""
        t = _instant(now) if now is not None else (state.clock or 0)
        p = state.profile
        if p is None:
            return BorrowerView(
                borrower_id=state.id, tier=None, computed_tier=None, active_rules=[],
                min_classification=None, next_visit_due=None, team=None, branch=None, exposure=None,
                workout=False,
            )
        ev = evaluate(self.policy, state, t)
        dpd, _ = highest_dpd(state, t)
        return BorrowerView(
            borrower_id=state.id,
            tier=LEVEL_NAMES[state.tier],
            computed_tier=LEVEL_NAMES[ev.computed],
            active_rules=sorted([s.rule for s in ev.signals] + [s.rule for s in overrides.signals(state, t)]),
            min_classification=self.policy.classification.of(dpd),
            next_visit_due=local_date(state.due, self._tz) if state.due is not None else None,
            team=p.team,
            branch=p.branch,
            exposure=p.exposure,
            workout=state.due_why == WORKOUT,
        )

    def signals(self, state: BorrowerState, now: datetime | int) -> list[Signal]:
        """The signals that hold at ``now``, with their evidence (active overrides included)."""
        return self._signals(self._evidence(state, _instant(now)))

    def detail(self, state: BorrowerState) -> BorrowerDetail:
        """Everything the borrower page shows, at the borrower's clock (never the borrower's name)."""
        t = state.clock or 0
        p = state.profile
        ev = evaluate(self.policy, state, t) if p is not None else None  # no rules hold before the profile
        sigs = list(ev.signals) if ev is not None else []
        if ev is not None and (state.floor is not None or state.cap is not None):
            sigs += overrides.signals(state, t)  # as _evidence adds them
        dpd, _ = highest_dpd(state, t)
        law = self.policy.lawsuit
        b, prev, ins = state.bureau, state.bureau_prev, state.inspection
        code, params = self._visits.reason(state)
        return BorrowerDetail(
            borrower_id=state.id,
            as_of=from_us(state.clock) if state.clock is not None else None,
            policy_version=self.policy.version,
            profile=None if p is None else ProfileDetail(
                segment=p.segment, industry=p.industry, branch=p.branch, team=p.team, exposure=p.exposure,
                product=p.product, mitigation=p.mitigation, grade=state.grade,
                grade_since=from_us(state.grade_at) if state.grade_at is not None else None,
                disbursed_at=from_us(p.disbursed), updated_at=from_us(p.at)),
            tier=LEVEL_NAMES[state.tier] if p is not None else None,
            computed_tier=LEVEL_NAMES[ev.computed] if ev is not None else None,
            tier_since=from_us(state.tier_since) if state.tier_since is not None else None,
            signals=self._signals(sigs),
            overrides=[
                OverrideDetail(direction=direction, tier=LEVEL_NAMES[f.tier], since=from_us(f.at),
                               until=from_us(f.until), requested_until=from_us(f.asked or f.until),
                               reason=f.reason or "", requested_by=f.by, approved_by=f.approver, event_id=f.eid)
                for direction, f in (("floor", state.floor), ("cap", state.cap))
                if f is not None and f.tier is not None and f.until is not None and overrides.active(f, t)],
            lawsuits=[
                LawsuitDetail(case_id=k, role=c.role, case_type=c.ctype, stage=c.stage, claim_amount=c.claim,
                              court=c.court, first_notice_at=from_us(c.first), latest_notice_at=from_us(c.at),
                              stage_since=from_us(c.stage_at), event_ids=list(c.eids),
                              counts=c.role in law.roles and c.at <= t < c.at + law.active_days * DAY)
                for k, c in sorted(state.cases.items()) if c.stage != "closed"],
            overdue_accounts=[
                AccountDetail(account_id=k, product=a.product, days_past_due=a.dpd + (t - a.at) // DAY,
                              overdue_amount=a.amount, reported_at=from_us(a.at), reported_days_past_due=a.dpd,
                              event_id=a.eid)
                for k, a in sorted(state.accounts.items()) if a.dpd > 0],
            highest_dpd=dpd,
            min_classification=self.policy.classification.of(dpd) if p is not None else None,
            bureau=None if b is None else BureauDetail(
                reported_at=from_us(b.at), event_id=b.eid, max_external_dpd=b.dpd, external_overdue_amount=b.overdue,
                hard_inquiries_30d=b.inq, total_external_debt=b.debt, guarantee_exposure=b.guar,
                previous_reported_at=from_us(prev.at) if prev is not None else None,
                previous_total_external_debt=prev.debt if prev is not None else None),
            last_visit=None if ins is None else VisitDetail(
                at=from_us(ins.at), event_id=ins.eid, team=ins.team, inspector=ins.inspector, outcome=ins.outcome),
            next_visit_due=local_date(state.due, self._tz) if state.due is not None else None,
            next_visit_reason=code,  # type: ignore[arg-type]
            next_visit_reason_params=params,
            workout=state.due_why == WORKOUT,
            workout_since=from_us(state.due_at) if state.due_why == WORKOUT and state.due_at is not None else None,
            alerts=state.alerts,
            events_before_profile=state.held,
        )

    def schedule_entry(self, state: BorrowerState) -> ScheduleEntry:
        """The borrower's current visit-schedule entry."""
        return ScheduleEntry(**self._entry_fields(state))

    def schedule_entry_json(self, state: BorrowerState, head: str = "{") -> str:
        """``schedule_entry(state).model_dump_json()`` (mostly written from the state); ``head`` for its ``{``."""
        return self._visits.entry_json(state, head) or head + schedule_entry_json(self._entry_fields(state))[1:]

    def _entry_fields(self, state: BorrowerState) -> dict[str, Any]:
        p = state.profile
        code, params = self._visits.reason(state)
        return {"borrower_id": state.id,
                "next_visit_due": local_date(state.due, self._tz) if state.due is not None else None,
                "team": p.team if p else None, "branch": p.branch if p else None, "tier": LEVEL_NAMES[state.tier],
                "reason": code, "reason_params": params, "workout": state.due_why == WORKOUT,
                "policy_version": self.policy.version}

    # ------------------------------------------------------------ internals

    def apply_into(self, s: BorrowerState, e: Event, t: int, digest: int | None, alerts: list[Alert]) -> str:
        """``apply`` for a caller that reads no Step (the replay's and the backtest's loops, millions of events;
        ``apply`` and ``apply_batch`` go through it): the same change to ``s``; the outcome; alerts appended to
        ``alerts``; ``t`` the event's ``occurred_at`` in microseconds (the schedule change: ``schedule_moved``)."""
        if e.borrower_id != s.id:
            raise ValueError(f"event for {e.borrower_id!r} applied to the state of {s.id!r}")
        bare = s.bare  # (``seen`` empty when True: nothing below adds to it before it is read again)
        seen = None if bare else s.seen.get(e.event_id)  # (``bare``: see below)
        if seen is not None:
            if digest == UNIQUE or digest == UNSEEN:
                digest = None  # the caller was wrong: compare properly
            first, known = (seen, None) if isinstance(seen, int) else (seen[0], seen[1])
            if max(t, s.clock or t) - first < self._dup_window:
                # an exact copy has the same instant, at or before the clock: nothing to settle
                if known is None:
                    return DUPLICATE
                if not known & _DIGEST_FORM2:  # kept by a state written before the second form
                    digest = _digest_form1(e, t)
                elif digest is None:
                    digest = content_digest(e, t)
                return DUPLICATE if digest == known else CONFLICT
        clock = s.clock
        now = t if clock is None or t >= clock else clock
        wake = s.wake
        if wake is not None and wake < now:
            self._run_wakes(s, now, alerts, inclusive=False)
            wake = s.wake
        s.clock = now
        if now - t >= self._dup_window:
            # So late that a copy of an event applied long ago could no longer be recognised:
            # applying it could resurrect facts already forgotten. Never happens in a replay
            # (applied in time order); the streaming shell dead-letters it.
            return STALE
        if digest != UNSEEN:
            remember(s, e.event_id, t, content_digest(e, t) if digest is None else digest, now - self._dup_window,
                     self._memory)
        elif not bare and s.seen:
            count_unseen(s, now - self._dup_window, self._memory)
        kind = e.__class__
        if (kind is BureauReport and self._own and (wake is None or wake > now) and s.floor is None and s.cap is None
                and s.profile is not None):
            # most events: a bureau report that leaves the bureau rules' levels as they were, with nothing
            # else due (see ``own_states``), changes the reports kept and nothing else. Computed 0: no rule
            # held at the last evaluation (signals are watch or above)
            b = s.bureau
            prev = s.bureau_prev
            if s.computed == 0 and prev is not None and t >= b.at:  # type: ignore[union-attr]
                # (most of them: ``BureauLevels``'s first test, made from the report itself: a report for which
                # no bureau rule can hold holds none, as before)
                debt0 = b.debt  # type: ignore[union-attr]  # (the report before: the merge keeps it as ``prev``)
                merge_bureau(s, e, t)  # type: ignore[arg-type]
                debt = e.total_external_debt  # type: ignore[attr-defined]
                q = self._bureau_quiet
                changed = ((e.max_external_dpd > 0 or e.hard_inquiries_30d >= q[0]  # type: ignore[attr-defined]
                            or e.guarantee_exposure > 0 or (debt0 > 0 and debt >= q[1] * debt0))  # type: ignore[attr-defined]
                           and self._bureau_levels(s) != ())
            else:
                levels = self._bureau_levels
                quiet = () if s.computed == 0 else levels(s)
                merge_bureau(s, e, t)  # type: ignore[arg-type]
                changed = levels(s) != quiet
            if s.bare:
                if changed:
                    self._settle(s, now, alerts)
                return APPLIED
            if s.accounts or s.cases:
                prune(s, now, self._dup_window, self._case_days)
            if changed:
                self._settle(s, now, alerts)
            elif s.tiers:
                # in a cure period: its holds are as the last evaluation left them (none ended: the wake-up
                # is not due); only the ended segments that hold nothing any more go, as ``_settle`` drops them
                cure_hold(s.tiers, self._cure, now)
            return APPLIED
        had_profile = s.profile is not None
        if not had_profile and not isinstance(e, LoanProfile):
            s.held += 1
        quiet = None
        inspection = kind is InspectionCompleted
        if (inspection and self._own and had_profile and s.floor is None and s.cap is None
                and (s.wake is None or s.wake > now)):
            quiet = () if s.computed == 0 else quiet_family(self.policy, s, "inspection", now)
        visit = self._merge(s, e, t, now)
        if s.accounts or s.cases:
            prune(s, now, self._dup_window, self._case_days)
        if s.floor is not None or s.cap is not None:
            overrides.prune(s, now, self._dup_window)
        if s.profile is None:
            return APPLIED
        if not had_profile:
            self._visits.first_visit(s, now)
        if quiet is None or quiet_family(self.policy, s, "inspection", now) != quiet:
            self._settle(s, now, alerts)
        elif s.tiers:
            cure_hold(s.tiers, self._cure, now)  # (as after a quiet bureau report)
        if visit and had_profile:
            self._visits.visited(s, t)
        if self._own:  # (the state's own flag, read instead of the four objects: cleared by what adds to them)
            s.bare = not (s.seen or s.tiers or s.accounts or s.cases)
        return APPLIED

    def _merge(self, s: BorrowerState, e: Event, t: int, now: int) -> bool:
        """Fold the event's fact into the state (latest occurred_at wins). True for a visit."""
        if isinstance(e, BureauReport):
            merge_bureau(s, e, t)
        elif isinstance(e, InspectionCompleted):
            ins = s.inspection
            if ins is None or t >= ins.at:
                s.inspection = InspectionFact(t, e.event_id, e.outcome.value, e.team, e.inspector)
                return True
        elif isinstance(e, Overdue):
            acc = s.accounts.get(e.account_id)
            if acc is None or t >= acc.at:
                s.bare = False
                s.accounts[e.account_id] = AccountFact(t, e.event_id, e.days_past_due, e.overdue_amount, e.product)
        elif isinstance(e, RatingChange):
            self._rating(s, e, t, now)
        elif isinstance(e, LawsuitNotice):
            merge_case(s, e, t)
        elif isinstance(e, TierOverride):
            overrides.merge(self.policy, s, e, t)
        elif isinstance(e, LoanProfile):
            prof = s.profile
            if prof is None or t >= prof.at:
                schedule_moves(s)
                s.profile = ProfileFact(t, e.event_id, e.branch, e.team, e.exposure, e.mitigation.value,
                                        to_us(e.disbursed_at), e.segment.value, e.industry, e.product)
            if s.grade is None:
                s.grade, s.grade_at, s.grade_eid = e.grade.value, t, e.event_id
        return False

    def _rating(self, s: BorrowerState, e: RatingChange, t: int, now: int) -> None:
        if s.grade_at is not None and t < s.grade_at:
            return  # superseded by a later rating already known
        new = e.new_grade.value
        prior = s.grade if s.grade is not None else e.old_grade.value
        # the best grade held at any time in the look-back window before the change
        start = t - self._lookback
        best = prior  # held from grade_at until t
        hist = s.grades  # the grades held before, each until the next one's since
        for i, (_since, grade) in enumerate(hist):
            end = hist[i + 1][0] if i + 1 < len(hist) else s.grade_at
            if end is not None and end > start and GRADE_INDEX[grade] < GRADE_INDEX[best]:
                best = grade
        r = self.policy.rating
        dg1 = GRADE_INDEX[new] - GRADE_INDEX[prior] == r.downgrade_1.notches
        dg2 = GRADE_INDEX[new] - GRADE_INDEX[best] >= r.downgrade_2.notches
        if dg1 or dg2:
            s.moves.append(RatingMove(
                at=t, eid=e.event_id, old=e.old_grade.value, new=new, prior=prior, best=best, dg1=dg1, dg2=dg2))
        if s.grade is not None and s.grade_at is not None:
            hist.append((s.grade_at, s.grade))
        s.grade, s.grade_at, s.grade_eid = new, t, e.event_id
        # forget the grades that ended before the look-back window
        horizon = now - self._lookback
        while hist and (hist[1][0] if len(hist) > 1 else t) <= horizon:
            hist.pop(0)
        if s.moves:
            s.moves = [m for m in s.moves if m.at + self._move_keep > now]

    def _run_wakes(self, s: BorrowerState, until: int, alerts: list[Alert], *, inclusive: bool) -> None:
        while s.wake is not None and (s.wake <= until if inclusive else s.wake < until):
            at = s.wake
            s.clock = at
            self._settle(s, at, alerts)
            if s.wake is not None and s.wake <= at:
                raise RuntimeError(f"engine bug: wake-up {s.wake} not after {at} for {s.id}")

    def _settle(self, s: BorrowerState, now: int, alerts: list[Alert]) -> None:
        """Re-evaluate at ``now``: computed and effective tier, alerts, due date, workout, next wake-up."""
        if s.profile is None:
            s.wake = None
            return
        ev = evaluate(self.policy, s, now, detail=False)
        # closed segments of the computed tier, (end, level): the computed tier was at least
        # ``level`` until ``end``; levels strictly decreasing, ends increasing
        tiers = s.tiers
        old, new = s.computed, ev.computed
        if new != old:
            top = old if old > new else new
            while tiers and tiers[-1][1] <= top:
                tiers.pop()
            if old > new:
                s.bare = False
                tiers.append((now, old))
            s.computed = new
        wake = ev.next_change
        eff = new
        if tiers:
            held, end = cure_hold(tiers, self._cure, now)
            if held > eff:
                eff = held
            if end is not None and (wake is None or end < wake):
                wake = end
        if s.floor is not None or s.cap is not None:
            eff, wake = overrides.bound(s, eff, now, wake)
        prior = s.tier
        if eff != prior:
            schedule_moves(s)
            s.tier, s.tier_since = eff, now
            if eff > prior:
                self._visits.raised(s, eff, now)
        wake = self._visits.hand_over(s, now, wake)
        if eff != prior:
            s.alerts += 1
            evidence = self._evidence(s, now)
            alerts.append(self._alert(s, prior, eff, new, now, evidence))
        s.wake = wake

    def _evidence(self, s: BorrowerState, now: int) -> list[Sig]:
        sigs = evaluate(self.policy, s, now, detail=True).signals
        if s.floor is not None or s.cap is not None:
            sigs += overrides.signals(s, now)
        return sigs

    def _signals(self, sigs: list[Sig]) -> list[Signal]:
        ordered = sorted(sigs, key=lambda g: (-g.level, g.rule))
        return [
            made(Signal, rule=g.rule, family=g.family, level=LEVEL_NAMES[g.level], since=from_us(g.since),
                 values=dict(g.values), thresholds=dict(g.thresholds), event_ids=list(g.event_ids))
            for g in ordered
        ]

    def _alert(self, s: BorrowerState, old: int, new: int, computed: int, at: int, sigs: list[Sig]) -> Alert:
        if old == 0:
            kind = AlertKind.raised
        elif new == 0:
            kind = AlertKind.cleared
        elif new > old:
            kind = AlertKind.escalated
        else:
            kind = AlertKind.de_escalated
        key = f"{self.policy.version}\x1f{s.id}\x1f{s.alerts}\x1f{at}\x1f{old}\x1f{new}"
        p = s.profile
        return made(
            Alert,
            alert_id=hashlib.sha256(key.encode()).hexdigest()[:32],
            borrower_id=s.id,
            kind=kind,
            from_tier=LEVEL_NAMES[old],
            to_tier=LEVEL_NAMES[new],
            computed_tier=LEVEL_NAMES[computed],
            at=from_us(at),
            signals=self._signals(sigs),
            policy_version=self.policy.version,
            next_visit_due=local_date(s.due, self._tz) if s.due is not None else None,
            team=p.team if p else None,
            branch=p.branch if p else None,
            sequence=s.alerts,
        )

    schedule_key = staticmethod(schedule_key)  # what the visit-schedule entry depends on (``monitor.state``)
