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
from typing import Any

from monitor.desk.reporting import InputRecord, Inputs, Notice
from monitor.desk.settings import DeskSettings
from monitor.topics import Topics

__all__ = ["KafkaReportSource"]

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
