"""The bureau's persistence rules: a figure at or above its minimum on the latest report and on the one before."""

from __future__ import annotations

import pytest

from monitor._errors import PolicyError
from monitor.rules.policy import parse_policy
from tests.factories import ENGINE_POLICY, at, bureau, profile, run

EXT = "bureau.external_overdue_repeated"
INQ = "bureau.inquiries_repeated"


def _policy(**rules):
    pol = ENGINE_POLICY.model_dump(mode="json")
    pol["bureau"].update(rules)
    return parse_policy(pol)


POLICY = _policy(external_overdue_repeated={"level": "warning", "min": 1, "max_gap_days": 45},
                 inquiries_repeated={"level": "warning", "min": 5, "max_gap_days": 45})


def rules_at(events, when, policy=POLICY):
    return run([profile(), *events], policy).rules(when)


@pytest.mark.parametrize(
    ("prev", "latest", "gap_days", "holds"),
    [(1, 15, 14, True), (12, 26, 14, True), (0, 15, 14, False), (15, 0, 14, False), (0, 29, 14, False),
     (3, 17, 45, True), (3, 17, 46, False)],
)
def test_external_overdue_on_two_reports(prev, latest, gap_days, holds):
    events = [bureau(at(1), dpd=prev), bureau(at(1 + gap_days), dpd=latest)]
    assert (EXT in rules_at(events, at(1 + gap_days))) is holds


@pytest.mark.parametrize(
    ("prev", "latest", "holds"),
    [(5, 5, True), (9, 6, True), (4, 9, False), (9, 4, False), (0, 12, False)],
)
def test_inquiries_on_two_reports(prev, latest, holds):
    events = [bureau(at(1), inquiries=prev), bureau(at(15), inquiries=latest)]
    assert (INQ in rules_at(events, at(15))) is holds


def test_a_one_off_external_arrear_is_not_repeated_and_a_cured_one_stops():
    r = run([profile(), bureau(at(1)), bureau(at(15), dpd=20)], POLICY)
    assert EXT not in r.rules(at(15))
    r.feed(bureau(at(30), dpd=35))
    assert EXT in r.rules(at(30)) and r.tier(at(30)) == "warning"
    r.feed(bureau(at(45)))
    assert EXT not in r.rules(at(45))


def test_evidence_names_both_reports_values_and_thresholds():
    first, second = bureau(at(1), dpd=4, inquiries=6), bureau(at(15), dpd=18, inquiries=7)
    r = run([profile(), first, second], POLICY)
    sigs = {s.rule: s for s in r.engine.signals(r.state, at(15))}
    ext, inq = sigs[EXT], sigs[INQ]
    assert ext.level == inq.level == "warning"
    assert ext.event_ids == inq.event_ids == [first.event_id, second.event_id]
    assert ext.values == {"max_external_dpd": 18, "previous_max_external_dpd": 4, "gap_days": 14}
    assert inq.values == {"hard_inquiries_30d": 7, "previous_hard_inquiries_30d": 6, "gap_days": 14}
    assert ext.thresholds == {"min": 1, "max_gap_days": 45} and inq.thresholds == {"min": 5, "max_gap_days": 45}


def test_a_late_older_report_becomes_the_previous_one():
    # the report of day 15 arrives after the one of day 29: it is the report before the latest
    events = [bureau(at(1)), bureau(at(29), dpd=28), bureau(at(15), dpd=14)]
    assert EXT in rules_at(events, at(29))
    events = [bureau(at(1)), bureau(at(29), dpd=28), bureau(at(15), dpd=0)]
    assert EXT not in rules_at(events, at(29))


def test_absent_or_disabled_rules_never_hold():
    events = [bureau(at(1), dpd=10, inquiries=9), bureau(at(15), dpd=24, inquiries=9)]
    assert not {EXT, INQ} & set(rules_at(events, at(15), ENGINE_POLICY))
    off = _policy(external_overdue_repeated={"enabled": False, "level": "warning", "min": 1},
                  inquiries_repeated={"enabled": False, "level": "warning", "min": 5})
    assert not {EXT, INQ} & set(rules_at(events, at(15), off))


@pytest.mark.parametrize("bad", [{"level": "warning", "min": 0}, {"level": "loud", "min": 1},
                                 {"level": "warning", "min": 1, "max_gap_days": 0},
                                 {"level": "warning", "min": 1, "window": 3}])
def test_bad_settings_are_refused_naming_the_key(bad):
    with pytest.raises(PolicyError, match="external_overdue_repeated"):
        _policy(external_overdue_repeated=bad)
