"""End to end: a real Prometheus evaluates the shipped rules with the shipped configuration's alerting and
external labels, fires a shipped rule, and a real Alertmanager with the shipped routes delivers it to a
webhook receiver this test runs. Only timings are shortened in the test's copies (scrape and evaluation
every second, group waits of a second); the rules, routes, receivers' paths and labels are the shipped ones.

The fired rule is ``MonitorNoWorkerUp`` (critical, ``for: 1m``): the only worker target listens nowhere.
It must reach the ``ops-pager`` receiver with an absolute runbook link; ``MonitorWorkerDown`` (a warning
after 5 minutes) must not have been sent.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.promql import PROM, ROOT, system_tool
from tests.deploy.test_prometheus_server import _free_port

ALERTMANAGER_CONFIG = ROOT / "deploy/alertmanager/alertmanager.yml"


def _wait(what: str, condition: Any, timeout: float, procs: list[tuple[str, subprocess.Popen, Path]]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc, log in procs:
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited: {log.read_text(errors='replace')[-3000:]}")
        try:
            got = condition()
        except OSError:
            got = None
        if got:
            return got
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Receiver:
    """A webhook receiver: every POST body (Alertmanager's JSON) kept with its path."""

    def __init__(self) -> None:
        received: list[tuple[str, dict[str, Any]]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received.append((self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def alerts(self, path: str) -> list[dict[str, Any]]:
        return [a for p, body in list(self.received) if p == path for a in body["alerts"]]

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


def _short_timings(route: dict[str, Any]) -> None:
    for key, value in (("group_wait", "1s"), ("group_interval", "1s"), ("repeat_interval", "1h")):
        if key in route:
            route[key] = value
    for child in route.get("routes", []):
        _short_timings(child)


def _alertmanager_config(receiver: Receiver) -> dict[str, Any]:
    doc = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    _short_timings(doc["route"])
    for r in doc["receivers"]:
        for hook in r.get("webhook_configs", []):
            # the shipped receiver's path, on this test's receiver
            hook["url"] = f"http://127.0.0.1:{receiver.port}{urlsplit(hook['url']).path}"
    return doc


def _prometheus_config(am_port: int, dead_port: int) -> dict[str, Any]:
    doc = yaml.safe_load((PROM / "prometheus.yml").read_text())
    doc["global"].update(scrape_interval="1s", evaluation_interval="1s", scrape_timeout="500ms")
    doc["rule_files"] = [str(PROM / name) for name in doc["rule_files"]]
    doc["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [f"127.0.0.1:{am_port}"]
    # the one worker listens nowhere (no token file needed: nothing answers)
    doc["scrape_configs"] = [{"job_name": "monitor-worker", "metrics_path": "/metrics",
                              "static_configs": [{"targets": [f"127.0.0.1:{dead_port}"]}]}]
    return doc


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Receiver, str, list[tuple[str, subprocess.Popen, Path]]]]:
    prometheus = system_tool(("prometheus",), "prometheus")
    alertmanager = system_tool(("prometheus-alertmanager", "alertmanager"), "prometheus-alertmanager")
    receiver = Receiver()
    am_port, prom_port, dead_port = _free_port(), _free_port(), _free_port()
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(_alertmanager_config(receiver)))
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(_prometheus_config(am_port, dead_port)))
    procs: list[tuple[str, subprocess.Popen, Path]] = []
    try:
        am_log = tmp_path / "alertmanager.log"
        procs.append(("alertmanager", subprocess.Popen(
            [alertmanager, f"--config.file={tmp_path / 'alertmanager.yml'}", f"--storage.path={tmp_path / 'am'}",
             f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="],
            stdout=subprocess.DEVNULL, stderr=am_log.open("w")), am_log))
        prom_log = tmp_path / "prometheus.log"
        procs.append(("prometheus", subprocess.Popen(
            [prometheus, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=subprocess.DEVNULL, stderr=prom_log.open("w")), prom_log))
        for name, port in (("alertmanager", am_port), ("prometheus", prom_port)):
            _wait(f"{name} ready", lambda port=port: urllib.request.urlopen(
                f"http://127.0.0.1:{port}/-/ready", timeout=2).status == 200, 60, procs)
        yield receiver, f"http://127.0.0.1:{prom_port}", procs
    finally:
        for _name, proc, _log in procs:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)
        receiver.close()


def test_a_shipped_rule_fires_and_alertmanager_delivers_it_to_the_pager(stack):
    receiver, prom, procs = stack
    base = yaml.safe_load((PROM / "prometheus.yml").read_text())["global"]["external_labels"]["runbook_base"]

    def rule_pending() -> bool:
        with urllib.request.urlopen(prom + "/api/v1/alerts", timeout=5) as r:
            alerts = json.loads(r.read())["data"]["alerts"]
        return any(a["labels"]["alertname"] == "MonitorNoWorkerUp" for a in alerts)

    _wait("MonitorNoWorkerUp pending in Prometheus", rule_pending, 60, procs)
    paged = _wait("MonitorNoWorkerUp delivered to ops-pager",
                  lambda: [a for a in receiver.alerts("/ops-pager") if a["labels"]["alertname"] == "MonitorNoWorkerUp"],
                  150, procs)
    alert = paged[0]
    assert alert["status"] == "firing"
    assert alert["labels"]["severity"] == "critical" and alert["labels"]["runbook_base"] == base
    assert alert["annotations"]["runbook_url"] == f"{base}#monitornoworkerup"
    assert alert["annotations"]["runbook_url"].startswith(("https://", "http://"))
    assert alert["annotations"]["summary"] == "No monitor worker is running"
    # nothing else went anywhere: no ticket, no business alert, no per-worker alert yet
    assert receiver.alerts("/ops-tickets") == [] and receiver.alerts("/inspection-managers") == []
    assert {a["labels"]["alertname"] for _, body in receiver.received for a in body["alerts"]} == \
        {"MonitorNoWorkerUp"}
