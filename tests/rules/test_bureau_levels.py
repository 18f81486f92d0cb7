"""``BureauLevels``: the engine's quick form of the bureau family's signal levels, held to ``quiet_family``."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor._time import DAY
from monitor.rules.evaluate import BureauLevels, quiet_family
from monitor.rules.loader import default_policy
from monitor.rules.policy import parse_policy
from monitor.state import BorrowerState, BureauFact, PreviousReport, ProfileFact
from tests.factories import ENGINE_POLICY


def _policy(base, **bureau):
    doc = base.model_dump(mode="json")
    for name, value in bureau.items():
        if value is None:
            doc["bureau"].pop(name, None)
        elif isinstance(value, dict) and isinstance(doc["bureau"].get(name), dict):
            doc["bureau"][name].update(value)
        else:
            doc["bureau"][name] = value
    return parse_policy(doc)


_REPEATED = {"external_overdue_repeated": {"level": "warning", "min": 3, "max_gap_days": 45},
             "inquiries_repeated": {"level": "watch", "min": 4, "max_gap_days": 30}}
POLICIES = [
    default_policy(),
    ENGINE_POLICY,
    _policy(ENGINE_POLICY, **_REPEATED),
    _policy(default_policy(), inquiries={"min": 6, "min_by_grade": {"B": 2, "CCC": 3}}, **_REPEATED),
    _policy(default_policy(), external_overdue={"enabled": False}, inquiries={"enabled": False},
            debt_growth={"enabled": False}, guarantees={"enabled": False}),
    _policy(default_policy(), external_overdue_repeated=None, inquiries_repeated=None,
            debt_growth={"min_ratio": 1.2, "max_gap_days": 20}, guarantees={"min_ratio": 0.3}),
]

amount = st.sampled_from([0.0, 50.0, 100.0, 119.0, 120.0, 160.0, 300_000.0, 2_000_000.0])
small = st.integers(0, 9) | st.sampled_from([30, 61, 91, 181, 400])
report = st.tuples(st.integers(0, 400), small, st.integers(0, 9), amount, amount)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(range(len(POLICIES))), st.none() | report, st.none() | report,
       st.sampled_from([None, "AAA", "BBB", "B", "CCC", "D"]), st.sampled_from([None, 0.0, 1_000_000.0]))
def test_the_levels_are_those_of_the_signals_the_bureau_rules_give(which, latest, before, grade, exposure):
    """Whatever the two reports, the grade and the exposure (none, or no profile), under policies with
    rules off, bars by grade and the optional rules absent: the same levels in the same order."""
    policy = POLICIES[which]
    s = BorrowerState(id="B1", grade=grade)
    if exposure is not None:
        s.profile = ProfileFact(0, "p", "SH01", "T1", exposure, "unsecured", 0)
    if latest is not None:
        day, dpd, inq, debt, guar = latest
        s.bureau = BureauFact(day * DAY, "b2", dpd, 10.0, inq, debt, guar)
    if before is not None:
        day, dpd, inq, debt, _ = before
        s.bureau_prev = PreviousReport(day * DAY, "b1", debt, dpd, inq)
    assert BureauLevels(policy)(s) == quiet_family(policy, s, "bureau", 500 * DAY)


def test_a_report_that_holds_several_rules_gives_each_level():
    """A check that can fail: a report with overdue days, inquiries, debt growth and guarantees."""
    policy = POLICIES[2]
    s = BorrowerState(id="B1", grade="BBB", profile=ProfileFact(0, "p", "SH01", "T1", 1_000_000.0, "x", 0))
    s.bureau = BureauFact(20 * DAY, "b2", 95, 10.0, 9, 300.0, 2_000_000.0)
    s.bureau_prev = PreviousReport(10 * DAY, "b1", 100.0, 5, 5)
    levels = BureauLevels(policy)(s)
    assert levels == quiet_family(policy, s, "bureau", 30 * DAY)
    assert len(levels) == 6
    s.bureau = BureauFact(20 * DAY, "b2", 0, 0.0, 0, 100.0, 0.0)
    assert BureauLevels(policy)(s) == ()


def test_an_inquiry_bar_of_the_grade_below_the_general_minimum_is_not_taken_for_a_quiet_report():
    """2 inquiries (under the general minimum of 6) are a signal for a B borrower, whose bar is 2."""
    policy = POLICIES[3]
    s = BorrowerState(id="B1", grade="B", bureau=BureauFact(20 * DAY, "b2", 0, 0.0, 2, 100.0, 0.0))
    assert BureauLevels(policy)(s) == quiet_family(policy, s, "bureau", 30 * DAY) == (policy.bureau.inquiries.lvl,)
    s.grade = "BBB"
    assert BureauLevels(policy)(s) == quiet_family(policy, s, "bureau", 30 * DAY) == ()
