"""Topic names and layout, and ``monitor topics create``.

All topics are keyed by ``borrower_id`` and co-partitioned (same partition
count). Names carry the configurable prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from monitor.settings import Settings

__all__ = ["FEEDS", "Topics", "TopicSpec", "create_topics", "partition_for"]

# event type -> input topic (one topic per feed)
FEEDS: dict[str, str] = {
    "loan_profile": "profiles",
    "rating_change": "rating-changes",
    "lawsuit": "lawsuits",
    "bureau_report": "bureau-reports",
    "overdue": "overdue-events",
    "inspection_completed": "inspections",
    "tier_override": "overrides",
}


@lru_cache(maxsize=1)
def _kafka_partitioner() -> Any:
    from aiokafka.partitioner import DefaultPartitioner  # imported on first use: the pure modules never call it

    return DefaultPartitioner()


@lru_cache(maxsize=64)
def _all(partitions: int) -> list[int]:
    return list(range(partitions))


@lru_cache(maxsize=1 << 17)
def partition_for(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (aiokafka's, murmur2 as the Java client's) gives a key:
    where producers put a borrower's events, and where the worker keeps its state and decisions.

    Cached: the worker asks it for the same borrower when it checks an event's partition, publishes
    the borrower's outputs and writes its state (murmur2 in Python costs microseconds per key)."""
    every = _all(partitions)
    return int(_kafka_partitioner()(key.encode(), every, every))


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    config: dict[str, str]


@dataclass(frozen=True, slots=True)
class Topics:
    """The full names of every topic, for one prefix."""

    prefix: str

    def feed(self, event_type: str) -> str:
        return self.prefix + FEEDS[event_type]

    @property
    def inputs(self) -> list[str]:
        return [self.prefix + name for name in FEEDS.values()]

    @property
    def clock(self) -> str:
        """Event-time watermarks published by ``monitor produce`` (see the worker)."""
        return self.prefix + "clock"

    @property
    def alerts(self) -> str:
        return self.prefix + "alerts"

    @property
    def schedule(self) -> str:
        return self.prefix + "visit-schedule"

    @property
    def dead_letter(self) -> str:
        return self.prefix + "dead-letter"

    @property
    def borrowers(self) -> str:
        """Compacted: each borrower's current detail (profile, tier, signals, accounts, visits)."""
        return self.prefix + "borrowers"

    @property
    def day_ends(self) -> str:
        """Retained: each borrower's day-end record whenever it may have changed (``monitor.day_ends``)."""
        return self.prefix + "day-ends"

    @property
    def audit(self) -> str:
        """Append-only: every change made through the alert desk (who, when, what, why)."""
        return self.prefix + "audit"

    @property
    def reports(self) -> str:
        """Append-only: one notice per periodic report built and stored by the alert desk service."""
        return self.prefix + "reports"

    def internal(self, app_id: str) -> list[tuple[str, int, dict[str, str]]]:
        """Faust's own topics for ``app_id`` (created up front: Faust races its own creation)."""
        return [(f"{app_id}-borrowers-changelog", 0, {"cleanup.policy": "compact"}),
                (f"{app_id}-__assignor-__leader", 1, {"cleanup.policy": "delete"})]

    def specs(self) -> list[TopicSpec]:
        week = str(7 * 86_400_000)
        keep = {"cleanup.policy": "delete", "retention.ms": "-1"}
        specs = [TopicSpec(name, dict(keep)) for name in self.inputs]
        specs.append(TopicSpec(self.clock, {"cleanup.policy": "delete", "retention.ms": week}))
        specs.append(TopicSpec(self.alerts, dict(keep)))
        specs.append(TopicSpec(self.schedule, {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}))
        specs.append(TopicSpec(self.dead_letter, dict(keep)))
        specs.append(TopicSpec(self.borrowers, {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}))
        specs.append(TopicSpec(self.day_ends, dict(keep)))
        specs.append(TopicSpec(self.audit, dict(keep)))
        specs.append(TopicSpec(self.reports, dict(keep)))
        return specs


def create_topics(settings: Settings, timeout_s: float = 30.0) -> list[tuple[str, str]]:
    """Create the topics idempotently; return (name, what happened) for each."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    topics = Topics(settings.topic_prefix)
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, client_id="monitor-admin",
                             request_timeout_ms=int(timeout_s * 1000))
    try:
        existing = set(admin.list_topics())
        report: list[tuple[str, str]] = []
        # with acks=all, a write is acknowledged once this many replicas have it
        replicated = {"min.insync.replicas": str(settings.min_insync_replicas)}
        wanted = []
        for spec in topics.specs():
            if spec.name in existing:
                continue
            wanted.append(NewTopic(spec.name, num_partitions=settings.partitions,
                                   replication_factor=settings.replication_factor,
                                   topic_configs={**spec.config, **replicated}))
        internal_names = []
        for name, parts, config in topics.internal(settings.app_id):
            internal_names.append(name)
            if name not in existing:
                wanted.append(NewTopic(name, num_partitions=parts or settings.partitions,
                                       replication_factor=settings.replication_factor,
                                       topic_configs={**config, **replicated}))
        if wanted:
            try:
                admin.create_topics(wanted, timeout_ms=int(timeout_s * 1000))
            except TopicAlreadyExistsError:
                pass  # another process created it meanwhile
        created = {t.name for t in wanted}
        names = [s.name for s in topics.specs()] + internal_names
        found = {d.get("name", d.get("topic")): d["partitions"] for d in admin.describe_topics(names)}
        described = {name: len(parts) for name, parts in found.items()}
        replicas = {name: min((len(p.get("replica_nodes", p.get("replicas", ()))) for p in parts), default=0)
                    for name, parts in found.items()}

        def copies(name: str) -> str:
            n = replicas.get(name)
            short = f", only {n} of {settings.replication_factor} wanted" if n is not None and n < settings.replication_factor else ""
            return f"{n} replica{'s' if n != 1 else ''}{short}"

        for name in internal_names:
            what = "created" if name in created else "exists"
            report.append((name, f"{what} ({described.get(name)} partitions, {copies(name)}, Faust internal)"))
        for spec in topics.specs():
            parts = described.get(spec.name)
            what = "created" if spec.name in created else "exists"
            if parts is not None and parts != settings.partitions:
                what += f" with {parts} partitions, not {settings.partitions}: NOT co-partitioned"
            report.append((spec.name, f"{what} ({parts} partitions, {copies(spec.name)}, "
                                      f"{spec.config.get('cleanup.policy')})"))
        return report
    finally:
        admin.close()
