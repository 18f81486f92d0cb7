"""Consumer-group lag measured from outside the workers, and the desk's own view lag.

A worker reports ``monitor_consumer_lag`` for the partitions it holds; when every worker is down nobody
does, exactly when the backlog matters. :class:`LagProbe` runs in the desk (``monitor serve``) and asks
the broker itself, every ``every`` seconds from a thread of its own (never on the event loop):

* the worker group's committed offset and each input partition's end offset:
  ``monitor_consumer_group_lag{group, topic, partition}`` (messages; a partition the group never
  committed counts from its earliest offset);
* the end offsets of the topics the desk reads against how far its view has read:
  ``monitor_desk_view_lag{topic}`` (messages not yet in the desk's view);
* ``monitor_lag_probe_up`` (1 when the last round trip answered) and
  ``monitor_lag_probe_last_success_timestamp_seconds``.

Values are read at scrape time from the last poll (a collector), so a scrape never waits on Kafka.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["LagProbe"]

log = logging.getLogger("monitor.lag")

Positions = Callable[[], Mapping[tuple[str, int], int]]


class LagProbe(Collector):
    """See the module docstring. ``start()`` begins polling, ``stop()`` ends it; ``poll()`` does one round."""

    def __init__(self, bootstrap: Sequence[str], group: str, group_topics: Sequence[str],
                 view_topics: Sequence[str] = (), positions: Positions | None = None, every: float = 15.0,
                 timeout: float = 10.0) -> None:
        self.bootstrap = list(bootstrap)
        self.group = group
        self.group_topics = list(group_topics)
        self.view_topics = list(view_topics)
        self.positions = positions
        self.every = every
        self.timeout = timeout
        self.group_lag: dict[tuple[str, int], int] = {}
        self.view_lag: dict[str, int] = {}
        self.up = 0
        self.last_success: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._admin: Any = None
        self._consumer: Any = None
        self._failing = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="monitor-lag-probe", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 5)
        self._close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.every)

    def _close(self) -> None:
        for client in (self._admin, self._consumer):
            try:
                if client is not None:
                    client.close()
            except Exception:  # noqa: BLE001 - closing a client of a broker that went away
                pass
        self._admin = self._consumer = None

    def _clients(self) -> tuple[Any, Any]:
        if self._admin is None:
            from kafka import KafkaConsumer
            from kafka.admin import KafkaAdminClient

            ms = int(self.timeout * 1000)
            self._admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="monitor-lag-probe",
                                           request_timeout_ms=ms)
            self._consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                                           client_id="monitor-lag-probe", enable_auto_commit=False,
                                           request_timeout_ms=max(ms, 11_000))
        return self._admin, self._consumer

    def poll(self) -> bool:
        """One round trip; True when the broker answered."""
        from kafka import TopicPartition

        try:
            admin, consumer = self._clients()
            tps = [TopicPartition(t, p) for t in [*self.group_topics, *self.view_topics]
                   for p in sorted(consumer.partitions_for_topic(t) or ())]
            ends = consumer.end_offsets(tps) if tps else {}
            committed = admin.list_group_offsets({self.group: None}).get(self.group, {})
            group_tps = [tp for tp in tps if tp.topic in self.group_topics]
            never = [tp for tp in group_tps if tp not in committed or committed[tp].offset < 0]
            starts = consumer.beginning_offsets(never) if never else {}
        except Exception as exc:  # noqa: BLE001 - the broker is away: say so in the figures, try again later
            self.up = 0
            if not self._failing:
                log.warning("lag probe: the broker did not answer: %s: %s", type(exc).__name__, exc,
                            extra={"group": self.group})
            self._failing = True
            self._close()
            return False
        lag: dict[tuple[str, int], int] = {}
        for tp in group_tps:
            done = starts[tp] if tp in starts else committed[tp].offset
            lag[(tp.topic, tp.partition)] = max(0, int(ends[tp]) - int(done))
        view: dict[str, int] = {}
        if self.positions is not None:
            read = self.positions()
            for tp in tps:
                if tp.topic in self.view_topics:
                    view[tp.topic] = view.get(tp.topic, 0) + max(0, int(ends[tp]) - read.get((tp.topic, tp.partition), 0))
        self.group_lag, self.view_lag = lag, view
        self.up, self.last_success = 1, time.time()
        if self._failing:
            log.info("lag probe: the broker answers again", extra={"group": self.group})
        self._failing = False
        return True

    def collect(self) -> Iterator[GaugeMetricFamily]:
        group = GaugeMetricFamily("monitor_consumer_group_lag", "Messages of each input partition the worker "
                                  "group has not committed yet, measured by the desk (also when every worker "
                                  "is down)", labels=["group", "topic", "partition"])
        for (topic, partition), n in sorted(self.group_lag.items()):
            group.add_metric([self.group, topic, str(partition)], n)
        yield group
        if self.positions is not None:
            view = GaugeMetricFamily("monitor_desk_view_lag", "Messages of each topic the desk reads that its "
                                     "view has not read yet", labels=["topic"])
            for topic, n in sorted(self.view_lag.items()):
                view.add_metric([topic], n)
            yield view
        yield GaugeMetricFamily("monitor_lag_probe_up", "1 when the broker answered the lag probe's last round "
                                "trip, else 0", value=self.up)
        if self.last_success is not None:
            yield GaugeMetricFamily("monitor_lag_probe_last_success_timestamp_seconds", "When the lag probe last "
                                    "got an answer", value=self.last_success)
