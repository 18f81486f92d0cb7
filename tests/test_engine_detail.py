"""The borrower detail: everything the borrower page shows, from the state alone, without the name."""

from __future__ import annotations

import json
from datetime import date

import pytest
from pydantic import ValidationError

from monitor.engine import Engine
from monitor.outputs import BorrowerDetail
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
    override,
    profile,
    rating,
    run,
)

NAME = "上海某某机械有限公司"


def _borrower() -> Run:
    return run([
        profile(segment="medium", industry="制造业", branch="上海分行", team="检查一组", exposure=2_000_000.0,
                product="term_loan", mitigation="guaranteed", grade="BBB", name=NAME, eid="p1"),
        rating(at(3), "BBB", "BB", eid="r1"),
        lawsuit(at(4), "C2", stage="filed", claim=50_000.0, eid="l1"),
        lawsuit(at(5), "C1", stage="enforcement", claim=500_000.0, eid="l2"),
        lawsuit(at(6), "C3", stage="closed", eid="l3"),
        lawsuit(at(7), "C4", role="plaintiff", claim=10.0, eid="l4"),
        bureau(at(8), inquiries=2, debt=100.0, eid="b1"),
        bureau(at(9), dpd=12, inquiries=7, debt=200.0, guarantees=5.0, overdue_amount=300.0, eid="b2"),
        overdue(at(10), 5, "ACC-2", amount=900.0, eid="o1"),
        overdue(at(10), 3, "ACC-1", amount=100.0, eid="o2"),
        overdue(at(11), 0, "ACC-2", eid="o3"),
        inspection(at(12), "concern", eid="i1"),
        override(at(13), tier="severe", days=20, reason="媒体报道实控人失联", requested_by="officer-7", eid="f1"),
    ])


def test_detail_shows_profile_tiers_signals_overrides_lawsuits_accounts_bureau_and_visits():
    r = _borrower()
    d = r.engine.detail(r.state)
    assert d.borrower_id == "B1"
    assert d.as_of == at(13)
    assert d.policy_version == ENGINE_POLICY.version
    p = d.profile
    assert p is not None
    assert (p.segment, p.industry, p.branch, p.team, p.exposure, p.product, p.mitigation) == (
        "medium", "制造业", "上海分行", "检查一组", 2_000_000.0, "term_loan", "guaranteed")
    assert (p.grade, p.grade_since, p.disbursed_at, p.updated_at) == ("BB", at(3), at(0), at(0))
    assert (d.tier, d.computed_tier, d.tier_since) == ("severe", "severe", at(5))
    rules = [s.rule for s in d.signals]
    assert rules[0] in ("combo.multi_source", "override.floor")  # highest level first
    assert {"override.floor", "lawsuit.enforcement", "lawsuit.claim_material", "overdue.dpd",
            "bureau.external_overdue", "bureau.inquiries", "bureau.debt_growth", "inspection.concern",
            "rating.downgrade_1"} <= set(rules)
    (ov,) = d.overrides
    assert (ov.direction, ov.tier, ov.since, ov.until, ov.requested_until, ov.reason, ov.requested_by,
            ov.approved_by, ov.event_id) == ("floor", "severe", at(13), at(33), at(33), "媒体报道实控人失联",
                                             "officer-7", None, "f1")
    assert [(c.case_id, c.stage, c.role, c.counts) for c in d.lawsuits] == [
        ("C1", "enforcement", "defendant", True), ("C2", "filed", "defendant", True),
        ("C4", "filed", "plaintiff", False)]  # C3 is closed
    c1 = d.lawsuits[0]
    assert (c1.claim_amount, c1.first_notice_at, c1.latest_notice_at, c1.stage_since, c1.event_ids) == (
        500_000.0, at(5), at(5), at(5), ["l2"])
    (acc,) = d.overdue_accounts  # ACC-2 was cured
    assert (acc.account_id, acc.days_past_due, acc.reported_days_past_due, acc.overdue_amount, acc.reported_at,
            acc.event_id, acc.product) == ("ACC-1", 6, 3, 100.0, at(10), "o2", "working_capital")
    assert (d.highest_dpd, d.min_classification) == (6, "special_mention")
    b = d.bureau
    assert b is not None
    assert (b.reported_at, b.event_id, b.max_external_dpd, b.external_overdue_amount, b.hard_inquiries_30d,
            b.total_external_debt, b.guarantee_exposure, b.previous_reported_at,
            b.previous_total_external_debt) == (at(9), "b2", 12, 300.0, 7, 200.0, 5.0, at(8), 100.0)
    v = d.last_visit
    assert v is not None
    assert (v.at, v.event_id, v.team, v.inspector, v.outcome) == (at(12), "i1", "T1", "insp-01", "concern")
    assert d.next_visit_due == date(2025, 2, 12)  # visited on day 12 at severe: the severe cadence, 30 days
    assert (d.next_visit_reason, d.next_visit_reason_params) == (
        "inspected", {"date": "2025-01-13", "days": 30, "tier": "severe", "basis": "cadence"})
    assert (d.workout, d.workout_since) == (False, None)
    assert d.alerts == len(r.alerts) and d.events_before_profile == 0


def test_detail_never_carries_the_borrower_name():
    r = _borrower()
    text = r.engine.detail(r.state).model_dump_json()
    assert NAME not in text and "name" not in json.loads(text)["profile"]
    assert NAME.encode() not in dump_state(r.state)


def test_detail_agrees_with_the_view_and_the_schedule_entry():
    r = _borrower()
    d = r.engine.detail(r.state)
    v = r.engine.view(r.state)
    e = r.engine.schedule_entry(r.state)
    assert (d.tier, d.computed_tier, d.min_classification, d.next_visit_due) == (
        v.tier, v.computed_tier, v.min_classification, v.next_visit_due)
    assert sorted(s.rule for s in d.signals) == v.active_rules
    assert (d.next_visit_reason, d.next_visit_reason_params, d.next_visit_due, d.workout) == (
        e.reason, e.reason_params, e.next_visit_due, e.workout)
    assert d.signals == r.engine.signals(r.state, at(13))


def test_detail_is_the_same_from_a_state_reloaded_from_json_and_byte_for_byte_deterministic():
    r = _borrower()
    again = _borrower()
    restored = load_state(dump_state(r.state))
    eng = Engine(ENGINE_POLICY)
    assert eng.detail(restored).model_dump_json() == r.engine.detail(r.state).model_dump_json()
    assert again.engine.detail(again.state).model_dump_json() == r.engine.detail(r.state).model_dump_json()


def test_detail_follows_the_clock_an_expired_override_and_grown_dpd():
    r = _borrower()
    r.until(at(33) - US)
    assert [o.direction for o in r.engine.detail(r.state).overrides] == ["floor"]
    r.until(at(33))
    d = r.engine.detail(r.state)
    assert d.as_of == at(33) and d.overrides == [] and "override.floor" not in [s.rule for s in d.signals]
    assert d.overdue_accounts[0].days_past_due == 3 + 23  # reported at day 10 with 3, 23 days on


def test_detail_before_the_profile_shows_what_is_held():
    r = Run().feed(overdue(at(1), 40, eid="o1"), override(at(2), direction="cap", tier="watch",
                                                          approved_by="sup-1", eid="c1"))
    d = r.engine.detail(r.state)
    assert (d.profile, d.tier, d.computed_tier, d.min_classification, d.next_visit_due) == (None,) * 5
    assert d.signals == [] and d.events_before_profile == 2
    assert [(o.direction, o.tier, o.approved_by) for o in d.overrides] == [("cap", "watch", "sup-1")]
    assert [a.account_id for a in d.overdue_accounts] == ["A1"] and d.highest_dpd == 41
    assert (d.next_visit_reason, d.next_visit_reason_params) == ("no_profile", {})


def test_detail_of_a_fresh_state():
    eng = Engine(ENGINE_POLICY)
    d = eng.detail(eng.new_state("B9"))
    assert d.borrower_id == "B9" and d.as_of is None and d.profile is None and d.tier is None
    assert (d.signals, d.overrides, d.lawsuits, d.overdue_accounts, d.bureau, d.last_visit) == ([], [], [], [],
                                                                                                  None, None)


def test_detail_of_a_state_written_before_segment_industry_product_and_inspector_were_kept():
    r = _borrower()
    doc = long_form(r.state)  # as states were written before the short keys
    for key in ("segment", "industry", "product"):
        del doc["profile"][key]
    del doc["inspection"]["inspector"]
    d = r.engine.detail(load_state(json.dumps(doc)))
    assert d.profile is not None and (d.profile.segment, d.profile.industry, d.profile.product) == (None,) * 3
    assert d.last_visit is not None and d.last_visit.inspector is None


def test_detail_model_is_frozen_forbids_extra_fields_and_round_trips_as_json():
    r = _borrower()
    d = r.engine.detail(r.state)
    assert BorrowerDetail.model_validate_json(d.model_dump_json()) == d
    with pytest.raises(ValidationError):
        d.tier = "normal"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        BorrowerDetail.model_validate({**d.model_dump(mode="json"), "name": NAME})
