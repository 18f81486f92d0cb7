"""The visit planner: capacity, due dates, priority, and the workload forecast.

Hand-checked examples, then properties on generated schedules (hypothesis),
including a brute-force check that each visit's lateness is the least possible
given the visits of higher priority.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.desk.planner import DueVisit, PlannedVisit, due_visits, forecast, plan
from monitor.desk.teams import TeamsConfig, parse_teams
from monitor.outputs import ScheduleEntry

MON = date(2026, 11, 2)  # a Monday
RANK = {"normal": 0, "watch": 1, "warning": 2, "severe": 3}


def d(offset: int) -> date:
    return MON + timedelta(days=offset)


def teams(per_day: int = 1, extra: str = "") -> TeamsConfig:
    return parse_teams(f'version = "t"\n[defaults]\nvisits_per_day = {per_day}\n{extra}', "test")


def v(bid: str, due: int, tier: str = "watch", exposure: float | None = None, team: str | None = "T") -> DueVisit:
    return DueVisit(borrower_id=bid, team=team, tier=tier, next_visit_due=d(due), exposure=exposure)  # type: ignore[arg-type]


def dates(result: list[PlannedVisit]) -> dict[str, date | None]:
    return {p.borrower_id: p.planned for p in result}


def statuses(result: list[PlannedVisit]) -> dict[str, str]:
    return {p.borrower_id: p.status for p in result}


# ------------------------------------------------------------ hand-checked examples

def test_just_in_time_a_visit_lands_on_its_due_date_or_the_working_day_before():
    cfg = teams(2, 'holidays = ["2026-11-11"]')
    out = plan([v("A", 2), v("B", 5), v("C", 9), v("D", 0)], MON, cfg, horizon=14)
    # A due Wednesday; B due Saturday -> Friday; C due Wednesday 11th, a holiday -> Tuesday 10th; D due today
    assert dates(out) == {"A": d(2), "B": d(4), "C": d(8), "D": d(0)}
    assert all(p.status == "on_time" and not p.late for p in out)


def test_as_soon_as_possible_fills_the_first_days():
    cfg = teams(2, 'holidays = ["2026-11-11"]')
    out = plan([v("A", 2), v("B", 5), v("C", 9), v("D", 0)], MON, cfg, horizon=14, placement="earliest")
    # deadline order D (Mon), A (Wed), B (Sat), C (Wed 11th): two a day from Monday
    assert dates(out) == {"D": d(0), "A": d(0), "B": d(1), "C": d(1)}


def test_overdue_visits_take_the_first_free_days_most_overdue_first():
    out = plan([v("O1", -1), v("O5", -5), v("O3", -3), v("F", 3)], MON, teams(1), horizon=14)
    # one visit a day: the overdue ones from today, most overdue first; F (due Thursday) on Thursday
    assert dates(out) == {"O5": d(0), "O3": d(1), "O1": d(2), "F": d(3)}
    assert {p.borrower_id: p.days_overdue for p in out} == {"O5": 5, "O3": 3, "O1": 1, "F": 0}
    assert statuses(out) == {"O5": "late", "O3": "late", "O1": "late", "F": "on_time"}
    assert {p.borrower_id: p.days_late for p in out} == {"O5": 5, "O3": 4, "O1": 3, "F": 0}


def test_the_hand_checked_week():
    visits = [
        DueVisit("B1", "T", "severe", date(2026, 10, 30)),  # overdue 3 days
        DueVisit("B2", "T", "severe", date(2026, 10, 31)),  # overdue 2 days
        DueVisit("B3", "T", "watch", date(2026, 11, 3)),  # due Tuesday
        DueVisit("B4", "T", "warning", date(2026, 11, 6), 5.0),  # due Friday
        DueVisit("B5", "T", "warning", date(2026, 11, 6), 7.0),  # due Friday, larger exposure
    ]
    out = plan(visits, MON, teams(1), horizon=14)
    # B1 takes Monday (its deadline is today); B2 cannot make today: the first free day, Tuesday.
    # B5 then B4 (warning) take Friday and Thursday. B3 (watch, due Tuesday) finds Monday and
    # Tuesday full: late, on the first free day, Wednesday.
    assert [(p.borrower_id, p.planned, p.status) for p in out] == [
        ("B1", d(0), "late"), ("B2", d(1), "late"), ("B3", d(2), "late"), ("B5", d(3), "on_time"),
        ("B4", d(4), "on_time")]


def test_a_higher_tier_keeps_its_date_and_the_lower_one_is_late():
    out = plan([v("W", 0, "watch"), v("S", 0, "severe")], MON, teams(1), horizon=7)
    assert dates(out) == {"S": d(0), "W": d(1)}
    assert statuses(out) == {"S": "on_time", "W": "late"}


def test_a_far_higher_tier_visit_does_not_push_a_near_one_late():
    # the severe visit is due Friday: it leaves Monday to the watch visit due Monday
    out = plan([v("W", 0, "watch"), v("S", 4, "severe")], MON, teams(1), horizon=7)
    assert statuses(out) == {"S": "on_time", "W": "on_time"}
    assert dates(out) == {"W": d(0), "S": d(4)}


def test_larger_exposure_first_then_unknown_then_borrower_id():
    out = plan([v("C", 0, exposure=None), v("B", 0, exposure=10.0), v("A", 0, exposure=10.0), v("Z", 0, exposure=99.0)],
               MON, teams(1), horizon=7)
    assert dates(out) == {"Z": d(0), "A": d(1), "B": d(2), "C": d(3)}


def test_today_a_sunday_a_visit_due_today_is_late_on_monday():
    out = plan([v("S", 6), v("N", 7)], d(6), teams(1), horizon=7)
    assert dates(out) == {"S": d(7), "N": d(8)}
    assert statuses(out) == {"S": "late", "N": "late"}


def test_no_capacity_no_team_and_beyond_the_horizon():
    out = plan([v("A", 0), v("B", 0), v("X", 1, team=None), v("L", 30)], MON, teams(1, 'working_days = ["mon"]'),
               horizon=7)
    by = {p.borrower_id: p for p in out}
    assert (by["A"].planned, by["A"].status) == (d(0), "on_time")
    assert (by["B"].planned, by["B"].status, by["B"].late, by["B"].days_late) == (None, "no_capacity", True, None)
    assert (by["X"].planned, by["X"].status, by["X"].late) == (None, "no_team", True)
    assert (by["L"].planned, by["L"].status, by["L"].late) == (None, "beyond_horizon", False)
    assert [p.borrower_id for p in out] == ["A", "B", "L", "X"]  # team T first, no team last


def test_teams_are_planned_with_their_own_capacity():
    cfg = teams(1, '[teams.BIG]\nvisits_per_day = 3\n')
    out = plan([v(f"b{i}", 0, team="BIG") for i in range(3)] + [v(f"s{i}", 0, team="SMALL") for i in range(3)],
               MON, cfg, horizon=7)
    assert dates(out) == {"b0": d(0), "b1": d(0), "b2": d(0), "s0": d(0), "s1": d(1), "s2": d(2)}


def test_the_order_of_the_input_does_not_matter():
    visits = [v(f"B{i}", i % 7 - 3, ("normal", "watch", "warning", "severe")[i % 4], float(i % 3)) for i in range(30)]
    first = plan(visits, MON, teams(2), horizon=10)
    assert plan(list(reversed(visits)), MON, teams(2), horizon=10) == first


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"horizon": 0}, "horizon must be 1 to 3660 days, not 0"),
    ({"horizon": 5000}, "horizon must be 1 to 3660 days"),
    ({"placement": "middle"}, "placement must be 'latest' or 'earliest'"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plan([v("A", 0)], MON, teams(1), **kwargs)


def test_bad_visits_are_named():
    with pytest.raises(ValueError, match="borrower A: unknown tier 'red'"):
        plan([DueVisit("A", "T", "red", MON)], MON, teams(1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="borrower A: exposure must be a finite number, not nan"):
        plan([v("A", 0, exposure=math.nan)], MON, teams(1))


def test_due_visits_from_schedule_entries():
    entries = [ScheduleEntry(borrower_id="B1", next_visit_due=d(3), team="T", branch="BR", tier="warning",
                             reason="tier_raised", policy_version="p"),
               ScheduleEntry(borrower_id="B2", next_visit_due=None, team="T", branch=None, tier="normal",
                             reason="no_profile", policy_version="p")]
    assert due_visits(entries, {"B1": 12.5}) == [
        DueVisit("B1", "T", "warning", d(3), 12.5, "BR", "tier_raised")]


# ------------------------------------------------------------ forecast

def test_forecast_hand_checked():
    cfg = teams(2, '[teams.IDLE]\nvisits_per_day = 5\n')
    visits = [v("O1", -2), v("O2", -1), v("O3", -1), v("A", 1), v("B", 1), v("C", 2), v("F", 20), v("N", 3, team=None)]
    rows = forecast(visits, MON, cfg, days=7)
    assert [r.team for r in rows] == ["IDLE", "T", None]
    idle, t, none = rows
    assert (idle.working_days, idle.capacity, idle.demand, idle.planned, idle.late, idle.short_from) == (5, 25, 0, 0, 0,
                                                                                                       None)
    # T: 2 a day Mon-Fri = 10. Due by Monday 3 (the overdue) > 2: short from Monday; by Tuesday 5 > 4 (worst, 1);
    # by Wednesday 6 = 6. F is due after the window.
    assert (t.start, t.until, t.working_days, t.capacity) == (d(0), d(6), 5, 10)
    assert (t.overdue, t.due, t.demand, t.planned) == (3, 3, 6, 6)
    assert (t.short_from, t.shortfall) == (d(0), 1)
    # O1, O2 Monday; O3 Tuesday; A, B due Tuesday: one fits Tuesday, the other is late (Wednesday); C Wednesday
    assert t.late == 3 + 1
    assert (none.capacity, none.due, none.late, none.short_from, none.shortfall) == (0, 1, 1, d(3), 1)


# ------------------------------------------------------------ properties on generated schedules

TIERS = ("normal", "watch", "warning", "severe")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@st.composite
def scenarios(draw, max_visits: int = 40, max_horizon: int = 21, team_names=("T1", "T2", None)):
    today = MON + timedelta(days=draw(st.integers(0, 13)))
    horizon = draw(st.integers(1, max_horizon))
    offsets = st.integers(-3, horizon + 3)

    def calendar() -> dict:
        table: dict = {}
        if draw(st.booleans()):
            table["working_days"] = sorted(draw(st.sets(st.sampled_from(WEEKDAYS), min_size=0, max_size=7)),
                                           key=WEEKDAYS.index)
        holidays = draw(st.sets(offsets, max_size=3))
        extra = draw(st.sets(offsets, max_size=2)) - holidays
        table["holidays"] = [(today + timedelta(days=o)).isoformat() for o in sorted(holidays)]
        table["extra_working_days"] = [(today + timedelta(days=o)).isoformat() for o in sorted(extra)]
        return table

    defaults = {"visits_per_day": draw(st.integers(0, 3)), **calendar()}
    table = {}
    for name in ("T1", "T2"):
        if draw(st.booleans()):
            entry = {"visits_per_day": draw(st.integers(0, 3))}
            entry["working_days"] = draw(st.sampled_from([None, ["mon", "wed", "fri"], list(WEEKDAYS)]))
            table[name] = {k: val for k, val in entry.items() if val is not None}
    cfg = TeamsConfig.model_validate({"version": "h", "defaults": defaults, "teams": table})
    n = draw(st.integers(0, max_visits))
    visits = [DueVisit(borrower_id=f"B{draw(st.integers(0, 2 * max_visits))}",
                       team=draw(st.sampled_from(team_names)),
                       tier=draw(st.sampled_from(TIERS)),
                       next_visit_due=today + timedelta(days=draw(st.integers(-6, horizon + 3))),
                       exposure=draw(st.one_of(st.none(), st.sampled_from([1.0, 2.0, 5.0, 1e6]))),
                       branch=draw(st.sampled_from([None, "BR1"])), reason=draw(st.sampled_from(["", "r"])))
              for _ in range(n)]
    return visits, today, cfg, horizon


def prio(p: DueVisit | PlannedVisit) -> tuple:
    """The documented priority, written again: tier, due date, exposure (unknown last), borrower id."""
    return (-RANK[p.tier], p.next_visit_due, p.exposure is None, -(p.exposure or 0.0), p.borrower_id,
            p.branch or "", p.reason)


def late_by(p: PlannedVisit) -> float:
    return math.inf if p.planned is None else max(0, (p.planned - p.next_visit_due).days)


def check_plan(visits: list[DueVisit], today: date, cfg: TeamsConfig, horizon: int, placement: str,
               out: list[PlannedVisit]) -> None:
    end = today + timedelta(days=horizon)
    window = [today + timedelta(days=i) for i in range(horizon)]
    cap = {(t, day): cfg.capacity(t).visits_on(day) for t in ("T1", "T2") for day in window}
    # one result per visit, carrying the visit's fields
    assert Counter((p.borrower_id, p.team, p.tier, p.next_visit_due, p.exposure, p.branch, p.reason) for p in out) == \
        Counter((x.borrower_id, x.team, x.tier, x.next_visit_due, x.exposure, x.branch, x.reason) for x in visits)
    used = Counter((p.team, p.planned) for p in out if p.planned is not None)
    for (team, day), n in used.items():
        assert team is not None and today <= day < end
        assert n <= cap[team, day], f"{team} {day}: {n} visits, capacity {cap[team, day]}"

    def full(team, day):
        return used[(team, day)] == cap[team, day]

    for p in out:
        assert p.days_overdue == max(0, (today - p.next_visit_due).days)
        assert p.late == (p.status in ("late", "no_capacity", "no_team"))
        if p.next_visit_due >= end:
            assert (p.status, p.planned) == ("beyond_horizon", None)
            continue
        if p.team is None:
            assert (p.status, p.planned) == ("no_team", None)
            continue
        if p.planned is None:
            assert p.status == "no_capacity"
            assert all(full(p.team, day) for day in window), "unplanned while the window has room"
            continue
        assert p.status == ("on_time" if p.planned <= p.next_visit_due else "late")
        if p.late:  # every working day from today to the due date is full; in fact up to the planned date
            assert all(full(p.team, day) for day in window if day <= p.next_visit_due)
            assert all(full(p.team, day) for day in window if day < p.planned)
        elif placement == "latest":  # just in time: no room between the planned and the due date
            assert all(full(p.team, day) for day in window if p.planned < day <= p.next_visit_due)
        if placement == "earliest":  # as soon as possible: no room before any planned date
            assert all(full(p.team, day) for day in window if day < p.planned)
    # order: a visit ranking above another of its team and due no later is not planned after it
    for a, b in itertools.permutations(out, 2):
        if a.team == b.team and prio(a) < prio(b) and a.next_visit_due <= b.next_visit_due:
            pa = a.planned or date.max
            pb = b.planned or date.max
            assert pa <= pb, f"{a.borrower_id} ranks above {b.borrower_id} but is planned later"
    # the documented output order
    def position(p):
        group = 2 if p.status == "beyond_horizon" else 1 if p.planned is None else 0
        return (p.team is None, p.team or "", group, p.planned or date.min, prio(p))
    assert [position(p) for p in out] == sorted(position(p) for p in out)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.sampled_from(["latest", "earliest"]))
def test_plans_obey_capacity_due_dates_and_priority(scenario, placement):
    visits, today, cfg, horizon = scenario
    out = plan(visits, today, cfg, horizon=horizon, placement=placement)
    check_plan(visits, today, cfg, horizon, placement, out)


@settings(max_examples=150, deadline=None)
@given(scenarios(), st.randoms(use_true_random=False))
def test_the_input_order_does_not_matter_and_both_placements_agree_on_lateness(scenario, rnd):
    visits, today, cfg, horizon = scenario
    latest = plan(visits, today, cfg, horizon=horizon)
    shuffled = list(visits)
    rnd.shuffle(shuffled)
    assert plan(shuffled, today, cfg, horizon=horizon) == latest
    earliest = plan(visits, today, cfg, horizon=horizon, placement="earliest")
    assert sorted((prio(p), p.status, late_by(p)) for p in earliest) == \
        sorted((prio(p), p.status, late_by(p)) for p in latest)


def best_lateness(visits: list[DueVisit], today: date, caps: list[int]) -> list[float]:
    """Brute force: the lexicographically least lateness vector (visits in priority order) over all schedules."""
    days = [i for i, c in enumerate(caps) for _ in range(c)]  # one entry per slot
    options = sorted(set(days)) + [None]
    best: list[float] | None = None
    for choice in itertools.product(options, repeat=len(visits)):
        if any(n > caps[i] for i, n in Counter(c for c in choice if c is not None).items()):
            continue
        vector = [math.inf if c is None else max(0, (today + timedelta(days=c) - x.next_visit_due).days)
                  for c, x in zip(choice, visits, strict=True)]
        if best is None or vector < best:
            best = vector
    return best or []


@settings(max_examples=200, deadline=None)
@given(scenarios(max_visits=5, max_horizon=6, team_names=("T1",)))
def test_each_visit_is_as_little_late_as_the_higher_priority_ones_allow(scenario):
    visits, today, cfg, horizon = scenario
    visits = [x for x in visits if x.next_visit_due < today + timedelta(days=horizon)]
    out = plan(visits, today, cfg, horizon=horizon)
    caps = [cfg.capacity("T1").visits_on(today + timedelta(days=i)) for i in range(horizon)]
    ours = [late_by(p) for p in sorted(out, key=prio)]
    assert ours == best_lateness(sorted(visits, key=prio), today, caps)


@settings(max_examples=150, deadline=None)
@given(scenarios(), st.sampled_from([1, 7, 30]))
def test_forecast_figures_against_a_brute_force_count(scenario, days):
    visits, today, cfg, _ = scenario
    rows = forecast(visits, today, cfg, days=days)
    out = plan(visits, today, cfg, horizon=days)
    names = sorted({x.team for x in visits} | set(cfg.teams), key=lambda t: (t is None, t or ""))
    assert [r.team for r in rows] == names
    window = [today + timedelta(days=i) for i in range(days)]
    for r in rows:
        mine = [x for x in visits if x.team == r.team]
        cap = [0 if r.team is None else cfg.capacity(r.team).visits_on(day) for day in window]
        assert (r.start, r.until) == (window[0], window[-1])
        assert r.capacity == sum(cap)
        assert r.working_days == (0 if r.team is None else sum(cfg.capacity(r.team).is_working(x) for x in window))
        assert r.overdue == sum(x.next_visit_due < today for x in mine)
        assert r.due == sum(today <= x.next_visit_due <= window[-1] for x in mine)
        assert r.demand == r.overdue + r.due
        planned = [p for p in out if p.team == r.team and p.planned is not None]
        assert r.planned == len(planned)
        assert r.late == sum(p.late for p in out if p.team == r.team)
        excess = [sum(max(x.next_visit_due, today) <= day for x in mine) - sum(cap[:i + 1])
                  for i, day in enumerate(window)]
        short = [day for day, e in zip(window, excess, strict=True) if e > 0]
        assert r.short_from == (short[0] if short else None)
        assert r.shortfall == max([0, *excess])
        # capacity runs short exactly when some visit misses its deadline (today for the overdue ones),
        # and at least the shortfall does
        missed = sum(p.planned is None or p.planned > max(p.next_visit_due, today)
                     for p in out if p.team == r.team and p.next_visit_due <= window[-1])
        assert (missed > 0) == (r.short_from is not None)
        assert missed >= r.shortfall
