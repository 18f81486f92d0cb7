"""A day-end fold that moves its closed months to disk as it reads (the desk's, bounded) gives the report input of
the fold that keeps every row in memory: every file byte for byte, the snapshots record for record (their layout
differs: the closed months' borrowers first), and so the same reports."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from monitor._time import local_date, parse_instant
from monitor.day_ends import DayEnds, decode, floors_of
from monitor.desk.report_fold import ReportFold
from monitor.desk.report_topics import write_inputs
from monitor.reports import build_report
from monitor.rules.loader import default_policy
from monitor.simulate import simulate, write_simulation
from monitor.snapshots import COLUMNS, SnapshotLog, day_date, day_number
from monitor.topics import partition_for
from tests.agents.test_runtime import PARTS, TOPICS
from tests.desk.test_report_topics import published


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("months")
    policy = default_policy()
    path = base / "all.jsonl"
    write_simulation(simulate(300, 7, 29, duplicates=0.01), path)
    lines = path.read_bytes().splitlines()
    first = min(parse_instant(json.loads(x)["occurred_at"]) for x in lines)
    month = (local_date(first, policy.zone).replace(day=1) + timedelta(days=160)).replace(day=1) - timedelta(days=1)
    days = DayEnds(policy.zone, floors_of(policy)).days
    until = day_number(month) + 9  # ten days into the next month: months closed, some open days
    cut = days.start(until + 1) - 1
    stream = base / "stream.jsonl"  # what the workers have read when the desk builds: a few hours after the cut
    stream.write_bytes(b"".join(x + b"\n" for x in lines
                                if parse_instant(json.loads(x)["occurred_at"]) <= cut + 6 * 3_600_000_000))
    rows, alerts = published(stream, cut + 6 * 3_600_000_000, row_copies=2)
    return base, rows, alerts, until


def _folds(rows: list[bytes], spool: Path, keep: int = 3) -> tuple[DayEnds, DayEnds, list[int]]:
    """The rows read by the desk's fold (each on its borrower's partition of the day-ends topic) with and
    without a spool for the closed months."""
    policy = default_policy()
    whole = ReportFold(policy, TOPICS, keep_days=keep)
    closing = ReportFold(policy, TOPICS, keep_days=keep, spool=spool)
    closing.partitions = whole.partitions = set(range(PARTS))
    closed: list[int] = []
    for offset, row in enumerate(rows):
        part = partition_for(decode(row)[0], PARTS)
        whole.take(TOPICS.day_ends, part, offset, row, 0)
        closing.take(TOPICS.day_ends, part, offset, row, 0)
        base = closing.day_ends._base
        if base is not None and base.day > max(closed, default=-1):
            closed.append(base.day)
    return whole.day_ends, closing.day_ends, closed


def _decoded(log: SnapshotLog, day: int) -> dict[str, list]:
    snap = log.at(day)
    return {c: ([(log.codes[c][x] if x >= 0 else None) for x in snap.cols[c].tolist()] if c in log.codes
                else snap.cols[c].tolist()) for c, _ in COLUMNS}


def test_closed_months_on_disk_give_the_same_input_and_report(world):
    base, rows, alerts, until = world
    policy = default_policy()
    whole, closing, closed = _folds(rows, base / "spool")
    assert len(closed) >= 4 and closed[-1] < until  # months closed as the rows passed them, the last open
    assert closing.late > 0  # rows of closed days read again: dropped
    def held(fold: DayEnds) -> int:
        return len(fold._pending) + sum(c.size for c in fold._chunks)

    assert held(closing) < held(whole) / 3  # only the open days' rows in memory
    # a borrower's rows from its newest row's day on stay in memory, closed month or not (a late event)
    assert (closing.changes(until)["d"] <= closed[-1]).any()
    a = write_inputs(whole, alerts, [("x", "invalid: y")], base / "whole", until=until, policy=policy, offsets={})
    b = write_inputs(closing, alerts, [("x", "invalid: y")], base / "closing", until=until, policy=policy,
                     offsets={})
    for name in ("alerts.jsonl", "borrowers.jsonl", "schedule_history.jsonl", "rejects.jsonl", "summary.json",
                 "files.json", "snapshots/signals.jsonl"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    la, lb = SnapshotLog(a / "snapshots"), SnapshotLog(b / "snapshots")
    assert la.ids.tolist() == lb.ids.tolist() and la.checkpoint_days() == lb.checkpoint_days()
    first = min(la.checkpoint_days())
    for day in sorted({*range(until - 45, until + 1), *random.Random(3).sample(range(first - 20, until), 40)}):
        assert _decoded(la, day) == _decoded(lb, day), day_date(day)
    va, vb = la.visits(-(2**62), 2**62), lb.visits(-(2**62), 2**62)
    assert all(np.array_equal(va[k], vb[k]) for k in va) and va["at"].size > 20
    ra, rb = la.rows(first - 40, until), lb.rows(first - 40, until)
    assert all(np.array_equal(ra[k], rb[k]) for k in ra)
    for kind, day in (("month", day_date(closed[-1])), ("day", day_date(until)), ("week", day_date(until))):
        if kind == "month" and day_date(closed[-1]) > day_date(until):
            continue
        want = build_report(a, [], period=kind, as_of=day).model_dump(mode="json")  # type: ignore[arg-type]
        got = build_report(b, [], period=kind, as_of=day).model_dump(mode="json")  # type: ignore[arg-type]
        assert got == want, kind
    with pytest.raises(ValueError, match="closed"):
        write_inputs(closing, alerts, [], base / "too-old", until=closed[-1] - 3, policy=policy, offsets={})


def test_signals_judged_ahead_of_a_month_end_are_judged_again_when_rows_change_them(world):
    """The desk's fold judges every borrower's signals when a month's last day begins (before the period's end);
    the month's input then has the signals of a fold that judges them all at the build, the borrowers with rows
    read since judged again (some of whose lines changed)."""
    from monitor.engine import Engine

    _base, rows, _alerts, until = world
    policy = default_policy()
    month = until - 9  # a month end (see world)
    ahead = ReportFold(policy, TOPICS, keep_days=40)
    ahead.partitions = set(range(PARTS))
    late = DayEnds(policy.zone, floors_of(policy), keep_days=40)
    for offset, row in enumerate(rows):
        ahead.take(TOPICS.day_ends, partition_for(decode(row)[0], PARTS), offset, row, 0)
        late.add(row)
    t = late.days.start(month + 1) - 1
    judged = ahead.day_ends._judged[t]  # judged when the month's last day began
    want = late.signals(month, Engine(policy))
    got = ahead.day_ends.signals(month, Engine(policy))
    assert got == want and len(want) > 20
    assert ahead.day_ends._dirty and len(ahead.day_ends._dirty) < len(late._ids)
    lines = {json.loads(x)["borrower_id"]: x for x in want}
    ahead_lines = {bid: line for bid, line, _rules in judged.values()}
    assert ahead_lines != lines  # rows read after the judging changed some
    assert sum(ahead_lines.get(b) == x for b, x in lines.items()) > len(lines) / 2  # most held


def test_inspections_written_as_columns_in_the_order_and_codes_of_one_at_a_time(tmp_path):
    """The snapshots' inspections, written as columns, are those written one at a time: by the part's borrower,
    instant, then event id (many ties here), team codes given in that order, none after the cut."""
    from types import SimpleNamespace

    from monitor._day_ends_months import _write_visits
    from monitor.snapshots import SnapshotPart

    rnd = random.Random(3)
    visits: dict[int, dict[str, list]] = {}
    for b in rnd.sample(range(400), 300):
        for _ in range(rnd.randint(1, 8)):
            eid = f"e{rnd.randint(0, 999)}"
            visits.setdefault(b, {})[eid] = [rnd.choice([10, 20, 30, 40]), rnd.choice(["t1", "t2", None, "t3"]),
                                             rnd.randint(0, 2), rnd.randint(-1, 9), eid]
    where = np.full(400, -1, dtype=np.int64)
    where[rnd.sample(range(400), 350)] = np.arange(350)
    one = SnapshotPart(tmp_path / "one")
    for b in sorted(range(400), key=lambda b: where[b]):
        if where[b] >= 0:
            for at, team, outcome, due, _eid in sorted(visits.get(b, {}).values(), key=lambda v: (v[0], v[4])):
                if at <= 30:
                    one.visit(int(where[b]), at, one.code("team", team), outcome, due)
    cols = SnapshotPart(tmp_path / "cols")
    _write_visits(SimpleNamespace(_visits=visits), cols, where, 30)
    a, b = one.close(), cols.close()
    assert a["visits"] == b["visits"] > 300 and one.codes == cols.codes
    for name in ("borrower", "at", "team", "outcome", "due"):
        assert (tmp_path / "one" / f"visits-{name}.bin").read_bytes() == \
            (tmp_path / "cols" / f"visits-{name}.bin").read_bytes(), name
