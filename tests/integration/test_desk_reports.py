"""Periodic reports end to end (marked ``integration``): a real worker, a real broker, ``monitor serve``.

A small simulated portfolio goes through ``monitor produce`` to a worker on the
event clock (then a watermark at the present instant, so the worker has
settled everything up to now). ``monitor serve`` with reports enabled catches
up on the last three days' reports at start: it reads the feed topics, builds,
stores, announces each report on the reports topic, and serves the files to a
risk officer. The files are byte for byte what ``monitor replay --as-of`` and
``monitor report`` give on the same events offline.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from monitor._time import to_us
from monitor.desk.auth import add_user
from monitor.desk.reporting import Notice, kinds_ending
from monitor.jsonl import iter_lines
from monitor.produce import produce, send_watermark
from monitor.replay import parse_lines, replay, write_outputs
from monitor.reports import build_report, write_report
from monitor.reports._period import midnight_us
from monitor.rules.loader import default_policy
from monitor.settings import Settings
from monitor.simulate import simulate, write_simulation
from monitor.topics import Topics, create_topics
from tests.integration.kafka_harness import (
    Worker,
    alerts_by_id,
    read_topic,
    settings_env,
    wait_for,
)
from tests.integration.test_desk import Serve

pytestmark = pytest.mark.integration
SH = ZoneInfo("Asia/Shanghai")


def _settings(env: dict[str, str]) -> Settings:
    keys = {"MONITOR_" + k.upper(): k for k in Settings.model_fields}
    return Settings(**{keys[k]: v for k, v in env.items() if k in keys})


def _watermark(settings: Settings, at: int) -> None:
    """Tell the event-clock worker that everything up to ``at`` has been published (with the feeds' end offsets)."""
    from aiokafka import AIOKafkaProducer
    from kafka import KafkaConsumer, TopicPartition

    topics = Topics(settings.topic_prefix)
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    try:
        tps = [TopicPartition(t, p) for t in topics.inputs for p in range(settings.partitions)]
        ends = consumer.end_offsets(tps)
    finally:
        consumer.close()
    offsets: dict[str, dict[int, int]] = {}
    for tp, end in ends.items():
        offsets.setdefault(tp.topic, {})[tp.partition] = end

    async def go() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
        await producer.start()
        try:
            await send_watermark(producer, settings, at, offsets)
        finally:
            await producer.stop()

    asyncio.run(go())


def _in_produce_order(sim: Path, out: Path) -> Path:
    """The events as ``monitor produce`` publishes them: the valid lines in event-time order (stable).
    The simulation places a re-sent copy a few lines after its original; the topics cannot keep that place."""
    rejects: list[Any] = []
    raws: list[bytes] = []
    events = parse_lines(str(sim), iter_lines(sim), rejects, raws)
    order = sorted(range(len(events)), key=lambda i: events[i][0])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"".join(raws[i] + b"\n" for i in order))
    return out


def _offline(events: Path, day: Any, kind: str, out: Path) -> dict[str, bytes]:
    """``monitor replay --as-of END events.jsonl`` and ``monitor report``, as a user would run them offline."""
    policy = default_policy()
    cut = midnight_us(day + timedelta(days=1), policy.zone) - 1
    rdir = out / "replay"
    if not rdir.is_dir():
        write_outputs(replay([events], policy, as_of=cut, snapshots=rdir / "snapshots"), rdir)  # as monitor replay
    paths = write_report(build_report(rdir, [events], period=kind, as_of=day), out / kind)  # type: ignore[arg-type]
    return {p.name: p.read_bytes() for p in paths}


def test_serve_builds_announces_and_serves_the_reports_of_the_last_days(broker, names, tmp_path):
    now = datetime.now(UTC)
    today = now.astimezone(SH).date()
    sim = tmp_path / "sim.jsonl"
    write_simulation(simulate(30, 1, 3, start=(today - timedelta(days=40)).isoformat(), duplicates=0.02), sim)
    env = settings_env(broker, names, tmp_path / "w")  # the event clock
    settings = _settings(env)
    create_topics(settings)
    produce([sim], settings)
    _watermark(settings, to_us(now))
    expected = {a.alert_id for a in replay([sim], default_policy(), as_of=to_us(now)).alerts}
    worker = Worker(env, tmp_path / "worker.log").start()
    topics = Topics(names.prefix)
    serve = None
    try:
        wait_for(lambda: set(alerts_by_id(broker.bootstrap, topics.alerts)[0]) == expected, 45,
                 f"the worker's {len(expected)} alerts")
        users = tmp_path / "users.toml"
        risk = add_user(users, "rita", "risk_officer", ())
        insp = add_user(users, "ivan", "inspector", ("T1",))
        reports_dir = tmp_path / "reports"
        serve = Serve({"MONITOR_BROKER": broker.url, "MONITOR_TOPIC_PREFIX": names.prefix,
                       "MONITOR_USERS_FILE": str(users), "MONITOR_REPORTS_ENABLED": "true",
                       "MONITOR_REPORTS_DIR": str(reports_dir), "MONITOR_REPORT_LANG": "zh",
                       "MONITOR_REPORT_SETTLE_SECONDS": "0", "MONITOR_REPORT_CATCH_UP_DAYS": "3"},
                      tmp_path / "serve.log").start()
        serve.ready()
        # the last three days (a midnight passing meanwhile would add today's: hence "at least")
        days = [today - timedelta(days=n) for n in (3, 2, 1)]
        wanted = {(k, d.isoformat()) for d in days for k in kinds_ending(d)}

        def announced() -> list[Notice] | None:
            notices = [Notice.model_validate_json(m.value) for m in read_topic(broker.bootstrap, topics.reports)]
            return notices if wanted <= {(n.period, n.last_day) for n in notices} else None

        notices = wait_for(announced, 40, f"notices of {sorted(wanted)} on the reports topic")
        assert len(notices) == len({n.report_id for n in notices}) == len({(n.period, n.last_day) for n in notices})
        h = {"Authorization": f"Bearer {risk}"}
        listed = httpx.get(serve.url + "/api/v1/reports", headers=h, timeout=10).json()["items"]
        assert {n.report_id for n in notices} <= {i["report_id"] for i in listed}
        assert [i["last_day"] for i in listed] == sorted((i["last_day"] for i in listed), reverse=True)
        latest = next(n for n in notices if n.period == "day" and n.last_day == days[-1].isoformat())
        assert "alerts checked: the" in latest.notes[1], latest.notes  # the worker published what the engine decided
        # the name the service gives its events file, so that the inputs' names match too
        events = _in_produce_order(sim, tmp_path / "offline" / "events.jsonl")
        offline = _offline(events, days[-1], "day", tmp_path / "offline")
        for f in latest.files:
            r = httpx.get(f"{serve.url}/api/v1/reports/{latest.report_id}/{f.form}", headers=h, timeout=10)
            assert r.status_code == 200 and r.headers["content-type"] == f.content_type
            assert hashlib.sha256(r.content).hexdigest() == f.sha256
            assert r.content == offline[f.name], f.name  # byte-identical to monitor replay + monitor report
        html = httpx.get(f"{serve.url}/api/v1/reports/{latest.report_id}/html", headers=h, timeout=10).text
        assert "预警名单" in html or "预警" in html
        meta = json.loads(offline[f"report-day-{days[-1].isoformat()}.json"])["meta"]
        assert meta["complete"] is True and latest.as_of == meta["as_of"]
        r = httpx.get(f"{serve.url}/api/v1/reports/{latest.report_id}/html",
                      headers={"Authorization": f"Bearer {insp}"}, timeout=10)
        assert r.status_code == 403
        assert (reports_dir / latest.stored_at / "notice.json").is_file()
    finally:
        if serve is not None:
            serve.stop()
        worker.terminate()
