"""The inspection teams' capacity file, as the desk knows it: :mod:`monitor.teams` (shared with the backtest
and ``monitor tune``, which import nothing from the desk)."""

from __future__ import annotations

from monitor.teams import WEEKDAYS, Defaults, TeamCapacity, TeamEntry, TeamsConfig, load_teams, parse_teams

__all__ = ["WEEKDAYS", "Defaults", "TeamCapacity", "TeamEntry", "TeamsConfig", "load_teams", "parse_teams"]
