"""The worker's Prometheus metrics, kept by an observer (like Faust's sensors).

Processing code never touches a metric: the shell hands :class:`WorkerMetrics`
what it already has at a few points (a committed batch's
:class:`~monitor.agents.runtime.StepResult`, a rebalance, a finished
recovery, the consumer's offsets) and the observer turns that into counters,
gauges and histograms on its own :class:`~prometheus_client.CollectorRegistry`
(no global state: several workers or tests may live in one process).

Names follow Prometheus conventions: the ``monitor_`` prefix, base units
(seconds, CNY), ``_total`` counters, ``_seconds`` histograms. Every label has a
bounded set of values (feeds, outcomes, reasons from a fixed list, tiers, alert
kinds, topics and partition numbers); never a borrower id or name.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from monitor.agents.table import BOOKKEEPING, summarize
from monitor.logs import mask_quoted_values
from monitor.rules.policy import LEVEL_NAMES
from monitor.topics import FEEDS, Topics, partition_for

__all__ = ["CONTENT_TYPE", "LAG_BUCKETS", "OUTCOMES", "REJECT_REASONS", "WorkerMetrics", "reject_reason"]

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # understood by Prometheus 2 and 3
_log = logging.getLogger("monitor.worker")

OUTCOMES = ("applied", "duplicate", "stale", "conflicting_duplicate", "rejected")

#: the fixed set of ``reason`` label values (see :func:`reject_reason`)
REJECT_REASONS = ("tombstone", "too_large", "not_json", "unknown_type", "invalid", "wrong_topic", "key_mismatch",
                  "no_key", "wrong_partition", "future", "bad_watermark", "processing_error", "conflicting_duplicate",
                  "stale")

#: event lag: 50 ms to a day (a nightly batch lands around 1-24 h after the facts it reports)
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 3 * 3600.0,
               6 * 3600.0, 12 * 3600.0, 86_400.0)
#: batch processing and commit times
BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_US = 1_000_000
_FUTURE_SLACK_S = 86_400.0  # an occurred_at further ahead of the wall clock does not count as "newest seen"


def reject_reason(reason: str) -> str:
    """The bounded label value for a dead letter's free-text reason (see the runtime's messages)."""
    if reason.startswith("stale:"):
        return "stale"
    if reason.startswith("conflicting duplicate"):
        return "conflicting_duplicate"
    if reason.startswith("watermark:"):
        return "bad_watermark"
    if reason.startswith("future:"):
        return "future"
    if reason.startswith("processing failed"):
        return "processing_error"
    if reason.startswith("no key:"):
        return "no_key"
    if reason.startswith("empty message"):
        return "tombstone"
    if reason.startswith("message of ") and "larger than" in reason:
        return "too_large"
    if reason in ("not JSON", "not a JSON object"):
        return "not_json"
    if reason.startswith("type: unknown event type") or reason == "type: required":
        return "unknown_type"
    if reason.startswith("type: ") and "does not belong on" in reason:
        return "wrong_topic"
    if reason.startswith("key ") and "differs from borrower_id" in reason:
        return "key_mismatch"
    if reason.startswith("borrower_id ") and "does not belong to partition" in reason:
        return "wrong_partition"
    return "invalid"


def _log_dead(dead: Iterable[Any], feed_of: Mapping[str, str]) -> None:
    """One WARNING per topic-partition and reason of a batch's dead letters: where they are (topic,
    partition, first and last offset), how many, and the first one's reason. Never the message, its
    key, a borrower id or a name (the reason names fields and rules; the values it quotes are masked)."""
    groups: dict[tuple[str, int, str], list[Any]] = {}
    for d in dead:
        groups.setdefault((d.topic, d.partition, reject_reason(d.reason)), []).append(d)
    for (topic, partition, reason), items in groups.items():
        offsets = [d.offset for d in items]
        _log.warning("dead letter: %d message(s) of %s[%d] at offsets %d..%d: %s (%s)", len(items), topic, partition,
                     min(offsets), max(offsets), reason, mask_quoted_values(items[0].reason[:300]),
                     extra={"topic": topic, "partition": partition, "feed": feed_of.get(topic, "other"),
                            "reason": reason, "count": len(items), "first_offset": min(offsets),
                            "last_offset": max(offsets)})


def _level(blob: bytes) -> tuple[int, int]:
    """(tier, exposure in fen) of a stored borrower state; tier -1 before the profile arrived."""
    _wake, tier, exposure = summarize(blob)
    return (-1, 0) if exposure is None else (tier, round(exposure * 100))


class WorkerMetrics:
    """The observer the worker shell calls; see the module docstring and docs/operations.md.

    Hooks (all cheap, none raises on unusual input):

    * :meth:`on_batch` after a batch (or a timer tick) has been committed;
    * :meth:`on_rebalance_started`, :meth:`on_revoked`, :meth:`on_recovered`, :meth:`on_rebalance_finished`
      around a rebalance (``monitor.agents.ops`` calls them from a Faust sensor and the table's
      recovery callback);
    * :meth:`on_consumer_lag` and :meth:`on_recovery_progress` from the periodic offset poll.
    """

    def __init__(self, topics: Topics, *, partitions: int, policy_version: str,
                 registry: CollectorRegistry | None = None, clock: Callable[[], float] = time.time) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.topics = topics
        self.partitions = partitions
        self._clock = clock
        self._feed_of: dict[str, str] = {topics.feed(kind): name for kind, name in FEEDS.items()}
        self._feed_of[topics.clock] = "clock"
        self._tiers = [0] * len(LEVEL_NAMES)
        self._fen = [0] * len(LEVEL_NAMES)
        self._newest: dict[str, float] = {}
        self._assigned: set[int] = set()
        self._rebalance_started: float | None = None
        self._counted = True  # the tier counts hold for the assigned partitions (False after a revocation)
        r = self.registry

        self.consumed = Counter("monitor_events_consumed", "Input events handled, per feed and outcome "
                                "(applied, duplicate, stale: older than the duplicate window, rejected: invalid)",
                                ["feed", "outcome"], registry=r)
        self.rejected = Counter("monitor_events_rejected", "Input messages rejected as invalid, per feed and reason",
                                ["feed", "reason"], registry=r)
        self.dead = Counter("monitor_dead_letters", "Messages published to the dead-letter topic, per feed "
                            "(rejected and stale)", ["feed"], registry=r)
        self.lag = Histogram("monitor_event_lag_seconds", "Processing wall time minus the event's occurred_at",
                             ["feed"], buckets=LAG_BUCKETS, registry=r)
        self.processing = Histogram("monitor_batch_processing_seconds", "Time to validate and decide one batch "
                                    "(the runtime's accept and step); per event: divide the _sum's rate by "
                                    "the rate of monitor_events_consumed_total", buckets=BATCH_BUCKETS, registry=r)
        self.commit = Histogram("monitor_batch_commit_seconds", "Time to publish a batch's decisions, wait for the "
                                "broker, write the table and commit the input offsets", buckets=BATCH_BUCKETS,
                                registry=r)
        self.alerts = Counter("monitor_alerts", "Alerts published, per kind and the tier moved to",
                              ["kind", "tier"], registry=r)
        self.schedules = Counter("monitor_schedule_updates", "Visit-schedule entries published", registry=r)
        self.time_driven = Counter("monitor_time_driven_changes", "Time-driven changes settled (cure periods "
                                   "ending, overdue days growing, overrides expiring)", registry=r)
        self.borrowers = Gauge("monitor_borrowers", "Borrowers with a loan profile in this worker's partitions, "
                               "per effective tier", ["tier"], registry=r)
        self.exposure = Gauge("monitor_exposure_cny", "Outstanding exposure in this worker's partitions, per "
                              "effective tier", ["tier"], registry=r)
        self.newest = Gauge("monitor_feed_newest_event_timestamp_seconds", "The newest occurred_at seen per feed "
                            "(freshness: time() minus it)", ["feed"], registry=r)
        self.policy = Info("monitor_policy", "The loaded policy", registry=r)
        self.assigned = Gauge("monitor_partitions_assigned", "Input partitions assigned to this worker", registry=r)
        self.rebalances = Counter("monitor_rebalances", "Consumer-group rebalances this worker took part in",
                                  registry=r)
        self.recovering = Gauge("monitor_table_recovery_in_progress", "1 while a rebalance and the table recovery "
                                "that follows are in progress", registry=r)
        self.recovered = Gauge("monitor_table_recovered", "1 once the assigned partitions' table is recovered and "
                               "taken over", registry=r)
        self.remaining = Gauge("monitor_table_recovery_remaining", "Changelog records still to read before the "
                               "table is recovered", registry=r)
        self.recovery_seconds = Gauge("monitor_table_recovery_duration_seconds", "How long the last rebalance and "
                                      "recovery took", registry=r)
        self.consumer_lag = Gauge("monitor_consumer_lag", "Messages in the assigned input partitions not yet "
                                  "committed (end offset minus committed offset)", ["topic", "partition"],
                                  registry=r)
        self.buffered = Gauge("monitor_buffered_events", "Events read but not yet applied (the event-time buffer)",
                              registry=r)
        self.held = Gauge("monitor_oldest_uncommitted_event_age_seconds", "How long ago the oldest input message "
                          "this worker has read but not yet committed was read: an event held back (waiting for "
                          "the other feeds or a watermark on the event clock, or stuck) keeps its partition's "
                          "committed offset behind it", registry=r)
        self.last_commit = Gauge("monitor_last_commit_timestamp_seconds", "Wall time of the last committed batch",
                                 registry=r)

        self.policy.info({"version": policy_version})
        # the label values known up front are exported (as 0) from the start: rates and absences are clear,
        # and a first burst counts (a series born at 1,000 shows no increase: MonitorDeadLetters would miss
        # a producer that starts sending garbage, the event-lag p99 the first batch after a restart)
        for feed in [*FEEDS.values(), "clock"]:
            self.dead.labels(feed)
            for outcome in OUTCOMES:
                if feed != "clock" or outcome == "rejected":
                    self.consumed.labels(feed, outcome)
            for reason in REJECT_REASONS:
                if reason != "stale":  # stale events are an outcome, not a rejection
                    self.rejected.labels(feed, reason)
            if feed != "clock":
                self.lag.labels(feed)
        for kind, tiers in (("raised", ("watch", "warning", "severe")), ("escalated", ("warning", "severe")),
                            ("de_escalated", ("watch", "warning")), ("cleared", ("normal",))):
            for tier in tiers:
                self.alerts.labels(kind, tier)
        self._set_tiers()

    # ------------------------------------------------------------ batches

    def feed(self, topic: str) -> str:
        """The ``feed`` label of a topic: the feed's short name, ``clock`` or ``other``."""
        return self._feed_of.get(topic, "other")

    def on_batch(self, result: Any, *, started: float, decided: float, committed: float, messages: int = 0,
                 buffered: int | None = None, now: float | None = None) -> None:
        """A batch (or a tick) has been committed.

        ``result`` is the :class:`~monitor.agents.runtime.StepResult`; ``started``, ``decided``
        and ``committed`` are monotonic instants (``time.perf_counter()``) taken before the
        runtime's ``accept``, after its ``step`` and after the commit; ``now`` is the wall
        time (seconds) the event lag is measured against (default: the clock given).
        """
        wall = self._clock() if now is None else now
        if messages or result:
            self.processing.observe(max(0.0, decided - started))
        if result:
            self.commit.observe(max(0.0, committed - decided))
            self.last_commit.set(wall)
        if buffered is not None:
            self.buffered.set(buffered)
        feed_of = self._feed_of
        newest = self._newest
        limit = (wall + _FUTURE_SLACK_S) * _US
        counts: dict[tuple[str, str], int] = {}
        lags: dict[str, Any] = {}
        for topic, outcome, at in result.events:
            feed = feed_of.get(topic, "other")
            key = (feed, outcome if outcome in OUTCOMES else "applied")
            counts[key] = counts.get(key, 0) + 1
            hist = lags.get(feed)
            if hist is None:
                hist = lags[feed] = self.lag.labels(feed)
            hist.observe(max(0.0, wall - at / _US))
            if at <= limit and at / _US > newest.get(feed, float("-inf")):
                newest[feed] = at / _US
        for (feed, outcome), n in counts.items():
            self.consumed.labels(feed, outcome).inc(n)
        for feed in lags:
            if feed in newest:
                self.newest.labels(feed).set(newest[feed])
        if result.dead:
            _log_dead(result.dead, feed_of)
        for d in result.dead:
            feed = feed_of.get(d.topic, "other")
            self.dead.labels(feed).inc()
            reason = reject_reason(d.reason)
            if reason == "conflicting_duplicate":  # counted above with its outcome; invalid data all the same
                self.rejected.labels(feed, reason).inc()
            elif reason != "stale":  # stale events were counted above, with their outcome
                self.rejected.labels(feed, reason).inc()
                self.consumed.labels(feed, "rejected").inc()
        for a in result.alerts:
            self.alerts.labels(str(a.kind), a.to_tier).inc()
        if result.schedules:
            self.schedules.inc(len(result.schedules))
        if result.time_driven:
            self.time_driven.inc(result.time_driven)
        if result.moves:
            for t0, x0, t1, x1 in result.moves:
                if t0 >= 0:
                    self._tiers[t0] -= 1
                    self._fen[t0] -= round(x0 * 100)
                if t1 >= 0:
                    self._tiers[t1] += 1
                    self._fen[t1] += round(x1 * 100)
            if self._counted:
                self._set_tiers()

    def _set_tiers(self) -> None:
        for i, name in enumerate(LEVEL_NAMES):
            self.borrowers.labels(name).set(self._tiers[i])
            self.exposure.labels(name).set(self._fen[i] / 100)

    # ---------------------------------------------------------- rebalances

    def on_rebalance_started(self) -> None:
        """The consumer group is rebalancing: the table is not ready until :meth:`on_rebalance_finished`."""
        self.rebalances.inc()
        self.recovering.set(1)
        self.recovered.set(0)
        if self._rebalance_started is None:
            self._rebalance_started = time.monotonic()

    def on_revoked(self, partitions: Iterable[int]) -> None:
        """Partitions were taken away; the tier gauges wait for the next :meth:`on_recovered`."""
        gone = set(partitions)
        if not gone:
            return
        self._assigned -= gone
        self.assigned.set(len(self._assigned))
        self._counted = False
        self.borrowers.clear()
        self.exposure.clear()

    def on_recovered(self, partitions: Iterable[int], states: Iterable[tuple[str, bytes]] = (),
                     levels: Iterable[tuple[int, float]] | None = None) -> None:
        """The table of the assigned ``partitions`` is recovered: ``states`` are its entries, or ``levels``
        the (tier, exposure) of each of its borrowers with a profile, already read.

        The tier and exposure gauges are recounted from them (entries of other partitions and the
        runtime's own records are skipped; an entry that does not parse is not counted).
        """
        self._assigned = set(partitions)
        self.assigned.set(len(self._assigned))
        tiers = [0] * len(LEVEL_NAMES)
        fen = [0] * len(LEVEL_NAMES)
        if levels is None:
            found = []
            for bid, blob in states:
                if bid.startswith(BOOKKEEPING) or partition_for(bid, self.partitions) not in self._assigned:
                    continue
                try:
                    tier, amount = _level(blob)
                except ValueError:
                    continue
                found.append((tier, amount))
        else:
            found = [(tier, round(exposure * 100)) for tier, exposure in levels]
        for tier, amount in found:
            if 0 <= tier < len(tiers):
                tiers[tier] += 1
                fen[tier] += amount
        self._tiers, self._fen, self._counted = tiers, fen, True
        self._set_tiers()
        self.recovered.set(1)

    def on_rebalance_finished(self) -> None:
        """The rebalance and the recovery after it are done."""
        self.recovering.set(0)
        self.remaining.set(0)
        if self._rebalance_started is not None:
            self.recovery_seconds.set(time.monotonic() - self._rebalance_started)
            self._rebalance_started = None

    # ------------------------------------------------------------- polling

    def on_held(self, seconds: float) -> None:
        """The age of the oldest message read and not yet committed (0: none)."""
        self.held.set(max(0.0, seconds))

    def on_recovery_progress(self, remaining: int) -> None:
        self.remaining.set(remaining)

    def on_consumer_lag(self, lags: Mapping[tuple[str, int], int]) -> None:
        """Replace the consumer-lag series with ``{(topic, partition): messages}`` (assigned partitions only)."""
        self.consumer_lag.clear()
        for (topic, partition), lag in sorted(lags.items()):
            self.consumer_lag.labels(topic, str(partition)).set(max(0, lag))

    # ------------------------------------------------------------ exposition

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)
