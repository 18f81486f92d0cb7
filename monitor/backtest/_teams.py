"""The teams make the visits when their capacity lets them, and the engine goes on from the visits made.

Without a teams file the backtest makes every visit at the instant the engine
asks for it (unlimited capacity: what the policy asks of the teams). With one
(the desk's ``deploy/teams.example.toml`` format: visits per working day and a
calendar per team) it runs the borrowers of each team together, day by day,
as the teams would work:

- Every morning (local midnight in the policy's time zone) each team that
  works that day plans from the schedule as it stands: the visits due within
  the coming week (``LOOKAHEAD_DAYS``) and every overdue one. A visit's
  deadline is its due date, or the team's last working day before it when the
  due date is not a working day, or today when it is overdue.
- The team makes today only what cannot wait: the fewest visits such that,
  taken earliest deadline first, everything else still fits in the rest of
  the week's capacity (a visit is made on the latest working day that still
  meets its deadline, as the desk's planner plans). It cannot make more than
  its capacity of the day; the rest waits, late, earliest due first (ties:
  higher tier, then borrower).
- A visit planned for a day is made at the due instant's time of day on that
  day, through the engine like any visit, so the engine sets the next due date
  from the visit actually made (a late visit moves every later one), and a
  recorded finding reaches the engine only when someone actually goes. A
  borrower handed over to workout, or defaulted, before the planned instant
  is not visited (the slot is lost).

Teams are independent of each other, so the parts are cut by team
(``_pool``): every borrower of a team, and of any team it ever belonged to,
in one part. A borrower's visits are planned by the team of its profile at
the time.
"""

from __future__ import annotations

import heapq
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from monitor._time import from_us, to_us
from monitor.backtest._loop import BorrowerRunner
from monitor.teams import TeamCapacity, TeamsConfig

__all__ = ["LOOKAHEAD_DAYS", "LocalDates", "run_with_teams"]

LOOKAHEAD_DAYS = 7  # the teams plan a week ahead
_NEVER = 2**63


class _Team:
    """One team's calendar, capacity and open visits (a heap by due instant, checked when taken)."""

    __slots__ = ("cap", "open", "deadlines")

    def __init__(self, cap: TeamCapacity) -> None:
        self.cap = cap
        self.open: list[tuple[int, int, str]] = []  # (due, -tier, borrower)
        self.deadlines: dict[date, date] = {}

    def deadline(self, due: date, today: date) -> date:
        """The last working day on or before ``due`` (today at the earliest)."""
        if due <= today:
            return today
        got = self.deadlines.get(due)
        if got is None:
            day = due
            while day > today and not self.cap.is_working(day):
                day -= timedelta(days=1)
            got = self.deadlines[due] = day
        return got if got > today else today


_MINUTE = 60_000_000


class LocalDates:
    """Local dates and midnights of the policy's time zone (cached: a UTC offset holds for whole minutes)."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._starts: dict[date, int] = {}
        self._dates: dict[int, date] = {}  # by the minute since the epoch

    def start(self, day: date) -> int:
        got = self._starts.get(day)
        if got is None:
            got = self._starts[day] = to_us(datetime.combine(day, time(), self.zone))
        return got

    def date(self, us: int) -> date:
        minute = us // _MINUTE
        got = self._dates.get(minute)
        if got is None:
            got = self._dates[minute] = from_us(minute * _MINUTE).astimezone(self.zone).date()
        return got

    def on(self, day: date, us: int) -> int:
        """The instant of ``day`` at the local time of day of ``us``."""
        local = from_us(us).astimezone(self.zone)
        return to_us(datetime.combine(day, local.timetz().replace(tzinfo=None), self.zone))


def run_with_teams(runners: dict[str, BorrowerRunner], teams: TeamsConfig, zone: ZoneInfo, as_of: int) -> None:
    """Run every borrower to ``as_of`` with the visits its team's capacity allows (see the module docstring);
    the runners are left to ``finish``."""
    clock = LocalDates(zone)
    heap: list[tuple[int, str]] = []  # (next instant something happens to the borrower, borrower)
    when: dict[str, int] = {}  # the instant of each borrower's live entry (older ones are skipped)
    for bid, r in runners.items():
        nxt = r.next_instant()
        if nxt < _NEVER:
            heap.append((nxt, bid))
            when[bid] = nxt
    if not heap:
        return
    heapq.heapify(heap)
    by_team: dict[str, _Team] = {}
    listed: dict[str, tuple[int, str]] = {}  # borrower -> (due, team) of its entry in a team's open visits
    day = clock.date(heap[0][0])
    last = clock.date(as_of)

    def register(bid: str, r: BorrowerRunner) -> None:
        """List the borrower's next routine visit with its team, unless listed or planned already."""
        if r.plan_at is not None:
            return
        due = r.due()
        prof = r.state.profile
        if due is None or prof is None:
            return
        key = (due, prof.team)
        if listed.get(bid) == key:
            return
        listed[bid] = key
        team = by_team.get(prof.team)
        if team is None:
            team = by_team[prof.team] = _Team(teams.capacity(prof.team))
        heapq.heappush(team.open, (due, -r.state.tier, bid))

    while day <= last:
        morning = clock.start(day)
        while heap and heap[0][0] < morning:
            t, bid = heapq.heappop(heap)
            if when.get(bid) != t:
                continue
            r = runners[bid]
            r.run_until(morning)
            register(bid, r)
            nxt = r.next_instant()
            if nxt < _NEVER:
                heapq.heappush(heap, (nxt, bid))
                when[bid] = nxt
            else:
                del when[bid]
        if morning > as_of:
            break
        horizon = clock.start(day + timedelta(days=LOOKAHEAD_DAYS))
        for name in sorted(by_team):
            team = by_team[name]
            slots = team.cap.visits_on(day)
            if not slots or not team.open:
                continue
            for bid, at in _plan(team, slots, day, horizon, runners, listed, name, clock):
                runners[bid].plan(at)
                listed.pop(bid, None)
                if at < when.get(bid, _NEVER):
                    heapq.heappush(heap, (at, bid))
                    when[bid] = at
        day += timedelta(days=1)


def _plan(team: _Team, slots: int, today: date, horizon: int, runners: dict[str, BorrowerRunner],
          listed: dict[str, tuple[int, str]], name: str, clock: LocalDates) -> list[tuple[str, int]]:
    """The visits the team makes today: (borrower, instant)."""
    taken: list[tuple[int, int, str]] = []  # popped, valid, in order
    need = 0
    cap = team.cap
    capacity_after = 0  # the capacity of the working days after today up to the current deadline
    through = today
    open_ = team.open
    while open_ and need < slots:
        due, neg_tier, bid = open_[0]
        if due >= horizon:
            break
        heapq.heappop(open_)
        r = runners[bid]
        if listed.get(bid) != (due, name) or r.plan_at is not None:
            continue  # an entry left behind by a later change
        if r.due() != due or r.state.profile is None or r.state.profile.team != name:
            listed.pop(bid, None)
            continue
        deadline = team.deadline(clock.date(due), today)
        while through < deadline:
            through += timedelta(days=1)
            capacity_after += cap.visits_on(through)
        taken.append((due, neg_tier, bid))
        need = max(need, len(taken) - capacity_after)
    made = taken[:min(need, slots)]
    for entry in taken[len(made):]:
        heapq.heappush(open_, entry)
    return [(bid, clock.on(today, due) if clock.date(due) != today else due) for due, _t, bid in made]
