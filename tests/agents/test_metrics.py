"""The metrics observer: what a real Runtime's StepResults turn into, read back from the registry."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor._time import to_us
from monitor.agents.runtime import Message, Runtime, StepResult, partition_for
from monitor.engine import Engine
from monitor.agents.metrics import LAG_BUCKETS, OUTCOMES, REJECT_REASONS, WorkerMetrics, reject_reason
from monitor.rules.loader import default_policy
from monitor.rules.policy import LEVEL_NAMES
from monitor.topics import FEEDS, Topics
from tests.factories import T0, bureau, overdue, profile, rating

TOPICS = Topics("t.")
NAME = "张三丰"
NOW = T0 + timedelta(seconds=10)


def _msg(event, offset: int, topic: str | None = None, key: str | None = None, partitions: int = 1,
         raw: bytes | None = None, partition: int | None = None) -> Message:
    doc = json.loads(event.model_dump_json(exclude_none=True)) if event is not None else None
    if doc is not None and doc["type"] == "loan_profile":
        doc["name"] = NAME  # personal data rides along in the profile; it must reach no label
    bid = doc["borrower_id"] if doc else "B1"
    return Message(topic or TOPICS.feed(doc["type"]),
                   partition if partition is not None else partition_for(bid, partitions), offset,
                   (key or bid).encode(), raw if raw is not None or doc is None else json.dumps(doc).encode(),
                   handle=offset)


class World:
    """A wall-clock Runtime over one partition, a store standing in for the table, and the observer."""

    def __init__(self, partitions: int = 1) -> None:
        self.store: dict[str, bytes] = {}
        self.runtime = Runtime(Engine(default_policy()), TOPICS, clock="wall", partitions=partitions,
                               get_state=self.store.get)
        self.runtime.assign(range(partitions), [])
        self.metrics = WorkerMetrics(TOPICS, partitions=partitions, policy_version=default_policy().version)
        self.metrics.on_recovered(range(partitions), [])
        self.results: list[StepResult] = []

    def batch(self, messages: list[Message]) -> StepResult:
        out = StepResult()
        self.runtime.accept(messages, out, now=to_us(NOW))
        self.runtime.step(out, to_us(NOW))
        self.store.update(out.states)
        self.metrics.on_batch(out, started=1.0, decided=1.25, committed=1.5, messages=len(messages),
                              buffered=self.runtime.buffered(), now=NOW.timestamp())
        self.results.append(out)
        return out

    def value(self, name: str, **labels: str) -> float | None:
        return self.metrics.registry.get_sample_value(name, labels)


@pytest.fixture
def world() -> World:
    w = World()
    b1 = profile(T0, "B1", eid="p1", exposure=1_000_000.0)
    w.batch([
        _msg(b1, 0),
        _msg(b1, 1),  # the same event again: a duplicate
        _msg(overdue(T0 + timedelta(seconds=5), 95, bid="B1", eid="o1"), 0),
        _msg(None, 0, topic=TOPICS.feed("lawsuit"), raw=b"{not json"),
        _msg(rating(T0, "BBB", "BB", bid="B1", eid="r1"), 2, topic=TOPICS.feed("loan_profile")),  # wrong topic
        Message(TOPICS.feed("bureau_report"), 0, 0, b"B1", None, handle="tomb"),
    ])
    w.batch([
        _msg(profile(T0 + timedelta(seconds=2), "B2", eid="p2", exposure=500_000.5), 3),
        _msg(bureau(T0 - timedelta(days=45), bid="B1", eid="b-old"), 1),  # beyond the 30-day window: stale
    ])
    return w


def test_counters_match_what_the_runtime_decided(world):
    v = world.value
    assert v("monitor_events_consumed_total", feed="profiles", outcome="applied") == 2
    assert v("monitor_events_consumed_total", feed="profiles", outcome="duplicate") == 1
    assert v("monitor_events_consumed_total", feed="overdue-events", outcome="applied") == 1
    assert v("monitor_events_consumed_total", feed="bureau-reports", outcome="stale") == 1
    assert v("monitor_events_consumed_total", feed="lawsuits", outcome="rejected") == 1
    assert v("monitor_events_consumed_total", feed="profiles", outcome="rejected") == 1
    assert v("monitor_events_consumed_total", feed="bureau-reports", outcome="rejected") == 1
    assert v("monitor_events_rejected_total", feed="lawsuits", reason="not_json") == 1
    assert v("monitor_events_rejected_total", feed="profiles", reason="wrong_topic") == 1
    assert v("monitor_events_rejected_total", feed="bureau-reports", reason="tombstone") == 1
    assert v("monitor_events_rejected_total", feed="bureau-reports", reason="stale") is None  # counted as an outcome
    assert v("monitor_dead_letters_total", feed="bureau-reports") == 2  # the tombstone and the stale report
    assert v("monitor_dead_letters_total", feed="lawsuits") == 1
    assert v("monitor_dead_letters_total", feed="profiles") == 1
    total_consumed = sum(s.value for f in text_string_to_metric_families(world.metrics.exposition().decode())
                         if f.name == "monitor_events_consumed" for s in f.samples if s.name.endswith("_total"))
    assert total_consumed == 8  # every message of both batches, each once
    # the runtime's own tallies agree
    assert sum(sum(r.outcomes.values()) for r in world.results) == total_consumed


def test_alerts_tiers_and_exposure(world):
    alerts = [a for r in world.results for a in r.alerts]
    assert alerts, "95 days past due must raise an alert"
    for a in alerts:
        n = sum(1 for b in alerts if (b.kind, b.to_tier) == (a.kind, a.to_tier))
        assert world.value("monitor_alerts_total", kind=str(a.kind), tier=a.to_tier) == n
    tier_b1 = alerts[-1].to_tier
    for name in LEVEL_NAMES:
        expected = (name == tier_b1) + (name == "normal")
        assert world.value("monitor_borrowers", tier=name) == expected, name
    assert world.value("monitor_exposure_cny", tier=tier_b1) == 1_000_000.0
    assert world.value("monitor_exposure_cny", tier="normal") == 500_000.5
    assert world.value("monitor_schedule_updates_total") == sum(len(r.schedules) for r in world.results) > 0


def test_recount_from_the_table_equals_the_incremental_counts(world):
    fresh = WorkerMetrics(TOPICS, partitions=1, policy_version="x")
    fresh.on_recovered([0], sorted(world.store.items()))
    for name in LEVEL_NAMES:
        for metric in ("monitor_borrowers", "monitor_exposure_cny"):
            assert fresh.registry.get_sample_value(metric, {"tier": name}) == world.value(metric, tier=name)
    # a partition this worker does not hold is not counted
    other = WorkerMetrics(TOPICS, partitions=4, policy_version="x")
    held = partition_for("B1", 4)
    other.on_recovered([held], sorted(world.store.items()))
    counted = sum(other.registry.get_sample_value("monitor_borrowers", {"tier": t}) for t in LEVEL_NAMES)
    assert counted == 1 + (partition_for("B2", 4) == held)
    # a revocation withdraws the tier gauges until the next recount
    fresh.on_revoked([0])
    assert fresh.registry.get_sample_value("monitor_borrowers", {"tier": "normal"}) is None
    assert fresh.registry.get_sample_value("monitor_partitions_assigned") == 0


def test_lag_freshness_and_batch_timings(world):
    v = world.value
    # overdue at T0+5 s, processed at T0+10 s: 5 s of lag
    assert v("monitor_event_lag_seconds_count", feed="overdue-events") == 1
    assert v("monitor_event_lag_seconds_sum", feed="overdue-events") == pytest.approx(5.0)
    assert v("monitor_event_lag_seconds_bucket", feed="overdue-events", le="2.5") == 0
    assert v("monitor_event_lag_seconds_bucket", feed="overdue-events", le="5.0") == 1
    assert v("monitor_event_lag_seconds_sum", feed="profiles") == pytest.approx(10 + 10 + 8)
    assert v("monitor_event_lag_seconds_bucket", feed="bureau-reports", le=str(LAG_BUCKETS[-1])) == 0  # 45 days
    assert v("monitor_event_lag_seconds_bucket", feed="bureau-reports", le="+Inf") == 1
    assert v("monitor_feed_newest_event_timestamp_seconds", feed="profiles") == (T0 + timedelta(seconds=2)).timestamp()
    assert v("monitor_feed_newest_event_timestamp_seconds", feed="overdue-events") == \
        (T0 + timedelta(seconds=5)).timestamp()
    assert v("monitor_feed_newest_event_timestamp_seconds", feed="lawsuits") is None  # only a rejected message
    assert v("monitor_batch_processing_seconds_count") == 2
    assert v("monitor_batch_processing_seconds_sum") == pytest.approx(0.5)
    assert v("monitor_batch_commit_seconds_sum") == pytest.approx(0.5)
    assert v("monitor_last_commit_timestamp_seconds") == NOW.timestamp()
    assert v("monitor_policy_info", version=default_policy().version) == 1


def test_exposition_parses_and_no_label_names_a_borrower(world):
    text = world.metrics.exposition().decode()
    assert NAME not in text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    allowed = {
        "feed": set(FEEDS.values()) | {"clock", "other"},
        "outcome": set(OUTCOMES),
        "reason": set(REJECT_REASONS),
        "tier": set(LEVEL_NAMES),
        "kind": {"raised", "escalated", "de_escalated", "cleared"},
        "le": {str(b) for b in LAG_BUCKETS} | {"+Inf"} | {str(b) for b in (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                                             0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                                                                             30.0)},
        "version": {default_policy().version},
    }
    seen = 0
    for family in families.values():
        assert family.name.startswith("monitor_"), family.name
        for sample in family.samples:
            for label, value in sample.labels.items():
                assert not re.fullmatch(r"B\d+", value), (sample, "a borrower id as a label value")
                assert value in allowed[label], (sample.name, label, value)
                seen += 1
    assert seen > 50


def test_every_reject_reason_of_the_runtime_is_classified():
    w = World(partitions=4)
    good = profile(T0, "B1", eid="p1")
    right = partition_for("B1", 4)
    big = json.dumps({"type": "loan_profile", "pad": "x" * 70_000}).encode()
    cases = {
        "tombstone": Message(TOPICS.feed("loan_profile"), right, 0, b"B1", None),
        "too_large": _msg(good, 1, raw=big, partitions=4),
        "not_json": _msg(good, 2, raw=b"[1, 2", partitions=4),
        "unknown_type": _msg(good, 3, raw=json.dumps({"type": "gossip", "borrower_id": "B1"}).encode(),
                             partitions=4),
        "invalid": _msg(good, 4, raw=json.dumps({**json.loads(good.model_dump_json()), "exposure": -5}).encode(),
                        partitions=4),
        "wrong_topic": _msg(good, 5, topic=TOPICS.feed("lawsuit"), partitions=4),
        "key_mismatch": _msg(good, 6, key="B7", partitions=4),
        "no_key": Message(TOPICS.feed("loan_profile"), right, 8, None, good.model_dump_json().encode()),
        "wrong_partition": _msg(good, 7, partition=(right + 1) % 4, partitions=4),
        "future": _msg(profile(NOW + timedelta(days=2), "B1", eid="p2"), 9, partitions=4),
        "bad_watermark": Message(TOPICS.clock, right, 0, None, b'{"at": "yesterday"}'),
        "conflicting_duplicate": _msg(bureau(T0 + timedelta(hours=1), bid="B2", debt=5.0, eid="b-c1"), 2,
                                      partitions=4),
        "processing_error": _msg(profile(T0, "B1", eid="poison"), 10, partitions=4),
    }
    before = [_msg(profile(T0, "B2", eid="p-b2"), 11, partitions=4),
              _msg(bureau(T0, bid="B2", debt=1.0, eid="b-c1"), 1, partitions=4)]  # the first b-c1

    class Failing(Engine):
        def apply(self, state, event, t=None):  # type: ignore[no-untyped-def]
            if event.event_id == "poison":
                raise ArithmeticError("a bug the engine does not know of yet")
            return super().apply(state, event, t)

    w.runtime.engine = Failing(default_policy())
    out = w.batch([*before, *cases.values()])
    assert [reject_reason(d.reason) for d in out.dead] == list(cases), [d.reason for d in out.dead]
    assert w.value("monitor_events_rejected_total", feed="clock", reason="bad_watermark") == 1
    assert w.value("monitor_events_rejected_total", feed="profiles", reason="invalid") == 1
    assert set(cases) | {"stale"} == set(REJECT_REASONS)


def test_rebalance_and_polling_hooks():
    m = WorkerMetrics(TOPICS, partitions=4, policy_version="p")
    g = m.registry.get_sample_value
    m.on_rebalance_started()
    assert g("monitor_rebalances_total") == 1 and g("monitor_table_recovery_in_progress") == 1
    assert g("monitor_table_recovered") == 0
    m.on_recovery_progress(1234)
    assert g("monitor_table_recovery_remaining") == 1234
    m.on_recovered([1, 3], [])
    m.on_rebalance_finished()
    assert g("monitor_table_recovery_in_progress") == 0 and g("monitor_table_recovered") == 1
    assert g("monitor_partitions_assigned") == 2 and g("monitor_table_recovery_duration_seconds") >= 0
    m.on_consumer_lag({("t.profiles", 1): 7, ("t.profiles", 3): 0})
    assert g("monitor_consumer_lag", {"topic": "t.profiles", "partition": "1"}) == 7
    m.on_consumer_lag({("t.profiles", 3): 2})  # partition 1 went elsewhere: its series goes
    assert g("monitor_consumer_lag", {"topic": "t.profiles", "partition": "1"}) is None
    assert g("monitor_consumer_lag", {"topic": "t.profiles", "partition": "3"}) == 2


def test_registries_are_independent():
    a = WorkerMetrics(TOPICS, partitions=1, policy_version="a")
    b = WorkerMetrics(TOPICS, partitions=1, policy_version="b")
    a.on_rebalance_started()
    assert a.registry.get_sample_value("monitor_rebalances_total") == 1
    assert b.registry.get_sample_value("monitor_rebalances_total") == 0


def test_an_empty_revocation_keeps_the_counts():
    m = WorkerMetrics(TOPICS, partitions=2, policy_version="p")
    m.on_recovered([0, 1], [])
    m.on_revoked([])  # Faust signals every rebalance, also when nothing was taken away
    assert m.registry.get_sample_value("monitor_borrowers", {"tier": "normal"}) == 0
    assert m.registry.get_sample_value("monitor_partitions_assigned") == 2
