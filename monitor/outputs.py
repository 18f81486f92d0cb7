"""The outputs of the decision core: alerts, schedule entries, borrower views.

Like the events, these pydantic models are the only definition of the output
contract; the JSON Schema is generated from them.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Alert", "AlertKind", "BorrowerView", "ScheduleEntry", "Signal", "TierName"]

TierName = Literal["normal", "watch", "warning", "severe"]
ClassificationName = Literal["normal", "special_mention", "substandard", "doubtful", "loss"]


class AlertKind(StrEnum):
    raised = "raised"  # from normal to a warning tier
    escalated = "escalated"  # to a higher warning tier
    de_escalated = "de_escalated"  # to a lower warning tier
    cleared = "cleared"  # back to normal


class Signal(BaseModel):
    """One rule that holds, with the evidence that made it hold."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: str = Field(description="Rule id, e.g. overdue.dpd")
    family: str = Field(description="rating, lawsuit, bureau, overdue, inspection or combo")
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
    reason: str = Field(description="Why the due date is what it is")
    policy_version: str


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
