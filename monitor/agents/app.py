"""The Faust app: a thin shell that moves Kafka messages through :class:`~monitor.agents.runtime.Runtime`.

The shell reads every input topic and the clock topic in batches, one per fetch
of Faust's consumer (:meth:`WorkerShell.fetch_loop` replaces Faust's per-message
delivery; nothing is acknowledged to Faust, the shell keeps its own account of
offsets, see :mod:`~monitor.agents.offsets`). For each batch and on
each timer tick it publishes the decisions, waits until the broker has them,
writes the touched borrower states to the ``borrowers`` table (RocksDB or
memory, backed by its changelog topic), and only then marks the input messages
finished and commits up to the first unfinished one. See the runtime's
docstring for why that order gives at-least-once delivery with idempotent
alert ids.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import faust
from faust.types import TP

from monitor.agents.offsets import OffsetBook, applied_records, stored_offsets
from monitor.agents.port import check_offset_fetch_errors, fetch_batches
from monitor.agents.ops import install_ops, read_token, web_options
from monitor.agents.publish import RecordBatches, wait_all, write_states
from monitor.agents.runtime import OFFSETS_PREFIX, Message, Runtime, StepResult, offsets_key
from monitor.engine import Engine
from monitor.metrics import WorkerMetrics
from monitor.rules.loader import default_policy, load_policy
from monitor.settings import Settings
from monitor.topics import Topics, partition_for

__all__ = ["create_app", "WorkerShell"]

log = logging.getLogger("monitor.worker")
TABLE = "borrowers"


def _fatal_if_failed(task: asyncio.Future[Any]) -> None:
    """A batch that cannot finish must not be skipped: stop the process, so that a supervisor restarts
    it from the last committed offsets (its inputs are read again)."""
    if task.cancelled() or task.exception() is None:
        return
    log.error("finishing a batch failed; exiting so that nothing is skipped", exc_info=task.exception())
    os._exit(70)


def _log_watch_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("watching the end offsets failed: %s", task.exception())


def _log_seek_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("seeking back failed (tried again in a second): %s", task.exception())


class WorkerShell:
    """Glue between Faust and the runtime; one per worker process."""

    def __init__(self, app: faust.App, settings: Settings, table: Any, outputs: dict[str, Any]) -> None:
        policy = load_policy(settings.policy) if settings.policy else default_policy()
        self.app = app
        self.settings = settings
        self.table = table
        self._names = {k: t.get_topic_name() for k, t in outputs.items()}
        self._changelog = table.changelog_topic.get_topic_name()
        self.topics = Topics(settings.topic_prefix)
        self.runtime = Runtime(Engine(policy), self.topics, clock=settings.clock, partitions=settings.partitions,
                               get_state=self._get, max_message_bytes=settings.max_message_bytes,
                               future_skew=settings.future_skew_us)
        self.lock = asyncio.Lock()
        self._sources = frozenset([*self.topics.inputs, self.topics.clock])
        # an observer: processing never touches a metric, it hands each step's result over
        self.metrics = WorkerMetrics(self.topics, partitions=settings.partitions, policy_version=policy.version)
        self.ops: Any = None
        self.stopping = False
        self.totals: dict[str, int] = {}
        # the shell's own commit bookkeeping (Faust's would commit past buffered events; see offsets.py)
        self.book = OffsetBook()
        self._progress_at = time.monotonic()  # when input was last finished (to tell a stall in the log)
        self._rereads: dict[Any, tuple[int, float, int]] = {}  # tp -> (offset sought, when, attempts)
        self._behind: dict[Any, tuple[int, float]] = {}  # tp -> (next offset, since when) while short of its end
        self._ends_at = 0.0
        self._ends_task: asyncio.Future[None] | None = None
        self._tail: asyncio.Future[None] | None = None  # the previous batch's finishing task (see _commit)
        self._unwritten: dict[str, bytes] = {}  # states decided but not yet in the table
        self._recorded: dict[Any, int] = {}  # tp -> the applied offset last written to the table
        self._offsets_keys: dict[int, str] = {}
        self._commit_failures = 0
        self._commit_logged_at = float("-inf")
        self._commit_tried_at = 0.0
        self._held_at = 0.0
        self._partition_counts: dict[str, int] = {}  # output topic -> partitions

    def _get(self, bid: str) -> bytes | None:
        blob = self._unwritten.get(bid)
        if blob is not None:
            return blob
        value = self.table.get(bid.encode())
        return bytes(value) if value is not None else None

    def _wall(self) -> int | None:
        return int(time.time() * 1_000_000) if self.settings.clock == "wall" else None

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

    async def fetch_loop(self, fetcher: Any) -> None:
        """Faust's fetcher loop, by batches (see :func:`monitor.agents.port.fetch_batches`)."""
        await fetch_batches(self.app, fetcher, self._sources, self.handle_records)

    async def handle_records(self, batch: list[tuple[TP, list[Any]]]) -> None:
        """Process one fetch (aiokafka records per topic-partition); a failure stops the process."""
        try:
            await self.handle(batch)
        except Exception:  # noqa: BLE001
            # Carrying on past the batch would leave its records unfinished forever; stop the
            # process instead, so that a supervisor restarts it from the last committed offsets.
            log.exception("processing a batch failed; exiting so that nothing is skipped")
            os._exit(70)

    async def handle(self, batch: list[tuple[TP, list[Any]]]) -> None:
        if self.stopping:
            return  # not finished: read again after the restart
        async with self.lock:
            if self.stopping:
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
            msgs.extend(await self._reread())
            await self._process(msgs)

    async def _process(self, msgs: list[Message]) -> None:
        started = time.perf_counter()
        out = StepResult()
        self.runtime.accept(msgs, out, now=int(time.time() * 1_000_000))
        self.runtime.step(out, self._wall())
        decided = time.perf_counter()
        await self._commit(out, started, decided, len(msgs))
        log.debug("batch: %d messages in, %d acknowledged, %d buffered, %d alerts",
                  len(msgs), len(out.acks), self.runtime.buffered(), len(out.alerts))

    async def _reread(self) -> list[Message]:
        """Ask the consumer to read again from an offset it skipped, once it made no progress for a second.

        Around a rebalance a message fetched for the previous assignment can arrive after the seek to
        the committed offset; it is held back (see offsets.py) and the re-read from the committed
        offset usually fills the gap by itself. Faust may also drop that re-read (its read offset was
        moved past it); then only a new seek brings the missing messages. When the consumer, asked five
        times over, reads the held messages again and still hands over nothing before them, those
        offsets hold no message: the run from the held message is returned.
        """
        missing = self.book.missing()
        for tp in [tp for tp in self._rereads if tp not in missing]:
            del self._rereads[tp]
        out: list[Message] = []
        now = time.monotonic()
        for tp, (nxt, low) in sorted(missing.items()):
            prev = self._rereads.get(tp)
            if prev is None:
                # routine around a rebalance (the re-read from the committed offset fills it): INFO
                log.info("the consumer skipped offsets %d..%d of %s[%d]; waiting for them",
                         nxt, low - 1, tp.topic, tp.partition,
                         extra={"topic": tp.topic, "partition": tp.partition, "first_offset": nxt,
                                "last_offset": low - 1})
                self._rereads[tp] = (nxt, now, 0)
                continue
            if nxt != prev[0]:
                self._rereads[tp] = (nxt, now, prev[2])  # the missing messages are coming
                continue
            if now - prev[1] < 1.0:
                continue
            attempts = prev[2] + 1
            if attempts > 5 and self.book.echoes(tp):
                run = self.book.skip_to_held(tp)
                log.warning("offsets %d..%d of %s[%d] hold no message (read again five times); going on from %d",
                            nxt, low - 1, tp.topic, tp.partition, low,
                            extra={"topic": tp.topic, "partition": tp.partition, "first_offset": nxt,
                                   "last_offset": low - 1})
                out.extend(run)
                del self._rereads[tp]
                continue
            log.log(logging.INFO if attempts == 1 else logging.WARNING, "reading %s[%d] again from offset %d "
                    "(attempt %d)", tp.topic, tp.partition, nxt, attempts,
                    extra={"topic": tp.topic, "partition": tp.partition, "offset": nxt, "attempt": attempts})
            self._rereads[tp] = (nxt, now, attempts)
            self.book.asked_again(tp)
            self._seek_back(tp, nxt)
        return out

    def _seek_back(self, tp: Any, offset: int) -> None:
        """Have the consumer read ``tp`` again from ``offset``: in the consumer's thread (``seek_wait``), and
        not awaited, so that no lock is held for it and a rebalance never waits for it."""
        task = asyncio.ensure_future(self.app.consumer.seek_wait({tp: offset}))
        task.add_done_callback(_log_seek_failure)

    async def tick(self) -> None:
        if self.stopping:
            return
        async with self.lock:
            if self.stopping:
                return
            try:
                extra = await self._reread()
                if self.settings.clock == "wall" or extra:
                    # on the event clock time moves only with the input (and its watermarks)
                    await self._process(extra)
            except Exception:  # noqa: BLE001 - as for a batch (see handle_records)
                log.exception("processing a tick failed; exiting so that nothing is skipped")
                os._exit(70)
        self._check_stall()
        now = time.monotonic()
        if now - self._held_at >= 5.0:
            self._held_at = now
            self.metrics.on_held(self.book.oldest_open(now))
        tail = self._tail
        if (self._commit_failures and (tail is None or tail.done())
                and time.monotonic() - self._commit_tried_at >= 5.0):
            await self._commit_offsets()  # a failed commit and no batch since: try again
        # beside the tick, not in it: the broker round trip (about a second while the consumer's fetch
        # waits) made the 1 s timer overlap every ten seconds on an idle worker
        if self._ends_task is None or self._ends_task.done():
            self._ends_task = asyncio.ensure_future(self._watch_ends())
            self._ends_task.add_done_callback(_log_watch_failure)

    async def _watch_ends(self, every: float = 5.0, patience: float = 15.0) -> None:
        """Every few seconds, compare each owned input's next offset with its end offset on the broker. A
        topic-partition that has messages from its next offset on but has handed over none for
        ``patience`` seconds is read again from there: Faust can stop delivering one after a rebalance
        (its read offset moved past messages it then drops), and nothing later arrives to show a gap."""
        now = time.monotonic()
        if now - self._ends_at < every:
            return
        self._ends_at = now
        owned = self.book.owned()
        if not owned:
            return
        try:
            ends = await asyncio.wait_for(self.app.consumer.highwaters(*owned), timeout=10.0)
        except Exception as exc:  # noqa: BLE001 - the broker may be away; the ops probe reports that
            log.debug("end offsets unavailable: %s", exc)
            return
        behind: dict[Any, tuple[int, float]] = {}
        for tp in owned:
            nxt, end = self.book.expected(tp), ends.get(tp)
            if nxt is None or end is None or nxt >= end:
                continue
            prev = self._behind.get(tp)
            if prev is None or prev[0] != nxt:
                behind[tp] = (nxt, now)
                continue
            behind[tp] = prev
            if now - prev[1] >= patience and tp not in self._rereads:
                log.warning("nothing read from %s[%d] for %.0f s although it holds offsets %d..%d; reading it "
                            "again from %d", tp.topic, tp.partition, now - prev[1], nxt, end - 1, nxt,
                            extra={"topic": tp.topic, "partition": tp.partition, "first_offset": nxt,
                                   "last_offset": end - 1})
                behind[tp] = (nxt, now)
                self._seek_back(tp, nxt)
        self._behind = behind

    def _check_stall(self) -> None:
        """Say in the log, once a minute at most, why buffered events have waited a minute or more."""
        now = time.monotonic()
        if now - self._progress_at < 60 or not self.runtime.buffered():
            return
        self._progress_at = now
        log.warning("no input finished for 60 s; buffered events wait: %s; next offsets: %s",
                    json.dumps(self.runtime.holdup(), sort_keys=True), self.book.describe())

    async def _commit(self, out: StepResult, started: float, decided: float, messages: int) -> None:
        """Publish the step's outputs, then hand the rest to the batch's finishing task (see ``_finish``).

        Two batches overlap at most: this batch's outputs go out while the previous batch finishes;
        the previous one is awaited before this one's finishing task starts, so that batches finish
        (states written, inputs marked finished, offsets committed) strictly in order.
        """
        previous = self._tail  # every caller holds the lock: no other batch is decided meanwhile
        futures: list[Any] = []
        if out:
            # straight to the producer, a record batch per topic-partition (see publish.py), not
            # through Faust's per-message Topic.send
            batches = RecordBatches(self._producer())
            names = self._names
            where = await self._partitioner()
            topic = names["alerts"]
            for a in out.alerts:
                batches.add(topic, where(topic, a.borrower_id), a.borrower_id.encode(), a.model_dump_json().encode())
            schedules, details = out.schedules, out.details
            topic = names["schedule"]
            for bid in sorted(schedules):
                batches.add(topic, where(topic, bid), bid.encode(), schedules[bid].model_dump_json().encode())
            topic = names["borrowers"]
            for bid in sorted(details):
                batches.add(topic, where(topic, bid), bid.encode(), details[bid].model_dump_json().encode())
            topic = names["dead"]
            for d in out.dead:
                # keyed by the message's key if it had one, else in the partition it was read from
                partition = where(topic, d.key) if d.key else d.partition % self._partition_counts[topic]
                batches.add(topic, partition, d.key.encode() if d.key else None, d.model_dump_json().encode())
            sent_at = time.perf_counter()
            futures = [d.future for d in await batches.send()]
            if self.ops is not None:  # an observer of the deliveries (producer latency and errors)
                self.ops.observe_sends(futures, sent_at)
            # until the finishing task has written them, states are read from here (see _get)
            self._unwritten.update(out.states)
        if previous is not None:
            await previous
        tail = asyncio.ensure_future(self._finish(out, futures, started, decided, messages))
        tail.add_done_callback(_fatal_if_failed)
        self._tail = tail

    async def _finish(self, out: StepResult, futures: list[Any], started: float, decided: float,
                      messages: int) -> None:
        """Wait until the broker has the outputs, write the states, then mark the inputs finished and commit.

        In that order: a crash before the states are written re-reads inputs onto a state that lacks
        them (the same decisions again, the same alert ids); after, onto one that holds them (they are
        duplicates): nothing published is lost, nothing decided twice gets a new id.
        """
        if out:
            await wait_all(futures)
            states = out.states
            if out.acks:
                finish = self.book.finish
                for handle in out.acks:
                    if handle is not None:
                        finish(*handle)
                # the input offsets everything before which is now applied, written with the states
                # they produced: a re-read after a crash starts there whatever the group's committed
                # offsets say (they may lag, or be unreadable just after a broker restart)
                records = self._offset_records()
                if records:
                    states = {**states, **records}
            if states:
                # borrower states, each partition's reached watermark and applied offsets
                await write_states(self.table.data, self._producer(), self._changelog, self.settings.partitions,
                                   states)
                unwritten = self._unwritten
                for bid, blob in out.states.items():
                    if unwritten.get(bid) is blob:
                        del unwritten[bid]
            if out.acks:
                self._progress_at = time.monotonic()
                # commit now: after a crash only the batches in hand are read again (their events are
                # then duplicates of what the table already holds)
                await self._commit_offsets()
            for k, v in out.outcomes.items():
                self.totals[k] = self.totals.get(k, 0) + v
            self.totals["alerts"] = self.totals.get("alerts", 0) + len(out.alerts)
            self.totals["dead_letters"] = self.totals.get("dead_letters", 0) + len(out.dead)
        self.metrics.on_batch(out, started=started, decided=decided, committed=time.perf_counter(),
                              messages=messages, buffered=self.runtime.buffered())

    async def settle(self) -> None:
        """Wait until the batch in flight has finished (states written, offsets committed); hold the lock."""
        if self._tail is not None:
            await self._tail

    def _producer(self) -> Any:
        """aiokafka's producer inside Faust's (started with the app)."""
        return self.app.producer._ensure_producer()

    async def _partitioner(self) -> Callable[[str, str], int]:
        """``where(topic, key)``: the partition Kafka's default partitioner gives ``key`` on an output
        topic (asked of the broker once per topic; they are co-partitioned with the inputs unless
        created otherwise)."""
        counts = self._partition_counts
        if len(counts) < len(self._names):
            producer = self._producer()
            for topic in self._names.values():
                if topic not in counts:
                    counts[topic] = len(await producer.partitions_for(topic))
        return lambda topic, key: partition_for(key, counts[topic])

    def _offset_records(self) -> dict[str, bytes]:
        """The applied-offsets records of the partitions whose positions moved since last written."""
        keys = self._offsets_keys
        for p in range(self.settings.partitions):
            if p not in keys:
                keys[p] = offsets_key(p, self.settings.partitions)
        return applied_records(self.book.positions(), self._recorded, keys)

    async def _commit_offsets(self) -> None:
        """Commit, per input topic-partition, up to the first message not yet finished (see offsets.py).

        A failed commit is logged (at most every 30 s) and tried again with the next batch or tick; the
        table's applied offsets already say where a restart begins."""
        offsets = self.book.to_commit()
        if not offsets:
            return
        self._commit_tried_at = time.monotonic()
        try:
            done = await self.app.consumer._commit_offsets(offsets)
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

    async def recovered(self) -> None:
        """After table recovery: take over the assigned partitions and their pending wake-ups."""
        actives = {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic in self.topics.inputs}
        async with self.lock:
            await self.settle()  # the batch in flight finishes under the book it was taken with
            self.runtime.revoke(list(range(self.settings.partitions)))
            items = [(k.decode() if isinstance(k, bytes) else str(k), bytes(v))
                     for k, v in self.table.items() if v is not None]
            self.runtime.assign(sorted(actives), items)
            self.metrics.on_recovered(sorted(actives), items)
            # where the consumer starts each input (Faust seeks there next anyway); nothing when this
            # worker holds no partition (the consumer refuses to seek then)
            stored = {TP(*tp): off for tp, off in stored_offsets(items, actives, OFFSETS_PREFIX).items()}
            committed = await self._committed() if actives else {}
            starts = {}
            for tp, offset in committed.items():
                if tp.partition not in actives or tp.topic not in self._sources:
                    continue
                key = TP(tp.topic, tp.partition)
                done = int(offset) if offset is not None and offset >= 0 else None
                applied = stored.get(key)
                start = max(x for x in (done, applied, 0) if x is not None)
                if start != done:
                    # Nothing committed yet (the fetcher ran while the table recovered, and what it
                    # fetched then never reaches the shell: read it from the start), or the table has
                    # applied more than the group committed: read on from there.
                    if applied is not None and applied > (done or 0):
                        log.warning("%s[%d]: the table has applied offsets up to %d, the group committed %s; "
                                    "reading on from %d", tp.topic, tp.partition, applied, done, start)
                    await self.app.consumer.seek(tp, start)
                starts[key] = start
                if tp.topic in self.topics.inputs:
                    self.runtime.note_position(tp.partition, tp.topic, start)
            self.book.reset(starts)
            self._recorded = dict(starts)
        log.info("recovered: partitions %s, %d borrowers in the table", sorted(actives), len(items),
                 extra={"partitions": sorted(actives), "borrowers": len(items)})

    async def _committed(self, attempts: int = 5) -> dict[Any, Any]:
        """The group's committed offsets of the assigned partitions (the consumer seeks there), asked
        again with a pause when the broker cannot answer; {} (the table's offsets then decide) when
        it never does."""
        for attempt in range(1, attempts + 1):
            try:
                return dict(await self.app.consumer.seek_to_committed())
            except Exception as exc:  # noqa: BLE001 - logged, asked again
                log.warning("fetching the committed offsets failed (%s: %s; attempt %d of %d)",
                            type(exc).__name__, str(exc)[:200], attempt, attempts)
                await asyncio.sleep(min(8.0, float(attempt)))
        log.error("the committed offsets could not be fetched; starting from the table's applied offsets")
        return {TP(t, p): None for t in self._sources for p in range(self.settings.partitions)}

    async def revoked(self, sender: Any = None, revoked: Any = None, **_: Any) -> None:
        # under the lock: no batch is being decided, and the one in flight finishes (its states written,
        # its offsets committed) while this worker still owns its partitions
        async with self.lock:
            try:
                await self.settle()
            except Exception as exc:  # noqa: BLE001 - a failed batch stops the process (see _fatal_if_failed)
                log.warning("finishing the batch in flight failed: %s", exc)
            parts = sorted({tp.partition for tp in (revoked or ())})
            self.book.forget(TP(tp.topic, tp.partition) for tp in (revoked or ()))
            self.runtime.revoke(parts)


class _App(faust.App):
    """Faust's app, with a drain of the worker shell before Faust stops the consumer and closes the tables."""

    shell: WorkerShell | None = None

    async def on_start(self) -> None:
        await super().on_start()
        if self.shell is not None:
            # before the fetcher first starts (on the first assignment): read by batches
            self.consumer._drain_messages = self.shell.fetch_loop  # type: ignore[method-assign]

    async def on_stop(self) -> None:
        if self.shell is not None:
            await self.shell.drain()
        await super().on_stop()


def create_app(settings: Settings, *, ops: bool = True) -> tuple[faust.App, WorkerShell]:
    """Build the Faust app for ``settings`` (with ``ops``: its /metrics, /healthz and /readyz)."""
    check_offset_fetch_errors()
    topics = Topics(settings.topic_prefix)
    app = _App(
        settings.app_id,
        broker=settings.broker,
        store=settings.store,
        datadir=str(settings.data_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=1.0,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        web_enabled=settings.web_port != 0,
        web_port=settings.web_port or 6066,
        web_bind=settings.web_host,
        **web_options(),  # /metrics, /healthz, /readyz only: none of Faust's views (see ops.py)
        table_standby_replicas=0,
        # events wait, unacknowledged, in the runtime's event-time buffer: a rebalance must not wait
        # for them (they are read again by whoever owns the partition next)
        stream_wait_empty=False,
        producer_acks=-1,
        producer_max_request_size=max(1_048_576, settings.max_message_bytes * 4),
        producer_max_batch_size=262_144,  # a batch per partition and request, not one per 16 kB
        consumer_max_fetch_size=4 * 1_048_576,
        broker_max_poll_records=settings.batch_size,  # one fetch is one batch (see WorkerShell.fetch_loop)
    )
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw",
                           "value_serializer": "raw", "partitions": settings.partitions}
    source = app.topic(*topics.inputs, topics.clock, **raw)
    outputs = {
        "alerts": app.topic(topics.alerts, **raw),
        "schedule": app.topic(topics.schedule, **raw),
        "dead": app.topic(topics.dead_letter, **raw),
        "borrowers": app.topic(topics.borrowers, **raw),
    }
    # bytes in and out: the "raw" codec, so the changelog holds the state's own JSON form
    table = app.Table(TABLE, partitions=settings.partitions, key_type=bytes, value_type=bytes,
                      use_partitioner=True)
    shell = WorkerShell(app, settings, table, outputs)
    app.shell = shell
    if ops:
        shell.ops = install_ops(app, shell, shell.metrics, token=read_token(settings.metrics_token_file))

    # the inputs are subscribed through Faust's conductor like an agent's topic, but read by the
    # shell's own fetcher loop in batches (WorkerShell.fetch_loop), not through an agent's stream
    app.topics.add(source)

    @app.timer(settings.tick_seconds, name="monitor.tick")
    async def tick() -> None:
        await shell.tick()

    table.on_recover(shell.recovered)
    app.on_partitions_revoked.connect(shell.revoked)
    _ = tick
    return app, shell
