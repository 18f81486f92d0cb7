"""The periodic monitoring report as data: the JSON form, and what the HTML and CSV show.

Amounts are CNY (exposure as loaded in the borrowers' profiles), rounded to
the fen; shares are fractions (0.25 = 25 %), rounded to 6 decimals. Instants
are ISO 8601 in UTC (``Z``); days are calendar dates in the policy's time zone.
Every list is sorted, so that the same input always gives the same bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SerializerFunctionWrapHandler, model_serializer
from typing_extensions import TypedDict

from monitor._construct import fill, private, unset

__all__ = [
    "CaseRow", "ClassMigration", "DataQuality", "DefaultRow", "Disposal", "LastChange", "NewDefaults",
    "PortfolioPoint", "QualityRow", "RatioPoint", "RatioRow", "Ratios", "Trend",
    "Changes", "Concentration", "DataHealth", "Evidence", "FeedRow", "GroupRow", "InputFile", "Inspections",
    "KindRow", "Meta", "Migration", "Portfolio", "RejectRow", "Report", "RuleRow", "Rules", "TeamRow",
    "TierCounts", "TopExposure", "TrendDay", "WarningList", "WarningRow",
]

TierName = Literal["normal", "watch", "warning", "severe"]
RatioKey = Literal["npl", "overdue", "special_mention", "watch_list"]
FORMAT = "monitor-report/2"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InputFile(_Model):
    role: str = Field(description="alerts, borrowers, schedule_history, rejects, summary, events, policy, capacity")
    name: str = Field(description="File name (without directory)")
    sha256: str
    bytes: int


class Meta(_Model):
    format: Literal["monitor-report/2"] = FORMAT
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
    names_masked: bool = Field(False, description="Borrower names masked (--mask-names): 张** / 某某公司")
    cases_known: bool = Field(False, description="Built by the desk with its cases: disposal status is known")
    current_signals: bool = Field(False, description="The warning list shows the signals that hold at the end "
                                  "(the replay's signals.jsonl at its as-of); false: those of the last change")
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
    name: str | None = None
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
    hhi_industry: float = Field(0.0, description="Herfindahl-Hirschman index of the portfolio's exposure by "
                                "industry: the sum of squared shares, 0..1 (1 = one industry)")
    hhi_branch: float = Field(0.0, description="... by branch")
    hhi_borrower: float = Field(0.0, description="... by borrower")
    top10_portfolio_share: float = Field(0.0, description="Share of the ten largest borrowers in the portfolio")


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


class RatioPoint(_Model):
    """One ratio at one instant, by count and by exposure."""

    key: RatioKey = Field(description="npl: classification substandard or worse; overdue: any days past due; "
                          "special_mention: classification special mention; watch_list: tier watch or above")
    borrowers: int
    exposure: float
    count_ratio: float = Field(description="borrowers / borrowers in the portfolio")
    exposure_ratio: float = Field(description="exposure / the portfolio's exposure")


class PortfolioPoint(_Model):
    """The portfolio at one instant: size, tiers and the four ratios."""

    label: str = Field(description="The period (2025-03) or day the instant ends")
    day: str = Field(description="The last day included")
    borrowers: int
    exposure: float
    tiers: TierCounts
    ratios: list[RatioPoint]


class RatioRow(_Model):
    key: RatioKey
    borrowers: int
    exposure: float
    count_ratio: float
    exposure_ratio: float
    mom_count: float | None = Field(description="环比: change of count_ratio since the previous period's end "
                                    "(a difference of fractions: 0.001 = 0.1 percentage point)")
    mom_exposure: float | None
    yoy_count: float | None = Field(description="同比: change since the same period a year earlier")
    yoy_exposure: float | None


class Ratios(_Model):
    rows: list[RatioRow]
    previous: PortfolioPoint | None = Field(description="The end of the previous period (none before the history)")
    year_ago: PortfolioPoint | None = Field(description="The end of the same period a year earlier")


class DefaultRow(TypedDict):
    borrower_id: str
    name: str | None
    exposure: float
    branch: str
    industry: str
    grade: str
    min_classification: str
    days_past_due: int
    trigger: str  # dpd, grade or both
    since: str | None  # the day the default began (from days past due or the rating change)


class NewDefaults(_Model):
    """Borrowers in default at the end but not at the start: classification substandard or worse (days
    past due over the floor) or grade D."""

    borrowers: int
    exposure: float
    rows: list[DefaultRow]


class ClassMigration(_Model):
    start: list[str] = Field(description="Rows: classification floor at the start; 'new' = no profile then")
    end: list[str] = Field(description="Columns: classification floor at the end")
    counts: list[list[int]]
    exposure: list[list[float]]


class Trend(_Model):
    months: list[PortfolioPoint] = Field(description="Month ends, oldest first (at most 12; the last is the "
                                         "period's end)")


class CaseRow(_Model):
    status: str = Field(description="open, acknowledged, release_requested, released, or none (no case)")
    borrowers: int
    exposure: float


class Disposal(_Model):
    """Disposal of the warnings: the desk's cases of the warning-list borrowers (known only when the
    desk builds the report)."""

    known: bool
    rows: list[CaseRow]


class QualityRow(_Model):
    item: str = Field(description="bureau_missing, bureau_stale, profile_stale, name_missing")
    borrowers: int
    exposure: float
    on_list: int = Field(description="... of them on the warning list")


class DataQuality(_Model):
    bureau_max_days: int
    profile_max_days: int
    rows: list[QualityRow]


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
    class_migration: ClassMigration | None = None
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


class LastChange(TypedDict):
    """The borrower's latest change of tier up to the end, and the evidence recorded with it."""

    day: str
    kind: str
    from_tier: str
    to_tier: str
    signals: list[Evidence]


class WarningRow(TypedDict):
    """One borrower of the warning list (a plain mapping: the list may hold a hundred thousand)."""

    rank: int
    borrower_id: str
    name: str | None  # from the loan profile (masked with --mask-names)
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
    signals: list[Evidence]  # the signals that hold at the end, with their current values
    last_change: LastChange  # the latest change of tier and the signals recorded with it
    next_visit_due: str | None
    visit_overdue: bool
    case_status: str | None  # the desk's case: open, acknowledged, release_requested, released; none offline
    case_owner: str | None  # the officer who owns the case; none offline
    data_quality: list[str]  # items of the borrower's data (bureau_stale, ...)


class WarningList(_Model):
    borrowers: int
    exposure: float
    tiers: TierCounts
    # the report builds this from typed arrays with ``model_construct`` (validating a hundred
    # thousand rows again would cost seconds); the schema still describes and serialises them
    rows: list[WarningRow] = Field(description="Every borrower at watch or above: highest tier, largest exposure first")
    # the rows as columns, their signals as the replay wrote them (monitor.reports._rowlists.RowLists): when the build
    # sets it, ``rows`` is made from it when first read (or dumped); the forms read it instead (_rowlists.lists_of)
    _lists: Any = PrivateAttr(default=None)

    if not TYPE_CHECKING:
        def __getattr__(self, name: str) -> Any:
            if name == "rows":
                lists = private(self, "_lists")
                if lists is not None:
                    rows = lists.rows()
                    fill(self, "rows", rows)
                    return rows
            return super().__getattr__(name)

    def borrower_ids(self) -> list[str]:
        """The rows' borrower ids, in order (without making the rows)."""
        lists = private(self, "_lists") if unset(self, "rows") else None
        return list(lists.cols["borrower_id"]) if lists is not None else [r["borrower_id"] for r in self.rows]

    @model_serializer(mode="wrap")
    def _whole(self, handler: SerializerFunctionWrapHandler) -> Any:
        if unset(self, "rows"):
            self.rows  # noqa: B018 (made)
        return handler(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WarningList):
            return NotImplemented
        return type(self) is type(other) and (self.borrowers, self.exposure, self.tiers, self.rows) == \
            (other.borrowers, other.exposure, other.tiers, other.rows)

    __hash__ = None  # type: ignore[assignment]


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
    expected_days: float | None = Field(None, description="The feed's expected cadence plus grace (configuration); "
                                        "none: events come when something happens")
    status: Literal["ok", "late", "no_data", "event_driven"] = "ok"
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
    ratios: Ratios
    trend: Trend
    portfolio: Portfolio
    changes: Changes
    new_defaults: NewDefaults
    disposal: Disposal
    data_quality: DataQuality
    warning_list: WarningList
    rules: Rules
    inspections: Inspections
    data_health: DataHealth
