"""A real Prometheus server scrapes a worker's metrics (fed by the real Runtime), answers the dashboard's
queries with the figures that were fed, and evaluates the shipped rules on them."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import start_http_server

from tests.deploy.promql import DASHBOARD, PROM, REQUIRED, metric_names
from tests.factories import T0, overdue, profile
from tests.agents.test_metrics import World, _msg

DESK_ONLY = {"monitor_cases_open", "monitor_visits_due_today", "monitor_visits_overdue", "monitor_visits_planned",
             "monitor_http_requests_total", "monitor_http_request_duration_seconds_bucket",
             # the desk's lag probe (tests/integration/test_group_lag.py checks them on a real desk)
             "monitor_consumer_group_lag", "monitor_desk_view_lag", "monitor_lag_probe_up",
             "monitor_lag_probe_last_success_timestamp_seconds",
             # added by the worker's web server and the processes themselves, not by the registry fed here
             # (tests/integration/test_observability.py checks them on a real worker)
             "process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes",
             "process_open_fds", "process_max_fds", "process_start_time_seconds", "monitor_build_info",
             "monitor_broker_up", "monitor_broker_request_seconds", "monitor_producer_send_seconds_bucket",
             "monitor_producer_send_errors_total", "monitor_state_store_bytes"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except OSError as exc:  # not listening yet
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str, **params: str) -> Any:
        query = ("?" + urllib.parse.urlencode(params)) if params else ""
        with urllib.request.urlopen(self.url + path + query, timeout=10) as r:
            doc = json.loads(r.read())
        assert doc["status"] == "success", doc
        return doc["data"]

    def query(self, expr: str) -> list[dict]:
        return self.get("/api/v1/query", query=expr)["result"]

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None


@pytest.fixture
def world_and_prometheus(tmp_path: Path) -> Iterator[tuple[World, Prometheus]]:
    binary = shutil.which("prometheus")
    if binary is None:
        if REQUIRED:
            pytest.fail("prometheus is required (Debian package prometheus; make system-deps)", pytrace=False)
        pytest.skip("prometheus not installed (Debian package prometheus; make system-deps)")
    world = World()
    server, thread = start_http_server(0, addr="127.0.0.1", registry=world.metrics.registry)
    target = f"127.0.0.1:{server.server_port}"
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(PROM / "rules.yml")],
        "scrape_configs": [{"job_name": "monitor-worker", "static_configs": [{"targets": [target]}]}],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = _free_port()
    proc = subprocess.Popen([binary, f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("w"))
    try:
        prom = Prometheus(f"http://127.0.0.1:{port}")
        _wait("Prometheus to be ready", lambda: urllib.request.urlopen(prom.url + "/-/ready", timeout=2).status == 200)
        yield world, prom
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        server.shutdown()
        thread.join(timeout=5)


def test_prometheus_scrapes_the_figures_that_were_fed(world_and_prometheus):
    world, prom = world_and_prometheus
    # first scrape: everything at zero (the counters exist before the first event: increases are seen)
    _wait("the first scrape", lambda: prom.value('sum(monitor_dead_letters_total{job="monitor-worker"})') == 0)
    world.batch([
        _msg(profile(T0, "B1", eid="p1", exposure=2_500_000.0), 0),
        _msg(profile(T0, "B1", eid="p1", exposure=2_500_000.0), 1),
        _msg(overdue(T0 + timedelta(seconds=4), 95, bid="B1", eid="o1"), 0),
        _msg(None, 0, topic=world.metrics.topics.feed("lawsuit"), raw=b"{broken"),
    ])
    world.metrics.on_consumer_lag({(world.metrics.topics.feed("loan_profile"), 0): 42})
    _wait("the batch in Prometheus", lambda: prom.value("sum(monitor_events_consumed_total)") == 4)
    # the first observations count in rates: the series existed (at 0) before them
    _wait("the first event lag in a rate", lambda: (prom.value(
        'increase(monitor_event_lag_seconds_count{feed="overdue-events"}[1m])') or 0) > 0)
    assert prom.value('monitor_events_consumed_total{feed="profiles", outcome="duplicate"}') == 1
    assert prom.value('monitor_events_rejected_total{feed="lawsuits", reason="not_json"}') == 1
    assert prom.value('sum by (tier) (monitor_borrowers{tier="severe"})') == 1
    assert prom.value('sum(monitor_exposure_cny{tier="severe"})') == 2_500_000.0
    assert prom.value('sum(monitor_alerts_total{kind="raised", tier="severe"})') == 1
    assert prom.value('monitor_event_lag_seconds_sum{feed="overdue-events"}') == pytest.approx(6.0)
    assert prom.value('monitor_consumer_lag{topic="t.profiles", partition="0"}') == 42
    assert prom.value("time() - max by (feed) (monitor_feed_newest_event_timestamp_seconds{feed=\"profiles\"})") \
        > 0
    assert prom.query('monitor_policy_info{version=~".+"}')

    # every worker query of the dashboard runs, and each one that shows fed data has data
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for t in panel.get("targets", []):
            names = metric_names(t["expr"])
            result = prom.query(t["expr"])  # raises unless Prometheus accepted the query
            if names and not names & DESK_ONLY and "rate(" not in t["expr"] and "increase(" not in t["expr"]:
                assert result, (panel["title"], t["expr"])

    # the shipped rules are loaded and evaluated on these figures: invalid messages above the threshold
    # make MonitorDeadLetters pending (it fires after its 5 minutes; tests/deploy/test_alert_delivery.py
    # sees a rule fire and reach Alertmanager). The burst is the first of its feed and reason, all between
    # two scrapes: it counts all the same (a series born at 11 would show no increase)
    groups = prom.get("/api/v1/rules")["groups"]
    assert {g["name"] for g in groups} == {"monitor-workers", "monitor-feeds", "monitor-desk"}
    assert prom.value('monitor_events_rejected_total{feed="profiles", reason="not_json"}') == 0
    world.batch([_msg(None, 0, topic=world.metrics.topics.feed("loan_profile"), raw=b"{broken") for _ in range(11)])
    alerts = _wait("MonitorDeadLetters", lambda: [a for a in prom.get("/api/v1/alerts")["alerts"]
                                                  if a["labels"]["alertname"] == "MonitorDeadLetters"])
    (alert,) = alerts
    assert alert["labels"]["feed"] == "profiles" and alert["state"] == "pending"
    assert alert["annotations"]["runbook_url"] == "#monitordeadletters"  # no runbook_base label in this config
