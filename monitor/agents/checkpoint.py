"""One batch's way from its decisions to its committed input offsets: one object, numbered steps.

The order of the steps is what makes a crash at any point harmless (at-least-once delivery with
idempotent alert ids, and a re-read never applied twice):

1. **publish** the batch's outputs (alerts, visit schedule, borrower details, day-end rows, dead letters): one
   record batch per topic-partition, handed to the producer and not awaited (the next batch is
   decided meanwhile);
2. **delivered**: wait until the broker has every output record (``acks=all``). A crash before this
   reads the inputs again onto states that lack them: the same decisions, the same alert ids;
3. **finished**: mark the batch's input messages finished in the offset book; the applied offsets of
   each partition become a table record of their own;
4. **changelog**: send the touched states, each partition's reached watermark and its applied offsets
   to the table's changelog, one record batch per partition, and wait until the broker has them;
5. **stored**: write those values and the offset their partition's last changelog record got to the
   local store, in one RocksDB write batch per partition: the store never holds a changelog offset
   ahead of its values (nor values ahead of it), so after a SIGKILL it is used as it is and recovery
   reads the changelog on from that offset (the store used to be wiped after an unclean stop);
6. **committed**: commit the input offsets up to the first message not finished. A crash before this
   is harmless too: the table's applied offsets say where to read on, whatever the group committed.

Checkpoints finish strictly in order (each waits for the one before it) and at most one is in
flight while the next batch is decided.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from monitor.agents.publish import Delivery, RecordBatches, wait_all
from monitor.agents.runtime import StepResult
from monitor.day_ends import messages

__all__ = ["Checkpoint", "Outputs"]


class Outputs:
    """Where a step's outputs go: the output topics' names and their partitioner."""

    def __init__(self, alerts: str, schedule: str, borrowers: str, dead: str,
                 where: Callable[[str, str], int], dead_partition: Callable[[int], int], day_ends: str = "") -> None:
        self.alerts, self.schedule, self.borrowers, self.dead = alerts, schedule, borrowers, dead
        self.day_ends = day_ends  # "" : not published
        self.where = where  # (topic, key) -> partition
        self.dead_partition = dead_partition  # the partition a keyless dead letter goes to, by its input's


class Checkpoint:
    """The numbered steps of the module docstring, for one :class:`StepResult`."""

    def __init__(self, out: StepResult, *, port: Any, outputs: Outputs, finish_inputs: Callable[[list[Any]], None],
                 offset_records: Callable[[], dict[str, bytes]], partition_of: Callable[[str], int],
                 unwritten: dict[str, bytes], commit: Callable[[], Awaitable[None]],
                 observe_sends: Callable[[list[Any], float], None] | None = None,
                 commit_due: Callable[[], bool] = lambda: False) -> None:
        self.out = out
        self.port = port
        self.outputs = outputs
        self.finish_inputs = finish_inputs
        self.offset_records = offset_records
        self.partition_of = partition_of
        self.unwritten = unwritten
        self.commit = commit
        self.observe_sends = observe_sends
        self.commit_due = commit_due  # an earlier commit failed: try again even without inputs of its own
        self.step = 0  # the last step done
        self._outputs: list[Any] = []

    async def publish(self) -> None:
        """Step 1 (the caller holds the processing lock; the states are readable from ``unwritten`` until
        step 5 wrote them)."""
        out = self.out
        if out:
            o = self.outputs
            where = o.where
            batches = RecordBatches(self.port.producer())
            for a in out.alerts:
                batches.add(o.alerts, where(o.alerts, a.borrower_id), a.borrower_id.encode(), a.model_dump_json().encode())
            for bid in sorted(out.schedules):
                batches.add(o.schedule, where(o.schedule, bid), bid.encode(), out.schedules[bid].model_dump_json().encode())
            for bid in sorted(out.details):
                batches.add(o.borrowers, where(o.borrowers, bid), bid.encode(), out.details[bid].model_dump_json().encode())
            if o.day_ends and out.day_ends:
                by_part: dict[int, list[bytes]] = {}
                for bid, row in out.day_ends:
                    by_part.setdefault(where(o.day_ends, bid), []).append(row)
                for part in sorted(by_part):
                    for value in messages(by_part[part]):
                        batches.add(o.day_ends, part, None, value)
            for d in out.dead:
                # keyed by the message's key if it had one, else in the partition it was read from
                partition = where(o.dead, d.key) if d.key else o.dead_partition(d.partition)
                batches.add(o.dead, partition, d.key.encode() if d.key else None, d.model_dump_json().encode())
            started = time.perf_counter()
            self._outputs = [d.future for d in await batches.send()]
            if self.observe_sends is not None:
                self.observe_sends(self._outputs, started)
            self.unwritten.update(out.states)
        self.step = 1

    async def finish(self, previous: asyncio.Future[Any] | None = None) -> None:
        """Steps 2 to 6, once the checkpoint before this one has finished."""
        if previous is not None:
            await previous
        out = self.out
        if not out:
            if self.commit_due():
                await self.commit()
            self.step = 6
            return
        await wait_all(self._outputs)
        self.step = 2
        states: Mapping[str, bytes] = out.states
        if out.acks:
            self.finish_inputs(out.acks)
            records = self.offset_records()
            if records:
                states = {**states, **records}
        self.step = 3
        if states:
            stored = await self._changelog(states)
            self.step = 4
            for partition, (values, offset) in sorted(stored.items()):
                self.port.write(partition, values, offset)
            unwritten = self.unwritten
            for bid, blob in out.states.items():
                if unwritten.get(bid) is blob:
                    del unwritten[bid]
        self.step = 5
        if out.acks or self.commit_due():
            await self.commit()
        self.step = 6

    async def _changelog(self, states: Mapping[str, bytes]) -> dict[int, tuple[dict[bytes, bytes], int]]:
        """Step 4: the records to the changelog, delivered; per partition the values and the offset its
        last record got."""
        changelog = self.port.changelog
        batches = RecordBatches(self.port.producer())
        by_partition: dict[int, dict[bytes, bytes]] = {}
        partition_of = self.partition_of
        for key, blob in states.items():
            partition = partition_of(key)
            raw = key.encode()
            by_partition.setdefault(partition, {})[raw] = blob
            batches.add(changelog, partition, raw, blob)
        deliveries: list[Delivery] = await batches.send()
        await wait_all([d.future for d in deliveries])
        last: dict[int, int] = {}
        for d in deliveries:
            last[d.partition] = max(last.get(d.partition, -1), d.last_offset())
        return {p: (values, last[p]) for p, values in by_partition.items()}
