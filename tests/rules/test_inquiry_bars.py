"""bureau.inquiries with a bar of its own for some grades (``min_by_grade``)."""

from __future__ import annotations

import pytest

from monitor._errors import PolicyError
from monitor.rules.policy import parse_policy
from tests.factories import ENGINE_POLICY, at, bureau, profile, rating, run

RULE = "bureau.inquiries"


def _policy(**inquiries):
    pol = ENGINE_POLICY.model_dump(mode="json")
    pol["bureau"]["inquiries"].update({"level": "warning", "min": 7}, **inquiries)
    pol["combo"]["multi_source"]["enabled"] = False
    return parse_policy(pol)


POLICY = _policy(min_by_grade={"B": 6, "CCC": 6})


def test_the_grade_bar_applies_to_its_grades_and_min_to_the_others():
    assert RULE in run([profile(grade="B"), bureau(at(10), inquiries=6)], POLICY).rules(at(10))
    assert RULE not in run([profile(grade="B"), bureau(at(10), inquiries=5)], POLICY).rules(at(10))
    assert RULE not in run([profile(grade="BB"), bureau(at(10), inquiries=6)], POLICY).rules(at(10))
    r = run([profile(grade="BB"), bureau(at(10), inquiries=7)], POLICY)
    assert RULE in r.rules(at(10)) and r.tier(at(10)) == "warning"
    # without min_by_grade every grade has min
    assert RULE not in run([profile(grade="B"), bureau(at(10), inquiries=6)], _policy()).rules(at(10))


def test_a_rating_change_moves_the_bar_on_the_report_held():
    r = run([profile(grade="BB"), bureau(at(10), inquiries=6)], POLICY)
    assert RULE not in r.rules(at(15))
    r.feed(rating(at(20), "BB", "B"))
    assert RULE in r.rules(at(20)) and r.tier(at(20)) == "warning"
    r.feed(rating(at(30), "B", "BB"))
    assert RULE not in r.rules(at(30))


def test_evidence_shows_the_grade_and_the_bar_applied():
    from monitor.vocabulary import evidence_sentence

    r = run([profile(grade="CCC"), bureau(at(10), inquiries=6)], POLICY)
    sig = {s.rule: s for s in r.engine.signals(r.state, at(10))}[RULE]
    assert sig.values == {"hard_inquiries_30d": 6, "grade": "CCC"} and sig.thresholds == {"min": 6}
    assert evidence_sentence(sig, "en") == "6 hard inquiries in 30 days; threshold for grade CCC ≥ 6"
    assert evidence_sentence(sig, "zh") == "近 30 天硬查询 6 次，评级 CCC 的阈值 ≥ 6 次"
    r = run([profile(grade="BBB"), bureau(at(10), inquiries=8)], POLICY)
    sig = {s.rule: s for s in r.engine.signals(r.state, at(10))}[RULE]
    assert sig.values == {"hard_inquiries_30d": 8} and sig.thresholds == {"min": 7}
    assert evidence_sentence(sig, "en") == "8 hard inquiries in 30 days; threshold ≥ 7"


@pytest.mark.parametrize("bad", [{"Z": 6}, {"B": 0}, {"B": "six"}])
def test_bad_bars_are_refused_naming_the_key(bad):
    with pytest.raises(PolicyError, match="min_by_grade"):
        _policy(min_by_grade=bad)
