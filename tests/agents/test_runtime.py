"""The runtime's ordering and batching logic, without Kafka: it must decide exactly what replay decides."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from monitor._time import iso
from monitor.agents.runtime import Message, Runtime, StepResult, partition_for
from monitor.engine import Engine
from monitor.replay import replay
from monitor.rules.loader import default_policy
from monitor.simulate import simulate, write_simulation
from monitor.state import dump_state
from monitor.topics import FEEDS, Topics

TOPICS = Topics("t.")
PARTS = 4


@pytest.fixture(scope="module")
def portfolio(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sim") / "events.jsonl"
    write_simulation(simulate(150, 8, 3, duplicates=0.01), path)
    return path


def _messages(path: Path, rng: random.Random) -> tuple[list[Message], int, dict[str, dict[int, int]]]:
    """Route like ``monitor produce``: sorted, per topic and partition, with seq headers; then shuffle
    the interleaving of topics the way a consumer may see it (each topic-partition stays in order)."""
    docs = [json.loads(x) for x in path.read_bytes().splitlines()]
    from monitor._time import parse_instant

    order = sorted(range(len(docs)), key=lambda i: parse_instant(docs[i]["occurred_at"]))
    queues: dict[tuple[str, int], list[Message]] = {}
    offsets: dict[tuple[str, int], int] = {}
    last = 0
    for seq, i in enumerate(order):
        d = docs[i]
        topic = TOPICS.feed(d["type"])
        p = partition_for(d["borrower_id"], PARTS)
        off = offsets.get((topic, p), 0)
        offsets[(topic, p)] = off + 1
        raw = json.dumps(d).encode()
        queues.setdefault((topic, p), []).append(Message(topic, p, off, d["borrower_id"].encode(), raw, seq,
                                                         handle=(topic, p, off)))
        last = max(last, parse_instant(d["occurred_at"]))
    out: list[Message] = []
    keys = sorted(queues)
    while keys:
        k = rng.choice(keys)
        take = rng.randint(1, 40)
        out.extend(queues[k][:take])
        del queues[k][:take]
        if not queues[k]:
            keys.remove(k)
    end = {t: {p: offsets.get((t, p), 0) for p in range(PARTS)} for t in TOPICS.inputs}
    return out, last, end


def _run(messages, last, end, clock="event", batch=97):
    store: dict[str, bytes] = {}
    engine = Engine(default_policy())
    rt = Runtime(engine, TOPICS, clock=clock, partitions=PARTS, get_state=store.get)
    alerts, acked = [], []
    for p in range(PARTS):
        rt.assign([p], [])
    for i in range(0, len(messages), batch):
        out = StepResult()
        rt.accept(messages[i:i + batch], out)
        rt.step(out)
        alerts += out.alerts
        store.update(out.states)
        acked += out.acks
    out = StepResult()
    marks = [Message(TOPICS.clock, p, 0, None, json.dumps({"at": iso(last), "offsets": {
        t: end[t][p] for t in end}}).encode()) for p in range(PARTS)]
    rt.accept(marks, out)
    rt.step(out)
    alerts += out.alerts
    store.update(out.states)
    acked += out.acks
    return alerts, store, acked, rt


def test_event_clock_stream_equals_replay_whatever_the_topic_interleaving(portfolio):
    expected = replay([portfolio], default_policy())
    for seed in (1, 2):
        messages, last, end = _messages(portfolio, random.Random(seed))
        alerts, store, acked, rt = _run(messages, last, end)
        def key(a):
            return (a.at, a.borrower_id, a.sequence)

        assert [a.model_dump_json() for a in sorted(alerts, key=key)] == \
            [a.model_dump_json() for a in expected.alerts]
        assert {b: dump_state(s) for b, s in expected.states.items()} == \
            {k: v for k, v in store.items() if not k.startswith("\x00")}
        assert sum(k.startswith("\x00watermark:") for k in store) == PARTS  # each partition's reached mark
        assert rt.buffered() == 0
        assert len([a for a in acked if a is not None]) == len(messages)  # every input acknowledged once


def test_nothing_is_released_before_every_topic_or_a_watermark_covers_it(portfolio):
    messages, last, end = _messages(portfolio, random.Random(3))
    store: dict[str, bytes] = {}
    rt = Runtime(Engine(default_policy()), TOPICS, clock="event", partitions=PARTS, get_state=store.get)
    only_bureau = [m for m in messages if m.topic == TOPICS.feed("bureau_report")]
    out = StepResult()
    rt.accept(only_bureau, out)
    rt.step(out)
    assert out.acks == [] and out.alerts == [] and rt.buffered() == len(only_bureau)


def test_partitioner_is_kafkas_default_partitioner():
    """The worker's partitions are those of Kafka's Java client (kafka-python's partitioner is an
    independent implementation of it): producers and the worker agree on a borrower's partition."""
    from kafka.partitioner.default import murmur2

    from monitor.topics import partition_for as ours

    rng = random.Random(9)
    for n in range(3000):
        key = "".join(chr(rng.randrange(32, 0x3000)) for _ in range(n % 23))
        count = rng.randrange(1, 65)
        assert ours(key, count) == (murmur2(key.encode()) & 0x7FFFFFFF) % count, (key, count)


def test_bad_messages_go_to_dead_letter_and_are_acknowledged():
    store: dict[str, bytes] = {}
    rt = Runtime(Engine(default_policy()), TOPICS, clock="wall", partitions=PARTS, get_state=store.get,
                 max_message_bytes=2000)
    good = {"type": "overdue", "event_id": "e1", "borrower_id": "B1", "occurred_at": "2025-01-01T00:00:00Z",
            "account_id": "a", "product": "p", "days_past_due": 3, "overdue_amount": 1}
    p = partition_for("B1", PARTS)
    ov = TOPICS.feed("overdue")
    cases = [
        (b"{oops", "not JSON"),
        (json.dumps({**good, "type": "foo"}).encode(), "type: unknown event type 'foo'"),
        (json.dumps({**good, "days_past_due": -2}).encode(), "days_past_due: must be >= 0"),
        (json.dumps({**good, "product": "x" * 5000}).encode(), "larger than 2000"),
        (json.dumps({"type": "rating_change", "event_id": "r", "borrower_id": "B1",
                     "occurred_at": "2025-01-01T00:00:00Z", "old_grade": "A", "new_grade": "B"}).encode(),
         "type: rating_change does not belong on t.overdue-events"),
        (b"\xff\xfe\x00", "not JSON"),
    ]
    msgs = [Message(ov, p, i, b"B1", raw, handle=i) for i, (raw, _) in enumerate(cases)]
    msgs.append(Message(ov, p, 99, b"B1", json.dumps(good).encode(), handle=99))
    out = StepResult()
    rt.accept(msgs, out)
    rt.step(out)
    assert [r in d.reason for d, (_, r) in zip(out.dead, cases)] == [True] * len(cases), [d.reason for d in out.dead]
    assert out.dead[3].truncated and out.dead[3].value_bytes > 5000
    assert out.dead[5].value_base64 is not None
    assert sorted(out.acks) == list(range(len(cases))) + [99]
    assert out.outcomes["applied"] == 1 and "B1" in out.states


def test_wall_clock_settles_time_driven_changes_on_tick():
    store: dict[str, bytes] = {}
    rt = Runtime(Engine(default_policy()), TOPICS, clock="wall", partitions=PARTS, get_state=store.get)
    prof = {"type": "loan_profile", "event_id": "p", "borrower_id": "B1", "occurred_at": "2025-01-01T00:00:00Z",
            "segment": "small", "industry": "x", "branch": "b", "team": "t", "exposure": 1e6, "product": "p",
            "mitigation": "secured", "grade": "A", "disbursed_at": "2025-01-01T00:00:00Z"}
    ovd = {"type": "overdue", "event_id": "o", "borrower_id": "B1", "occurred_at": "2025-01-02T00:00:00Z",
           "account_id": "a", "product": "p", "days_past_due": 85, "overdue_amount": 1}
    p = partition_for("B1", PARTS)
    out = StepResult()
    rt.accept([Message(TOPICS.feed("loan_profile"), p, 0, b"B1", json.dumps(prof).encode()),
               Message(TOPICS.feed("overdue"), p, 0, b"B1", json.dumps(ovd).encode())], out)
    rt.step(out)
    store.update(out.states)
    assert [a.to_tier for a in out.alerts] == ["watch"]
    from monitor._time import parse_instant

    tick = StepResult()
    rt.step(tick, wall_now=parse_instant("2025-01-07T00:00:00Z"))  # 85 + 5 days = 90: severe
    assert [(a.to_tier, a.at.isoformat()) for a in tick.alerts] == [("severe", "2025-01-07T00:00:00+00:00")]
    assert tick.time_driven == 1 and "B1" in tick.schedules
    assert FEEDS  # the topic map is what the router uses


def test_reached_watermark_survives_a_rebalance_through_the_table(portfolio):
    """After a rebalance the events a watermark covered may be read again while the watermark itself,
    already acknowledged, is not: the reached instant kept in the table releases them."""
    messages, last, end = _messages(portfolio, random.Random(4))
    alerts, store, acked, rt = _run(messages, last, end)
    fresh = Runtime(Engine(default_policy()), TOPICS, clock="event", partitions=PARTS, get_state=store.get)
    fresh.assign(range(PARTS), sorted(store.items()))
    out = StepResult()
    again = [m for m in messages if m.topic == TOPICS.feed("overdue")][-20:]  # read again, nothing else
    for p in range(PARTS):  # the consumer starts at the committed offsets
        for t in TOPICS.inputs:
            start = min([m.offset for m in again if m.partition == p and m.topic == t], default=end[t][p])
            fresh.note_position(p, t, start)
    fresh.accept(again[:-1], out)
    fresh.step(out)
    assert len([a for a in out.acks if a is not None]) < len(again)  # not all read yet: held back
    fresh.accept(again[-1:], out)
    fresh.step(out)
    assert fresh.buffered() == 0 and len([a for a in out.acks if a is not None]) == len(again)
    assert out.outcomes["duplicate"] + out.outcomes["stale"] == len(again) and out.alerts == []


def test_events_read_again_after_a_crash_are_still_merged_in_event_time_order(portfolio):
    """A crash after the watermark was reached and kept, but before the states of all borrowers reached
    the changelog (and before the offsets were committed): the events are read again, one feed after
    another, and must still be applied in event-time order, as ``monitor replay`` applies them."""
    expected = replay([portfolio], default_policy())
    messages, last, end = _messages(portfolio, random.Random(6))
    _, store, _, _ = _run(messages, last, end)
    survived = {k: v for k, v in store.items() if k.startswith("\x00") or hash(k) % 3 == 0}
    lost = {k for k in store if k not in survived}
    fresh = Runtime(Engine(default_policy()), TOPICS, clock="event", partitions=PARTS, get_state=survived.get)
    fresh.assign(range(PARTS), sorted(survived.items()))
    by_feed = sorted(messages, key=lambda m: (TOPICS.inputs[::-1].index(m.topic), m.partition, m.offset))
    alerts = []
    for i in range(0, len(by_feed), 200):  # nothing committed: everything is read again, feed by feed
        out = StepResult()
        fresh.accept(by_feed[i:i + 200], out)
        fresh.step(out)
        alerts += out.alerts
        survived.update(out.states)
    assert fresh.buffered() == 0
    want = [a.model_dump_json() for a in expected.alerts if a.borrower_id in lost]
    got = sorted(alerts, key=lambda a: (a.at, a.borrower_id, a.sequence))
    assert [a.model_dump_json() for a in got if a.borrower_id in lost] == want
    for bid in lost:
        assert survived[bid] == dump_state(expected.states[bid])


def test_watermarks_are_acknowledged_at_once_on_the_wall_clock():
    rt = Runtime(Engine(default_policy()), TOPICS, clock="wall", partitions=PARTS, get_state={}.get)
    out = StepResult()
    mark = Message(TOPICS.clock, 0, 0, None, b'{"at": "2025-01-01T00:00:00Z", "offsets": {}}', handle="h")
    rt.accept([mark], out)
    assert out.acks == ["h"] and rt.buffered() == 0


def test_a_silent_overrides_feed_does_not_hold_event_time_back(portfolio):
    """Overrides come by hand through the desk and may be silent for months: the data feeds alone pace
    the event clock, so without any watermark events are released as soon as every data feed has
    shown a later one."""
    messages, last, end = _messages(portfolio, random.Random(8))
    assert not any(m.topic == TOPICS.feed("tier_override") for m in messages)
    store: dict[str, bytes] = {}
    rt = Runtime(Engine(default_policy()), TOPICS, clock="event", partitions=PARTS, get_state=store.get)
    rt.assign(range(PARTS), [])
    out = StepResult()
    rt.accept(messages, out)
    rt.step(out)
    expected = replay([portfolio], default_policy())
    assert out.alerts and len(out.alerts) < len(expected.alerts)  # all but the tail of each partition
    want = {a.alert_id: a.model_dump_json() for a in expected.alerts}
    assert all(want[a.alert_id] == a.model_dump_json() for a in out.alerts)


def test_a_classification_floor_crossed_as_days_pass_reaches_the_borrower_detail():
    """Issue 12: the desk showed "substandard" for a borrower whose overdue days had since crossed the
    "doubtful" floor: the detail was published only when the tier changed. The crossing is a
    time-driven change of its own now; the wall-clock tick after it publishes the detail as of it."""
    from monitor._time import parse_instant

    store: dict[str, bytes] = {}
    rt = Runtime(Engine(default_policy()), TOPICS, clock="wall", partitions=PARTS, get_state=store.get)
    p = partition_for("B1", PARTS)
    prof = {"type": "loan_profile", "event_id": "p", "borrower_id": "B1", "occurred_at": "2025-01-01T00:00:00Z",
            "segment": "small", "industry": "x", "branch": "b", "team": "t", "exposure": 1e6, "product": "p",
            "mitigation": "secured", "grade": "A", "disbursed_at": "2025-01-01T00:00:00Z"}
    ovd = {"type": "overdue", "event_id": "o", "borrower_id": "B1", "occurred_at": "2025-02-01T00:00:00Z",
           "account_id": "a", "product": "p", "days_past_due": 95, "overdue_amount": 1}
    out = StepResult()
    rt.accept([Message(TOPICS.feed("loan_profile"), p, 0, b"B1", json.dumps(prof).encode()),
               Message(TOPICS.feed("overdue"), p, 0, b"B1", json.dumps(ovd).encode())], out)
    rt.step(out, parse_instant("2025-02-01T00:00:00Z"))
    store.update(out.states)
    assert out.details["B1"].min_classification == "substandard"
    policy = default_policy()
    doubtful_at = parse_instant("2025-02-01T00:00:00Z") + (policy.classification.doubtful - 95) * 86_400_000_000
    before = StepResult()
    rt.step(before, doubtful_at - 1)
    assert "B1" not in before.details or before.details["B1"].min_classification == "substandard"
    tick = StepResult()
    rt.step(tick, doubtful_at + 3_600_000_000)  # the first tick after the crossing
    detail = tick.details["B1"]
    assert detail.min_classification == "doubtful"
    assert detail.highest_dpd == policy.classification.doubtful
    assert detail.as_of is not None and int(detail.as_of.timestamp() * 1_000_000) == doubtful_at


def test_the_state_summary_reads_what_the_whole_state_holds(portfolio):
    """A restart reads each borrower's wake-up, tier and exposure with summarize(), without building the
    state: it must agree with the state itself, for every borrower of a portfolio."""
    from monitor.agents.runtime import summarize
    from monitor.state import load_state

    result = replay([portfolio], default_policy())
    assert any(s.wake is not None for s in result.states.values()) and any(s.tier for s in result.states.values())
    for state in result.states.values():
        blob = dump_state(state)
        full = load_state(blob)
        assert summarize(blob) == (full.wake, full.tier, full.profile.exposure if full.profile else None)
