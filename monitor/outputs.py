"""The outputs of the decision core: alerts, schedule entries, borrower views and details.

Like the events, these pydantic models are the only definition of the output
contract; the JSON Schema is generated from them.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from monitor._time import iso

from monitor.events import (
    CaseType,
    Grade,
    InspectionOutcome,
    LawsuitRole,
    LawsuitStage,
    Mitigation,
    Segment,
)

__all__ = [
    "AccountDetail",
    "Alert",
    "AlertKind",
    "BorrowerDetail",
    "BorrowerView",
    "BureauDetail",
    "LawsuitDetail",
    "OverrideDetail",
    "ProfileDetail",
    "SCHEDULE_REASONS",
    "ScheduleEntry",
    "ScheduleReason",
    "Signal",
    "TierName",
    "VisitDetail",
    "schedule_entry_json",
    "schedule_history_line",
]

TierName = Literal["normal", "watch", "warning", "severe"]
ClassificationName = Literal["normal", "special_mention", "substandard", "doubtful", "loss"]
ScheduleReason = Literal["no_profile", "first_visit", "inspected", "tier_raised", "workout", "workout_ended"]
SCHEDULE_REASONS: tuple[str, ...] = ScheduleReason.__args__  # type: ignore[attr-defined]

_REASON_DOC = (
    "Why the next visit is due when it is: a stable code; its parameters (in the *_params field) are 'date', "
    "the calendar date in the policy's time zone of what set it, 'days' from then to the due date and 'tier', "
    "the effective tier then. no_profile: no loan profile yet, nothing due; first_visit {date (disbursement), "
    "days}: the first post-loan check; inspected {date (the visit), days, tier, basis}: the interval after the "
    "last visit, basis 'interval' (the loan's normal interval by grade, exposure and mitigation) or 'cadence' "
    "(the tier's continuing cadence, shorter); tier_raised {date, days, tier}: the response deadline after the "
    "effective tier rose; workout {date (hand-over), after_days}: handed over to special-asset management "
    "(workout), off the routine schedule, no routine visit due; workout_ended {date, days, tier}: back from "
    "workout, a response visit due"
)


class AlertKind(StrEnum):
    raised = "raised"  # from normal to a warning tier
    escalated = "escalated"  # to a higher warning tier
    de_escalated = "de_escalated"  # to a lower warning tier
    cleared = "cleared"  # back to normal


class Signal(BaseModel):
    """One rule that holds, with the evidence that made it hold."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: str = Field(description="Rule id, e.g. overdue.dpd")
    family: str = Field(description="rating, lawsuit, bureau, overdue, inspection, combo or override")
    level: TierName
    since: datetime = Field(description="When the signal started to hold")
    values: dict[str, Any] = Field(description="The observed values")
    thresholds: dict[str, Any] = Field(description="The thresholds they were held against")
    event_ids: list[str] = Field(description="The events that made it hold")


class Alert(BaseModel):
    """A change of a borrower's effective tier."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alert_id: str = Field(description="Deterministic: the same input always yields the same id")
    borrower_id: str
    kind: AlertKind
    from_tier: TierName
    to_tier: TierName
    computed_tier: TierName = Field(description="The tier the signals give now (before the cure period)")
    at: datetime = Field(description="The instant of the change, in event time")
    signals: list[Signal] = Field(description="The active signals with their evidence")
    policy_version: str
    next_visit_due: date | None = Field(description="Calendar date in the policy's time zone")
    team: str | None
    branch: str | None
    sequence: int = Field(description="The borrower's alert number, from 1")


class ScheduleEntry(BaseModel):
    """A borrower's current next on-site visit (the compacted visit-schedule)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    borrower_id: str
    next_visit_due: date | None
    team: str | None
    branch: str | None
    tier: TierName
    reason: ScheduleReason = Field(description=_REASON_DOC)
    reason_params: dict[str, Any] = Field(default_factory=dict, description="The reason's parameters")
    workout: bool = Field(default=False, description="Handed over to workout: not on the routine schedule")
    policy_version: str


def schedule_entry_json(fields: dict[str, Any]) -> str:
    """``ScheduleEntry(**fields).model_dump_json()``, the same bytes: written directly when every text is plain and
    every parameter a text, an int or None (what the engine's entries hold; a replay writes one per schedule
    change), through the model otherwise (tests/test_engine_schedule_json.py compares the two)."""
    due, team, branch, params = fields["next_visit_due"], fields["team"], fields["branch"], fields["reason_params"]
    texts = [fields["borrower_id"], fields["policy_version"], fields["tier"], fields["reason"], team or "",
             branch or ""]
    out = []
    for key, value in params.items():
        kind = value.__class__
        if kind is str:
            out.append(f'"{key}":"{value}"')
            texts.append(value)
        elif kind is int:
            out.append(f'"{key}":{value}')
        elif value is None:
            out.append(f'"{key}":null')
        else:
            return ScheduleEntry(**fields).model_dump_json()
        texts.append(key)
    joined = "".join(texts)  # printable, no quote, no backslash: JSON writes it as it is (others: the model)
    if due.__class__ not in (date, type(None)) or not joined.isprintable() or '"' in joined or "\\" in joined:
        return ScheduleEntry(**fields).model_dump_json()
    due_text = None if due is None else due.isoformat()
    return (f'{{"borrower_id":"{fields["borrower_id"]}","next_visit_due":{_q(due_text)},"team":{_q(team)},'
            f'"branch":{_q(branch)},"tier":"{fields["tier"]}","reason":"{fields["reason"]}",'
            f'"reason_params":{{{",".join(out)}}},"workout":{"true" if fields["workout"] else "false"},'
            f'"policy_version":"{fields["policy_version"]}"}}')


def schedule_history_line(at: int, entry: str) -> str:
    """A line of ``schedule_history.jsonl`` (no newline): the instant ``at`` (us) first, then the fields of the
    entry's JSON (``ScheduleEntry.model_dump_json``, ``schedule_entry_json``)."""
    return f'{{"at":"{iso(at)}",{entry[1:]}'


def _q(text: str | None) -> str:
    return "null" if text is None else f'"{text}"'


class BorrowerView(BaseModel):
    """One line of ``borrowers.jsonl``: a borrower as known at the as-of instant."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    borrower_id: str
    tier: TierName | None = Field(description="Effective tier; null until the profile arrives")
    computed_tier: TierName | None
    active_rules: list[str]
    min_classification: ClassificationName | None
    next_visit_due: date | None
    team: str | None
    branch: str | None
    exposure: float | None
    workout: bool = Field(default=False, description="Handed over to workout (special-asset management): "
                          "off the routine visit schedule")


# ------------------------------------------------------------------ borrower detail


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProfileDetail(_Out):
    """The loan profile as the borrower page shows it (never the borrower's name)."""

    segment: Segment | None = Field(description="Null in states kept before it was")
    industry: str | None
    branch: str
    team: str = Field(description="The inspection team responsible")
    exposure: float = Field(description="Outstanding amount, CNY")
    product: str | None
    mitigation: Mitigation
    grade: Grade | None = Field(description="The current internal grade (the profile's until a rating change)")
    grade_since: datetime | None = Field(description="When the current grade was set")
    disbursed_at: datetime
    updated_at: datetime = Field(description="occurred_at of the latest loan_profile event")


class OverrideDetail(_Out):
    """An officer's tier override that holds now."""

    direction: Literal["floor", "cap"]
    tier: TierName
    since: datetime = Field(description="occurred_at of the tier_override event that set it")
    until: datetime = Field(description="It ends at this instant (the policy may shorten the requested one)")
    requested_until: datetime
    reason: str
    requested_by: str
    approved_by: str | None
    event_id: str


class LawsuitDetail(_Out):
    """One lawsuit case the state keeps (latest notice), not closed."""

    case_id: str
    role: LawsuitRole
    case_type: CaseType
    stage: LawsuitStage
    claim_amount: float
    court: str | None
    first_notice_at: datetime
    latest_notice_at: datetime
    stage_since: datetime
    counts: bool = Field(description="The policy's lawsuit rules consider it now (role and active window)")
    event_ids: list[str] = Field(description="The latest notices of the case, oldest first")


class AccountDetail(_Out):
    """An account past due at the detail's instant."""

    account_id: str
    product: str
    days_past_due: int = Field(description="As of the detail's instant (grows by one a day until cured)")
    overdue_amount: float = Field(description="As reported")
    reported_at: datetime = Field(description="occurred_at of the latest overdue event of the account")
    reported_days_past_due: int
    event_id: str


class BureauDetail(_Out):
    """The latest credit-bureau report."""

    reported_at: datetime
    event_id: str
    max_external_dpd: int
    external_overdue_amount: float
    hard_inquiries_30d: int
    total_external_debt: float
    guarantee_exposure: float
    previous_reported_at: datetime | None = Field(description="The report before (kept for debt growth)")
    previous_total_external_debt: float | None


class VisitDetail(_Out):
    """The latest on-site inspection."""

    at: datetime
    event_id: str
    team: str
    inspector: str | None = Field(description="Staff id; null in states kept before it was")
    outcome: InspectionOutcome


class BorrowerDetail(_Out):
    """Everything the alert desk shows on a borrower page, from the borrower's state alone
    (published to the compacted ``{prefix}borrowers`` topic whenever the state changes)."""

    borrower_id: str
    as_of: datetime | None = Field(description="The borrower's clock: the instant this detail describes "
                                   "(null before any event)")
    policy_version: str
    profile: ProfileDetail | None = Field(description="Null until the loan_profile event arrives")
    tier: TierName | None = Field(description="Effective tier (cure period and overrides); null without profile")
    computed_tier: TierName | None = Field(description="The tier the signals give now (before the cure period "
                                           "and overrides)")
    tier_since: datetime | None = Field(description="When the effective tier last changed (null: never left normal)")
    signals: list[Signal] = Field(description="The active signals with their evidence, overrides included")
    overrides: list[OverrideDetail] = Field(description="Active overrides: the floor first, then the cap")
    lawsuits: list[LawsuitDetail] = Field(description="Cases not closed, by case id")
    overdue_accounts: list[AccountDetail] = Field(description="Accounts past due, by account id")
    highest_dpd: int
    min_classification: ClassificationName | None = Field(description="Regulatory floor by the highest DPD")
    bureau: BureauDetail | None
    last_visit: VisitDetail | None
    next_visit_due: date | None = Field(description="Calendar date in the policy's time zone")
    next_visit_reason: ScheduleReason = Field(description=_REASON_DOC)
    next_visit_reason_params: dict[str, Any] = Field(default_factory=dict, description="The reason's parameters")
    workout: bool = Field(default=False, description="Handed over to workout: off the routine schedule")
    workout_since: datetime | None = Field(default=None, description="When it was handed over to workout")
    alerts: int = Field(description="Alerts raised for the borrower so far (the last alert's sequence)")
    events_before_profile: int = Field(description="Events received before the loan profile")
