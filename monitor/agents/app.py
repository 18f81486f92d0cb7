"""The Faust app: the worker's group membership, table, timers and web server, wired to the shell.

faust-streaming runs what it is good at: the consumer group and its co-partitioned assignment, the
``borrowers`` table (RocksDB or memory, backed by its changelog topic) and its recovery, the worker's
lifecycle, timers and web server. The shell (:mod:`~monitor.agents.shell`) does the rest through the
port (:mod:`~monitor.agents.port`), the one module that touches Faust's private parts.
"""

from __future__ import annotations

from typing import Any

import faust

from monitor.agents.heap import HeapKeeper
from monitor.agents.ops import install_ops, read_token, web_options
from monitor.agents.port import FaustPort, check_offset_fetch_errors, check_versions, tp
from monitor.agents.shell import WorkerShell
from monitor.settings import Settings
from monitor.topics import Topics

__all__ = ["create_app", "WorkerShell"]

TABLE = "borrowers"


class _App(faust.App):
    """Faust's app: the shell reads by batches from the first assignment on, and drains before Faust stops
    the consumer and closes the tables."""

    shell: WorkerShell | None = None
    port: FaustPort | None = None

    async def on_start(self) -> None:
        await super().on_start()
        if self.shell is not None and self.port is not None:
            # before the fetcher first starts (on the first assignment): read by batches
            self.port.read_by_batches(self.shell.handle_records, self.shell.sources)

    async def on_stop(self) -> None:
        if self.shell is not None:
            await self.shell.drain()
        await super().on_stop()


def create_app(settings: Settings, *, ops: bool = True) -> tuple[faust.App, WorkerShell]:
    """Build the Faust app for ``settings`` (with ``ops``: its /metrics, /healthz and /readyz)."""
    check_versions()
    check_offset_fetch_errors()
    topics = Topics(settings.topic_prefix)
    app = _App(
        settings.app_id,
        broker=settings.broker,
        store=settings.store,
        datadir=str(settings.data_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=1.0,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        web_enabled=settings.web_port != 0,
        web_port=settings.web_port or 6066,
        web_bind=settings.web_host,
        **web_options(),  # /metrics, /healthz, /readyz only: none of Faust's views (see ops.py)
        table_standby_replicas=0,
        # events wait, unacknowledged, in the runtime's event-time buffer: a rebalance must not wait
        # for them (they are read again by whoever owns the partition next)
        stream_wait_empty=False,
        producer_acks=-1,
        producer_max_request_size=max(1_048_576, settings.max_message_bytes * 4),
        producer_max_batch_size=262_144,  # a batch per partition and request, not one per 16 kB
        consumer_max_fetch_size=4 * 1_048_576,
        broker_max_poll_records=settings.batch_size,  # one fetch is one batch (see port.fetch_batches)
    )
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw",
                           "value_serializer": "raw", "partitions": settings.partitions}
    source = app.topic(*topics.inputs, topics.clock, **raw)
    # bytes in and out: the "raw" codec, so the changelog holds the state's own JSON form
    table = app.Table(TABLE, partitions=settings.partitions, key_type=bytes, value_type=bytes,
                      use_partitioner=True)
    port = FaustPort(app, table, partition_of=lambda key: _partition(key, settings.partitions))
    port.idempotent_producer()
    shell = WorkerShell(port, settings, tp=tp)
    app.shell, app.port = shell, port
    if ops:
        shell.ops = install_ops(app, shell, shell.metrics, token=read_token(settings.metrics_token_file))
    # the inputs are subscribed through Faust's conductor like an agent's topic, but read by the
    # port's fetch loop in batches, not through an agent's stream
    port.subscribe(source)

    heap = HeapKeeper()  # the heap frozen at each tick, fully collected hourly (see heap.py)

    @app.timer(settings.tick_seconds, name="monitor.tick")
    async def tick() -> None:
        await shell.tick()
        heap.tick()

    async def recovered() -> None:
        await shell.recovered()
        heap.full()  # the recovery's garbage collected, what it kept frozen

    table.on_recover(recovered)
    app.on_partitions_revoked.connect(shell.revoked)
    _ = tick
    return app, shell


def _partition(key: str, partitions: int) -> int:
    from monitor.topics import partition_for

    return partition_for(key, partitions)
