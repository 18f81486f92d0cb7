"""The streaming runtime's logic, without Faust: buffering, event-time order, batching, wake-ups.

The worker shell (``monitor.agents.app``) is thin: it hands each batch of
Kafka messages to :class:`Runtime`, publishes what comes back, waits for the
broker to acknowledge it, writes the borrower states to the table (and so to
its changelog), and only then acknowledges the input messages (the ``acks``
of a step; the shell commits up to the first unacknowledged offset). A crash at any
point therefore replays inputs onto a state that either lacks them (the same
decisions are made again, with the same alert ids) or already holds them (the
engine ignores them as duplicates): at-least-once delivery with idempotent ids.

Clocks:

* ``wall``: events are applied as they arrive; time-driven changes are settled
  up to the wall-clock instant passed to :meth:`Runtime.step`.
* ``event``: per partition, events of all input topics are merged in
  ``occurred_at`` order (ties by the ``seq`` header that ``monitor produce``
  sets, then topic and offset). An event is released once every input topic of
  the partition has shown a later event, or once a watermark from the clock
  topic covers it (and the consumer has read up to the offsets the watermark
  names). Time-driven changes are settled up to the same horizon. This makes a
  stream through Kafka decide exactly what ``monitor replay`` decides.
"""

from __future__ import annotations

import base64
import heapq
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from monitor._time import parse_instant, to_us
from monitor.engine import STALE, Engine
from monitor.events import EVENT_ADAPTER, Event, describe_validation_error
from monitor.outputs import Alert, BorrowerDetail, ScheduleEntry
from monitor.state import BorrowerState, dump_state, load_state
from monitor.topics import FEEDS, Topics

__all__ = ["DeadLetter", "Message", "Runtime", "StepResult", "WATERMARK_PREFIX", "partition_for", "watermark_key"]

_NO_SEQ = 1 << 62
UNPACED_FEEDS = frozenset({"tier_override"})
_CACHE_LIMIT = 50_000


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash (the Java client's ``Utils.murmur2``), as a signed 32-bit int."""
    length = len(data)
    seed = 0x9747B28C
    m = 0x5BD1E995
    r = 24
    h = (seed ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    tail = length % 4
    base = length - tail
    if tail == 3:
        h ^= data[base + 2] << 16
    if tail >= 2:
        h ^= data[base + 1] << 8
    if tail >= 1:
        h ^= data[base]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


@lru_cache(maxsize=1 << 17)
def partition_for(key: str, partitions: int) -> int:
    """Kafka's default partitioner for keyed messages, as producers and Faust's tables use it.

    Cached: the worker asks it for the same borrower when it checks an event's partition, publishes
    the borrower's outputs and writes its state (murmur2 in Python costs microseconds per key)."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


WATERMARK_PREFIX = "\x00watermark:"


def watermark_key(partition: int, partitions: int) -> str:
    """The table key under which a partition's reached watermark is kept (it hashes to that partition)."""
    i = 0
    while True:
        key = f"{WATERMARK_PREFIX}{partition}:{i}"
        if partition_for(key, partitions) == partition:
            return key
        i += 1


@dataclass(slots=True)
class Message:
    """One Kafka message as the runtime sees it; ``handle`` is acknowledged when done."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    seq: int | None = None
    handle: Any = None


class DeadLetter(BaseModel):
    """A rejected message, as published to the dead-letter topic."""

    model_config = ConfigDict(frozen=True)

    topic: str
    partition: int
    offset: int
    key: str | None
    reason: str
    value_text: str | None = None
    value_base64: str | None = None
    value_bytes: int
    truncated: bool = False


@dataclass(slots=True)
class StepResult:
    """What one step decided, in the order it must be published."""

    alerts: list[Alert] = field(default_factory=list)
    schedules: dict[str, ScheduleEntry] = field(default_factory=dict)
    details: dict[str, BorrowerDetail] = field(default_factory=dict)  # every touched borrower, as it is now
    states: dict[str, bytes] = field(default_factory=dict)
    dead: list[DeadLetter] = field(default_factory=list)
    acks: list[Any] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    time_driven: int = 0
    # for observers (metrics), never read by the shell's processing:
    events: list[tuple[str, str, int]] = field(default_factory=list)  # (topic, outcome, occurred_at µs) per event
    moves: list[tuple[int, float, int, float]] = field(default_factory=list)  # (tier, exposure) before, after;
    # one per borrower whose tier or exposure changed in the step; tier -1: no profile yet

    def __bool__(self) -> bool:
        return bool(self.alerts or self.schedules or self.states or self.dead or self.acks)


_Before = tuple[tuple[object, ...], tuple[int, float]]  # (schedule key, level) at a borrower's first touch


def _level(state: BorrowerState) -> tuple[int, float]:
    """(tier, exposure) as the metrics count borrowers; (-1, 0.0) before the profile."""
    profile = state.profile
    return (state.tier, profile.exposure) if profile is not None else (-1, 0.0)


@dataclass(slots=True)
class _Pending:
    at: int
    seq: int
    topic_rank: int
    offset: int
    event: Event = field(compare=False)
    handle: Any = field(compare=False)
    partition: int = field(compare=False)
    topic: str = field(compare=False, default="")

    def key(self) -> tuple[int, int, int, int, _Pending]:
        """Its entry in a partition's event-time heap: compared as a tuple (in C), never up to the
        pending itself, since topic rank and offset tell every message of a partition apart."""
        return (self.at, self.seq, self.topic_rank, self.offset, self)


@dataclass(slots=True)
class _Partition:
    buffer: list[tuple[int, int, int, int, _Pending]] = field(default_factory=list)  # heap of _Pending.key()
    seen: dict[str, int] = field(default_factory=dict)  # input topic -> highest occurred_at read
    position: dict[str, int] = field(default_factory=dict)  # topic -> next offset to read
    watermarks: list[tuple[int, dict[str, int], Any]] = field(default_factory=list)  # (at, offsets, handle)
    covered: int | None = None  # a reached watermark: everything up to and including it has been read
    covered_offsets: dict[str, int] = field(default_factory=dict)  # the offsets that watermark named
    wakes: list[tuple[int, str]] = field(default_factory=list)  # heap of (wake, borrower)


class Runtime:
    """Turns batches of messages into decisions, per partition; see the module docstring."""

    def __init__(self, engine: Engine, topics: Topics, *, clock: str, partitions: int,
                 get_state: Callable[[str], bytes | None], max_message_bytes: int = 65_536) -> None:
        if clock not in ("wall", "event"):
            raise ValueError(f"clock must be wall or event, not {clock!r}")
        self.engine = engine
        self.topics = topics
        self.clock = clock
        self.partitions = partitions
        self.max_message_bytes = max_message_bytes
        self._get_state = get_state
        self._inputs = topics.inputs
        self._rank = {t: i for i, t in enumerate(self._inputs)}
        self._feed_of = {topics.feed(kind): kind for kind in FEEDS}
        # the feeds that pace event time: overrides are set by hand through the desk and may be silent
        # for months, so they never hold the others back (one that arrives after the horizon passed
        # its instant is applied late, like any late event)
        self._pacing = [t for t in self._inputs if t not in {topics.feed(k) for k in UNPACED_FEEDS}]
        self._parts: dict[int, _Partition] = {}
        self._cache: dict[str, BorrowerState] = {}
        self._ready: list[_Pending] = []  # wall clock: in arrival order

    # ------------------------------------------------------------ partitions

    def assign(self, partitions: Iterable[int], states: Iterable[tuple[str, bytes]]) -> None:
        """Take partitions over; ``states`` are the table's entries (to find pending wake-ups)."""
        for p in partitions:
            self._parts.setdefault(p, _Partition())
        for bid, blob in states:
            p = partition_for(bid, self.partitions)
            part = self._parts.get(p)
            if part is None:
                continue
            if bid.startswith(WATERMARK_PREFIX):
                # Not reached again until the consumer has read up to the offsets it names once more:
                # events it covers that are read again (they were not committed) must still be merged
                # in event-time order across the feeds, so none may be released before all are read.
                doc = json.loads(blob)
                offsets = {str(k): int(v) for k, v in dict(doc.get("offsets", {})).items()}
                part.watermarks.insert(0, (int(doc["covered"]), offsets, None))
                continue
            wake = load_state(blob).wake
            if wake is not None:
                heapq.heappush(part.wakes, (wake, bid))

    def note_position(self, partition: int, topic: str, offset: int) -> None:
        """The consumer starts ``topic``/``partition`` at ``offset``: everything before it was applied.

        A watermark names offsets the consumer must have read; after a rebalance a topic may have
        nothing left to read, and its position must still count as reached.
        """
        part = self._parts.setdefault(partition, _Partition())
        if offset > part.position.get(topic, 0):
            part.position[topic] = offset

    def revoke(self, partitions: Iterable[int]) -> None:
        """Forget partitions handed to another worker (their unacknowledged input is read again there)."""
        for p in partitions:
            self._parts.pop(p, None)
        self._ready = [x for x in self._ready if x.partition in self._parts]
        self._cache = {b: s for b, s in self._cache.items() if partition_for(b, self.partitions) in self._parts}

    def buffered(self) -> int:
        return len(self._ready) + sum(len(p.buffer) for p in self._parts.values())

    def holdup(self) -> dict[int, dict[str, Any]]:
        """Why buffered events wait, per partition with a non-empty buffer (for the log of a stalled worker)."""
        out: dict[int, dict[str, Any]] = {}
        for p in sorted(self._parts):
            part = self._parts[p]
            if not part.buffer:
                continue
            out[p] = {
                "buffered": len(part.buffer),
                "oldest_us": part.buffer[0][0],
                "feeds_not_seen": [t for t in self._pacing if t not in part.seen],
                "covered_us": part.covered,
                "watermarks_waiting": [
                    {"at_us": at, "short": {t: [part.position.get(t, 0), off] for t, off in sorted(offsets.items())
                                            if part.position.get(t, 0) < off}}
                    for at, offsets, _ in part.watermarks[:3]],
            }
        return out

    # --------------------------------------------------------------- intake

    def accept(self, messages: Iterable[Message], out: StepResult) -> None:
        """Validate and buffer messages; rejected ones go to ``out.dead`` (and are acknowledged)."""
        parts = self._parts
        clock_topic = self.topics.clock
        for m in messages:
            part = parts.get(m.partition)
            if part is None:
                part = parts[m.partition] = _Partition()
            if m.topic == clock_topic:
                if self._watermark(m, part, out) and self.clock == "wall":
                    part.watermarks.pop()  # event-time watermarks mean nothing on the wall clock
                    out.acks.append(m.handle)
                continue
            part.position[m.topic] = max(part.position.get(m.topic, 0), m.offset + 1)
            event, reason = self._validate(m)
            if event is None:
                out.dead.append(self._dead(m, reason))
                out.acks.append(m.handle)
                out.outcomes["rejected"] += 1
                continue
            at = to_us(event.occurred_at)
            pending = _Pending(at, m.seq if m.seq is not None else _NO_SEQ, self._rank.get(m.topic, 99),
                               m.offset, event, m.handle, m.partition, m.topic)
            if self.clock == "wall":
                self._ready.append(pending)
            else:
                if at > part.seen.get(m.topic, -(1 << 62)):
                    part.seen[m.topic] = at
                heapq.heappush(part.buffer, pending.key())

    def _validate(self, m: Message) -> tuple[Event | None, str]:
        raw = m.value
        if raw is None:
            return None, "empty message (tombstone)"
        if len(raw) > self.max_message_bytes:
            return None, f"message of {len(raw)} bytes is larger than {self.max_message_bytes}"
        try:
            event = EVENT_ADAPTER.validate_json(raw)
        except ValidationError as exc:
            return None, describe_validation_error(exc)
        expected = self._feed_of.get(m.topic)
        if expected is not None and event.type != expected:
            return None, f"type: {event.type} does not belong on {m.topic} (expected {expected})"
        key = m.key.decode("utf-8", "replace") if m.key is not None else None
        if key is not None and key != event.borrower_id:
            return None, f"key {key!r} differs from borrower_id {event.borrower_id!r}"
        if partition_for(event.borrower_id, self.partitions) != m.partition:
            return None, f"borrower_id {event.borrower_id!r} does not belong to partition {m.partition}"
        return event, ""

    def _watermark(self, m: Message, part: _Partition, out: StepResult) -> bool:
        try:
            doc = json.loads(m.value or b"")
            at = parse_instant(doc["at"])
            offsets = {str(k): int(v) for k, v in dict(doc.get("offsets", {})).items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            out.dead.append(self._dead(m, f"watermark: {exc}"))
            out.acks.append(m.handle)
            out.outcomes["rejected"] += 1
            return False
        # acknowledged once reached; the reached instant is kept in the table (see _release), since
        # after a crash or a rebalance the events it covers may be read again from older offsets
        part.watermarks.append((at, offsets, m.handle))
        return True

    def _dead(self, m: Message, reason: str) -> DeadLetter:
        raw = m.value or b""
        cut = raw[: self.max_message_bytes]
        try:
            text: str | None = cut.decode("utf-8")
            b64 = None
        except UnicodeDecodeError:
            text, b64 = None, base64.b64encode(cut).decode()
        return DeadLetter(topic=m.topic, partition=m.partition, offset=m.offset,
                          key=m.key.decode("utf-8", "replace") if m.key is not None else None, reason=reason,
                          value_text=text, value_base64=b64, value_bytes=len(raw), truncated=len(cut) < len(raw))

    # ----------------------------------------------------------------- steps

    def step(self, out: StepResult, wall_now: int | None = None) -> StepResult:
        """Apply what can be applied and settle what is due; fill ``out``."""
        touched: dict[str, BorrowerState] = {}
        before: dict[str, _Before] = {}
        if self.clock == "wall":
            ready, self._ready = self._ready, []
            self._apply(ready, touched, before, out)
            if wall_now is not None:
                for part in self._parts.values():
                    self._advance(part, wall_now, touched, before, out)
        else:
            for p in sorted(self._parts):
                part = self._parts[p]
                before_cover = part.covered
                horizon = self._release(part, out)
                if part.covered != before_cover and part.covered is not None:
                    key = watermark_key(p, self.partitions)
                    out.states[key] = json.dumps({"covered": part.covered, "offsets": part.covered_offsets},
                                                 sort_keys=True).encode()
                if horizon is None:
                    continue
                released: list[_Pending] = []
                limit, inclusive = horizon
                buffer = part.buffer
                if not inclusive:
                    limit -= 1  # instants are integers: before ``limit`` is at or before ``limit - 1``
                while buffer and buffer[0][0] <= limit:
                    released.append(heapq.heappop(buffer)[4])
                # wake-ups before each released event are settled by the engine itself
                self._apply(released, touched, before, out)
                self._advance(part, limit, touched, before, out)
        for bid, state in touched.items():
            key, level = before[bid]
            out.states[bid] = dump_state(state)
            out.details[bid] = self.engine.detail(state)
            if self.engine.schedule_key(state) != key:
                out.schedules[bid] = self.engine.schedule_entry(state)
            now = _level(state)
            if now != level:
                out.moves.append(level + now)
        return out

    def _release(self, part: _Partition, out: StepResult) -> tuple[int, bool] | None:
        """The partition's horizon: (instant, inclusive), or None when nothing may be released yet."""
        while part.watermarks:
            at, offsets, handle = part.watermarks[0]
            if not all(part.position.get(t, 0) >= off for t, off in offsets.items()):
                break
            part.watermarks.pop(0)
            if handle is not None:
                out.acks.append(handle)
            if part.covered is None or at > part.covered:
                part.covered, part.covered_offsets = at, offsets
        best: tuple[int, bool] | None = None
        if part.covered is not None:
            best = (part.covered, True)
        if all(t in part.seen for t in self._pacing):
            strict = min(part.seen[t] for t in self._pacing)  # every paced feed has shown an event at or after this
            if best is None or strict - 1 > best[0]:
                best = (strict, False)
        return best

    def _peek(self, bid: str, touched: dict[str, BorrowerState]) -> BorrowerState | None:
        state = touched.get(bid) or self._cache.get(bid)
        if state is None:
            blob = self._get_state(bid)
            if blob is None:
                return None
            state = load_state(blob)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.pop(next(iter(self._cache)))
            self._cache[bid] = state
        return state

    def _touch(self, bid: str, touched: dict[str, BorrowerState], before: dict[str, _Before]) -> BorrowerState:
        state = touched.get(bid)
        if state is not None:
            return state
        state = self._peek(bid, touched)
        if state is None:
            state = self._cache[bid] = self.engine.new_state(bid)
        touched[bid] = state
        before[bid] = (self.engine.schedule_key(state), _level(state))
        return state

    def _apply(self, items: list[_Pending], touched: dict[str, BorrowerState],
               before: dict[str, _Before], out: StepResult) -> None:
        engine = self.engine
        for item in items:
            bid = item.event.borrower_id
            state = self._touch(bid, touched, before)
            clock = state.clock
            step = engine.apply(state, item.event, item.at)
            out.outcomes[step.outcome] += 1
            out.events.append((item.topic, step.outcome, item.at))
            if step.outcome == STALE and clock is not None:
                late = (clock - item.at) / 86_400_000_000
                out.dead.append(DeadLetter(
                    topic=item.topic, partition=item.partition, offset=item.offset, key=bid,
                    reason=(f"stale: {late:.1f} days older than the borrower's latest event time, beyond the "
                            f"{engine.policy.duplicate_window_days}-day duplicate window; not applied"),
                    value_text=item.event.model_dump_json(), value_bytes=0))
            if step.alerts:
                out.alerts.extend(step.alerts)
            out.acks.append(item.handle)
            if state.wake is not None:
                heapq.heappush(self._parts[item.partition].wakes, (state.wake, bid))

    def _advance(self, part: _Partition, until: int, touched: dict[str, BorrowerState],
                 before: dict[str, _Before], out: StepResult) -> None:
        """Settle the time-driven changes due up to ``until`` (inclusive) in this partition."""
        wakes = part.wakes
        while wakes and wakes[0][0] <= until:
            wake, bid = heapq.heappop(wakes)
            state = self._peek(bid, touched)
            if state is None or state.wake != wake:
                continue  # a stale entry: the borrower's current wake-up has an entry of its own
            state = self._touch(bid, touched, before)
            step = self.engine.advance(state, until)
            out.time_driven += 1
            if step.alerts:
                out.alerts.extend(step.alerts)
            if state.wake is not None:
                heapq.heappush(wakes, (state.wake, bid))
