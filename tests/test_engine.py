"""Engine semantics: cure window, visits, duplicates, ordering, profile-less borrowers, alerts."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from monitor._time import DAY
from monitor.engine import APPLIED, CONFLICT, DUPLICATE, Engine, content_digest
from monitor.events import parse_event
from monitor.rules.policy import parse_policy
from monitor.state import dump_state, load_state, long_form
from tests.factories import (
    ENGINE_POLICY,
    US,
    Run,
    at,
    bureau,
    inspection,
    lawsuit,
    overdue,
    profile,
    rating,
    run,
    us,
)

# ------------------------------------------------------------------ cure window


def test_effective_tier_rises_at_once_and_falls_after_90_days():
    r = run([profile(), overdue(at(10), 35)])  # warning at once
    r.feed(overdue(at(20), 0))  # cured: computed normal from day 20
    assert r.view(at(20)).computed_tier == "normal"
    assert r.view(at(110) - US).tier == "warning"
    assert r.view(at(110)).tier == "normal"
    assert r.changes() == [("raised", "warning", at(10)), ("cleared", "normal", at(110))]


def test_effective_tier_steps_down_through_intermediate_levels():
    # computed severe until day 10, watch (an external 5 DPD) until day 50, then normal:
    # severe holds until day 10 + 90, watch until day 50 + 60
    r = run([profile(), overdue(at(0), 95, "A1")])
    r.feed(overdue(at(10), 0, "A1"), bureau(at(10), dpd=5))
    r.feed(bureau(at(50), dpd=0))
    assert r.view(at(100) - US).tier == "severe"
    assert r.view(at(100)).tier == "watch"
    assert r.view(at(110) - US).tier == "watch"
    assert r.view(at(110)).tier == "normal"
    assert r.changes() == [("raised", "severe", at(0)), ("de_escalated", "watch", at(100)),
                           ("cleared", "normal", at(110))]


def test_watch_falls_after_its_own_shorter_cure_period():
    r = run([profile(), overdue(at(0), 3), overdue(at(5), 0)])  # technical arrears, cured in 5 days
    assert r.view(at(65) - US).tier == "watch"
    assert r.view(at(65)).tier == "normal"  # watch's 60 days, not warning's 90
    assert r.state.tiers == []  # nothing left to hold


def test_a_lower_level_with_a_longer_cure_period_outlasts_a_higher_one():
    pol = ENGINE_POLICY.model_dump(mode="json")
    pol["cure_days"] = {"watch": 120, "warning": 30, "severe": 10}
    r = run([profile(), overdue(at(0), 95), overdue(at(10), 0)], parse_policy(pol))
    r.until(at(300))
    # at least severe within 10 days, at least warning within 30, at least watch within 120 of day 10
    assert r.changes() == [("raised", "severe", at(0)), ("de_escalated", "warning", at(20)),
                           ("de_escalated", "watch", at(40)), ("cleared", "normal", at(130))]


def test_relapse_inside_cure_window_keeps_tier_and_restarts_clock():
    r = run([profile(), overdue(at(0), 40)])
    r.feed(overdue(at(10), 0))
    r.feed(overdue(at(60), 3))  # watch again before the cure ended
    r.feed(overdue(at(70), 0))  # 13 DPD, cured
    assert r.view(at(100) - US).tier == "warning"  # warning counted until day 10 + 90
    assert r.view(at(100)).tier == "watch"  # watch held until day 70, counted until day 70 + 60
    assert r.view(at(130) - US).tier == "watch"
    assert r.view(at(130)).tier == "normal"


def test_one_number_sets_the_cure_period_of_every_level():
    pol = ENGINE_POLICY.model_dump(mode="json")
    pol["cure_days"] = 45
    assert parse_policy(pol).cure_days.model_dump() == {"watch": 45, "warning": 45, "severe": 45}


def test_cure_days_zero_follows_computed_tier():
    pol = ENGINE_POLICY.model_dump(mode="json")
    pol["cure_days"] = 0
    r = Run(parse_policy(pol)).feed(profile(), overdue(at(1), 40), overdue(at(2), 0))
    assert r.view(at(2)).tier == "normal"


def test_effective_is_never_below_computed_at_each_alert():
    r = run([profile(), overdue(at(0), 2), rating(at(3), "BBB", "B"), overdue(at(9), 0), bureau(at(40), dpd=45)])
    r.until(at(400))
    rank = {"normal": 0, "watch": 1, "warning": 2, "severe": 3}
    for a in r.alerts:
        assert rank[a.to_tier] >= rank[a.computed_tier]


# ------------------------------------------------------------------ visits


@pytest.mark.parametrize(
    ("grade", "exposure", "mitigation", "days"),
    [("AAA", 1e6, "secured", 270), ("A", 1e6, "guaranteed", 180), ("A", 1e6, "unsecured", 135),
     ("A", 1e7, "unsecured", 67), ("BBB", 1e6, "secured", 135), ("BB", 9_999_999.0, "unsecured", 67),
     ("BB", 10_000_000.0, "unsecured", 33), ("B", 1e6, "guaranteed", 60), ("B", 5e7, "unsecured", 30),
     ("CCC", 1e6, "secured", 90), ("D", 2e7, "unsecured", 30), ("AA", 2e7, "secured", 135)])
def test_normal_interval_formula(grade, exposure, mitigation, days):
    assert ENGINE_POLICY.visits.normal_interval(grade, exposure, mitigation) == days


def test_interval_clamps_to_max():
    pol = ENGINE_POLICY.model_dump(mode="json")
    pol["visits"]["base_days"]["AAA"] = 400
    assert parse_policy(pol).visits.normal_interval("AAA", 1.0, "secured") == 360


@pytest.mark.parametrize(("level", "days"), [(0, 135), (1, 90), (2, 60), (3, 30)])
def test_interval_after_a_visit_is_min_of_normal_and_the_tiers_cadence(level, days):
    assert ENGINE_POLICY.visits.interval(level, "A", 1e6, "unsecured") == days


def test_first_visit_is_30_days_after_disbursement_in_policy_time_zone():
    # disbursed 2025-01-01T20:00Z = 2025-01-02 04:00 in Shanghai; +30 days = 2025-02-01 local
    r = run([profile(at(hours=20), disbursed_at=at(hours=20).isoformat())])
    assert r.view(at(1)).next_visit_due == date(2025, 2, 1)
    e = r.engine.schedule_entry(r.state)
    assert (e.reason, e.reason_params, e.workout) == ("first_visit", {"date": "2025-01-02", "days": 30}, False)


def test_inspection_sets_next_due_by_tier_after_the_visit():
    r = run([profile(grade="BBB", mitigation="secured")])  # normal interval 135
    r.feed(inspection(at(20), "normal"))
    assert r.view(at(20)).next_visit_due == (at(20) + timedelta(days=135)).date()
    e = r.engine.schedule_entry(r.state)
    assert (e.reason, e.reason_params) == ("inspected", {"date": "2025-01-21", "days": 135, "tier": "normal", "basis": "interval"})
    r.feed(inspection(at(40), "concern"))  # watch after the visit: min(135, watch cadence 90)
    assert r.view(at(40)).next_visit_due == (at(40) + timedelta(days=90)).date()
    e = r.engine.schedule_entry(r.state)
    assert (e.reason, e.reason_params) == (
        "inspected", {"date": "2025-02-10", "days": 90, "tier": "watch", "basis": "cadence"})


def test_a_long_severe_tier_is_visited_at_its_cadence_not_its_response_deadline():
    r = run([profile(grade="BBB", mitigation="secured"), lawsuit(at(1), stage="dishonest_debtor")])
    assert r.view(at(1)).next_visit_due == at(6).date()  # response: within 5 days of the rise
    for visit in (6, 36, 66, 96):
        r.feed(inspection(at(visit), "normal"))
        assert r.view(at(visit)).tier == "severe"
        assert r.view(at(visit)).next_visit_due == at(visit + 30).date()  # then every 30 days, not every 5
    assert len([a for a in r.alerts]) == 1


def test_tier_rise_pulls_due_forward_and_fall_never_moves_it():
    r = run([profile(grade="A", mitigation="secured"), inspection(at(5), "normal")])  # due day 5 + 270
    assert r.view(at(5)).next_visit_due == (at(275)).date()
    r.feed(overdue(at(10), 3))  # watch: due <= day 10 + 30
    assert r.view(at(10)).next_visit_due == at(40).date()
    e = r.engine.schedule_entry(r.state)
    assert (e.reason, e.reason_params) == ("tier_raised", {"date": "2025-01-11", "days": 30, "tier": "watch"})
    r.until(at(11) - US)
    r.feed(overdue(at(11), 45))  # warning: due <= day 11 + 10
    assert r.view(at(11)).next_visit_due == at(21).date()
    r.feed(overdue(at(12), 0))
    assert r.view(at(200)).tier == "normal"
    assert r.view(at(200)).next_visit_due == at(21).date()  # the fall did not move it
    e = r.engine.schedule_entry(r.state)
    assert (e.reason, e.reason_params) == ("tier_raised", {"date": "2025-01-12", "days": 10, "tier": "warning"})


def test_rise_never_pushes_an_earlier_due_later():
    r = run([profile(grade="B")])  # first visit day 30
    r.feed(overdue(at(1), 3))  # watch: day 1 + 30 = day 31 > day 30
    assert r.view(at(1)).next_visit_due == at(30).date()


def test_alert_carries_due_team_branch_and_policy_version():
    r = run([profile(team="T9", branch="BJ02"), lawsuit(at(3), stage="dishonest_debtor")])
    (a,) = r.alerts
    assert (a.kind.value, a.from_tier, a.to_tier, a.team, a.branch) == ("raised", "normal", "severe", "T9", "BJ02")
    assert a.next_visit_due == at(8).date()  # severe: a response visit within 5 days
    assert a.policy_version == ENGINE_POLICY.version
    (sig,) = a.signals
    assert sig.rule == "lawsuit.dishonest_debtor" and sig.thresholds["stages"] == ["dishonest_debtor"]
    assert sig.event_ids and sig.values["case_id"] == "C1"


def test_alert_evidence_names_values_thresholds_and_events():
    e = overdue(at(1), 31, eid="ovd-1")
    r = run([profile(), e, bureau(at(1), inquiries=8, eid="bur-1")])
    a = r.alerts[-1]
    by_rule = {s.rule: s for s in a.signals}
    assert by_rule["overdue.dpd"].values["days_past_due"] == 31
    assert by_rule["overdue.dpd"].thresholds == {"band_min": 30}
    assert by_rule["overdue.dpd"].event_ids == ["ovd-1"]
    assert by_rule["bureau.inquiries"].values == {"hard_inquiries_30d": 8}
    assert by_rule["combo.multi_source"].values["families"] == ["bureau", "overdue"]
    assert by_rule["combo.multi_source"].event_ids == ["bur-1", "ovd-1"]
    assert by_rule["overdue.dpd"].since == at(1) - timedelta(days=1)  # DPD reached 30 a day before


# ------------------------------------------------------------------ duplicates and order


def test_duplicate_event_id_within_30_days_is_ignored():
    r = run([profile(), overdue(at(1), 5, eid="x1")])
    r.feed(overdue(at(1), 5, eid="x1"))  # the same event again
    assert r.outcomes[-1] == DUPLICATE
    r.feed(overdue(at(31), 0, eid="x1"))  # 30 days later it is new again
    assert r.outcomes[-1] == APPLIED


@pytest.mark.parametrize("other", [
    overdue(at(2), 60, eid="x1"),  # other instant and content
    overdue(at(1), 6, eid="x1"),  # same instant, other DPD
    overdue(at(1), 5, "A2", eid="x1"),  # other account
    bureau(at(1), dpd=5, eid="x1"),  # other type
])
def test_an_event_id_applied_with_other_content_is_a_conflicting_duplicate_and_changes_nothing(other):
    r = run([profile(), overdue(at(1), 5, eid="x1"), overdue(at(3), 2, "A3")])
    before = dump_state(r.state)
    r.feed(other)
    assert r.outcomes[-1] == CONFLICT
    assert dump_state(r.state) == before  # not even the clock moved
    assert r.view(at(3)).computed_tier == "watch"


def test_a_copy_written_with_another_utc_offset_is_the_same_event():
    r = run([profile(), overdue(at(1), 5, eid="x1")])
    copy = parse_event(overdue(at(1), 5, eid="x1").model_dump_json().replace("Z", "+08:00").replace(
        "T00:00:00+08:00", "T08:00:00+08:00"))
    assert copy.occurred_at == at(1)
    r.feed(copy)
    assert r.outcomes[-1] == DUPLICATE
    assert content_digest(copy) == content_digest(overdue(at(1), 5, eid="x1"))


def test_duplicates_are_told_apart_after_a_state_round_trip_and_in_states_without_digests():
    r = run([profile(), overdue(at(1), 5, eid="x1")])
    r.state = load_state(dump_state(r.state))
    r.feed(overdue(at(1), 5, eid="x1"), overdue(at(1), 7, eid="x1"))
    assert r.outcomes[-2:] == [DUPLICATE, CONFLICT]
    # a state written before digests were kept remembers the instant only: a copy counts as a duplicate
    old = long_form(r.state)  # as states were written before the short keys
    old["seen"] = {k: v[0] for k, v in old["seen"].items()}
    r.state = load_state(json.dumps(old))
    r.feed(overdue(at(1), 7, eid="x1"))
    assert r.outcomes[-1] == DUPLICATE


def test_digests_of_the_first_form_in_older_states_still_tell_copies_from_conflicts():
    """States written before the second digest form keep blake2b digests of the model's JSON (under 2**32): a
    copy is compared with such a digest in its own form, so an exact copy is still a duplicate after an upgrade."""
    from monitor._digest import digest_form1 as _digest_form1

    first = overdue(at(1), 5, eid="x1")
    r = run([profile(), first])
    old = long_form(r.state)  # as states were written before the short keys
    assert old["seen"]["x1"][1] >= 2**32  # written in the second form
    old["seen"]["x1"][1] = _digest_form1(first, us(at(1)))
    assert old["seen"]["x1"][1] < 2**32
    r.state = load_state(json.dumps(old))
    r.feed(overdue(at(1), 5, eid="x1"), overdue(at(1), 7, eid="x1"))
    assert r.outcomes[-2:] == [DUPLICATE, CONFLICT]


@pytest.mark.parametrize("change", [
    {"exposure": 1_000_000.5}, {"name": "Other"}, {"name": None}, {"source": None}, {"source": "None"},
    {"industry": "trade2"}, {"disbursed_at": "2024-01-01T00:00:00+00:00"}])
def test_every_field_of_an_event_is_in_its_digest(change):
    from tests.factories import _event  # noqa: PLC2701

    def make(**kw):
        fields = {"segment": "small", "industry": "trade", "branch": "SH01", "team": "T1", "exposure": 1_000_000.0,
                  "product": "working_capital", "mitigation": "unsecured", "grade": "BBB", "name": "None",
                  "disbursed_at": "2024-01-01T08:00:00+08:00", "source": "core"}
        return _event("loan_profile", "B1", at(0), "p1", **{**fields, **kw})

    assert content_digest(make()) == content_digest(make())
    assert content_digest(make(**change)) != content_digest(make())


def test_same_instant_events_apply_in_input_order():
    r = run([profile(), overdue(at(1), 5), overdue(at(1), 0)])
    assert r.view(at(1)).computed_tier == "normal"
    r = run([profile(), overdue(at(1), 0), overdue(at(1), 5)])
    assert r.view(at(1)).computed_tier == "watch"


def test_time_driven_change_at_event_instant_is_settled_with_the_event():
    # the DPD crosses 30 exactly when a cure arrives: one settlement, no escalation in between
    r = run([profile(), overdue(at(1), 29)])
    r.feed(overdue(at(2), 0))
    assert r.changes() == [("raised", "watch", at(1))]


def test_late_event_is_applied_at_the_borrower_clock():
    r = run([profile(), overdue(at(10), 3)])
    r.feed(lawsuit(at(5), stage="enforcement"))  # older than the clock
    a = r.alerts[-1]
    assert a.at == at(10) and a.to_tier == "severe"  # enforcement + overdue: warning + combo


# ------------------------------------------------------------------ profile-less borrowers


def test_events_before_profile_are_held_and_take_effect_with_it():
    r = Run().feed(overdue(at(1), 40), inspection(at(2), "concern"))
    v = r.view(at(3))
    assert (v.tier, v.computed_tier, v.active_rules, v.next_visit_due) == (None, None, [], None)
    assert r.alerts == [] and r.state.held == 2
    r.feed(profile(at(4), disbursed_at=at(-100).isoformat()))
    v = r.view(at(4))
    assert v.tier == "severe"  # DPD 43 warning + inspection concern watch: +1
    assert r.changes() == [("raised", "severe", at(4))]
    # the visit before the profile scheduled nothing: first check from disbursement
    assert v.next_visit_due == min(at(-70), at(7)).date()


# ------------------------------------------------------------------ determinism, batches, state


def _sample():
    return [profile(eid="p"), overdue(at(1), 4, eid="o1"), rating(at(20), "BBB", "BB", eid="r1"),
            bureau(at(25), inquiries=9, debt=10.0, eid="b1"), bureau(at(50), debt=20.0, eid="b2"),
            lawsuit(at(60), claim=300_000.0, eid="l1"), overdue(at(70), 0, eid="o2"),
            inspection(at(80), "deteriorated", eid="i1")]


def test_same_input_same_alert_ids():
    a = run(_sample()).until(at(600)).alerts
    b = run(_sample()).until(at(600)).alerts
    assert [x.model_dump_json() for x in a] == [x.model_dump_json() for x in b]
    assert len({x.alert_id for x in a}) == len(a) > 3


def test_batch_equals_one_at_a_time():
    eng = Engine(ENGINE_POLICY)
    one = run(_sample())
    batch = eng.apply_batch(eng.new_state("B1"), _sample())
    assert [a.alert_id for a in batch.alerts] == [a.alert_id for a in one.alerts]
    assert dump_state(batch.state) == dump_state(one.state)
    assert batch.schedule_changed
    assert eng.schedule_entry(batch.state).next_visit_due == one.view(at(80)).next_visit_due


def test_state_survives_a_json_round_trip_mid_stream():
    events = _sample()
    whole = run(events).until(at(400))
    eng = Engine(ENGINE_POLICY)
    part = run(events[:4])
    restored = load_state(dump_state(part.state))
    r2 = Run()
    r2.state = restored
    r2.feed(*events[4:]).until(at(400))
    assert [a.alert_id for a in part.alerts + r2.alerts] == [a.alert_id for a in whole.alerts]
    assert dump_state(r2.state) == dump_state(whole.state)
    assert eng is not None


def test_state_stays_bounded_over_years():
    r = run([profile()])
    for month in range(60):
        d = month * 30
        r.feed(bureau(at(d + 1), inquiries=month % 8, debt=1000.0 + month),
               overdue(at(d + 2), 3, f"A{month % 3}"), overdue(at(d + 9), 0, f"A{month % 3}"),
               rating(at(d + 3), "BBB" if month % 2 else "BB", "BB" if month % 2 else "BBB"),
               lawsuit(at(d + 4), f"C{month}", stage="filed", claim=10.0),
               inspection(at(d + 5), "concern"))
    size = len(dump_state(r.state))
    assert size < 8000
    assert len(r.state.cases) <= 14 and len(r.state.grades) <= 8 and len(r.state.seen) <= 200


def test_wake_is_the_next_time_driven_change():
    r = run([profile(), overdue(at(1, hours=5), 10)])
    assert r.state.wake == us(at(21, hours=5))  # 10 + 20 days = 30: the warning band
    r.feed(inspection(at(2), "concern"))
    assert r.state.wake == us(at(21, hours=5))
    r.feed(overdue(at(3), 0))
    assert r.state.wake == us(at(92))  # the concern ends 90 days after the visit
    assert r.state.wake % DAY == 0


def test_event_older_than_the_duplicate_window_behind_the_clock_is_stale_not_applied():
    from monitor.engine import STALE

    r = run([profile(), overdue(at(1), 0, "A1"), bureau(at(100), dpd=0)])
    r.feed(overdue(at(69), 45, "A1"))  # 31 days behind the clock: could be an old copy
    assert r.outcomes[-1] == STALE
    assert r.view(at(100)).active_rules == []
    r.feed(overdue(at(71), 5, "A2"))  # 29 days behind: a late event, applied at the clock
    assert r.outcomes[-1] == APPLIED
