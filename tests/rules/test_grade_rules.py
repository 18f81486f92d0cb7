"""Rules conditioned on the borrower's grade: a weak grade with another signal (combo.grade_signal) and a
strong grade's warning counted as watch (combo.grade_cap)."""

from __future__ import annotations

import pytest

from monitor._errors import PolicyError
from monitor.rules.policy import parse_policy
from tests.factories import ENGINE_POLICY, at, bureau, inspection, lawsuit, profile, rating, run

SIGNAL, CAP = "combo.grade_signal", "combo.grade_cap"


def _policy(weak_level: str = "watch", **combo):
    pol = ENGINE_POLICY.model_dump(mode="json")
    pol["rating"]["weak_grade"]["level"] = weak_level
    pol["combo"]["multi_source"]["enabled"] = False  # (its raise would stack on these; tested on its own elsewhere)
    pol["combo"].update(combo)
    return parse_policy(pol)


POLICY = _policy(grade_signal={"grades": ["CCC", "CC", "C"], "families": ["lawsuit", "bureau", "inspection"],
                               "min_level": "watch", "level": "warning"},
                 grade_cap={"grades": ["AAA", "AA", "A"], "level": "watch"})


def test_a_weak_grade_alone_is_watch_and_with_a_second_signal_warning():
    r = run([profile(grade="CCC")], POLICY)
    assert r.tier(at(1)) == "watch" and SIGNAL not in r.rules(at(1))
    r.feed(inspection(at(10), "concern"))
    assert SIGNAL in r.rules(at(10)) and r.tier(at(10)) == "warning"
    # the concern holds 90 days (engine policy); the computed tier falls back to watch after it
    assert SIGNAL not in r.rules(at(101)) and r.view(at(101)).computed_tier == "watch"


def test_the_raise_needs_the_grade_and_a_listed_family():
    # a concern on a B borrower: watch only
    assert run([profile(grade="B"), inspection(at(10), "concern")], POLICY).tier(at(10)) == "watch"
    # the rating family is not listed: a downgrade into CCC is the grade itself, no second signal
    r = run([profile(grade="B"), rating(at(5), "B", "CCC")], POLICY)
    assert SIGNAL not in r.rules(at(5)) and r.tier(at(5)) == "watch"
    listed = _policy(grade_signal={"grades": ["CCC"], "families": ["rating"]})
    r = run([profile(grade="B"), rating(at(5), "B", "CCC")], listed)
    assert SIGNAL in r.rules(at(5)) and r.tier(at(5)) == "warning"
    # the grade rule itself never counts as the second signal, even with its family listed
    assert SIGNAL not in run([profile(grade="CCC")], listed).rules(at(5))


def test_grade_signal_evidence_names_the_grade_the_rules_and_the_events():
    ev = lawsuit(at(10), claim=60_000.0)
    r = run([profile(grade="CC", eid="p1"), ev], POLICY)
    sig = {s.rule: s for s in r.engine.signals(r.state, at(10))}[SIGNAL]
    assert sig.level == "warning" and sig.family == "combo"
    assert sig.values == {"grade": "CC", "rules": ["lawsuit.claim_large"], "raised_from": "watch"}
    assert sig.thresholds == {"grades": ["CCC", "CC", "C"], "families": ["lawsuit", "bureau", "inspection"],
                              "min_level": "watch", "level": "warning"}
    assert ev.event_id in sig.event_ids and "p1" in sig.event_ids


def test_a_strong_grade_warning_counts_as_watch_and_severe_stays_severe():
    warn = bureau(at(10), dpd=35)
    r = run([profile(grade="A"), warn], POLICY)
    assert r.tier(at(10)) == "watch" and CAP in r.rules(at(10))
    sigs = {s.rule: s for s in r.engine.signals(r.state, at(10))}
    assert sigs["bureau.external_overdue"].level == "warning"  # the evidence still shows the warning signal
    assert sigs[CAP].level == "watch" and sigs[CAP].values == {
        "grade": "A", "rules": ["bureau.external_overdue"], "lowered_from": "warning"}
    assert sigs[CAP].thresholds == {"grades": ["AAA", "AA", "A"], "level": "watch"}
    assert warn.event_id in sigs[CAP].event_ids
    # severe is never capped
    assert run([profile(grade="AA"), bureau(at(10), dpd=95)], POLICY).tier(at(10)) == "severe"
    # the same report on a BBB borrower is a warning; a downgrade from A to BBB lifts the cap
    assert run([profile(grade="BBB"), bureau(at(10), dpd=35)], POLICY).tier(at(10)) == "warning"
    r = run([profile(grade="A"), bureau(at(10), dpd=35)], POLICY)
    assert r.tier(at(19)) == "watch"
    r.feed(rating(at(20), "A", "BBB"))
    assert r.tier(at(20)) == "warning" and CAP not in r.rules(at(20))


def test_absent_or_disabled_rules_change_nothing():
    events = [profile(grade="A"), bureau(at(10), dpd=35)]
    assert run(events, ENGINE_POLICY).tier(at(10)) == "warning"
    off = _policy(grade_cap={"enabled": False, "grades": ["A"]},
                  grade_signal={"enabled": False, "grades": ["CCC"], "families": ["inspection"]})
    assert run(events, off).tier(at(10)) == "warning"
    assert run([profile(grade="CCC"), inspection(at(10), "concern")], off).tier(at(10)) == "watch"


@pytest.mark.parametrize(("key", "bad"), [
    ("grade_signal", {"grades": ["CCC"], "families": ["weather"]}),
    ("grade_signal", {"grades": ["Z"], "families": ["bureau"]}),
    ("grade_signal", {"grades": [], "families": ["bureau"]}),
    ("grade_signal", {"grades": ["CCC"], "families": ["bureau"], "level": "loud"}),
    ("grade_cap", {"grades": ["A"], "level": "normal"}),
    ("grade_cap", {"grades": ["A"], "level": "warning"}),
    ("grade_cap", {"grades": ["Q"]}),
    ("grade_cap", {"grades": ["A"], "window": 3}),
])
def test_bad_settings_are_refused_naming_the_key(key, bad):
    with pytest.raises(PolicyError, match=key):
        _policy(**{key: bad})


def test_both_rules_read_as_sentences_with_labels():
    from monitor.vocabulary import evidence_sentence

    r = run([profile(grade="CCC"), inspection(at(10), "concern")], POLICY)
    grade_signal = {s.rule: s for s in r.engine.signals(r.state, at(10))}[SIGNAL]
    r = run([profile(grade="A"), bureau(at(10), dpd=35)], POLICY)
    grade_cap = {s.rule: s for s in r.engine.signals(r.state, at(10))}[CAP]
    assert evidence_sentence(grade_signal, "zh") == (
        "评级 CCC，另有现场检查需关注，等级由观察上调为预警，阈值：评级为CCC、CC、C且有观察及以上信号")
    assert evidence_sentence(grade_signal, "en") == (
        "grade CCC with Inspection: concern: tier raised from watch to warning; threshold: a grade of CCC, CC, C "
        "and a signal at watch or above")
    assert evidence_sentence(grade_cap, "zh") == "评级 A，他行逾期的预警降为观察，阈值：评级为AAA、AA、A"
    assert evidence_sentence(grade_cap, "en") == (
        "grade A: the warning of Overdue at other lenders counts as watch; threshold: a grade of AAA, AA, A")
