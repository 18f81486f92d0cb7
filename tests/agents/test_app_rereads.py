"""The worker shell asks the consumer to read a topic-partition again when Faust stops handing it over.

The consumer is a stand-in that records the seeks (the real case, Faust dropping messages after a
rebalance, is exercised against the broker in tests/integration/test_worker.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

from faust.types import TP

from monitor.agents.app import create_app
from monitor.settings import Settings


class Consumer:
    def __init__(self, ends: dict[TP, int]) -> None:
        self.ends = ends
        self.seeks: list[dict[TP, int]] = []

    async def highwaters(self, *tps: TP) -> dict[TP, int]:
        return {tp: self.ends[tp] for tp in tps if tp in self.ends}

    async def seek_wait(self, partitions: dict[TP, int]) -> None:
        self.seeks.append(dict(partitions))


def _shell(tmp_path: Path, consumer: Consumer):
    _, shell = create_app(Settings(store="memory://", data_dir=tmp_path / "d", app_id="rereads", partitions=4,
                                   topic_prefix="rr."), ops=False)
    shell.app = SimpleNamespace(consumer=consumer)
    return shell


async def _settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


def test_a_partition_that_stops_short_of_its_end_is_read_again(tmp_path: Path):
    tp, done = TP("rr.overdue-events", 2), TP("rr.lawsuits", 2)
    consumer = Consumer({tp: 196, done: 5})
    shell = _shell(tmp_path, consumer)
    shell.book.reset({tp: 0, done: 5})
    for off in range(12):
        shell.book.take(tp, off, off)

    async def run() -> None:
        await shell._watch_ends(every=0, patience=0)  # first look: 12 < 196, noted
        await _settle()
        assert consumer.seeks == []
        await shell._watch_ends(every=0, patience=0)  # nothing new since: read again from 12
        await _settle()
        assert consumer.seeks == [{tp: 12}]  # never the partition that is at its end
        shell.book.take(tp, 12, 12)  # progress: no new seek
        await shell._watch_ends(every=0, patience=0)
        await _settle()
        assert consumer.seeks == [{tp: 12}]

    asyncio.run(run())


def test_a_message_past_a_missing_one_is_held_and_the_gap_read_again(tmp_path: Path):
    tp = TP("rr.bureau-reports", 1)
    consumer = Consumer({tp: 50})
    shell = _shell(tmp_path, consumer)
    shell.book.reset({tp: 10})
    assert shell.book.take(tp, 20, "m20") == []  # 10..19 skipped by the consumer

    async def run() -> None:
        assert await shell._reread() == []  # first seen: wait for them
        assert consumer.seeks == []
        shell._rereads[tp] = (10, shell._rereads[tp][1] - 2.0, 0)  # a second and more without progress
        assert await shell._reread() == []
        await _settle()
        assert consumer.seeks == [{tp: 10}]

    asyncio.run(run())
