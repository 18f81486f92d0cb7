"""Officers' tier overrides: the event contract and how the engine applies them."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from pydantic import ValidationError

from monitor._errors import PolicyError
from monitor.engine import APPLIED, CONFLICT, DUPLICATE, Engine
from monitor.events import TierOverride, describe_validation_error, parse_event
from monitor.rules.policy import parse_policy
from monitor.state import dump_state, load_state
from tests.factories import ENGINE_POLICY, US, Run, at, inspection, overdue, override, profile, run, us

# ------------------------------------------------------------------ the event contract

SET_CAP = {"type": "tier_override", "event_id": "ov-1", "borrower_id": "B1",
           "occurred_at": "2025-01-10T09:00:00+08:00", "action": "set", "direction": "cap", "tier": "watch",
           "until": "2025-03-01T00:00:00Z", "reason": "restructuring agreed, collateral added",
           "requested_by": "officer-1", "approved_by": "supervisor-2"}
CLEAR = {"type": "tier_override", "event_id": "ov-2", "borrower_id": "B1", "occurred_at": "2025-01-10T00:00:00Z",
         "action": "clear", "direction": "floor", "reason": "visit found nothing", "requested_by": "officer-1"}


def _error(doc: dict) -> str:
    with pytest.raises(ValidationError) as exc:
        parse_event(json.dumps(doc, ensure_ascii=False))
    return describe_validation_error(exc.value)


def test_a_valid_cap_and_clear_parse_and_strip_text():
    e = parse_event(json.dumps({**SET_CAP, "reason": "  抵押物已补充  ", "requested_by": " officer-1 "}))
    assert isinstance(e, TierOverride)
    assert (e.action, e.direction, e.tier, e.reason, e.requested_by) == ("set", "cap", "watch", "抵押物已补充",
                                                                         "officer-1")
    c = parse_event(json.dumps(CLEAR))
    assert isinstance(c, TierOverride) and c.tier is None and c.until is None and c.approved_by is None


def _without(doc: dict, key: str) -> dict:
    return {k: v for k, v in doc.items() if k != key}


@pytest.mark.parametrize(("doc", "message"), [
    ({**SET_CAP, "action": "undo"}, "action: must be one of 'set' or 'clear'"),
    (_without(SET_CAP, "action"), "action: required"),
    ({**SET_CAP, "direction": "ceiling"}, "direction: must be one of 'floor' or 'cap'"),
    ({**SET_CAP, "tier": "red"}, "tier: must be 'normal', 'watch', 'warning' or 'severe'"),
    (_without(SET_CAP, "tier"), "tier: required when action is 'set'"),
    (_without(SET_CAP, "until"), "until: required when action is 'set'"),
    ({**SET_CAP, "until": "2025-03-01T00:00:00"}, "until: timezone offset required"),
    ({**SET_CAP, "until": "2025-01-10T01:00:00Z"}, "until: must be after occurred_at"),  # = occurred_at
    ({**SET_CAP, "until": "2024-12-31T00:00:00Z"}, "until: must be after occurred_at"),
    ({**SET_CAP, "reason": "   "}, "reason: must not be empty"),
    (_without(SET_CAP, "reason"), "reason: required"),
    ({**SET_CAP, "reason": "x" * 2001}, "reason: longer than 2000 characters"),
    ({**SET_CAP, "requested_by": ""}, "requested_by: must not be empty"),
    (_without(SET_CAP, "requested_by"), "requested_by: required"),
    (_without(SET_CAP, "approved_by"), "approved_by: required to set a cap"),
    ({**SET_CAP, "approved_by": None}, "approved_by: required to set a cap"),
    ({**SET_CAP, "approved_by": "officer-1"}, "approved_by: must be a different officer than requested_by"),
    ({**SET_CAP, "approved_by": " Officer-1 "}, "approved_by: must be a different officer than requested_by"),
    ({**SET_CAP, "tier": "severe"}, "tier: a cap must be normal, watch or warning"),
    ({**SET_CAP, "direction": "floor", "tier": "normal"}, "tier: a floor must be watch, warning or severe"),
    ({**CLEAR, "tier": "warning"}, "tier: not allowed when action is 'clear'"),
    ({**CLEAR, "until": "2025-03-01T00:00:00Z"}, "until: not allowed when action is 'clear'"),
    ({**CLEAR, "approved_by": "officer-1"}, "approved_by: must be a different officer than requested_by"),
    ({**SET_CAP, "expires": "2025-03-01T00:00:00Z"}, "expires: unexpected field"),
])
def test_every_bad_field_gets_a_specific_error(doc, message):
    assert _error(doc).startswith(message)


def test_a_floor_needs_no_approval_but_may_carry_one():
    floor = {**SET_CAP, "direction": "floor", "tier": "warning"}
    assert parse_event(json.dumps(_without(floor, "approved_by"))).approved_by is None
    assert parse_event(json.dumps(floor)).approved_by == "supervisor-2"


def test_reason_of_2000_characters_is_accepted():
    assert len(parse_event(json.dumps({**SET_CAP, "reason": "理" * 2000})).reason) == 2000


# ------------------------------------------------------------------ floor


def test_floor_raises_the_tier_and_pulls_the_visit_forward_until_it_expires():
    r = run([profile(grade="A", mitigation="secured"), override(at(5), tier="warning", days=30, eid="fl-1")])
    assert r.changes() == [("raised", "warning", at(5))]
    a = r.alerts[0]
    assert a.computed_tier == "normal"
    (sig,) = a.signals
    assert (sig.rule, sig.family, sig.level, sig.event_ids, sig.thresholds) == (
        "override.floor", "override", "warning", ["fl-1"], {})
    assert sig.values == {"tier": "warning", "until": "2025-02-05T00:00:00Z", "reason": "management change",
                          "requested_by": "officer-1", "approved_by": None}
    assert sig.since == at(5)
    assert a.next_visit_due == at(5 + 10).date()  # warning: a response visit within 10 days
    assert r.state.wake == us(at(35))
    assert r.view(at(35) - US).tier == "warning"
    assert r.view(at(35)).tier == "normal"  # expires at the exact instant
    assert r.changes()[-1] == ("cleared", "normal", at(35))
    assert r.alerts[-1].signals == []
    assert r.view(at(35)).next_visit_due == at(15).date()  # a fall never moves the due date


def test_visit_interval_after_an_inspection_follows_the_overridden_tier():
    r = run([profile(grade="A", mitigation="secured"), override(at(5), tier="watch", days=200)])
    r.feed(inspection(at(10), "normal"))
    assert r.view(at(10)).next_visit_due == at(10 + 90).date()  # watch: min(270, watch cadence 90)
    r2 = run([profile(grade="A", mitigation="secured"), inspection(at(10), "normal")])
    assert r2.view(at(10)).next_visit_due == at(10 + 270).date()


def test_floor_below_the_computed_tier_changes_nothing_but_is_shown():
    r = run([profile(), overdue(at(1), 95)])  # severe
    r.feed(override(at(2), tier="watch", eid="fl-1"))
    assert r.changes() == [("raised", "severe", at(1))]
    rules = [s.rule for s in r.engine.signals(r.state, at(2))]
    assert "override.floor" in rules and "overdue.dpd" in rules
    assert "override.floor" in r.view(at(2)).active_rules


def test_after_the_floor_the_rules_and_their_cure_period_decide():
    r = run([profile(), overdue(at(1), 35)])  # warning from day 1
    r.feed(override(at(2), tier="severe", days=10))
    r.feed(overdue(at(3), 0))  # cured: the warning counts until day 3 + 90
    assert r.view(at(12)).tier == "warning"  # the floor ended, the cure period still holds warning
    assert r.view(at(93)).tier == "normal"
    assert r.changes() == [("raised", "warning", at(1)), ("escalated", "severe", at(2)),
                           ("de_escalated", "warning", at(12)), ("cleared", "normal", at(93))]


# ------------------------------------------------------------------ cap


def test_approved_cap_lowers_the_tier_until_it_expires_then_the_rules_return():
    r = run([profile(), overdue(at(1), 95, eid="ovd")])  # severe
    r.feed(override(at(2), direction="cap", tier="watch", until=at(20, hours=6), approved_by="sup-1", eid="cap-1"))
    assert r.changes() == [("raised", "severe", at(1)), ("de_escalated", "watch", at(2))]
    a = r.alerts[-1]
    assert a.computed_tier == "severe"
    by_rule = {s.rule: s for s in a.signals}
    assert set(by_rule) == {"overdue.dpd", "override.cap"}
    assert by_rule["override.cap"].values["approved_by"] == "sup-1"
    assert by_rule["override.cap"].event_ids == ["cap-1"]
    assert r.state.wake == us(at(20, hours=6))
    assert r.view(at(20, hours=6) - US).tier == "watch"
    r.until(at(20, hours=6))
    assert r.changes()[-1] == ("escalated", "severe", at(20, hours=6))
    assert [s.rule for s in r.alerts[-1].signals] == ["overdue.dpd"]


def test_cap_above_the_computed_tier_changes_nothing():
    r = run([profile(), overdue(at(1), 3)])  # watch
    r.feed(override(at(2), direction="cap", tier="warning", approved_by="sup-1"))
    assert r.changes() == [("raised", "watch", at(1))]
    r.feed(overdue(at(3), 95))  # severe computed, capped at warning
    assert r.changes()[-1] == ("escalated", "warning", at(3))
    assert r.view(at(3)).computed_tier == "severe"


def test_floor_wins_over_a_conflicting_cap():
    r = run([profile(), overdue(at(1), 95)])
    r.feed(override(at(2), direction="cap", tier="normal", approved_by="sup-1", days=60, eid="cap"))
    r.feed(override(at(3), tier="warning", days=10, eid="floor"))
    r.until(at(200))
    assert r.changes() == [("raised", "severe", at(1)), ("cleared", "normal", at(2)),
                           ("raised", "warning", at(3)), ("cleared", "normal", at(13)),
                           ("raised", "severe", at(62))]
    assert {s.rule for s in r.alerts[2].signals} == {"overdue.dpd", "override.cap", "override.floor"}


# ------------------------------------------------------------------ set, clear, order, duplicates


def test_clear_removes_the_override_at_its_instant():
    r = run([profile(), override(at(1), tier="severe", days=100)])
    r.feed(override(at(4), "clear", eid="clr"))
    assert r.outcomes[-1] == APPLIED
    assert r.changes() == [("raised", "severe", at(1)), ("cleared", "normal", at(4))]
    assert r.engine.signals(r.state, at(4)) == []


def test_clear_of_no_override_is_applied_and_changes_nothing():
    r = run([profile(), overdue(at(1), 3)])
    before = r.engine.view(r.state)
    r.feed(override(at(2), "clear", direction="cap"))
    assert r.outcomes[-1] == APPLIED
    assert r.changes() == [("raised", "watch", at(1))]
    assert r.engine.view(r.state) == before


def test_clear_of_one_direction_keeps_the_other():
    r = run([profile(), overdue(at(1), 95)])
    r.feed(override(at(2), direction="cap", tier="watch", approved_by="sup-1", days=50))
    r.feed(override(at(3), "clear", direction="floor"))
    assert r.tier(at(3)) == "watch"


def test_set_replaces_the_earlier_override_of_its_direction():
    r = run([profile(), override(at(1), tier="severe", days=100, eid="first")])
    r.feed(override(at(5), tier="watch", days=10, eid="second"))
    assert r.changes() == [("raised", "severe", at(1)), ("de_escalated", "watch", at(5))]
    (sig,) = r.engine.signals(r.state, at(5))
    assert sig.event_ids == ["second"]
    assert r.view(at(15)).tier == "normal"  # the second's until, not the first's


def test_a_late_older_set_does_not_undo_a_later_clear():
    r = run([profile(), override(at(1), tier="warning", days=100), override(at(10), "clear")])
    r.feed(override(at(5), tier="severe", days=100))  # arrives late, older than the clear
    assert r.outcomes[-1] == APPLIED
    assert r.tier(at(10)) == "normal"


def test_a_late_set_applies_from_the_borrower_clock():
    r = run([profile(), overdue(at(10), 3)])
    r.feed(override(at(8), tier="warning", days=5))  # until day 13
    assert r.changes() == [("raised", "watch", at(10)), ("escalated", "warning", at(10))]
    assert r.view(at(13)).tier == "watch"


def test_duplicate_override_event_is_ignored_and_a_conflicting_one_refused():
    r = run([profile(), override(at(1), tier="warning", days=10, eid="dup")])
    r.feed(override(at(1), tier="warning", days=10, eid="dup"))
    assert r.outcomes[-1] == DUPLICATE
    r.feed(override(at(1), tier="warning", days=20, eid="dup"))  # another until: not the same event
    assert r.outcomes[-1] == CONFLICT
    r.feed(override(at(2), tier="severe", days=10, eid="dup"))
    assert r.outcomes[-1] == CONFLICT
    assert r.tier(at(2)) == "warning" and r.view(at(12)).tier == "normal"


def test_event_at_the_expiry_instant_sees_the_override_ended():
    r = run([profile(), override(at(1), tier="warning", days=10)])
    r.feed(overdue(at(11), 3))  # exactly at until: the floor no longer holds, watch from the rules
    assert r.changes() == [("raised", "warning", at(1)), ("de_escalated", "watch", at(11))]


def test_override_before_the_profile_is_kept_and_takes_effect_with_it():
    r = Run().feed(override(at(1), tier="warning", days=30, eid="early"))
    assert r.alerts == [] and r.view(at(2)).tier is None and r.state.held == 1
    r.feed(profile(at(5)))
    assert r.changes() == [("raised", "warning", at(5))]
    assert r.view(at(31)).tier == "normal"


def test_override_that_expired_before_the_profile_does_nothing():
    r = Run().feed(override(at(1), tier="warning", days=3))
    r.feed(profile(at(5)))
    assert r.alerts == [] and r.view(at(5)).tier == "normal"


def test_ended_overrides_are_forgotten_after_the_duplicate_window():
    r = run([profile(), override(at(1), tier="warning", days=5), override(at(2), direction="cap", tier="watch",
                                                                         approved_by="sup-1", days=5)])
    assert r.state.floor is not None and r.state.cap is not None
    r.feed(overdue(at(30), 0))
    assert r.state.floor is not None  # set 29 days ago: a late copy could still come
    r.feed(overdue(at(32), 0))
    assert r.state.floor is None and r.state.cap is None


# ------------------------------------------------------------------ the policy's limit


def test_policy_shortens_an_override_beyond_its_maximum_and_shows_both_dates():
    pol = ENGINE_POLICY.model_dump(mode="json")
    pol["overrides"] = {"floor_max_days": 365, "cap_max_days": 30}
    r = run([profile(), overdue(at(1), 95)], parse_policy(pol))
    r.feed(override(at(2), direction="cap", tier="watch", approved_by="sup-1", days=100))
    (cap,) = [s for s in r.alerts[-1].signals if s.rule == "override.cap"]
    assert cap.values["until"] == "2025-02-02T00:00:00Z"  # day 2 + 30
    assert cap.values["requested_until"] == "2025-04-13T00:00:00Z"  # day 2 + 100
    assert r.view(at(32)).tier == "severe"
    assert ENGINE_POLICY.overrides.cap_max_days == 180


@pytest.mark.parametrize(("overrides", "message"), [
    ({"cap_max_days": 0}, "overrides.cap_max_days: Input should be greater than or equal to 1"),
    ({"floor_max_days": "long"}, "overrides.floor_max_days:"),
    ({"max_days": 10}, "overrides.max_days: unknown key"),
])
def test_policy_overrides_section_is_validated(overrides, message):
    pol = ENGINE_POLICY.model_dump(mode="json")
    pol["overrides"] = overrides
    with pytest.raises(PolicyError, match=message.replace("(", r"\(")):
        parse_policy(pol)


# ------------------------------------------------------------------ state and batches


def _history():
    return [profile(eid="p"), overdue(at(1), 95, eid="o1"),
            override(at(2), direction="cap", tier="watch", approved_by="sup-1", days=40, eid="c1"),
            override(at(3), tier="warning", days=20, reason="举报：经营异常", eid="f1"),
            overdue(at(10), 0, eid="o2"), override(at(15), "clear", direction="cap", eid="c2"),
            override(at(30), tier="severe", days=5, eid="f2"), inspection(at(31), "normal", eid="i1")]


def test_state_round_trip_keeps_the_overrides():
    events = _history()
    whole = run(events).until(at(200))
    part = run(events[:4])
    raw = dump_state(part.state)
    assert b"f1" in raw and "举报：经营异常".encode() in raw
    restored = load_state(raw)
    assert restored == part.state
    r2 = Run()
    r2.state = restored
    r2.feed(*events[4:]).until(at(200))
    assert [a.alert_id for a in part.alerts + r2.alerts] == [a.alert_id for a in whole.alerts]
    assert dump_state(r2.state) == dump_state(whole.state)


def test_batch_equals_one_at_a_time_with_overrides():
    eng = Engine(ENGINE_POLICY)
    one = run(_history())
    batch = eng.apply_batch(eng.new_state("B1"), _history())
    assert [a.model_dump_json() for a in batch.alerts] == [a.model_dump_json() for a in one.alerts]
    assert dump_state(batch.state) == dump_state(one.state)
    # severe from day 1; the cap lowers it, the floor (winning over the cap) raises it; the clear of the
    # cap at day 15 gives back the severe the cure period holds until day 10 + 90
    tiers = [(a.to_tier, a.at) for a in one.until(at(200)).alerts]
    assert tiers == [("severe", at(1)), ("watch", at(2)), ("warning", at(3)), ("severe", at(15)),
                     ("normal", at(100))]
    # visited at severe: min(normal interval 67, severe cadence 30)
    assert one.view(at(31)).next_visit_due == (at(31) + timedelta(days=30)).date()
