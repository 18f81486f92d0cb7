"""The one place where the worker touches Faust's, mode's and aiokafka's private or undocumented parts.

faust-streaming runs the worker's group membership and co-partitioned assignment, the table's changelog
recovery, its lifecycle, timers and web server. The worker needs a few things Faust does not offer in
public: to read its consumer's fetches as batches, commit and seek on its own account, write table
states and their changelog offsets itself, and ask about the assignment and the recovery. Each of
those touches is here, behind :class:`Port`: the rest of :mod:`monitor.agents` sees only that small
protocol (``tests/agents/memory_port.py`` implements it in memory for the shell's unit tests).
``tests/agents/test_port_contract.py`` asserts that every name used here exists with the signature it
is used with, and :func:`check_versions` refuses at start-up the library versions it was not tested
against, so that an upgrade that moves one of them fails loudly instead of misbehaving.

What is touched, and why:

* ``Consumer._drain_messages`` is replaced by :func:`fetch_batches`, which takes each fetch with
  ``Consumer._wait_next_records`` (what Faust's ``getmany`` does) and hands it on as one batch, with
  the consumer group generation it was fetched in (Faust's ``getmany`` stops when the generation
  changes mid-fetch; the shell drops such a batch, see :meth:`Port.generation`);
* ``Consumer._commit_offsets`` commits the shell's own offsets (it never acknowledges to Faust, whose
  bookkeeping would commit past events still buffered: see offsets.py), ``seek_wait`` seeks in the
  consumer's thread, ``highwaters``, ``earliest_offsets`` and ``_committed_offset`` give end, first
  and last committed offsets;
* ``Producer._ensure_producer`` gives the aiokafka producer (record batches, see publish.py), and
  ``Producer._settings_extra`` is set so that it is idempotent with ``acks=all`` (Faust makes it so
  only inside transactions);
* the RocksDB store's ``_db_for_partition`` and ``offset_key`` let a borrower's value and the
  changelog offset it was written at go to the store in one RocksDB write batch (Faust writes them
  separately, so an unclean stop could leave the offset ahead of the values); the memory store's
  ``data``;
* ``app.assignor.assigned_actives()``, ``app.consumer_generation_id``, ``app.tables.recovery`` and
  ``app.topics.add`` (subscribing the inputs through Faust's conductor without an agent);
* aiokafka's ``GroupCoordinator._send_req`` is wrapped so that the committed-offset fetch heeds the
  response's top-level error (see :func:`check_offset_fetch_errors`).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Protocol

from monitor._errors import ConfigError

__all__ = ["FaustPort", "Port", "SUPPORTED", "check_offset_fetch_errors", "check_versions", "fetch_batches"]

log = logging.getLogger("monitor.worker")

#: the library versions this module was written and contract-tested against
SUPPORTED: dict[str, tuple[str, ...]] = {
    "faust-streaming": ("0.15.3",),
    "mode-streaming": ("0.7.1",),
    "aiokafka": ("0.14.0",),
    "rocksdict": ("0.3.29",),
}

Batch = list[tuple[Any, list[Any]]]  # [(TP, [aiokafka ConsumerRecord, ...]), ...]


def check_versions(installed: Callable[[str], str] | None = None) -> None:
    """Refuse to start on a faust-streaming, mode-streaming, aiokafka or rocksdict release the port was not
    tested with: their private parts may have moved (run the contract test against the new release,
    adapt this module, then add the version to :data:`SUPPORTED`)."""
    found = installed or version
    wrong = []
    for package, supported in SUPPORTED.items():
        try:
            have = found(package)
        except PackageNotFoundError:
            have = "none"
        if have not in supported:
            wrong.append(f"{package} {have} (supported: {', '.join(supported)})")
    if wrong:
        raise ConfigError("unsupported library versions: " + "; ".join(wrong) + ". The worker touches private parts "
                          "of these libraries in monitor/agents/port.py; run tests/agents/test_port_contract.py "
                          "against the new version and adapt the port before allowing it")


class Port(Protocol):
    """What the worker shell needs of Faust and Kafka (see the module docstring)."""

    # the consumer: the shell's own offsets
    def generation(self) -> int: ...
    def assigned(self) -> set[Any]: ...
    def assignment(self) -> set[Any]: ...
    async def committed(self) -> dict[Any, int | None]: ...
    async def seek(self, tp: Any, offset: int) -> None: ...
    def seek_soon(self, tp: Any, offset: int) -> asyncio.Future[Any]: ...
    async def commit(self, offsets: Mapping[Any, int]) -> bool: ...
    async def end_offsets(self, tps: Iterable[Any]) -> dict[Any, int]: ...
    async def first_offsets(self, tps: Iterable[Any]) -> dict[Any, int]: ...
    def last_committed(self) -> dict[Any, int | None]: ...
    def recovery_remaining(self) -> int | None: ...
    # the producer
    def producer(self) -> Any: ...
    # the table
    @property
    def changelog(self) -> str: ...
    def get(self, key: bytes) -> bytes | None: ...
    def items(self) -> Iterator[tuple[bytes, bytes]]: ...
    def write(self, partition: int, values: Mapping[bytes, bytes], changelog_offset: int) -> None: ...


def tp(topic: str, partition: int) -> Any:
    """Faust's topic-partition (a named tuple ``(topic, partition)``)."""
    from faust.types import TP

    return TP(topic, partition)


class FaustPort:
    """:class:`Port` on a Faust app and its table."""

    def __init__(self, app: Any, table: Any, partition_of: Callable[[str], int]) -> None:
        self.app = app
        self.table = table
        self.partition_of = partition_of
        self._changelog: str | None = None

    # ------------------------------------------------------------ wiring

    def subscribe(self, source: Any) -> None:
        """Subscribe the source topics through Faust's conductor, as an agent's topic would be (they are
        read by :func:`fetch_batches`, not through an agent's stream)."""
        self.app.topics.add(source)

    def read_by_batches(self, handle: Callable[[Batch, int], Awaitable[None]], sources: Collection[str]) -> None:
        """Replace Faust's fetcher loop by :func:`fetch_batches` (call before the first assignment)."""
        app = self.app

        async def drain(fetcher: Any) -> None:
            await fetch_batches(app, fetcher, sources, handle)

        app.consumer._drain_messages = drain

    def idempotent_producer(self) -> None:
        """Have Faust create its aiokafka producer with ``acks=all`` and idempotence (call before start)."""
        self.app.producer._settings_extra = lambda: {"acks": "all", "enable_idempotence": True}

    # ------------------------------------------------------------ consumer

    def generation(self) -> int:
        return int(self.app.consumer_generation_id)

    def assigned(self) -> set[Any]:
        """The active topic-partitions of the last assignment (the table's and the inputs')."""
        return set(self.app.assignor.assigned_actives())

    def assignment(self) -> set[Any]:
        """The consumer's current assignment (raises before the consumer has started)."""
        return set(self.app.consumer.assignment())

    async def committed(self) -> dict[Any, int | None]:
        """Seek every assigned partition to the group's committed offset; return those (None: nothing)."""
        return dict(await self.app.consumer.seek_to_committed())

    async def seek(self, tp: Any, offset: int) -> None:
        await self.app.consumer.seek(tp, offset)

    def seek_soon(self, tp: Any, offset: int) -> asyncio.Future[Any]:
        """Seek in the consumer's thread, not awaited: no lock is held for it, no rebalance waits for it."""
        return asyncio.ensure_future(self.app.consumer.seek_wait({tp: offset}))

    async def commit(self, offsets: Mapping[Any, int]) -> bool:
        """Commit ``{tp: next offset}`` for the group (False: not committed, e.g. partitions moved)."""
        return bool(await self.app.consumer._commit_offsets(offsets))

    async def end_offsets(self, tps: Iterable[Any]) -> dict[Any, int]:
        return dict(await self.app.consumer.highwaters(*tps))

    async def first_offsets(self, tps: Iterable[Any]) -> dict[Any, int]:
        return dict(await self.app.consumer.earliest_offsets(*tps))

    def last_committed(self) -> dict[Any, int | None]:
        """The offsets this consumer last committed, as Faust recorded them."""
        return dict(getattr(self.app.consumer, "_committed_offset", None) or {})

    def recovery_remaining(self) -> int | None:
        """Changelog records the table's recovery still has to read (None: no recovery running)."""
        recovery = self.app.tables.recovery
        return int(recovery.active_remaining_total()) if recovery.in_recovery else None

    # ------------------------------------------------------------ producer

    def producer(self) -> Any:
        """aiokafka's producer inside Faust's (started with the app)."""
        return self.app.producer._ensure_producer()

    # ------------------------------------------------------------ table

    @property
    def changelog(self) -> str:
        if self._changelog is None:
            self._changelog = self.table.changelog_topic.get_topic_name()
        return self._changelog

    def _db(self, partition: int) -> Any:
        return self.table.data._db_for_partition(partition)

    def _rocksdb(self) -> bool:
        return hasattr(self.table.data, "_db_for_partition")

    def get(self, key: bytes) -> bytes | None:
        """A table value (from the partition its key hashes to)."""
        if self._rocksdb():
            value = self._db(self.partition_of(key.decode())).get(key)
        else:
            value = self.table.data.data.get(key)
        return bytes(value) if value is not None else None

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Every value of the table's active partitions."""
        for key, value in self.table.items():
            if value is not None:
                yield key, value

    def write(self, partition: int, values: Mapping[bytes, bytes], changelog_offset: int) -> None:
        """Write ``values`` of one partition and the changelog offset their records were given, in one
        RocksDB write batch: after any stop the store never holds an offset ahead of its values (nor a
        value ahead of its offset), so recovery reads the changelog on from the right record."""
        store = self.table.data
        if not self._rocksdb():
            store.data.update(values)
            return
        import rocksdict

        batch = rocksdict.WriteBatch(raw_mode=True)
        for key, value in values.items():
            batch.put(key, value)
        batch.put(store.offset_key, str(changelog_offset).encode())
        self._db(partition).write(batch)


async def fetch_batches(app: Any, fetcher: Any, sources: Collection[str],
                        handle: Callable[[Batch, int], Awaitable[None]]) -> None:
    """Faust's fetcher loop (``Consumer._drain_messages``), by batches.

    Faust hands every message on one by one (a task pair per message, an event, a channel queue,
    a stream): on 2 cores about 80 µs per message, more than the worker spends deciding it. This
    loop takes each fetch of the same consumer (``Consumer._wait_next_records``, as Faust's
    ``getmany`` does: the active partitions only, and when the flow is stopped for a rebalance, a
    seek to the committed offsets instead) and hands the records of the ``sources`` topics to
    ``handle`` as one batch, with the consumer group generation they were fetched in. Records of any
    other topic (the table's changelog during recovery) still go to Faust's conductor, exactly as
    Faust's loop sends them. ``MONITOR_DEBUG_FETCH_PAUSE`` (seconds) holds each fetch that long
    before handing it on: the tests force a rebalance mid-fetch with it.
    """
    consumer = app.consumer
    callback = consumer.callback
    consumer_stopped = consumer._stopped.is_set
    fetcher_stopped = fetcher._stopped.is_set
    read_offset = consumer._read_offset
    pause = float(os.environ.get("MONITOR_DEBUG_FETCH_PAUSE", "0") or 0)
    try:
        while not (consumer_stopped() or fetcher_stopped()):
            await asyncio.sleep(0)
            records, active = await consumer._wait_next_records(1.0)
            generation = app.consumer_generation_id
            if not records or consumer.should_stop:
                continue
            if not consumer.flow_active:
                try:
                    await consumer.perform_seek()  # what Faust's getmany does then
                except Exception as exc:  # noqa: BLE001 - as Faust: logged, the next fetch goes on
                    log.warning("seeking to the committed offsets failed: %s", exc)
                continue
            buffered = consumer._buffered_partitions
            batch: Batch = []
            for tp_, recs in records.items():
                if active is not None and tp_ not in active and tp_ not in buffered:
                    continue
                if tp_.topic in sources:
                    batch.append((tp_, recs))
                    continue
                for record in recs:
                    message = consumer._to_message(tp_, record)
                    previous = read_offset[tp_]
                    if previous is None or message.offset >= previous:
                        await consumer.wait_first(callback(message), consumer.suspend_flow.wait())
                        read_offset[tp_] = message.offset
            if batch:
                if pause:
                    await asyncio.sleep(pause)
                await handle(batch, generation)
    except consumer.consumer_stopped_errors:
        if not app.should_stop:
            raise
    except asyncio.CancelledError:
        if not app.should_stop:
            raise


_PATCHED = "_monitor_checks_offset_fetch"


def check_offset_fetch_errors() -> None:
    """Make aiokafka's committed-offset fetch heed the response's top-level error.

    Since version 2 of the OffsetFetch protocol the broker reports a group-wide error (the
    coordinator still loading its state after a restart, or moved elsewhere) in a top-level
    ``error_code``, with every partition's offset -1. aiokafka 0.14 reads only the per-partition
    codes, so it took such an answer for "nothing committed" and a worker read its partitions again
    from offset 0 (issue 12: thousands of valid events dead-lettered as stale after a broker restart).
    With this check the error is raised as aiokafka raises the per-partition ones: its
    ``fetch_committed_offsets`` waits and asks again for the retriable ones (logged here each time).
    Idempotent.
    """
    from aiokafka import errors
    from aiokafka.consumer.group_coordinator import GroupCoordinator
    from aiokafka.protocol.commit import OffsetFetchRequest

    if getattr(GroupCoordinator, _PATCHED, False):
        return
    unchecked = GroupCoordinator._send_req

    async def _send_req(self: Any, request: Any) -> Any:
        response = await unchecked(self, request)
        if isinstance(request, OffsetFetchRequest):
            code = getattr(response, "error_code", 0)
            if code:
                error = errors.for_code(code)
                # names the group and its partitions only: no offsets' metadata, nothing of a borrower
                partitions = "; ".join(f"{topic} {','.join(str(p[0]) for p in parts)}"
                                       for topic, parts in response.topics)
                log.warning("the group coordinator answered the committed-offset fetch of group %s "
                            "(partitions %s) with %s; asking again", self.group_id, partitions or "all",
                            error.__name__)
                if error in (errors.NotCoordinatorForGroupError, errors.GroupCoordinatorNotAvailableError):
                    self.coordinator_dead()
                raise error()
        return response

    GroupCoordinator._send_req = _send_req  # type: ignore[method-assign]
    setattr(GroupCoordinator, _PATCHED, True)
