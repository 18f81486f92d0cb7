"""Start-up: waiting for the broker with growing pauses, refusing topics that are not co-partitioned,
and a broker outage that does not flood the log."""

from __future__ import annotations

import asyncio
import logging

import pytest

from monitor._errors import ConfigError
from monitor.agents.quiet import FloodFilter
from monitor.agents.startup import check_partitions, expected_topics, wait_for_broker
from monitor.settings import Settings


def test_topics_missing_or_with_another_partition_count_refuse_the_start():
    s = Settings(topic_prefix="x.", partitions=4, app_id="app")
    counts = {t: 4 for t in expected_topics(s)}
    check_partitions(s, counts)  # all there, all 4: fine
    check_partitions(s, {**counts, "app-borrowers-changelog": 4})
    with pytest.raises(ConfigError) as err:
        check_partitions(s, {**{t: n for t, n in counts.items() if t != "x.clock"}, "x.lawsuits": 2,
                             "app-borrowers-changelog": 8})
    text = str(err.value)
    assert text.startswith("refusing to start: missing topics x.clock (run 'monitor topics create')")
    assert "x.lawsuits has 2; app-borrowers-changelog has 8 partitions, not 4" in text


def test_waiting_for_the_broker_asks_again_with_doubling_pauses_and_one_line_each(caplog):
    s = Settings(broker="kafka://127.0.0.1:1")
    pauses: list[float] = []
    errors: list[str] = []
    answers = iter([OSError("connection refused")] * 7 + [{"x": 1}])

    async def describe(_settings, _names):  # type: ignore[no-untyped-def]
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    caplog.set_level(logging.WARNING, logger="monitor.worker")
    got = asyncio.run(wait_for_broker(s, on_error=errors.append, describe=describe, sleep=sleep))
    assert got == {"x": 1}
    assert pauses == [1, 2, 4, 8, 16, 30, 30]
    assert errors == ["OSError: connection refused"] * 7
    lines = [r.getMessage() for r in caplog.records if r.name == "monitor.worker"]
    assert len(lines) == 8 and "does not answer (OSError: connection refused); asking again in 1 s" in lines[0]
    assert "answers after" in lines[-1]


def test_repeated_library_lines_are_let_through_once_per_interval_with_a_count():
    now = [0.0]
    flood = FloodFilter(interval=30, clock=lambda: now[0])

    def rec(name: str, msg: str, *args: object) -> logging.LogRecord:
        return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, None)

    passed = []
    for i in range(1000):  # 100 lines a second for 10 s, two kinds
        now[0] = i / 100
        for r in (rec("aiokafka", "Unable connect to node with id %s: %s", 1, "refused"),
                  rec("aiokafka.consumer.fetcher", "Failed fetch messages from %s: %s", 1, "not ready")):
            if flood.filter(r):
                passed.append(r.getMessage())
    assert len(passed) == 2
    now[0] = 31.0
    r = rec("aiokafka", "Unable connect to node with id %s: %s", 1, "refused")
    assert flood.filter(r) and r.getMessage().endswith("refused [999 more like this in the last 31 s]")
    ours = [rec("monitor.worker", "the broker does not answer") for _ in range(5)]
    assert all(flood.filter(r) for r in ours)  # the monitor's own lines are never held back
