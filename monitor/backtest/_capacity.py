"""How the teams kept up: the visits their capacity let them make, how late, and what they still owe.

With a teams file the backtest makes the visits as the teams' capacity allows
and the engine goes on from the visits actually made (``_teams``). Here, per
team and in total (visits due before the history are left out, as in the
workload): the visits made, those made after their due date (late: a later
local date), the days late (mean over all visits made, and the 90th
percentile), the visits due by the as-of instant and not made (owed), the
capacity over the history (working days times visits per day) and the
utilisation (visits made / capacity).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from monitor.backtest._labels import CAPACITY_MODEL
from monitor.teams import TeamsConfig

__all__ = ["MODEL", "capacity_figures"]

MODEL = CAPACITY_MODEL["en"]


def _p90(days: dict[int, int]) -> int | None:
    """The 90th percentile (nearest rank) of a histogram of days."""
    n = sum(days.values())
    if not n:
        return None
    rank = math.ceil(0.9 * n)
    seen = 0
    for d in sorted(days):
        seen += days[d]
        if seen >= rank:
            return d
    return None  # pragma: no cover - unreachable


def capacity_figures(late: Mapping[tuple[str, int], int], owed: Mapping[tuple[str, int], int],
                     teams: TeamsConfig, start: date | None, as_of: date) -> dict[str, Any]:
    """``late``: visits made by (team, days late); ``owed``: visits due by the as-of instant and not made,
    by (team, days overdue then); the history from ``start`` to ``as_of`` (local dates)."""
    made: dict[str, dict[int, int]] = {}
    for (team, days), n in late.items():
        made.setdefault(team, {})[days] = made.setdefault(team, {}).get(days, 0) + n
    owing: dict[str, int] = {}
    for (team, _days), n in owed.items():
        owing[team] = owing.get(team, 0) + n
    years = ((as_of - start).days + 1) / 365 if start is not None else 0.0
    rows = []
    total = late_total = owed_total = capacity_total = days_total = 0
    everyone: dict[int, int] = {}
    for team in sorted(set(made) | set(owing)):
        hist = made.get(team, {})
        n = sum(hist.values())
        n_late = sum(c for d, c in hist.items() if d > 0)
        days_sum = sum(d * c for d, c in hist.items())
        capacity = teams.capacity(team).visits_between(start, as_of + timedelta(days=1)) if start else 0
        total += n
        late_total += n_late
        days_total += days_sum
        owed_total += owing.get(team, 0)
        capacity_total += capacity
        for d, c in hist.items():
            everyone[d] = everyone.get(d, 0) + c
        rows.append({"team": team, "visits": n, "late": n_late, "late_share": round(n_late / n, 4) if n else None,
                     "days_late_mean": round(days_sum / n, 2) if n else None, "days_late_p90": _p90(hist),
                     "owed_at_as_of": owing.get(team, 0),
                     "capacity_per_year": round(capacity / years, 1) if years > 0 else None,
                     "visits_per_year": round(n / years, 1) if years > 0 else None,
                     "utilisation": round(n / capacity, 4) if capacity else None})
    return {"teams_version": teams.version, "visits": total, "late": late_total,
            "late_share": round(late_total / total, 4) if total else None,
            "days_late_mean": round(days_total / total, 2) if total else None, "days_late_p90": _p90(everyone),
            "owed_at_as_of": owed_total,
            "utilisation": round(total / capacity_total, 4) if capacity_total else None,
            "by_team": rows, "model": MODEL}
