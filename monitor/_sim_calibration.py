"""Private: a portfolio's statistics measured from its events file, beside public bands.

``measure(paths)`` reads an events file (the simulator's or a bank's own) and
measures each statistic of ``BANDS`` from the events alone: it never looks at
the generator's internals. The inspection statistics need the due dates, so
the events also go through :class:`monitor.engine.Engine` with the policy
(as ``monitor replay`` would), and each visit is compared with the due date in
force just before it.

Definitions (instants in the policy's time zone; the horizon is ``start`` plus
``months`` calendar months, by default from the first event's day to the month
boundary after the last event):

- *present*: from the borrower's first ``loan_profile`` until it leaves the
  book, which a ``loan_profile`` with exposure 0 marks (the simulator's
  defaulted borrowers leave that way; see :mod:`monitor.simulate`).
- *default*: the first instant at which an account reaches 90 days past due
  (counted forward from its latest ``overdue`` event) or a ``rating_change``
  to D, as in the outcomes file.
- *annual default rate*: defaults in the horizon / borrower-years present and
  not yet defaulted.
- *stock at 90+ / 1-89 DPD*: at each month end (local midnight starting the
  next month), the share of present borrowers whose highest DPD over their
  accounts is 90+ / 1-89; the mean over the month ends, from the 12th on for
  90+ (the book goes live without defaulted borrowers and a defaulted one
  stays up to 360 days, so earlier month ends are still filling up), all of
  them for 1-89.
- *any own-bank overdue in a year*: per full year of the horizon, the share of
  borrowers present in it with DPD above 0 at some instant in it; the mean.
- *episodes cured within 7 days*: an episode runs on one account from a
  positive DPD to the next 0; it is cured within 7 days when its DPD at the
  cure is at most 7. Episodes still open at the horizon end below 8 DPD, and
  arrears already running on the first day, are left out.
- *downgrades / upgrades*: ``rating_change`` events to a worse / better grade
  (moves to D are defaults, counted above) per borrower-year present.
- *initial book at CCC or worse*: borrowers whose first profile falls on the
  first day, by that profile's grade.
- *exit after default*: days from the default to leaving the book, for every
  defaulted borrower that left; one that stays more than 360 days counts as a
  miss when the horizon shows it.
- *inspections*: each ``inspection_completed`` against the due date in force
  just before it (``Engine.schedule_entry`` after ``Engine.advance`` to the
  instant before the visit). A *response* visit is the first visit after the
  effective tier rose or the engine set a response deadline (reason
  ``tier_raised``, or ``workout_ended`` at a tier above normal), unless the
  due date in force had already passed then (that visit was late before);
  a *routine* one any other visit with a due date. Visits while the
  schedule shows no due date (workout) are counted apart. The
  first visit of a borrower whose first due date had already passed when its
  profile arrived (the book going live) is counted apart as *onboarding*.
"""

from __future__ import annotations

import gc
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from monitor._time import DAY, local_date, to_us
from monitor.engine import Engine
from monitor.events import Event, InspectionCompleted, LoanProfile, Overdue, RatingChange
from monitor.jsonl import iter_lines
from monitor.outputs import ScheduleEntry
from monitor.rules.policy import LEVEL_NAMES, Policy

__all__ = ["BANDS", "Band", "Measured", "format_table", "measure"]

YEAR = 365.25 * DAY
_DEBUG: list | None = None
_RANK = {name: i for i, name in enumerate(LEVEL_NAMES)}
_WEAK = {"CCC", "CC", "C", "D"}
_GRADE = {g: i for i, g in enumerate(("AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C", "D"))}


@dataclass(frozen=True)
class Band:
    """A statistic, the range a realistic portfolio shows, and where the range comes from."""

    key: str
    label: str
    low: float
    high: float
    unit: str  # "%" (value is a share, shown x 100) or "days"
    source: str


# Each band and its public source. NFRA = the National Financial Regulatory Administration
# (formerly CBIRC), whose quarterly statistics give commercial banks' NPL and special-mention
# ratios; S&P = S&P Global Ratings' annual global corporate default and rating transition studies.
BANDS: tuple[Band, ...] = (
    Band("default_rate", "annual default rate (90+ DPD or grade D)", 0.015, 0.025, "%",
         "S&P 2023 study: speculative-grade default rate 3.7 %; NFRA: commercial banks' NPL ratio "
         "1.5-1.6 % (2023-2024), inclusive small-business loans ~2.2 % (State Council briefing, 2022-04)"),
    Band("stock_90", "stock at 90+ DPD at a month end (before workout exit)", 0.010, 0.020, "%",
         "NFRA: NPL (substandard and worse, i.e. 90+ DPD floor) ratio 1.5-1.6 % of loans, 2023-2024"),
    Band("stock_1_89", "stock at 1-89 DPD at a month end", 0.015, 0.030, "%",
         "NFRA: special-mention loans 2.2 % (4.5 of 202.5 trillion yuan, end of 2023); any overdue "
         "is at least special mention under the 2023 classification rules"),
    Band("any_overdue", "borrowers with any own-bank overdue in a year", 0.08, 0.15, "%",
         "bank practice (DOMAIN.md): only a small share of borrowers have any overdue in a year"),
    Band("cured_7d", "overdue episodes cured within 7 days", 0.60, 0.80, "%",
         "bank practice (DOMAIN.md): most small arrears are technical and cure within a week (~70 %)"),
    Band("downgrades", "rating downgrades per borrower-year (moves to D excluded)", 0.04, 0.08, "%",
         "S&P 2024 transition study: 5.8 % of issuers downgraded in the year"),
    Band("upgrades", "rating upgrades per borrower-year", 0.06, 0.12, "%",
         "S&P 2024 transition study: 9.6 % of issuers upgraded in the year"),
    Band("initial_ccc", "initial book at CCC or worse", 0.0, 0.02, "%",
         "S&P: 91.7 % of defaulters were CCC+ or below before default, so CCC is rare in a healthy book"),
    Band("exit_in_window", "defaulted borrowers leaving 90-360 days after default", 1.0, 1.0, "%",
         "DOMAIN.md: defaulted borrowers go to special-asset management for workout and write-off; "
         "the 2023 classification rules make 360+ DPD a loss"),
    Band("visits_on_time", "routine visits done by their due date", 0.85, 0.95, "%",
         "issue 11: about 90 % by the due date (inspection teams follow the engine's schedule)"),
    Band("late_within_30", "late routine visits late by 1-30 days", 1.0, 1.0, "%",
         "issue 11: the rest late by 1-30 days"),
    Band("response_on_time", "response visits within the response deadline", 1.0, 1.0, "%",
         "issue 11 and the policy's response deadlines (a tier rise pulls the due date forward)"),
)


@dataclass(frozen=True)
class Measured:
    """One band's measured value (None: not measurable on this file) and how it was counted."""

    band: Band
    value: float | None
    detail: str

    @property
    def ok(self) -> bool:
        if self.value is None:
            return False
        eps = 1e-12
        return self.band.low - eps <= self.value <= self.band.high + eps


def _read(paths: Sequence[str | Path]) -> list[tuple[int, Event]]:
    """Valid events, first copy of each event id per borrower, in time order (stable)."""
    from monitor.replay import parse_lines  # a shell's reader: validates like ``monitor replay``

    events: list[tuple[int, Event]] = []
    rejects: list = []
    for path in paths:
        events.extend(parse_lines(str(path), iter_lines(path), rejects))
    seen: set[tuple[str, str]] = set()
    out = []
    for t, e in events:
        key = (e.borrower_id, e.event_id)
        if key not in seen:
            seen.add(key)
            out.append((t, e))
    out.sort(key=lambda x: x[0])
    return out


def _month_bounds(first: date, months: int, zone) -> list[int]:  # noqa: ANN001 - a ZoneInfo
    out = []
    y, m, d = first.year, first.month, first.day
    for k in range(months + 1):
        mm = m - 1 + k
        yy, mm = y + mm // 12, mm % 12 + 1
        last = (date(yy + (mm == 12), mm % 12 + 1, 1) - timedelta(days=1)).day
        out.append(to_us(datetime(yy, mm, min(d, last), tzinfo=zone)))
    return out


class _Borrower:
    __slots__ = ("first", "exit", "grade0", "accounts", "ratings", "default")

    def __init__(self) -> None:
        self.first: int | None = None
        self.exit: int | None = None
        self.grade0: str | None = None
        self.accounts: dict[str, list[tuple[int, int]]] = {}
        self.ratings: list[tuple[int, str, str]] = []
        self.default: int | None = None


def measure(paths: Sequence[str | Path], policy: Policy | None = None, *, start: str | None = None,
            months: int | None = None) -> list[Measured]:
    """Measure every band's statistic on the events file(s); see the module docstring."""
    if policy is None:
        from monitor.rules.loader import default_policy

        policy = default_policy()
    zone = policy.zone
    was = gc.isenabled()
    gc.disable()
    try:
        events = _read(paths)
    finally:
        if was:
            gc.enable()
    if not events:
        return [Measured(b, None, "no events") for b in BANDS]
    first_day = date.fromisoformat(start) if start else local_date(events[0][0], zone)
    if months is None:
        months = 1
        while _month_bounds(first_day, months, zone)[-1] <= events[-1][0]:
            months += 1
    bounds = _month_bounds(first_day, months, zone)
    h0, h1 = bounds[0], bounds[-1]
    people: dict[str, _Borrower] = {}
    per_borrower: dict[str, list[tuple[int, Event]]] = {}
    for t, e in events:
        if not h0 <= t < h1:
            continue
        b = people.get(e.borrower_id)
        if b is None:
            b = people[e.borrower_id] = _Borrower()
            per_borrower[e.borrower_id] = []
        per_borrower[e.borrower_id].append((t, e))
        if isinstance(e, Overdue):
            b.accounts.setdefault(e.account_id, []).append((t, e.days_past_due))
        elif isinstance(e, RatingChange):
            b.ratings.append((t, e.old_grade.value, e.new_grade.value))
        elif isinstance(e, LoanProfile):
            if b.first is None:
                b.first, b.grade0 = t, e.grade.value
            elif e.exposure == 0 and b.exit is None:
                b.exit = t
    for b in people.values():
        b.default = _default(b, h1)
    out = [*_defaults_and_stocks(people, bounds), *_overdue(people, bounds), *_ratings(people, h1),
           _initial(people, h0), _exits(people, h1), *_inspections(per_borrower, policy)]
    order = {band.key: i for i, band in enumerate(BANDS)}
    return sorted(out, key=lambda m: order[m.band.key])


def _band(key: str) -> Band:
    return next(b for b in BANDS if b.key == key)


def _default(b: _Borrower, end: int) -> int | None:
    best: int | None = None
    for rows in b.accounts.values():
        for (t, d), nxt in zip(rows, [*rows[1:], None]):
            if d <= 0:
                continue
            when = t + max(0, 90 - d) * DAY
            if (nxt is None or nxt[0] > when) and when < end:
                best = when if best is None else min(best, when)
                break
    for t, _old, new in b.ratings:
        if new == "D":
            best = t if best is None else min(best, t)
            break
    return best


def _end_of(b: _Borrower, end: int) -> int:
    return min(end, b.exit) if b.exit is not None else end


def _defaults_and_stocks(people: dict[str, _Borrower], bounds: list[int]) -> list[Measured]:
    h1 = bounds[-1]
    n_def, risk = 0, 0.0
    for b in people.values():
        if b.first is None:
            continue
        stop = _end_of(b, h1)
        if b.default is not None and b.default < stop:
            n_def += 1
            stop = b.default
        risk += max(0, stop - b.first)
    rate = n_def / (risk / YEAR) if risk else None
    # month ends (the horizon's own end: its last instant), then per borrower its worst DPD at each
    ends = [min(m, h1 - 1) for m in bounds[1:]]
    k = len(ends)
    present = [0] * (k + 1)
    at90 = [0] * k
    at1 = [0] * k
    for b in people.values():
        if b.first is None:
            continue
        lo = bisect_left(ends, b.first)
        hi = bisect_left(ends, b.exit) if b.exit is not None else k
        if lo >= hi:
            continue
        present[lo] += 1
        present[hi] -= 1
        worst: dict[int, int] = {}
        for rows in b.accounts.values():
            for (t, d), nxt in zip(rows, [*rows[1:], None]):
                if d <= 0:
                    continue
                j = max(bisect_left(ends, t), lo)
                stop = min(bisect_left(ends, nxt[0]) if nxt is not None else k, hi)
                for i in range(j, stop):
                    dpd = d + (ends[i] - t) // DAY
                    if dpd > worst.get(i, 0):
                        worst[i] = dpd
        for i, dpd in worst.items():
            if dpd >= 90:
                at90[i] += 1
            else:
                at1[i] += 1
    s90, s189 = [], []
    running = 0
    for i in range(k):
        running += present[i]
        if running:
            s189.append(at1[i] / running)
            if i >= 11:  # the 12th month end on
                s90.append(at90[i] / running)
    years = risk / YEAR
    return [
        Measured(_band("default_rate"), rate, f"{n_def} defaults over {years:,.0f} borrower-years at risk"),
        Measured(_band("stock_90"), sum(s90) / len(s90) if s90 else None,
                 _range(s90, "month ends 12+") if s90 else "needs 12+ months"),
        Measured(_band("stock_1_89"), sum(s189) / len(s189) if s189 else None, _range(s189, "all month ends")),
    ]


def _range(xs: list[float], what: str) -> str:
    return f"mean of {len(xs)} {what}: {min(xs) * 100:.2f}-{max(xs) * 100:.2f} %"


def _overdue(people: dict[str, _Borrower], bounds: list[int]) -> list[Measured]:
    h0, h1 = bounds[0], bounds[-1]
    shares = []
    for j in range(0, len(bounds) - 12, 12):
        w0, w1 = bounds[j], bounds[j + 12]
        present = hit = 0
        for b in people.values():
            if b.first is None or b.first >= w1 or (b.exit is not None and b.exit <= w0):
                continue
            present += 1
            if any(_positive_in(rows, w0, w1) for rows in b.accounts.values()):
                hit += 1
        if present:
            shares.append(hit / present)
    quick = slow = 0
    for b in people.values():
        for rows in b.accounts.values():
            open_at: tuple[int, int] | None = None  # (t, d) of the latest positive report
            skip = False
            for t, d in rows:
                if d > 0:
                    if open_at is None:
                        skip = t < h0 + DAY and d > 5  # arrears running when the book went live
                    open_at = (t, d)
                    continue
                if open_at is not None:
                    if not skip:
                        cure_dpd = open_at[1] + (t - open_at[0]) // DAY
                        quick += cure_dpd <= 7
                        slow += cure_dpd > 7
                    open_at = None
            if open_at is not None and not skip:
                if open_at[1] + (h1 - 1 - open_at[0]) // DAY >= 8:
                    slow += 1
    episodes = quick + slow
    return [
        Measured(_band("any_overdue"), sum(shares) / len(shares) if shares else None,
                 f"{len(shares)} full year(s): " + ", ".join(f"{x * 100:.1f} %" for x in shares)
                 if shares else "needs 12+ months"),
        Measured(_band("cured_7d"), quick / episodes if episodes else None,
                 f"{quick} of {episodes} episodes cured by 7 DPD"),
    ]


def _positive_in(rows: list[tuple[int, int]], w0: int, w1: int) -> bool:
    for (t, d), nxt in zip(rows, [*rows[1:], None]):
        if d > 0 and t < w1 and (nxt is None or nxt[0] > w0):
            return True
    return False


def _ratings(people: dict[str, _Borrower], h1: int) -> list[Measured]:
    down = up = 0
    years = 0.0
    for b in people.values():
        if b.first is None:
            continue
        years += (_end_of(b, h1) - b.first) / YEAR
        for _t, old, new in b.ratings:
            if new == "D":
                continue
            if _GRADE[new] > _GRADE[old]:
                down += 1
            elif _GRADE[new] < _GRADE[old]:
                up += 1
    return [
        Measured(_band("downgrades"), down / years if years else None,
                 f"{down} downgrades over {years:,.0f} borrower-years"),
        Measured(_band("upgrades"), up / years if years else None, f"{up} upgrades over {years:,.0f} borrower-years"),
    ]


def _initial(people: dict[str, _Borrower], h0: int) -> Measured:
    book = [b for b in people.values() if b.first is not None and b.first < h0 + DAY]
    weak = sum(b.grade0 in _WEAK for b in book)
    return Measured(_band("initial_ccc"), weak / len(book) if book else None,
                    f"{weak} of {len(book)} borrowers on the first day")


def _exits(people: dict[str, _Borrower], h1: int) -> Measured:
    days = []
    stayed = 0
    for b in people.values():
        if b.default is None:
            continue
        if b.exit is not None and b.exit >= b.default:
            days.append((b.exit - b.default) / DAY)
        elif h1 - b.default > 360 * DAY:
            stayed += 1
    inside = sum(90 <= x <= 360 for x in days)
    n = len(days) + stayed
    detail = (f"{len(days)} left, {min(days):.0f}-{max(days):.0f} days after default; "
              f"{stayed} still in the book 360+ days after default") if days else f"{stayed} stayed"
    return Measured(_band("exit_in_window"), inside / n if n else None, detail)


def _inspections(per_borrower: dict[str, list[tuple[int, Event]]], policy: Policy) -> list[Measured]:
    engine = Engine(policy)
    zone = policy.zone
    on_time = late = late_30 = resp = resp_ok = onboard = no_due = 0
    worst = 0
    was = gc.isenabled()
    gc.disable()
    try:
        for bid, rows in per_borrower.items():
            state = engine.new_state(bid)
            tier = 0
            response = False
            onboarding = False
            seen_profile = False
            for t, e in rows:
                step = engine.advance(state, t - 1)
                state = step.state
                if step.schedule_changed:
                    entry = engine.schedule_entry(state)
                    rank = _RANK[entry.tier]
                    response |= _rose(rank, tier, entry, t - 1, zone)
                    tier = rank
                if isinstance(e, InspectionCompleted):
                    due = engine.schedule_entry(state).next_visit_due
                    day = local_date(t, zone)
                    if due is None:
                        no_due += 1
                    elif onboarding:
                        onboard += 1
                    elif response:
                        resp += 1
                        resp_ok += day <= due
                        if day > due and _DEBUG is not None:
                            _DEBUG.append((bid, t, due, day))
                    elif day <= due:
                        on_time += 1
                    else:
                        late += 1
                        lag = (day - due).days
                        late_30 += lag <= 30
                        worst = max(worst, lag)
                    response = onboarding = False
                step = engine.apply(state, e, t)
                state = step.state
                if isinstance(e, LoanProfile) and not seen_profile:
                    seen_profile = True
                    entry = engine.schedule_entry(state)
                    onboarding = entry.next_visit_due is not None and entry.next_visit_due < local_date(t, zone)
                    tier = _RANK[entry.tier]  # the first profile raises nothing
                elif step.schedule_changed:
                    entry = engine.schedule_entry(state)
                    rank = _RANK[entry.tier]
                    response |= _rose(rank, tier, entry, t, zone)
                    tier = rank
    finally:
        if was:
            gc.enable()
    routine = on_time + late
    rest = f"; {onboard} onboarding visits and {no_due} with no due date left out"
    return [
        Measured(_band("visits_on_time"), on_time / routine if routine else None,
                 f"{on_time} of {routine} routine visits" + rest),
        Measured(_band("late_within_30"), late_30 / late if late else (1.0 if routine else None),
                 f"{late_30} of {late} late visits; the latest {worst} days late"),
        Measured(_band("response_on_time"), resp_ok / resp if resp else None,
                 f"{resp_ok} of {resp} response visits"),
    ]


def _rose(rank: int, before: int, entry: ScheduleEntry, t: int, zone) -> bool:  # noqa: ANN001 - a ZoneInfo
    """A change that calls for a response visit (a tier rise, or a due date the engine set as a
    response deadline), unless the due date it leaves has already passed."""
    due = entry.next_visit_due
    if due is None or due < local_date(t, zone):
        return False
    return rank > before or entry.reason == "tier_raised" or (
        entry.reason == "workout_ended" and entry.tier != "normal")


def format_table(measured: Sequence[Measured]) -> str:
    """The measured statistics beside their bands, one per line, and the sources below."""
    lines = [f"{'statistic':<58} {'measured':>10} {'band':>13}  ", "-" * 92]
    for m in measured:
        b = m.band
        if b.unit == "%":
            value = "n/a" if m.value is None else f"{m.value * 100:.2f} %"
            band = f"{b.low * 100:g}-{b.high * 100:g} %" if b.low != b.high else f"{b.low * 100:g} %"
        else:
            value = "n/a" if m.value is None else f"{m.value:.1f}"
            band = f"{b.low:g}-{b.high:g}"
        lines.append(f"{b.label:<58} {value:>10} {band:>13}  {'ok' if m.ok else 'OUT'}")
        lines.append(f"    {m.detail}")
    lines.append("")
    lines.append("sources:")
    for m in measured:
        lines.append(f"  {m.band.key}: {m.band.source}")
    return "\n".join(lines)
