"""Hand-made histories where every figure is known: detection, lead time, false alarms, workload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor._time import DAY, parse_instant
from monitor.backtest import run_backtest
from monitor.backtest._score import quartiles
from monitor.backtest._worker import integrate_visits
from monitor.rules.loader import DEFAULT_POLICY_PATH, default_policy
from tests.backtest.histories import LOWER_DPD, History, day, policy_variant


def _run(tmp_path: Path, h: History, as_of_day: float, policies: list[Path] | None = None) -> dict[str, Any]:
    events, outcomes = h.write(tmp_path / "in")
    bt = run_backtest([str(events)], str(outcomes), [str(p) for p in policies or []],
                      as_of=parse_instant(day(as_of_day)), jobs=1)
    return bt.report


@pytest.fixture(scope="module")
def detection(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    h = History()
    for b in ("B1", "B2", "B3", "B4", "B5", "B6", "B7"):
        h.profile(b)
    h.enforcement("B1", 100).default("B1", 200)  # warning 100 days before default
    h.default("B2", 50).enforcement("B2", 60)  # flagged only after its default
    h.rating("B3", 250, "BBB", "D").default("B3", 250, "grade_d")  # flagged at the default instant
    h.rating("B4", 20, "BBB", "BB").default("B4", 150)  # watch only, 130 days before
    h.enforcement("B6", 20).default("B6", 300)  # warning 280 days before
    h.enforcement("B7", 10)  # warning, never defaults: a false alarm
    return _run(tmp_path_factory.mktemp("detection"), h, 400)


def test_a_default_flagged_100_days_before_counts_at_30_and_90_but_not_180(detection):
    warning = detection["policies"][0]["detection"]["warning"]
    assert warning["defaults"] == 5
    got = {k: v["count"] for k, v in warning["detected"].items()}
    assert got == {"flagged": 2, "30d": 2, "90d": 2, "180d": 1}  # B1 (100 days) and B6 (280 days)
    assert warning["detected"]["90d"]["rate"] == 0.4
    assert warning["detected"]["180d"]["rate"] == 0.2


def test_flags_after_or_at_the_default_instant_do_not_count(detection):
    # B2 (after) and B3 (at the instant) are among the 5 defaults but never detected
    pol = detection["policies"][0]
    assert pol["detection"]["warning"]["detected"]["flagged"]["count"] == 2
    assert pol["detection"]["watch"]["detected"]["flagged"]["count"] == 3
    rule = next(r for r in pol["rules"] if r["rule"] == "rating.default_grade")
    assert rule["detection"]["watch"]["detected"]["flagged"]["count"] == 0


def test_watch_detection_and_lead_time_quartiles(detection):
    pol = detection["policies"][0]["detection"]
    watch = pol["watch"]
    assert {k: v["count"] for k, v in watch["detected"].items()} == {"flagged": 3, "30d": 3, "90d": 3, "180d": 1}
    assert watch["lead_time_days"] == {"n": 3, "p25": 115.0, "median": 130.0, "p75": 205.0}  # 100, 130, 280
    assert pol["warning"]["lead_time_days"] == {"n": 2, "p25": 145.0, "median": 190.0, "p75": 235.0}


def test_false_alarms_need_a_year_of_follow_up(detection):
    fa = detection["policies"][0]["false_alarms"]
    # window: flags raised by day 400 - 365 = day 35: B6 (day 20, defaults day 300) and B7 (day 10, never);
    # B1's flag (day 100) has no full year of follow-up and is left out
    assert fa["measurable"] is True
    assert fa["flags_raised_until"] == day(35)
    assert (fa["flagged"], fa["true_alarms"], fa["false_alarms"], fa["precision"]) == (2, 1, 1, 0.5)


def test_per_rule_figures(detection):
    rules = {r["rule"]: r for r in detection["policies"][0]["rules"]}
    enf = rules["lawsuit.enforcement"]
    assert enf["detection"]["warning"]["detected"]["90d"]["count"] == 2
    assert enf["detection"]["warning"]["lead_time_days"]["median"] == 190.0
    assert (enf["false_alarms"]["flagged"], enf["false_alarms"]["precision"]) == (2, 0.5)
    dg1 = rules["rating.downgrade_1"]
    assert dg1["detection"]["warning"]["detected"]["flagged"]["count"] == 0
    assert dg1["detection"]["watch"]["detected"]["90d"]["count"] == 1  # B4, 130 days before
    assert dg1["false_alarms"]["flagged"] == 0 and dg1["false_alarms"]["precision"] is None
    assert set(rules) >= {"overdue.dpd", "combo.multi_source", "inspection.concern"}  # every enabled rule


def test_curves_are_the_share_flagged_at_least_d_days_before(detection):
    curve = detection["policies"][0]["curves"]["warning"]
    assert len(curve) == 366
    assert curve[0] == 0.4 and curve[100] == 0.4 and curve[101] == 0.2 and curve[280] == 0.2 and curve[281] == 0.0


def test_stability_counts_alerts_in_performing_time(detection):
    st = detection["policies"][0]["stability"]
    # B1, B4, B6, B7 raised once each while performing; B2's and B3's alerts came at or after default
    assert (st["alerts"], st["raises"], st["warning_raises"], st["flips"]) == (4, 4, 3, 0)
    years = (200 + 50 + 250 + 150 + 400 + 300 + 400) / 365
    assert st["alerts_per_borrower_year"] == round(4 / years, 4)


def test_a_flip_is_a_rise_after_a_fall(tmp_path):
    h = History().profile("F1").rating("F1", 20, "BBB", "BB").rating("F1", 300, "BB", "B")
    st = _run(tmp_path, h, 400)["policies"][0]["stability"]
    # watch at day 20, cleared at day 290 (180 days active + 90 days cure), watch again at day 300
    assert (st["alerts"], st["raises"], st["flips"], st["borrowers_with_flips"]) == (3, 2, 1, 1)


def test_short_history_says_false_alarms_are_not_measurable(tmp_path):
    h = History().profile("B1").enforcement("B1", 10).profile("B2").default("B2", 100)
    report = _run(tmp_path, h, 200)
    fa = report["policies"][0]["false_alarms"]
    assert fa["measurable"] is False and fa["precision"] is None and fa["flagged"] is None
    assert "not measurable" in fa["note"]


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    h = History()
    h.profile("W1", team="T1")  # BBB guaranteed: every 90 days
    h.profile("W2", team="T2", grade="A", mitigation="secured")  # floor(180 x 1.5) = 270 days
    h.profile("W3", team="T1").enforcement("W3", 100)  # warning from day 100: every 14 days
    h.profile("W4", team="T2", mitigation="unsecured")  # floor(90 x 0.75) = 67 days ...
    h.profile("W4", 200, team="T2", mitigation="unsecured", exposure=20_000_000.0)  # ... then x 0.5: 33 days
    h.profile("W5", team="T1").default("W5", 200)  # leaves the count at its default
    h.profile("W6", team="T2").rating("W6", 100, "BBB", "A")  # upgraded: 90 then 180 days
    return _run(tmp_path_factory.mktemp("workload"), h, 365)


def test_workload_of_a_tiny_portfolio_by_hand(workload):
    w = workload["policies"][0]["workload"]
    t1 = 365 / 90 + (100 / 90 + 265 / 14) + 200 / 90
    t2 = 365 / 270 + (200 / 67 + 165 / 33) + (100 / 90 + 265 / 180)
    base_t1, base_t2 = (365 + 365 + 200) / 90, (3 * 365) / 90
    assert w["history_years"] == 1.0
    assert w["visits_per_year"] == round(t1 + t2, 1)
    assert w["baseline_visits_per_year"] == round(base_t1 + base_t2, 1) == 22.5
    assert w["saving"] == round(1 - (t1 + t2) / (base_t1 + base_t2), 4)
    teams = {t["team"]: t for t in w["by_team"]}
    assert teams["T1"]["visits"] == round(t1, 1) and teams["T1"]["saving"] == round(1 - t1 / base_t1, 4)
    assert teams["T2"]["visits"] == round(t2, 1) and teams["T2"]["saving"] == round(1 - t2 / base_t2, 4)
    tiers = {t["tier"]: t for t in w["by_tier"]}
    assert tiers["warning"]["borrower_years"] == round(265 / 365, 2)
    assert tiers["warning"]["visits"] == round(265 / 14, 1)


def test_integrate_visits_exactly():
    policy = default_policy()
    profiles = [(0, "T1", 1_000_000.0, "guaranteed", "BBB"), (200 * DAY, "T2", 1_000_000.0, "guaranteed", "BBB")]
    ratings = [(100 * DAY, "CCC")]
    tiers = [(100 * DAY, 2), (300 * DAY, 0)]
    got = integrate_visits(policy, profiles, ratings, tiers, 0, 365 * DAY)
    # T1: 100 days normal BBB (90) + 100 days warning (14); T2: 100 days warning + 65 days normal CCC (60)
    assert got[("T1", 0)] == [100 * DAY, pytest.approx(100 / 90)]
    assert got[("T1", 2)] == [100 * DAY, pytest.approx(100 / 14)]
    assert got[("T2", 2)] == [100 * DAY, pytest.approx(100 / 14)]
    assert got[("T2", 0)] == [65 * DAY, pytest.approx(65 / 60)]
    assert integrate_visits(policy, profiles, ratings, tiers, 10, 10) == {}


def test_quartiles_interpolate_linearly():
    assert quartiles([]) is None
    assert quartiles([7.0]) == (7.0, 7.0, 7.0)
    assert quartiles([1.0, 2.0, 3.0, 4.0]) == (1.75, 2.5, 3.25)


def test_a_lower_threshold_detects_more(tmp_path):
    h = History().profile("L1").overdue("L1", 100, 1).overdue("L1", 120, 0).default("L1", 300, "grade_d")
    lower = policy_variant(tmp_path, "lower-dpd", LOWER_DPD)
    report = _run(tmp_path, h, 400, [DEFAULT_POLICY_PATH, lower])
    base, low = (p["detection"]["warning"]["detected"] for p in report["policies"])
    # DPD reaches 15 on day 114 (warning under lower-dpd), never 30 (watch only under the default)
    assert {k: v["count"] for k, v in base.items()} == {"flagged": 0, "30d": 0, "90d": 0, "180d": 0}
    assert {k: v["count"] for k, v in low.items()} == {"flagged": 1, "30d": 1, "90d": 1, "180d": 1}
    assert report["policies"][1]["detection"]["warning"]["lead_time_days"]["median"] == 186.0
    visits = [p["workload"]["visits"] for p in report["policies"]]
    assert visits[1] > visits[0]
