"""``monitor produce``: publish an event file to the input topics, in event-time order.

Each valid line goes, byte for byte, to its feed's topic keyed by
``borrower_id``, in ``occurred_at`` order (stable for ties, exactly as
``monitor replay`` applies them), with a ``seq`` header giving that order.
Bad lines are not sent: they are counted and written to a rejects file.

With ``--watermark`` (the default) it ends by publishing, to every partition
of the clock topic, a watermark: "every event up to and including instant H
has been published, and these are the input topics' end offsets". A worker on
the ``event`` clock uses it to settle everything up to H, exactly as a replay
with ``--as-of H`` does. H is the newest ``occurred_at`` sent, or
``--watermark-at`` (which an empty file needs: a watermark alone moves an
event-clock worker's time forward). The end offsets are the broker's, for every
input topic, so a watermark never runs ahead of events sent before this run.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from monitor._time import iso
from monitor.jsonl import Reject, iter_lines, parse_lines
from monitor.settings import Settings
from monitor.topics import Topics

__all__ = ["ProduceResult", "produce", "send_watermark"]


@dataclass(slots=True)
class ProduceResult:
    sent: int = 0
    rejected: list[Reject] = field(default_factory=list)
    by_topic: dict[str, int] = field(default_factory=dict)
    watermark: int | None = None
    elapsed: float = 0.0


def _producer(settings: Settings):  # type: ignore[no-untyped-def]
    from aiokafka import AIOKafkaProducer

    return AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=20, acks="all",
                            max_batch_size=262_144, enable_idempotence=True, request_timeout_ms=30_000)


async def send_watermark(producer, settings: Settings, at: int,  # type: ignore[no-untyped-def]
                         end_offsets: dict[str, dict[int, int]]) -> None:
    """Publish the watermark ``at`` with the input topics' end offsets to every clock partition."""
    topics = Topics(settings.topic_prefix)
    futures = []
    for partition in range(settings.partitions):
        body = {"at": iso(at), "offsets": {t: offs.get(partition, 0) for t, offs in sorted(end_offsets.items())}}
        futures.append(await producer.send(topics.clock, json.dumps(body, sort_keys=True).encode(),
                                           partition=partition))
    await asyncio.gather(*futures)


def _broker_ends(settings: Settings, topics: Topics) -> dict[str, dict[int, int]]:
    """The input topics' end offsets on the broker, per partition (kafka-python; run in a thread)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None, enable_auto_commit=False,
                             client_id="monitor-produce")
    try:
        tps = [TopicPartition(t, p) for t in topics.inputs for p in sorted(consumer.partitions_for_topic(t) or ())]
        ends = consumer.end_offsets(tps) if tps else {}
    finally:
        consumer.close()
    out: dict[str, dict[int, int]] = {t: {} for t in topics.inputs}
    for tp, offset in ends.items():
        out[tp.topic][tp.partition] = int(offset)
    return out


async def _produce(paths: Sequence[str | Path], settings: Settings, watermark: bool,
                   watermark_at: int | None = None) -> ProduceResult:
    started = time.perf_counter()
    result = ProduceResult()
    events = []
    raws: list[bytes] = []  # the original bytes: the worker validates what upstream sent
    for path in paths:
        events.extend(parse_lines(str(path), iter_lines(path), result.rejected, raws))
    order = sorted(range(len(events)), key=lambda i: events[i][0])
    topics = Topics(settings.topic_prefix)
    producer = _producer(settings)
    await producer.start()
    try:
        end: dict[str, dict[int, int]] = {t: {} for t in topics.inputs}
        pending = []
        for seq, i in enumerate(order):
            t, ev = events[i]
            topic = topics.feed(ev.type)
            fut = await producer.send(topic, raws[i], key=ev.borrower_id.encode(),
                                      headers=[("seq", str(seq).encode())])
            pending.append((topic, fut))
            result.by_topic[topic] = result.by_topic.get(topic, 0) + 1
            if len(pending) >= 5000:
                await _settle(pending, end)
        await _settle(pending, end)
        result.sent = len(order)
        at = watermark_at if watermark_at is not None else (events[order[-1]][0] if order else None)
        if watermark and at is not None:
            result.watermark = at
            broker = await asyncio.to_thread(_broker_ends, settings, topics)
            for topic, parts in broker.items():  # never behind what this run sent
                for partition, offset in end.get(topic, {}).items():
                    parts[partition] = max(parts.get(partition, 0), offset)
            await send_watermark(producer, settings, result.watermark, broker)
        await producer.flush()
    finally:
        await producer.stop()
    result.elapsed = time.perf_counter() - started
    return result


async def _settle(pending: list, end: dict[str, dict[int, int]]) -> None:  # type: ignore[type-arg]
    for topic, fut in pending:
        meta = await fut
        parts = end[topic]
        if meta.offset + 1 > parts.get(meta.partition, 0):
            parts[meta.partition] = meta.offset + 1
    pending.clear()


def produce(paths: Sequence[str | Path], settings: Settings, watermark: bool = True,
            watermark_at: int | None = None) -> ProduceResult:
    """Publish the events of ``paths`` to the input topics; see the module docstring."""
    return asyncio.run(_produce(paths, settings, watermark, watermark_at))
