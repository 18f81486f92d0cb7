"""An in-memory :class:`monitor.agents.port.Port`: the worker shell's unit tests run on it, no broker.

It keeps topics as lists of records per (topic, partition), the table as a dict plus the changelog offset
of each partition's store, the group's committed offsets, and a journal of what the shell asked for in
the order it asked (``published``, ``changelog``, ``stored``, ``committed``, ``seek``), so that a test can
check the order of a checkpoint's steps. Deliveries can be held back (``hold()``/``release()``) to see
what the shell does while the broker has not answered yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple


class TP(NamedTuple):
    topic: str
    partition: int


@dataclass
class Record:
    """What the shell reads of an aiokafka ConsumerRecord."""

    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass
class Sent:
    offset: int  # the offset the broker gave the batch's first record


class _Builder:
    def __init__(self, limit: int = 64) -> None:
        self.records: list[tuple[bytes | None, bytes]] = []
        self.limit = limit
        self.closed = False

    def append(self, *, timestamp: Any, key: bytes | None, value: bytes, headers: Any = ()) -> Any:
        if self.closed or len(self.records) >= self.limit:
            return None
        self.records.append((key, value))
        return object()

    def close(self) -> None:
        self.closed = True

    def record_count(self) -> int:
        return len(self.records)


class _Producer:
    def __init__(self, port: MemoryPort) -> None:
        self.port = port

    def create_batch(self) -> _Builder:
        return _Builder()

    async def send_batch(self, builder: _Builder, topic: str, *, partition: int) -> asyncio.Future[Sent]:
        log = self.port.topics.setdefault((topic, partition), [])
        first = len(log)
        log.extend(builder.records)
        fut: asyncio.Future[Sent] = asyncio.get_running_loop().create_future()
        kind = "changelog" if topic == self.port.changelog else "published"
        self.port.journal.append((kind, topic, partition, builder.record_count()))
        if self.port.held is None:
            fut.set_result(Sent(first))
        else:
            self.port.held.append((fut, Sent(first)))
        return fut


class MemoryPort:
    """The port's protocol, in memory (see the module docstring)."""

    def __init__(self, changelog: str = "app-borrowers-changelog") -> None:
        self.changelog = changelog
        self.gen = 1
        self.active: set[TP] = set()
        self.group: dict[TP, int] = {}  # committed offsets
        self.ends: dict[TP, int] = {}
        self.topics: dict[tuple[str, int], list[tuple[bytes | None, bytes]]] = {}
        self.table: dict[bytes, bytes] = {}
        self.store_offsets: dict[int, int] = {}
        self.journal: list[tuple[Any, ...]] = []
        self.refuse_commits = 0  # the next N commits answer False
        self.held: list[tuple[asyncio.Future[Sent], Sent]] | None = None
        self.remaining: int | None = None

    # the test's levers
    def hold(self) -> None:
        """Deliveries stay pending until :meth:`release`."""
        self.held = []

    def release(self) -> None:
        held, self.held = self.held or [], None
        for fut, sent in held:
            fut.set_result(sent)

    def assign(self, tps: Iterable[TP]) -> None:
        self.active = set(tps)

    # the consumer
    def generation(self) -> int:
        return self.gen

    def assigned(self) -> set[TP]:
        return set(self.active)

    def assignment(self) -> set[TP]:
        return set(self.active)

    async def committed(self) -> dict[TP, int | None]:
        return {tp: self.group.get(tp) for tp in self.active}

    async def seek(self, tp: TP, offset: int) -> None:
        self.journal.append(("seek", tp, offset))

    def seek_soon(self, tp: TP, offset: int) -> asyncio.Future[None]:
        self.journal.append(("seek", tp, offset))
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut

    async def commit(self, offsets: Mapping[TP, int]) -> bool:
        if self.refuse_commits:
            self.refuse_commits -= 1
            self.journal.append(("commit refused", dict(offsets)))
            return False
        self.group.update(offsets)
        self.journal.append(("committed", dict(offsets)))
        return True

    async def end_offsets(self, tps: Iterable[TP]) -> dict[TP, int]:
        return {tp: self.ends[tp] for tp in tps if tp in self.ends}

    async def first_offsets(self, tps: Iterable[TP]) -> dict[TP, int]:
        return {tp: 0 for tp in tps}

    def last_committed(self) -> dict[TP, int | None]:
        return dict(self.group)

    def recovery_remaining(self) -> int | None:
        return self.remaining

    # the producer
    def producer(self) -> _Producer:
        return _Producer(self)

    # the table
    def get(self, key: bytes) -> bytes | None:
        return self.table.get(key)

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        yield from list(self.table.items())

    def write(self, partition: int, values: Mapping[bytes, bytes], changelog_offset: int) -> None:
        self.table.update(values)
        self.store_offsets[partition] = changelog_offset
        self.journal.append(("stored", partition, len(values), changelog_offset))

    # what the tests read back
    def records(self, topic: str) -> list[tuple[bytes | None, bytes]]:
        return [r for (t, _p), recs in sorted(self.topics.items()) if t == topic for r in recs]
