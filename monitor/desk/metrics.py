"""The desk's Prometheus metrics, on its own registry (several apps may live in one process).

HTTP requests are observed by the middleware (route templates as labels, never
a path with a borrower id in it); the view's figures are read when Prometheus
scrapes (a collector), so folding never touches a metric. Labels: status,
team, topic, method, route, HTTP status: all bounded sets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import date

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from monitor.desk.planner import due_visits, plan
from monitor.desk.safe import clean
from monitor.desk.table import breaches_by_tier
from monitor.desk.teams import TeamsConfig
from monitor.desk.view import TOPIC_KINDS, DeskView

__all__ = ["CONTENT_TYPE", "DeskMetrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_PLAN_TTL = 30.0  # seconds a workload forecast is reused while the view changes


class _ViewCollector(Collector):
    def __init__(self, view: Callable[[], DeskView], today: Callable[[], date], teams: TeamsConfig,
                 version: Callable[[], int]) -> None:
        self._view = view
        self._today = today
        self._teams = teams
        self._version = version
        self._planned: tuple[tuple[int, date], float, dict[str, int]] | None = None

    def _planned_counts(self, view: DeskView, today: date, teams: list[str]) -> dict[str, int]:
        stamp = (self._version(), today)
        cached = self._planned
        now = time.monotonic()
        if cached is not None and cached[0][1] == today and (cached[0] == stamp or now - cached[1] < _PLAN_TTL):
            return cached[2]
        counts: dict[str, int] = {}
        for team in teams:
            entries = view.schedule(team, date.min, date.fromordinal(today.toordinal() + 29))
            exposures = {e.borrower_id: (b.detail.exposure if (b := view.books.get(e.borrower_id)) and b.detail
                                         else None) for e in entries}
            planned = plan(due_visits(entries, exposures), today, self._teams, horizon=30)
            counts[team] = sum(1 for p in planned if p.planned is not None)
        self._planned = (stamp, now, counts)
        return counts

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        view = self._view()
        today = self._today()
        cases = GaugeMetricFamily("monitor_cases_open", "Cases not released, by status", labels=["status"])
        for status in ("open", "acknowledged", "release_requested"):
            cases.add_metric([status], view.case_counts.get(status, 0))
        yield cases
        late = GaugeMetricFamily("monitor_cases_past_deadline",
                                 "Cases not released and not responded to (no on-site visit since the tier rose) "
                                 "after the policy's response deadline, by tier", labels=["tier"])
        for tier, n in breaches_by_tier(view.table, today.toordinal()).items():
            if tier != "normal":
                late.add_metric([tier], n)
        yield late
        teams = view.teams()
        due = GaugeMetricFamily("monitor_visits_due_today", "Visits due today, by team", labels=["team"])
        overdue = GaugeMetricFamily("monitor_visits_overdue", "Visits past their due date, by team", labels=["team"])
        planned = GaugeMetricFamily("monitor_visits_planned",
                                    "Visits the capacity-aware planner plans in the next 30 days, by team",
                                    labels=["team"])
        counts = self._planned_counts(view, today, teams)
        for team in teams:
            d, o = view.due_counts(team, today)
            due.add_metric([clean(team)], d)
            overdue.add_metric([clean(team)], o)
            planned.add_metric([clean(team)], counts.get(team, 0))
        yield due
        yield overdue
        yield planned
        read = CounterMetricFamily("monitor_desk_view_records", "Records the desk's view has read, by topic",
                                   labels=["topic"])
        rejected = CounterMetricFamily("monitor_desk_view_rejected", "Records the view could not use, by topic",
                                       labels=["topic"])
        for kind in TOPIC_KINDS:
            read.add_metric([kind], view.read.get(kind, 0))
            rejected.add_metric([kind], view.rejected.get(kind, 0))
        yield read
        yield rejected


class DeskMetrics:
    """The registry, the HTTP metrics, and the view collector."""

    def __init__(self, view: Callable[[], DeskView], today: Callable[[], date], teams: TeamsConfig,
                 version: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("monitor_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=self.registry)
        self.duration = Histogram("monitor_http_request_duration_seconds", "Time to answer, by route",
                                  ["route"], buckets=_BUCKETS, registry=self.registry)
        self.registry.register(_ViewCollector(view, today, teams, version))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
