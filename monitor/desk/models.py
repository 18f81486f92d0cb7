"""The desk API's request and response bodies (pydantic: the OpenAPI document is generated from them)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from monitor.desk.records import AuditRecord, NoteText, Reason, UserId
from monitor.events import EARLIEST, FREE_TEXT_PATTERN, LATEST, InspectionOutcome
from monitor.outputs import Alert, BorrowerDetail, ScheduleEntry, TierName

__all__ = [
    "AlertItem", "AlertPage", "ActionOut", "AssignBody", "BorrowerPage", "BulkBody", "BulkItem", "BulkResult",
    "QueueCounts", "QueueItem", "QueuePage", "CaseDetail", "CasePage", "CaseStatus",
    "CaseSummary", "CommandResult", "EvidenceOut", "Words", "IsoDate", "IsoDateTime", "ForecastOut", "Me", "NoteBody", "NoteOut",
    "OverrideBody",
    "OverrideChangeOut", "OverrideRequestOut", "PlanOut", "PlannedVisitOut", "Problem", "ReasonBody",
    "ScheduleOut", "TierChange", "VisitBody", "VisitOut",
]

_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_datetime(value: Any) -> Any:
    """Only ISO 8601 text (pydantic alone would read a number as a Unix timestamp)."""
    if isinstance(value, str) and _ISO_DATETIME.match(value):
        return value
    if isinstance(value, datetime):
        return value
    raise ValueError("must be an ISO 8601 date-time with a UTC offset, like 2026-12-01T00:00:00+08:00")


def _iso_date(value: Any) -> Any:
    if isinstance(value, str) and _ISO_DATE.match(value):
        return value
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise ValueError("must be a date like 2026-12-01")


IsoDateTime = Annotated[AwareDatetime, Field(ge=EARLIEST, lt=LATEST), BeforeValidator(_iso_datetime)]
IsoDate = Annotated[date, Field(ge=EARLIEST.date(), lt=LATEST.date()), BeforeValidator(_iso_date)]
CaseStatus = Literal["open", "acknowledged", "release_requested", "released"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Problem(_Out):
    """An error: what went wrong, in one sentence (a 422: one item per field), with its code and parameters
    (the vocabulary's ``error`` section labels them in the user's language)."""

    detail: str | list[dict[str, Any]]
    code: str | None = Field(None, description="Stable code of the message (absent when there is none)")
    params: dict[str, str] | None = Field(None, description="The message's parameters")


class Me(_Out):
    user: str
    role: str
    teams: list[str]
    feed_key: bool = Field(False, description="Whether the user has a calendar feed key (never the key itself)")
    timezone: str = Field("Asia/Shanghai", description="The policy's time zone: dates and times are shown in it")


class AlertItem(_Out):
    alert: Alert
    case_id: str | None = Field(description="The case the alert belongs to (null: a clearance with no case)")
    case_status: CaseStatus | None


class AlertPage(_Out):
    items: list[AlertItem]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next (older) page; null at the end")
    total: int | None = Field(None, description="Alerts matching the filters (every page)")


class CaseSummary(_Out):
    case_id: str = Field(description="The alert that opened the case")
    borrower_id: str
    status: CaseStatus
    opened_at: datetime
    tier: TierName = Field(description="The tier of the case's latest alert")
    team: str | None
    branch: str | None
    assignee: str | None
    alert_count: int
    last_alert_at: datetime
    acknowledged_by: str | None
    release_requested_by: str | None
    released_by: str | None


class CasePage(_Out):
    items: list[CaseSummary]
    next_cursor: str | None


class NoteOut(_Out):
    record_id: str
    at: datetime
    user: str
    kind: Literal["note", "action_plan"]
    text: str


class ActionOut(_Out):
    record: AuditRecord
    applied: bool
    note: str | None = Field(description="Why the record did not apply (for example a concurrent change)")


class VisitOut(_Out):
    record_id: str
    at: datetime
    recorded_by: str
    team: str
    inspector: str
    outcome: str
    notes: str | None
    visited_at: datetime
    event_id: str


class Words(_Out):
    """A text in both languages of the page (from monitor.vocabulary)."""

    zh: str
    en: str


class EvidenceOut(_Out):
    """An active signal's evidence as a sentence with units, in both languages."""

    rule: str
    family: str
    level: TierName
    since: datetime
    event_ids: list[str]
    text: Words


class CaseDetail(CaseSummary):
    alerts: list[Alert] = Field(description="Every alert of the case, oldest first")
    notes: list[NoteOut]
    actions: list[ActionOut] = Field(description="The case's audit records in order, applied or not")
    signals: list[Any] = Field(description="The borrower's active signals with their evidence (latest detail)")
    evidence: list[EvidenceOut] = Field(default_factory=list, description="The signals' evidence as sentences")
    next_visit_due: date | None
    visits: list[VisitOut]
    name: str | None = Field(None, description="The borrower's name (latest loan profile that has one)")
    queue: QueueItem | None = Field(None, description="The case as the queue shows it: age, response deadline, "
                                    "next visit and days overdue")


class ReasonBody(_In):
    reason: Reason = Field(description="Why (required)")


class AssignBody(_In):
    assignee: UserId
    reason: Reason


class NoteBody(_In):
    kind: Literal["note", "action_plan"] = "note"
    text: NoteText
    reason: Reason


class CommandResult(_Out):
    """What became of a change: applied (read back from Kafka), pending (an override request),
    or accepted (written, not yet read back: 202)."""

    status: Literal["applied", "pending", "accepted"]
    record_id: str
    request_id: str
    event_id: str | None = Field(None, description="The event sent to the engine, if any")
    case: CaseDetail | None = None


class OverrideBody(_In):
    action: Literal["set", "clear"]
    direction: Literal["floor", "cap"]
    tier: TierName | None = Field(None, description="To set: floor watch/warning/severe; cap normal/watch/warning "
                                  "and below the computed tier")
    until: IsoDateTime | None = Field(None, description="To set: when it ends (in the future)")
    reason: Reason


class OverrideRequestOut(_Out):
    record_id: str
    borrower_id: str
    at: datetime
    requested_by: str
    tier: str
    until: datetime
    reason: str
    computed_tier: str | None
    status: Literal["pending", "approved", "rejected"]
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    event_id: str | None


class OverrideChangeOut(_Out):
    record_id: str
    at: datetime
    action: Literal["set", "clear"]
    direction: Literal["floor", "cap"]
    tier: str | None
    until: datetime | None
    reason: str
    requested_by: str
    approved_by: str | None
    event_id: str


class TierChange(_Out):
    alert_id: str
    at: datetime
    kind: str
    from_tier: TierName
    to_tier: TierName
    computed_tier: TierName
    sequence: int


class BorrowerPage(_Out):
    borrower_id: str
    detail: BorrowerDetail | None = Field(description="From the worker: profile (no name), tier, signals, "
                                          "overrides, lawsuits, overdue accounts, bureau figures, last visit")
    schedule: ScheduleEntry | None
    tier_history: list[TierChange]
    cases: list[CaseSummary]
    override_requests: list[OverrideRequestOut]
    override_changes: list[OverrideChangeOut]
    visits: list[VisitOut] = Field(description="Visits recorded through the desk")
    name: str | None = Field(None, description="The borrower's name (latest loan profile that has one)")
    evidence: list[EvidenceOut] = Field(default_factory=list, description="The detail's signals as sentences")
    schedule_reason: Words | None = Field(None, description="Why the next visit is due when it is, as a sentence")


class VisitBody(_In):
    outcome: InspectionOutcome
    inspector: UserId | None = Field(None, description="Who visited; default: the caller")
    notes: Annotated[str, StringConstraints(max_length=4000, pattern=FREE_TEXT_PATTERN)] | None = None
    visited_at: IsoDateTime | None = Field(None, description="When (at most 7 days ago); default: now")


class PlannedVisitOut(_Out):
    borrower_id: str
    team: str | None
    branch: str | None
    tier: TierName
    next_visit_due: date
    exposure: float | None
    reason: str
    planned: date | None
    late: bool
    days_overdue: int
    days_late: int | None
    status: Literal["on_time", "late", "no_capacity", "no_team", "beyond_horizon"]
    reason_text: Words | None = Field(None, description="The reason as a sentence")
    name: str | None = Field(None, description="The borrower's name (latest loan profile that has one)")


class ScheduleOut(_Out):
    """The team's visits due in ``[start, end]``, each with the planner's date (capacity-aware)."""

    team: str
    start: date | None = Field(description="Null: from the oldest overdue visit")
    end: date
    today: date
    teams_version: str
    items: list[PlannedVisitOut]


class PlanOut(_Out):
    team: str
    today: date
    horizon: int
    placement: Literal["latest", "earliest"]
    teams_version: str
    items: list[PlannedVisitOut]


class ForecastOut(_Out):
    team: str | None
    start: date
    until: date
    working_days: int
    capacity: int
    overdue: int
    due: int
    demand: int
    planned: int
    late: int
    short_from: date | None
    shortfall: int



class QueueItem(_Out):
    """One case in the officers' queue, with what its columns show."""

    case_id: str
    borrower_id: str
    name: str | None = Field(description="The borrower's name from the latest loan profile that has one")
    status: CaseStatus
    tier: TierName = Field(description="The tier of the case's latest alert")
    team: str | None
    branch: str | None
    assignee: str | None
    opened_at: datetime
    age_days: int = Field(description="Calendar days since the case opened (policy time zone)")
    last_alert_at: datetime
    deadline: date | None = Field(description="The response deadline: the policy's response days for the tier "
                                  "the case last rose to, from that day (inclusive)")
    responded: bool = Field(description="An on-site visit took place after the case last rose")
    days_past_deadline: int | None = Field(description="Days past the deadline while not responded to (0 or more; "
                                           "null when responded, released or within the deadline)")
    next_visit_due: date | None
    visit_days_overdue: int | None = Field(description="Days the next visit is overdue (null: not overdue)")
    exposure: float | None = Field(description="Outstanding amount, CNY")


class QueueCounts(_Out):
    """Cases not released: all, open, the caller's, unassigned, past the response deadline, visit overdue,
    by tier."""

    active: int
    open: int
    mine: int
    unassigned: int
    past_deadline: int
    visit_overdue: int
    by_tier: dict[str, int]


class QueuePage(_Out):
    items: list[QueueItem]
    total: int = Field(description="Cases matching the filters and the search (every page)")
    offset: int
    limit: int
    sort: str
    order: Literal["asc", "desc"]
    today: date = Field(description="The day ages and deadlines are counted to (policy time zone)")
    counts: QueueCounts


class BulkBody(_In):
    action: Literal["acknowledge", "assign"] = Field(description="Bulk work: acknowledge or assign (releases and "
                                                     "overrides stay one at a time, with four eyes)")
    case_ids: Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=128)]],
                        Field(min_length=1)] = Field(description="The cases (at most 500)")
    assignee: UserId | None = Field(None, description="To assign: the officer")
    reason: Reason


class BulkItem(_Out):
    case_id: str
    status: Literal["applied", "accepted", "refused", "not_found"] = Field(
        description="applied: read back; accepted: written, not yet read back; refused: the case's status does "
        "not allow it (recorded as a refusal); not_found: no such case")
    record_id: str | None
    note: str | None
    code: str | None = Field(None, description="The note's code (vocabulary section error)")
    params: dict[str, str] | None = None


class BulkResult(_Out):
    request_id: str
    action: str
    applied: int
    refused: int
    items: list[BulkItem]


CaseDetail.model_rebuild()
