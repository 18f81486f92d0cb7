"""End to end: a real broker feeds a ``monitor worker``; a real Prometheus scrapes it; the figures it
reports through its HTTP API are those a replay of the same events gives. Also /healthz and /readyz."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
import yaml

from monitor.replay import replay
from monitor.rules.loader import default_policy
from monitor.simulate import simulate, write_simulation
from monitor.topics import FEEDS, Topics, create_topics, partition_for
from tests.deploy.promql import DASHBOARD, PROM, REQUIRED
from tests.deploy.test_prometheus_server import Prometheus, _free_port, _wait
from tests.integration.kafka_harness import Worker, settings_env
from tests.integration.test_worker import _produce, _settings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _listening_addresses(port: int) -> set[str]:
    """The local addresses of the TCP sockets listening on ``port`` (from /proc/net/tcp and tcp6)."""
    import ipaddress
    import socket
    import struct

    found = set()
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, _, p = local.partition(":")
            if state != "0A" or int(p, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(addr)
            if len(raw) == 4:
                found.add(socket.inet_ntoa(struct.pack("<I", int(addr, 16))))
            else:
                words = b"".join(struct.pack("<I", int(addr[i:i + 8], 16)) for i in range(0, 32, 8))
                found.add(str(ipaddress.IPv6Address(words)))
    return found


@pytest.fixture
def prometheus_binary() -> str:
    binary = shutil.which("prometheus")
    if binary is None:
        if REQUIRED:
            pytest.fail("prometheus is required (Debian package prometheus; make system-deps)", pytrace=False)
        pytest.skip("prometheus not installed (Debian package prometheus; make system-deps)")
    if "install_ops" not in (ROOT / "monitor/agents/app.py").read_text():
        pytest.skip("the worker does not serve /metrics yet (install_ops is not wired into create_app)")
    return binary


def _dashboard_gaps(prom: Prometheus) -> list[str]:
    """The dashboard's queries that return nothing, or nothing but NaN."""
    gaps = []
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel.get("targets", []):
            values = [float(r["value"][1]) for r in prom.query(target["expr"])]
            if not any(v == v for v in values):  # v == v: not NaN
                gaps.append(f"{panel['title']}: {target['expr']}")
    return gaps


def _send_raw(bootstrap: str, messages: list[tuple[str, bytes, bytes, int]]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap)
    try:
        for topic, key, value, partition in messages:
            producer.send(topic, key=key, value=value, partition=partition)
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=10)


def test_prometheus_reports_what_the_worker_was_fed(broker, names, tmp_path, prometheus_binary):
    """The shipped Prometheus configuration (its token file, its workers' file, the desk's job; only the
    intervals and the addresses changed) scrapes a real worker and a real desk: the figures are the
    replay's, and every query of the dashboard returns data."""
    from monitor.desk.auth import add_user
    from tests.integration.test_desk import Serve

    events = tmp_path / "events.jsonl"
    write_simulation(simulate(120, 5, 17, duplicates=0.01), events)
    expected = replay([events], default_policy())
    # Prometheus's token: an ops user of the desk, in the file prometheus.yml names, also asked by the worker
    conf = tmp_path / "prometheus"
    shutil.copytree(PROM, conf, ignore=shutil.ignore_patterns("tests"))
    users = tmp_path / "users.toml"
    token = add_user(users, "prometheus", "ops", ())
    token_file = conf / "secrets" / "prometheus-token"
    token_file.write_text(token + "\n")
    web = _free_port()
    env = settings_env(broker, names, tmp_path / "w1", MONITOR_WEB_PORT=str(web),  # default host: loopback
                       MONITOR_METRICS_TOKEN_FILE=str(token_file))
    create_topics(_settings(env))
    topics = Topics(names.prefix)
    worker = Worker(env, tmp_path / "w1.log").start()
    serve = Serve({"MONITOR_BROKER": broker.url, "MONITOR_TOPIC_PREFIX": names.prefix, "MONITOR_USERS_FILE": str(users),
                   "MONITOR_APP_ID": names.app_id}, tmp_path / "serve.log").start()
    port = _free_port()
    (conf / "targets" / "workers.yml").write_text(yaml.safe_dump([{"targets": [f"127.0.0.1:{web}"]}]))
    config = yaml.safe_load((PROM / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s", scrape_timeout="900ms")
    del config["alerting"]  # tests/deploy/test_alert_delivery.py delivers alerts
    (desk_job,) = [j for j in config["scrape_configs"] if j["job_name"] == "monitor-desk"]
    desk_job["static_configs"][0]["targets"] = [f"127.0.0.1:{serve.port}"]
    (conf / "prometheus.yml").write_text(yaml.safe_dump(config))
    prom_proc = subprocess.Popen([prometheus_binary, f"--config.file={conf / 'prometheus.yml'}",
                                  f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
                                 stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("w"))
    prom = Prometheus(f"http://127.0.0.1:{port}")
    try:
        # the events come once Prometheus scrapes the worker: rates over the dashboard's windows see them
        _wait("the worker scraped", lambda: (worker.alive() or pytest.fail(worker.tail()))
              and prom.value('sum(monitor_events_consumed_total{job="monitor-worker"})') == 0, timeout=120)
        _produce(env, events)
        # two messages for the dead-letter topic: not JSON, and a profile with a negative exposure
        bad_profile = json.dumps({"type": "loan_profile", "event_id": "bad-1", "borrower_id": "B000001",
                                  "occurred_at": "2025-01-02T00:00:00+08:00", "exposure": -1}).encode()
        _send_raw(broker.bootstrap, [
            (topics.feed("lawsuit"), b"B000001", b"{not json", partition_for("B000001", 4)),
            (topics.feed("loan_profile"), b"B000001", bad_profile, partition_for("B000001", 4))])

        def alerts_seen() -> bool:
            assert worker.alive(), worker.tail()
            return prom.value("sum(monitor_alerts_total)") == len(expected.alerts)

        _wait(f"{len(expected.alerts)} alerts in Prometheus", alerts_seen, timeout=180)
        # alerts per kind and tier
        want = Counter((a.kind.value, a.to_tier) for a in expected.alerts)
        got = {(r["metric"]["kind"], r["metric"]["tier"]): float(r["value"][1])
               for r in prom.query("sum by (kind, tier) (monitor_alerts_total) > 0")}
        assert got == {k: float(v) for k, v in want.items()}
        # borrowers and exposure per tier, summed over the worker's partitions (all of them here)
        views = [v for v in expected.views if v.tier is not None]
        tiers = Counter(v.tier for v in views)
        _wait("the tier gauges", lambda: {r["metric"]["tier"]: float(r["value"][1])
                                          for r in prom.query("sum by (tier) (monitor_borrowers) > 0")}
              == {t: float(n) for t, n in tiers.items()})
        for tier in tiers:
            assert prom.value(f'sum(monitor_exposure_cny{{tier="{tier}"}})') == \
                pytest.approx(sum(v.exposure or 0 for v in views if v.tier == tier))
        # events: every one produced was handed to the engine once; the duplicates are the replay's. The two bad
        # messages can be consumed after the last alert (another partition) and reach Prometheus a scrape later
        _wait("every message consumed", lambda: (worker.alive() or pytest.fail(worker.tail()))
              and prom.value("sum(monitor_events_consumed_total)") >= expected.read + 2, timeout=60)
        assert prom.value("sum(monitor_events_consumed_total)") == expected.read + 2
        assert prom.value('sum(monitor_events_consumed_total{outcome="duplicate"})') == expected.duplicates
        assert prom.value('sum(monitor_events_consumed_total{outcome="rejected"})') == 2
        assert prom.value('sum(monitor_dead_letters_total{feed=~"lawsuits|profiles"})') == 2
        for kind, count in expected.events_by_type.items():
            feed = FEEDS[kind]
            assert prom.value(f'sum(monitor_events_consumed_total{{feed="{feed}", outcome="applied"}})') == count
            assert prom.value(f'max(monitor_feed_newest_event_timestamp_seconds{{feed="{feed}"}})') == \
                expected.newest_by_type[kind] / 1_000_000
        # everything committed: no lag left on any input partition; the worker is ready
        _wait("no consumer lag", lambda: prom.value(f'sum(monitor_consumer_lag{{topic=~"{names.prefix}.*"}})') == 0
              and len(prom.query("monitor_consumer_lag")) == 4 * (len(topics.inputs) + 1))
        assert prom.value("monitor_partitions_assigned") == 4
        # what an SRE looks at first: the process, the build, the broker, the producer, the local store
        _wait("the broker probe", lambda: prom.value("monitor_broker_up") == 1)
        assert prom.value("monitor_producer_send_seconds_count") > 0
        assert prom.value('sum(monitor_producer_send_errors_total{kind="failed"})') == 0
        assert prom.query(f'monitor_build_info{{component="worker", policy_version="{default_policy().version}"}}')
        assert prom.value("process_resident_memory_bytes") > 10e6 and prom.value("process_open_fds") > 0
        assert prom.value("monitor_state_store_bytes") > 0
        assert prom.value("monitor_table_recovered") == 1
        assert prom.value("monitor_rebalances_total") >= 1
        assert prom.query(f'monitor_policy_info{{version="{default_policy().version}"}}')
        status, body = _get(f"http://127.0.0.1:{web}/readyz")
        assert status == 200 and body["partitions"] == [0, 1, 2, 3] and body["missing"] == []
        assert _get(f"http://127.0.0.1:{web}/healthz") == (200, {"status": "alive"})
        # nothing but the three: Faust's table view would hand out a borrower's stored state
        some = next(v.borrower_id for v in views)
        for path in (f"/table/borrowers/{some}/", "/table/borrowers/", "/", "/router/", "/graph/"):
            status, body = _get(f"http://127.0.0.1:{web}{path}")
            assert status == 404 and some not in json.dumps(body), path
        assert _listening_addresses(web) == {"127.0.0.1"}
        # the desk, scraped with the same token: its own figures and the group's lag measured from outside
        serve.ready()
        _wait("the desk scraped", lambda: prom.value('up{job="monitor-desk"}') == 1
              and prom.value(f'sum(monitor_consumer_group_lag{{group="{names.app_id}"}})') == 0)
        assert prom.query('monitor_build_info{component="desk"}')
        # every panel of the dashboard shows something (rates need two scrapes after the events: waited for)
        gaps: list[str] = []

        def dashboard_full() -> bool:
            gaps[:] = _dashboard_gaps(prom)
            return not gaps

        try:
            _wait("every dashboard query to return data", dashboard_full, timeout=60)
        except AssertionError:
            raise AssertionError("dashboard queries without data:\n" + "\n".join(gaps)) from None
    finally:
        prom_proc.terminate()
        prom_proc.wait(timeout=30)
        serve.stop()
        worker.terminate()


def test_an_idle_worker_logs_recovery_at_info_and_no_warnings(broker, names, tmp_path):
    """Routine start and idling say nothing above INFO: no "Timer monitor.tick is overlapping" (it came
    every ten seconds), recovery at INFO with structured fields, no ANSI colour codes."""
    import time

    web = _free_port()
    env = settings_env(broker, names, tmp_path / "w1", MONITOR_WEB_PORT=str(web), MONITOR_CLOCK="wall")
    create_topics(_settings(env))
    log = tmp_path / "w1.log"
    worker = Worker(env, log).start()
    try:
        _wait("the idle worker ready", lambda: worker.alive() and _get_status(f"http://127.0.0.1:{web}/readyz") == 200,
              timeout=120)
        ready_at = time.monotonic()
        # the overlap came every ~10 s: watch three times as long
        _wait("30 s of idling", lambda: (worker.alive() or pytest.fail(worker.tail()))
              and time.monotonic() - ready_at > 30, timeout=60)
    finally:
        assert worker.terminate() == 0
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    assert not [x for x in lines if "overlapping" in x["message"]]
    recovered = [x for x in lines if x["message"].startswith("recovered: partitions")]
    assert recovered and all(x["level"] == "INFO" and x["partitions"] == [0, 1, 2, 3] for x in recovered)
    ours = [x for x in lines if x["logger"].startswith(("monitor", "mode.timers")) and x["level"] != "INFO"
            and x["level"] != "DEBUG"]
    assert not ours, ours
    assert "\\u001b" not in log.read_text() and "color_message" not in log.read_text()


def _get_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return None


def test_a_running_worker_through_a_broker_outage_logs_little_and_says_not_ready(broker, names, tmp_path):
    """Issue 12: while the broker was away a worker wrote some 250 error lines a second. The libraries'
    repeated lines come once per interval with a count, /readyz says 503 naming the broker, and the worker
    is ready again once the broker is back (the start-up wait has its own test in test_worker.py)."""
    import time

    if not broker.managed:
        pytest.skip("the broker was started outside the tests; cannot stop it")
    web = _free_port()
    env = settings_env(broker, names, tmp_path / "w1", MONITOR_WEB_PORT=str(web), MONITOR_CLOCK="wall")
    create_topics(_settings(env))
    log = tmp_path / "w1.log"
    worker = Worker(env, log).start()
    ready = f"http://127.0.0.1:{web}/readyz"
    try:
        _wait("the worker ready", lambda: worker.alive() and _get_status(ready) == 200, timeout=120)
        before = len(log.read_text().splitlines())
        broker.stop()
        try:
            down_at = time.monotonic()
            _wait("/readyz 503 with the broker away", lambda: _get_status(ready) == 503, timeout=60)
            _wait("20 s without the broker", lambda: (worker.alive() or pytest.fail(worker.tail()))
                  and time.monotonic() - down_at > 20, timeout=60)
            status, body = _get(ready)
            assert status == 503 and any("broker" in m for m in body["missing"]), body
            during = log.read_text().splitlines()[before:]
        finally:
            broker.start()
        # ~250 a second before; now each library line once per 30 s with a count, and the worker's own
        assert len(during) <= 40, "\n".join(during[:60])
        messages = [json.loads(x)["message"] for x in during if x.startswith("{")]
        assert len(messages) == len(during)  # one JSON object per line, no traceback spill
        # the broker probe (every 5 s, up to 10 s each while the broker is away) runs beside its timer
        assert not [m for m in messages if "overlapping" in m], messages
        _wait("the worker ready again", lambda: worker.alive() and _get_status(ready) == 200, timeout=120)
    finally:
        assert worker.terminate() == 0
