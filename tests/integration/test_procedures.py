"""docs/operations.md's procedures, scripted on a real broker.

*More partitions*: export the input topics (``monitor export``), create a new set of topics with more
partitions under a new prefix, ``monitor produce`` the export into them, recompute from scratch with a
new ``--app-id`` on ``--clock event``: the alerts are those a replay of the original events gives.
*A watermark alone*: ``monitor produce --watermark-at`` with an empty file moves an event-clock
worker's time on, naming the broker's end offsets.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.replay import replay
from monitor.rules.loader import default_policy
from monitor.simulate import simulate, write_simulation
from monitor.topics import Topics, create_topics
from tests.integration.kafka_harness import Names, Worker, alerts_by_id, read_topic, settings_env, wait_for
from tests.integration.test_worker import _settings

pytestmark = pytest.mark.integration


def _run(args: list[str], env: dict[str, str]) -> str:
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_more_partitions_by_export_produce_and_recompute(broker, tmp_path):
    events = tmp_path / "events.jsonl"
    write_simulation(simulate(150, 6, 33, duplicates=0.01), events)
    expected = replay([events], default_policy())
    old, new = Names(), Names()
    old_env = settings_env(broker, old, tmp_path / "old", MONITOR_PARTITIONS="2")
    new_env = settings_env(broker, new, tmp_path / "new", MONITOR_PARTITIONS="5")
    create_topics(_settings(old_env))
    _run(["produce", str(events)], old_env)

    exported = tmp_path / "export.jsonl"
    out = _run(["export", str(exported)], old_env)
    assert f"wrote {expected.read:,} events" in out
    lines = exported.read_text().splitlines()
    original = [json.loads(x) for x in events.read_text().splitlines()]
    assert sorted(json.loads(x)["event_id"] for x in lines) == sorted(e["event_id"] for e in original)
    again = tmp_path / "again.jsonl"
    _run(["export", str(again)], old_env)
    assert again.read_bytes() == exported.read_bytes()  # the same topics, the same file

    # the new set: five partitions; the export goes in in occurred_at order, with its watermark
    create_topics(_settings(new_env))
    out = _run(["produce", str(exported)], new_env)
    assert "watermark" in out
    worker = Worker(new_env, tmp_path / "worker.log").start()  # new --app-id, --clock event (settings_env)
    try:
        topic = Topics(new.prefix).alerts

        def all_alerts() -> bool:
            assert worker.alive(), worker.tail()
            got, _ = alerts_by_id(broker.bootstrap, topic)
            return len(got) >= len(expected.alerts)

        wait_for(all_alerts, 240, f"{len(expected.alerts)} alerts on the new topics")
        got, _ = alerts_by_id(broker.bootstrap, topic)
        assert set(got) == {a.alert_id for a in expected.alerts}
        assert len({r.partition for r in read_topic(broker.bootstrap, topic)}) > 2  # spread over the new ones
    finally:
        assert worker.terminate() == 0


def test_a_watermark_alone_for_an_empty_file(broker, tmp_path):
    names = Names()
    env = settings_env(broker, names, tmp_path / "w", MONITOR_PARTITIONS="2")
    create_topics(_settings(env))
    one = tmp_path / "one.jsonl"
    write_simulation(simulate(3, 1, 5), one)
    _run(["produce", "--no-watermark", str(one)], env)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = CliRunner().invoke(cli, ["produce", str(empty)], env=env, catch_exceptions=False)
    assert result.exit_code == 0 and "give --watermark-at" in result.output
    assert read_topic(broker.bootstrap, Topics(names.prefix).clock) == []
    # as docs/operations.md writes it: /dev/null is the empty file
    out = _run(["produce", "--watermark-at", "2030-01-01T00:00:00+08:00", "/dev/null"], env)
    assert "sent 0 events" in out and "watermark 2029-12-31T16:00:00" in out
    marks = read_topic(broker.bootstrap, Topics(names.prefix).clock)
    assert sorted(m.partition for m in marks) == [0, 1]
    inputs = {t: 0 for t in Topics(names.prefix).inputs}
    for t in inputs:
        inputs[t] = len(read_topic(broker.bootstrap, t))
    for m in marks:
        doc = json.loads(m.value)
        assert doc["at"].startswith("2029-12-31T16:00:00")
        # the broker's end offsets of every input topic, though this run sent nothing
        assert sum(doc["offsets"].values()) == sum(
            1 for t in inputs for r in read_topic(broker.bootstrap, t) if r.partition == m.partition)
    assert sum(inputs.values()) > 0
    bad = CliRunner().invoke(cli, ["produce", "--watermark-at", "2030-01-01", "--watermark-at", "x", str(empty)],
                             env=env)
    assert bad.exit_code == 2 and "--watermark-at" in bad.output
