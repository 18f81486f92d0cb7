"""Operations endpoints of a worker: ``/metrics``, ``/healthz``, ``/readyz``, and what feeds them.

The worker's web port serves these three paths and nothing else: :func:`web_options` turns off every
view Faust would add (``/table/<name>/<key>/`` would hand out a borrower's stored state, ``/router``
the cluster's layout, ``/`` and ``/graph`` internals) and puts a middleware in front of the aiohttp
application that answers 404 to any other path, whatever a Faust upgrade adds. The port listens on
127.0.0.1 unless ``MONITOR_WEB_HOST`` says otherwise. With ``MONITOR_METRICS_TOKEN_FILE`` set,
``/metrics`` asks for ``Authorization: Bearer <token>`` (the token is the file's content, the same
file Prometheus names as ``credentials_file``); the probes never do.

:func:`install_ops` registers, on the Faust app's own web server (``settings.web_port``):

* ``/metrics``: the worker's :class:`~monitor.agents.metrics.WorkerMetrics` registry in Prometheus' text format;
* ``/healthz``: 200 while the event loop runs (the handler itself runs on it);
* ``/readyz``: 200 once the assigned partitions are recovered and the broker answers, else 503 with a
  JSON body naming what is missing.

It also adds a small Faust sensor (rebalance start and end: the rebalance counter, recovery in
progress, readiness) and a timer that asks the broker for the end offsets of the assigned input
partitions every ``poll_seconds``. That round trip is the "broker reachable" check, and with the
committed offsets it gives ``monitor_consumer_lag`` even when the consumer has stopped fetching.

Faust's own Prometheus sensor (``faust.sensors.prometheus``) works with faust-streaming 0.15.3 on a
registry of our own, and ``faust_sensor=True`` installs it on the same registry under the
``monitor_faust_`` prefix. It is off by default: it costs about 8 µs per message (measured: 0.6 µs
for Faust's default monitor), its names break the conventions (milliseconds, gauges counting
rebalances), and its end offsets move only when records are fetched.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from faust.sensors.base import Sensor
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from monitor.buildinfo import register_process_metrics
from monitor.agents.metrics import BATCH_BUCKETS, CONTENT_TYPE, WorkerMetrics

__all__ = ["OPS_PATHS", "Ops", "OpsSensor", "Readiness", "install_ops", "read_token", "web_options"]

log = logging.getLogger("monitor.ops")

#: the only paths the worker's web port answers (anything else: 404)
OPS_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})
_NOT_FOUND = b'{"detail": "not found: this port serves only /metrics, /healthz and /readyz"}'


def _only_ops_paths() -> Any:
    from aiohttp import web

    @web.middleware
    async def only_ops_paths(request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        if request.path not in OPS_PATHS or request.method not in ("GET", "HEAD"):
            status = 404 if request.path not in OPS_PATHS else 405
            body = _NOT_FOUND if status == 404 else b'{"detail": "method not allowed"}'
            return web.Response(body=body, status=status, content_type="application/json",
                                headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
        response = await handler(request)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    return only_ops_paths


def web_options() -> dict[str, Any]:
    """Faust app settings for the worker's web server: none of Faust's own views, and a middleware
    that answers 404 to every path but :data:`OPS_PATHS`."""
    return {
        "web_router_enabled": False,
        "web_tables_enabled": False,
        "web_graph_enabled": False,
        "web_stats_enabled": False,
        "web_metrics_enabled": False,
        "web_application_options": {"middlewares": [_only_ops_paths()]},
    }


def read_token(path: Path | None) -> str | None:
    """The bearer token ``/metrics`` asks for: the first line of ``path`` (None: no token asked).

    A file that cannot be read or is empty is an error at start, not a port left open."""
    if path is None:
        return None
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"metrics token file {path}: {exc.strerror or exc}") from None
    if not token or len(token) < 16 or any(c.isspace() for c in token):
        raise ValueError(f"metrics token file {path}: expected one token of at least 16 characters, no spaces")
    return token


def _token_matches(header: str | None, token: str) -> bool:
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    want = hashlib.sha256(token.encode()).digest()
    return hmac.compare_digest(hashlib.sha256(given.strip().encode()).digest(), want)


class Readiness:
    """What ``/readyz`` looks at; updated by the sensor and the offset poll."""

    def __init__(self, *, stale_after: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stale_after = stale_after
        self.clock = clock
        self.rebalancing = False
        self.rebalances_done = 0
        self.broker_ok_at: float | None = None
        self.broker_error: str | None = None
        self.partitions: list[int] = []
        self.stopping = False

    def check(self) -> tuple[bool, dict[str, Any]]:
        """(ready, body): the body names each check and, under ``missing``, what fails."""
        missing: list[str] = []
        if self.stopping:
            missing.append("the worker is stopping")
        if self.rebalances_done == 0:
            missing.append("no partitions assigned and recovered yet (the first rebalance has not finished)")
        elif self.rebalancing:
            missing.append("a rebalance (and the table recovery after it) is in progress")
        now = self.clock()
        if self.broker_ok_at is None:
            missing.append("the broker has not answered yet" + (f": {self.broker_error}" if self.broker_error else ""))
            broker = "unknown"
        else:
            age = now - self.broker_ok_at
            broker = f"answered {age:.1f} s ago"
            if age > self.stale_after:
                missing.append(f"the broker has not answered for {age:.0f} s (limit {self.stale_after:.0f} s)"
                               + (f": {self.broker_error}" if self.broker_error else ""))
        body = {"ready": not missing, "partitions": self.partitions, "rebalancing": self.rebalancing,
                "rebalances_done": self.rebalances_done, "broker": broker, "missing": missing}
        return not missing, body


class OpsSensor(Sensor):
    """A Faust sensor that tells the metrics and the readiness about rebalances (nothing per message)."""

    def __init__(self, metrics: WorkerMetrics, readiness: Readiness, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metrics = metrics
        self.readiness = readiness

    def on_rebalance_start(self, app: Any) -> dict[str, Any]:
        state = super().on_rebalance_start(app)
        self.readiness.rebalancing = True
        self.metrics.on_rebalance_started()
        return state

    def on_rebalance_end(self, app: Any, state: dict[str, Any]) -> None:
        super().on_rebalance_end(app, state)
        self.readiness.rebalancing = False
        self.readiness.rebalances_done += 1
        self.metrics.on_rebalance_finished()


class _StoreSize(Collector):
    """``monitor_state_store_bytes``: the bytes of the worker's local table store (its data directory), read
    at scrape time; 0 with the memory store."""

    def __init__(self, data_dir: Path | None) -> None:
        self.data_dir = data_dir

    def collect(self) -> Any:
        total = 0
        if self.data_dir is not None:
            for path in self.data_dir.rglob("*"):
                try:
                    if path.is_file():
                        total += path.stat().st_size
                except OSError:  # a file RocksDB removed while we walked
                    continue
        yield GaugeMetricFamily("monitor_state_store_bytes", "Bytes of the worker's local table store "
                                "(RocksDB files in its data directory)", value=total)


class _CountProducerErrors(logging.Handler):
    """Counts the producer's own error reports (aiokafka logs a produce error it retries at WARNING)."""

    def __init__(self, counter: Counter) -> None:
        super().__init__(logging.WARNING)
        self.counter = counter

    def emit(self, record: logging.LogRecord) -> None:
        self.counter.labels("retried").inc()


class ProducerFigures:
    """``monitor_producer_send_seconds`` and ``monitor_producer_send_errors_total``: an observer of the
    deliveries the shell already holds (done callbacks on their futures; nothing is awaited)."""

    def __init__(self, registry: Any) -> None:
        self.latency = Histogram("monitor_producer_send_seconds", "Time from handing a record batch to the "
                                 "producer until the broker acknowledged it (acks=all)", buckets=BATCH_BUCKETS,
                                 registry=registry)
        self.errors = Counter("monitor_producer_send_errors", "Produce errors: retried (the producer tries "
                              "again) and failed (a batch not delivered: the worker exits with 70)", ["kind"],
                              registry=registry)
        for kind in ("retried", "failed"):
            self.errors.labels(kind)
        self.handler = _CountProducerErrors(self.errors)

    def observe(self, futures: list[Any], started: float) -> None:
        def done(fut: Any) -> None:
            if fut.cancelled():
                return
            if fut.exception() is not None:
                self.errors.labels("failed").inc()
            else:
                self.latency.observe(time.perf_counter() - started)

        for fut in futures:
            fut.add_done_callback(done)


def _log_poll_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("the operations poll failed: %s", task.exception())


class Ops:
    """The poll and the three views; built by :func:`install_ops`."""

    def __init__(self, app: Any, shell: Any, metrics: WorkerMetrics, *, poll_seconds: float,
                 broker_timeout: float) -> None:
        self.app = app
        self.shell = shell
        self.metrics = metrics
        self.poll_seconds = poll_seconds
        self.broker_timeout = broker_timeout
        self.readiness = Readiness(stale_after=3 * poll_seconds + broker_timeout)
        topics = shell.topics
        self._watched = set(topics.inputs) | {topics.clock}
        self._probe_topic = topics.clock
        registry = metrics.registry
        self.broker_up = Gauge("monitor_broker_up", "1 when the broker answered the last end-offset request "
                               "(every few seconds), else 0", registry=registry)
        self.broker_seconds = Gauge("monitor_broker_request_seconds", "How long the last end-offset request "
                                    "took", registry=registry)
        self.producer = ProducerFigures(registry)

    def observe_sends(self, futures: list[Any], started: float) -> None:
        """The shell hands over the delivery futures of a batch it submitted at ``started`` (perf_counter)."""
        self.producer.observe(futures, started)

    async def poll(self) -> None:
        """Ask the broker for end offsets; publish consumer lag, recovery progress and buffered events."""
        port = self.shell.port  # Faust's and the consumer's internals are reached only through it
        try:
            self.metrics.buffered.set(self.shell.runtime.buffered())
            remaining = port.recovery_remaining()
            if remaining is not None:
                self.metrics.on_recovery_progress(remaining)
        except Exception as exc:  # noqa: BLE001 - a metric must never take the worker down
            log.debug("runtime figures unavailable: %s", exc)
        try:
            assigned = sorted(tp for tp in port.assignment() if tp.topic in self._watched)
        except Exception as exc:  # noqa: BLE001 - e.g. the consumer has not started yet
            self.readiness.broker_error = f"consumer not ready: {exc.__class__.__name__}"
            return
        self.readiness.partitions = sorted({tp.partition for tp in assigned})
        probe = assigned or [_tp(self._probe_topic, 0)]
        asked = time.perf_counter()
        try:
            ends = await asyncio.wait_for(port.end_offsets(probe), timeout=self.broker_timeout)
        except Exception as exc:  # noqa: BLE001 - timeouts, connection errors: the broker is not reachable
            self.readiness.broker_error = f"{exc.__class__.__name__}: {exc}"[:300]
            self.broker_up.set(0)
            self.broker_seconds.set(time.perf_counter() - asked)
            log.warning("broker did not answer the end-offset request: %s", self.readiness.broker_error,
                        extra={"partitions": len(probe)})
            return
        self.broker_up.set(1)
        self.broker_seconds.set(time.perf_counter() - asked)
        self.readiness.broker_ok_at = self.readiness.clock()
        self.readiness.broker_error = None
        committed = port.last_committed()
        never = [tp for tp in assigned if committed.get(tp) is None]
        if never:  # nothing committed yet: the group starts at the earliest offset (auto_offset_reset)
            try:
                committed.update(await asyncio.wait_for(port.first_offsets(never), timeout=self.broker_timeout))
            except Exception as exc:  # noqa: BLE001 - the lag of those partitions stays unknown this time
                log.warning("earliest offsets unavailable: %s", exc)
        lags: dict[tuple[str, int], int] = {}
        for tp in assigned:
            end, done = ends.get(tp), committed.get(tp)
            if end is not None and done is not None:
                lags[(tp.topic, tp.partition)] = int(end) - int(done)
        self.metrics.on_consumer_lag(lags)

    # ---------------------------------------------------------------- views

    def metrics_body(self) -> tuple[bytes, str]:
        return self.metrics.exposition(), CONTENT_TYPE

    def health(self) -> tuple[int, dict[str, Any]]:
        return 200, {"status": "alive"}

    def ready(self) -> tuple[int, dict[str, Any]]:
        self.readiness.stopping = bool(getattr(self.app, "should_stop", False))
        ok, body = self.readiness.check()
        return (200 if ok else 503), body


def _tp(topic: str, partition: int) -> Any:
    from faust.types import TP

    return TP(topic, partition)


def install_ops(app: Any, shell: Any, metrics: WorkerMetrics, *, poll_seconds: float = 5.0,
                broker_timeout: float = 10.0, faust_sensor: bool = False, token: str | None = None) -> Ops:
    """Register ``/metrics``, ``/healthz`` and ``/readyz``, the rebalance sensor and the offset poll.

    Call it from ``create_app`` before the worker starts. ``shell`` needs ``topics`` and
    ``runtime`` (the :class:`~monitor.agents.app.WorkerShell`). With ``token``, ``/metrics``
    answers 401 unless the request carries ``Authorization: Bearer <token>``.
    """
    ops = Ops(app, shell, metrics, poll_seconds=poll_seconds, broker_timeout=broker_timeout)
    settings = getattr(shell, "settings", None)
    engine = getattr(getattr(shell, "runtime", None), "engine", None)
    register_process_metrics(metrics.registry, "worker", engine.policy.version if engine is not None else "unknown")
    store = settings.data_dir if settings is not None and settings.store == "rocksdb://" else None
    metrics.registry.register(_StoreSize(store))
    producer_log = logging.getLogger("aiokafka.producer.sender")
    producer_log.handlers = [h for h in producer_log.handlers if not isinstance(h, _CountProducerErrors)]
    producer_log.addHandler(ops.producer.handler)
    if faust_sensor:
        from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor

        app.monitor = PrometheusMonitor(metrics=FaustMetrics.create(metrics.registry, "monitor_faust"))
    app.sensors.add(OpsSensor(metrics, ops.readiness))

    async def revoked(sender: Any = None, revoked: Any = None, **_: Any) -> None:
        metrics.on_revoked(sorted({tp.partition for tp in (revoked or ()) if tp.topic in ops._watched}))

    app.on_partitions_revoked.connect(revoked)

    @app.page("/metrics", name="monitor.metrics")
    async def metrics_view(self: Any, request: Any) -> Any:
        from aiohttp.web import (
            Response,  # Faust's web driver; its bytes() refuses a charset
        )

        if token is not None and not _token_matches(request.headers.get("Authorization"), token):
            return Response(body=b'{"detail": "a valid bearer token is required"}', status=401,
                            headers={"Content-Type": "application/json", "WWW-Authenticate": "Bearer"})
        body, content_type = ops.metrics_body()
        return Response(body=body, headers={"Content-Type": content_type})

    @app.page("/healthz", name="monitor.healthz")
    async def health_view(self: Any, request: Any) -> Any:
        status, body = ops.health()
        return self.json(body, status=status)

    @app.page("/readyz", name="monitor.readyz")
    async def ready_view(self: Any, request: Any) -> Any:
        status, body = ops.ready()
        return self.json(body, status=status)

    running: list[asyncio.Future[None]] = []

    @app.timer(poll_seconds, name="monitor.ops.poll")
    async def poll() -> None:
        # beside the timer, not in it: with the broker away a probe waits up to broker_timeout (twice
        # the interval), and mode's timer then logged "Timer monitor.ops.poll is overlapping" at WARNING
        # each time; a probe still waiting is left to finish and this round is skipped
        if running and not running[0].done():
            return
        running[:] = [asyncio.ensure_future(ops.poll())]
        running[0].add_done_callback(_log_poll_failure)

    _ = (metrics_view, health_view, ready_view, poll)
    return ops
