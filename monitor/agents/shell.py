"""The worker shell: moves Kafka messages through :class:`~monitor.agents.runtime.Runtime`, via a port.

The shell reads every input topic and the clock topic in batches, one per fetch of the consumer
(the port's fetch loop hands them over with the consumer group generation they were fetched in;
a batch of an earlier generation is dropped, since the partitions it came from were handed out
again meanwhile). Nothing is acknowledged to Faust: the shell keeps its own account of offsets
(:mod:`~monitor.agents.offsets`). Each batch and timer tick becomes a
:class:`~monitor.agents.checkpoint.Checkpoint`: outputs published, states and applied offsets written
to the table and its changelog, inputs committed, in that order. The decisions of when to read a
partition again are :mod:`~monitor.agents.rereads`'s. Faust, mode and aiokafka are reached only
through :class:`~monitor.agents.port.Port` (a Faust app in production, an in-memory one in tests).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from monitor.agents.checkpoint import Checkpoint, Outputs
from monitor.agents.metrics import WorkerMetrics
from monitor.agents.offsets import OffsetBook, applied_records, stored_offsets
from monitor.agents.rereads import Decision, RereadPolicy
from monitor.agents.runtime import Message, Runtime, StepResult
from monitor.agents.table import BOOKKEEPING, OFFSETS_PREFIX, offsets_key, summarize
from monitor.engine import Engine
from monitor.rules.loader import default_policy, load_policy
from monitor.settings import Settings
from monitor.topics import Topics, partition_for

__all__ = ["WorkerShell"]

log = logging.getLogger("monitor.worker")
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING}


def _fatal_if_failed(task: asyncio.Future[Any]) -> None:
    """A batch that cannot finish must not be skipped: stop the process, so that a supervisor restarts
    it from the table's applied offsets (its inputs are read again)."""
    if task.cancelled() or task.exception() is None:
        return
    log.error("finishing a batch failed; exiting so that nothing is skipped", exc_info=task.exception())
    os._exit(70)


def _log_failure(what: str) -> Callable[[asyncio.Future[Any]], None]:
    def done(task: asyncio.Future[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.warning("%s failed: %s", what, task.exception())

    return done


class WorkerShell:
    """Glue between the port (Faust, Kafka) and the runtime; one per worker process."""

    def __init__(self, port: Any, settings: Settings, *, tp: Callable[[str, int], Any] = lambda t, p: (t, p),
                 exit_on_failure: bool = True) -> None:
        policy = load_policy(settings.policy) if settings.policy else default_policy()
        self.port = port
        self.settings = settings
        self.tp = tp  # builds the port's topic-partition objects
        self.exit_on_failure = exit_on_failure
        self.topics = topics = Topics(settings.topic_prefix)
        parts = settings.partitions
        self.partition_of: Callable[[str], int] = lambda key: partition_for(key, parts)
        self.runtime = Runtime(Engine(policy), topics, clock=settings.clock, partitions=parts, get_state=self._get,
                               max_message_bytes=settings.max_message_bytes, future_skew=settings.future_skew_us,
                               partition_of=self.partition_of, day_ends=settings.day_ends)
        self.outputs = Outputs(topics.alerts, topics.schedule, topics.borrowers, topics.dead_letter,
                               lambda _topic, key: partition_for(key, parts), lambda p: p % parts,
                               day_ends=topics.day_ends if settings.day_ends else "")
        self.lock = asyncio.Lock()
        self.sources = frozenset([*topics.inputs, topics.clock])
        # an observer: processing never touches a metric, it hands each step's result over
        self.metrics = WorkerMetrics(topics, partitions=parts, policy_version=policy.version)
        self.ops: Any = None
        self.stopping = False
        self.totals: dict[str, int] = {}
        self.dropped = 0  # records of fetches made in an earlier consumer group generation
        # the shell's own commit bookkeeping (Faust's would commit past buffered events; see offsets.py)
        self.book = OffsetBook()
        self.rereads = RereadPolicy()
        self._ends_task: asyncio.Future[None] | None = None
        self._tail: asyncio.Future[None] | None = None  # the previous checkpoint's finishing task
        self._unwritten: dict[str, bytes] = {}  # states decided but not yet in the table
        self._recorded: dict[Any, int] = {}  # tp -> the applied offset last written to the table
        self._offsets_keys = {p: offsets_key(p, parts, self.partition_of) for p in range(parts)}
        self._commit_failures = 0
        self._commit_logged_at = float("-inf")
        self._commit_tried_at = 0.0
        self._held_at = 0.0

    def _get(self, bid: str) -> bytes | None:
        blob = self._unwritten.get(bid)
        if blob is not None:
            return blob
        return self.port.get(bid.encode())

    def _wall(self) -> int | None:
        return int(time.time() * 1_000_000) if self.settings.clock == "wall" else None

    def _fail(self, what: str) -> None:
        log.exception("%s failed; exiting so that nothing is skipped", what)
        if self.exit_on_failure:
            os._exit(70)
        raise

    # ------------------------------------------------------------------ batches

    async def handle_records(self, batch: list[tuple[Any, list[Any]]], generation: int | None = None) -> None:
        """Process one fetch (aiokafka records per topic-partition); a failure stops the process: carrying
        on past the batch would leave its records unfinished forever."""
        try:
            await self.handle(batch, generation)
        except Exception:  # noqa: BLE001
            self._fail("processing a batch")

    async def handle(self, batch: list[tuple[Any, list[Any]]], generation: int | None = None) -> None:
        if self.stopping:
            return  # not finished: read again after the restart
        async with self.lock:
            if self.stopping:
                return
            if generation is not None and generation != self.port.generation():
                # fetched for an assignment that has been handed out again since (Faust's getmany stops
                # there too): the consumer reads these partitions again from where the new one starts
                n = sum(len(records) for _, records in batch)
                self.dropped += n
                log.info("dropped a fetch of consumer group generation %d (now %d): %d records of %d "
                         "partitions", generation, self.port.generation(), n, len(batch),
                         extra={"generation": generation, "records": n})
                return
            take = self.book.take
            self.book.now = time.monotonic()
            msgs: list[Message] = []
            for tp, records in batch:
                topic, partition = tp
                for r in records:
                    seq = None
                    for name, value in r.headers or ():
                        if name == "seq":
                            try:
                                seq = int(value)
                            except ValueError:
                                seq = None
                    # in offset order per topic-partition: copies dropped, messages past a missing one
                    # held back; the handle (tp, offset) marks it finished once applied
                    offset = r.offset
                    msgs.extend(take(tp, offset, Message(topic, partition, offset, r.key, r.value, seq,
                                                         (tp, offset))))
            msgs.extend(self._carry_out(self.rereads.gaps(self.book, time.monotonic())))
            await self._process(msgs)

    async def _process(self, msgs: list[Message]) -> None:
        started = time.perf_counter()
        out = StepResult()
        self.runtime.accept(msgs, out, now=int(time.time() * 1_000_000))
        self.runtime.step(out, self._wall())
        decided = time.perf_counter()
        await self._checkpoint(out, started, decided, len(msgs))
        log.debug("batch: %d messages in, %d acknowledged, %d buffered, %d alerts",
                  len(msgs), len(out.acks), self.runtime.buffered(), len(out.alerts))

    def _carry_out(self, decision: Decision) -> list[Message]:
        """Do what the re-read policy decided: log, seek (not awaited), pass gaps (their runs returned)."""
        for note in decision.notes:
            log.log(_LEVELS[note.level], note.message, *note.args, extra=note.extra)
        for seek in decision.seeks:
            self.book.asked_again(seek.tp)
            self.port.seek_soon(seek.tp, seek.offset).add_done_callback(_log_failure("seeking back"))
        out: list[Message] = []
        for tp in decision.skips:
            out.extend(self.book.skip_to_held(tp))
        return out

    async def tick(self) -> None:
        if self.stopping:
            return
        async with self.lock:
            if self.stopping:
                return
            try:
                extra = self._carry_out(self.rereads.gaps(self.book, time.monotonic()))
                if self.settings.clock == "wall" or extra:
                    # on the event clock time moves only with the input (and its watermarks)
                    await self._process(extra)
            except Exception:  # noqa: BLE001 - as for a batch (see handle_records)
                self._fail("processing a tick")
        now = time.monotonic()
        if self.rereads.stall(self.runtime.buffered(), now):
            log.warning("no input finished for 60 s; buffered events wait: %s; next offsets: %s",
                        json.dumps(self.runtime.holdup(), sort_keys=True), self.book.describe())
        if now - self._held_at >= 5.0:
            self._held_at = now
            self.metrics.on_held(self.book.oldest_open(now))
        tail = self._tail
        if self._commit_due() and (tail is None or tail.done()):
            await self._commit_offsets()  # a failed commit and no batch since (event clock): try again
        # beside the tick, not in it: the broker round trip (about a second while the consumer's fetch
        # waits) made the 1 s timer overlap every ten seconds on an idle worker
        if (self._ends_task is None or self._ends_task.done()) and self.rereads.ends_due(now):
            self._ends_task = asyncio.ensure_future(self._watch_ends())
            self._ends_task.add_done_callback(_log_failure("watching the end offsets"))

    async def _watch_ends(self) -> None:
        """Ask the broker for the owned inputs' end offsets; the re-read policy decides what to read again."""
        owned = self.book.owned()
        if not owned:
            return
        try:
            ends = await asyncio.wait_for(self.port.end_offsets(owned), timeout=10.0)
        except Exception as exc:  # noqa: BLE001 - the broker may be away; the ops probe reports that
            log.debug("end offsets unavailable: %s", exc)
            return
        self._carry_out(self.rereads.ends(self.book, ends, time.monotonic()))

    # ---------------------------------------------------------------- checkpoints

    async def _checkpoint(self, out: StepResult, started: float, decided: float, messages: int) -> None:
        """Publish the step's outputs (step 1), then hand steps 2-6 to the checkpoint's finishing task.

        Two batches overlap at most: this batch's outputs go out while the previous batch finishes;
        each checkpoint waits for the one before it, so that batches finish strictly in order."""
        cp = Checkpoint(out, port=self.port, outputs=self.outputs, finish_inputs=self._finish_inputs,
                        offset_records=self._offset_records, partition_of=self.partition_of,
                        unwritten=self._unwritten, commit=self._commit_offsets,
                        observe_sends=self.ops.observe_sends if self.ops is not None else None,
                        commit_due=self._commit_due)
        await cp.publish()
        previous = self._tail  # every caller holds the lock: no other batch is decided meanwhile
        tail = asyncio.ensure_future(self._finish(cp, previous, started, decided, messages))
        if self.exit_on_failure:
            tail.add_done_callback(_fatal_if_failed)
        self._tail = tail

    async def _finish(self, cp: Checkpoint, previous: asyncio.Future[Any] | None, started: float, decided: float,
                      messages: int) -> None:
        await cp.finish(previous)
        out = cp.out
        if out:
            for k, v in out.outcomes.items():
                self.totals[k] = self.totals.get(k, 0) + v
            self.totals["alerts"] = self.totals.get("alerts", 0) + len(out.alerts)
            self.totals["dead_letters"] = self.totals.get("dead_letters", 0) + len(out.dead)
        self.metrics.on_batch(out, started=started, decided=decided, committed=time.perf_counter(),
                              messages=messages, buffered=self.runtime.buffered())

    def _finish_inputs(self, acks: list[Any]) -> None:
        finish = self.book.finish
        for handle in acks:
            if handle is not None:
                finish(*handle)
        self.rereads.progress(time.monotonic())

    def _offset_records(self) -> dict[str, bytes]:
        """The applied-offsets records of the partitions whose positions moved since last written."""
        return applied_records(self.book.positions(), self._recorded, self._offsets_keys)

    async def settle(self) -> None:
        """Wait until the checkpoint in flight has finished; hold the lock."""
        if self._tail is not None:
            await self._tail

    def _commit_due(self) -> bool:
        """A commit failed and was not tried again for five seconds."""
        return bool(self._commit_failures) and time.monotonic() - self._commit_tried_at >= 5.0

    async def _commit_offsets(self) -> None:
        """Commit, per input topic-partition, up to the first message not yet finished (see offsets.py).

        A failed commit is logged (at most every 30 s) and tried again with the next batch or tick; the
        table's applied offsets already say where a restart begins."""
        offsets = self.book.to_commit()
        if not offsets:
            return
        self._commit_tried_at = time.monotonic()
        try:
            done = await self.port.commit(offsets)
        except Exception as exc:  # noqa: BLE001 - the broker away, a rebalance: tried again later
            done, why = False, f"{type(exc).__name__}: {exc}"[:300]
        else:
            why = "the consumer did not commit them (a rebalance in progress, or partitions moved)"
        if done:
            self.book.committed(offsets)
            if self._commit_failures:
                log.warning("committed the input offsets again after %d failed attempts", self._commit_failures)
                self._commit_failures = 0
            return
        self._commit_failures += 1
        now = time.monotonic()
        if now - self._commit_logged_at >= 30:
            self._commit_logged_at = now
            log.warning("committing the input offsets failed (%s; attempt %d); trying again with the next "
                        "batch", why, self._commit_failures)

    # ------------------------------------------------------------------ lifecycle

    async def drain(self) -> None:
        """On a graceful stop (SIGTERM), before Faust closes the tables: let the batch in hand finish
        (published, written, acknowledged, committed) and take no further one. Events still waiting in
        the event-time buffer were never applied nor acknowledged; the next owner reads them again."""
        self.stopping = True
        if self.ops is not None:
            self.ops.readiness.stopping = True
        async with self.lock:
            try:
                await self.settle()
                await self._commit_offsets()
            except Exception as exc:  # noqa: BLE001 - the offsets are committed again on the next start
                log.warning("final commit failed: %s", exc)
        log.info("stopped taking batches; everything applied is committed")

    async def recovered(self) -> None:
        """After table recovery: take over the assigned partitions, their pending wake-ups, and read on
        from the later of the group's committed offsets and the table's applied offsets."""
        actives = {tp.partition for tp in self.port.assigned() if tp.topic in self.topics.inputs}
        async with self.lock:
            await self.settle()  # the batch in flight finishes under the book it was taken with
            self.runtime.revoke(list(range(self.settings.partitions)))
            # one pass over the table (a million borrowers at a restart): the worker's own records, and
            # each borrower's wake-up, tier and exposure read without building its state
            records: list[tuple[str, bytes]] = []
            wakes: list[tuple[str, int]] = []
            levels: list[tuple[int, float]] = []
            borrowers = 0
            partition_of = self.partition_of
            for k, v in self.port.items():
                key = k.decode() if isinstance(k, bytes) else str(k)
                if key.startswith(BOOKKEEPING):
                    records.append((key, bytes(v)))
                    continue
                if partition_of(key) not in actives:
                    continue
                borrowers += 1
                wake, tier, exposure = summarize(v)
                if wake is not None:
                    wakes.append((key, wake))
                if exposure is not None:
                    levels.append((tier, exposure))
            self.runtime.assign(sorted(actives), records, wakes)
            self.metrics.on_recovered(sorted(actives), levels=levels)
            stored = stored_offsets(records, actives, OFFSETS_PREFIX)
            # where the consumer starts each input (Faust seeks there next anyway); nothing when this
            # worker holds no partition (the consumer refuses to seek then)
            committed = await self._committed() if actives else {}
            starts = {}
            for tp, offset in committed.items():
                if tp.partition not in actives or tp.topic not in self.sources:
                    continue
                done = int(offset) if offset is not None and offset >= 0 else None
                applied = stored.get((tp.topic, tp.partition))
                start = max(x for x in (done, applied, 0) if x is not None)
                if start != done:
                    # Nothing committed yet (the fetcher ran while the table recovered, and what it
                    # fetched then never reaches the shell: read it from the start), or the table has
                    # applied more than the group committed: read on from there.
                    if applied is not None and applied > (done or 0):
                        log.warning("%s[%d]: the table has applied offsets up to %d, the group committed %s; "
                                    "reading on from %d", tp.topic, tp.partition, applied, done, start)
                    await self.port.seek(tp, start)
                starts[tp] = start
                if tp.topic in self.topics.inputs:
                    self.runtime.note_position(tp.partition, tp.topic, start)
            self.book.reset(starts)
            self._recorded = dict(starts)
        log.info("recovered: partitions %s, %d borrowers in the table", sorted(actives), borrowers,
                 extra={"partitions": sorted(actives), "borrowers": borrowers})

    async def _committed(self, attempts: int = 5) -> dict[Any, int | None]:
        """The group's committed offsets of the assigned partitions (the consumer seeks there), asked
        again with a pause when the broker cannot answer; when it never does, the table's applied
        offsets decide alone."""
        for attempt in range(1, attempts + 1):
            try:
                return await self.port.committed()
            except Exception as exc:  # noqa: BLE001 - logged, asked again
                log.warning("fetching the committed offsets failed (%s: %s; attempt %d of %d)",
                            type(exc).__name__, str(exc)[:200], attempt, attempts)
                await asyncio.sleep(min(8.0, float(attempt)))
        log.error("the committed offsets could not be fetched; starting from the table's applied offsets")
        return {self.tp(t, p): None for t in self.sources for p in range(self.settings.partitions)}

    async def revoked(self, sender: Any = None, revoked: Iterable[Any] | None = None, **_: Any) -> None:
        # under the lock: no batch is being decided, and the one in flight finishes (its states written,
        # its offsets committed) while this worker still owns its partitions
        async with self.lock:
            try:
                await self.settle()
            except Exception as exc:  # noqa: BLE001 - a failed batch stops the process (see _fatal_if_failed)
                log.warning("finishing the batch in flight failed: %s", exc)
            gone = list(revoked or ())
            self.book.forget(self.tp(tp.topic, tp.partition) for tp in gone)
            self.runtime.revoke(sorted({tp.partition for tp in gone}))
