"""The desk's scheduled reports from what the workers publish, end to end on a real broker (issue 14).

A worker publishing its day-end rows (``MONITOR_DAY_ENDS=true``) on the event clock, and ``monitor serve`` with
the same setting: the desk folds the day-ends, alerts and dead-letter topics as it reads them and builds the
reports of the last days from the fold, with no replay of the feeds. The day report equals ``monitor replay
--as-of`` + ``monitor report`` on the same events offline (CSV and workbook byte for byte; the JSON in every
section and meta field but the recorded inputs, which name the topics' offsets instead of an events file), and
equals the desk's build from the feeds (a rejected message included). A desk restarted on an empty reports
directory folds the retained topics again and writes the same bytes.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from monitor._time import to_us
from monitor.desk.auth import add_user
from monitor.desk.report_kafka import KafkaReportSource
from monitor.desk.reporting import Notice, Reporter, ReportStore, kinds_ending
from monitor.desk.settings import DeskSettings
from monitor.produce import produce
from monitor.replay import replay
from monitor.rules.loader import default_policy
from monitor.simulate import simulate, write_simulation
from monitor.topics import Topics, create_topics, partition_for
from tests.integration.kafka_harness import Worker, alerts_by_id, settings_env, wait_for
from tests.integration.test_desk import Serve
from tests.integration.test_desk_reports import (
    _in_produce_order,
    _offline,
    _settings,
    _watermark,
)

pytestmark = pytest.mark.integration
SH = ZoneInfo("Asia/Shanghai")


def _send_bad(settings: Any, topic: str, key: str, value: bytes, at_ms: int) -> None:
    """A message the worker refuses (its dead letter names it), keyed to its borrower's partition, that reached
    the broker at ``at_ms`` (its record's timestamp: before the reports' build instants, its dead letter after)."""
    from aiokafka import AIOKafkaProducer

    async def go() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(topic, value, key=key.encode(), timestamp_ms=at_ms,
                                         partition=partition_for(key, settings.partitions))
        finally:
            await producer.stop()

    asyncio.run(go())


def _stored(reports_dir: Path, day: str) -> dict[str, Notice]:
    """The notices stored under ``reports_dir`` for the periods ending on ``day``, by period."""
    out = {}
    for path in reports_dir.glob("*/*/*/notice.json"):
        n = Notice.model_validate_json(path.read_bytes())
        if n.last_day == day:
            out[n.period] = n
    return out


def _files(reports_dir: Path, notice: Notice) -> dict[str, bytes]:
    return {f.form: (reports_dir / notice.stored_at / f.name).read_bytes() for f in notice.files}


def _without_inputs(raw: bytes) -> dict[str, Any]:
    doc = json.loads(raw)
    doc["meta"].pop("inputs")
    return doc


def _from_feeds(env: dict[str, str], day: Any, work: Path) -> dict[str, bytes]:
    """The same day's report built by the desk's reporter from a replay of the feeds (no fold)."""
    settings = DeskSettings(broker=env["MONITOR_BROKER"], topic_prefix=env["MONITOR_TOPIC_PREFIX"])
    store = ReportStore(work)
    reporter = Reporter(store, KafkaReportSource(settings), default_policy(), topics=Topics(settings.topic_prefix),
                        settle_seconds=0)
    notice = asyncio.run(reporter._build(day, ["day"]))[0]
    return _files(work, notice)


def test_serve_builds_the_reports_from_the_day_end_rows_as_the_replay_does(broker, names, tmp_path):
    now = datetime.now(UTC)
    today = now.astimezone(SH).date()
    sim = tmp_path / "sim.jsonl"
    write_simulation(simulate(40, 1, 5, start=(today - timedelta(days=40)).isoformat(), duplicates=0.02), sim)
    env = settings_env(broker, names, tmp_path / "w", MONITOR_DAY_ENDS="true")
    settings = _settings(env)
    create_topics(settings)
    produce([sim], settings)
    topics = Topics(names.prefix)
    first = json.loads(sim.read_bytes().splitlines()[0])
    bad = json.dumps({"type": first["type"], "borrower_id": first["borrower_id"], "event_id": "bad-1"}).encode()
    _send_bad(settings, topics.feed(first["type"]), first["borrower_id"], bad,
              to_us(now - timedelta(days=3)) // 1000)
    _watermark(settings, to_us(now))
    expected = {a.alert_id for a in replay([sim], default_policy(), as_of=to_us(now)).alerts}
    worker = Worker(env, tmp_path / "worker.log").start()
    serves: list[Serve] = []
    try:
        wait_for(lambda: set(alerts_by_id(broker.bootstrap, topics.alerts)[0]) == expected, 45,
                 f"the worker's {len(expected)} alerts")
        users = tmp_path / "users.toml"
        add_user(users, "rita", "risk_officer", ())
        days = [today - timedelta(days=n) for n in (3, 2, 1)]
        last = days[-1].isoformat()
        runs = []
        for run in ("first", "restarted"):
            reports_dir = tmp_path / f"reports-{run}"
            serve = Serve({"MONITOR_BROKER": broker.url, "MONITOR_TOPIC_PREFIX": names.prefix,
                           "MONITOR_USERS_FILE": str(users), "MONITOR_REPORTS_ENABLED": "true",
                           "MONITOR_REPORTS_DIR": str(reports_dir), "MONITOR_REPORT_LANG": "zh",
                           "MONITOR_REPORT_SETTLE_SECONDS": "0", "MONITOR_REPORT_CATCH_UP_DAYS": "3",
                           "MONITOR_DAY_ENDS": "true"}, tmp_path / f"serve-{run}.log").start()
            serves.append(serve)
            serve.ready()
            wanted = set(kinds_ending(days[-1]))
            def ready(d: Path = reports_dir, kinds: set[str] = wanted) -> dict[str, Notice] | None:
                found = _stored(d, last)
                return found if kinds <= set(found) else None

            stored = wait_for(ready, 60, f"the reports ending {last} in {reports_dir}")
            runs.append((reports_dir, stored["day"]))
            serve.stop()
        (dir1, n1), (dir2, n2) = runs
        assert n1.notes[0].startswith("input: the workers' day-end rows"), n1.notes
        assert n1.report_id == n2.report_id and n1.files == n2.files  # a restarted desk: the same bytes
        assert _files(dir1, n1) == _files(dir2, n2)
        got = _files(dir1, n1)
        # monitor replay --as-of + monitor report offline, on the events as produced (the refused one last)
        events = _in_produce_order(sim, tmp_path / "offline" / "events.jsonl")
        with events.open("ab") as fh:
            fh.write(bad + b"\n")
        offline = _offline(events, days[-1], "day", tmp_path / "offline")
        by_form = {f.form: offline[f.name] for f in n1.files}
        assert got["csv"] == by_form["csv"] and got["xlsx"] == by_form["xlsx"]
        mine, theirs = _without_inputs(got["json"]), _without_inputs(by_form["json"])
        assert mine == theirs
        assert theirs["warning_list"]["rows"] and theirs["data_health"]["rejects"], theirs["data_health"]
        # the desk's build from a replay of the feeds: the same sections, its own recorded inputs
        feeds = _from_feeds(env, days[-1], tmp_path / "feeds")
        assert feeds["csv"] == got["csv"] and feeds["xlsx"] == got["xlsx"]
        assert _without_inputs(feeds["json"]) == mine
    finally:
        for serve in serves:
            serve.stop()
        worker.terminate()
