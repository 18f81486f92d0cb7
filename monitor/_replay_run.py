"""The replay's loop: events in time order through the engine, day by day, with the snapshots.

A :class:`Runner` takes validated events in ``occurred_at`` order (ties in input
order) and applies them with the engine, as ``monitor replay`` always has. At
each local midnight it first closes the day: it settles the time-driven changes
due before the midnight (the engine's wake-ups, as the streaming worker does at
a watermark), notes the borrowers whose classification floor moved with their
days past due, and writes the record of every borrower whose record changed that
day (``monitor.snapshots``). The alerts, views and schedule changes are the same
as without the day edges; a schedule change made by a wake-up is dated by that
wake-up in the schedule history (the last one settled when a day closes), not by
the borrower's next step as before.
"""

from __future__ import annotations

import heapq
import json
from array import array
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import Any, Protocol

from pydantic import TypeAdapter

from monitor._replay_keys import event_key
from monitor.engine import CONFLICT, DUPLICATE, UNSEEN, Engine
from monitor.events import GRADE_INDEX, Event, InspectionCompleted, LoanProfile
from monitor.outputs import Alert, BorrowerView, ScheduleEntry, Signal
from monitor.rules.evaluate import highest_dpd
from monitor.rules.policy import Policy
from monitor.snapshots import (CHECKPOINT_END, DUE_WHY, NONE, RECORD, TEXT_COLUMNS, Days, SnapshotPart, day_date,
                               day_number)
from monitor.state import BorrowerState

__all__ = ["CONFLICT_REASON", "Outputs", "Runner"]

CONFLICT_REASON = "conflicting duplicate: an event with this event_id and other content was applied earlier"


class Outputs(Protocol):
    """Where a run's decisions go (a :class:`monitor.replay.ReplayResult` in memory, or files)."""

    after_as_of: int
    applied: int
    duplicates: int
    events_by_type: Counter[str]
    newest_by_type: dict[str, int]

    def add_alerts(self, alerts: Iterable[Alert]) -> None: ...

    def add_history(self, at: int, borrower_id: str, entry: ScheduleEntry) -> None: ...

    def add_view(self, borrower_id: str, state: BorrowerState, view: BorrowerView) -> None: ...

_WHY = {w: i for i, w in enumerate(DUE_WHY)}
_SIGNALS_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # write_signals' lines
_SIGNALS = TypeAdapter(list[Signal])
_FAR = 2**62
_OUTCOME = {"normal": 0, "concern": 1, "deteriorated": 2}
# a borrower's static row before its first record: no profile is this object, so the first record makes the row
_NO_ROW: tuple[object, int, int] = (object(), 0, -1)


class Runner:
    """One replay (or one shard of it): feed events in time order, then :meth:`finish`."""

    def __init__(self, engine: Engine, as_of: int | None, result: Outputs, part: SnapshotPart | None,
                 reject: Callable[[Any, int, str], None] | None = None, repeated: set[int] | None = None) -> None:
        """``repeated``: the keys (``monitor._replay_keys``) of the ids that more than one line of the input
        holds; the other events are given to the engine as ``UNSEEN``. None: every event has its full
        duplicate memory."""
        self.engine = engine
        # the digest given to the engine when no key is to be looked up (repeated None: full memory; empty: no id
        # repeats), and the keys to look up otherwise
        self._digest = None if repeated is None else UNSEEN
        self._keys = repeated if repeated else None
        self.policy: Policy = engine.policy
        self.as_of = as_of
        self.result = result
        # a result that writes files takes the entry's JSON from the state (the same bytes, without the model)
        self._add_row: Callable[[int, BorrowerState, Engine], None] | None = getattr(result, "add_history_state",
                                                                                    None)
        self.part = part
        self.reject = reject
        self.days = Days(self.policy.zone)
        self.index: dict[str, int] = {}
        self.states: list[BorrowerState] = []
        self.first_seen = array("q")
        self.seen_at = array("q")
        self.feeds: dict[tuple[int, str], list[int]] = {}  # (day, type) -> [events, copies, newest]
        self.after: Counter[str] = Counter()  # events after the as-of, by type
        self.names = array("q")
        self._dues = array("q")  # per borrower: the due instant of its last record (NONE: none yet) ...
        self._due_days = array("q")  # ... and its local day (so that a due kept from day to day is not looked up)
        self._codes: dict[tuple[str | None, ...], tuple[int, ...]] = {}  # profile texts -> their codes
        self._pcodes: list[tuple[object, int, int]] = []  # per borrower: its static row (see _records)
        self._day_feeds: dict[str, list[int]] = {}  # the current day's entries of ``feeds``, by type
        self._text: dict[str, str] = {}  # one copy of each profile text (branch, team, ...) for all states
        self.dirty: set[int] = set()
        self.wakes: list[tuple[int, int]] = []
        self.floors: list[tuple[int, int]] = []  # (instant a classification floor is crossed, borrower)
        self.floor_at: dict[int, int] = {}  # borrower -> its entry in ``floors``
        self.day: int | None = None  # the local day in progress
        self.edge = NONE  # the first instant of the next day (NONE: no day yet, the first event starts one)
        c = self.policy.classification
        self.floors_at = (c.special_mention, c.substandard, c.doubtful, c.loss)
        self._floors_sorted = sorted(self.floors_at)
        self.last_t: int | None = None
        self._cut = as_of if as_of is not None else 2**63  # an event dated after it is not applied

    # ------------------------------------------------------------ events

    def _borrower(self, bid: str, t: int) -> int:
        i = self.index.get(bid)
        if i is None:
            i = self.index[bid] = len(self.states)
            self.states.append(self.engine.new_state(bid))
            self.first_seen.append(NONE)
            self.seen_at.append(t)
            self.names.append(-1)
            self._dues.append(NONE)
            self._due_days.append(-1)
            self._pcodes.append(_NO_ROW)
            if self.part is not None:
                self.part.add_borrower(bid)
        return i

    def feed(self, t: int, event: Event, source: Any = "", line: int = 0) -> None:
        """Apply one event (``t``: its ``occurred_at``; not before the previous event's). ``source`` and
        ``line`` name it to ``reject`` when the engine fails on it, or refuses it as a conflicting
        duplicate (an event_id applied earlier with other content: ``CONFLICT_REASON``)."""
        result = self.result
        if t > self._cut:
            result.after_as_of += 1
            self.after[event.type] += 1
            return
        if t >= self.edge:
            self._advance_days(t)
        self.last_t = t
        bid = event.borrower_id
        i = self.index.get(bid)
        if i is None:
            i = self._borrower(bid, t)
        state = self.states[i]
        engine = self.engine
        had_profile = state.profile is not None
        due_before = state.due
        wake_before = state.wake
        alerts: list[Alert] = []
        keys = self._keys
        digest = self._digest if keys is None or event_key(event.event_id) not in keys else None
        try:
            outcome = engine.apply_into(state, event, t, digest, alerts)
        except Exception as exc:  # noqa: BLE001 - one event never stops the replay: it is rejected
            if self.reject is None:
                raise
            self.reject(source, line, f"engine error: {type(exc).__name__}: {exc}"[:500])
            engine.schedule_moved(state)  # what it changed before failing is no step's change: no row
            self.dirty.add(i)
            return
        kind = event.type
        stats = self._day_feeds.get(kind)
        if stats is None:
            stats = self.feeds.get((self.day, kind))  # type: ignore[arg-type]
            if stats is None:
                stats = self.feeds[(self.day, kind)] = [0, 0, t]  # type: ignore[index]
            self._day_feeds[kind] = stats
        stats[2] = t
        part = self.part
        if outcome == DUPLICATE:
            stats[1] += 1
        elif outcome == CONFLICT:  # not applied: the state is as it was
            if self.reject is None:
                raise ValueError(f"{CONFLICT_REASON}: {event.event_id!r} of {event.borrower_id!r}")
            self.reject(source, line, CONFLICT_REASON)
            return
        else:
            stats[0] += 1
            if part is not None and isinstance(event, InspectionCompleted):
                team = state.profile.team if state.profile is not None else event.team
                part.visit(i, t, part.code("team", team), _OUTCOME.get(event.outcome.value, -1),
                           self.days.of(due_before) if due_before is not None else -1)
            result.newest_by_type[kind] = t  # events come in time order (applied, copies: from ``feeds`` at the end)
        if alerts:
            result.add_alerts(alerts)
        if state.schedule_was is not None and engine.schedule_moved(state):  # (None: no input of it moved)
            self._history(state.clock or t, state)
        wake = state.wake
        if wake is not None and wake != wake_before:  # one entry per wake-up, not per event
            heapq.heappush(self.wakes, (wake, i))
        if part is not None:
            self.dirty.add(i)
            if had_profile and not isinstance(event, LoanProfile):  # (most events)
                return
            if not had_profile and state.profile is not None:
                self.first_seen[i] = t
            if isinstance(event, LoanProfile) and state.profile is not None and state.profile.eid == event.event_id:
                self.names[i] = part.code("name", event.name)
                p, text = state.profile, self._text
                p.branch = text.setdefault(p.branch, p.branch)
                p.team = text.setdefault(p.team, p.team)
                p.mitigation = text.setdefault(p.mitigation, p.mitigation)
                if p.industry is not None:
                    p.industry = text.setdefault(p.industry, p.industry)
                if p.product is not None:
                    p.product = text.setdefault(p.product, p.product)
                if p.segment is not None:
                    p.segment = text.setdefault(p.segment, p.segment)

    def _history(self, at: int, state: BorrowerState) -> None:
        if self._add_row is not None:
            self._add_row(at, state, self.engine)
        else:
            self.result.add_history(at, state.id, self.engine.schedule_entry(state))

    # ------------------------------------------------------------ day edges

    def _advance_days(self, t: int) -> None:
        """Close every day that ends at or before ``t``."""
        self._day_feeds = {}
        target = self.days.of(t)
        if self.day is None:
            self.day = target
            self.edge = self.days.start(target + 1)
            return
        while self.day < target:
            nxt = self._next_busy_day(target)
            if nxt > self.day:  # nothing happens on the days between: no rows, but month ends still count
                self._skip_to(nxt)
                continue
            self._close(self.day, self.edge - 1)
            self.day += 1
            self.edge = self.days.start(self.day + 1)

    def _next_busy_day(self, target: int) -> int:
        """The first day from the current one on which a wake-up or floor falls, or ``target``."""
        soonest = min(self.wakes[0][0] if self.wakes else _FAR, self.floors[0][0] if self.floors else _FAR)
        if self.dirty or soonest < self.edge:
            return self.day  # type: ignore[return-value]
        if soonest >= _FAR:
            return target
        return min(target, self.days.of(soonest))

    def _skip_to(self, day: int) -> None:
        """Jump over quiet days, writing the checkpoints of the month ends among them."""
        cur = self.day if self.day is not None else day
        if self.part is not None:
            d = day_date(cur)
            while True:
                end = _month_end(d)
                if day_number(end) >= day:
                    break
                self.part.checkpoint(day_number(end), self.days.start(day_number(end) + 1) - 1, end.isoformat())
                d = end + timedelta(days=1)
        self.day = day
        self.edge = self.days.start(day + 1)

    def _close(self, day: int, at: int) -> None:
        """The end of ``day`` (``at`` its last instant): settle what is due, write the changed records."""
        engine, states, wakes = self.engine, self.states, self.wakes
        while wakes and wakes[0][0] <= at:
            wake, i = heapq.heappop(wakes)
            state = states[i]
            if state.wake != wake:
                continue
            step = engine.advance(state, at)
            if step.alerts:
                self.result.add_alerts(step.alerts)
            if engine.schedule_moved(state):  # dated by the wake-up that made the change
                self._history(state.clock or at, state)
            if state.wake is not None:
                heapq.heappush(wakes, (state.wake, i))
            self.dirty.add(i)
        floors = self.floors
        while floors and floors[0][0] <= at:
            _, i = heapq.heappop(floors)
            self.floor_at.pop(i, None)
            self.dirty.add(i)
        if self.part is None:
            self.dirty.clear()
            return
        idx = sorted(self.dirty)
        flat = self._records(idx, at, True)
        self.dirty.clear()
        self.part.write_day(day, idx, flat)  # only the records that changed become rows
        d = day_date(day)
        if d == _month_end(d):
            self.part.checkpoint(day, at, d.isoformat())

    def _records(self, idx: list[int], at: int, floors: bool) -> bytes:
        """The records of the borrowers ``idx`` at ``at``, packed with :data:`RECORD` one after another, as
        ``SnapshotPart.write_day`` takes them: the DYNAMIC columns, then the number of the static row (profile
        codes, exposure, instants of the profile, first profile, first event). ``floors``: note each overdue
        borrower's next classification floor crossing (one heap entry per crossing)."""
        flat: list[bytes] = []
        add, pack = flat.append, RECORD.pack
        states, pcodes = self.states, self._pcodes
        dues, due_days, days_of = self._dues, self._due_days, self.days.of
        grades, why, floors_sorted, floors_at = GRADE_INDEX, _WHY, self._floors_sorted, self.floors_at
        heap, floor_at = self.floors, self.floor_at
        for i in idx:
            s = states[i]
            p = s.profile
            known = pcodes[i]  # (profile, first_seen, static row)
            if known[0] is not p:  # (first_seen is set only when a first profile is applied: a new profile)
                known = self._static(p, i)
            b, ins = s.bureau, s.inspection
            if p is None:
                add(pack(-1, -1, -1, -1, 0, -1, -1, s.alerts, 0, NONE, NONE, NONE if b is None else b.at,
                         NONE if ins is None else ins.at, NONE, known[2]))
                continue
            due = s.due
            if due is None:
                due_day = -1
            elif due == dues[i]:
                due_day = due_days[i]
            else:
                due_day = due_days[i] = days_of(due)
                dues[i] = due
            tier_since, grade_at = s.tier_since, s.grade_at
            if s.accounts:
                top, top_id = highest_dpd(s, at)
            else:
                top_id = None
            if top_id is None:
                add(pack(s.tier, s.computed, grades.get(s.grade, -1), 0, 0, why.get(s.due_why, -1), due_day, s.alerts,
                         0, NONE if tier_since is None else tier_since, NONE if grade_at is None else grade_at,
                         NONE if b is None else b.at, NONE if ins is None else ins.at, NONE, known[2]))
                continue
            acc = s.accounts[top_id]
            add(pack(s.tier, s.computed, grades.get(s.grade, -1), bisect_right(floors_sorted, top),
                     1 if top > 0 else 0, why.get(s.due_why, -1), due_day, s.alerts, acc.dpd,
                     NONE if tier_since is None else tier_since, NONE if grade_at is None else grade_at,
                     NONE if b is None else b.at, NONE if ins is None else ins.at, acc.at, known[2]))
            if floors and top > 0:  # overdue: the next floor crossing
                c = next((c for c in floors_at if c > top), None)
                if c is None:
                    continue
                nxt = min(a.at + (c - a.dpd) * 86_400_000_000 for a in s.accounts.values() if a.dpd > 0)
                if nxt != floor_at.get(i):
                    floor_at[i] = nxt
                    heapq.heappush(heap, (nxt, i))
        return b"".join(flat)

    def _static(self, p: Any, i: int) -> tuple[object, int, int]:
        """The borrower's static row (profile codes, exposure, instants), numbered by ``SnapshotPart.static_row``
        when its profile or first profile changed: (profile, first_seen, the row's number)."""
        first = self.first_seen[i]
        if p is None:
            row = (-1, -1, -1, -1, -1, -1, -1, 0, NONE, NONE, self.seen_at[i])
        else:
            texts = (p.segment, p.industry, p.branch, p.team, p.product, p.mitigation)
            codes = self._codes.get(texts)
            if codes is None:
                code = self.part.code  # type: ignore[union-attr]
                codes = self._codes[texts] = tuple(code(c, v) for c, v in zip(TEXT_COLUMNS, texts))
            row = (*codes, self.names[i], round(p.exposure * 100), p.at, first, self.seen_at[i])
        known = self._pcodes[i] = (p, first, self.part.static_row(row))  # type: ignore[union-attr]
        return known

    # ------------------------------------------------------------ the end

    def finish(self, as_of: int | None, signals: Any = None) -> None:
        """Advance everyone to ``as_of``, close the last day at it, write views and the last checkpoint."""
        result, engine = self.result, self.engine
        for (_, kind), (events, copies, _) in self.feeds.items():  # every applied event and copy is counted there
            result.applied += events
            result.duplicates += copies
            if events:
                result.events_by_type[kind] += events
        if as_of is not None and self.day is not None:
            self._advance_days(as_of)
        for bid in sorted(self.index):
            i = self.index[bid]
            state = self.states[i]
            if as_of is not None:
                clock = state.clock
                step = engine.advance(state, as_of)
                if state.clock != clock:
                    self.dirty.add(i)
                if step.alerts:
                    result.add_alerts(step.alerts)
                    self.dirty.add(i)
                if engine.schedule_moved(state):
                    self._history(state.clock or as_of, state)
                    self.dirty.add(i)
            result.add_view(bid, state, engine.view(state, as_of))
        if self.part is not None:
            self.part.feeds = [[d, typ, *v] for (d, typ), v in self.feeds.items()]
            self.part.after = dict(self.after)
        if self.part is not None and self.day is not None and as_of is not None:
            self.wakes.clear()
            self._close_last(as_of)
        elif self.part is not None and self.day is not None:
            self.part.checkpoint(self.day, self.last_t or 0, CHECKPOINT_END)
        if signals is not None:
            self.write_signals(signals, as_of)

    def _close_last(self, as_of: int) -> None:
        part = self.part
        if part is None or self.day is None:
            return
        floors = self.floors
        while floors and floors[0][0] <= as_of:
            self.dirty.add(heapq.heappop(floors)[1])
        idx = sorted(self.dirty)
        recs = self._records(idx, as_of, False)
        self.dirty.clear()
        part.write_day(self.day, idx, recs)
        part.checkpoint(self.day, as_of, CHECKPOINT_END)

    def write_signals(self, out: Any, as_of: int | None) -> None:
        """The signals that hold at ``as_of`` of every borrower at watch or above: ``out.add((id,), line)``."""
        t = as_of if as_of is not None else 0
        encode = _SIGNALS_JSON.encode  # (json.dumps with these arguments makes this encoder for every call)
        dump = _SIGNALS.dump_python
        add_keyed = getattr(out, "add_keyed", None)
        for bid, i in self.index.items():
            state = self.states[i]
            if state.profile is None or state.tier < 1:
                continue
            line = encode({"borrower_id": bid, "signals": dump(self.engine.signals(state, t), mode="json")})
            if add_keyed is not None and bid.isprintable():  # (sort_key((bid,)) of a text without control characters)
                add_keyed(f"{bid}\x00", line)
            else:
                out.add((bid,), line)


def _month_end(d: date) -> date:
    return (d.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
