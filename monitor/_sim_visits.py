"""Private: the inspections of a simulated portfolio, with the policy in the loop.

The inspection teams follow the monitor's schedule: every borrower's other
events (from :mod:`monitor._sim_model`) go through :class:`monitor.engine.Engine`
in time order, through its public surface only (``apply``, ``advance``,
``schedule_entry`` and the documented ``state.wake``, the instant of the next
time-driven change), and a visit is made for each due date the schedule shows:

- a *response* visit (a due date the engine set as a response deadline, or
  any due date in force after the effective tier rose, unless it had
  already passed) always by its due date, on a day drawn evenly from the
  days left;
- a *routine* visit (first check after disbursement, the interval after a
  visit) by its due date in ``1 - LATE_SHARE`` of cases, in the
  ``LEAD_DAYS`` days before it, else late by 1-``MAX_LATE_DAYS`` days;
- a borrower of the book that goes live at the start whose first check was
  already due (``ONBOARDING``): visited within ``ONBOARDING_DAYS`` days, as
  the teams work through the backlog.

Visits are made on weekdays (Monday-Friday) between 09:00 and 17:00 when the
plan allows it. When the due date moves (a tier rise pulls it forward, a
hand-over to workout removes it) the plan is drawn again; a borrower with no
due date (handed over to workout, or gone) is not visited. The visit's outcome follows the
borrower's hidden stress (and grade D: deteriorated). Each borrower draws from
its own random stream, so the result does not depend on the order borrowers
are run in.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone

from typing import Any

import numpy as np

from monitor import _sim_model as sm
from monitor._errors import MonitorError
from monitor.engine import Engine
from monitor.events import (
    GRADES,
    BureauReport,
    Event,
    InspectionCompleted,
    LawsuitNotice,
    LoanProfile,
    Overdue,
    RatingChange,
)
from monitor.outputs import ScheduleEntry
from monitor.rules.policy import LEVEL_NAMES, Policy

__all__ = ["INSPECTION_COLUMNS", "ONBOARDING", "RESPONSE", "ROUTINE", "inspections", "inspector_name",
           "is_response"]

# Band "inspections follow the engine's due dates: about 90 % done by the due date, the rest
# late by 1-30 days; a response visit within the response deadline".
LATE_SHARE = 0.10
MAX_LATE_DAYS = 30
LEAD_DAYS = 21  # an on-time routine visit falls in the last three weeks before its due date
ONBOARDING_DAYS = 90
ROUTINE, RESPONSE, ONBOARDING = 0, 1, 2
INSPECTION_COLUMNS = ("t", "b", "outcome", "note", "inspector", "due", "plan")

_TZ = timezone(timedelta(hours=8))
_UTC_SHIFT = 8 * sm.HOUR  # local seconds - UTC seconds
_US = 1_000_000
_EPOCH_ORD = date(1970, 1, 1).toordinal()
_NEVER = 1 << 62
_RANK = {name: i for i, name in enumerate(LEVEL_NAMES)}
_KINDS = ("loan_profile", "rating_change", "overdue", "lawsuit", "bureau_report")  # file order at ties


def _dt(t: int) -> datetime:
    return datetime.fromtimestamp(t - _UTC_SHIFT, _TZ)


class _Builder:
    """Engine events for the rows of the portfolio's tables (the values the file will carry).

    Built with ``model_validate``: the simulator's events pass the same contract as the file's.
    """

    def __init__(self, p: sm.Portfolio, ids: list[str], courts: list[str]) -> None:
        self.ids, self.courts, self.case_ids = ids, courts, p.case_ids
        self.cols = [{k: v.tolist() for k, v in p.tables[name].items()} for name in _KINDS]
        b = p.borrower
        self.static = [dict(segment=sm.SEGMENTS[s], industry=sm.INDUSTRIES[i], branch=sm.BRANCHES[br],
                            team=sm.TEAMS[t], product=sm.PRODUCTS[pr], mitigation=sm.MITIGATIONS[m],
                            disbursed_at=_dt(d), name=nm)
                       for s, i, br, t, pr, m, d, nm in
                       zip(b["seg"].tolist(), b["industry"].tolist(), b["branch"].tolist(), b["team"].tolist(),
                           b["prod"][:, 0].tolist(), b["mitig"].tolist(), b["disbursed"].tolist(), p.names)]

    def event(self, kind: int, row: int, bi: int, t: int, eid: str) -> Event:
        c = self.cols[kind]
        head = dict(event_id=eid, borrower_id=self.ids[bi], occurred_at=_dt(t))
        if kind == 4:
            return BureauReport.model_validate(dict(
                head, source=sm.BUREAU_SOURCES[c["source"][row]], max_external_dpd=c["dpd"][row],
                external_overdue_amount=c["overdue"][row], hard_inquiries_30d=c["inquiries"][row],
                total_external_debt=c["debt"][row], guarantee_exposure=c["guarantee"][row]))
        if kind == 2:
            return Overdue.model_validate(dict(
                head, source="core-banking", account_id=f"{self.ids[bi]}-A{c['account'][row] + 1}",
                product=sm.PRODUCTS[c["product"][row]], days_past_due=c["dpd"][row],
                overdue_amount=c["amount"][row]))
        if kind == 0:
            return LoanProfile.model_validate(dict(
                head, source="core-banking", exposure=c["exposure"][row], grade=GRADES[c["grade"][row]],
                **self.static[bi]))
        if kind == 1:
            return RatingChange.model_validate(dict(
                head, source="rating-system", old_grade=GRADES[c["old"][row]], new_grade=GRADES[c["new"][row]]))
        return LawsuitNotice.model_validate(dict(
            head, source="court-feed", case_id=self.case_ids[c["case"][row]], role=sm.ROLES[c["role"][row]],
            case_type=sm.CASE_TYPES[c["ctype"][row]], stage=sm.STAGES[c["stage"][row]],
            claim_amount=c["claim"][row], court=self.courts[c["court"][row]]))


def is_response(entry: ScheduleEntry) -> bool:
    """A due date set by a response deadline: a rise of the effective tier, or a return from workout
    at a tier above normal (the engine's reason codes)."""
    return entry.reason == "tier_raised" or (entry.reason == "workout_ended" and entry.tier != "normal")


def _day(d: date) -> int:
    return d.toordinal() - _EPOCH_ORD


def _weekend(day: int) -> bool:
    return (day + 3) % 7 >= 5  # 1970-01-01 was a Thursday


class _Planner:
    """One borrower's visit plan: when the next visit is made, for which due date, of which kind."""

    __slots__ = ("rnd", "due", "kind", "at", "tier", "response")

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd
        self.due: int | None = None  # local day number of the due date planned for
        self.kind = ROUTINE
        self.at = _NEVER  # local seconds of the planned visit
        self.tier = 0
        self.response = False  # the effective tier rose since the last visit

    def visited(self) -> None:
        self.due, self.at, self.response = None, _NEVER, False

    def update(self, entry: ScheduleEntry, now: int, first: bool) -> None:
        """The schedule changed at local second ``now`` (``first``: the first profile): keep or redraw."""
        rank = _RANK[entry.tier]
        rose, self.tier = rank > self.tier and not first, rank
        due = entry.next_visit_due
        if due is None or entry.workout:
            self.due, self.at = None, _NEVER
            return
        day = _day(due)
        today = now // sm.DAY
        if (rose or is_response(entry)) and day >= today:  # already overdue: a rise changes nothing
            self.response = True
        if day == self.due and not (self.response and self.at // sm.DAY > day):
            if self.response:
                self.kind = RESPONSE
            return
        self.due = day
        earliest = today if now % sm.DAY < 16 * sm.HOUR else today + 1
        rnd = self.rnd
        if self.response:
            self.kind = RESPONSE
            if day == today:
                earliest = today  # due today: the team goes out this evening if need be
            last = max(day, earliest)
            visit = self._weekday(earliest + int(rnd.random() * (last - earliest + 1)), earliest, last)
        elif first and day < today:
            self.kind = ONBOARDING
            last = earliest + ONBOARDING_DAYS
            visit = self._weekday(earliest + int(rnd.random() * ONBOARDING_DAYS), earliest, last)
        else:
            self.kind = ROUTINE
            if rnd.random() < LATE_SHARE or day < earliest:
                lo, hi = max(day + 1, earliest), day + MAX_LATE_DAYS
                visit = self._weekday(lo + int(rnd.random() * (hi - lo + 1)), lo, hi) if lo <= hi else lo
            else:
                lo = max(earliest, day - LEAD_DAYS + 1)
                visit = self._weekday(day - int(rnd.random() * (day - lo + 1)), lo, day)
        begin, until = 9 * sm.HOUR, 17 * sm.HOUR
        if visit == today:
            begin = max(begin, now % sm.DAY + 600)
            until = min(max(until, begin + 1800), sm.DAY - 1)
        self.at = visit * sm.DAY + begin + int(rnd.random() * max(1, until - begin))

    @staticmethod
    def _weekday(day: int, lo: int, hi: int) -> int:
        """The nearest weekday within [lo, hi], earlier first; the day itself when there is none."""
        if not _weekend(day):
            return day
        for step in (-1, -2, 1, 2):
            d = day + step
            if lo <= d <= hi and not _weekend(d):
                return d
        return day


def inspections(p: sm.Portfolio, policy: Policy, seed: int, ids: list[str], courts: list[str],
                jobs: int = 1) -> dict[str, np.ndarray]:
    """Run the engine over every borrower's events and make the visits its schedule asks for.

    Returns the inspection table (columns ``INSPECTION_COLUMNS``): instant, borrower, outcome,
    note (-1 for none), inspector (0-2 within the team), the local day number of the due date it
    was made for and the plan kind (``ROUTINE``, ``RESPONSE``, ``ONBOARDING``). With ``jobs``
    above 1 the borrowers are split over that many processes; the result is the same.
    """
    cuts = np.linspace(0, p.n, max(1, jobs) + 1).astype(np.int64).tolist()
    parts = list(zip(cuts[:-1], cuts[1:]))
    if len(parts) == 1:
        rows = _run(p, policy, seed, ids, courts, 0, p.n)
    else:
        done = _in_processes(parts, (p, policy, seed, ids, courts))
        rows = [r for part in done for r in part]
    if not rows:
        return {c: np.zeros(0, np.int64) for c in INSPECTION_COLUMNS}
    cols = list(zip(*rows))
    return dict(t=np.array(cols[0], np.int64), b=np.array(cols[1], np.int64), outcome=np.array(cols[2], np.int8),
                note=np.array(cols[3], np.int8), inspector=np.array(cols[4], np.int8),
                due=np.array(cols[5], np.int64), plan=np.array(cols[6], np.int8))


def _in_processes(parts: list[tuple[int, int]], args: tuple[Any, ...]) -> list[list[tuple[int, ...]]]:
    """``_run`` of each part in a spawned process of its own, the answers in the parts' order.

    Plain processes and a socket pair each, not a pool: a process killed from outside (the OOM killer) closes
    its end, which fails the run at once with a clear error, and the others are ended. A pool could wait for
    ever there (multiprocessing.Pool for the lost answer; ProcessPoolExecutor on its feeder thread writing the
    large arguments to a dead process). The arguments go through the socket after the start, not with the
    start: the start writes them into a pipe whose reading end the starting process still holds, so a
    process killed while reading them would leave that write waiting for ever."""
    import multiprocessing
    from multiprocessing.connection import wait

    ctx = multiprocessing.get_context("spawn")  # no fork of a caller's threads
    procs: list[Any] = []
    conns: list[Any] = []
    answers: list[Any] = [None] * len(parts)
    try:
        for _ in parts:
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=_answer, args=(theirs,), daemon=True)
            procs.append(proc)
            conns.append(mine)
            proc.start()
            theirs.close()  # the child holds the other end alone: its death closes the pair
        for conn, (lo, hi) in zip(conns, parts):
            conn.send((*args, lo, hi))  # BrokenPipeError: it is dead
        pending = {conn: i for i, conn in enumerate(conns)}
        while pending:
            for conn in wait(list(pending)):
                i = pending.pop(conn)
                ok, value = conn.recv()  # EOFError: it ended without an answer
                if not ok:
                    raise MonitorError(f"simulating the inspections failed in a process of its own: {value}")
                answers[i] = value
    except (EOFError, OSError):
        raise MonitorError(f"a process simulating the inspections of {args[0].n:,} borrowers stopped without an "
                           "answer (killed: out of memory?); --jobs 1 needs about half the memory of --jobs 2") from None
    finally:
        for conn in conns:
            conn.close()
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join()
    return answers


def _answer(conn: Any) -> None:
    """A spawned process's body: its arguments read from ``conn``, ``_run``'s rows (or its error) sent back."""
    args = conn.recv()
    try:
        rows = _run(*args)
    except Exception as exc:  # noqa: BLE001 - the parent reports it
        conn.send((False, f"{type(exc).__name__}: {exc}"))
    else:
        conn.send((True, rows))
    conn.close()


def _run(p: sm.Portfolio, policy: Policy, seed: int, ids: list[str], courts: list[str], first_b: int,
         last_b: int) -> list[tuple[int, int, int, int, int, int, int]]:
    """The visits of borrowers first_b..last_b - 1 (a process of its own may run this)."""
    import gc

    was = gc.isenabled()
    gc.disable()  # many small long-lived objects and no cycles: the collector would only rescan them
    try:
        return _visits(p, policy, seed, ids, courts, first_b, last_b)
    finally:
        if was:
            gc.enable()


def _visits(p: sm.Portfolio, policy: Policy, seed: int, ids: list[str], courts: list[str], first_b: int,
            last_b: int) -> list[tuple[int, int, int, int, int, int, int]]:
    engine = Engine(policy)
    build = _Builder(p, ids, courts)
    tabs = [p.tables[k] for k in _KINDS]
    t = np.concatenate([tab["t"] for tab in tabs])
    b = np.concatenate([tab["b"] for tab in tabs])
    kind = np.concatenate([np.full(len(tab["t"]), k, np.int8) for k, tab in enumerate(tabs)])
    row = np.concatenate([np.arange(len(tab["t"])) for tab in tabs])
    order = np.lexsort((row, kind, t, b))
    b = b[order]
    bounds = np.searchsorted(b, np.arange(p.n + 1)).tolist()
    # only this process's borrowers' events as Python values (the whole portfolio's would be ~9 GiB a process at
    # 1 M x 12); ``i`` stays the event's position in the whole order (its event_id), ``i - base`` indexes these
    base, top = bounds[first_b], bounds[last_b]
    mine = order[base:top]
    t, kind, row = t[mine].tolist(), kind[mine].tolist(), row[mine].tolist()
    h = p.health
    onset, ramp, peak = h["onset"].tolist(), h["ramp"].tolist(), h["peak"].tolist()
    recover, recover_len = h["recover"].tolist(), h["recover_len"].tolist()
    visits_end = np.minimum(h["t_exit"], p.end_ts).tolist()  # no visit once the borrower has left
    team_col = p.borrower["team"].tolist()
    out: list[tuple[int, int, int, int, int, int, int]] = []
    grade_col = p.tables["rating_change"]["new"].tolist()
    profile_grade = p.tables["loan_profile"]["grade"].tolist()
    for bi in range(first_b, last_b):
        i, hi = bounds[bi], bounds[bi + 1]
        rnd = random.Random(f"sim-visits:{seed}:{bi}")
        plan = _Planner(rnd)
        state = engine.new_state(ids[bi])
        end = visits_end[bi]
        team = team_col[bi]
        grade = -1
        first = True
        while True:
            te = t[i - base] if i < hi else _NEVER
            tv = plan.at if plan.at < end else _NEVER
            wake = state.wake  # documented: the instant of the next time-driven change
            tw = _NEVER
            if wake is not None:
                tw = wake // _US + _UTC_SHIFT + (1 if wake % _US else 0)
                if tw >= end:
                    tw = _NEVER
            if tw < te and tw < tv:
                step = engine.advance(state, (tw - _UTC_SHIFT) * _US)
                state = step.state
                if step.schedule_changed:
                    entry = engine.schedule_entry(state)
                    plan.update(entry, tw, False)
                continue
            if tv < te:
                s = _stress(tv, onset[bi], ramp[bi], peak[bi], recover[bi], recover_len[bi])
                outcome = 2 if grade == sm.D else _outcome(rnd, s)
                note = int(rnd.random() * 3) if rnd.random() < 0.6 else -1
                inspector = int(rnd.random() * sm.INSPECTORS_PER_TEAM)
                out.append((tv, bi, outcome, note, inspector, plan.due if plan.due is not None else -1, plan.kind))
                event = InspectionCompleted.model_validate(dict(
                    event_id=f"v{len(out)}", borrower_id=ids[bi], occurred_at=_dt(tv), source="inspection-app",
                    team=sm.TEAMS[team], inspector=inspector_name(team, inspector), outcome=sm.OUTCOMES[outcome],
                    notes=None if note < 0 else sm.NOTES[outcome][note]))
                step = engine.apply(state, event, (tv - _UTC_SHIFT) * _US)
                state = step.state
                entry = engine.schedule_entry(state)
                plan.visited()  # whatever is due now is a new plan
                plan.update(entry, tv, False)
                continue
            if te == _NEVER:
                break
            k, r = kind[i - base], row[i - base]
            step = engine.apply(state, build.event(k, r, bi, te, f"e{i}"), (te - _UTC_SHIFT) * _US)
            state = step.state
            if k == 1:
                grade = grade_col[r]
            elif k == 0 and grade < 0:
                grade = profile_grade[r]
            if step.schedule_changed:
                entry = engine.schedule_entry(state)
                plan.update(entry, te, first and k == 0)
            if k == 0:
                first = False
            i += 1
    return out




def inspector_name(team: int, k: int) -> str:
    """The inspector's user id: the k-th (0-2) of the team's inspectors."""
    return f"insp-{team * sm.INSPECTORS_PER_TEAM + 1 + k:02d}"


def _stress(t: float, onset: float, ramp: float, peak: float, recover: float, recover_len: float) -> float:
    if peak <= 0.0 or t <= onset:
        return 0.0
    up = min(1.0, (t - onset) / ramp)
    down = 0.0 if t <= recover else min(1.0, (t - recover) / recover_len)
    return peak * up * (1.0 - down)


def _outcome(rnd: random.Random, s: float) -> int:
    u = rnd.random()
    p_det = sm.INSPECT_DETERIORATED + 0.6 * s * s
    if u < p_det:
        return 2
    return 1 if u < p_det + sm.INSPECT_CONCERN + 0.5 * s else 0

