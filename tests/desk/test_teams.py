"""The teams' capacity configuration: merging, calendars and specific errors."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from monitor._errors import ConfigError
from monitor.desk.teams import load_teams, parse_teams

ROOT = Path(__file__).resolve().parents[2]

BASE = """
version = "teams-2026.11"
[defaults]
visits_per_day = 4
working_days = ["mon", "tue", "wed", "thu", "fri"]
holidays = ["2026-10-01", "2026-10-02"]
extra_working_days = [2026-09-27]

[teams.T01]
visits_per_day = 6
holidays = ["2026-12-24"]

[teams.T02]
working_days = ["mon", "tue", "wed", "thu", "fri", "sat"]
"""


def test_a_team_overrides_capacity_and_adds_holidays():
    cfg = parse_teams(BASE, "teams.toml")
    t01 = cfg.capacity("T01")
    assert t01.visits_per_day == 6
    assert t01.holidays == {date(2026, 10, 1), date(2026, 10, 2), date(2026, 12, 24)}
    assert t01.visits_on(date(2026, 12, 24)) == 0  # Thursday, the team's own holiday
    assert t01.visits_on(date(2026, 12, 23)) == 6
    assert t01.visits_on(date(2026, 10, 1)) == 0  # the defaults' holiday still applies
    assert cfg.capacity("T02").visits_on(date(2026, 12, 26)) == 4  # a Saturday, T02 works Saturdays
    assert cfg.capacity("T01").visits_on(date(2026, 12, 26)) == 0
    assert cfg.team_ids() == ["T01", "T02"]


def test_an_unlisted_team_gets_the_defaults():
    cfg = parse_teams(BASE, "teams.toml")
    other = cfg.capacity("T99")
    assert other.team == "T99"
    assert other.visits_per_day == 4
    assert other.holidays == {date(2026, 10, 1), date(2026, 10, 2)}
    assert other.visits_on(date(2026, 12, 24)) == 4


def test_working_days_holidays_and_extra_working_days():
    cap = parse_teams(BASE, "teams.toml").capacity("T99")
    week = [date(2026, 11, 30) + timedelta(days=i) for i in range(7)]  # Monday .. Sunday
    assert [cap.is_working(d) for d in week] == [True] * 5 + [False] * 2
    assert cap.is_working(date(2026, 9, 27))  # a Sunday worked in lieu
    assert cap.visits_on(date(2026, 9, 27)) == 4
    assert not cap.is_working(date(2026, 10, 1))  # a Thursday holiday
    # October 2026: 22 weekdays, 2 of them holidays, plus nothing extra in October
    assert cap.visits_between(date(2026, 10, 1), date(2026, 11, 1)) == 20 * 4
    assert cap.visits_between(date(2026, 9, 27), date(2026, 9, 28)) == 4


def test_zero_capacity_is_a_team_that_does_not_visit():
    cfg = parse_teams(BASE.replace("visits_per_day = 6", "visits_per_day = 0"), "teams.toml")
    assert cfg.capacity("T01").visits_on(date(2026, 12, 1)) == 0


def test_the_example_file_in_deploy_is_valid():
    cfg = load_teams(ROOT / "deploy" / "teams.example.toml")
    assert cfg.version
    assert cfg.defaults.visits_per_day > 0


def test_load_reads_a_file_and_names_it_in_errors(tmp_path):
    good = tmp_path / "teams.toml"
    good.write_text(BASE, encoding="utf-8")
    assert load_teams(good).capacity("T01").visits_per_day == 6
    bad = tmp_path / "bad.toml"
    bad.write_text(BASE.replace("visits_per_day = 6", "visits_per_day = -2"), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_teams(bad)
    assert str(err.value).startswith(str(bad) + ": teams.T01.visits_per_day: must be 0 or more")


def test_missing_or_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.toml: cannot read"):
        load_teams(tmp_path / "nope.toml")
    latin = tmp_path / "latin.toml"
    latin.write_bytes('version = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin\.toml: not UTF-8"):
        load_teams(latin)


@pytest.mark.parametrize(("edit", "message"), [
    (('"tue"', '"tues"'), "teams.toml: defaults.working_days[1]: must be one of mon, tue, wed, thu, fri, sat, sun, "
                          "not 'tues'"),
    (('"sat"]', '"Saturday"]'), "teams.toml: teams.T02.working_days[5]: must be one of mon, tue"),
    (("visits_per_day = 6", "visits_per_day = -1"), "teams.toml: teams.T01.visits_per_day: must be 0 or more, not -1"),
    (("visits_per_day = 6", "visits_per_day = 2.5"), "teams.toml: teams.T01.visits_per_day: must be a whole number"),
    (("visits_per_day = 6", 'visits_per_day = "6"'), "teams.toml: teams.T01.visits_per_day: must be a whole number"),
    (("visits_per_day = 6", "visits_per_day = 5000"), "teams.toml: teams.T01.visits_per_day: must be at most 1000"),
    (("visits_per_day = 6", "visit_per_day = 6"), "teams.toml: teams.T01.visit_per_day: unknown key (misspelt?)"),
    (("[defaults]", "[defaults]\nholiday = []"), "teams.toml: defaults.holiday: unknown key (misspelt?)"),
    (('"2026-12-24"', '"2026-13-24"'), "teams.toml: teams.T01.holidays[0]: not a date: '2026-13-24'"),
    (('"2026-12-24"', '"24/12/2026"'), "teams.toml: teams.T01.holidays[0]: not a date: '24/12/2026'"),
    (('"2026-12-24"', "20261224"), "teams.toml: teams.T01.holidays[0]: not a date: 20261224"),
    (('"2026-12-24"', "2026-12-24T09:00:00"), "teams.toml: teams.T01.holidays[0]: must be a date without a time"),
    (('"2026-12-24"', '"2026-12-24", 2026-12-24'), "teams.toml: teams.T01.holidays: 2026-12-24 is listed twice"),
    (('"fri"]', '"fri", "mon"]'), "teams.toml: defaults.working_days: mon is listed twice"),
    (('version = "teams-2026.11"', ""), "teams.toml: version: required"),
    (('version = "teams-2026.11"', 'version = ""'), "teams.toml: version: must not be empty"),
    (("visits_per_day = 4", ""), "teams.toml: defaults.visits_per_day: required"),
    (("[teams.T02]", '[teams." T02"]'), "teams.toml: teams.' T02': not a usable team name"),
    (("[teams.T02]", "[teams.T02]\nextra_working_days = [2026-10-01]"),
     "teams.toml: teams.T02: 2026-10-01 is both a holiday and an extra working day (defaults and team combined)"),
    (("extra_working_days = [2026-09-27]", "extra_working_days = [2026-10-02]"),
     "teams.toml: defaults: 2026-10-02 is both a holiday and an extra working day"),
    (("[teams.T02]", "[teams.T02"), "teams.toml: not valid TOML"),
])
def test_errors_name_the_file_and_the_key(edit, message):
    old, new = edit
    assert old in BASE
    with pytest.raises(ConfigError) as err:
        parse_teams(BASE.replace(old, new, 1), "teams.toml")
    assert str(err.value).startswith(message), str(err.value)


def test_several_errors_are_reported_together():
    text = BASE.replace('"tue"', '"tues"').replace("visits_per_day = 6", "visits_per_day = -1")
    with pytest.raises(ConfigError) as err:
        parse_teams(text, "teams.toml")
    assert "defaults.working_days[1]" in str(err.value)
    assert "teams.T01.visits_per_day" in str(err.value)


def test_the_configuration_is_immutable():
    cfg = parse_teams(BASE, "teams.toml")
    with pytest.raises(ValueError):
        cfg.version = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        cfg.capacity("T01").visits_per_day = 9  # type: ignore[misc]
