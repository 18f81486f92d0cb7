"""The worker's day-end rows on a real broker equal ``monitor replay``'s snapshot change rows (issue 14).

The desk keeps the portfolio's per-day records from the ``day-ends`` topic instead of replaying the feeds:
folded (:class:`monitor.day_ends.DayEnds`), the rows the worker published must be exactly the change rows
``monitor replay`` writes to ``snapshots/`` from the same events, every borrower, every day (the last day
apart: the replay closes it at its own as-of), with and without SIGKILLs of the worker mid-stream.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from monitor.day_ends import DayEnds, floors_of
from monitor.replay import replay
from monitor.rules.loader import default_policy
from monitor.simulate import simulate, write_simulation
from monitor.snapshots import COLUMNS, TEXT_COLUMNS, SnapshotLog
from monitor.topics import Topics, create_topics
from tests.integration.kafka_harness import (
    Worker,
    alerts_by_id,
    read_topic,
    settings_env,
    wait_for,
)
from tests.integration.test_worker import _produce, _settings, _wait_all_alerts

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> tuple[Path, Any, SnapshotLog]:
    """A portfolio with copies of events, its replay, and the replay's snapshots."""
    base = tmp_path_factory.mktemp("day-ends")
    path = base / "events.jsonl"
    write_simulation(simulate(300, 8, 23, duplicates=0.005), path)
    result = replay([path], default_policy(), snapshots=base / "snapshots")
    return path, result, SnapshotLog(base / "snapshots")


def _replay_rows(log: SnapshotLog, until: int) -> dict[str, list[tuple[int, tuple[Any, ...]]]]:
    """The replay's change rows up to ``until`` (a day number), per borrower, texts for the codes."""
    first = min(log.checkpoint_days(), default=0) - 400
    cols = log.rows(first, until)
    names = [c for c, _ in COLUMNS]
    out: dict[str, list[tuple[int, tuple[Any, ...]]]] = {}
    for k in range(cols["day"].size):
        values = []
        for c in names:
            v = int(cols[c][k])
            values.append((log.codes[c][v] if v >= 0 else None) if c in TEXT_COLUMNS else v)
        bid = log.ids[int(cols["borrower"][k])].decode()
        out.setdefault(bid, []).append((int(cols["day"][k]), tuple(values)))
    return out


def _folded(bootstrap: str, topic: str, until: int) -> dict[str, list[tuple[int, tuple[Any, ...]]]]:
    policy = default_policy()
    fold = DayEnds(policy.zone, floors_of(policy))
    for rec in read_topic(bootstrap, topic):
        fold.add(rec.key.decode(), rec.value)
    return {b: rows for b in fold.borrowers() if (rows := fold.rows(b, until))}


def _compare(got: dict[str, list], want: dict[str, list]) -> None:
    assert set(got) == set(want), (sorted(set(want) - set(got))[:5], sorted(set(got) - set(want))[:5])
    differ = [b for b in want if got[b] != want[b]]
    if differ:
        b = differ[0]
        g, w = dict(got[b]), dict(want[b])
        day = min(d for d in set(g) | set(w) if g.get(d) != w.get(d))
        raise AssertionError(f"{len(differ)} borrowers differ; {b} on day {day}: published {g.get(day)}, "
                             f"replay {w.get(day)} (columns {[c for c, _ in COLUMNS]})")
    assert sum(len(r) for r in want.values()) > 1000  # a real history: many rows, many days


@pytest.mark.parametrize("kills", [0, 2])
def test_the_workers_day_end_rows_are_the_replays_change_rows(broker, names, history, tmp_path, kills):
    path, result, log = history
    env = settings_env(broker, names, tmp_path / "w", MONITOR_BATCH_SIZE="50" if kills else "500")
    create_topics(_settings(env))
    _produce(env, path)
    topics = Topics(names.prefix)
    total = len(result.alerts)
    for fraction in (0.25, 0.6)[:kills]:
        w = Worker(env, tmp_path / "w.log").start()
        wait_for(lambda f=fraction: len(alerts_by_id(broker.bootstrap, topics.alerts)[0]) >= total * f, 120,
                 f"{fraction:.0%} of the alerts before the kill")
        w.kill()
    w = Worker(env, tmp_path / "w.log").start()
    try:
        _wait_all_alerts(broker, names, result, [w])
        until = log.last_day - 1  # type: ignore[operator]
        want = _replay_rows(log, until)
        wait_for(lambda: _folded(broker.bootstrap, topics.day_ends, until).keys() == want.keys(), 60,
                 "every borrower's day-end rows")
        got = _folded(broker.bootstrap, topics.day_ends, until)
        _compare(got, want)
        per_day = Counter(d for rows in want.values() for d, _ in rows)
        assert len(per_day) > 150  # rows on most days of eight months
    finally:
        w.terminate()
