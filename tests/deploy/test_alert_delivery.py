"""End to end: a real Prometheus with the shipped configuration (its scrape jobs, the workers' file of
targets, the bearer token file, the rules, the alerting section, the runbook base) and a real
Alertmanager with the shipped routes and inhibitions deliver the shipped alerts to a webhook receiver
this test runs, while an operator follows the runbook.

What the test changes in its copies, and nothing else: the scrape and evaluation interval (1 s), every
rule's ``for:`` and ``keep_firing_for:`` divided by 30 (1m -> 2s, 5m -> 10s: the promtool unit
tests check the shipped durations), Alertmanager's group waits (1 s), the receivers' host (this test's receiver; the shipped
paths), Alertmanager's address, and the targets (stand-ins for two workers and the desk that answer
``/metrics`` only with the token of ``secrets/prometheus-token``).

The story:
1. both workers and the desk are scraped;
2. worker 1 is scaled in as docs/operations.md#scale says (its line out of targets/workers.yml, then
   stopped): nothing fires for it;
3. worker 2 stops (nobody removed it): ``MonitorNoWorkerUp`` pages ``ops-pager`` with an absolute
   runbook link; ``MonitorWorkerDown`` fires for worker 2 in Prometheus but Alertmanager holds it back
   (inhibited while ``MonitorNoWorkerUp`` fires): no ticket, one page;
4. worker 2 is back: ``MonitorWorkerDown`` resolves at once, the page keeps firing for its
   ``keep_firing_for`` and then the pager gets the resolution; no ticket at any point (the page
   outlives the alert it inhibits, so Alertmanager never sees the ticket uninhibited and firing).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import yaml

from tests.deploy.promql import PROM, ROOT, system_tool
from tests.deploy.test_prometheus_server import _free_port

ALERTMANAGER_CONFIG = ROOT / "deploy/alertmanager/alertmanager.yml"
TOKEN = "prometheus-token-for-the-alert-delivery-test"
FOR_DIVISOR = 30
Procs = list[tuple[str, subprocess.Popen, Path]]


def _wait(what: str, condition: Any, timeout: float, procs: Procs) -> Any:
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
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


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

    def alerts(self, path: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        """The alerts delivered (to ``path``, or anywhere) from the ``since``-th delivery on."""
        return [a for p, body in list(self.received)[since:] if path in (None, p) for a in body["alerts"]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class Target:
    """A stand-in for a worker's or the desk's /metrics: 200 with the right bearer token, 401 without."""

    def __init__(self, port: int = 0) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                ok = self.path == "/metrics" and self.headers.get("Authorization") == f"Bearer {TOKEN}"
                body = b"monitor_stand_in 1\n" if ok else b"a valid bearer token is required\n"
                self.send_response(200 if ok else 401)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.stopped = False

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(timeout=5)


def _seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    parts = re.findall(r"(\d+)([smhd])", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(int(n) * units[u] for n, u in parts)


def _shortened_rules() -> dict[str, Any]:
    """The shipped rules with every ``for:`` and ``keep_firing_for:`` divided by FOR_DIVISOR (at least 1 s); nothing else changed."""
    doc = yaml.safe_load((PROM / "rules.yml").read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            for key in ("for", "keep_firing_for"):
                if key in rule:
                    rule[key] = f"{max(1, _seconds(rule[key]) // FOR_DIVISOR)}s"
    return doc


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


def _write_targets(path: Path, workers: list[str]) -> None:
    """targets/workers.yml as an operator edits it (written whole, then moved into place)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump([{"targets": workers}]))
    os.replace(tmp, path)


class Stack:
    def __init__(self, conf: Path, receiver: Receiver, prom: str, am: str, procs: Procs,
                 workers: list[Target], desk: Target) -> None:
        self.conf, self.receiver, self.prom, self.am, self.procs = conf, receiver, prom, am, procs
        self.workers, self.desk = workers, desk

    def wait(self, what: str, condition: Any, timeout: float = 60) -> Any:
        return _wait(what, condition, timeout, self.procs)

    def query(self, expr: str) -> list[dict[str, Any]]:
        doc = _get(f"{self.prom}/api/v1/query?{urlencode({'query': expr})}")
        assert doc["status"] == "success", doc
        return doc["data"]["result"]

    def scraped(self, job: str) -> dict[str, str]:
        """instance -> health of the job's active targets."""
        active = _get(f"{self.prom}/api/v1/targets?state=active")["data"]["activeTargets"]
        return {t["labels"]["instance"]: t["health"] for t in active if t["labels"]["job"] == job}

    def prometheus_alerts(self, name: str) -> list[dict[str, Any]]:
        return [a for a in _get(f"{self.prom}/api/v1/alerts")["data"]["alerts"] if a["labels"]["alertname"] == name]

    def alertmanager_alerts(self, name: str) -> list[dict[str, Any]]:
        return [a for a in _get(f"{self.am}/api/v2/alerts") if a["labels"]["alertname"] == name]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    prometheus = system_tool(("prometheus",), "prometheus")
    alertmanager = system_tool(("prometheus-alertmanager", "alertmanager"), "prometheus-alertmanager")
    receiver = Receiver()
    workers = [Target(), Target()]
    desk = Target()
    am_port, prom_port = _free_port(), _free_port()
    # the shipped Prometheus directory, as an operator deploys it (token file and targets filled in)
    conf = tmp_path / "prometheus"
    shutil.copytree(PROM, conf, ignore=shutil.ignore_patterns("tests"))
    (conf / "secrets" / "prometheus-token").write_text(TOKEN + "\n")
    _write_targets(conf / "targets" / "workers.yml", [w.address for w in workers])
    (conf / "rules.yml").write_text(yaml.safe_dump(_shortened_rules(), sort_keys=False))
    doc = yaml.safe_load((PROM / "prometheus.yml").read_text())
    doc["global"].update(scrape_interval="1s", evaluation_interval="1s", scrape_timeout="500ms")
    doc["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [f"127.0.0.1:{am_port}"]
    (desk_job,) = [j for j in doc["scrape_configs"] if j["job_name"] == "monitor-desk"]
    desk_job["static_configs"][0]["targets"] = [desk.address]
    (conf / "prometheus.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(_alertmanager_config(receiver)))
    procs: Procs = []
    try:
        am_log = tmp_path / "alertmanager.log"
        procs.append(("alertmanager", subprocess.Popen(
            [alertmanager, f"--config.file={tmp_path / 'alertmanager.yml'}", f"--storage.path={tmp_path / 'am'}",
             f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="],
            stdout=subprocess.DEVNULL, stderr=am_log.open("w")), am_log))
        prom_log = tmp_path / "prometheus.log"
        procs.append(("prometheus", subprocess.Popen(
            [prometheus, f"--config.file={conf / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=subprocess.DEVNULL, stderr=prom_log.open("w")), prom_log))
        for name, port in (("alertmanager", am_port), ("prometheus", prom_port)):
            _wait(f"{name} ready", lambda port=port: urllib.request.urlopen(
                f"http://127.0.0.1:{port}/-/ready", timeout=2).status == 200, 60, procs)
        yield Stack(conf, receiver, f"http://127.0.0.1:{prom_port}", f"http://127.0.0.1:{am_port}", procs,
                    workers, desk)
    finally:
        for _name, proc, _log in procs:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)
        for target in [*workers, desk]:
            target.stop()
        receiver.close()


def test_the_test_changes_only_the_rules_for_durations():
    shipped = yaml.safe_load((PROM / "rules.yml").read_text())
    short = _shortened_rules()
    changed = 0
    durations = ("for", "keep_firing_for")
    for g_shipped, g_short in zip(shipped["groups"], short["groups"], strict=True):
        for a, b in zip(g_shipped["rules"], g_short["rules"], strict=True):
            assert {k: v for k, v in a.items() if k not in durations} == {
                k: v for k, v in b.items() if k not in durations}
            assert a.keys() == b.keys()
            changed += a.get("for") != b.get("for")
            for key in durations:
                if key in a:
                    assert _seconds(b[key]) == max(1, _seconds(a[key]) // FOR_DIVISOR)
    assert changed >= 10
    by_name = {r["alert"]: r for g in short["groups"] for r in g["rules"] if "alert" in r}
    # the order the story relies on: the page first, the per-worker warning well after it
    assert _seconds(by_name["MonitorNoWorkerUp"]["for"]) * 3 <= _seconds(by_name["MonitorWorkerDown"]["for"])
    # and the page outlives the alerts it inhibits (they resolve in the evaluation the worker is back):
    # Alertmanager never sees one firing without the page (prometheus/alertmanager#2229)
    assert _seconds(by_name["MonitorNoWorkerUp"]["keep_firing_for"]) >= 2


def test_scale_in_fires_nothing_and_no_worker_up_pages_once_then_resolves(stack):
    s = stack
    w1, w2 = (w.address for w in s.workers)
    base = yaml.safe_load((PROM / "prometheus.yml").read_text())["global"]["external_labels"]["runbook_base"]

    # 1. everything scraped, with the token from secrets/prometheus-token
    s.wait("both workers and the desk up", lambda: s.scraped("monitor-worker") == {w1: "up", w2: "up"}
           and s.scraped("monitor-desk") == {s.desk.address: "up"})
    s.wait("MonitorNoWorkerUp clear", lambda: not s.prometheus_alerts("MonitorNoWorkerUp"))

    # 2. scale in, as the runbook says: the line out of targets/workers.yml, one scrape interval, stop
    _write_targets(s.conf / "targets" / "workers.yml", [w2])
    s.wait("worker 1 no longer scraped", lambda: s.scraped("monitor-worker") == {w2: "up"})
    s.workers[0].stop()
    s.wait("worker 1's series gone stale", lambda: not s.query(f'up{{instance="{w1}"}}'))

    # 3. the last worker stops without being taken out
    since = len(s.receiver.received)
    s.workers[1].stop()
    paged = s.wait("MonitorNoWorkerUp delivered to ops-pager", lambda: [
        a for a in s.receiver.alerts("/ops-pager", since)
        if a["labels"]["alertname"] == "MonitorNoWorkerUp" and a["status"] == "firing"])
    alert = paged[0]
    assert alert["labels"]["severity"] == "critical" and alert["labels"]["runbook_base"] == base
    assert alert["annotations"]["runbook_url"] == f"{base}#monitornoworkerup"
    assert alert["annotations"]["runbook_url"].startswith(("https://", "http://"))
    assert alert["annotations"]["summary"] == "No monitor worker is running"
    # worker 2's own alert fires in Prometheus, and Alertmanager holds it back under the page
    s.wait("MonitorWorkerDown firing for worker 2", lambda: [
        a for a in s.prometheus_alerts("MonitorWorkerDown") if a["state"] == "firing"])
    held = s.wait("MonitorWorkerDown inhibited in Alertmanager", lambda: [
        a for a in s.alertmanager_alerts("MonitorWorkerDown") if a["status"]["inhibitedBy"]])
    assert {a["labels"]["instance"] for a in held} == {w2}
    assert held[0]["labels"]["severity"] == "warning"
    # the scaled-in worker never had an alert, not even a pending one
    assert not s.query(f'count_over_time(ALERTS{{alertname="MonitorWorkerDown", instance="{w1}"}}[10m])')
    assert {a["labels"]["instance"] for a in s.prometheus_alerts("MonitorWorkerDown")} == {w2}
    # one page, nothing else anywhere: no ticket, nothing for the inspection managers
    assert s.receiver.alerts("/ops-tickets", since) == [] and s.receiver.alerts("/inspection-managers") == []
    assert {a["labels"]["alertname"] for a in s.receiver.alerts(None, since)} == {"MonitorNoWorkerUp"}

    # 4. worker 2 back on its port: the page resolves
    s.workers[1] = Target(int(w2.rpartition(":")[2]))
    s.wait("MonitorNoWorkerUp resolved at ops-pager", lambda: [
        a for a in s.receiver.alerts("/ops-pager", since)
        if a["labels"]["alertname"] == "MonitorNoWorkerUp" and a["status"] == "resolved"
        and a["startsAt"] == alert["startsAt"]])
    assert s.receiver.alerts("/ops-tickets") == []
