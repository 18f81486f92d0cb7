"""The worker's day-end rows on a real broker equal ``monitor replay``'s snapshot change rows (issue 14).

The desk keeps the portfolio's per-day records from the ``day-ends`` topic instead of replaying the feeds:
folded (:class:`monitor.day_ends.DayEnds`), the rows the worker published must be exactly the change rows
``monitor replay`` writes to ``snapshots/`` from the same events, every borrower, every day (the last day
apart: the replay closes it at its own as-of), with and without SIGKILLs of the worker mid-stream; written in
the replay's format, they read as its snapshots (records, inspections, events per feed and day).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from monitor._time import iso, parse_instant
from monitor.day_ends import DayEnds, floors_of
from monitor.desk.report_topics import write_inputs
from monitor.engine import Engine
from monitor.replay import replay, write_outputs
from monitor.reports import build_report
from monitor.rules.loader import default_policy
from monitor.simulate import simulate, write_simulation
from monitor.snapshots import COLUMNS, NONE, TEXT_COLUMNS, SnapshotLog, day_date
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


def _decoded(log: SnapshotLog, day: int) -> dict[str, list[Any]]:
    snap = log.at(day)
    out = {}
    for c, _ in COLUMNS:
        v = snap.cols[c].tolist()
        out[c] = [(log.codes[c][x] if x >= 0 else None) for x in v] if c in TEXT_COLUMNS else v
    return out


def _visits(log: SnapshotLog, until_at: int) -> list[tuple[Any, ...]]:
    v = log.visits(NONE + 1, until_at)
    return [(log.ids[b].decode(), at, log.codes["team"][t], o, d) for b, at, t, o, d in
            zip(v["borrower"].tolist(), v["at"].tolist(), v["team"].tolist(), v["outcome"].tolist(),
                v["due"].tolist(), strict=True)]


def check_snapshots(fold: DayEnds, log: SnapshotLog, where: Path) -> None:
    """The folded rows written as snapshots read as the replay's: records at every checkpoint day, the last
    40 days and 60 random days; the inspections; the events and copies per feed, month by month."""
    until = log.last_day - 1  # type: ignore[operator]
    until_at = fold.days.start(until + 1) - 1
    policy = default_policy()
    fold.write(where, until, until_at, policy_version=policy.version, timezone=policy.timezone)
    mine = SnapshotLog(where)
    assert mine.ids.tolist() == log.ids.tolist()
    first = min(log.checkpoint_days())
    days = sorted({*range(until - 40, until + 1), *random.Random(7).sample(range(first - 30, until), 60),
                   *log.checkpoint_days()} - {log.last_day})
    for day in days:
        assert _decoded(mine, day) == _decoded(log, day), day_date(day)
    assert _visits(mine, until_at) == _visits(log, until_at) and len(_visits(log, until_at)) > 50
    edges = [first - 40, *[d for d in log.checkpoint_days() if d < until], until]
    for lo, hi in zip(edges, edges[1:]):
        got, want = mine.feeds(lo + 1, hi), log.feeds(lo + 1, hi)
        assert (got.events, got.copies, got.newest) == (want.events, want.copies, want.newest), day_date(hi)
    assert sum(log.feeds(first - 40, until).copies.values()) > 0  # copies are counted apart


def check_history(fold: DayEnds, result: Any, until: int, least: int = 100) -> None:
    """The schedule history folded from the rows is the replay's, line for line, up to the end of ``until``."""
    last = fold.days.start(until + 1) - 1
    want = [f'{{"at":"{iso(at)}",{entry.model_dump_json()[1:]}'.encode()
            for at, _bid, entry in result.schedule_history if at <= last]
    got = fold.history(until)
    if got != want:
        k = next((i for i, (g, w) in enumerate(zip(got, want)) if g != w), min(len(got), len(want)))
        raise AssertionError(f"{len(got)} entries folded, {len(want)} replayed; first difference at {k}: "
                             f"{got[k:k + 2]!r} vs {want[k:k + 2]!r}")
    assert len(want) >= least


def check_signals(fold: DayEnds, path: Path, until: int, where: Path, least: int = 10) -> None:
    """The signals at the end of ``until`` from the states the rows carried are those ``monitor replay --as-of``
    that instant writes (snapshots/signals.jsonl), line for line."""
    policy = default_policy()
    cut = fold.days.start(until + 1) - 1
    replay([path], policy, as_of=cut, snapshots=where)
    want = (where / "signals.jsonl").read_bytes().splitlines()
    got = fold.signals(until, Engine(policy))
    assert got == want, (len(got), len(want), next((g, w) for g, w in zip(got + [b""], want + [b""]) if g != w))
    assert len(want) >= least


def check_report(fold: DayEnds, alerts: list[bytes], path: Path, until: int, where: Path) -> None:
    """The day's report from the published rows and alerts (monitor.desk.report_topics) is the one of
    ``monitor replay --as-of`` the day's end + ``monitor report`` on the events up to it: every section."""
    policy = default_policy()
    cut = fold.days.start(until + 1) - 1
    lines = [x for x in path.read_bytes().splitlines() if parse_instant(json.loads(x)["occurred_at"]) <= cut]
    events = where / "events.jsonl"
    where.mkdir(parents=True)
    events.write_bytes(b"".join(x + b"\n" for x in lines))
    result = replay([events], policy, as_of=cut, snapshots=where / "replay" / "snapshots")
    write_outputs(result, where / "replay")
    day = day_date(until)
    want = build_report(where / "replay", [events], period="day", as_of=day).model_dump(mode="json")
    tdir = write_inputs(fold, alerts, [], where / "topics", until=until, policy=policy, offsets={})
    got = build_report(tdir, [], period="day", as_of=day).model_dump(mode="json")
    for name in ("alerts.jsonl", "schedule_history.jsonl", "snapshots/signals.jsonl", "summary.json"):
        assert (tdir / name).read_bytes() == (where / "replay" / name).read_bytes(), name
    got["meta"].pop("inputs"), want["meta"].pop("inputs")
    for section in want:
        assert got[section] == want[section], section
    assert want["warning_list"]["rows"]


def _fold(bootstrap: str, topic: str) -> DayEnds:
    policy = default_policy()
    fold = DayEnds(policy.zone, floors_of(policy))
    for rec in read_topic(bootstrap, topic):
        fold.add_message(rec.value)
    return fold


def _folded(bootstrap: str, topic: str, until: int) -> dict[str, list[tuple[int, tuple[Any, ...]]]]:
    fold = _fold(bootstrap, topic)
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
    env = settings_env(broker, names, tmp_path / "w", MONITOR_BATCH_SIZE="50" if kills else "500",
                       MONITOR_DAY_ENDS="true")
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
        fold = _fold(broker.bootstrap, topics.day_ends)
        _compare({b: rows for b in fold.borrowers() if (rows := fold.rows(b, until))}, want)
        check_snapshots(fold, log, tmp_path / "snapshots")
        check_history(fold, result, until)
        check_signals(fold, path, until, tmp_path / "replay")
        alerts = [rec.value for rec in read_topic(broker.bootstrap, topics.alerts)]
        check_report(fold, alerts, path, until, tmp_path / "report")
        per_day = Counter(d for rows in want.values() for d, _ in rows)
        assert len(per_day) > 150  # rows on most days of eight months
    finally:
        w.terminate()
