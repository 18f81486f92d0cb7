"""The policy model: every threshold, level, window and interval, validated.

Pure: no file access here (``monitor.rules.loader`` reads files). Validation
errors name the offending key, e.g. ``overdue.dpd.bands[1].min: ...``.
"""

from __future__ import annotations

from enum import IntEnum
from functools import cached_property
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from monitor._errors import PolicyError, describe
from monitor.events import GRADES, CaseType, InspectionOutcome, LawsuitRole, LawsuitStage, Mitigation

__all__ = ["Level", "LEVEL_NAMES", "Policy", "parse_policy"]


class Level(IntEnum):
    """Warning levels, lowest to highest."""

    normal = 0
    watch = 1
    warning = 2
    severe = 3


LEVEL_NAMES: tuple[str, ...] = tuple(level.name for level in Level)
LevelName = Annotated[str, Field(pattern="^(normal|watch|warning|severe)$")]
SignalLevelName = Annotated[str, Field(pattern="^(watch|warning|severe)$")]
Days = Annotated[int, Field(ge=1, le=3650)]
Ratio = Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Rule(_Strict):
    enabled: bool = True
    level: SignalLevelName

    @cached_property
    def lvl(self) -> int:
        return int(Level[self.level])


class Band(_Strict):
    min: Annotated[int, Field(ge=1)]
    level: SignalLevelName


class _BandedRule(_Strict):
    enabled: bool = True
    bands: list[Band] = Field(min_length=1)

    @field_validator("bands")
    @classmethod
    def _increasing(cls, bands: list[Band]) -> list[Band]:
        for prev, cur in zip(bands, bands[1:]):
            if cur.min <= prev.min:
                raise ValueError("band minimums must increase")
            if Level[cur.level] < Level[prev.level]:
                raise ValueError("band levels must not decrease")
        return bands

    @cached_property
    def table(self) -> tuple[tuple[int, int], ...]:
        """(min, level) pairs, highest band first."""
        return tuple((b.min, int(Level[b.level])) for b in reversed(self.bands))

    @cached_property
    def mins(self) -> tuple[int, ...]:
        """Band minimums, ascending."""
        return tuple(b.min for b in self.bands)


class DowngradeOne(_Rule):
    notches: Annotated[int, Field(ge=1, le=9)] = 1
    active_days: Days = 180


class DowngradeTwo(_Rule):
    notches: Annotated[int, Field(ge=1, le=9)] = 2
    lookback_days: Days = 180
    active_days: Days = 180


_G = TypeVar("_G", list[str], dict[str, int])


def _known_grades(grades: _G) -> _G:
    """``grades`` (a list, or a mapping by grade) when each is a grade; else the first unknown one named."""
    for g in grades:
        if g not in GRADES:
            raise ValueError(f"unknown grade {g!r}; grades are {', '.join(GRADES)}")
    return grades


class GradeSet(_Rule):
    grades: list[str] = Field(min_length=1)

    @field_validator("grades")
    @classmethod
    def _known(cls, grades: list[str]) -> list[str]:
        return _known_grades(grades)


class RatingRules(_Strict):
    downgrade_1: DowngradeOne
    downgrade_2: DowngradeTwo
    weak_grade: GradeSet
    default_grade: GradeSet

    @cached_property
    def flagged_grades(self) -> frozenset[str]:
        """Grades for which a grade rule may hold."""
        return frozenset(self.weak_grade.grades) | frozenset(self.default_grade.grades)


class ClaimRule(_Rule):
    min_ratio: Ratio


class StageRule(_Rule):
    stages: list[LawsuitStage] = Field(min_length=1)


class CaseTypeRule(_Rule):
    case_types: list[CaseType] = Field(min_length=1)


class LawsuitRules(_Strict):
    roles: list[LawsuitRole] = Field(min_length=1)
    active_days: Days = 365
    claim_large: ClaimRule
    claim_material: ClaimRule
    enforcement: StageRule
    dishonest_debtor: StageRule
    criminal: CaseTypeRule


class MinRule(_Rule):
    min: Annotated[int, Field(ge=1)]


class InquiriesRule(MinRule):
    """Hard inquiries in 30 days at or above ``min``; a borrower whose grade is a key of ``min_by_grade``
    has that bar instead (e.g. a lower bar for the weaker grades, for whom multi-lending means more)."""

    min_by_grade: dict[str, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)

    @field_validator("min_by_grade")
    @classmethod
    def _known(cls, bars: dict[str, int]) -> dict[str, int]:
        return _known_grades(bars)

    def bar(self, grade: str | None) -> int:
        """The bar for a borrower of ``grade`` (``min`` when the grade has no bar of its own or is unknown)."""
        return self.min_by_grade.get(grade, self.min) if grade is not None and self.min_by_grade else self.min


class DebtGrowthRule(_Rule):
    min_ratio: Ratio
    max_gap_days: Days = 180


class RepeatedRule(_Rule):
    """A bureau figure at or above ``min`` on the latest report and on the one before it."""

    min: Annotated[int, Field(ge=1)]
    max_gap_days: Days = 45  # the report before is at most this many days older


class BureauRules(_Strict):
    external_overdue: _BandedRule
    inquiries: InquiriesRule
    debt_growth: DebtGrowthRule
    guarantees: ClaimRule
    # optional (absent: the rule is off; policies written before them still load)
    external_overdue_repeated: RepeatedRule | None = None
    inquiries_repeated: RepeatedRule | None = None


class OverdueRules(_Strict):
    dpd: _BandedRule


class OutcomeRule(_Rule):
    outcomes: list[InspectionOutcome] = Field(min_length=1)
    active_days: Days = 90


class InspectionRules(_Strict):
    concern: OutcomeRule
    deteriorated: OutcomeRule

    @cached_property
    def flagged_outcomes(self) -> frozenset[str]:
        """Outcomes for which an inspection rule may hold."""
        return frozenset(o.value for o in (*self.concern.outcomes, *self.deteriorated.outcomes))


class MultiSource(_Strict):
    enabled: bool = True
    min_families: Annotated[int, Field(ge=2, le=5)] = 2
    min_level: SignalLevelName = "watch"
    raise_levels: Annotated[int, Field(ge=1, le=3)] = 1
    max_level: SignalLevelName = "severe"  # the combination never raises the tier above this level

    @cached_property
    def min_lvl(self) -> int:
        return int(Level[self.min_level])

    @cached_property
    def max_lvl(self) -> int:
        return int(Level[self.max_level])


class GradeSignal(_Strict):
    """A signal at ``min_level`` or above, from one of ``families``, on a borrower whose grade is one of
    ``grades``, raises the computed tier to ``level``."""

    enabled: bool = True
    grades: list[str] = Field(min_length=1)
    families: list[Literal["rating", "lawsuit", "bureau", "overdue", "inspection"]] = Field(min_length=1)
    min_level: SignalLevelName = "watch"
    level: SignalLevelName = "warning"

    _known = field_validator("grades")(GradeSet._known.__func__)  # type: ignore[attr-defined]

    @cached_property
    def min_lvl(self) -> int:
        return int(Level[self.min_level])

    @cached_property
    def lvl(self) -> int:
        return int(Level[self.level])


class GradeCap(_Strict):
    """On a borrower whose grade is one of ``grades``, a computed warning is lowered to ``level`` (severe
    stays severe)."""

    enabled: bool = True
    grades: list[str] = Field(min_length=1)
    level: Literal["watch"] = "watch"

    _known = field_validator("grades")(GradeSet._known.__func__)  # type: ignore[attr-defined]

    @cached_property
    def lvl(self) -> int:
        return int(Level[self.level])


class ComboRules(_Strict):
    multi_source: MultiSource
    grade_signal: GradeSignal | None = None  # optional (absent: off; policies written before it still load)
    grade_cap: GradeCap | None = None  # optional (absent: off)


class Classification(_Strict):
    special_mention: Annotated[int, Field(ge=1)] = 1
    substandard: Annotated[int, Field(ge=1)] = 91
    doubtful: Annotated[int, Field(ge=1)] = 271
    loss: Annotated[int, Field(ge=1)] = 361

    @model_validator(mode="after")
    def _increasing(self) -> Classification:
        if not (self.special_mention < self.substandard < self.doubtful < self.loss):
            raise ValueError("special_mention < substandard < doubtful < loss must hold")
        return self

    def of(self, dpd: int) -> str:
        """The minimum classification for a highest DPD."""
        if dpd >= self.loss:
            return "loss"
        if dpd >= self.doubtful:
            return "doubtful"
        if dpd >= self.substandard:
            return "substandard"
        if dpd >= self.special_mention:
            return "special_mention"
        return "normal"


class TierDays(_Strict):
    """A number of days for each warning level."""

    watch: Days
    warning: Days
    severe: Days

    def of(self, level: int) -> int:
        """The value for a level (1 watch, 2 warning, 3 severe)."""
        return (self.watch, self.warning, self.severe)[level - 1]


class CureDays(_Strict):
    """The cure period of each level: the effective tier falls from a level only after the
    computed tier has stayed below it for that many days (0: at once)."""

    watch: Annotated[int, Field(ge=0, le=3650)]
    warning: Annotated[int, Field(ge=0, le=3650)]
    severe: Annotated[int, Field(ge=0, le=3650)]

    def of(self, level: int) -> int:
        return (self.watch, self.warning, self.severe)[level - 1]


ClassificationName = Literal["special_mention", "substandard", "doubtful", "loss"]


class Visits(_Strict):
    """When on-site visits are due: the normal interval by the loan's profile, the response
    deadline and continuing cadence of each warning level, and the hand-over to workout."""

    first_visit_days: Annotated[int, Field(ge=0, le=3650)] = 30
    min_interval_days: Days = 30
    max_interval_days: Days = 360
    large_exposure: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 10_000_000
    large_exposure_factor: Ratio = 0.5
    base_days: dict[str, Days]
    mitigation_factor: dict[Mitigation, Ratio]
    response_days: TierDays = TierDays(watch=30, warning=10, severe=5)
    cadence_days: TierDays = TierDays(watch=90, warning=60, severe=30)
    workout_enabled: bool = True
    workout_after_days: Annotated[int, Field(ge=0, le=3650)] = 30
    workout_classification: ClassificationName = "substandard"
    workout_grades: list[str] = Field(default_factory=lambda: ["D"])

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "tier_max_days" in data:
            raise ValueError("tier_max_days is replaced by response_days (the deadline of the visit due when "
                             "the tier rises) and cadence_days (the longest interval while the tier lasts)")
        return data

    @field_validator("base_days")
    @classmethod
    def _all_grades(cls, base: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(base) - set(GRADES))
        if unknown:
            raise ValueError(f"unknown grade {unknown[0]!r}; grades are {', '.join(GRADES)}")
        missing = [g for g in GRADES if g not in base]
        if missing:
            raise ValueError(f"missing grade {missing[0]!r}: every grade needs a base interval")
        return base

    @field_validator("mitigation_factor")
    @classmethod
    def _all_mitigations(cls, factors: dict[Mitigation, float]) -> dict[Mitigation, float]:
        missing = [m.value for m in Mitigation if m not in factors]
        if missing:
            raise ValueError(f"missing mitigation {missing[0]!r}")
        return factors

    @field_validator("workout_grades")
    @classmethod
    def _known(cls, grades: list[str]) -> list[str]:
        return _known_grades(grades)

    @model_validator(mode="after")
    def _bounds(self) -> Visits:
        if self.min_interval_days > self.max_interval_days:
            raise ValueError("min_interval_days must not exceed max_interval_days")
        for name in ("response_days", "cadence_days"):
            d = getattr(self, name)
            if not d.watch >= d.warning >= d.severe:
                raise ValueError(f"{name}: a higher level must not wait longer (watch >= warning >= severe)")
        r, c = self.response_days, self.cadence_days
        for level in ("watch", "warning", "severe"):
            if getattr(r, level) > getattr(c, level):
                raise ValueError(f"response_days.{level} must not exceed cadence_days.{level}: the visit due "
                                 "on a rise comes no later than the level's continuing cadence")
        return self

    @cached_property
    def workout_grade_set(self) -> frozenset[str]:
        return frozenset(self.workout_grades)

    def response(self, level: int) -> int | None:
        """Days within which a visit is due when the effective tier rises to ``level`` (None: normal)."""
        return self.response_days.of(level) if level > 0 else None

    def cadence(self, level: int) -> int | None:
        """The longest interval between visits while the borrower stays at ``level`` (None: normal)."""
        return self.cadence_days.of(level) if level > 0 else None

    def normal_interval(self, grade: str | None, exposure: float, mitigation: str) -> int:
        """clamp(floor(base x exposure factor x mitigation factor), min, max) in days."""
        base = self.base_days[grade] if grade is not None else self.base_days["D"]
        ef = self.large_exposure_factor if exposure >= self.large_exposure else 1.0
        mf = self.mitigation_factor[Mitigation(mitigation)]
        days = int(base * ef * mf)
        return max(self.min_interval_days, min(self.max_interval_days, days))

    def interval(self, level: int, grade: str | None, exposure: float, mitigation: str) -> int:
        """The interval in days after a visit at a tier: min(normal interval, the tier's cadence)."""
        normal = self.normal_interval(grade, exposure, mitigation)
        cadence = self.cadence(level)
        return normal if cadence is None else min(normal, cadence)


class Overrides(_Strict):
    """Limits on officers' tier overrides (``tier_override`` events)."""

    floor_max_days: Days = 365
    cap_max_days: Days = 180

    def max_days(self, direction: str) -> int:
        return self.floor_max_days if direction == "floor" else self.cap_max_days


class Policy(_Strict):
    """A complete warning policy. Build it with :func:`load_policy`."""

    version: Annotated[str, Field(min_length=1, max_length=64)]
    timezone: str = "Asia/Shanghai"
    cure_days: CureDays = CureDays(watch=90, warning=90, severe=90)
    duplicate_window_days: Annotated[int, Field(ge=1, le=365)] = 30
    duplicate_memory: Annotated[int, Field(ge=1, le=100_000)] = 256
    rating: RatingRules
    lawsuit: LawsuitRules
    bureau: BureauRules
    overdue: OverdueRules
    inspection: InspectionRules
    combo: ComboRules
    classification: Classification = Classification()
    visits: Visits
    overrides: Overrides = Overrides()

    @field_validator("cure_days", mode="before")
    @classmethod
    def _one_cure_for_all(cls, value: Any) -> Any:
        # a single number (the form before per-level cure periods) applies to every level
        if isinstance(value, int) and not isinstance(value, bool):
            return {"watch": value, "warning": value, "severe": value}
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def rule_table(self) -> list[dict[str, Any]]:
        """Every rule with its family, level(s), window and switch, for display."""
        rows: list[dict[str, Any]] = []
        for family_name in ("rating", "lawsuit", "bureau", "overdue", "inspection", "combo"):
            family = getattr(self, family_name)
            for name, rule in family:
                if not isinstance(rule, BaseModel):
                    continue
                params = rule.model_dump(mode="json", exclude={"enabled", "level"})
                level = getattr(rule, "level", None)
                if level is None and "bands" in params:
                    level = " / ".join(f"{b['level']}@{b['min']}" for b in params.pop("bands"))
                if family_name == "combo" and hasattr(rule, "raise_levels"):
                    level = f"+{rule.raise_levels}"
                rows.append(
                    {
                        "rule": f"{family_name}.{name}",
                        "enabled": rule.enabled,
                        "level": level,
                        "params": params,
                    }
                )
        return rows


def parse_policy(data: dict[str, Any], origin: str = "policy") -> Policy:
    """Validate a policy mapping; raises :class:`PolicyError` naming the key."""
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(f"{origin}: {describe(exc, top='(top level)')}") from None
