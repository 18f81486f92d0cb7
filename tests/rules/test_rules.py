"""Each rule of the engine tests' policy (tests/engine_policy.toml), with its band edges and window ends."""

from __future__ import annotations

import pytest

from monitor._errors import PolicyError
from monitor.rules.policy import parse_policy
from tests.factories import ENGINE_POLICY, US, at, bureau, inspection, lawsuit, overdue, profile, rating, run


def rules_at(events, when):
    return run(events).rules(when)


# ------------------------------------------------------------------ overdue


@pytest.mark.parametrize(
    ("dpd", "expected"),
    [(0, []), (1, ["watch"]), (29, ["watch"]), (30, ["warning"]), (89, ["warning"]), (90, ["severe"]),
     (400, ["severe"])],
)
def test_overdue_dpd_bands(dpd, expected):
    r = run([profile(), overdue(at(10), dpd)])
    v = r.view(at(10))
    assert v.active_rules == (["overdue.dpd"] if expected else [])
    assert v.computed_tier == (expected[0] if expected else "normal")


def test_overdue_counts_forward_and_crosses_band_at_exact_instant():
    r = run([profile(), overdue(at(10), 29)])
    assert r.view(at(11) - US).computed_tier == "watch"
    assert r.view(at(11)).computed_tier == "warning"  # 29 + 1 whole day = 30
    assert r.view(at(71) - US).computed_tier == "warning"
    assert r.view(at(71)).computed_tier == "severe"  # 29 + 61 = 90
    # the escalations carry the exact instants, not the next event's
    assert [(k, t, w) for k, t, w in r.changes()] == [
        ("raised", "watch", at(10)), ("escalated", "warning", at(11)), ("escalated", "severe", at(71))]


def test_overdue_cured_by_zero_and_highest_account_wins():
    r = run([profile(), overdue(at(1), 40, "A1"), overdue(at(1), 5, "A2")])
    v = r.view(at(2))
    assert v.computed_tier == "warning"
    r.feed(overdue(at(3), 0, "A1"))
    assert r.view(at(3)).computed_tier == "watch"  # A2 still 7 DPD
    r.feed(overdue(at(4), 0, "A2"))
    assert r.view(at(4)).computed_tier == "normal"


def test_overdue_older_update_does_not_override_newer():
    r = run([profile(), overdue(at(5), 0, "A1"), overdue(at(4), 10, "A1")])
    assert r.view(at(6)).computed_tier == "normal"


# ------------------------------------------------------------------ bureau


@pytest.mark.parametrize(
    ("dpd", "tier"), [(0, "normal"), (1, "watch"), (29, "watch"), (30, "warning"), (89, "warning"),
                      (90, "severe")])
def test_bureau_external_overdue_bands(dpd, tier):
    r = run([profile(), bureau(at(5), dpd=dpd)])
    assert r.view(at(5)).computed_tier == tier


def test_bureau_rules_hold_until_a_newer_report():
    r = run([profile(), bureau(at(5), dpd=40)])
    assert r.view(at(400)).computed_tier == "warning"  # no expiry
    r.feed(bureau(at(401), dpd=0))
    assert r.view(at(401)).computed_tier == "normal"


@pytest.mark.parametrize(("inq", "holds"), [(5, False), (6, True), (20, True)])
def test_bureau_inquiries(inq, holds):
    assert ("bureau.inquiries" in rules_at([profile(), bureau(at(1), inquiries=inq)], at(1))) is holds


@pytest.mark.parametrize(
    ("prev", "latest", "gap_days", "holds"),
    [(100.0, 150.0, 30, True), (100.0, 149.99, 30, False), (0.0, 500.0, 30, False),
     (100.0, 150.0, 180, True), (100.0, 150.0, 181, False)],
)
def test_bureau_debt_growth(prev, latest, gap_days, holds):
    events = [profile(), bureau(at(1), debt=prev), bureau(at(1 + gap_days), debt=latest)]
    assert ("bureau.debt_growth" in rules_at(events, at(1 + gap_days))) is holds


def test_bureau_debt_growth_gap_is_inclusive_to_the_microsecond():
    events = [profile(), bureau(at(1), debt=100.0), bureau(at(181) + US, debt=200.0)]
    assert "bureau.debt_growth" not in rules_at(events, at(182))


@pytest.mark.parametrize(
    ("guar", "exposure", "holds"),
    [(1_000_000.0, 1_000_000.0, True), (999_999.0, 1_000_000.0, False), (5.0, 0.0, False), (0.0, 0.0, False)])
def test_bureau_guarantees(guar, exposure, holds):
    events = [profile(exposure=exposure), bureau(at(1), guarantees=guar)]
    assert ("bureau.guarantees" in rules_at(events, at(1))) is holds


# ------------------------------------------------------------------ lawsuit


@pytest.mark.parametrize(
    ("claim", "rules"),
    [(49_999.0, []), (50_000.0, ["lawsuit.claim_large"]), (199_999.0, ["lawsuit.claim_large"]),
     (200_000.0, ["lawsuit.claim_large", "lawsuit.claim_material"])])
def test_lawsuit_claim_ratio_edges(claim, rules):
    assert rules_at([profile(exposure=1_000_000.0), lawsuit(at(1), claim=claim)], at(1)) == rules


def test_lawsuit_only_defendant_counts():
    for role in ("plaintiff", "third_party"):
        events = [profile(), lawsuit(at(1), claim=900_000.0, stage="dishonest_debtor", role=role)]
        assert rules_at(events, at(1)) == []


def test_lawsuit_claim_needs_positive_exposure():
    assert rules_at([profile(exposure=0.0), lawsuit(at(1), claim=10.0)], at(1)) == []


@pytest.mark.parametrize(
    ("stage", "case_type", "rule", "tier"),
    [("enforcement", "civil", "lawsuit.enforcement", "warning"),
     ("dishonest_debtor", "civil", "lawsuit.dishonest_debtor", "severe"),
     ("filed", "criminal", "lawsuit.criminal", "severe")])
def test_lawsuit_stage_and_type_rules(stage, case_type, rule, tier):
    v = run([profile(), lawsuit(at(1), stage=stage, case_type=case_type)]).view(at(1))
    assert v.active_rules == [rule]
    assert v.computed_tier == tier


def test_lawsuit_closed_case_stops_counting():
    r = run([profile(), lawsuit(at(1), stage="enforcement")])
    assert r.rules(at(19)) == ["lawsuit.enforcement"]
    r.feed(lawsuit(at(20), stage="closed"))
    assert r.rules(at(20)) == []


def test_lawsuit_expires_365_days_after_latest_notice():
    r = run([profile(), lawsuit(at(1), stage="enforcement")])
    assert r.rules(at(366) - US) == ["lawsuit.enforcement"]
    assert r.rules(at(366)) == []
    r2 = run([profile(), lawsuit(at(1), stage="filed"), lawsuit(at(100), stage="enforcement")])
    assert r2.rules(at(465) - US) == ["lawsuit.enforcement"]
    assert r2.rules(at(465)) == []


# ------------------------------------------------------------------ rating


def test_rating_downgrade_one_notch_for_180_days():
    r = run([profile(grade="BBB"), rating(at(10), "BBB", "BB")])
    assert r.rules(at(10)) == ["rating.downgrade_1"]
    assert r.view(at(10)).computed_tier == "watch"
    assert r.rules(at(190) - US) == ["rating.downgrade_1"]
    assert r.rules(at(190)) == []


def test_rating_two_notches_at_once_is_downgrade_2_only():
    r = run([profile(grade="BBB"), rating(at(10), "BBB", "B")])
    assert r.rules(at(10)) == ["rating.downgrade_2"]
    assert r.view(at(10)).computed_tier == "warning"


def test_rating_two_single_notches_within_lookback_are_downgrade_2():
    r = run([profile(grade="A"), rating(at(10), "A", "BBB"), rating(at(100), "BBB", "BB")])
    assert r.rules(at(100)) == ["rating.downgrade_1", "rating.downgrade_2"]


def test_rating_lookback_is_180_days_before_the_change():
    # A held until day 10, so at day 190 the best grade of the previous 180 days is still A...
    r = run([profile(grade="A"), rating(at(10), "A", "BBB"), rating(at(190) - US, "BBB", "BB")])
    assert "rating.downgrade_2" in r.rules(at(190))
    # ...and at day 190 exactly, A ended 180 days ago: only BBB counts
    r = run([profile(grade="A"), rating(at(10), "A", "BBB"), rating(at(190), "BBB", "BB")])
    assert r.rules(at(190)) == ["rating.downgrade_1"]


def test_rating_upgrade_is_no_signal():
    assert rules_at([profile(grade="BB"), rating(at(10), "BB", "BBB")], at(10)) == []


@pytest.mark.parametrize(("grade", "rule", "tier"),
                         [("CCC", "rating.weak_grade", "warning"), ("CC", "rating.weak_grade", "warning"),
                          ("C", "rating.weak_grade", "warning"), ("D", "rating.default_grade", "severe"),
                          ("B", None, "normal")])
def test_rating_weak_and_default_grade(grade, rule, tier):
    v = run([profile(grade=grade)]).view(at(1))
    assert v.active_rules == ([rule] if rule else [])
    assert v.computed_tier == tier


def test_profile_grade_is_ignored_once_a_rating_is_known():
    r = run([rating(at(1), "BB", "CCC"), profile(at(2), grade="A")])
    # held before the profile: BB -> CCC is two notches, measured against old_grade
    assert r.rules(at(2)) == ["rating.downgrade_2", "rating.weak_grade"]
    r.feed(profile(at(3), grade="AAA", exposure=5.0))
    assert "rating.weak_grade" in r.rules(at(3))
    assert r.view(at(3)).exposure == 5.0


# ------------------------------------------------------------------ inspection


@pytest.mark.parametrize(("outcome", "rule", "tier"),
                         [("concern", "inspection.concern", "watch"),
                          ("deteriorated", "inspection.deteriorated", "warning"), ("normal", None, "normal")])
def test_inspection_outcomes_for_90_days(outcome, rule, tier):
    r = run([profile(), inspection(at(5), outcome)])
    assert r.rules(at(95) - US) == ([rule] if rule else [])
    assert r.view(at(95) - US).computed_tier == tier
    assert r.rules(at(95)) == []


def test_latest_inspection_replaces_the_previous():
    r = run([profile(), inspection(at(5), "deteriorated"), inspection(at(6), "normal")])
    assert r.rules(at(6)) == []


# ------------------------------------------------------------------ combination


def test_multi_source_raises_one_level():
    v = run([profile(), overdue(at(1), 3), bureau(at(1), inquiries=7)]).view(at(1))
    assert v.active_rules == ["bureau.inquiries", "combo.multi_source", "overdue.dpd"]
    assert v.computed_tier == "warning"


def test_same_family_twice_does_not_raise():
    v = run([profile(), bureau(at(1), inquiries=7, dpd=3)]).view(at(1))
    assert "combo.multi_source" not in v.active_rules
    assert v.computed_tier == "watch"


def test_multi_source_is_capped_at_severe():
    v = run([profile(), overdue(at(1), 95), lawsuit(at(1), stage="enforcement")]).view(at(1))
    assert v.computed_tier == "severe"


def _combo_policy(**combo):
    pol = ENGINE_POLICY.model_dump(mode="json")
    pol["combo"]["multi_source"].update(combo)
    return parse_policy(pol)


@pytest.mark.parametrize(("events", "tier"), [
    ([overdue(at(1), 3), bureau(at(1), inquiries=7)], "warning"),  # watch + watch: raised to warning
    ([overdue(at(1), 40), bureau(at(1), inquiries=7)], "warning"),  # warning + watch: not above warning
    ([overdue(at(1), 95), bureau(at(1), inquiries=7)], "severe"),  # a severe signal stays severe
])
def test_multi_source_raises_no_higher_than_its_max_level(events, tier):
    r = run([profile(), *events], _combo_policy(max_level="warning"))
    v = r.view(at(1))
    assert v.computed_tier == tier and "combo.multi_source" in v.active_rules
    (combo,) = [s for s in r.engine.signals(r.state, at(1)) if s.rule == "combo.multi_source"]
    assert combo.level == tier and combo.thresholds["max_level"] == "warning"


def test_multi_source_max_level_is_validated():
    with pytest.raises(PolicyError, match="combo.multi_source.max_level: must be one of watch, warning, severe"):
        _combo_policy(max_level="normal")


# ------------------------------------------------------------------ classification


@pytest.mark.parametrize(
    ("dpd", "cls"),
    [(0, "normal"), (1, "special_mention"), (90, "special_mention"), (91, "substandard"),
     (270, "substandard"), (271, "doubtful"), (360, "doubtful"), (361, "loss")])
def test_min_classification_floors(dpd, cls):
    assert run([profile(), overdue(at(1), dpd)]).view(at(1)).min_classification == cls


def test_min_classification_moves_with_time():
    r = run([profile(), overdue(at(1), 90)])
    assert r.view(at(2) - US).min_classification == "special_mention"
    assert r.view(at(2)).min_classification == "substandard"
