"""Property-based tests of the engine's invariants (hypothesis)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.engine import APPLIED, UNSEEN, Engine
from monitor.rules import overrides
from monitor.rules.evaluate import evaluate
from monitor.rules.loader import default_policy
from monitor.state import dump_state, load_state
from tests.factories import (
    Run,
    at,
    bureau,
    inspection,
    lawsuit,
    overdue,
    override,
    profile,
    rating,
    us,
)

GRADES = ["AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C", "D"]
RANK = {"normal": 0, "watch": 1, "warning": 2, "severe": 3}
POLICY = default_policy()

day = st.floats(min_value=0, max_value=400, allow_nan=False).map(lambda d: round(d, 3))


@st.composite
def an_event(draw):
    kind = draw(st.sampled_from(["overdue", "bureau", "rating", "lawsuit", "inspection", "profile", "override"]))
    when = at(draw(day))
    if kind == "override":
        direction = draw(st.sampled_from(["floor", "cap"]))
        if draw(st.integers(0, 3)) == 0:
            return override(when, "clear", direction)
        tiers = ["watch", "warning", "severe"] if direction == "floor" else ["normal", "watch", "warning"]
        return override(when, "set", direction, draw(st.sampled_from(tiers)),
                        days=draw(st.sampled_from([0.5, 10, 45, 200, 400])),
                        approved_by="sup-1" if direction == "cap" else None)
    if kind == "overdue":
        return overdue(when, draw(st.integers(0, 120)), draw(st.sampled_from(["A1", "A2"])))
    if kind == "bureau":
        return bureau(when, dpd=draw(st.integers(0, 100)), inquiries=draw(st.integers(0, 9)),
                      debt=draw(st.sampled_from([0.0, 100.0, 160.0, 300.0])),
                      guarantees=draw(st.sampled_from([0.0, 2_000_000.0])))
    if kind == "rating":
        return rating(when, draw(st.sampled_from(GRADES)), draw(st.sampled_from(GRADES)))
    if kind == "lawsuit":
        return lawsuit(when, draw(st.sampled_from(["C1", "C2"])),
                       stage=draw(st.sampled_from(["filed", "judgment", "enforcement", "dishonest_debtor", "closed"])),
                       claim=draw(st.sampled_from([0.0, 60_000.0, 300_000.0])),
                       case_type=draw(st.sampled_from(["civil", "criminal"])))
    if kind == "inspection":
        return inspection(when, draw(st.sampled_from(["normal", "concern", "deteriorated"])))
    return profile(when, exposure=draw(st.sampled_from([0.0, 1e6, 2e7])),
                   grade=draw(st.sampled_from(GRADES)))


histories = st.lists(an_event(), min_size=1, max_size=25).map(
    lambda evs: [profile(at(0))] + sorted(evs, key=lambda e: e.occurred_at))

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def feed(events, until=at(600)):
    r = Run(POLICY)
    r.feed(*events)
    return r.until(until)


@SETTINGS
@given(histories)
def test_effective_tier_is_never_below_computed_unless_capped_nor_below_a_floor(events):
    r = Run(POLICY)
    for e in events:
        r.feed(e)
        v = r.engine.view(r.state)
        now = r.state.clock
        if not overrides.active(r.state.cap, now):
            assert RANK[v.tier] >= RANK[v.computed_tier]
        if overrides.active(r.state.floor, now):
            assert RANK[v.tier] >= r.state.floor.tier
    for a in r.alerts:
        rules = {s.rule for s in a.signals}
        if "override.cap" not in rules:
            assert RANK[a.to_tier] >= RANK[a.computed_tier]
        for s in a.signals:
            if s.rule == "override.floor":
                assert RANK[a.to_tier] >= RANK[s.level]
        assert a.from_tier != a.to_tier


@SETTINGS
@given(histories, st.lists(day, min_size=1, max_size=4))
def test_overrides_only_bound_the_tier_the_rules_give(events, probes):
    plain = [e for e in events if e.type != "tier_override"]
    for probe in probes:
        with_ = Run(POLICY).feed(*[e for e in events if e.occurred_at <= at(probe)]).until(at(probe))
        without = Run(POLICY).feed(*[e for e in plain if e.occurred_at <= at(probe)]).until(at(probe))
        ruled = RANK[without.engine.view(without.state, at(probe)).tier]
        expected = overrides.bound(with_.state, ruled, us(at(probe)), None)[0]
        assert RANK[with_.engine.view(with_.state, at(probe)).tier] == expected


@SETTINGS
@given(histories)
def test_batch_equals_one_at_a_time(events):
    one = feed(events, at(0))
    eng = Engine(POLICY)
    batch = eng.apply_batch(eng.new_state("B1"), events)
    assert [a.alert_id for a in batch.alerts] == [a.alert_id for a in one.alerts]
    assert dump_state(batch.state) == dump_state(one.state)


@SETTINGS
@given(histories, st.integers(0, 25))
def test_state_round_trip_at_any_point_changes_nothing(events, cut):
    whole = feed(events)
    cut = min(cut, len(events))
    first = Run(POLICY).feed(*events[:cut])
    second = Run(POLICY)
    second.state = load_state(dump_state(first.state))
    second.feed(*events[cut:]).until(at(600))
    assert [a.alert_id for a in first.alerts + second.alerts] == [a.alert_id for a in whole.alerts]
    assert dump_state(second.state) == dump_state(whole.state)


@SETTINGS
@given(histories, st.lists(st.floats(0, 600), max_size=8))
def test_advancing_in_steps_equals_advancing_once(events, stops):
    once = feed(events)
    stepped = Run(POLICY)
    pending = sorted(stops)
    for e in events:
        while pending and at(pending[0]) < e.occurred_at:
            stepped.until(at(pending.pop(0)))
        stepped.feed(e)
    stepped.until(at(600))
    assert [a.model_dump_json() for a in stepped.alerts] == [a.model_dump_json() for a in once.alerts]


@SETTINGS
@given(histories, day, st.sampled_from(["enforcement", "dishonest_debtor", "filed"]))
def test_adding_a_signal_never_lowers_a_tier(events, when, stage):
    extra = lawsuit(at(when), "NEW", stage=stage, claim=500_000.0)
    with_extra = sorted(events + [extra], key=lambda e: (e.occurred_at, e is extra))
    for probe in (when, when + 10, when + 100, 500):
        a = feed(events, at(probe))
        b = feed(with_extra, at(probe))
        va, vb = a.engine.view(a.state), b.engine.view(b.state)
        assert RANK[vb.tier] >= RANK[va.tier]
        assert RANK[vb.computed_tier] >= RANK[va.computed_tier]


CLASS_RANK = {"normal": 0, "special_mention": 1, "substandard": 2, "doubtful": 3, "loss": 4}


@SETTINGS
@given(histories, st.lists(st.floats(0, 600), max_size=6))
def test_a_rise_only_pulls_the_due_date_forward_and_a_fall_never_moves_it(events, stops):
    """Between visits the due date only moves earlier (a response deadline), except when the borrower
    is handed over to workout (no routine due date) or comes back from it."""
    r = Run(POLICY)
    pending = sorted(stops)

    def check(before, after, visited):
        before_due, before_why, before_at = before
        if before_why is None or visited or "workout" in (before_why, after.due_why):
            return
        if after.due_why.startswith("workout_ended") and after.due_at != before_at:
            return  # handed over and back again in between
        assert after.due is not None and after.due <= before_due, (before_why, after.due_why)

    for e in events:
        while pending and at(pending[0]) < e.occurred_at:
            before = r.state.due, r.state.due_why, r.state.due_at
            r.until(at(pending.pop(0)))
            check(before, r.state, False)
        before = r.state.due, r.state.due_why, r.state.due_at
        r.feed(e)
        check(before, r.state, e.type == "inspection_completed")


@SETTINGS
@given(histories, st.lists(day, min_size=1, max_size=4))
def test_only_a_borrower_past_the_workout_floor_is_handed_over_and_then_has_no_routine_due(events, probes):
    visits = POLICY.visits
    for probe in probes:
        r = Run(POLICY).feed(*[e for e in events if e.occurred_at <= at(probe)]).until(at(probe))
        v = r.engine.view(r.state, at(probe))
        entry = r.engine.schedule_entry(r.state)
        assert v.workout == entry.workout == (entry.reason == "workout")
        assert (v.next_visit_due is None) == v.workout
        if v.workout:
            assert (CLASS_RANK[v.min_classification] >= CLASS_RANK[visits.workout_classification]
                    or r.state.grade in visits.workout_grades)
            assert r.state.due_at is not None and r.state.due_at <= r.state.clock


@st.composite
def a_quiet_candidate(draw):
    """A bureau report or an inspection: the events an engine that owns its states may settle by their family."""
    when = at(draw(day))
    if draw(st.booleans()):
        return bureau(when, dpd=draw(st.sampled_from([0, 0, 0, 5, 40])), inquiries=draw(st.sampled_from([0, 1, 7])),
                      debt=draw(st.sampled_from([0.0, 100.0, 300.0])),
                      guarantees=draw(st.sampled_from([0.0, 2_000_000.0])))
    return inspection(when, draw(st.sampled_from(["normal", "normal", "concern", "deteriorated"])))


mostly_quiet = st.lists(st.one_of(an_event(), a_quiet_candidate(), a_quiet_candidate()), min_size=1, max_size=40).map(
    lambda evs: [profile(at(0))] + sorted(evs, key=lambda e: e.occurred_at))


@SETTINGS
@given(mostly_quiet, st.booleans())
def test_an_engine_that_owns_its_states_decides_the_same_step_by_step(events, unseen):
    """``Engine(own_states=True)`` skips re-evaluating the other rule families after a bureau report or an
    inspection that leaves its family's signals as they were, and ``UNSEEN`` keeps no duplicate memory:
    after every event the state (but its duplicate memory) and the alerts are those of the plain engine."""
    plain, own = Engine(POLICY), Engine(POLICY, own_states=True)
    a, b = plain.new_state("B1"), own.new_state("B1")
    alerts_a: list = []
    alerts_b: list = []
    for e in events:
        t = us(e.occurred_at)
        assert plain.apply_into(a, e, t, None, alerts_a) == own.apply_into(
            b, e, t, UNSEEN if unseen else None, alerts_b)
        assert dump_state(replace(a, seen={}) if unseen else a) == dump_state(b)
    plain.advance_into(a, us(at(600)), alerts_a)
    own.advance_into(b, us(at(600)), alerts_b)
    assert dump_state(replace(a, seen={}) if unseen else a) == dump_state(b)
    assert [x.model_dump_json() for x in alerts_a] == [x.model_dump_json() for x in alerts_b]


def _reference_bureau(events):
    """The latest report and the one before, as the engine kept them before it rewrote them in place: a new
    fact for each report that became the latest or the one before (latest occurred_at wins; ties: the later)."""
    latest = before = None
    for e in events:
        t = us(e.occurred_at)
        fact = (t, e.event_id, e.max_external_dpd, e.external_overdue_amount, e.hard_inquiries_30d,
                e.total_external_debt, e.guarantee_exposure)
        if latest is None or t >= latest[0]:
            if latest is not None:
                before = (latest[0], latest[1], latest[5], latest[2], latest[4])
            latest = fact
        elif before is None or t >= before[0]:
            before = (t, e.event_id, e.total_external_debt, e.max_external_dpd, e.hard_inquiries_30d)
    return latest, before


reports = st.lists(st.tuples(st.integers(0, 30), st.integers(0, 40), st.integers(0, 9), st.sampled_from(
    [0.0, 100.0, 300.0])), min_size=1, max_size=12)


@SETTINGS
@given(reports, st.booleans())
def test_the_latest_bureau_report_and_the_one_before_whatever_their_order(rows, own):
    """Reports out of time order, at the same instant, with or without a profile, under either engine: after
    each the state holds the latest and the one before, each apart from the other and from another state's."""
    engine = Engine(POLICY, own_states=own)
    s, other = engine.new_state("B1"), engine.new_state("B1")
    events = [bureau(at(day), dpd=dpd, inquiries=inq, debt=debt) for day, dpd, inq, debt in rows]
    if own:
        events.insert(0, profile(at(0)))
    applied = []
    for e in events:
        outcome = engine.apply(s, e).outcome
        assert engine.apply(other, e).outcome == outcome
        if outcome == APPLIED and e.type == "bureau_report":  # (not one older than the duplicate window)
            applied.append(e)
        if not applied:
            continue
        latest, before = _reference_bureau(applied)
        b, p = s.bureau, s.bureau_prev
        assert (b.at, b.eid, b.dpd, b.overdue, b.inq, b.debt, b.guar) == latest
        assert (None if p is None else (p.at, p.eid, p.debt, p.dpd, p.inq)) == before
        assert b is not other.bureau and (p is None or p is not other.bureau_prev)
        assert dump_state(s) == dump_state(other)


@st.composite
def report_runs(draw):
    """Bureau reports after a profile (with now and then an overdue or an inspection): new ones, the same as
    the one before, one field changed, exact and conflicting copies of an earlier one, and late ones (some
    older than the duplicate window)."""
    events = [profile(at(0))]
    reports: list = []
    clock = 0.0
    for i in range(draw(st.integers(1, 30))):
        how = draw(st.sampled_from(["new", "same", "one", "copy", "conflict", "late", "other"]))
        clock += draw(st.sampled_from([0.0, 1.0, 10.0, 31.0]))
        fields = {"dpd": draw(st.sampled_from([0, 0, 5, 40])), "inquiries": draw(st.sampled_from([0, 0, 2, 7])),
                  "debt": draw(st.sampled_from([0.0, 100.0, 300.0])),
                  "guarantees": draw(st.sampled_from([0.0, 0.0, 2_000_000.0]))}
        if how in ("same", "one") and reports:
            fields = dict(reports[-1][1])
            if how == "one":
                name = draw(st.sampled_from(sorted(fields)))
                fields[name] = {"dpd": 61, "inquiries": 9, "debt": 160.0, "guarantees": 900_000.0}[name]
        if how in ("copy", "conflict") and reports:
            when, old, eid = draw(st.sampled_from(reports))
            changed = dict(old, dpd=old["dpd"] + 1) if how == "conflict" else old
            events.append(bureau(at(when), eid=eid, **changed))
            continue
        if how == "other":
            events.append(draw(st.sampled_from([overdue(at(clock), 35), overdue(at(clock), 0),
                                                 inspection(at(clock), "concern"), inspection(at(clock))])))
            continue
        when = max(0.0, clock - draw(st.sampled_from([2.0, 29.0, 45.0]))) if how == "late" else clock
        eid = f"r{i}"
        reports.append((when, fields, eid))
        events.append(bureau(at(when), eid=eid, **fields))
    return events


@SETTINGS
@given(report_runs())
def test_an_engine_that_owns_its_states_settles_bureau_reports_as_the_plain_one(events):
    """Reports that change nothing, one field, copies, conflicting copies, late and stale ones, given with a
    digest (the duplicate memory on): the same outcomes, states and alerts as the plain engine after each."""
    plain, own = Engine(POLICY), Engine(POLICY, own_states=True)
    a, b = plain.new_state("B1"), own.new_state("B1")
    alerts_a: list = []
    alerts_b: list = []
    for e in events:
        t = us(e.occurred_at)
        outcome = plain.apply_into(a, e, t, None, alerts_a)
        assert own.apply_into(b, e, t, None, alerts_b) == outcome
        assert dump_state(a) == dump_state(b)
        assert [x.model_dump_json() for x in alerts_a] == [x.model_dump_json() for x in alerts_b]
    plain.advance_into(a, us(at(900)), alerts_a)
    own.advance_into(b, us(at(900)), alerts_b)
    assert dump_state(a) == dump_state(b)
    assert [x.model_dump_json() for x in alerts_a] == [x.model_dump_json() for x in alerts_b]


@SETTINGS
@given(histories, st.floats(0, 60))
def test_an_evaluation_without_detail_gives_the_same_tier_next_change_and_signals(events, later):
    """``evaluate(detail=False)`` (the engine's settling) leaves out values, thresholds and the combinations'
    since and event ids only: after every event, and some days later, the same computed tier, next change
    instant and signals (rule, family, level; since and event ids of every signal but the combinations')."""
    engine = Engine(POLICY)
    s = engine.new_state("B1")
    for e in events:
        engine.apply(s, e)
        for now in (s.clock, s.clock + us(at(later)) - us(at(0))):
            full, quick = evaluate(POLICY, s, now), evaluate(POLICY, s, now, detail=False)
            assert (quick.computed, quick.next_change) == (full.computed, full.next_change)
            assert [(g.rule, g.family, g.level) for g in quick.signals] == [
                (g.rule, g.family, g.level) for g in full.signals]
            assert [(g.since, g.event_ids) for g in quick.signals if g.family != "combo"] == [
                (g.since, g.event_ids) for g in full.signals if g.family != "combo"]


@pytest.mark.parametrize("quiet", ["bureau", "inspection"])
def test_a_quiet_event_in_a_cure_period_forgets_the_ended_holds_as_the_plain_engine(quiet):
    """Severe (95 days past due), then watch, then cured: two ended segments, the watch one's 45-day hold ending
    with no wake-up (the severe hold, 90 days, outlasts it). A quiet report or visit after that (the own engine's
    short path, in a cure period) forgets the dead segment as the plain engine's evaluation does: the same state."""
    plain, own = Engine(POLICY), Engine(POLICY, own_states=True)
    a, b = plain.new_state("B1"), own.new_state("B1")
    late = bureau(at(49)) if quiet == "bureau" else inspection(at(49))
    events = [profile(at(0)), overdue(at(1), 95), overdue(at(2), 5), overdue(at(3), 0), late, bureau(at(60))]
    alerts_a: list = []
    alerts_b: list = []
    for e in events:
        t = us(e.occurred_at)
        assert own.apply_into(b, e, t, None, alerts_b) == plain.apply_into(a, e, t, None, alerts_a) == APPLIED
        assert dump_state(a) == dump_state(b)
        if e is events[3]:
            assert [lv for _, lv in b.tiers] == [3, 1] and b.tier == 3
    assert [lv for _, lv in b.tiers] == [3] and b.tier == 3 and b.wake is not None and b.wake > us(at(60))
    assert [x.model_dump_json() for x in alerts_a] == [x.model_dump_json() for x in alerts_b]


@SETTINGS
@given(mostly_quiet, st.lists(st.floats(0, 600), max_size=6), st.booleans(), st.integers(1, 4))
def test_schedule_moved_tells_exactly_when_the_schedule_key_changed(events, stops, own, every):
    """``Engine.schedule_moved`` (the replay's test after each step, instead of two keys) is True exactly when
    ``schedule_key`` differs from its value at the previous call, whatever the steps between (``apply_into``,
    ``advance_into``, ``apply`` and ``advance``: their ``schedule_changed`` stays the key's own comparison), and
    nothing it keeps reaches the state's stored form."""
    eng = Engine(POLICY, own_states=own)
    state = eng.new_state("B1")
    last = Engine.schedule_key(state)
    stops = sorted(us(at(d)) for d in stops)
    alerts: list = []
    for n, e in enumerate(events):
        t = us(e.occurred_at)
        while stops and stops[0] <= t:
            before = Engine.schedule_key(state)
            step = eng.advance(state, stops.pop(0))
            assert step.schedule_changed == (Engine.schedule_key(state) != before)
        before = Engine.schedule_key(state)
        if n % 2:
            eng.apply_into(state, e, t, UNSEEN if own else None, alerts)
        else:
            assert eng.apply(state, e).schedule_changed == (Engine.schedule_key(state) != before)
        if n % every == 0:  # asked after some steps only: the change since the last question
            key = Engine.schedule_key(state)
            assert Engine.schedule_moved(state) == (key != last)
            assert not Engine.schedule_moved(state)
            last = key
        assert load_state(dump_state(state)) == state
    eng.advance_into(state, us(at(600)), alerts)
    assert Engine.schedule_moved(state) == (Engine.schedule_key(state) != last)


def _bare_holds(state):
    return not state.bare or not (state.seen or state.tiers or state.accounts or state.cases)


@pytest.mark.parametrize("digest", [UNSEEN, None])
def test_a_bureau_report_that_ends_a_signal_keeps_the_state_no_longer_bare(digest):
    """The report that ends a bureau signal starts a cure segment (``tiers``) on the bureau reports' short path:
    the state is no longer bare, and the next report looks at the segment (the same decisions as the plain engine)."""
    plain, own = Engine(POLICY), Engine(POLICY, own_states=True)
    a, b = plain.new_state("B1"), own.new_state("B1")
    alerts_a: list = []
    alerts_b: list = []
    for e in [profile(at(0)), inspection(at(1)), bureau(at(2), dpd=40), bureau(at(3), dpd=40), bureau(at(4)),
              bureau(at(5)), bureau(at(200)), inspection(at(201)), bureau(at(202))]:
        t = us(e.occurred_at)
        assert plain.apply_into(a, e, t, None, alerts_a) == own.apply_into(b, e, t, digest, alerts_b)
        assert _bare_holds(b)
        assert dump_state(replace(a, seen={}) if digest == UNSEEN else a) == dump_state(b)
    assert b.bare == (digest == UNSEEN)  # (with a digest the memory holds the latest ids)
    assert [x.model_dump_json() for x in alerts_a] == [x.model_dump_json() for x in alerts_b]


@SETTINGS
@given(mostly_quiet, st.lists(st.floats(0, 600), max_size=6), st.lists(st.booleans(), min_size=40, max_size=40))
def test_a_state_marked_bare_has_no_duplicate_memory_cure_segment_account_nor_case(events, stops, unseen):
    """``BorrowerState.bare`` (an own-states engine's bureau reports read it instead of ``seen``, ``tiers``,
    ``accounts`` and ``cases``) is never True while one of them holds something, whatever the steps (events
    given with a digest or as ``UNSEEN``, wake-ups settled between them)."""
    eng = Engine(POLICY, own_states=True)
    state = eng.new_state("B1")
    stops = sorted(us(at(d)) for d in stops)
    alerts: list = []
    for n, e in enumerate(events):
        t = us(e.occurred_at)
        while stops and stops[0] <= t:
            eng.advance_into(state, stops.pop(0), alerts)
            assert _bare_holds(state)
        eng.apply_into(state, e, t, UNSEEN if unseen[n % 40] else None, alerts)
        assert _bare_holds(state)
    eng.advance_into(state, us(at(600)), alerts)
    assert _bare_holds(state)
