"""The figures of every section, against the hand-made portfolio and an independent count."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from monitor._errors import InputError
from monitor.reports import Report, build_report
from tests.reports import portfolio
from tests.reports.oracle import TIERS, Oracle, jsonl

M = 1_000_000
HAND_POLICY = portfolio.POLICY_PATH


@pytest.fixture(scope="module")
def march(hand: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Report:
    events, out = hand
    cap = tmp_path_factory.mktemp("cap") / "capacity.toml"
    cap.write_text('T1 = 2\n"T2" = 1.5\n', encoding="utf-8")
    return build_report(out, [events], policy_path=HAND_POLICY, period="month", as_of="2025-03-31",
                        capacity_path=cap)


def _tiers(counts) -> dict[str, int]:
    return {t: getattr(counts, t) for t in TIERS}


# ---------------------------------------------------------------- the hand-made month, figure by figure

def test_meta_states_period_as_of_policy_and_inputs(march: Report, hand: tuple[Path, Path]) -> None:
    m = march.meta
    assert (m.period, m.label, m.first_day, m.last_day) == ("month", "2025-03", "2025-03-01", "2025-03-31")
    assert (m.start, m.end, m.as_of) == ("2025-02-28T16:00:00Z", "2025-03-31T16:00:00Z", "2025-03-31T16:00:00Z")
    assert m.complete and m.replay_as_of == "2025-04-10T02:00:00Z"
    assert m.policy_version == portfolio.POLICY.version and m.timezone == "Asia/Shanghai"
    names = [(i.role, i.name) for i in m.inputs]
    assert names == [("summary", "summary.json"), ("borrowers", "borrowers.jsonl"), ("alerts", "alerts.jsonl"),
                     ("schedule_history", "schedule_history.jsonl"), ("rejects", "rejects.jsonl"),
                     ("events", "events.jsonl"), ("policy", "policy-default-2026.11.toml"), ("capacity", "capacity.toml")]
    import hashlib
    events, out = hand
    assert m.inputs[5].sha256 == hashlib.sha256(events.read_bytes()).hexdigest()
    assert m.inputs[2].sha256 == hashlib.sha256((out / "alerts.jsonl").read_bytes()).hexdigest()
    assert m.inputs[2].bytes == (out / "alerts.jsonl").stat().st_size


def test_portfolio_status_at_the_end_of_march(march: Report) -> None:
    p = march.portfolio
    # A B C D E F G J have a profile; H only a bureau report; B's April profile (9,999,999) is too late
    assert (p.borrowers, p.exposure, p.without_profile) == (8, 11.9 * M, 1)
    assert {g.key: (g.borrowers, g.exposure) for g in p.by_tier} == {
        "normal": (3, 2.9 * M), "watch": (2, 1.8 * M), "warning": (2, 2.2 * M), "severe": (1, 5.0 * M)}
    grades = {g.key: g.borrowers for g in p.by_grade if g.borrowers}
    assert grades == {"AAA": 1, "A": 2, "BBB": 3, "BB": 2}  # F upgraded on 3-25; B keeps its first grade
    assert {g.key: g.borrowers for g in p.by_classification} == {
        "normal": 5, "special_mention": 2, "substandard": 1, "doubtful": 0, "loss": 0}  # B: 60 + 89 days
    assert [(g.key, g.borrowers, g.exposure) for g in p.by_segment] == [
        ("small", 4, 5.2 * M), ("medium", 1, 5.0 * M), ("micro", 2, 1.4 * M), ("retail", 1, 0.3 * M)]
    bj = next(g for g in p.by_branch if g.key == "BJ")
    assert (bj.borrowers, bj.exposure, _tiers(bj.tiers), bj.exposure_watch_or_above) == (
        4, 8.0 * M, {"normal": 0, "watch": 1, "warning": 2, "severe": 1}, 8.0 * M)
    assert [g.key for g in p.by_industry] == ["manufacturing", "trade", "retail", "household"]
    assert round(sum(g.exposure_share for g in p.by_branch), 5) == 1.0
    c = p.concentration
    assert (c.borrowers, c.exposure, c.portfolio_share) == (3, 7.2 * M, round(7.2 / 11.9, 6))
    assert [(x.borrower_id, x.share) for x in c.top] == [("B", round(5 / 7.2, 6)), ("E", round(1.5 / 7.2, 6)),
                                                         ("J", round(0.7 / 7.2, 6))]
    assert c.top[-1].cumulative_share == 1.0


def test_changes_over_the_period(march: Report) -> None:
    ch = march.changes
    assert {k.kind: (k.alerts, k.borrowers, k.exposure) for k in ch.by_kind} == {
        "raised": (2, 2, 1.7 * M), "escalated": (1, 1, 1.5 * M), "de_escalated": (1, 1, 0.8 * M),
        "cleared": (1, 1, 2.0 * M)}  # A's escalation on 4-04 is after the period
    assert (ch.alerts, ch.watch_or_above_start, ch.watch_or_above_end) == (5, 4, 5)


def test_migration_matrix_from_the_alert_history(march: Report) -> None:
    mg = march.changes.migration
    assert mg.start == ["new", "normal", "watch", "warning", "severe"] and mg.end == TIERS
    cells = {(mg.start[i], mg.end[j]): n for i, row in enumerate(mg.counts) for j, n in enumerate(row) if n}
    assert cells == {("new", "normal"): 1,  # G
                     ("normal", "watch"): 1, ("normal", "warning"): 1, ("normal", "normal"): 1,  # A, J, F
                     ("watch", "normal"): 1, ("watch", "warning"): 1,  # C cleared, E escalated
                     ("warning", "watch"): 1,  # D: the cure period of its December warning ends on 3-05
                     ("severe", "severe"): 1}  # B
    assert mg.exposure[4][3] == 5.0 * M and mg.exposure[3][1] == 0.8 * M


def test_daily_trend(march: Report) -> None:
    trend = {d.day: _tiers(d.tiers) for d in march.changes.trend}
    assert len(trend) == 31
    assert trend["2025-03-01"] == {"normal": 3, "watch": 2, "warning": 1, "severe": 1}  # A F J | C E | D | B
    assert trend["2025-03-04"] == trend["2025-03-01"]
    assert trend["2025-03-05"] == {"normal": 4, "watch": 2, "warning": 0, "severe": 1}  # C cleared, D down
    assert trend["2025-03-10"] == {"normal": 2, "watch": 3, "warning": 1, "severe": 1}  # A and J raised
    assert trend["2025-03-15"] == {"normal": 3, "watch": 3, "warning": 1, "severe": 1}  # G arrives
    assert trend["2025-03-31"] == {"normal": 3, "watch": 2, "warning": 2, "severe": 1}


def test_warning_list(march: Report) -> None:
    wl = march.warning_list
    assert (wl.borrowers, wl.exposure, _tiers(wl.tiers)) == (
        5, 9.0 * M, {"normal": 0, "watch": 2, "warning": 2, "severe": 1})
    rows = {r["borrower_id"]: r for r in wl.rows}
    assert [r["borrower_id"] for r in wl.rows] == ["B", "E", "J", "A", "D"]  # tier, then exposure
    b = rows["B"]
    assert [b[k] for k in ("tier", "tier_at_start", "exposure", "branch", "team", "grade", "min_classification")] == [
        "severe", "severe", 5.0 * M, "BJ", "T2", "A", "substandard"]
    assert [b[k] for k in ("tier_since", "days_at_tier", "next_visit_due", "visit_overdue", "case_owner")] == [
        "2025-01-31", 59, "2025-01-15", True, None]
    assert [(e["rule"], e["level"], e["values"]["days_past_due"]) for e in b["last_change"]["signals"]] == [("overdue.dpd", "severe", 90)]
    assert b["last_change"]["signals"][0]["thresholds"] == {"band_min": 90} and b["last_change"]["signals"][0]["event_ids"] == ["o-B1"]
    a = rows["A"]
    assert [a[k] for k in ("tier", "tier_at_start", "tier_since", "days_at_tier", "next_visit_due", "visit_overdue")] == [
        "watch", "normal", "2025-03-10", 21, "2025-04-11", False]
    assert rows["D"]["last_change"]["signals"][0]["values"] == {"hard_inquiries_30d": 8} and rows["D"]["visit_overdue"]
    assert rows["J"]["next_visit_due"] == "2025-04-03" and rows["J"]["min_classification"] == "special_mention"
    assert [r["rank"] for r in wl.rows] == [1, 2, 3, 4, 5]


def test_rule_statistics(march: Report) -> None:
    rows = {r.rule: r for r in march.rules.rows}
    assert len(rows) == 17 and all(r.enabled for r in rows.values())
    dpd = rows["overdue.dpd"]
    # raised A (since 3-06) and J (since 2-28: the warning band began before March); on the list: B, J, A
    assert (dpd.alerts, dpd.borrowers, dpd.exposure, dpd.newly_held, dpd.on_list, dpd.on_list_exposure) == (
        2, 2, 1.7 * M, 1, 3, 6.7 * M)
    ext = rows["bureau.external_overdue"]
    assert (ext.alerts, ext.borrowers, ext.exposure, ext.newly_held, ext.on_list) == (1, 1, 1.5 * M, 1, 1)
    inq = rows["bureau.inquiries"]
    assert (inq.alerts, inq.newly_held, inq.on_list, inq.on_list_exposure) == (1, 0, 1, 0.8 * M)
    assert sum(r.alerts for r in rows.values()) == 4  # C's clearance cites no rule
    assert rows["lawsuit.dishonest_debtor"].alerts == 0 and rows["lawsuit.dishonest_debtor"].level == "severe"


def test_inspection_work(march: Report) -> None:
    ins = march.inspections
    teams = {t.team: t for t in ins.teams}
    t1, t2 = teams["T1"], teams["T2"]
    # T1: due F 3-22 (done 3-12, on time), G 3-31 (not done); done A (late) and F (sent twice: once)
    assert (t1.due, t1.done, t1.done_on_time, t1.on_time_rate, t1.overdue, t1.planned_next) == (2, 2, 1, 0.5, 2, 1)
    # T2: due E 3-07 (done 3-14, late) and J 3-24 (pulled forward from 3-27; done 3-20); overdue B and D
    assert (t2.due, t2.done, t2.done_on_time, t2.overdue, t2.planned_next) == (2, 2, 1, 2, 2)
    assert (ins.next_first_day, ins.next_last_day, ins.next_working_days) == ("2025-04-01", "2025-04-30", 22)
    assert (t1.capacity_per_day, t1.capacity_next, t1.load) == (2.0, 44.0, round(3 / 44, 4))
    assert (t2.capacity_next, t2.load) == (33.0, round(4 / 33, 4))
    assert ins.capacity_configured and ins.outcomes == {"normal": 4, "concern": 0, "deteriorated": 0}
    assert (ins.total.due, ins.total.done, ins.total.done_on_time, ins.total.overdue) == (4, 4, 2, 4)


def test_data_health(march: Report) -> None:
    dh = march.data_health
    assert (dh.lines_read, dh.rejected) == (33, 2)
    feeds = {f.feed: f for f in dh.feeds}
    assert {k: (f.events, f.duplicates, f.after_as_of) for k, f in feeds.items()} == {
        "loan_profile": (2, 0, 1), "rating_change": (1, 0, 0), "lawsuit": (0, 0, 0), "bureau_report": (2, 0, 2),
        "overdue": (2, 0, 0), "inspection_completed": (4, 1, 0)}
    assert feeds["rating_change"].newest == "2025-03-25T02:00:00Z"
    assert feeds["rating_change"].age_hours == 6 * 24 + 14  # to 2025-04-01 00:00 +08:00
    assert feeds["lawsuit"].newest == "2025-02-15T02:00:00Z"
    assert [(r.reason, r.lines) for r in dh.rejects] == [("not JSON", 1), ("type: unknown event type 'credit_alert'", 1)]


# ---------------------------------------------------------------- other periods, and the independent count

def _against_oracle(report: Report, oracle: Oracle, kind: str, as_of: date) -> None:
    p = oracle.period(kind, as_of)
    assert report.meta.complete == p.complete
    port = oracle.portfolio(p)
    assert report.portfolio.borrowers == port["borrowers"]
    assert {g.key: g.borrowers for g in report.portfolio.by_tier} == {t: port["by_tier"].get(t, 0) for t in TIERS}
    assert {g.key: g.exposure for g in report.portfolio.by_tier if g.borrowers} == port["exposure"]
    assert {g.key: g.borrowers for g in report.portfolio.by_classification if g.borrowers} == dict(port["classes"])
    assert {g.key: g.borrowers for g in report.portfolio.by_grade if g.borrowers} == dict(port["grades"])
    mg = report.changes.migration
    cells = {(mg.start[i], mg.end[j]): n for i, row in enumerate(mg.counts) for j, n in enumerate(row) if n}
    assert cells == oracle.migration(p)
    assert {k.kind: k.alerts for k in report.changes.by_kind if k.alerts} == dict(oracle.kinds(p))
    assert [_tiers(d.tiers) for d in report.changes.trend] == oracle.trend(p)
    expected = oracle.warning_list(p)
    keys = ("borrower_id", "tier", "exposure", "branch", "team", "tier_since", "days_at_tier", "next_visit_due",
            "visit_overdue")
    got = [{**{k: r[k] for k in keys}, "rules": [e["rule"] for e in r["last_change"]["signals"]]} for r in report.warning_list.rows]
    assert got == expected
    rules = {r.rule: {"alerts": r.alerts, "borrowers": r.borrowers, "newly_held": r.newly_held, "exposure": r.exposure}
             for r in report.rules.rows if r.alerts}
    want = oracle.rules(p)
    assert rules.keys() == want.keys()
    for k, v in want.items():
        assert rules[k]["exposure"] == pytest.approx(v["exposure"]) and {**rules[k], "exposure": 0} == {**v, "exposure": 0}
    teams = {t.team: {"due": t.due, "done": t.done, "done_on_time": t.done_on_time, "overdue": t.overdue,
                      "planned": t.planned_next} for t in report.inspections.teams}
    for team, v in oracle.inspections(p).items():
        assert {k: n for k, n in teams[team].items() if n} == v, team
    feeds = {f.feed: (f.events, f.duplicates) for f in report.data_health.feeds if f.events or f.duplicates}
    assert feeds == oracle.feeds(p)


@pytest.mark.parametrize("kind, as_of", [("month", date(2025, 3, 31)), ("month", date(2025, 2, 14)),
                                         ("week", date(2025, 3, 12)), ("week", date(2025, 3, 9)),
                                         ("day", date(2025, 3, 5)), ("day", date(2025, 3, 20)),
                                         ("month", date(2025, 4, 10)), ("day", date(2024, 12, 1))])
def test_hand_made_portfolio_against_an_independent_count(hand: tuple[Path, Path], kind: str, as_of: date) -> None:
    events, out = hand
    report = build_report(out, [events], policy_path=HAND_POLICY, period=kind, as_of=as_of)  # type: ignore[arg-type]
    _against_oracle(report, Oracle(out, events), kind, as_of)


def test_week_to_date_and_day(hand: tuple[Path, Path]) -> None:
    events, out = hand
    week = build_report(out, [events], policy_path=HAND_POLICY, period="week", as_of="2025-03-12")
    assert (week.meta.label, week.meta.first_day, week.meta.last_day) == ("2025-W11", "2025-03-10", "2025-03-12")
    assert {k.kind: k.alerts for k in week.changes.by_kind} == {"raised": 2, "escalated": 0, "de_escalated": 0,
                                                                 "cleared": 0}
    assert (week.inspections.next_first_day, week.inspections.next_last_day) == ("2025-03-13", "2025-03-16")
    day = build_report(out, [events], policy_path=HAND_POLICY, period="day", as_of="2025-03-05")
    assert [(k.kind, k.borrowers) for k in day.changes.by_kind if k.alerts] == [("de_escalated", 1), ("cleared", 1)]
    assert len(day.changes.trend) == 1 and day.inspections.next_first_day == "2025-03-06"


def test_as_of_the_replays_day_matches_borrowers_jsonl(hand: tuple[Path, Path]) -> None:
    """On the replay's own day the report holds at the replay's as-of: the state borrowers.jsonl shows."""
    events, out = hand
    report = build_report(out, [events], policy_path=HAND_POLICY, period="month", as_of="2025-04-10")
    assert not report.meta.complete and report.meta.as_of == "2025-04-10T02:00:00Z"
    _matches_borrowers(report, out)


def _matches_borrowers(report: Report, out: Path) -> None:
    views = {v["borrower_id"]: v for v in jsonl(out / "borrowers.jsonl")}
    tiers = {t: sum(1 for v in views.values() if v["tier"] == t) for t in TIERS}
    assert {g.key: g.borrowers for g in report.portfolio.by_tier} == tiers
    classes = {g.key: g.borrowers for g in report.portfolio.by_classification if g.borrowers}
    want = {}
    for v in views.values():
        if v["min_classification"]:
            want[v["min_classification"]] = want.get(v["min_classification"], 0) + 1
    assert classes == want
    assert report.portfolio.exposure == pytest.approx(sum(v["exposure"] or 0 for v in views.values()))
    listed = [v for v in views.values() if v["tier"] not in (None, "normal")]
    assert len(report.warning_list.rows) == len(listed)
    for row in report.warning_list.rows:
        v = views[row["borrower_id"]]
        for key in ("tier", "exposure", "next_visit_due", "min_classification", "team", "branch"):
            assert row[key] == v[key], (row["borrower_id"], key)


def test_simulated_portfolio_against_an_independent_count(simulated: tuple[Path, Path]) -> None:
    events, out = simulated
    oracle = Oracle(out, events)
    last = oracle.replay_as_of.astimezone(oracle.tz).date()
    for kind, as_of in (("month", last), ("month", last.replace(day=1) - timedelta(days=1)),
                        ("week", last - timedelta(days=20)), ("day", last - timedelta(days=45))):
        report = build_report(out, [events], period=kind, as_of=as_of)  # type: ignore[arg-type]
        _against_oracle(report, oracle, kind, as_of)
    _matches_borrowers(build_report(out, [events], period="day", as_of=last), out)


def test_an_as_of_after_the_replay_is_refused(hand: tuple[Path, Path]) -> None:
    events, out = hand
    with pytest.raises(InputError, match="after the replay's as-of .*not known yet"):
        build_report(out, [events], policy_path=HAND_POLICY, period="day", as_of="2025-04-11")


def test_other_event_files_are_refused(hand: tuple[Path, Path], tmp_path: Path) -> None:
    events, out = hand
    other = tmp_path / "events.jsonl"
    other.write_bytes(events.read_bytes() + b'{"type": "overdue"}\n')
    with pytest.raises(InputError, match="not the files it read|not the ones the replay read"):
        build_report(out, [other], policy_path=HAND_POLICY, period="month", as_of="2025-03-31")


def test_the_as_of_date_defaults_to_the_replays(hand: tuple[Path, Path]) -> None:
    events, out = hand
    report = build_report(out, [events], policy_path=HAND_POLICY, period="day")
    assert (report.meta.last_day, report.meta.complete, report.meta.as_of) == ("2025-04-10", False,
                                                                               "2025-04-10T02:00:00Z")
