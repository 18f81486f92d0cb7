"""The desk reports the worker group's consumer lag from the broker, also while no worker runs, and its own
view lag; with its process and build figures (a real broker, a real ``monitor serve``, a real worker)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.group_lag import LagProbe
from monitor.rules.loader import load_policy
from monitor.settings import Settings
from monitor.topics import create_topics
from tests import factories as f
from tests.integration.kafka_harness import Names, Worker, wait_for
from tests.integration.test_desk import T0, Env, _produce

pytestmark = pytest.mark.integration


def _samples(serve, env: Env) -> dict[str, list]:
    r = httpx.get(serve.url + "/metrics", headers=env.h("admin"), timeout=5)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    out: dict[str, list] = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out.setdefault(s.name, []).append(s)
    return out


def _group_lag(serve, env: Env) -> float | None:
    got = _samples(serve, env).get("monitor_consumer_group_lag")
    if not got:
        return None
    assert all(s.labels["group"] == env.names.app_id for s in got)
    return sum(s.value for s in got)


def _events(n: int, tag: str) -> list:
    return [f.profile(T0 + timedelta(minutes=i), bid=f"{tag}{i}", team="T1", branch="SH01", eid=f"{tag}{i}-p")
            for i in range(n)]


def test_the_desk_reports_group_lag_with_every_worker_down(broker, tmp_path):
    e = Env(broker, Names(), tmp_path)
    keys = {"MONITOR_" + k.upper(): k for k in Settings.model_fields}
    create_topics(Settings(**{keys[k]: v for k, v in e.env.items() if k in keys}))
    _produce(e.env, tmp_path / "a.jsonl", _events(6, "A"))
    e.serve_env["MONITOR_APP_ID"] = e.names.app_id
    serve = e.serve("serve")
    worker = None
    try:
        serve.ready()
        # no worker has ever run: the group never committed, all 6 messages count
        wait_for(lambda: _group_lag(serve, e) == 6, 60, "group lag 6 reported by the desk")
        s = _samples(serve, e)
        assert s["monitor_lag_probe_up"][0].value == 1
        assert {x.labels["topic"] for x in s["monitor_desk_view_lag"]} == {
            e.topics.alerts, e.topics.schedule, e.topics.borrowers, e.topics.audit,
            e.topics.feed("loan_profile")}  # the desk reads the profiles feed for borrower names
        (build,) = s["monitor_build_info"]
        assert build.labels["component"] == "desk" and build.labels["policy_version"] == load_policy(Path(e.serve_env["MONITOR_POLICY"])).version
        assert s["process_resident_memory_bytes"][0].value > 10e6 and "process_start_time_seconds" in s

        worker = Worker(e.env, tmp_path / "worker.log").start()
        wait_for(lambda: (worker.alive() or pytest.fail(worker.tail())) and _group_lag(serve, e) == 0, 120,
                 "group lag 0 once the worker committed")
        # the view reads the worker's decisions: its lag comes back to 0
        wait_for(lambda: sum(x.value for x in _samples(serve, e)["monitor_desk_view_lag"]) == 0, 60, "view lag 0")
        assert worker.terminate() == 0
        worker = None
        _produce(e.env, tmp_path / "b.jsonl", _events(3, "B"))
        wait_for(lambda: _group_lag(serve, e) == 3, 60, "group lag 3 with no worker running")
    finally:
        if worker is not None:
            worker.terminate()
        serve.stop()


def test_the_probe_says_when_the_broker_is_away():
    probe = LagProbe(["127.0.0.1:1"], "g", ["t"], timeout=1.0)
    assert probe.poll() is False and probe.up == 0
    names = {m.name for m in probe.collect()}
    assert names == {"monitor_consumer_group_lag", "monitor_lag_probe_up"}
