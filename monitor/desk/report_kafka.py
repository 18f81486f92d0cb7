"""The reports' Kafka shell: read the feed and dead-letter topics for a build, read and publish notices.

A build reads every partition of the feed topics and of the dead-letter topic
from the beginning to the end offsets it finds when it starts (a consumer
without a group: nothing is committed, other consumers are not disturbed).
Notices go to the ``reports`` topic keyed by report id, with ``acks=all`` and
an idempotent producer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

from monitor.desk.report_feeds import Snapshot
from monitor.desk.report_fold import ReportFold
from monitor.desk.reporting import InputRecord, Inputs, Notice
from monitor.desk.settings import DeskSettings
from monitor.topics import Topics

__all__ = ["KafkaFold", "KafkaReportSource"]

log = logging.getLogger("monitor.desk.reports")


def _seq(headers: Any) -> int | None:
    for key, value in headers or ():
        if key == "seq":
            try:
                return int(value)
            except (TypeError, ValueError):
                return None
    return None


class KafkaReportSource:
    """:class:`~monitor.desk.reporting.Source` on a real broker."""

    def __init__(self, settings: DeskSettings, timeout: float = 600.0) -> None:
        self.servers = settings.bootstrap_servers
        self.topics = Topics(settings.topic_prefix)
        self.timeout = timeout

    def _consumer(self) -> Any:
        from aiokafka import AIOKafkaConsumer

        return AIOKafkaConsumer(bootstrap_servers=self.servers, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", request_timeout_ms=30_000,
                                max_partition_fetch_bytes=4 * 1_048_576)

    async def _read(self, topics: list[str], take: Any) -> dict[str, int]:
        """Feed every message of ``topics`` up to their current end to ``take``; partition count per topic."""
        from aiokafka import TopicPartition

        parts = await self._partitions(topics)
        counts = {t: len(p) for t, p in parts.items()}
        tps = [TopicPartition(t, p) for t in topics for p in parts[t]]
        consumer = self._consumer()
        await consumer.start()
        try:
            consumer.assign(tps)
            start = await consumer.beginning_offsets(tps)
            end = await consumer.end_offsets(tps)
            for tp in tps:
                if start[tp] > 0 and tp.topic != self.topics.reports:
                    log.warning("%s partition %d starts at offset %d: older messages are gone (retention)",
                                tp.topic, tp.partition, start[tp])
            await consumer.seek_to_beginning(*tps)
            left = {tp for tp in tps if end[tp] > start[tp]}
            deadline = time.monotonic() + self.timeout
            while left:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"could not read {len(left)} partitions to their end in {self.timeout:.0f} s")
                got = await consumer.getmany(timeout_ms=500, max_records=20_000)
                for tp, messages in got.items():
                    for m in messages:
                        if m.offset < end[tp]:
                            take(tp, m)
                for tp in list(left):
                    if await consumer.position(tp) >= end[tp]:
                        left.discard(tp)
                await asyncio.sleep(0)
            return counts
        finally:
            await consumer.stop()

    async def _partitions(self, topics: list[str]) -> dict[str, list[int]]:
        """Each topic's partitions (from a producer's metadata: a consumer without a group has none to give)."""
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=self.servers, request_timeout_ms=30_000)
        await producer.start()
        try:
            existing = await producer.client.fetch_all_metadata()
            missing = [t for t in topics if t not in existing.topics()]
            if missing:
                raise RuntimeError(f"topics {', '.join(missing)} do not exist (monitor topics create)")
            return {t: sorted(await producer.partitions_for(t)) for t in topics}
        finally:
            await producer.stop()

    async def read_inputs(self) -> Inputs:
        records: list[InputRecord] = []
        dead: dict[tuple[str, int, int], str] = {}
        feeds = set(self.topics.inputs)
        bad_letters = 0

        def take(tp: Any, m: Any) -> None:
            nonlocal bad_letters
            if tp.topic in feeds:
                records.append(InputRecord(tp.topic, tp.partition, m.offset, m.key, m.value, int(m.timestamp),
                                           _seq(m.headers)))
                return
            try:
                doc = json.loads(m.value or b"")
                where = (str(doc["topic"]), int(doc["partition"]), int(doc["offset"]))
                dead[where] = str(doc["reason"])
            except (ValueError, KeyError, TypeError):
                bad_letters += 1

        counts = await self._read([*self.topics.inputs, self.topics.dead_letter], take)
        if bad_letters:
            log.warning("%d messages of %s are not dead letters: ignored", bad_letters, self.topics.dead_letter)
        partitions = max((counts[t] for t in self.topics.inputs), default=1)
        log.info("read %d input messages and %d dead letters for a report", len(records), len(dead))
        return Inputs(records, dead, partitions)

    async def published(self) -> set[str]:
        ids: set[str] = set()

        def take(tp: Any, m: Any) -> None:
            if m.key:
                ids.add(m.key.decode("utf-8", "replace"))

        await self._read([self.topics.reports], take)
        return ids

    async def publish(self, notice: Notice) -> None:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=self.servers, acks="all", enable_idempotence=True,
                                    request_timeout_ms=30_000)
        await producer.start()
        try:
            fut = await producer.send(self.topics.reports, notice.model_dump_json().encode(),
                                      key=notice.report_id.encode())
            await fut
        finally:
            await producer.stop()


class KafkaFold:
    """Reads the day-ends, alerts and dead-letter topics from their beginning into a :class:`ReportFold`
    for as long as the desk runs (a consumer without a group), and writes a report's input from the fold
    once it holds every input message the feeds had when the build began (see monitor.desk.report_fold).
    A restarted desk folds the retained topics again: the same rows, the same report."""

    def __init__(self, settings: DeskSettings, fold: ReportFold, timeout: float = 600.0) -> None:
        self.source = KafkaReportSource(settings, timeout)
        self.fold = fold
        self.topics = fold.topics
        self.timeout = timeout
        self._lock = asyncio.Lock()  # the consumer folds only while no input directory is being written
        self._task: asyncio.Task[None] | None = None
        self._consumer: Any = None
        self._failed: BaseException | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="report-fold")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping: its error was logged
                pass
            self._task = None

    async def _run(self) -> None:
        from aiokafka import TopicPartition

        names = [self.topics.day_ends, self.topics.alerts, self.topics.dead_letter]
        try:
            parts = await self.source._partitions(names)
        except Exception as exc:
            self._failed = exc
            log.error("reports from the workers' day-end rows: %s (do the workers run with MONITOR_DAY_ENDS=true? "
                      "monitor topics create makes the topic)", exc)
            raise
        tps = [TopicPartition(t, p) for t in names for p in parts[t]]
        consumer = self.source._consumer()
        await consumer.start()
        self._consumer = consumer
        try:
            consumer.assign(tps)
            start, end = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
            self.fold.partitions = {tp.partition for tp in tps if tp.topic == self.topics.day_ends
                                    and end[tp] > start[tp]}  # months close once each of them is read past
            await consumer.seek_to_beginning(*tps)
            take = self.fold.take

            def fold(got: dict[Any, list[Any]]) -> None:
                for tp, batch in got.items():
                    for m in batch:
                        take(tp.topic, tp.partition, m.offset, m.value, int(m.timestamp))

            while True:
                got = await consumer.getmany(timeout_ms=1000, max_records=2_000)
                if got:
                    async with self._lock:  # in a thread: the desk's requests go on meanwhile (a month closing
                        await asyncio.to_thread(fold, got)  # at a million borrowers takes seconds)
        finally:
            self._consumer = None
            await consumer.stop()

    async def _ends(self, topics: list[str]) -> dict[tuple[str, int], int]:
        from aiokafka import TopicPartition

        parts = await self.source._partitions(topics)
        tps = [TopicPartition(t, p) for t in topics for p in parts[t]]
        consumer = self.source._consumer()
        await consumer.start()
        try:
            end = await consumer.end_offsets(tps)
        finally:
            await consumer.stop()
        return {(tp.topic, tp.partition): int(o) for tp, o in end.items()}

    async def _times(self, built_at: int) -> None:
        """The own timestamps of the refused messages dead-lettered after ``built_at`` (read from their feeds:
        a build counts those that reached the broker by then, as the build from the feeds does)."""
        from aiokafka import TopicPartition

        wanted = self.fold.unknown_times(built_at)
        if not wanted:
            return
        consumer = self.source._consumer()
        await consumer.start()
        try:
            for topic, part, offset in wanted:
                tp = TopicPartition(topic, part)
                consumer.assign([tp])
                consumer.seek(tp, offset)
                at = None
                for _ in range(20):
                    got = await consumer.getmany(tp, timeout_ms=500, max_records=1)
                    m = next(iter(got.get(tp, ())), None)
                    if m is not None:
                        at = int(m.timestamp) * 1000 if m.offset == offset else None
                        break
                if at is None:
                    log.warning("%s partition %d offset %d (refused): its message is gone; not counted", topic,
                                part, offset)
                    at = built_at + 1
                self.fold.sent_at(topic, part, offset, at)
        finally:
            await consumer.stop()

    async def snapshot(self, out: Path, *, until: int, built_at: int) -> Snapshot:
        """The input directory of the reports ending with the day ``until`` (a day number), written once the
        fold holds every feed message below the end offsets at this call, and the three topics up to their
        end offsets after that; ``TimeoutError`` with the count of messages missing after ``timeout``."""
        import time

        deadline = time.monotonic() + self.timeout
        feeds = await self._ends(list(self.topics.inputs))
        while True:
            if self._failed is not None:
                raise RuntimeError(f"the day-end rows cannot be read: {self._failed}")
            if self._task is None or self._task.done():
                raise RuntimeError("the day-end rows are not being read (the fold's consumer stopped)")
            missing = self.fold.missing(feeds)
            if not missing:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"no day-end row or dead letter names {sum(missing.values())} messages of the feeds "
                    f"({', '.join(f'{t}: {n}' for t, n in sorted(missing.items()))}) after {self.timeout:.0f} s: "
                    "every worker must run with MONITOR_DAY_ENDS=true (since the first message of the feeds), "
                    "and be caught up (on the event clock, a watermark past the period's end)")
            await asyncio.sleep(0.5)
        own = await self._ends([self.topics.day_ends, self.topics.alerts, self.topics.dead_letter])
        while any(self.fold.positions.get(k, 0) < end for k, end in own.items()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read the day-ends, alerts and dead-letter topics to their end in "
                                   f"{self.timeout:.0f} s")
            await asyncio.sleep(0.2)
        await self._times(built_at)
        offsets: dict[str, dict[int, int]] = {}
        for (t, p), end in sorted(feeds.items()):
            offsets.setdefault(t, {})[p] = end
        async with self._lock:
            snap = await asyncio.to_thread(self.fold.write, out, until=until, built_at=built_at, offsets=offsets)
        log.info("report input from the day-end rows: %s", self.fold.describe())
        return snap
