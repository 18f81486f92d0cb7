"""The desk's backend: the view, plus what the HTTP layer needs around it.

:class:`Desk` folds batches into the :class:`~monitor.desk.view.DeskView`,
wakes the requests waiting to read their own audit record back, and pushes
new alerts to the open push streams. How records get to Kafka (and back) is
the subclass's business: :class:`monitor.desk.bridge.KafkaDesk` talks to the
broker; the unit tests use a loopback that folds what is sent straight back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from monitor.desk.cases import AlertRow
from monitor.desk.records import AuditRecord
from monitor.desk.view import Batch, DeskView
from monitor.events import InspectionCompleted, TierOverride

__all__ = ["Desk", "Health", "SendError"]

log = logging.getLogger("monitor.desk")
Event = TierOverride | InspectionCompleted


class SendError(RuntimeError):
    """A record or event could not be written to Kafka (the request may be sent again)."""


@dataclass(slots=True)
class Health:
    ready: bool
    broker: bool
    caught_up: bool
    detail: dict[str, Any] = field(default_factory=dict)


class Desk:
    """The view and its waiters; subclasses implement :meth:`send` and :meth:`health`."""

    def __init__(self, view: DeskView | None = None) -> None:
        self.view = view or DeskView()
        self._waiters: dict[str, list[asyncio.Future[bool]]] = {}
        self._streams: set[asyncio.Queue[AlertRow | None]] = set()
        self.version = 0
        self.live = True  # push new alerts to the streams (a rebuilding replica sets it once caught up)

    # ------------------------------------------------------------------ folding

    def ingest(self, items: Iterable[tuple[str, bytes | None, bytes | None]]) -> Batch:
        """Fold records into the view; wake readers of what arrived."""
        batch = self.view.apply_batch(items)
        self.version += 1
        for kind, reason in batch.rejected[:20]:
            log.warning("rejected a record of the %s topic: %s", kind, reason)
        for rid in batch.records:
            for fut in self._waiters.pop(rid, ()):
                if not fut.done():
                    fut.set_result(True)
        if batch.alerts and self._streams and self.live:
            for q in list(self._streams):
                for row in batch.alerts:
                    try:
                        q.put_nowait(row)
                    except asyncio.QueueFull:  # a client too slow to keep up: close its stream
                        self._streams.discard(q)
                        _close(q)
                        break
        return batch

    async def wait_for(self, record_id: str, timeout: float) -> bool:
        """Whether the view has read ``record_id`` back within ``timeout`` seconds."""
        if record_id in self.view.records:
            return True
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(record_id, []).append(fut)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            return record_id in self.view.records
        finally:
            waiting = self._waiters.get(record_id)
            if waiting is not None:
                if fut in waiting:
                    waiting.remove(fut)
                if not waiting:
                    del self._waiters[record_id]

    def subscribe(self, size: int = 1000) -> asyncio.Queue[AlertRow | None]:
        q: asyncio.Queue[AlertRow | None] = asyncio.Queue(size)
        self._streams.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[AlertRow | None]) -> None:
        self._streams.discard(q)

    def close_streams(self) -> None:
        for q in list(self._streams):
            _close(q)
        self._streams.clear()

    # ------------------------------------------------------------------ to override

    async def send(self, record: AuditRecord | None, events: list[Event]) -> None:
        """Write the audit record (if any), then the events it carries; raise :class:`SendError` on failure."""
        raise NotImplementedError

    async def health(self) -> Health:
        return Health(ready=True, broker=True, caught_up=True)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.close_streams()


def _close(q: asyncio.Queue[AlertRow | None]) -> None:
    while True:
        try:
            q.put_nowait(None)
            return
        except asyncio.QueueFull:
            try:
                q.get_nowait()
            except asyncio.QueueEmpty:
                return
