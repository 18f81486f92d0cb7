"""Can the inspection teams make the visits a policy asks for by their due dates?

The teams file is the desk's (``deploy/teams.example.toml`` format), read by
its own loader (``monitor.desk.teams.load_teams``): per team, visits per
working day and a calendar of working days, holidays and extra working days.

Model, per team: every visit the policy asked for (the backtest's visits,
see ``_loop``) may be made from the local date on which the engine set its
due date to any later working day; on each working day the team makes up to
its capacity of the visits open then, earliest due date first (ties: higher
tier, then borrower). For unit-length visits with release and due dates this
order meets every due date whenever any order does, so a visit it makes late
is one the team's capacity cannot make on time. A visit still open when the
calendar runs out (a team with no capacity) is late. The lateness is not fed
back into the engine: the visits are counted where the policy asked for them
(a first-order estimate of the shortfall).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from monitor.desk.teams import TeamsConfig

__all__ = ["capacity_figures"]

_MAX_SPILL_DAYS = 3660  # stop looking for a free working day after this many days past the last due date

# (team, borrower, due date, date asked, tier)
VisitDue = tuple[str, str, date, date, int]


def _team(rows: list[tuple[date, date, int, str]], teams: TeamsConfig, team: str) -> tuple[int, int, int]:
    """(late visits, capacity over the visits' span, working days) for one team."""
    cap = teams.capacity(team)
    rows.sort(key=lambda r: (r[1], r[0], -r[2], r[3]))  # by date asked
    first = rows[0][1]
    last_due = max(r[0] for r in rows)
    heap: list[tuple[int, int, str]] = []
    late = 0
    i = 0
    n = len(rows)
    day = first
    capacity = working = 0
    stop = last_due + timedelta(days=_MAX_SPILL_DAYS)
    while (i < n or heap) and day <= stop:
        while i < n and rows[i][1] <= day:
            due, _asked, tier, bid = rows[i]
            heapq.heappush(heap, (due.toordinal(), -tier, bid))
            i += 1
        slots = cap.visits_on(day)
        if day <= last_due:
            capacity += slots
            working += slots > 0
        ordinal = day.toordinal()
        while slots and heap:
            due_ord, _t, _b = heapq.heappop(heap)
            late += ordinal > due_ord
            slots -= 1
        day += timedelta(days=1)
    late += len(heap) + (n - i)
    return late, capacity, working


def capacity_figures(visits: Iterable[VisitDue], teams: TeamsConfig, years: float) -> dict[str, Any]:
    """Visits late for lack of capacity, in total and per team (sorted by team)."""
    by_team: dict[str, list[tuple[date, date, int, str]]] = {}
    for team, bid, due, asked, tier in visits:
        by_team.setdefault(team, []).append((due, min(asked, due), tier, bid))
    rows = []
    total = late_total = 0
    for team in sorted(by_team):
        got = by_team[team]
        late, capacity, _working = _team(got, teams, team)
        total += len(got)
        late_total += late
        rows.append({"team": team, "visits": len(got), "late": late,
                     "late_share": round(late / len(got), 4) if got else None,
                     "capacity_per_year": round(capacity / years, 1) if years > 0 else None,
                     "visits_per_year": round(len(got) / years, 1) if years > 0 else None,
                     "utilisation": round(len(got) / capacity, 4) if capacity else None})
    return {"teams_version": teams.version, "visits": total, "late": late_total,
            "late_share": round(late_total / total, 4) if total else None, "by_team": rows,
            "model": "per team, each visit open from the day the engine asked for it; each working day up to "
                     "the team's capacity, earliest due first; late = made after its due date"}
