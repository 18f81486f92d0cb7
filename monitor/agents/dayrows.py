"""The worker's day-end rows (``monitor.day_ends``): which borrower's record to publish, for which day.

One :class:`DayRows` per runtime; per step it notes the local day of each touched borrower's last change,
publishes the row of a day before a change of a later day is applied to the borrower, and settles the
borrower's wake-ups day by day (each to the end of its day) so that every day with a change gets its row.
The engine settles each wake-up at its own instant whatever instant it is advanced to, so the states and
decisions are those of advancing at once (tests/integration/test_worker.py).
"""

from __future__ import annotations

from typing import Any

from monitor.day_ends import encode, floors_of, key_digest, record
from monitor.engine import APPLIED, CONFLICT, DUPLICATE, STALE, Engine
from monitor.events import Event, InspectionCompleted, LoanProfile
from monitor.snapshots import FEEDS, Days
from monitor.state import BorrowerState, dump_state

__all__ = ["DayRows", "NoRows"]

_OUTCOME = {"normal": 0, "concern": 1, "deteriorated": 2}  # as monitor.snapshots.VISITS codes them
_KIND = {APPLIED: 0, DUPLICATE: 1, CONFLICT: 2}  # a stale event is dead-lettered: not counted
_FEED = {f: i for i, f in enumerate(FEEDS)}


class DayRows:
    """Collects a step's day-end rows: ``rows`` is ``[(borrower, value)]`` in publication order."""

    __slots__ = ("days", "engine", "extra", "floors", "key", "open", "rows")

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.days = Days(engine.policy.zone)
        self.floors = floors_of(engine.policy)
        self.open: dict[str, int] = {}  # borrower -> the day of its last change not yet published
        self.extra: dict[str, dict[str, Any]] = {}  # borrower -> name / first event / first profile, unpublished
        self.rows: list[tuple[str, bytes]] = []
        self.key: tuple[object, ...] = ()  # the schedule key just before the event being applied

    def take(self) -> list[tuple[str, bytes]]:
        rows, self.rows = self.rows, []
        return rows

    def _emit(self, bid: str, state: BorrowerState, day: int) -> None:
        at = self.days.start(day + 1) - 1
        extra = self.extra.pop(bid, None)
        if state.tier >= 1 and state.profile is not None:  # its signals at a later cut: the engine's, from it
            extra = extra if extra is not None else {}
            extra["z"] = dump_state(state).decode()
        self.rows.append((bid, encode(bid, day, record(state, at, self.days.of, self.floors), extra)))
        self.open.pop(bid, None)

    def born(self, bid: str, at: int) -> None:
        """A borrower's first event (its state is new)."""
        self.extra.setdefault(bid, {})["s"] = at

    def before(self, bid: str, state: BorrowerState, at: int) -> list[Any]:
        """Before an event at ``at``: the wake-ups of earlier days settled day by day (their alerts returned,
        in order), and the row of the borrower's earlier day published."""
        d = self.days.of(at)
        first = self.days.start(d)  # the day's first instant
        wake = state.wake
        alerts = self.advance(bid, state, first - 1) if wake is not None and wake < first else []
        o = self.open.get(bid)
        if o is not None and o < d:
            self._emit(bid, state, o)
        self.key = self.engine.schedule_key(state)
        return alerts

    def _change(self, bid: str, state: BorrowerState, key: tuple[object, ...], clock: int | None) -> None:
        """A schedule item (``h``, see monitor.day_ends): after an event that changed the schedule key, or a
        settling of wake-ups (``[clock]`` alone when the key is unchanged); placed before the row's next ``e``."""
        extra = self.extra.setdefault(bid, {})
        where = len(extra.get("e", ()))
        after = self.engine.schedule_key(state)
        now = state.clock if state.clock is not None else clock
        if after == key:
            if clock is None:
                return
            item: list[Any] = [where, now]
        else:
            item = [where, now, key_digest(key), key_digest(after), self.engine.schedule_entry_json(state)]
        extra.setdefault("h", []).append(item)

    def applied(self, bid: str, state: BorrowerState, event: Event, at: int, outcome: str, had_profile: bool,
                due_before: int | None, where: tuple[int, int, int]) -> None:
        """After the engine applied ``event`` (any outcome); ``due_before``: the due date just before it;
        ``where``: the message's topic (its rank among the inputs), partition and offset."""
        self._change(bid, state, self.key, None)
        kind = _KIND.get(outcome)
        if kind is not None:
            self.extra.setdefault(bid, {}).setdefault("e", []).append([_FEED[event.type], kind, at, *where])
        if outcome == APPLIED and isinstance(event, InspectionCompleted):
            team = state.profile.team if state.profile is not None else event.team
            due = self.days.of(due_before) if due_before is not None else -1
            self.extra.setdefault(bid, {}).setdefault("v", []).append(
                [at, team, _OUTCOME.get(event.outcome.value, -1), due, event.event_id])
        if outcome != CONFLICT and outcome != STALE:
            p = state.profile
            if p is not None:
                if not had_profile:
                    self.extra.setdefault(bid, {})["f"] = at
                if isinstance(event, LoanProfile) and p.eid == event.event_id:
                    self.extra.setdefault(bid, {})["n"] = event.name
        clock = state.clock
        self.open[bid] = self.days.of(clock if clock is not None else at)

    def advance(self, bid: str, state: BorrowerState, until: int) -> list[Any]:
        """Settle the wake-ups up to ``until``, day by day; their alerts, in order."""
        days, engine = self.days, self.engine
        alerts: list[Any] = []
        wake = state.wake
        while wake is not None and wake <= until:
            wd = days.of(wake)
            o = self.open.get(bid)
            if o is not None and o < wd:
                self._emit(bid, state, o)
            key, clock = engine.schedule_key(state), state.clock
            step = engine.advance(state, min(until, days.start(wd + 1) - 1))
            if state.clock != clock or step.schedule_changed:
                self._change(bid, state, key, state.clock)
            alerts.extend(step.alerts)
            self.open[bid] = wd
            wake = state.wake
        return alerts

    def finish(self, touched: dict[str, BorrowerState]) -> list[tuple[str, bytes]]:
        """The end of a step: the rows of every touched borrower's last day; the step's rows."""
        for bid, day in list(self.open.items()):
            state = touched.get(bid)
            if state is not None:
                self._emit(bid, state, day)
        self.open.clear()
        self.extra.clear()
        return self.take()


class NoRows:
    """:class:`DayRows` when the worker publishes no day-end rows: wake-ups settled at once, nothing kept."""

    __slots__ = ("engine",)

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def born(self, bid: str, at: int) -> None:
        pass

    def before(self, bid: str, state: BorrowerState, at: int) -> list[Any]:
        return []

    def applied(self, *args: Any) -> None:
        pass

    def advance(self, bid: str, state: BorrowerState, until: int) -> list[Any]:
        return list(self.engine.advance(state, until).alerts)

    def finish(self, touched: dict[str, BorrowerState]) -> list[tuple[str, bytes]]:
        return []
