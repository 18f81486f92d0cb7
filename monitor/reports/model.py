"""The periodic monitoring report as data: the JSON form, and what the HTML and CSV show.

Amounts are CNY (exposure as loaded in the borrowers' profiles), rounded to
the fen; shares are fractions (0.25 = 25 %), rounded to 6 decimals. Instants
are ISO 8601 in UTC (``Z``); days are calendar dates in the policy's time zone.
Every list is sorted, so that the same input always gives the same bytes.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict

__all__ = [
    "Changes", "Concentration", "DataHealth", "Evidence", "FeedRow", "GroupRow", "InputFile", "Inspections",
    "KindRow", "Meta", "Migration", "Portfolio", "RejectRow", "Report", "RuleRow", "Rules", "TeamRow",
    "TierCounts", "TopExposure", "TrendDay", "WarningList", "WarningRow",
]

TierName = Literal["normal", "watch", "warning", "severe"]
FORMAT = "monitor-report/1"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InputFile(_Model):
    role: str = Field(description="alerts, borrowers, schedule_history, rejects, summary, events, policy, capacity")
    name: str = Field(description="File name (without directory)")
    sha256: str
    bytes: int


class Meta(_Model):
    format: Literal["monitor-report/1"] = FORMAT
    period: Literal["day", "week", "month"]
    label: str = Field(description="2025-12-31, 2025-W52 or 2025-12")
    first_day: str
    last_day: str = Field(description="The as-of date: the period ends at the end of this day")
    timezone: str
    start: str = Field(description="The first instant of the period")
    end: str = Field(description="The end of the as-of date (exclusive)")
    as_of: str = Field(description="The instant the figures hold at: the end, or the replay's as-of if earlier")
    complete: bool = Field(description="False when the replay ends before the end of the as-of date")
    replay_as_of: str
    policy_version: str
    inputs: list[InputFile]


class TierCounts(_Model):
    normal: int = 0
    watch: int = 0
    warning: int = 0
    severe: int = 0


class GroupRow(_Model):
    key: str
    borrowers: int
    exposure: float
    exposure_share: float = Field(description="Share of the portfolio's exposure")
    tiers: TierCounts = Field(description="Borrowers by tier")
    exposure_watch_or_above: float


class TopExposure(_Model):
    rank: int
    borrower_id: str
    tier: TierName
    exposure: float
    share: float = Field(description="Share of the exposure at warning or above")
    cumulative_share: float
    branch: str
    segment: str
    industry: str


class Concentration(_Model):
    borrowers: int = Field(description="Borrowers at warning or above")
    exposure: float
    portfolio_share: float
    top10_share: float = Field(description="Share of the ten largest in the exposure at warning or above")
    top: list[TopExposure]


class Portfolio(_Model):
    borrowers: int = Field(description="Borrowers with a loan profile at the as-of instant")
    exposure: float
    without_profile: int = Field(description="Borrowers with events but no loan profile yet (not counted above)")
    by_tier: list[GroupRow]
    by_grade: list[GroupRow]
    by_classification: list[GroupRow]
    by_segment: list[GroupRow]
    by_branch: list[GroupRow]
    by_industry: list[GroupRow]
    concentration: Concentration


class KindRow(_Model):
    kind: Literal["raised", "escalated", "de_escalated", "cleared"]
    alerts: int
    borrowers: int
    exposure: float = Field(description="Exposure of those borrowers at the as-of instant")


class Migration(_Model):
    start: list[str] = Field(description="Rows: tier at the start of the period; 'new' = no profile then")
    end: list[TierName] = Field(description="Columns: tier at the as-of instant")
    counts: list[list[int]]
    exposure: list[list[float]]


class TrendDay(_Model):
    day: str
    tiers: TierCounts = Field(description="Borrowers by tier at the end of the day")


class Changes(_Model):
    by_kind: list[KindRow]
    alerts: int
    watch_or_above_start: int
    watch_or_above_end: int
    migration: Migration
    trend: list[TrendDay]


class Evidence(TypedDict):
    """A signal recorded with a change of tier: the alert's evidence, as the replay wrote it."""

    rule: str
    family: str
    level: str
    since: str
    values: dict[str, Any]
    thresholds: dict[str, Any]
    event_ids: list[str]


class WarningRow(TypedDict):
    """One borrower of the warning list (a plain mapping: the list may hold a hundred thousand)."""

    rank: int
    borrower_id: str
    tier: TierName
    tier_at_start: str  # tier at the start of the period, or 'new'
    exposure: float
    branch: str
    team: str
    segment: str
    industry: str
    grade: str
    min_classification: str
    tier_since: str  # day of the change to this tier
    days_at_tier: int
    rules: list[Evidence]  # the signals recorded with the latest change of tier
    next_visit_due: str | None
    visit_overdue: bool
    case_owner: str | None  # the officer who owns the case; none offline


class WarningList(_Model):
    borrowers: int
    exposure: float
    tiers: TierCounts
    # the report builds this from typed arrays with ``model_construct`` (validating a hundred
    # thousand rows again would cost seconds); the schema still describes and serialises them
    rows: list[WarningRow] = Field(description="Every borrower at watch or above: highest tier, largest exposure first")


class RuleRow(_Model):
    rule: str
    family: str
    level: str
    enabled: bool
    alerts: int = Field(description="Alerts in the period whose evidence includes the rule")
    borrowers: int = Field(description="Distinct borrowers of those alerts")
    exposure: float
    newly_held: int = Field(description="Borrowers on which the rule started to hold in the period")
    on_list: int = Field(description="Warning-list borrowers whose latest change of tier cites the rule")
    on_list_exposure: float


class Rules(_Model):
    rows: list[RuleRow]


class TeamRow(_Model):
    team: str
    due: int = Field(description="Visits that fell due in the period")
    done: int = Field(description="Visits made in the period")
    done_on_time: int = Field(description="... on or before the due date then in force")
    on_time_rate: float | None = Field(description="done_on_time / done")
    overdue: int = Field(description="Borrowers whose visit is overdue at the as-of instant")
    planned_next: int = Field(description="Visits due in the next period")
    capacity_per_day: float | None
    capacity_next: float | None = Field(description="capacity_per_day x working days of the next period")
    load: float | None = Field(description="(planned_next + overdue) / capacity_next")


class Inspections(_Model):
    next_first_day: str
    next_last_day: str
    next_working_days: int
    capacity_configured: bool
    outcomes: dict[str, int] = Field(description="Visits made in the period by outcome")
    teams: list[TeamRow]
    total: TeamRow


class FeedRow(_Model):
    feed: str
    events: int = Field(description="Distinct events in the period")
    duplicates: int = Field(description="Copies of an event already counted")
    newest: str | None = Field(description="The newest event up to the as-of instant")
    age_hours: float | None = Field(description="Hours from the newest event to the as-of instant")
    after_as_of: int = Field(description="Events in the files dated after the as-of instant (not used)")


class RejectRow(_Model):
    reason: str
    lines: int


class DataHealth(_Model):
    lines_read: int
    rejected: int
    feeds: list[FeedRow]
    rejects: list[RejectRow] = Field(description="Lines the replay rejected, by reason (whole input)")


class Report(_Model):
    """The periodic monitoring report. ``model_dump_json()`` is the JSON form."""

    meta: Meta
    portfolio: Portfolio
    changes: Changes
    warning_list: WarningList
    rules: Rules
    inspections: Inspections
    data_health: DataHealth
