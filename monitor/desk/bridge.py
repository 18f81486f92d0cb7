"""The desk's Kafka shell: read the output topics into the view, write commands.

Every replica reads everything: one consumer without a group (no offsets
committed), assigned every partition of the ``alerts``, ``visit-schedule``,
``borrowers`` and ``audit`` topics, from the beginning, and of the ``profiles``
feed for the borrowers' names (the only thing the view keeps of a profile: the
worker's ``borrowers`` topic carries no names; the queue shows and searches them). A restarted ``serve``
therefore rebuilds the same view; replicas side by side hold the same view
once they have read the same records (see :mod:`monitor.desk.view`).

Commands go out with ``acks=all`` and an idempotent producer: the audit
record first (keyed by borrower id, so one borrower's records keep their
order), then the events it carries (``tier_override``, ``inspection_completed``)
to their feed topics, keyed by borrower id like every input event.

Ready (``/readyz``) once the view has read every partition up to the end
offset it had when the service started, and the broker answers.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any

from monitor.desk.records import AuditRecord
from monitor.desk.service import Desk, Event, Health, SendError
from monitor.desk.settings import DeskSettings
from monitor.desk.view import ALERTS, AUDIT, BORROWERS, PROFILES, SCHEDULE, DeskView
from monitor.topics import Topics

__all__ = ["KafkaDesk"]

log = logging.getLogger("monitor.desk")
_SEND_TIMEOUT = 15.0
_BATCH = 5000


class KafkaDesk(Desk):
    """The desk on a real broker."""

    def __init__(self, settings: DeskSettings, view: DeskView | None = None) -> None:
        super().__init__(view)
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.kinds = {self.topics.alerts: ALERTS, self.topics.schedule: SCHEDULE,
                      self.topics.borrowers: BORROWERS, self.topics.audit: AUDIT,
                      self.topics.feed("loan_profile"): PROFILES}
        self._consumer: Any = None
        self._producer: Any = None
        self._task: asyncio.Task[None] | None = None
        self._positions: dict[Any, int] = {}
        self._targets: dict[Any, int] | None = None
        self._caught_up = False
        self._started = time.monotonic()
        self.rebuild_seconds: float | None = None
        self._probe: tuple[float, bool] = (0.0, False)
        self._stopping = False
        self.live = False  # old alerts read while rebuilding are not news for the push streams

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._started = time.monotonic()
        self._task = asyncio.create_task(self._run(), name="desk-bridge")

    async def stop(self) -> None:
        self._stopping = True
        self.close_streams()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self._close()

    async def _close(self) -> None:
        for client in (self._consumer, self._producer):
            if client is not None:
                try:
                    await client.stop()
                except Exception as exc:  # noqa: BLE001 - closing anyway
                    log.debug("closing a Kafka client: %s", exc)
        self._consumer = self._producer = None

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self._connect()
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the broker went away: reconnect where we were
                log.warning("Kafka connection lost (%s: %s); reconnecting", type(exc).__name__, exc)
                await self._close()
                await asyncio.sleep(1.0)

    async def _connect(self) -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

        servers = self.settings.bootstrap_servers
        self._producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all", enable_idempotence=True,
                                          linger_ms=0, request_timeout_ms=10_000)
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(bootstrap_servers=servers, group_id=None, enable_auto_commit=False,
                                          auto_offset_reset="earliest", request_timeout_ms=10_000,
                                          max_partition_fetch_bytes=4 * 1_048_576)
        await self._consumer.start()
        wanted = sorted(self.kinds)
        warned = False
        while True:
            existing = await self._consumer.topics()
            missing = [t for t in wanted if t not in existing]
            if not missing:
                break
            if not warned:
                log.warning("waiting for topics %s (monitor topics create)", ", ".join(missing))
                warned = True
            await asyncio.sleep(1.0)
        parts = {t: await self._producer.partitions_for(t) for t in wanted}
        tps = [TopicPartition(t, p) for t in wanted for p in sorted(parts[t] or ())]
        self._consumer.assign(tps)
        for tp in tps:
            if tp in self._positions:
                self._consumer.seek(tp, self._positions[tp])
            else:
                await self._consumer.seek_to_beginning(tp)
        if self._targets is None:
            # the rebuild makes millions of long-lived objects: full collections would walk them over
            # and over (measured: a third of the rebuild); collected once, then frozen, when caught up
            gc.disable()
            self._targets = await self._consumer.end_offsets(tps)
            log.info("reading %d partitions of %d topics from the beginning (%d records)", len(tps), len(wanted),
                     sum(self._targets.values()))

    async def _consume(self) -> None:
        consumer = self._consumer
        while True:
            got = await consumer.getmany(timeout_ms=200, max_records=_BATCH)
            items: list[tuple[str, bytes | None, bytes | None]] = []
            for tp, messages in got.items():
                kind = self.kinds[tp.topic]
                for m in messages:
                    items.append((kind, m.key, m.value))
                    self._positions[tp] = m.offset + 1
            if items:
                self.ingest(items)
            if not self._caught_up:
                await self._check_caught_up()
            await asyncio.sleep(0)  # let requests in between batches

    async def _check_caught_up(self) -> None:
        if self._targets is None:
            return
        for tp, end in self._targets.items():
            if end > 0 and await self._consumer.position(tp) < end:
                return
        self.view.settle()  # sort the indexes once, before the first query
        gc.collect()
        gc.freeze()  # the rebuilt view is long-lived: full collections need not walk it (query p99)
        gc.enable()
        self._caught_up = True
        self.live = True
        self.rebuild_seconds = time.monotonic() - self._started
        log.info("view caught up in %.1f s: %s", self.rebuild_seconds, self.view.stats())

    def positions(self) -> dict[tuple[str, int], int]:
        """The next offset the view reads, per (topic, partition) it has read from (for the view-lag figure)."""
        return {(tp.topic, tp.partition): offset for tp, offset in list(self._positions.items())}

    # ------------------------------------------------------------------ commands

    async def send(self, record: AuditRecord | None, events: list[Event]) -> None:
        producer = self._producer
        if producer is None:
            raise SendError("not connected to Kafka")
        try:
            await asyncio.wait_for(self._send(producer, record, events), _SEND_TIMEOUT)
        except TimeoutError:
            raise SendError(f"no acknowledgement from Kafka within {_SEND_TIMEOUT:.0f} s") from None
        except Exception as exc:  # noqa: BLE001 - any client error means: not written
            from aiokafka.errors import KafkaError

            if isinstance(exc, KafkaError):
                raise SendError(f"{type(exc).__name__}: {exc}") from None
            raise

    async def _send(self, producer: Any, record: AuditRecord | None, events: list[Event]) -> None:
        if record is not None:  # the record first: what was asked for is on file before its effect
            fut = await producer.send(self.topics.audit, record.model_dump_json().encode(),
                                      key=record.key)
            await fut
        futures = []
        for event in events:
            futures.append(await producer.send(self.topics.feed(event.type), event.model_dump_json().encode(),
                                               key=event.borrower_id.encode()))
        if futures:
            await asyncio.gather(*futures)

    # ------------------------------------------------------------------ health

    async def _broker_answers(self) -> bool:
        at, ok = self._probe
        now = time.monotonic()
        if now - at < 2.0:
            return ok
        ok = False
        for server in self.settings.bootstrap_servers:
            host, _, port = server.rpartition(":")
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 1.0)
                writer.close()
                ok = True
                break
            except (OSError, TimeoutError, ValueError):
                continue
        self._probe = (now, ok)
        return ok

    async def health(self) -> Health:
        broker = await self._broker_answers()
        behind = None
        if self._targets is not None and not self._caught_up:
            behind = sum(max(0, end - self._positions.get(tp, 0)) for tp, end in self._targets.items())
        detail: dict[str, Any] = {"records_behind_start": behind, "rebuild_seconds": self.rebuild_seconds,
                                  **self.view.stats()}
        return Health(ready=broker and self._caught_up, broker=broker, caught_up=self._caught_up, detail=detail)
