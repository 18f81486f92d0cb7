"""One derivation: a report read off a whole replay at a past day says what a report of `monitor replay --as-of`
that day's end says (issue 14).

The report takes every borrower's profile, grade, classification floor and tier from the engine's own
records (the snapshots a replay writes), never from the events. So, at random days of a history with
re-sent duplicates, malformed lines and lines out of order, the day and month reports built from the full
replay equal, section by section, those built from a replay cut at that day's end. Left out: what each
report says about its own inputs (meta, data health: the full replay read events after the cut) and the
warning list's "signals at the end", which a cut replay reads from the engine's current signals and a full
replay from the last change (both are the engine's; the last change's signals are compared).
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.replay import replay, write_outputs
from monitor.reports import build_report, midnight_us
from monitor.rules.loader import default_policy
from tests.factories import messy_simulation

SECTIONS = ("ratios", "trend", "portfolio", "changes", "new_defaults", "disposal", "data_quality", "rules",
            "inspections")


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(events file, full replay): a simulated year with copies and bad lines, a tenth of the lines moved."""
    d = tmp_path_factory.mktemp("derive")
    events = messy_simulation(d / "events.jsonl", 150, 12, 31, duplicates=0.03, malformed=0.005, moved=10,
                              shuffle_seed=14)
    out = d / "full"
    write_outputs(replay([events], default_policy(), snapshots=out / "snapshots"), out)
    return events, out


def _comparable(report: Any) -> dict[str, Any]:
    doc = report.model_dump(mode="json")
    rows = [{k: v for k, v in r.items() if k != "signals"} for r in doc["warning_list"]["rows"]]
    return {**{k: doc[k] for k in SECTIONS}, "warning_list": {**doc["warning_list"], "rows": rows}}


def test_reports_at_random_days_equal_reports_of_a_replay_cut_there(
        messy: tuple[Path, Path], tmp_path: Path) -> None:
    events, full = messy
    policy = default_policy()
    rng = random.Random(7)
    first, last = date(2025, 2, 1), date(2025, 12, 20)
    days = sorted({first + timedelta(days=rng.randrange((last - first).days)) for _ in range(5)})
    listed = 0
    for day in days:
        cut = tmp_path / day.isoformat()
        write_outputs(replay([events], policy, as_of=midnight_us(day + timedelta(days=1), policy.zone) - 1,
                             snapshots=cut / "snapshots"), cut)
        for period in ("day", "month"):
            whole = build_report(full, [events], period=period, as_of=day)
            at_cut = build_report(cut, [events], period=period, as_of=day)
            assert whole.meta.complete and at_cut.meta.complete
            a, b = _comparable(whole), _comparable(at_cut)
            for key in a:
                assert a[key] == b[key], (day, period, key)
            listed += len(a["warning_list"]["rows"])
    assert listed > 0  # the comparison saw borrowers on the list
