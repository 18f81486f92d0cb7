"""Record batches reach the real broker complete, in order per partition, with the offsets they report."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from monitor.agents.publish import RecordBatches
from tests.integration.kafka_harness import Names, read_topic

pytestmark = pytest.mark.integration


def test_records_arrive_in_order_per_partition_with_the_offsets_reported(broker, names: Names):
    topic = f"{names.prefix}publish"
    admin = KafkaAdminClient(bootstrap_servers=[broker.bootstrap])
    try:
        admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        admin.close()
    # small batches, so that records fill several per partition; one record larger than a batch
    sent = [(i % 3, f"k{i}".encode(), f"value {i} ".encode() * 40) for i in range(600)]
    big = (1, b"big", b"x" * 50_000)
    sent.insert(300, big)

    async def run() -> list:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, max_batch_size=16_384, acks="all",
                                    max_request_size=1_048_576)
        await producer.start()
        try:
            batches = RecordBatches(producer)
            for partition, key, value in sent:
                batches.add(topic, partition, key, value)
            deliveries = await batches.send()
            await asyncio.gather(*(d.future for d in deliveries))
            return deliveries
        finally:
            await producer.stop()

    deliveries = asyncio.run(run())
    assert sum(d.records for d in deliveries) == len(sent)
    assert sum(1 for d in deliveries if d.partition == 1) > 3  # several batches, the large record alone
    got = read_topic(broker.bootstrap, topic)
    for partition in range(3):
        mine = [(k, v) for p, k, v in sent if p == partition]
        theirs = sorted((r for r in got if r.partition == partition), key=lambda r: r.offset)
        assert [(r.key, r.value) for r in theirs] == mine  # nothing lost, nothing reordered
        last = max(d.last_offset() for d in deliveries if d.partition == partition)
        assert last == theirs[-1].offset  # what the worker records as the changelog's persisted offset
