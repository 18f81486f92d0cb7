"""Hand-made histories where every figure is known: detection, censoring, base rate, false alarms, workload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor._time import parse_instant
from monitor.backtest import run_backtest
from monitor.backtest._score import quartiles
from monitor.rules.loader import load_policy
from tests.backtest.histories import LOWER_DPD, SCORING_POLICY, History, day, policy_variant


def _run(tmp_path: Path, h: History, as_of_day: float, policies: list[Path] | None = None,
         teams: Path | None = None) -> dict[str, Any]:
    events, outcomes = h.write(tmp_path / "in")
    bt = run_backtest([str(events)], str(outcomes), [str(p) for p in policies or [SCORING_POLICY]],
                      as_of=parse_instant(day(as_of_day)), jobs=1, teams=str(teams) if teams else None)
    return bt.report


@pytest.fixture(scope="module")
def detection(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    h = History()
    for b in ("B1", "B2", "B3", "B4", "B6", "B7", "B8", "B9", "B10"):
        h.profile(b)
    h.enforcement("B1", 100).default("B1", 200)  # warning 100 days before the default, still at it
    h.default("B2", 50).enforcement("B2", 60)  # flagged only after its default
    h.rating("B3", 250, "BBB", "D").default("B3", 250, "grade_d")  # flagged at the default instant
    h.rating("B4", 40, "BBB", "BB").default("B4", 170)  # watch only, 130 days before, still at it
    h.enforcement("B6", 40).default("B6", 320)  # warning 280 days before
    h.enforcement("B7", 20)  # warning from day 20 (censored), never defaults: a false alarm
    h.enforcement("B8", 5).default("B8", 150)  # warning from day 5: censored, 145 days observed
    h.rating("B9", 40, "BBB", "BB").default("B9", 380)  # watch from day 40, cleared by day 310: not at the default
    return _run(tmp_path_factory.mktemp("detection"), h, 400)


def _counts(d: dict[str, Any]) -> dict[str, int]:
    return {k: v["count"] for k, v in d.items()}


def test_headline_detection_needs_the_flag_still_up_at_the_default(detection):
    warning = detection["policies"][0]["detection"]["warning"]
    assert warning["defaults"] == 7
    # B1 (100 days), B6 (280), B8 (145 observed, censored): a lower bound counts at 30 and 90, not 180
    assert _counts(warning["detected"]) == {"flagged": 3, "30d": 3, "90d": 3, "180d": 1}
    assert warning["detected"]["90d"]["rate"] == round(3 / 7, 4)
    watch = detection["policies"][0]["detection"]["watch"]
    # B9's watch flag was cleared long before its default: it warned nobody
    assert _counts(watch["detected"]) == {"flagged": 4, "30d": 4, "90d": 4, "180d": 1}


def test_first_flag_ever_is_the_secondary_column(detection):
    watch = detection["policies"][0]["detection"]["watch"]
    # B9 counts here: first flagged 340 days before its default
    assert _counts(watch["first_flag"]) == {"flagged": 5, "30d": 5, "90d": 5, "180d": 2}


def test_flags_at_or_after_the_default_instant_do_not_count(detection):
    pol = detection["policies"][0]
    assert pol["detection"]["warning"]["first_flag"]["flagged"]["count"] == 3  # not B2 (after), not B3 (at)
    rule = next(r for r in pol["rules"] if r["rule"] == "rating.default_grade")
    assert rule["detection"]["watch"]["first_flag"]["flagged"]["count"] == 0


def test_censored_flags_are_left_out_of_lead_times(detection):
    det = detection["policies"][0]["detection"]
    assert detection["policies"][0]["censoring"]["flags_starting_before"] == day(31)
    assert det["warning"]["lead_time_days"] == {"n": 2, "censored": 1, "p25": 145.0, "median": 190.0, "p75": 235.0}
    assert det["watch"]["lead_time_days"] == {"n": 3, "censored": 1, "p25": 115.0, "median": 130.0, "p75": 205.0}


def test_base_rate_and_lift(detection):
    det = detection["policies"][0]["detection"]
    # 9 borrowers; warning+ before their default: B1, B6, B7, B8; watch+: also B4 and B9
    assert (det["warning"]["borrowers"], det["warning"]["flagged"], det["warning"]["base_rate"]) == (9, 4, 0.4444)
    assert det["warning"]["lift"] == round((3 / 7) / (4 / 9), 3)
    assert (det["watch"]["flagged"], det["watch"]["base_rate"]) == (6, 0.6667)
    assert det["watch"]["lift"] == round((5 / 7) / (6 / 9), 3)


def test_precision_and_false_positive_rate_need_a_year_of_follow_up(detection):
    fa = detection["policies"][0]["false_alarms"]["warning"]
    # flags raised by day 400 - 365 = 35: B7 (never defaults) and B8 (defaults 145 days later)
    assert fa["measurable"] is True and fa["flags_raised_until"] == day(35)
    assert (fa["flagged"], fa["true_alarms"], fa["false_alarms"], fa["precision"]) == (2, 1, 1, 0.5)
    # borrowers seen by day 35 that never defaulted: B7 (flagged) and B10
    assert (fa["negatives"], fa["false_positive_rate"]) == (2, 0.5)


def test_per_rule_figures_measure_the_flags_each_rule_raised_as_the_headline_does(detection):
    rules = {r["rule"]: r for r in detection["policies"][0]["rules"]}
    enf = rules["lawsuit.enforcement"]
    assert enf["detection"]["warning"]["detected"]["90d"]["count"] == 3  # B1, B6, B8: raised by it, still up
    assert enf["detection"]["warning"]["first_flag"]["90d"]["count"] == 3
    # flags with a year of follow-up (raised by day 35): B7 (never defaults) and B8 (defaults on day 150)
    assert (enf["false_alarms"]["warning"]["flagged"], enf["false_alarms"]["warning"]["true_alarms"]) == (2, 1)
    dg1 = rules["rating.downgrade_1"]
    assert dg1["detection"]["warning"]["first_flag"]["flagged"]["count"] == 0
    # watch raised by the downgrade: B4 still flagged at its default; B9's flag cleared long before its default
    assert dg1["detection"]["watch"]["detected"]["90d"]["count"] == 1
    assert dg1["detection"]["watch"]["first_flag"]["90d"]["count"] == 2
    assert set(rules) >= {"overdue.dpd", "combo.multi_source", "inspection.concern"}  # every enabled rule


def test_curves_are_the_share_detected_at_least_d_days_before(detection):
    curve = detection["policies"][0]["curves"]["warning"]
    assert len(curve) == 366
    third, two, one = round(3 / 7, 4), round(2 / 7, 4), round(1 / 7, 4)
    assert curve[0] == curve[100] == third and curve[101] == curve[145] == two
    assert curve[146] == curve[280] == one and curve[281] == 0.0


def test_a_flip_is_a_rise_after_a_fall(tmp_path):
    h = History().profile("F1").rating("F1", 20, "BBB", "BB").rating("F1", 300, "BB", "B")
    st = _run(tmp_path, h, 400)["policies"][0]["stability"]
    # watch at day 20, cleared when the 180-day signal and the cure period have passed, watch again at day 300
    assert (st["alerts"], st["raises"], st["flips"], st["borrowers_with_flips"]) == (3, 2, 1, 1)


def test_short_history_says_false_alarms_are_not_measurable(tmp_path):
    h = History().profile("B1").enforcement("B1", 10).profile("B2").default("B2", 100)
    fa = _run(tmp_path, h, 200)["policies"][0]["false_alarms"]["warning"]
    assert fa["measurable"] is False and fa["precision"] is None and fa["false_positive_rate"] is None
    assert "not measurable" in fa["note"]


def _normal_visits(first_day: float, interval: int, until: float) -> int:
    n, t = 0, first_day
    while t <= until:
        n += 1
        t += interval
    return n


def test_visits_follow_the_engines_due_dates_by_hand(tmp_path):
    policy = load_policy(SCORING_POLICY)
    v = policy.visits
    first = v.first_visit_days
    every = v.normal_interval("BBB", 1_000_000.0, "guaranteed")
    h = History()
    h.profile("W1", team="T1")  # performing all year
    h.profile("W5", team="T2").default("W5", 200)  # no visit after its default
    h.profile("W7", team="T2", disbursed=-100)  # first check due before the history: made at once, not counted
    w = _run(tmp_path, h, 365)["policies"][0]["workload"]
    w1 = _normal_visits(first, every, 365)
    w5 = _normal_visits(first, every, 199)
    w7 = _normal_visits(every, every, 365)
    assert w["visits"] == w1 + w5 + w7 and w["before_history"] == 1
    assert w["borrower_years"] == round((365 + 200 + 365) / 365, 2)
    assert w["visits_per_borrower_year"] == round((w1 + w5 + w7) / ((365 + 200 + 365) / 365), 3)
    assert w["baseline_visits_per_borrower_year"] == round(365 / 90, 3)
    assert w["ratio_to_baseline"] == round((w1 + w5 + w7) / ((365 + 200 + 365) / 90), 4)
    teams = {t["team"]: t for t in w["by_team"]}
    assert teams["T1"]["visits"] == w1 and teams["T2"]["visits"] == w5 + w7
    assert {r["reason"]: r["visits"] for r in w["by_reason"]}["first_visit"] == 2


def test_a_recorded_finding_reaches_the_engine_only_with_a_visit(tmp_path):
    v = load_policy(SCORING_POLICY).visits
    first = v.first_visit_days
    h = History().profile("C1")
    h.inspection("C1", first + 10, "concern")  # recorded between the policy's first and second visits
    report = _run(tmp_path, h, first + 200)
    pol = report["policies"][0]
    assert report["events"]["recorded_visits"] == 1
    # the concern shows at the policy's second visit, not when it was recorded
    second = first + v.normal_interval("BBB", 1_000_000.0, "guaranteed")
    assert pol["stability"]["raises"] == 1
    assert pol["workload"]["by_tier"][0]["visits"] >= 2  # both visits made at normal
    rows = pol["month_ends"]["rows"]
    before = [r for r in rows if parse_instant(r["at"]) < parse_instant(day(second))]
    after = [r for r in rows if parse_instant(day(second)) <= parse_instant(r["at"]) < parse_instant(day(second + 60))]
    assert before and all(r["watch"] == 0 for r in before)
    assert after and all(r["watch"] == 1 for r in after)


def test_a_team_meets_a_peak_by_working_ahead_within_the_week(tmp_path):
    teams = tmp_path / "teams.toml"
    teams.write_text('version = "t1"\n[defaults]\nvisits_per_day = 1\n', encoding="utf-8")  # Monday to Friday
    h = History().profile("K1").profile("K2").profile("K3")  # first checks all due on Friday 2025-01-31 (day 30)
    w = _run(tmp_path, h, 35, teams=teams)["policies"][0]["workload"]
    cap = w["capacity"]
    # one visit a day: Wednesday, Thursday and Friday; none late, nothing owed, 3 of the 4 days' capacity
    assert (w["visits"], cap["visits"], cap["late"], cap["owed_at_as_of"]) == (3, 3, 0, 0)
    assert cap["by_team"][0]["team"] == "T1" and cap["teams_version"] == "t1" and cap["days_late_mean"] == 0


def test_late_visits_move_the_next_due_dates_and_what_is_not_made_is_owed(tmp_path):
    v = load_policy(SCORING_POLICY).visits
    assert (v.first_visit_days, v.normal_interval("BBB", 1_000_000.0, "guaranteed")) == (30, 90)
    teams = tmp_path / "teams.toml"
    # two visits a day, only on 2025-02-10 (day 40) and 2025-05-11 (day 40 + 90)
    teams.write_text('version = "t1"\n[defaults]\nvisits_per_day = 2\nworking_days = []\n'
                     'extra_working_days = ["2025-02-10", "2025-05-11"]\n', encoding="utf-8")
    h = History().profile("K1").profile("K2").profile("K3")  # first checks all due on day 30
    report = _run(tmp_path, h, 140, teams=teams)
    w = report["policies"][0]["workload"]
    cap = w["capacity"]
    # day 40: K1 and K2, 10 days late; the engine sets their next visits 90 days after that, day 130, when
    # the team works again: K3 (overdue since day 30, 100 days late) and K1 (on time) are made, K2 is owed
    assert (cap["visits"], cap["late"], cap["owed_at_as_of"]) == (4, 3, 1)
    assert cap["days_late_mean"] == round((10 + 10 + 100 + 0) / 4, 2) and cap["days_late_p90"] == 100
    assert w["visits"] == 4
    # without the teams' capacity every visit is made when due: days 30 and 120 for each
    free = _run(tmp_path / "free", h, 140)["policies"][0]["workload"]
    assert free["visits"] == 6 and "capacity" not in free


def test_quartiles_interpolate_linearly():
    assert quartiles([]) is None
    assert quartiles([7.0]) == (7.0, 7.0, 7.0)
    assert quartiles([1.0, 2.0, 3.0, 4.0]) == (1.75, 2.5, 3.25)


def test_a_lower_threshold_detects_more(tmp_path):
    h = History().profile("L1").overdue("L1", 100, 1).overdue("L1", 120, 0).default("L1", 300, "grade_d")
    lower = policy_variant(tmp_path, "lower-dpd", LOWER_DPD, base=SCORING_POLICY)
    report = _run(tmp_path, h, 400, [SCORING_POLICY, lower])
    base, low = (p["detection"]["warning"]["first_flag"] for p in report["policies"])
    # DPD reaches 15 on day 114 (warning under lower-dpd), never 30 (watch only under the default)
    assert _counts(base) == {"flagged": 0, "30d": 0, "90d": 0, "180d": 0}
    assert _counts(low) == {"flagged": 1, "30d": 1, "90d": 1, "180d": 1}
    # the warning does not last until the default (day 300): the headline does not count it
    assert report["policies"][1]["detection"]["warning"]["detected"]["flagged"]["count"] == 0
