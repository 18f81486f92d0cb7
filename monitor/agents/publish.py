"""Records published as one Kafka record batch per topic-partition, with one delivery future per batch.

aiokafka's ``send`` makes a future and, on delivery, a ``RecordMetadata`` for every
record; for a worker that publishes a few records per input event that costs as much
as deciding them. :class:`RecordBatches` fills aiokafka's own ``BatchBuilder`` per
topic-partition (``create_batch``) and submits each with ``send_batch``: the same
records, in the same order per partition, one future per batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Delivery", "RecordBatches"]


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
        self._single: list[tuple[str, int, bytes | None, bytes]] = []  # too large for a batch of their own

    def add(self, topic: str, partition: int, key: bytes | None, value: bytes) -> None:
        where = (topic, partition)
        builder = self._open.get(where)
        if builder is None:
            builder = self._open[where] = self._producer.create_batch()
        if builder.append(timestamp=None, key=key, value=value) is not None:
            return
        if builder.record_count():
            self._full.append((topic, partition, builder))
            builder = self._open[where] = self._producer.create_batch()
            if builder.append(timestamp=None, key=key, value=value) is not None:
                return
        # larger than a whole batch: sent on its own (aiokafka makes a batch of its size), after the
        # records before it in its partition (submitted in order by send) and before any after it
        self._full.append((topic, partition, builder))
        del self._open[where]
        self._full.append((topic, partition, (key, value)))

    async def send(self) -> list[Delivery]:
        """Submit every batch (in the order they were filled per topic-partition); nothing is awaited
        beyond aiokafka's own queueing. Wait on the futures of the deliveries returned."""
        out: list[Delivery] = []
        pending = self._full + [(t, p, b) for (t, p), b in self._open.items()]
        self._full, self._open = [], {}
        producer = self._producer
        for topic, partition, item in pending:
            if isinstance(item, tuple):
                key, value = item
                out.append(Delivery(topic, partition, 1,
                                    await producer.send(topic, value, key=key, partition=partition)))
                continue
            if item.record_count():
                out.append(Delivery(topic, partition, item.record_count(),
                                    await producer.send_batch(item, topic, partition=partition)))
        return out
