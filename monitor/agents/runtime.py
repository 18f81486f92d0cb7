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

import heapq
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from monitor._time import ahead_reason, to_us
from monitor.engine import ADVANCED, CONFLICT, STALE, Engine
from monitor.events import Event
from monitor.intake import (
    NO_SEQ,
    DeadLetter,
    Intake,
    Message,
    Watermark,
    describe_exception,
)
from monitor.outputs import Alert, BorrowerDetail, ScheduleEntry
from monitor.replay import CONFLICT_REASON
from monitor.state import BorrowerState, dump_state, load_state
from monitor.agents.dayrows import DayRows, NoRows
from monitor.agents.table import (
    BOOKKEEPING,
    OFFSETS_PREFIX,
    WATERMARK_PREFIX,
    offsets_key,
    summarize,
    watermark_key,
)
from monitor.topics import Topics, partition_for

__all__ = ["BOOKKEEPING", "DeadLetter", "Message", "OFFSETS_PREFIX", "Runtime", "StepResult", "WATERMARK_PREFIX",
           "offsets_key", "partition_for", "watermark_key"]

UNPACED_FEEDS = frozenset({"tier_override"})
_CACHE_LIMIT = 50_000
_DAY_US = 86_400_000_000

log = logging.getLogger("monitor.worker")


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
    day_ends: list[tuple[str, bytes]] = field(default_factory=list)  # (borrower, value): monitor.day_ends
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
    raw: bytes = field(compare=False, default=b"")  # the message as read (for a dead letter)

    def key(self) -> tuple[int, int, int, int, _Pending]:
        """Its entry in a partition's event-time heap: compared as a tuple (in C), never up to the
        pending itself, since topic rank and offset tell every message of a partition apart."""
        return (self.at, self.seq, self.topic_rank, self.offset, self)


@dataclass(slots=True)
class _Op:
    """One engine call of a step, in the order made: an event applied (``item``) or a borrower's
    time-driven changes settled up to ``until`` (``item`` None). What it did is recorded into the
    step's result only at the end of the step, after any borrower whose processing failed has been
    salvaged (see :meth:`Runtime._salvage`)."""

    bid: str
    item: _Pending | None
    until: int
    outcome: str = ""
    alerts: tuple[Alert, ...] | list[Alert] = ()
    clock: int | None = None  # the borrower's clock before the event (for a stale event's reason)
    failure: str | None = None  # why the event was not applied: it is dead-lettered


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
                 get_state: Callable[[str], bytes | None], max_message_bytes: int = 65_536,
                 future_skew: int = _DAY_US, partition_of: Callable[[str], int] | None = None,
                 day_ends: bool = True) -> None:
        if clock not in ("wall", "event"):
            raise ValueError(f"clock must be wall or event, not {clock!r}")
        self.engine = engine
        self.topics = topics
        self.clock = clock
        self.partitions = partitions
        self.future_skew = future_skew
        self._partition_of = partition_of or (lambda key: partition_for(key, partitions))
        self.intake = Intake(topics, self._partition_of, max_message_bytes=max_message_bytes)
        self._get_state = get_state
        self._inputs = topics.inputs
        # the feeds that pace event time: overrides are set by hand through the desk and may be silent
        # for months, so they never hold the others back (one that arrives after the horizon passed
        # its instant is applied late, like any late event)
        self._pacing = [t for t in self._inputs if t not in {topics.feed(k) for k in UNPACED_FEEDS}]
        self._parts: dict[int, _Partition] = {}
        self._cache: dict[str, BorrowerState] = {}
        self._ready: list[_Pending] = []  # wall clock: in arrival order
        self._rows = DayRows(engine) if day_ends else NoRows(engine)

    # ------------------------------------------------------------ partitions

    def assign(self, partitions: Iterable[int], states: Iterable[tuple[str, bytes]] = (),
               wakes: Iterable[tuple[str, int]] = ()) -> None:
        """Take partitions over. ``states`` are table entries (the worker's own records, and borrowers
        whose wake-up is read from their state); ``wakes`` the pending wake-ups already read."""
        for p in partitions:
            self._parts.setdefault(p, _Partition())
        pending = list(wakes)
        for bid, blob in states:
            if bid.startswith(WATERMARK_PREFIX):
                part = self._parts.get(self._partition_of(bid))
                if part is None:
                    continue
                # Not reached again until the consumer has read up to the offsets it names once more:
                # events it covers that are read again (they were not committed) must still be merged
                # in event-time order across the feeds, so none may be released before all are read.
                doc = json.loads(blob)
                offsets = {str(k): int(v) for k, v in dict(doc.get("offsets", {})).items()}
                part.watermarks.insert(0, (int(doc["covered"]), offsets, None))
            elif not bid.startswith(BOOKKEEPING):  # (the worker's other records: applied offsets)
                wake = summarize(blob)[0]
                if wake is not None:
                    pending.append((bid, wake))
        for bid, wake in pending:
            part = self._parts.get(self._partition_of(bid))
            if part is not None:
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
        self._cache = {b: s for b, s in self._cache.items() if self._partition_of(b) in self._parts}

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

    def accept(self, messages: Iterable[Message], out: StepResult, now: int | None = None) -> None:
        """Validate and buffer messages; rejected ones go to ``out.dead`` (and are acknowledged).

        ``now`` is the wall-clock instant (µs) the shell read the messages at: with a partition's
        reached watermark, the newest time trusted; an event or watermark dated more than
        ``future_skew`` ahead of it is refused (see :func:`monitor._time.ahead_reason`)."""
        parts = self._parts
        clock_topic = self.topics.clock
        judge, dead, rank = self.intake.judge, self.intake.dead, self.intake.rank
        for m in messages:
            part = parts.get(m.partition)
            if part is None:
                part = parts[m.partition] = _Partition()
            if m.topic == clock_topic:
                if self._watermark(m, part, out, now) and self.clock == "wall":
                    part.watermarks.pop()  # event-time watermarks mean nothing on the wall clock
                    out.acks.append(m.handle)
                continue
            part.position[m.topic] = max(part.position.get(m.topic, 0), m.offset + 1)
            event, reason = judge(m)
            if event is not None:
                at = to_us(event.occurred_at)
                reason = self._ahead(at, part, now)
                if reason is not None:
                    event = None
            if event is None:
                out.dead.append(dead(m, reason))
                out.acks.append(m.handle)
                out.outcomes["rejected"] += 1
                continue
            pending = _Pending(at, m.seq if m.seq is not None else NO_SEQ, rank(m.topic), m.offset, event, m.handle,
                               m.partition, m.topic, m.value or b"")
            if self.clock == "wall":
                self._ready.append(pending)
            else:
                if at > part.seen.get(m.topic, -(1 << 62)):
                    part.seen[m.topic] = at
                heapq.heappush(part.buffer, pending.key())

    def _ahead(self, at: int, part: _Partition, now: int | None) -> str | None:
        """The refusal of an instant too far ahead of the newest trusted time, or None."""
        covered = part.covered
        if now is None and covered is None:
            return None  # nothing trusted to compare with (a check outside the worker)
        if covered is not None and (now is None or covered > now):
            return ahead_reason(at, covered, self.future_skew, "the partition's reached watermark")
        return ahead_reason(at, now, self.future_skew, "the wall clock")  # type: ignore[arg-type]

    def _watermark(self, m: Message, part: _Partition, out: StepResult, now: int | None) -> bool:
        """Queue a watermark (True), or dead-letter it with the reason it is refused (False)."""
        mark = self.intake.watermark(m)
        if isinstance(mark, Watermark):
            ahead = self._ahead(mark.at, part, now)
            if ahead is None:
                # acknowledged once reached; the reached instant is kept in the table (see _release),
                # since after a crash or a rebalance the events it covers may be read again
                part.watermarks.append((mark.at, mark.offsets, m.handle))
                return True
            reason = "watermark: " + ahead
        else:
            reason = mark
        out.dead.append(self.intake.dead(m, reason))
        out.acks.append(m.handle)
        out.outcomes["rejected"] += 1
        return False

    # ----------------------------------------------------------------- steps

    def step(self, out: StepResult, wall_now: int | None = None) -> StepResult:
        """Apply what can be applied and settle what is due; fill ``out``.

        No single message can stop the worker: when the engine (or turning a borrower's state into
        its outputs) raises for a borrower, that borrower is rebuilt from its state before the step
        and its events of the step are applied again one by one; an event that fails again is
        dead-lettered with the reason, the others are applied as if it had never come (see
        :meth:`_salvage`)."""
        touched: dict[str, BorrowerState] = {}
        before: dict[str, _Before] = {}
        ops: list[_Op] = []
        failed: dict[str, BaseException] = {}
        horizons: dict[int, int] = {}  # partition -> the instant time-driven changes were settled to
        if self.clock == "wall":
            ready, self._ready = self._ready, []
            self._apply(ready, touched, before, ops, failed)
            if wall_now is not None:
                for p, part in self._parts.items():
                    horizons[p] = wall_now
                    self._advance(part, wall_now, touched, before, ops, failed)
        else:
            for p in sorted(self._parts):
                part = self._parts[p]
                before_cover = part.covered
                horizon = self._release(part, out)
                if part.covered != before_cover and part.covered is not None:
                    key = watermark_key(p, self.partitions, self._partition_of)
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
                self._apply(released, touched, before, ops, failed)
                horizons[p] = limit
                self._advance(part, limit, touched, before, ops, failed)
        for bid in list(failed):
            self._salvage(bid, failed[bid], touched, before, ops, horizons)
        out.day_ends.extend(self._rows.finish(touched))
        engine = self.engine
        for bid in list(touched):
            state = touched[bid]
            key, level = before[bid]
            try:
                blob, detail, entry = _outputs(engine, state, key)
            except Exception as exc:  # noqa: BLE001 - see _salvage
                salvaged = self._salvage(bid, exc, touched, before, ops, horizons)
                if salvaged is None:
                    continue
                state, (blob, detail, entry) = salvaged
            out.states[bid] = blob
            out.details[bid] = detail
            if entry is not None:
                out.schedules[bid] = entry
            now = _level(state)
            if now != level:
                out.moves.append(level + now)
        self._record(ops, out)
        return out

    def _record(self, ops: list[_Op], out: StepResult) -> None:
        """Put what the step's engine calls did into ``out``, in the order they were made."""
        outcomes, events, acks, alerts, dead = out.outcomes, out.events, out.acks, out.alerts, out.dead
        window = self.engine.policy.duplicate_window_days
        for op in ops:
            item = op.item
            if item is None:
                if op.outcome != "dropped":
                    out.time_driven += 1
                if op.alerts:
                    alerts.extend(op.alerts)
                continue
            if op.failure is not None:
                dead.append(self._dead_item(item, op.failure))
                outcomes["rejected"] += 1
                acks.append(item.handle)
                continue
            outcome = op.outcome
            outcomes[outcome] += 1
            events.append((item.topic, outcome, item.at))
            if outcome == STALE and op.clock is not None:
                late = (op.clock - item.at) / _DAY_US
                dead.append(self._dead_item(item, (
                    f"stale: {late:.1f} days older than the borrower's latest event time, beyond the "
                    f"{window}-day duplicate window; not applied")))
            elif outcome == CONFLICT:
                dead.append(self._dead_item(item, CONFLICT_REASON))  # the wording of monitor replay's reject
            if op.alerts:
                alerts.extend(op.alerts)
            acks.append(item.handle)

    def _dead_item(self, item: _Pending, reason: str) -> DeadLetter:
        return self.intake.dead(Message(item.topic, item.partition, item.offset, item.event.borrower_id.encode(),
                                        item.raw), reason)

    def _salvage(self, bid: str, error: BaseException, touched: dict[str, BorrowerState],
                 before: dict[str, _Before], ops: list[_Op],
                 horizons: dict[int, int]) -> tuple[BorrowerState, tuple[bytes, BorrowerDetail,
                                                                          ScheduleEntry | None]] | None:
        """Rebuild a borrower whose processing raised: from its state before the step, each of its events
        of the step is applied again on its own, and kept only if it (and the borrower's outputs after
        it) succeed this second time; then its time-driven changes are settled to the step's horizon.
        An event that fails again is marked to be dead-lettered with the reason. Returns the new state
        and its outputs, or None when even the state before the step cannot be processed (its events
        are then dead-lettered: they cannot be applied to it)."""
        engine = self.engine
        mine = [op for op in ops if op.bid == bid]
        key = before[bid][0] if bid in before else None
        p = self._partition_of(bid)
        self._cache.pop(bid, None)
        log.warning("processing a borrower's events failed (%s); applying them again one by one, in %s[%d]",
                    type(error).__name__, (mine[0].item.topic if mine and mine[0].item else "time"), p)
        try:
            blob = blob_before = self._get_state(bid)
            state = load_state(blob) if blob is not None else engine.new_state(bid)
            good, _detail, _entry = _outputs(engine, state, key)
        except Exception as exc:  # noqa: BLE001 - a stored state the engine cannot take
            log.error("a borrower's stored state in partition %d cannot be processed (%s); its events of this "
                      "batch are dead-lettered", p, type(exc).__name__)
            for op in mine:
                op.alerts, op.outcome = (), "dropped"
                if op.item is not None:
                    op.failure = f"processing failed: the borrower's stored state cannot be processed: {describe_exception(exc)}"
            touched.pop(bid, None)
            return None
        for op in mine:
            if op.item is None:
                op.alerts, op.outcome = (), "dropped"  # settled again below, once, to the step's horizon
                continue
            trial = load_state(good)
            clock = trial.clock
            try:
                step = engine.apply(trial, op.item.event, op.item.at)
                blob = _outputs(engine, trial, key)[0]
            except Exception as exc:  # noqa: BLE001 - the second failure on the same message
                op.alerts, op.outcome = (), "rejected"
                op.failure = f"processing failed twice: {describe_exception(exc)}"
                log.error("an event failed twice (%s) and is dead-lettered: %s[%d] offset %d",
                          type(exc).__name__, op.item.topic, op.item.partition, op.item.offset)
                continue
            op.failure, op.clock, op.outcome, op.alerts = None, clock, step.outcome, step.alerts
            good = blob
        if blob_before is None and all(op.failure is not None for op in mine if op.item is not None):
            touched.pop(bid, None)  # a borrower that only failing events ever mentioned: nothing to keep
            return None
        state = load_state(good)
        horizon = horizons.get(p)
        if horizon is not None:
            try:
                step = engine.advance(state, horizon)
                _outputs(engine, state, key)
            except Exception as exc:  # noqa: BLE001 - no message to blame: the wake-up is dropped
                log.error("settling a borrower's time-driven changes in partition %d failed twice (%s); its "
                          "wake-up is dropped until its next event", p, type(exc).__name__)
                state = load_state(good)
                state.wake = None
            else:
                if step.alerts:
                    ops.append(_Op(bid, None, horizon, "advanced", step.alerts))
        touched[bid] = state
        self._cache[bid] = state
        if state.wake is not None and p in self._parts:
            heapq.heappush(self._parts[p].wakes, (state.wake, bid))
        return state, _outputs(engine, state, key)

    def _release(self, part: _Partition, out: StepResult) -> tuple[int, bool] | None:
        """The partition's horizon: (instant, inclusive), or None when nothing may be released yet."""
        marks = part.watermarks
        if marks:
            # the newest watermark whose offsets are all read is reached; so is every one queued before
            # it that is not newer (one that names offsets never read cannot hold later ones back)
            position = part.position
            reached = -1
            for i, (at, offsets, _handle) in enumerate(marks):
                if all(position.get(t, 0) >= off for t, off in offsets.items()):
                    reached = i
            if reached >= 0:
                top = marks[reached][0]
                keep = []
                for i, mark in enumerate(marks):
                    at, offsets, handle = mark
                    if i > reached or (i < reached and at > top):
                        keep.append(mark)
                        continue
                    if handle is not None:
                        out.acks.append(handle)
                    if i == reached and (part.covered is None or at > part.covered):
                        part.covered, part.covered_offsets = at, offsets
                part.watermarks = keep
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

    def _touch(self, bid: str, touched: dict[str, BorrowerState], before: dict[str, _Before],
               at: int = 0) -> BorrowerState:
        state = touched.get(bid)
        if state is not None:
            return state
        state = self._peek(bid, touched)
        if state is None:
            state = self._cache[bid] = self.engine.new_state(bid)
            self._rows.born(bid, at)
        touched[bid] = state
        before[bid] = (self.engine.schedule_key(state), _level(state))
        return state

    def _apply(self, items: list[_Pending], touched: dict[str, BorrowerState], before: dict[str, _Before],
               ops: list[_Op], failed: dict[str, BaseException]) -> None:
        engine = self.engine
        parts = self._parts
        rows = self._rows
        for item in items:
            bid = item.event.borrower_id
            op = _Op(bid, item, item.at)
            ops.append(op)
            if bid in failed:
                continue  # applied in _salvage
            state = self._touch(bid, touched, before, item.at)
            op.clock = state.clock
            had_profile = state.profile is not None
            try:
                early = rows.before(bid, state, item.at)
                due = state.due
                step = engine.apply(state, item.event, item.at)
            except Exception as exc:  # noqa: BLE001 - see step()
                failed[bid] = exc
                continue
            rows.applied(bid, state, item.event, item.at, step.outcome, had_profile, due,
                         (item.topic_rank, item.partition, item.offset))
            op.outcome = step.outcome
            op.alerts = (*early, *step.alerts) if early else step.alerts
            if state.wake is not None:
                heapq.heappush(parts[item.partition].wakes, (state.wake, bid))

    def _advance(self, part: _Partition, until: int, touched: dict[str, BorrowerState], before: dict[str, _Before],
                 ops: list[_Op], failed: dict[str, BaseException]) -> None:
        """Settle the time-driven changes due up to ``until`` (inclusive) in this partition."""
        wakes = part.wakes
        while wakes and wakes[0][0] <= until:
            wake, bid = heapq.heappop(wakes)
            if bid in failed:
                continue  # settled in _salvage
            state = self._peek(bid, touched)
            if state is None or state.wake != wake:
                continue  # a stale entry: the borrower's current wake-up has an entry of its own
            state = self._touch(bid, touched, before)
            try:
                alerts = self._rows.advance(bid, state, until)  # day by day: a day-end row for each
            except Exception as exc:  # noqa: BLE001 - see step()
                failed[bid] = exc
                continue
            ops.append(_Op(bid, None, until, ADVANCED, tuple(alerts)))
            if state.wake is not None:
                heapq.heappush(wakes, (state.wake, bid))


def _outputs(engine: Engine, state: BorrowerState,
             key: tuple[object, ...] | None) -> tuple[bytes, BorrowerDetail, ScheduleEntry | None]:
    """A borrower's stored form, its detail, and its schedule entry when that changed from ``key``."""
    blob = dump_state(state)
    detail = engine.detail(state)
    entry = engine.schedule_entry(state) if engine.schedule_key(state) != key else None
    return blob, detail, entry
