"""One derivation of a borrower's state: what the backtest says at an instant is what `monitor replay --as-of` says.

The backtest runs each borrower through the engine itself (making the visits
the policy asks for) and reads tier, grade, profile and classification floor
from the engine. Here, at many random instants, that must equal a replay of
the same events (without the recorded inspections, with the visits the
backtest made) as of that instant: duplicates and out-of-order lines included.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from monitor._time import DAY
from monitor.backtest import run_backtest
from monitor.backtest._loop import run_borrower, visit_event
from monitor.backtest._worker import load_part
from monitor.engine import Engine
from monitor.replay import replay
from monitor.rules.loader import default_policy
from tests.backtest.histories import History
from tests.factories import messy_simulation


@pytest.fixture(scope="module")
def shuffled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated portfolio with re-sent duplicates, bad lines, and lines moved out of order."""
    d = tmp_path_factory.mktemp("derivation")
    events = messy_simulation(d / "events.jsonl", 40, 8, 21, duplicates=0.05, malformed=0.01, moved=10,
                              shuffle_seed=5)
    return events


def _without_inspections(src: Path, dst: Path) -> None:
    kept = [raw for raw in src.read_bytes().splitlines() if b'"inspection_completed"' not in raw]
    dst.write_bytes(b"\n".join(kept) + b"\n")


def test_the_backtest_says_what_replay_as_of_says_at_random_instants(shuffled, tmp_path):
    policy = default_policy()
    engine = Engine(policy)
    part = load_part(0, [str(shuffled)])
    assert part.first is not None and part.latest is not None
    rng = random.Random(11)
    borrowers = sorted(part.events)
    chosen = rng.sample(borrowers, 12)
    instants = sorted(rng.randrange(part.first, part.latest + 1) for _ in range(10))
    instants += [part.first + 40 * DAY + 1, part.latest]  # and an instant right at the end
    instants.sort()
    as_of = part.latest
    runs = {}
    visits: list[str] = []
    for bid in chosen:
        run = run_borrower(engine, bid, part.events[bid], as_of, as_of + 1, part.findings.get(bid, []),
                           instants, views=True)
        runs[bid] = run
        for n, v in enumerate(run.visits, start=1):
            visits.append(visit_event(bid, n, v.at, v.team, v.outcome).model_dump_json())
    assert sum(len(r.visits) for r in runs.values()) > 10  # the test exercises visits
    stripped = tmp_path / "events.jsonl"
    _without_inspections(shuffled, stripped)
    made = tmp_path / "visits.jsonl"
    made.write_text("\n".join(visits) + "\n", encoding="utf-8")
    compared = 0
    for k, at in enumerate(instants):
        result = replay([stripped, made], policy, at)
        views = {v.borrower_id: v for v in result.views}
        for bid, run in runs.items():
            probe = run.views[k]
            assert probe.at == at
            state = result.states.get(bid)
            if state is None:  # not seen yet by that instant
                assert probe.profile is None
                continue
            replayed = views[bid]
            assert probe.view == replayed, (bid, at)  # tier, computed tier, floor, team, exposure, next visit
            assert probe.grade == state.grade, (bid, at)
            assert probe.profile == state.profile, (bid, at)
            compared += 1
    assert compared > 60


def test_backtest_visits_are_exactly_when_the_engine_asked(shuffled, tmp_path):
    """Every visit the backtest made is at the due date the engine's schedule showed just before it."""
    policy = default_policy()
    engine = Engine(policy)
    part = load_part(0, [str(shuffled)])
    bid = max(part.events, key=lambda b: len(part.events[b]))
    run = run_borrower(engine, bid, part.events[bid], part.latest, part.latest + 1, part.findings.get(bid, []))
    assert run.visits
    stripped = tmp_path / "events.jsonl"
    _without_inspections(shuffled, stripped)
    made = tmp_path / "visits.jsonl"
    made.write_text("\n".join(visit_event(bid, n, v.at, v.team, v.outcome).model_dump_json()
                              for n, v in enumerate(run.visits, start=1)) + "\n", encoding="utf-8")
    for v in run.visits:
        if v.at <= run.first_seen:  # an overdue first check is made when the borrower is first seen
            continue
        state = replay([stripped, made], policy, v.at - 1).states[bid]
        assert state.due == v.at, json.dumps({"visit": v.at, "due": state.due})


def test_copies_and_conflicting_copies_are_counted_as_replay_counts_them(tmp_path):
    """An exact copy is a duplicate, a copy with other content is refused (rejected) and changes nothing:
    the backtest's counts and views equal monitor replay's, whatever the digests it skips."""
    h = History().profile("B1").profile("B2", 1)
    h.overdue("B1", 10, 5).overdue("B2", 12, 40).rating("B2", 20, "BBB", "B")
    events, outcomes = h.write(tmp_path)
    lines = events.read_text(encoding="utf-8").splitlines()
    copy = next(line for line in lines if '"overdue"' in line and '"B1"' in line)
    conflicting = copy.replace('"days_past_due": 5', '"days_past_due": 60')
    assert conflicting != copy
    rating = next(line for line in lines if '"rating_change"' in line)
    events.write_text("\n".join(lines + [copy, conflicting, rating.replace('"new_grade": "B"', '"new_grade": "D"')])
                      + "\n", encoding="utf-8")
    policy = default_policy()
    replayed = replay([events], policy)
    assert replayed.duplicates == 1 and replayed.rejected == 2  # the two conflicting copies
    report = run_backtest([str(events)], str(outcomes), jobs=1).report
    counts = report["events"]
    assert (counts["applied"], counts["duplicates"], counts["rejected"]) == (
        replayed.applied, replayed.duplicates, replayed.rejected)
    part = load_part(0, [str(events)])
    engine = Engine(policy)
    views = {v.borrower_id: v for v in replayed.views}
    for bid in ("B1", "B2"):
        run = run_borrower(engine, bid, part.events[bid], replayed.as_of, replayed.as_of + 1, (),
                           [replayed.as_of], views=True)
        assert run.views[0].view.model_copy(update={"next_visit_due": None}) == views[bid].model_copy(
            update={"next_visit_due": None})  # the backtest makes the visits the replay lacks
        assert run.rejected == 1
