"""Publishing: records as one Kafka record batch per topic-partition.

aiokafka's ``send`` makes a future and, on delivery, a ``RecordMetadata`` for every
record; for a worker that publishes a few records per input event that costs as much
as deciding them. :class:`RecordBatches` fills aiokafka's own ``BatchBuilder`` per
topic-partition (its public ``create_batch``) and submits each with ``send_batch``: the
same records, in the same order per partition, one future per batch. The worker's
outputs and the table's changelog records go out that way (see checkpoint.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Delivery", "RecordBatches", "wait_all"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One submitted batch: its topic-partition, how many records it holds, and its future (aiokafka's
    ``RecordMetadata`` of the batch: ``offset`` is the first record's offset)."""

    topic: str
    partition: int
    records: int
    future: Any

    def last_offset(self) -> int:
        """The offset the broker gave the batch's last record (the batch must be delivered)."""
        return int(self.future.result().offset) + self.records - 1


class RecordBatches:
    """Collects records per topic-partition into aiokafka batches; :meth:`send` submits them."""

    def __init__(self, producer: Any) -> None:
        self._producer = producer  # an aiokafka AIOKafkaProducer
        self._open: dict[tuple[str, int], Any] = {}
        self._full: list[tuple[str, int, Any]] = []

    def add(self, topic: str, partition: int, key: bytes | None, value: bytes) -> None:
        where = (topic, partition)
        builder = self._open.get(where)
        if builder is not None:
            if builder.append(timestamp=None, key=key, value=value) is not None:
                return
            self._full.append((topic, partition, builder))  # full: submitted before the next one
        builder = self._open[where] = self._producer.create_batch()
        # aiokafka takes a fresh batch's first record whatever its size (the batch grows to hold it)
        if builder.append(timestamp=None, key=key, value=value) is None:
            raise ValueError(f"a record of {len(value)} bytes for {topic}[{partition}] fits no batch")

    async def send(self) -> list[Delivery]:
        """Submit every batch (in the order they were filled per topic-partition); nothing is awaited
        beyond aiokafka's own queueing. Wait on the futures of the deliveries returned."""
        out: list[Delivery] = []
        pending = self._full + [(t, p, b) for (t, p), b in self._open.items()]
        self._full, self._open = [], {}
        producer = self._producer
        for topic, partition, builder in pending:
            builder.close()  # nothing else is appended to it (aiokafka's send could, to an open one)
            out.append(Delivery(topic, partition, builder.record_count(),
                                await producer.send_batch(builder, topic, partition=partition)))
        return out


async def wait_all(futures: list[Any]) -> list[Any]:
    """The results of ``futures``, in order (the first failure raises). Unlike ``asyncio.gather`` it
    schedules no callback for a future already done, as most of a batch's sends are by now."""
    results = []
    for fut in futures:
        results.append(fut.result() if fut.done() else await fut)
    return results
