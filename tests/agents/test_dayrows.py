"""The runtime's day-end rows, without Kafka: folded, they are ``monitor replay``'s snapshot change rows,
whatever the batching (one huge step settles months of wake-ups at once: they must still be settled and
recorded day by day)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from monitor._time import iso
from monitor.agents.runtime import Message, Runtime, StepResult
from monitor.day_ends import (
    FIELDS,
    DayEnds,
    decode,
    encode,
    floor_days,
    floors_of,
    messages,
)
from monitor.engine import Engine
from monitor.replay import replay
from monitor.rules.loader import default_policy
from monitor.simulate import simulate, write_simulation
from monitor.snapshots import (
    COLUMNS,
    NONE,
    Days,
    SnapshotLog,
    day_number,
)
from monitor.state import dump_state
from tests.agents.test_runtime import PARTS, TOPICS, _messages
from tests.integration.test_day_ends import _replay_rows, check_history, check_signals, check_snapshots


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> tuple[Path, Any, SnapshotLog]:
    base = tmp_path_factory.mktemp("rows")
    path = base / "events.jsonl"
    write_simulation(simulate(150, 8, 5, duplicates=0.01), path)
    result = replay([path], default_policy(), snapshots=base / "snapshots")
    return path, result, SnapshotLog(base / "snapshots")


def _stream(messages: list[Message], last: int, end: dict[str, dict[int, int]], batch: int) -> tuple[DayEnds, dict]:
    policy = default_policy()
    store: dict[str, bytes] = {}
    rt = Runtime(Engine(policy), TOPICS, clock="event", partitions=PARTS, get_state=store.get)
    rt.assign(range(PARTS), [])
    fold = DayEnds(policy.zone, floors_of(policy))
    marks = [Message(TOPICS.clock, p, 0, None, json.dumps({"at": iso(last), "offsets": {
        t: end[t][p] for t in end}}).encode()) for p in range(PARTS)]
    chunks = [messages[i:i + batch] for i in range(0, len(messages), batch)] + [marks]
    for chunk in chunks:
        out = StepResult()
        rt.accept(chunk, out)
        rt.step(out)
        store.update(out.states)
        for _bid, row in out.day_ends:
            fold.add(row)
    return fold, store


@pytest.mark.parametrize("batch", [61, 1_000_000])
def test_folded_rows_are_the_replays_change_rows_whatever_the_batching(history, batch, tmp_path):
    path, result, log = history
    messages, last, end = _messages(path, random.Random(batch))
    fold, store = _stream(messages, last, end, batch)
    until = log.last_day - 1  # type: ignore[operator]
    want = _replay_rows(log, until)
    got = {b: rows for b in fold.borrowers() if (rows := fold.rows(b, until))}
    assert got.keys() == want.keys()
    for bid in want:
        assert got[bid] == want[bid], bid
    assert sum(len(r) for r in want.values()) > 1000
    check_history(fold, result, until)
    check_signals(fold, path, until, tmp_path / "replay")
    # and the states are still exactly the replay's (the day-by-day settling changes no decision)
    assert {b: dump_state(s) for b, s in result.states.items()} == \
        {k: v for k, v in store.items() if not k.startswith("\x00")}


def test_the_folded_rows_written_as_snapshots_read_as_the_replays_on_every_day(history, tmp_path):
    """What the report reads (monitor.snapshots.SnapshotLog): every borrower's record at month ends and at
    other days, the inspections, the events per feed and day, from the rows the worker published."""
    path, _result, log = history
    messages, last, end = _messages(path, random.Random(4))
    fold, _store = _stream(messages, last, end, 233)
    check_snapshots(fold, log, tmp_path / "snapshots")


def _event(i: int, typ: str, bid: str, at: str, **fields: Any) -> str:
    return json.dumps({"event_id": f"h-{i}", "type": typ, "borrower_id": bid, "occurred_at": at,
                       "source": "test", **fields}, ensure_ascii=False)


def test_months_of_wake_ups_settled_in_one_step_get_a_row_each_day_they_change_the_record(tmp_path):
    """Accounts past due with no event for months: the tier rises through the DPD bands and the floor
    through substandard, each on its own day, all settled by one step at the next event's watermark."""
    lines = []
    for k, bid in enumerate(("H1", "H2", "H3")):
        lines.append(_event(10 * k, "loan_profile", bid, "2025-01-01T09:00:00+08:00", segment="small",
                            industry="manufacturing", branch="wuhan", team="wuhan-1", exposure=1_000_000.0 * (k + 1),
                            grade="BB", product="working_capital", mitigation="secured",
                            disbursed_at="2024-06-01T00:00:00+08:00", name=f"测试公司{k}"))
        lines.append(_event(10 * k + 1, "overdue", bid, f"2025-01-0{k + 2}T10:00:00+08:00", account_id=f"{bid}-A",
                            product="working_capital", days_past_due=1 + 20 * k, overdue_amount=5000.0))
        lines.append(_event(10 * k + 2, "rating_change", bid, "2025-09-01T12:00:00+08:00", old_grade="BB",
                            new_grade="B"))
    path = tmp_path / "events.jsonl"
    path.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    result = replay([path], default_policy(), snapshots=tmp_path / "snapshots")
    log = SnapshotLog(tmp_path / "snapshots")
    messages, last, end = _messages(path, random.Random(1))
    fold, store = _stream(messages, last, end, 1_000_000)
    until = log.last_day - 1  # type: ignore[operator]
    want = _replay_rows(log, until)
    assert not result.rejects and all(len(rows) >= 5 for rows in want.values())  # several wake-up days each
    assert {b: fold.rows(b, until) for b in fold.borrowers()} == want
    check_history(fold, result, until, least=9)  # wake-ups settled in one step dated as the replay dates them
    assert {b: dump_state(s) for b, s in result.states.items()} == \
        {k: v for k, v in store.items() if not k.startswith("\x00")}


def _rec(**values: Any) -> list[Any]:
    base = dict.fromkeys(FIELDS, 0) | {"segment": None, "industry": None, "branch": "b", "team": "t",
                                       "product": None, "mitigation": "m", "tier_since": NONE}
    base.update(values)
    return [base[c] for c in FIELDS]


def test_a_floor_crossed_with_no_event_gets_its_own_row_on_the_right_day():
    policy = default_policy()
    floors = floors_of(policy)  # special mention 1, substandard 91, doubtful 271, loss 361
    days = Days(policy.zone)
    day0 = day_number(__import__("datetime").date(2025, 3, 1))
    at = days.start(day0) + 3_600_000_000  # 01:00 local on day0: 80 days past due
    rec = _rec(tier=1, overdue=1, cls=1, dpd=80, dpd_at=at)
    # 91 days past due 11 days later, at 01:00: that day's end holds substandard; doubtful 180 days after
    assert floor_days(rec, day0, day0 + 400, days, floors) == [(day0 + 11, 2), (day0 + 191, 3), (day0 + 281, 4)]
    assert floor_days(rec, day0, day0 + 10, days, floors) == []
    assert floor_days(_rec(tier=1, overdue=0, dpd=0, dpd_at=NONE), day0, day0 + 400, days, floors) == []
    fold = DayEnds(policy.zone, floors)
    fold.add(encode("B", day0, rec, {"n": "某某公司", "s": at - 5, "f": at - 4}))
    fold.add(encode("B", day0 + 20, _rec(tier=2, overdue=1, cls=2, dpd=100, dpd_at=at + 20 * 86_400_000_000), None))
    rows = fold.rows("B", day0 + 30)
    names = [c for c, _ in COLUMNS]
    assert [d for d, _ in rows] == [day0, day0 + 11, day0 + 20]
    assert [r[names.index("cls")] for _, r in rows] == [1, 2, 2]
    assert {r[names.index("name")] for _, r in rows} == {"某某公司"}  # carried forward
    assert {(r[names.index("seen_at")], r[names.index("first_seen")]) for _, r in rows} == {(at - 5, at - 4)}


def test_a_row_published_again_unchanged_is_one_change_and_the_last_of_a_day_holds():
    policy = default_policy()
    fold = DayEnds(policy.zone, floors_of(policy))
    fold.add(encode("B", 100, _rec(tier=0), {"s": 1}))
    fold.add(encode("B", 101, _rec(tier=0), None))  # unchanged: no change row
    fold.add(encode("B", 102, _rec(tier=1), None))
    fold.add(encode("B", 102, _rec(tier=2), None))  # the same day again: the last holds
    assert [(d, r[0]) for d, r in fold.rows("B", 200)] == [(100, 0), (102, 2)]


@pytest.mark.parametrize("value", [b"{oops", b"[]", b'{"d": 1}', b'{"b": "B", "d": "x", "r": []}',
                                   b'{"b": "B", "d": 1, "r": [1]}', b'{"d": 1, "r": []}'])
def test_a_value_that_is_not_a_day_end_row_is_refused_clearly(value):
    with pytest.raises(ValueError, match="not a day-end row|Expecting|JSON"):
        decode(value)


def test_rows_go_out_as_few_records_of_bounded_size_and_come_back_whole():
    rows = [encode(f"B{i}", 100 + i % 3, _rec(tier=i % 4), {"n": "名" * (i % 7)}) for i in range(500)]
    values = messages(rows, limit=4096)
    assert len(values) > 10 and all(len(v) <= 4096 for v in values)
    assert b"\n".join(values).split(b"\n") == rows
    policy = default_policy()
    one, many = DayEnds(policy.zone, floors_of(policy)), DayEnds(policy.zone, floors_of(policy))
    for row in rows:
        one.add(row)
    for v in values:
        many.add_message(v)
    assert [one.rows(b, 200) for b in one.borrowers()] == [many.rows(b, 200) for b in many.borrowers()]
    assert messages([b"x" * 5000], limit=4096) == [b"x" * 5000]  # a row longer than the limit goes alone


def test_the_fold_keeps_a_row_in_about_a_hundred_bytes():
    """The desk folds a month of a million borrowers' rows as they arrive: each row kept as numpy columns
    (texts as codes), not as Python objects (about 0.9 KB a row before)."""
    import tracemalloc

    policy = default_policy()
    fold = DayEnds(policy.zone, floors_of(policy))
    rows = [encode(f"B{i % 4000:05d}", 20_000 + i // 4000, _rec(tier=i % 4, exposure=i, alerts=i % 7,
                                                               branch=f"支行{i % 30}", tier_since=i), None)
            for i in range(120_000)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for row in rows:
            fold.add(row)
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept / len(rows) < 160, f"{kept / len(rows):.0f} B a row"
    got = fold.rows("B00007", 20_100)
    assert [d for d, _ in got] == list(range(20_000, 20_030))  # every day differs (exposure, tier_since)
    assert got[3][1][[c for c, _ in COLUMNS].index("branch")] == f"支行{(3 * 4000 + 7) % 30}"


def test_the_schedule_history_is_the_replays_when_wake_ups_are_settled_before_their_days_events(history, tmp_path):
    """Every message followed by a watermark at its instant, one message a step: each wake-up is settled as
    soon as the time passes it, often in a step before a later event of its day, which the replay applies
    with the wake-up (one entry, dated by the event). The folded schedule history is still the replay's."""
    path, result, log = history
    messages, last, end = _messages(path, random.Random(3))
    messages.sort(key=lambda m: m.seq)  # produced order: event time
    policy = default_policy()
    store: dict[str, bytes] = {}
    rt = Runtime(Engine(policy), TOPICS, clock="event", partitions=PARTS, get_state=store.get,
                 future_skew=1 << 60)  # quiet weeks between a partition's events: no refusal
    rt.assign(range(PARTS), [])
    fold = DayEnds(policy.zone, floors_of(policy))
    position: dict[str, dict[int, int]] = {t: dict.fromkeys(range(PARTS), 0) for t in TOPICS.inputs}
    for m in [*messages, None]:
        batch = []
        if m is not None:
            batch.append(m)
            position[m.topic][m.partition] = m.offset + 1
            at = json.loads(m.value)["occurred_at"]
        else:
            at = iso(last)
        batch += [Message(TOPICS.clock, p, 0, None, json.dumps({"at": at, "offsets": {
            t: position[t][p] for t in position}}).encode()) for p in range(PARTS)]
        out = StepResult()
        rt.accept(batch, out)
        rt.step(out)
        store.update(out.states)
        assert not out.dead
        for _bid, row in out.day_ends:
            fold.add(row)
    until = log.last_day - 1  # type: ignore[operator]
    check_history(fold, result, until)
    check_signals(fold, path, until, tmp_path / "replay")
    assert {b: dump_state(s) for b, s in result.states.items()} == \
        {k: v for k, v in store.items() if not k.startswith("\x00")}
