"""The inspection teams' capacity: visits per working day, working days, holidays.

A TOML file, versioned like the policy (see ``deploy/teams.example.toml``)::

    version = "teams-2026.11"

    [defaults]
    visits_per_day = 4
    working_days = ["mon", "tue", "wed", "thu", "fri"]
    holidays = ["2026-10-01", "2026-10-02"]
    extra_working_days = ["2026-09-27"]     # a Sunday worked in lieu (调休)

    [teams.T01]
    visits_per_day = 6
    holidays = ["2026-12-24"]               # added to the defaults' holidays

A team that is not listed gets the defaults. A team's ``visits_per_day`` and
``working_days`` replace the defaults'; its ``holidays`` and
``extra_working_days`` are added to them. A day is a working day when it is an
extra working day, or when its weekday is a working day and it is not a holiday;
a date may not be both a holiday and an extra working day.

Dates are calendar dates in the policy's time zone (like ``next_visit_due``),
written as TOML dates (``2026-10-01``) or strings (``"2026-10-01"``).

Errors are :class:`monitor._errors.ConfigError` naming the file and the key. The desk's planner and
exports, the backtest and ``monitor tune`` read the file alike (``monitor.desk.teams`` is the desk's
name for this module).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from monitor._errors import ConfigError
from monitor.config import load, parse

__all__ = ["WEEKDAYS", "Defaults", "TeamCapacity", "TeamEntry", "TeamsConfig", "load_teams", "parse_teams"]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = date.weekday()
MAX_VISITS_PER_DAY = 1000

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _calendar_date(value: Any) -> Any:
    """Only a TOML date or a ``YYYY-MM-DD`` string (pydantic alone would take numbers as timestamps)."""
    if isinstance(value, datetime):
        raise ValueError("must be a date without a time, like 2026-10-01")
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"not a date: {value!r} (write it like 2026-10-01)")


def _no_repeats(values: tuple[Any, ...]) -> tuple[Any, ...]:
    seen: set[Any] = set()
    for v in values:
        if v in seen:
            raise ValueError(f"{v} is listed twice")
        seen.add(v)
    return values


CalendarDate = Annotated[date, BeforeValidator(_calendar_date)]
Dates = Annotated[tuple[CalendarDate, ...], AfterValidator(_no_repeats)]
Weekdays = Annotated[tuple[Weekday, ...], AfterValidator(_no_repeats)]
VisitsPerDay = Annotated[int, Field(strict=True, ge=0, le=MAX_VISITS_PER_DAY)]
TeamId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^\S(.*\S)?$")]


def _disjoint(holidays: tuple[date, ...], extra: tuple[date, ...]) -> None:
    both = sorted(set(holidays) & set(extra))
    if both:
        raise ValueError(f"{both[0].isoformat()} is both a holiday and an extra working day")


class Defaults(BaseModel):
    """What every team gets unless its own table says otherwise."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    visits_per_day: VisitsPerDay = Field(description="Visits a team can make on one working day")
    working_days: Weekdays = Field(default=("mon", "tue", "wed", "thu", "fri"),
                                   description="Weekdays the teams work: mon, tue, wed, thu, fri, sat, sun")
    holidays: Dates = Field(default=(), description="Dates nobody works, even on a working weekday")
    extra_working_days: Dates = Field(default=(), description="Dates worked although their weekday is not")

    @model_validator(mode="after")
    def _consistent(self) -> Defaults:
        _disjoint(self.holidays, self.extra_working_days)
        return self


class TeamEntry(BaseModel):
    """One team's table: replaces visits_per_day / working_days, adds dates."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    visits_per_day: VisitsPerDay | None = None
    working_days: Weekdays | None = None
    holidays: Dates = Field(default=(), description="Added to the defaults' holidays")
    extra_working_days: Dates = Field(default=(), description="Added to the defaults' extra working days")

    @model_validator(mode="after")
    def _consistent(self) -> TeamEntry:
        _disjoint(self.holidays, self.extra_working_days)
        return self


@dataclass(frozen=True, slots=True)
class TeamCapacity:
    """One team's effective calendar and daily capacity."""

    team: str
    visits_per_day: int
    working_days: frozenset[int]  # date.weekday() numbers, Monday = 0
    holidays: frozenset[date]
    extra_working_days: frozenset[date]

    def is_working(self, day: date) -> bool:
        """Whether the team works on ``day``."""
        if day in self.extra_working_days:
            return True
        return day.weekday() in self.working_days and day not in self.holidays

    def visits_on(self, day: date) -> int:
        """How many visits the team can make on ``day`` (0 when it does not work)."""
        return self.visits_per_day if self.is_working(day) else 0

    def visits_between(self, start: date, end: date) -> int:
        """The capacity of the days ``start <= day < end``."""
        total = 0
        day = start
        while day < end:
            total += self.visits_on(day)
            day += timedelta(days=1)
        return total


class TeamsConfig(BaseModel):
    """The capacity configuration of all inspection teams."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1, description="Change it whenever anything here changes")
    defaults: Defaults
    teams: dict[TeamId, TeamEntry] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _teams_consistent(self) -> TeamsConfig:
        for name, entry in self.teams.items():
            try:
                _disjoint(self.defaults.holidays + entry.holidays,
                          self.defaults.extra_working_days + entry.extra_working_days)
            except ValueError as exc:
                raise ValueError(f"teams.{name}: {exc} (defaults and team combined)") from None
        return self

    @cached_property
    def _capacities(self) -> dict[str, TeamCapacity]:
        return {name: self._build(name) for name in self.teams}

    def _build(self, team: str) -> TeamCapacity:
        d = self.defaults
        entry = self.teams.get(team) or TeamEntry()
        per_day = d.visits_per_day if entry.visits_per_day is None else entry.visits_per_day
        days = d.working_days if entry.working_days is None else entry.working_days
        return TeamCapacity(team=team, visits_per_day=per_day,
                            working_days=frozenset(WEEKDAYS.index(w) for w in days),
                            holidays=frozenset(d.holidays + entry.holidays),
                            extra_working_days=frozenset(d.extra_working_days + entry.extra_working_days))

    def capacity(self, team: str) -> TeamCapacity:
        """The team's capacity; a team that is not listed gets the defaults."""
        found = self._capacities.get(team)
        return found if found is not None else self._build(team)

    def team_ids(self) -> list[str]:
        """The listed teams, sorted."""
        return sorted(self.teams)


def _wording(err: Any) -> str | None:
    """The teams file's own words for some errors (the others: monitor._errors.describe's)."""
    kind = err["type"]
    if kind == "literal_error":
        return f"must be one of {', '.join(WEEKDAYS)}, not {err['input']!r}"
    if kind == "int_type":
        return f"must be a whole number, not {err['input']!r}"
    if kind == "greater_than_equal":
        return f"must be 0 or more, not {err['input']!r}"
    if kind == "less_than_equal":
        return f"must be at most {MAX_VISITS_PER_DAY}, not {err['input']!r}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind in ("string_pattern_mismatch", "string_too_long"):
        return f"not a usable team name: {err['input']!r} (empty, over 100 characters or surrounded by spaces)"
    return None


def parse_teams(text: str, source: str = "teams") -> TeamsConfig:
    """Validate the TOML text of a teams file; raises :class:`ConfigError` naming ``source`` and the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    return parse(data, TeamsConfig.model_validate, source, wording=_wording)


def load_teams(path: str | Path) -> TeamsConfig:
    """Read and validate a teams file (TOML, or JSON by its suffix); raises :class:`ConfigError` naming the
    file and the key (through the one loader of configuration files, monitor.config)."""
    return load(path, TeamsConfig.model_validate, wording=_wording)
