"""The worker's /metrics, /healthz and /readyz on a real Faust app's web server (no broker needed)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from monitor.agents.app import create_app
from monitor.agents.ops import Readiness, install_ops
from monitor.agents.metrics import WorkerMetrics
from monitor.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_readiness_names_what_is_missing():
    clock = Clock()
    r = Readiness(stale_after=20, clock=clock)
    ok, body = r.check()
    assert not ok and len(body["missing"]) == 2
    assert "first rebalance" in body["missing"][0] and "broker has not answered" in body["missing"][1]
    r.rebalances_done, r.broker_ok_at, r.partitions = 1, clock.t, [0, 3]
    ok, body = r.check()
    assert ok and body["missing"] == [] and body["partitions"] == [0, 3]
    r.rebalancing = True
    ok, body = r.check()
    assert not ok and body["missing"] == ["a rebalance (and the table recovery after it) is in progress"]
    r.rebalancing = False
    clock.t += 21
    r.broker_error = "KafkaConnectionError: Unable to bootstrap"
    ok, body = r.check()
    assert not ok and "not answered for 21 s (limit 20 s): KafkaConnectionError" in body["missing"][0]
    r.broker_ok_at, r.stopping = clock.t, True
    assert r.check()[1]["missing"] == ["the worker is stopping"]


@pytest.fixture
def app_and_ops(tmp_path: Path):
    settings = Settings(store="memory://", data_dir=tmp_path / "data", app_id="ops-test", partitions=4,
                        topic_prefix="ops.")
    app, shell = create_app(settings, ops=False)
    metrics = WorkerMetrics(shell.topics, partitions=settings.partitions, policy_version="test-1")
    ops = install_ops(app, shell, metrics, poll_seconds=1.0, broker_timeout=2.0)
    return app, ops, metrics


def _run(coro):
    return asyncio.run(coro)


def test_endpoints_through_the_apps_web_server(app_and_ops):
    app, ops, metrics = app_and_ops

    async def go() -> None:
        web = await app.web.wsgi()
        async with TestClient(TestServer(web)) as client:
            r = await client.get("/metrics")
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            names = {f.name for f in text_string_to_metric_families(await r.text())}
            assert {"monitor_events_consumed", "monitor_policy_info", "monitor_consumer_lag"} <= names
            r = await client.get("/healthz")
            assert r.status == 200 and (await r.json()) == {"status": "alive"}
            r = await client.get("/readyz")
            body = await r.json()
            assert r.status == 503 and body["ready"] is False and len(body["missing"]) == 2
            # the consumer has not started: the poll says so and the worker stays unready
            await ops.poll()
            body = await (await client.get("/readyz")).json()
            assert "consumer not ready: ConsumerNotStarted" in body["missing"][-1]
            # a rebalance reported through Faust's sensor API, as the consumer does
            state = app.sensors.on_rebalance_start(app)
            assert metrics.registry.get_sample_value("monitor_table_recovery_in_progress") == 1
            app.sensors.on_rebalance_end(app, state)
            assert metrics.registry.get_sample_value("monitor_rebalances_total") == 1
            assert metrics.registry.get_sample_value("monitor_table_recovery_in_progress") == 0
            ops.readiness.broker_ok_at = ops.readiness.clock()
            r = await client.get("/readyz")
            assert r.status == 200 and (await r.json())["missing"] == []

    _run(go())


def test_revocation_signal_reaches_the_metrics(app_and_ops):
    from faust.types import TP

    app, _ops, metrics = app_and_ops
    metrics.on_recovered([0, 1, 2], [])

    async def go() -> None:
        await app.on_partitions_revoked.send(revoked={TP("ops.profiles", 1), TP("ops.clock", 1),
                                                      TP("ops-test-borrowers-changelog", 2)})

    _run(go())
    assert metrics.registry.get_sample_value("monitor_partitions_assigned") == 2
    assert metrics.registry.get_sample_value("monitor_borrowers", {"tier": "normal"}) is None


def test_faust_sensor_can_share_the_registry(tmp_path: Path):
    from faust.sensors.prometheus import PrometheusMonitor

    settings = Settings(store="memory://", data_dir=tmp_path / "d", app_id="ops-faust")
    app, shell = create_app(settings, ops=False)
    metrics = WorkerMetrics(shell.topics, partitions=settings.partitions, policy_version="p")
    install_ops(app, shell, metrics, faust_sensor=True)
    assert isinstance(app.monitor, PrometheusMonitor)
    names = {f.name for f in text_string_to_metric_families(metrics.exposition().decode())}
    assert "monitor_faust_messages_received" in names and "monitor_events_consumed" in names


def test_the_worker_app_serves_the_ops_endpoints_by_default(tmp_path: Path):
    app, shell = create_app(Settings(store="memory://", data_dir=tmp_path / "d", app_id="ops-default"))
    assert shell.ops is not None and shell.ops.metrics is shell.metrics
