"""The worker's web port serves /metrics, /healthz and /readyz and nothing else (real HTTP on loopback).

Faust would add its own views on the same port: ``/table/borrowers/<id>/`` hands out a borrower's
stored state (exposure, grade, bureau debt, days past due), ``/router`` the cluster's layout and ``/``
statistics. None of them may answer.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from monitor.agents.app import create_app
from monitor.agents.ops import read_token
from monitor.settings import Settings

TOKEN = "s3cret-token-for-the-metrics-endpoint"


def _app(tmp_path: Path, **extra):
    settings = Settings(store="memory://", data_dir=tmp_path / "data", app_id="web-test", partitions=4,
                        topic_prefix="web.", **extra)
    return create_app(settings)


async def _client(app):
    return TestClient(TestServer(await app.web.wsgi()))


def test_only_the_three_operations_paths_answer(tmp_path: Path):
    app, shell = _app(tmp_path)
    # a borrower's state in the table, as a worker holds it
    shell.port.write(0, {b"B000001": b'{"borrower_id": "B000001", "exposure": 1200000}'}, 0)

    async def go() -> None:
        async with await _client(app) as client:
            for path in ("/metrics", "/healthz"):
                r = await client.get(path)
                assert r.status == 200, path
                assert r.headers["Cache-Control"] == "no-store"
            assert (await client.get("/readyz")).status == 503  # not started: not ready, but served
            for path in ("/", "/table/", "/table/borrowers/", "/table/borrowers/B000001/",
                         "/table/borrowers/B000001", "/router/", "/router/borrowers/key/B000001/",
                         "/graph/", "/stats/", "/assignment/", "/performance/", "/metrics/", "/favicon.ico",
                         "/../etc/passwd"):
                r = await client.get(path)
                body = await r.text()
                assert r.status == 404, (path, r.status, body[:200])
                assert "B000001" not in body and "1200000" not in body
            r = await client.post("/metrics", data=b"x")
            assert r.status == 405

    asyncio.run(go())


def test_metrics_can_ask_for_a_bearer_token(tmp_path: Path):
    token_file = tmp_path / "prometheus-token"
    token_file.write_text(TOKEN + "\n")
    app, _shell = _app(tmp_path, metrics_token_file=token_file)

    async def go() -> None:
        async with await _client(app) as client:
            r = await client.get("/metrics")
            assert r.status == 401 and r.headers["WWW-Authenticate"] == "Bearer"
            assert "monitor_" not in await r.text()
            r = await client.get("/metrics", headers={"Authorization": "Bearer " + TOKEN[:-1] + "X"})
            assert r.status == 401
            r = await client.get("/metrics", headers={"Authorization": "Basic " + TOKEN})
            assert r.status == 401
            r = await client.get("/metrics", headers={"Authorization": "Bearer " + TOKEN})
            assert r.status == 200 and "monitor_events_consumed_total" in await r.text()
            # the probes stay open: a kubelet or systemd has no token
            assert (await client.get("/healthz")).status == 200
            assert (await client.get("/readyz")).status == 503

    asyncio.run(go())


def test_a_bad_token_file_stops_the_start(tmp_path: Path):
    assert read_token(None) is None
    with pytest.raises(ValueError, match="No such file"):
        read_token(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ValueError, match="expected one token"):
        read_token(empty)
    with pytest.raises(ValueError, match="expected one token"):
        _app(tmp_path, metrics_token_file=empty)


def test_the_web_port_listens_on_loopback_by_default():
    assert Settings().web_host == "127.0.0.1"


def test_every_setting_is_an_option_of_the_worker_with_its_variable():
    from click.testing import CliRunner

    from monitor.agents.cli import worker

    text = " ".join(CliRunner().invoke(worker, ["--help"], terminal_width=200).output.split())
    for name in Settings.model_fields:
        assert f"--{name.replace('_', '-')}" in text, name
        assert f"MONITOR_{name.upper()}" in text, name


def test_the_worker_exports_process_build_broker_producer_and_store_figures(tmp_path: Path):
    from prometheus_client.parser import text_string_to_metric_families

    from monitor.buildinfo import version
    from monitor.rules.loader import default_policy

    settings = Settings(store="rocksdb://", data_dir=tmp_path / "data", app_id="fig-test", partitions=2,
                        topic_prefix="fig.")
    (tmp_path / "data" / "tables").mkdir(parents=True)
    (tmp_path / "data" / "tables" / "000001.sst").write_bytes(b"x" * 4096)
    _app, shell = create_app(settings)
    samples = {}
    for family in text_string_to_metric_families(shell.metrics.exposition().decode()):
        for s in family.samples:
            samples.setdefault(s.name, []).append(s)
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
                 "process_start_time_seconds", "monitor_broker_up", "monitor_broker_request_seconds",
                 "monitor_producer_send_seconds_count", "monitor_producer_send_errors_total"):
        assert name in samples, name
    assert samples["process_resident_memory_bytes"][0].value > 10_000_000
    (build,) = samples["monitor_build_info"]
    assert build.labels == {"component": "worker", "version": version(),
                            "policy_version": default_policy().version} and build.value == 1
    assert samples["monitor_state_store_bytes"][0].value >= 4096

    # delivery futures as the shell hands them over: one delivered, one failed
    async def go() -> None:
        loop = asyncio.get_running_loop()
        ok, bad = loop.create_future(), loop.create_future()
        shell.ops.observe_sends([ok, bad], 0.0)
        ok.set_result(None)
        bad.set_exception(RuntimeError("broker gone"))
        await asyncio.sleep(0)

    asyncio.run(go())
    reg = shell.metrics.registry
    assert reg.get_sample_value("monitor_producer_send_seconds_count") == 1
    assert reg.get_sample_value("monitor_producer_send_errors_total", {"kind": "failed"}) == 1
    import logging

    logging.getLogger("aiokafka.producer.sender").warning("Got error produce response: %s", "NotLeader")
    assert reg.get_sample_value("monitor_producer_send_errors_total", {"kind": "retried"}) == 1
