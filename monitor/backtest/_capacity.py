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
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from monitor.backtest._labels import CAPACITY_MODEL
from monitor.teams import TeamsConfig

__all__ = ["MODEL", "capacity_figures"]

MODEL = CAPACITY_MODEL["en"]


def _p90(values: list[int]) -> int | None:
    if not values:
        return None
    xs = sorted(values)
    return xs[min(len(xs) - 1, math.ceil(0.9 * len(xs)) - 1)]


def capacity_figures(made: Iterable[tuple[str, date, date]], owed: Iterable[tuple[str, date]],
                     teams: TeamsConfig, start: date | None, as_of: date) -> dict[str, Any]:
    """``made``: (team, date made, date due) per visit; ``owed``: (team, date due) per visit due by the
    as-of instant and not made; the history from ``start`` to ``as_of`` (local dates)."""
    late: dict[str, list[int]] = {}
    for team, on, due in made:
        late.setdefault(team, []).append(max(0, (on - due).days))
    owing: dict[str, list[int]] = {}
    for team, due in owed:
        owing.setdefault(team, []).append(max(0, (as_of - due).days))
    years = ((as_of - start).days + 1) / 365 if start is not None else 0.0
    rows = []
    total = late_total = owed_total = capacity_total = 0
    all_days: list[int] = []
    for team in sorted(set(late) | set(owing)):
        days = late.get(team, [])
        n = len(days)
        n_late = sum(1 for x in days if x > 0)
        capacity = teams.capacity(team).visits_between(start, as_of + timedelta(days=1)) if start else 0
        total += n
        late_total += n_late
        owed_total += len(owing.get(team, []))
        capacity_total += capacity
        all_days += days
        rows.append({"team": team, "visits": n, "late": n_late, "late_share": round(n_late / n, 4) if n else None,
                     "days_late_mean": round(sum(days) / n, 2) if n else None, "days_late_p90": _p90(days),
                     "owed_at_as_of": len(owing.get(team, [])),
                     "capacity_per_year": round(capacity / years, 1) if years > 0 else None,
                     "visits_per_year": round(n / years, 1) if years > 0 else None,
                     "utilisation": round(n / capacity, 4) if capacity else None})
    return {"teams_version": teams.version, "visits": total, "late": late_total,
            "late_share": round(late_total / total, 4) if total else None,
            "days_late_mean": round(sum(all_days) / total, 2) if total else None, "days_late_p90": _p90(all_days),
            "owed_at_as_of": owed_total,
            "utilisation": round(total / capacity_total, 4) if capacity_total else None,
            "by_team": rows, "model": MODEL}
