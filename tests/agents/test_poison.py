"""No single message stops the runtime: poison events, future dates, keyless messages, bad watermarks.

Each case runs a real Runtime over a real Engine. An unexpected error of the engine is provoked with
a subclass that raises on one event id (no such bug is known in the engine; the runtime must survive
the next one), and with the real engine on the dates that once crash-looped every worker.
"""

from __future__ import annotations

import json
from datetime import timedelta

from monitor._time import DAY, parse_instant, to_us
from monitor.agents.runtime import Message, Runtime, StepResult, partition_for
from monitor.engine import Engine
from monitor.events import Event
from monitor.replay import replay_events, ReplayResult
from monitor.rules.loader import default_policy
from monitor.state import dump_state, load_state
from monitor.topics import Topics
from tests.factories import T0, at, bureau, overdue, profile, rating

TOPICS = Topics("t.")
PARTS = 2
WALL = to_us(T0 + timedelta(days=400))  # the wall clock of these tests: after every event


class Boom(Exception):
    pass


class FlakyEngine(Engine):
    """The real engine, except that applying ``poison`` raises after it has changed the state (as a bug
    half way through would), and ``transient`` raises only the first time."""

    __slots__ = ("poison", "transient", "seen")

    def __init__(self, poison: set[str] = frozenset(), transient: set[str] = frozenset()) -> None:
        super().__init__(default_policy())
        self.poison = set(poison)
        self.transient = set(transient)
        self.seen: set[str] = set()

    def apply(self, state, event, t=None):  # type: ignore[no-untyped-def]
        step = super().apply(state, event, t)
        if event.event_id in self.poison:
            raise Boom(f"cannot apply {event.event_id}")
        if event.event_id in self.transient and event.event_id not in self.seen:
            self.seen.add(event.event_id)
            raise Boom("once")
        return step


class DetailEngine(Engine):
    """Fails to build the borrower page of any borrower that holds event ``poison`` (an output error)."""

    __slots__ = ("poison",)

    def __init__(self, poison: str) -> None:
        super().__init__(default_policy())
        self.poison = poison

    def detail(self, state):  # type: ignore[no-untyped-def]
        if self.poison in state.seen:
            raise OverflowError("date value out of range")
        return super().detail(state)


def _message(event: Event, offset: int, *, key: bytes | None | str = "auto") -> Message:
    bid = event.borrower_id
    return Message(TOPICS.feed(event.type), partition_for(bid, PARTS), offset,
                   bid.encode() if key == "auto" else key, event.model_dump_json().encode(),
                   handle=(TOPICS.feed(event.type), offset))


def _runtime(engine: Engine, store: dict[str, bytes], clock: str = "wall") -> Runtime:
    rt = Runtime(engine, TOPICS, clock=clock, partitions=PARTS, get_state=store.get)
    rt.assign(range(PARTS), [])
    return rt


def _batch(rt: Runtime, store: dict[str, bytes], messages: list[Message], now: int = WALL) -> StepResult:
    out = StepResult()
    rt.accept(messages, out, now=now)
    rt.step(out, now if rt.clock == "wall" else None)
    store.update(out.states)
    return out


def _expected(events: list[Event], as_of: int) -> dict[str, bytes]:
    result = ReplayResult(as_of=as_of)
    replay_events(Engine(default_policy()), [(to_us(e.occurred_at), e) for e in events], as_of, result)
    return {b: dump_state(s) for b, s in result.states.items()}


def _events() -> tuple[list[Event], Event]:
    good = [profile(T0, bid="B1", eid="p1"), profile(T0, bid="B2", eid="p2"),
            rating(at(10), "BBB", "BB", bid="B1", eid="r1"), overdue(at(20), 35, bid="B1", eid="o1"),
            overdue(at(21), 5, bid="B2", eid="o2")]
    poison = bureau(at(15), dpd=3, bid="B1", eid="bad")
    return good, poison


def test_an_event_the_engine_fails_on_twice_is_dead_lettered_and_the_rest_applied():
    good, poison = _events()
    msgs = [_message(e, i) for i, e in enumerate([good[0], good[1], good[2], poison, good[3], good[4]])]
    store: dict[str, bytes] = {}
    rt = _runtime(FlakyEngine(poison={"bad"}), store)
    out = _batch(rt, store, msgs)
    assert [d.reason.split(":")[0] for d in out.dead] == ["processing failed twice"]
    assert "Boom: cannot apply bad" in out.dead[0].reason
    assert (out.dead[0].offset, out.dead[0].key) == (3, "B1")
    assert json.loads(out.dead[0].value_text)["event_id"] == "bad"  # the message as it was read
    assert sorted(out.acks) == sorted(m.handle for m in msgs)  # every message finished, none held
    # the state was half changed when the engine raised; it is rebuilt as if the event never came
    expected = _expected(good, WALL)
    assert {b: store[b] for b in expected} == expected
    # and the runtime carries on with the next batch
    later = _batch(rt, store, [_message(overdue(at(399), 0, bid="B1", eid="o3"), 6)])
    assert later.dead == [] and later.outcomes["applied"] == 1


def test_an_error_that_does_not_repeat_dead_letters_nothing():
    good, _ = _events()
    store: dict[str, bytes] = {}
    rt = _runtime(FlakyEngine(transient={"r1"}), store)
    out = _batch(rt, store, [_message(e, i) for i, e in enumerate(good)])
    assert out.dead == []
    expected = _expected(good, WALL)
    assert {b: store[b] for b in expected} == expected


def test_an_event_whose_outputs_cannot_be_built_is_dead_lettered_and_the_borrowers_later_events_kept():
    good, poison = _events()
    store: dict[str, bytes] = {}
    rt = _runtime(DetailEngine("bad"), store)
    msgs = [_message(e, i) for i, e in enumerate([good[0], good[1], good[2], poison, good[3], good[4]])]
    out = _batch(rt, store, msgs)
    assert len(out.dead) == 1 and out.dead[0].offset == 3
    assert "OverflowError: date value out of range" in out.dead[0].reason
    expected = _expected(good, WALL)
    assert {b: store[b] for b in expected} == expected  # o1, after the poison, is applied all the same
    assert set(out.details) == {"B1", "B2"}
    assert [a.borrower_id for a in out.alerts].count("B1") == len(
        [a for a in _alerts(good, WALL) if a.borrower_id == "B1"])


def _alerts(events: list[Event], as_of: int):  # type: ignore[no-untyped-def]
    result = ReplayResult(as_of=as_of)
    replay_events(Engine(default_policy()), [(to_us(e.occurred_at), e) for e in events], as_of, result)
    return result.alerts


def test_a_profile_dated_at_the_end_of_time_never_stops_the_runtime():
    """The crash-loop of issue 12: a loan disbursed 9999-12-31. Whatever the contract makes of it (a
    reject, or an event whose first visit cannot be dated), it is dead-lettered and the rest goes on."""
    good, _ = _events()
    doc = json.loads(profile(T0, bid="B3", eid="p3").model_dump_json())
    doc["disbursed_at"] = "9999-12-31T00:00:00+00:00"
    raw = json.dumps(doc).encode()
    bad = Message(TOPICS.feed("loan_profile"), partition_for("B3", PARTS), 99, b"B3", raw, handle="bad")
    store: dict[str, bytes] = {}
    rt = _runtime(Engine(default_policy()), store)
    out = _batch(rt, store, [_message(e, i) for i, e in enumerate(good[:3])] + [bad]
                 + [_message(e, i + 3) for i, e in enumerate(good[3:])])
    assert [d.offset for d in out.dead] == [99] and out.dead[0].key == "B3"
    assert "bad" in out.acks and "B3" not in out.states and "B3" not in out.details  # nothing kept of B3
    expected = _expected(good, WALL)
    assert {b: store[b] for b in expected} == expected


def test_future_dated_events_are_refused_on_the_wall_clock_and_do_not_silence_the_borrower():
    store: dict[str, bytes] = {}
    rt = _runtime(Engine(default_policy()), store)
    now = to_us(at(30))
    first = _batch(rt, store, [_message(profile(T0, eid="p"), 0),
                               _message(bureau(at(30, hours=23), dpd=0, eid="soon"), 1),  # within a day: fine
                               _message(bureau(T0.replace(year=2199), dpd=0, eid="far"), 2)], now=now)
    assert [d.offset for d in first.dead] == [2]
    assert first.dead[0].reason.startswith("future: 2199-01-01T00:00:00Z is more than 1 day ahead of the wall "
                                           "clock")
    assert first.outcomes["applied"] == 2
    later = _batch(rt, store, [_message(overdue(at(125), 95, eid="o"), 3)], now=to_us(at(125)))
    assert later.dead == [] and [a.to_tier for a in later.alerts] == ["severe"]


def test_future_dated_events_are_refused_on_the_event_clock_and_hold_no_commit_back():
    store: dict[str, bytes] = {}
    rt = _runtime(Engine(default_policy()), store, clock="event")
    p = partition_for("B1", PARTS)
    far = _message(bureau(T0.replace(year=2199), eid="far"), 0)
    out = _batch(rt, store, [far, _message(profile(T0, eid="p"), 0)], now=to_us(at(1)))
    assert [(d.topic, d.offset) for d in out.dead] == [(TOPICS.feed("bureau_report"), 0)]
    assert far.handle in out.acks  # finished at once: the partition's commit is not held behind it
    mark = Message(TOPICS.clock, p, 0, None, json.dumps(
        {"at": at(1).isoformat(), "offsets": {TOPICS.feed("loan_profile"): 1}}).encode(), handle="w")
    out = _batch(rt, store, [mark], now=to_us(at(1)))
    assert out.outcomes["applied"] == 1 and rt.buffered() == 0
    # a skew of its own: with no wall clock given the reached watermark is the newest trusted time
    tight = Runtime(Engine(default_policy()), TOPICS, clock="event", partitions=PARTS, get_state={}.get,
                    future_skew=DAY // 24)
    tight.assign(range(PARTS), [])
    out = StepResult()
    tight.accept([Message(TOPICS.clock, p, 0, None, json.dumps({"at": at(1).isoformat(), "offsets": {}}).encode())],
                 out)
    tight.step(out)
    out = StepResult()
    tight.accept([_message(bureau(at(1, hours=2), eid="b2"), 5)], out)
    assert out.dead[0].reason.endswith("more than 1 h ahead of the partition's reached watermark "
                                       "(2025-01-02T00:00:00Z)")


def test_a_message_without_a_key_is_refused_wherever_it_landed():
    store: dict[str, bytes] = {}
    rt = _runtime(Engine(default_policy()), store)
    ev = profile(T0, bid="B1", eid="p")
    right = partition_for("B1", PARTS)
    out = _batch(rt, store, [
        Message(TOPICS.feed("loan_profile"), right, 0, None, ev.model_dump_json().encode(), handle=0),
        Message(TOPICS.feed("loan_profile"), 1 - right, 0, None, ev.model_dump_json().encode(), handle=1)])
    assert [d.reason for d in out.dead] == [
        "no key: messages on t.profiles must be keyed by borrower_id ('B1')"] * 2
    assert store == {}


def test_bad_watermarks_are_dead_lettered_and_never_hold_later_ones_back():
    store: dict[str, bytes] = {}
    rt = _runtime(Engine(default_policy()), store, clock="event")
    prof = TOPICS.feed("loan_profile")
    p = partition_for("B1", PARTS)
    events = [_message(profile(T0, eid="p"), 0), _message(overdue(at(40), 35, eid="o"), 0)]

    def mark(offset: int, when: str, offsets: dict[str, int]) -> Message:
        return Message(TOPICS.clock, p, offset, None, json.dumps({"at": when, "offsets": offsets}).encode(),
                       handle=("clock", offset))

    now = to_us(at(100))
    out = _batch(rt, store, events + [
        mark(0, at(50).isoformat(), {"t.nowhere": 3}),                       # an unknown topic
        mark(1, "9999-01-01T00:00:00Z", {prof: 1}),                          # the end of time
        mark(2, at(60).isoformat(), {prof: 7}),                              # offsets never read
        mark(3, at(70).isoformat(), {prof: 1, TOPICS.feed("overdue"): 1}),   # a good one, after them
    ], now=now)
    reasons = [d.reason for d in out.dead]
    assert reasons[0] == "watermark: names topics that are not input feeds: t.nowhere"
    assert reasons[1].startswith("watermark: future: 9999-01-01T00:00:00Z is more than 1 day ahead")
    assert len(reasons) == 2
    assert out.outcomes["applied"] == 2 and rt.buffered() == 0  # released by the good watermark
    assert {("clock", 0), ("clock", 1), ("clock", 2), ("clock", 3)} <= set(out.acks)
    assert json.loads(store[next(k for k in store if k.startswith("\x00watermark:"))])["covered"] == \
        parse_instant(at(70).isoformat())


def test_a_duplicate_event_id_with_other_content_is_dead_lettered_as_a_conflicting_duplicate():
    store: dict[str, bytes] = {}
    rt = _runtime(Engine(default_policy()), store)
    original = bureau(at(10), dpd=0, debt=1000.0, eid="b1")
    copy = bureau(at(10), dpd=0, debt=1000.0, eid="b1")  # the same event again: a plain duplicate
    other = bureau(at(10, hours=1), dpd=0, debt=9_000_000.0, eid="b1")  # same id, other content
    out = _batch(rt, store, [_message(profile(T0, eid="p"), 0), _message(original, 1)], now=to_us(at(20)))
    assert out.dead == []
    before = store["B1"]
    out = _batch(rt, store, [_message(copy, 2), _message(other, 3)], now=to_us(at(20)))
    assert [(d.offset, d.reason) for d in out.dead] == [
        (3, "conflicting duplicate: an event with this event_id and other content was applied earlier")]
    assert out.outcomes["duplicate"] == 1 and out.outcomes["conflicting_duplicate"] == 1
    assert load_state(store["B1"]).bureau == load_state(before).bureau  # the first one stands
