"""The hand-over to workout (special-asset management) and the visit model's policy keys."""

from __future__ import annotations

import pytest

from monitor._errors import PolicyError
from monitor.engine import Engine
from monitor.rules.policy import parse_policy
from monitor.state import dump_state, load_state
from tests.factories import (
    ENGINE_POLICY,
    US,
    Run,
    at,
    inspection,
    lawsuit,
    overdue,
    profile,
    rating,
    run,
    us,
)


def _policy(**visits):
    pol = ENGINE_POLICY.model_dump(mode="json")
    pol["visits"].update(visits)
    return parse_policy(pol)


# ------------------------------------------------------------------ hand-over


def test_substandard_for_30_days_hands_the_borrower_over_and_cure_brings_it_back():
    r = run([profile(grade="BBB"), overdue(at(0), 60)])  # 91 DPD on day 31, handed over on day 61
    assert r.view(at(61) - US).next_visit_due is not None
    step = r.engine.advance(r.state, us(at(61)))
    assert step.schedule_changed and step.alerts == ()  # the hand-over is no tier change
    v = r.view(at(61))
    assert (v.workout, v.next_visit_due, v.tier) == (True, None, "severe")
    e = r.engine.schedule_entry(r.state)
    assert (e.workout, e.next_visit_due, e.reason, e.reason_params) == (
        True, None, "workout", {"date": "2025-03-03", "after_days": 30})
    d = r.engine.detail(r.state)
    assert (d.workout, d.workout_since, d.next_visit_reason, d.min_classification) == (
        True, at(61), "workout", "substandard")
    # cured: back on the routine schedule at once, with a response visit at its (still severe) tier
    r.feed(overdue(at(80), 0))
    v = r.view(at(80))
    assert (v.workout, v.tier, v.next_visit_due) == (False, "severe", at(85).date())
    e = r.engine.schedule_entry(r.state)
    assert (e.workout, e.reason, e.reason_params) == (
        False, "workout_ended", {"date": "2025-03-22", "days": 5, "tier": "severe"})


def test_the_hand_over_waits_the_full_period_from_the_instant_the_floor_was_reached():
    r = run([profile(), overdue(at(0), 120)])  # substandard since day -29: handed over on day 1
    assert r.view(at(1) - US).workout is False
    assert r.view(at(1)).workout is True
    r = run([profile(), overdue(at(0), 80)])  # reaches 91 on day 11
    assert r.state.wake == us(at(10))  # the DPD band 90 first
    assert r.view(at(41) - US).workout is False
    assert r.view(at(41)).workout is True


def test_a_cure_before_the_period_ends_keeps_the_borrower_on_the_routine_schedule():
    r = run([profile(), overdue(at(0), 80), overdue(at(35), 0)])
    r.until(at(400))
    assert not r.view(at(400)).workout
    assert r.engine.schedule_entry(r.state).reason != "workout"


def test_grade_d_for_30_days_hands_over_and_an_upgrade_brings_back():
    r = run([profile(grade="BB"), rating(at(10), "BB", "D")])
    assert r.view(at(40) - US).workout is False
    assert r.view(at(40)).workout is True
    r.feed(rating(at(100), "D", "CCC"))
    v = r.view(at(100))
    assert v.workout is False and v.next_visit_due == at(105).date()  # still severe by the cure period


def test_in_workout_no_visit_or_rise_sets_a_routine_due_date():
    r = run([profile(grade="C")], _policy(workout_grades=["C"]))  # weak grade: warning
    assert (r.view(at(30)).workout, r.view(at(30)).tier) == (True, "warning")
    r.feed(inspection(at(31), "normal"), lawsuit(at(32), stage="dishonest_debtor"))
    v = r.view(at(32))
    assert (v.workout, v.next_visit_due, v.tier) == (True, None, "severe")
    assert r.changes()[-1] == ("escalated", "severe", at(32)) and r.alerts[-1].next_visit_due is None


def test_workout_can_be_switched_off():
    r = run([profile(), overdue(at(0), 95), rating(at(1), "BBB", "D")], _policy(workout_enabled=False))
    r.until(at(400))
    v = r.view(at(400))
    assert not v.workout and v.next_visit_due is not None


def test_switching_workout_off_brings_handed_over_borrowers_back():
    r = run([profile(), overdue(at(0), 95)])
    assert r.view(at(30)).workout
    off = Run(_policy(workout_enabled=False))
    off.state = load_state(dump_state(r.state))
    off.feed(overdue(at(31), 96))
    assert off.view(at(31)).workout is False and off.view(at(31)).next_visit_due == at(36).date()


@pytest.mark.parametrize(("classification", "dpd", "handed_over"), [
    ("special_mention", 1, True), ("substandard", 90, False), ("doubtful", 200, False), ("doubtful", 271, True)])
def test_the_classification_that_hands_over_is_policy(classification, dpd, handed_over):
    r = run([profile(grade="BBB"), overdue(at(0), dpd)],
            _policy(workout_classification=classification, workout_after_days=0, workout_grades=[]))
    assert r.view(at(0)).workout is handed_over


def test_state_round_trip_and_batch_keep_the_hand_over():
    events = [profile(eid="p"), overdue(at(0), 95, eid="o1"), inspection(at(40), eid="i1"),
              overdue(at(50), 0, eid="o2")]
    one = run(events).until(at(200))
    eng = Engine(ENGINE_POLICY)
    batch = eng.apply_batch(eng.new_state("B1"), events)
    eng.advance(batch.state, us(at(200)))
    assert dump_state(batch.state) == dump_state(one.state)
    half = run(events[:2]).until(at(35))
    assert half.view(at(35)).workout
    again = Run()
    again.state = load_state(dump_state(half.state))
    again.feed(*events[2:]).until(at(200))
    assert dump_state(again.state) == dump_state(one.state)


# ------------------------------------------------------------------ policy keys


@pytest.mark.parametrize(("visits", "message"), [
    ({"tier_max_days": {"watch": 30, "warning": 14, "severe": 3}},
     "visits: tier_max_days is replaced by response_days"),
    ({"response_days": {"watch": 30, "warning": 10, "severe": 0}}, "visits.response_days.severe: Input should be"),
    ({"response_days": {"watch": 30, "warning": 10}}, "visits.response_days.severe: required"),
    ({"response_days": {"watch": 5, "warning": 10, "severe": 5}}, "response_days: a higher level must not wait"),
    ({"cadence_days": {"watch": 90, "warning": 120, "severe": 30}}, "cadence_days: a higher level must not wait"),
    ({"response_days": {"watch": 100, "warning": 10, "severe": 5}}, "response_days.watch must not exceed cadence"),
    ({"workout_after_days": -1}, "visits.workout_after_days: Input should be greater than or equal to 0"),
    ({"workout_classification": "normal"}, "visits.workout_classification:"),
    ({"workout_grades": ["E"]}, "visits.workout_grades: unknown grade 'E'"),
    ({"workout_enabled": "sometimes"}, "visits.workout_enabled:"),
])
def test_visit_model_keys_are_validated(visits, message):
    pol = ENGINE_POLICY.model_dump(mode="json")
    pol["visits"].update(visits)
    with pytest.raises(PolicyError, match=message.replace("(", r"\(")):
        parse_policy(pol)


@pytest.mark.parametrize(("cure", "message"), [
    ({"watch": 60, "warning": 90}, "cure_days.severe: required"),
    ({"watch": -1, "warning": 90, "severe": 90}, "cure_days.watch: Input should be greater than or equal to 0"),
    ({"watch": 60, "warning": 90, "severe": 90, "normal": 0}, "cure_days.normal: unknown key"),
    (-5, "cure_days.watch: Input should be greater than or equal to 0"),
])
def test_cure_days_are_validated(cure, message):
    pol = ENGINE_POLICY.model_dump(mode="json")
    pol["cure_days"] = cure
    with pytest.raises(PolicyError, match=message):
        parse_policy(pol)


# ------------------------------------------------------------------ the reasons in words


def test_every_reason_the_engine_gives_reads_as_a_whole_sentence_in_both_languages():
    from monitor.outputs import SCHEDULE_REASONS
    from monitor.vocabulary import visit_reason

    runs = [Run().feed(overdue(at(1), 3)),  # no profile
            run([profile()]),  # first visit
            run([profile(), inspection(at(5))]),  # inspected, normal interval
            run([profile(), lawsuit(at(1), stage="enforcement"), inspection(at(5))]),  # inspected, warning cadence
            run([profile(), overdue(at(1), 40)]),  # tier raised
            run([profile(), overdue(at(0), 95)]).until(at(40)),  # workout
            run([profile(), overdue(at(0), 95)]).until(at(40)).feed(overdue(at(41), 0))]  # back from workout
    seen = set()
    for r in runs:
        e = r.engine.schedule_entry(r.state)
        seen.add(e.reason)
        for lang in ("zh", "en"):
            text = visit_reason(e.reason, e.reason_params, lang)
            assert "{" not in text and text != e.reason, (e.reason, lang, text)
            assert e.reason in ("no_profile", "first_visit") or e.reason_params["date"] in text
    assert seen == set(SCHEDULE_REASONS)

