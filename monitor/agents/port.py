"""The one place where the worker touches Faust's, mode's and aiokafka's private or undocumented parts.

Everything else in :mod:`monitor.agents` talks to Kafka and Faust through what this module offers;
``tests/agents/test_port_contract.py`` asserts that every name used here still exists with the
signature it is used with, so that an upgrade that moves one fails loudly there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any

__all__ = ["check_offset_fetch_errors", "fetch_batches"]

log = logging.getLogger("monitor.worker")

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
                log.warning("the group coordinator answered the committed-offset fetch with %s; asking again",
                            error.__name__)
                if error in (errors.NotCoordinatorForGroupError, errors.GroupCoordinatorNotAvailableError):
                    self.coordinator_dead()
                raise error()
        return response

    GroupCoordinator._send_req = _send_req  # type: ignore[method-assign]
    setattr(GroupCoordinator, _PATCHED, True)


async def fetch_batches(app: Any, fetcher: Any, sources: Collection[str],
                        handle: Callable[[list[tuple[Any, list[Any]]]], Awaitable[None]]) -> None:
    """Faust's fetcher loop (``Consumer._drain_messages``), by batches.

    Faust hands every message on one by one (a task pair per message, an event, a channel queue,
    a stream): on 2 cores about 80 µs per message, more than the worker spends deciding it. This
    loop takes each fetch of the same consumer (``Consumer._wait_next_records``, as Faust's
    ``getmany`` does: the active partitions only, and when the flow is stopped for a rebalance, a
    seek to the committed offsets instead) and hands the records of the ``sources`` topics to
    ``handle`` as one batch: ``[(tp, [aiokafka ConsumerRecord, ...]), ...]``. Records of any other
    topic (the table's changelog during recovery) still go to Faust's conductor, exactly as Faust's
    loop sends them.
    """
    consumer = app.consumer
    callback = consumer.callback
    consumer_stopped = consumer._stopped.is_set
    fetcher_stopped = fetcher._stopped.is_set
    read_offset = consumer._read_offset
    try:
        while not (consumer_stopped() or fetcher_stopped()):
            await asyncio.sleep(0)
            records, active = await consumer._wait_next_records(1.0)
            if not records or consumer.should_stop:
                continue
            if not consumer.flow_active:
                try:
                    await consumer.perform_seek()  # what Faust's getmany does then
                except Exception as exc:  # noqa: BLE001 - as Faust: logged, the next fetch goes on
                    log.warning("seeking to the committed offsets failed: %s", exc)
                continue
            buffered = consumer._buffered_partitions
            batch: list[tuple[Any, list[Any]]] = []
            for tp, recs in records.items():
                if active is not None and tp not in active and tp not in buffered:
                    continue
                if tp.topic in sources:
                    batch.append((tp, recs))
                    continue
                for record in recs:
                    message = consumer._to_message(tp, record)
                    previous = read_offset[tp]
                    if previous is None or message.offset >= previous:
                        await consumer.wait_first(callback(message), consumer.suspend_flow.wait())
                        read_offset[tp] = message.offset
            if batch:
                await handle(batch)
    except consumer.consumer_stopped_errors:
        if not app.should_stop:
            raise
    except asyncio.CancelledError:
        if not app.should_stop:
            raise
