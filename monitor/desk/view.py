"""The alert desk's view: alerts, cases, visit schedule, borrower details and audit, folded from records.

Pure: records in (topic name, key, value bytes), queries out; no I/O, no
clock (``today`` is passed to the queries that need it). The Kafka shell
(:mod:`monitor.desk.bridge`) feeds it the ``alerts``, ``visit-schedule``,
``borrowers`` and ``audit`` topics from the beginning.

Folding is idempotent and independent of how the topics interleave: alerts
are kept by ``alert_id`` and ordered by their ``sequence``; audit records are
kept by ``record_id`` in the order of the audit topic (one partition per
borrower); the schedule and the details keep the latest value per key. A
borrower's cases are recomputed from its alerts and records whenever either
changes (:func:`monitor.desk.cases.derive`), so replicas that have read the
same records answer the same.

Indexes (:class:`~monitor.desk.index.FacetIndex`): alerts by (event time,
alert id) with facets tier, team, branch, kind, case status; cases by (opened
at, case id) with facets status, team, branch, tier, assignee; the schedule
by (due date, borrower) with the team as facet.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError

from monitor._time import to_us
from monitor.desk.cases import ACTIVE_STATUSES, AlertRow, Case, Derived, OverrideRequest, derive
from monitor.desk.index import FacetIndex
from monitor.desk.records import Action, AuditRecord
from monitor.desk.table import AlertCounts, CaseRow, CaseTable, ResponseDeadlines
from monitor.outputs import Alert, ScheduleEntry

__all__ = ["Batch", "Book", "DeskView", "DetailRow", "SchedRow", "ALERTS", "AUDIT", "BORROWERS", "SCHEDULE",
           "TOPIC_KINDS"]

ALERTS, SCHEDULE, BORROWERS, AUDIT, PROFILES = "alerts", "schedule", "borrowers", "audit", "profiles"
TOPIC_KINDS = (ALERTS, SCHEDULE, BORROWERS, AUDIT, PROFILES)
ALERT_FACETS = ("tier", "team", "branch", "kind", "status", "active")
CASE_FACETS = ("status", "active", "team", "branch", "tier", "assignee")
_NO_CASE = "none"


@dataclass(slots=True)
class DetailRow:
    """A borrower's detail (the worker's BorrowerDetail JSON, kept as bytes) and what the desk indexes."""

    raw: bytes
    team: str | None
    branch: str | None
    exposure: float | None
    tier: str | None
    computed_tier: str | None
    last_visit: int | None = None  # microseconds: the latest on-site visit the worker applied


@dataclass(slots=True)
class SchedRow:
    """A borrower's schedule entry, compact (built back into a ScheduleEntry when asked)."""

    due: date | None
    team: str | None
    branch: str | None
    tier: str
    reason: str
    policy_version: str
    params: tuple[tuple[str, Any], ...] = ()  # the reason's parameters (interned: they repeat)
    workout: bool = False


_EMPTY = Derived()
_NONE: tuple[()] = ()


class Book:
    """Everything the desk knows about one borrower (small: most borrowers have a schedule entry only)."""

    __slots__ = ("borrower_id", "alerts", "records", "sched", "detail", "_derived", "name", "name_at")

    def __init__(self, borrower_id: str) -> None:
        self.borrower_id = borrower_id
        self.alerts: list[AlertRow] = _NONE  # type: ignore[assignment]  # by sequence; a list once there is one
        self.records: list[AuditRecord] = _NONE  # type: ignore[assignment]  # audit topic order
        self.sched: SchedRow | None = None
        self.detail: DetailRow | None = None
        self._derived: Derived | None = None
        self.name: str | None = None  # from the latest loan profile that names the borrower (personal data)
        self.name_at = 0

    @property
    def derived(self) -> Derived:
        return self._derived if self._derived is not None else _EMPTY

    @property
    def schedule(self) -> ScheduleEntry | None:
        r = self.sched
        if r is None:
            return None
        return ScheduleEntry.model_construct(borrower_id=self.borrower_id, next_visit_due=r.due, team=r.team,
                                             branch=r.branch, tier=r.tier, reason=r.reason,
                                             reason_params=dict(r.params), workout=r.workout,
                                             policy_version=r.policy_version)

    @property
    def team(self) -> str | None:
        """The inspection team now responsible (schedule first, then detail, then the latest alert)."""
        if self.sched is not None and self.sched.team is not None:
            return self.sched.team
        if self.detail is not None and self.detail.team is not None:
            return self.detail.team
        for a in reversed(self.alerts):
            if a.team is not None:
                return a.team
        return None

    @property
    def known(self) -> bool:
        return bool(self.alerts or self.sched or self.detail)


@dataclass(slots=True)
class Batch:
    """What one batch changed: new alerts (for the push stream), records read back, rejects."""

    alerts: list[AlertRow] = field(default_factory=list)
    records: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (topic kind, reason)


def _alert_row(raw: bytes) -> AlertRow:
    a = Alert.model_validate_json(raw)
    return AlertRow(a.alert_id, a.borrower_id, str(a.kind), a.from_tier, a.to_tier, a.computed_tier,
                    to_us(a.at), a.sequence, a.team, a.branch, raw)


def _detail_row(raw: bytes) -> tuple[str, DetailRow]:
    doc = json.loads(raw)
    if not isinstance(doc, dict) or not isinstance(doc.get("borrower_id"), str) or not doc["borrower_id"]:
        raise ValueError("borrower_id: required")
    profile = doc.get("profile") if isinstance(doc.get("profile"), dict) else {}
    exposure = profile.get("exposure")

    def text(v: object) -> str | None:
        return v if isinstance(v, str) else None

    visit = doc.get("last_visit")
    visited = _instant(visit.get("at")) if isinstance(visit, dict) else None
    return doc["borrower_id"], DetailRow(
        raw, text(profile.get("team")), text(profile.get("branch")),
        float(exposure) if isinstance(exposure, (int, float)) and not isinstance(exposure, bool) else None,
        text(doc.get("tier")), text(doc.get("computed_tier")), visited)


def _instant(value: object) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        return to_us(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except (ValueError, TypeError):
        return None


class DeskView:
    """The desk's in-memory view; see the module docstring. ``deadlines`` gives each case its response
    deadline (the policy's response days after the tier rose); without it cases have none."""

    def __init__(self, deadlines: ResponseDeadlines | None = None) -> None:
        self.deadlines = deadlines
        self.table = CaseTable()
        self.alert_counts = AlertCounts()
        self._touched: set[str] = set()  # borrowers whose case rows need their schedule, detail or name again
        self.books: dict[str, Book] = {}
        self.alerts: dict[str, AlertRow] = {}
        self.alert_index = FacetIndex(ALERT_FACETS, pairs=True)
        self.cases: dict[str, Case] = {}
        self.case_index = FacetIndex(CASE_FACETS, pairs=True)
        self.schedule_index = FacetIndex(("team",), keep_all=False)
        self._texts: dict[str, str] = {}
        self._params: dict[tuple[tuple[str, Any], ...], tuple[tuple[str, Any], ...]] = {}
        self.records: dict[str, AuditRecord] = {}
        self.pending_overrides: dict[str, OverrideRequest] = {}
        self.refusals: list[AuditRecord] = []  # refused requests, in the order read (also in their borrower's records)
        self.case_counts: Counter[str] = Counter()
        self.read: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self._dirty: set[str] = set()

    # ------------------------------------------------------------------ folding

    def apply_batch(self, items: Iterable[tuple[str, bytes | None, bytes | None]]) -> Batch:
        """Fold ``(topic kind, key, value)`` records; derived state and indexes are settled at the end."""
        batch = Batch()
        for kind, key, value in items:
            self._apply(kind, key, value, batch)
        for bid in sorted(self._dirty):
            self._refresh(bid)
        for bid in self._touched - self._dirty:
            self._put_rows(self.books[bid])
        self._dirty.clear()
        self._touched.clear()
        for index in (self.alert_index, self.case_index, self.schedule_index):
            index.settle(full=False)  # large tails (a rebuild) are sorted when read, or by settle()
        return batch

    def settle(self) -> None:
        """Sort every index now (after a rebuild, before the first query)."""
        for index in (self.alert_index, self.case_index, self.schedule_index):
            index.settle()

    def apply(self, kind: str, key: bytes | None, value: bytes | None) -> Batch:
        return self.apply_batch([(kind, key, value)])

    def _book(self, bid: str) -> Book:
        book = self.books.get(bid)
        if book is None:
            book = self.books[bid] = Book(bid)
        return book

    def _apply(self, kind: str, key: bytes | None, value: bytes | None, batch: Batch) -> None:
        self.read[kind] += 1
        try:
            if kind == ALERTS:
                self._alert(value, batch)
            elif kind == SCHEDULE:
                self._schedule(key, value)
            elif kind == BORROWERS:
                self._detail(key, value)
            elif kind == AUDIT:
                self._record(key, value, batch)
            elif kind == PROFILES:
                self._profile(value)
            else:
                raise ValueError(f"unknown topic kind {kind!r}")
        except (ValidationError, ValueError, TypeError) as exc:
            self.rejected[kind] += 1
            batch.rejected.append((kind, _reason(exc)))

    def _alert(self, value: bytes | None, batch: Batch) -> None:
        if value is None:
            raise ValueError("empty message")
        row = _alert_row(value)
        if row.alert_id in self.alerts:
            return  # delivered again (at-least-once): the same id carries the same content
        self.alerts[row.alert_id] = row
        book = self._book(row.borrower_id)
        alerts = book.alerts
        if not alerts:
            book.alerts = [row]
        elif alerts[-1].sequence <= row.sequence:
            alerts.append(row)
        else:
            alerts.append(row)
            alerts.sort(key=lambda a: (a.sequence, a.alert_id))
        self._dirty.add(row.borrower_id)
        batch.alerts.append(row)

    def _schedule(self, key: bytes | None, value: bytes | None) -> None:
        if value is None:  # a tombstone
            if key is None:
                raise ValueError("a tombstone without a key")
            bid = key.decode("utf-8", "replace")
            book = self.books.get(bid)
            if book is not None:
                self._set_schedule(book, None)
            return
        if key is not None and key.startswith(b"\x00"):
            return  # the worker's own bookkeeping
        e = ScheduleEntry.model_validate_json(value)
        intern = self._intern
        params = tuple(sorted((k, v) for k, v in e.reason_params.items() if isinstance(v, (str, int, float))))
        if len(self._params) < 1_000_000:
            params = self._params.setdefault(params, params)
        row = SchedRow(e.next_visit_due, intern(e.team), intern(e.branch), e.tier, intern(e.reason),
                       intern(e.policy_version), params, e.workout)
        self._set_schedule(self._book(e.borrower_id), row)

    def _intern(self, text: str | None) -> str | None:
        """One copy of each repeated text (teams, branches, reasons) for a million borrowers."""
        if text is None:
            return None
        return self._texts.setdefault(text, text) if len(self._texts) < 1_000_000 else text

    def _profile(self, value: bytes | None) -> None:
        """A loan profile: only the borrower's name is kept (the latest profile that has one)."""
        if value is None:
            raise ValueError("empty message")
        doc = json.loads(value)
        if not isinstance(doc, dict) or not isinstance(doc.get("borrower_id"), str):
            raise ValueError("borrower_id: required")
        name = doc.get("name")
        if not isinstance(name, str) or not name:
            return
        at = _instant(doc.get("occurred_at")) or 0
        book = self._book(doc["borrower_id"])
        if at >= book.name_at and name != book.name:
            book.name, book.name_at = name, at
            self._touch(book)
        elif at >= book.name_at:
            book.name_at = at

    def _touch(self, book: Book) -> None:
        if book._derived is not None and book._derived.cases:
            self._touched.add(book.borrower_id)

    def _set_schedule(self, book: Book, row: SchedRow | None) -> None:
        old = book.sched
        if (old is None) != (row is None) or (old is not None and row is not None and old.due != row.due):
            self._touch(book)
        if old is not None and old.due is not None:
            self.schedule_index.drop((old.due.toordinal(), book.borrower_id))
        book.sched = row
        if row is not None and row.due is not None:
            self.schedule_index.put((row.due.toordinal(), book.borrower_id), (row.team,))

    def _detail(self, key: bytes | None, value: bytes | None) -> None:
        if value is None:
            if key is None:
                raise ValueError("a tombstone without a key")
            book = self.books.get(key.decode("utf-8", "replace"))
            if book is not None:
                book.detail = None
            return
        if key is not None and key.startswith(b"\x00"):
            return
        bid, row = _detail_row(value)
        book = self._book(bid)
        old = book.detail
        book.detail = row
        if old is None or (old.exposure, old.last_visit, old.team, old.branch) != (row.exposure, row.last_visit,
                                                                                    row.team, row.branch):
            self._touch(book)

    def _record(self, key: bytes | None, value: bytes | None, batch: Batch) -> None:
        if value is None:
            raise ValueError("empty message")
        rec = AuditRecord.model_validate_json(value)
        if key is not None and key != rec.key:
            raise ValueError(f"key differs from borrower_id {rec.borrower_id!r}")
        if rec.record_id in self.records:
            return  # a request sent again
        self.records[rec.record_id] = rec
        if rec.action == Action.refused:
            self.refusals.append(rec)
            if rec.borrower_id is None:
                batch.records.append(rec.record_id)
                return
        book = self._book(rec.borrower_id)
        if book.records:
            book.records.append(rec)
        else:
            book.records = [rec]
        self._dirty.add(rec.borrower_id)
        batch.records.append(rec.record_id)

    def _refresh(self, bid: str) -> None:
        book = self.books[bid]
        old = book.derived
        new = derive(book.alerts, book.records)
        book._derived = new
        new_ids = {c.case_id for c in new.cases}
        for c in old.cases:
            self.case_counts[c.status] -= 1
            if c.case_id not in new_ids:
                self.case_index.drop(c.key)
                self.cases.pop(c.case_id, None)
                self.table.drop(c.case_id)
        for c in new.cases:
            self.case_counts[c.status] += 1
            self.cases[c.case_id] = c
            self.case_index.put(c.key, _case_facets(c))
        for a in book.alerts:
            case = self.cases.get(new.case_of.get(a.alert_id, ""))
            status = case.status if case is not None else _NO_CASE
            self.alert_index.put(a.key, (a.to_tier, a.team, a.branch, a.kind, status, status in ACTIVE_STATUSES))
            self.alert_counts.put(a.alert_id, a.to_tier, a.team, a.branch, a.kind, status, a.at)
        self._put_rows(book)
        for r in old.requests:
            self.pending_overrides.pop(r.record_id, None)
        for r in new.requests:
            if r.status == "pending":
                self.pending_overrides[r.record_id] = r

    def _put_rows(self, book: Book) -> None:
        """The queue's rows of the borrower's cases (:mod:`monitor.desk.table`)."""
        d = book.derived
        if not d.cases:
            return
        sched, detail = book.sched, book.detail
        visited = detail.last_visit if detail is not None else None
        for v in d.visits:
            at = to_us(v.visited_at)
            visited = at if visited is None or at > visited else visited
        team = book.team
        branch = (sched.branch if sched is not None and sched.branch is not None else
                  detail.branch if detail is not None and detail.branch is not None else None)
        due = sched.due.toordinal() if sched is not None and sched.due is not None else None
        exposure = detail.exposure if detail is not None else None
        for c in d.cases:
            last = c.last
            rise = next((a for a in reversed(c.alerts) if a.kind in ("raised", "escalated")), c.alerts[0])
            deadline = self.deadlines.due(rise.to_tier, rise.at) if self.deadlines is not None else None
            self.table.put(CaseRow(
                c.case_id, c.borrower_id, c.status, last.to_tier, team or last.team, branch or last.branch,
                c.assignee, c.opened_at, max(a.at for a in c.alerts), rise.at, deadline, visited, due, exposure,
                book.name))

    # ------------------------------------------------------------------ queries

    def alert_page(self, filters: dict[str, Hashable], *, after: tuple[int, str] | None, since: int | None,
                   limit: int) -> tuple[list[AlertRow], bool]:
        """Newest first; ``filters`` on tier, team, branch, kind, status (or active=True)."""
        keys, more = self.alert_index.page(filters, after=after, floor=(since, "") if since is not None else None,
                                           limit=limit)
        return [self.alerts[k[1]] for k in keys], more

    def case_of_alert(self, alert_id: str) -> Case | None:
        row = self.alerts.get(alert_id)
        if row is None:
            return None
        book = self.books[row.borrower_id]
        return self.cases.get(book.derived.case_of.get(alert_id, ""))

    def case_page(self, filters: dict[str, Hashable], *, after: tuple[int, str] | None, limit: int
                  ) -> tuple[list[Case], bool]:
        """Newest opened first; ``filters`` on status (or active), team, branch, tier, assignee."""
        keys, more = self.case_index.page(filters, after=after, limit=limit)
        return [self.cases[k[1]] for k in keys], more

    def schedule(self, team: str, start: date, end: date) -> list[ScheduleEntry]:
        """The team's schedule entries due in ``[start, end]``, by due date then borrower."""
        keys = self.schedule_index.scan({"team": team}, start=(start.toordinal(), ""),
                                        stop=(end.toordinal() + 1, ""))
        out = []
        for _due, bid in keys:
            entry = self.books[bid].schedule
            if entry is not None:
                out.append(entry)
        return out

    def due_counts(self, team: str, today: date) -> tuple[int, int]:
        """(due today, overdue) visits of ``team``."""
        t = today.toordinal()
        overdue = sum(1 for _ in self.schedule_index.scan({"team": team}, stop=(t, "")))
        due = sum(1 for _ in self.schedule_index.scan({"team": team}, start=(t, ""), stop=(t + 1, "")))
        return due, overdue

    def teams(self) -> list[str]:
        return sorted({str(v) for v in self.schedule_index.values("team") if v is not None})

    def borrower(self, bid: str) -> Book | None:
        book = self.books.get(bid)
        return book if book is not None and book.known else None

    def stats(self) -> dict[str, Any]:
        return {"borrowers": len(self.books), "alerts": len(self.alerts), "cases": len(self.cases),
                "records": len(self.records), "read": dict(self.read), "rejected": dict(self.rejected)}


def _case_facets(c: Case) -> tuple[Hashable, ...]:
    last = c.last
    return (c.status, c.status in ACTIVE_STATUSES, last.team, last.branch, last.to_tier, c.assignee)


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(x) for x in first["loc"])
        return f"{where}: {first['msg']}" if where else first["msg"]
    return str(exc) or type(exc).__name__
