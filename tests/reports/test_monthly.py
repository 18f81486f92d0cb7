"""The monthly report's new figures against an independent computation, on a two-year history.

The oracle is ``monitor replay --as-of <instant>``: the borrowers as the engine
knows them at each instant (``borrowers.jsonl`` views and the engine's states),
counted here in plain Python; the report computes the same figures from the
replay's snapshots.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from monitor._time import to_us
from monitor.events import GRADES
from monitor.replay import replay, write_outputs
from monitor.reports import Report, build_report, write_report
from monitor.rules.evaluate import highest_dpd
from monitor.rules.loader import default_policy
from monitor.simulate import simulate, write_simulation

SH = ZoneInfo("Asia/Shanghai")
NPL = {"substandard", "doubtful", "loss"}
AS_OF = date(2026, 11, 30)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("two-years")
    events = d / "events.jsonl"
    write_simulation(simulate(500, 24, 17, duplicates=0.01), events)
    out = d / "replay"
    write_outputs(replay([events], default_policy(), snapshots=out / "snapshots"), out)
    return events, out


@pytest.fixture(scope="module")
def month(history: tuple[Path, Path]) -> Report:
    events, out = history
    return build_report(out, [events], period="month", as_of=AS_OF)


def _end_of(day: date) -> int:
    return to_us(datetime.combine(day + timedelta(days=1), time(0), tzinfo=SH)) - 1


def _oracle(events: Path, day: date) -> dict[str, Any]:
    """The portfolio at the end of ``day`` from a replay up to that instant (plain Python counting)."""
    res = replay([events], default_policy(), as_of=_end_of(day))
    views = [v for v in res.views if v.tier is not None]
    total = sum(v.exposure or 0 for v in views)

    def ratio(pred: Any) -> dict[str, float]:
        hit = [v for v in views if pred(v)]
        exp = sum(v.exposure or 0 for v in hit)
        return {"borrowers": len(hit), "count_ratio": round(len(hit) / len(views), 6) if views else 0.0,
                "exposure": exp, "exposure_ratio": round(exp / total, 6) if total else 0.0}

    return {
        "borrowers": len(views), "exposure": total,
        "npl": ratio(lambda v: v.min_classification in NPL),
        "overdue": ratio(lambda v: v.min_classification != "normal"),
        "special_mention": ratio(lambda v: v.min_classification == "special_mention"),
        "watch_list": ratio(lambda v: v.tier != "normal"),
        "cls": {v.borrower_id: v.min_classification for v in views},
        "exposures": {v.borrower_id: v.exposure for v in views},
        "default": {v.borrower_id for v in views
                    if v.min_classification in NPL or res.states[v.borrower_id].grade == GRADES[-1]},
        "tiers": {v.borrower_id: v.tier for v in views},
    }


@pytest.fixture(scope="module")
def truth(history: tuple[Path, Path]) -> dict[str, dict[str, Any]]:
    events, _ = history
    return {"end": _oracle(events, AS_OF), "previous": _oracle(events, date(2026, 10, 31)),
            "year_ago": _oracle(events, date(2025, 11, 30))}


def _check_point(got: Any, want: dict[str, Any]) -> None:
    assert got.borrowers == want["borrowers"]
    assert got.exposure == pytest.approx(want["exposure"], abs=0.01)
    for r in got.ratios:
        w = want[r.key]
        assert (r.key, r.borrowers, r.count_ratio) == (r.key, w["borrowers"], w["count_ratio"])
        assert r.exposure == pytest.approx(w["exposure"], abs=0.01) and r.exposure_ratio == pytest.approx(
            w["exposure_ratio"], abs=2e-6)


def test_ratios_with_month_on_month_and_year_on_year(month: Report, truth: dict[str, dict[str, Any]]) -> None:
    r = month.ratios
    assert r.previous is not None and r.year_ago is not None
    assert (r.previous.label, r.previous.day, r.year_ago.label, r.year_ago.day) == (
        "2026-10", "2026-10-31", "2025-11", "2025-11-30")
    _check_point(r.previous, truth["previous"])
    _check_point(r.year_ago, truth["year_ago"])
    rows = {x.key: x for x in r.rows}
    assert set(rows) == {"npl", "overdue", "special_mention", "watch_list"}
    end = truth["end"]
    for key, row in rows.items():
        assert (row.borrowers, row.count_ratio) == (end[key]["borrowers"], end[key]["count_ratio"])
        assert row.mom_count == pytest.approx(end[key]["count_ratio"] - truth["previous"][key]["count_ratio"],
                                              abs=2e-6)
        assert row.yoy_count == pytest.approx(end[key]["count_ratio"] - truth["year_ago"][key]["count_ratio"],
                                              abs=2e-6)
        assert row.yoy_exposure == pytest.approx(
            end[key]["exposure_ratio"] - truth["year_ago"][key]["exposure_ratio"], abs=4e-6)
    assert rows["watch_list"].borrowers > 0 and rows["overdue"].borrowers > 0  # the figures are not all zero


def test_twelve_month_trend_at_each_month_end(month: Report, history: tuple[Path, Path]) -> None:
    events, _ = history
    months = month.trend.months
    assert [m.label for m in months] == [f"{y}-{m:02d}" for y, m in
                                         [(2025, 12), *((2026, k) for k in range(1, 12))]]
    for m in (months[0], months[5], months[-1]):
        want = _oracle(events, date.fromisoformat(m.day))
        _check_point(m, want)
        tiers = [t for t in want["tiers"].values()]
        assert (m.tiers.watch, m.tiers.warning, m.tiers.severe) == tuple(
            tiers.count(x) for x in ("watch", "warning", "severe"))


def test_classification_migration_and_new_defaults(month: Report, truth: dict[str, dict[str, Any]]) -> None:
    prev, end = truth["previous"], truth["end"]
    cm = month.changes.class_migration
    assert cm is not None and cm.start[0] == "new" and cm.end == ["normal", "special_mention", "substandard",
                                                                   "doubtful", "loss"]
    want = [[0] * 5 for _ in range(6)]
    for bid, cls in end["cls"].items():
        before = prev["cls"].get(bid)
        want[0 if before is None else cm.start.index(before)][cm.end.index(cls)] += 1
    assert cm.counts == want
    new = sorted(end["default"] - prev["default"])
    got = month.new_defaults
    assert sorted(r["borrower_id"] for r in got.rows) == new and got.borrowers == len(new)
    assert got.exposure == pytest.approx(sum(end["exposures"][b] for b in new), abs=0.01)


def test_current_signals_at_the_replay_as_of(history: tuple[Path, Path]) -> None:
    """At the replay's own as-of the warning list shows the signals that hold then, with current values
    (the engine's, as borrowers.jsonl names them), and the last change of tier apart."""
    events, out = history
    summary = json.loads((out / "summary.json").read_text())
    as_of = datetime.fromisoformat(summary["as_of"].replace("Z", "+00:00")).astimezone(SH).date()
    report = build_report(out, [events], period="month", as_of=as_of)
    assert report.meta.current_signals
    res = replay([events], default_policy())
    views = {v.borrower_id: v for v in res.views}
    replay_as_of = res.as_of
    assert replay_as_of is not None
    checked = 0
    for row in report.warning_list.rows:
        v = views[row["borrower_id"]]
        assert sorted(s["rule"] for s in row["signals"]) == v.active_rules, row["borrower_id"]
        state = res.states[row["borrower_id"]]
        for s in row["signals"]:
            if s["rule"] == "overdue.dpd":  # days past due counted to the as-of, not to the last event
                assert s["values"]["days_past_due"] == highest_dpd(state, replay_as_of)[0]
                checked += 1
            if s["rule"] in ("rating.weak_grade", "rating.default_grade"):
                assert s["values"]["grade"] == state.grade == row["grade"]
                checked += 1
        assert row["last_change"]["to_tier"] == row["tier"]
    assert checked > 0


def test_names_shown_and_masked(history: tuple[Path, Path], month: Report, tmp_path: Path) -> None:
    events, out = history
    rows = month.warning_list.rows
    assert sum(1 for r in rows if r["name"]) > len(rows) // 2
    for r in rows:  # a borrower without a name is a data-quality item
        assert (r["name"] is None) == ("name_missing" in r["data_quality"])
    names = [r["name"] for r in rows if r["name"]]
    masked = build_report(out, [events], period="month", as_of=AS_OF, mask_names=True)
    assert masked.meta.names_masked
    for plain, hidden in zip(names, (r["name"] for r in masked.warning_list.rows if r["name"])):
        assert hidden != plain and hidden
        assert hidden.startswith("某某") or (hidden[0] == plain[0] and set(hidden[1:]) == {"*"})
    paths = write_report(masked, tmp_path)
    for p in paths:
        data = p.read_bytes()
        for plain in names:  # no form leaks a name
            assert plain.encode() not in data, (p.name, plain)


def test_concentration_index_and_data_quality(month: Report) -> None:
    c = month.portfolio.concentration
    total = month.portfolio.exposure
    hhi = sum((g.exposure / total) ** 2 for g in month.portfolio.by_industry)
    assert c.hhi_industry == pytest.approx(hhi, abs=1e-5) and 0 < c.hhi_industry < 1
    assert c.hhi_branch == pytest.approx(sum((g.exposure / total) ** 2 for g in month.portfolio.by_branch), abs=1e-5)
    items = {q.item: q for q in month.data_quality.rows}
    assert set(items) == {"bureau_missing", "bureau_stale", "profile_stale", "name_missing"}
    listed = sum(1 for r in month.warning_list.rows if "bureau_stale" in r["data_quality"])
    assert items["bureau_stale"].on_list == listed
    feeds = {f.feed: f for f in month.data_health.feeds}
    assert feeds["loan_profile"].expected_days == 35 and feeds["rating_change"].status == "event_driven"
    assert feeds["loan_profile"].status == "ok" and feeds["bureau_report"].status == "ok"


def test_replay_outputs_without_snapshots_are_refused(history: tuple[Path, Path], tmp_path: Path) -> None:
    """An older replay's outputs (no snapshots/): the report never derives the borrowers a second way from the
    events (issue 14); it says to replay again."""
    import shutil

    from monitor._errors import InputError

    events, out = history
    bare = tmp_path / "bare"
    shutil.copytree(out, bare, ignore=shutil.ignore_patterns("snapshots"))
    with pytest.raises(InputError, match="no snapshots .*replay the events again"):
        build_report(bare, [events], period="month", as_of=AS_OF)
