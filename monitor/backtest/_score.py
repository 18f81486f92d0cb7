"""Scoring one policy's run against the outcomes. Pure: plain data in, plain data out.

Definitions (also in the package docstring and on the HTML page):

- In scope: defaults with ``defaulted_at`` at or before the as-of instant, of
  borrowers the engine monitored (it applied their profile). Others are
  counted apart and scored nowhere.
- Flag stretch at level L (watch+ or warning+): a stretch of time during which
  the engine's effective tier was at least L (from its alerts), from the rise
  to the fall (or as-of). Only what happened strictly before ``defaulted_at``
  counts.
- Censored: a stretch that starts within the warm-up at the start of the
  history (``warm_up_days`` after the first borrower was seen): it may have
  begun before the history, its true start is unknown. Censored stretches are
  left out of lead times; for detection their observed length is a lower
  bound (they count at h only when at least h days were observed).
- Headline detection at h (30, 90, 180 days): the borrower was flagged at L
  at least h days before the default AND still flagged at the default (the
  stretch that holds just before ``defaulted_at`` began at least h days
  before it). A flag cleared before the default warned nobody.
- First flag ever (secondary): the first flag came at least h days before the
  default, whatever happened after.
- Lead time: days from the start of the stretch still open at the default to
  the default, over the defaults so flagged, censored ones left out;
  quartiles by linear interpolation between order statistics.
- Base rate: share of all borrowers in scope flagged at L at some time (before
  their default, if any). Lift = share of defaults flagged before the default
  / base rate (= P(default | flagged) / P(default)).
- Precision (12 months of follow-up): flags raised at or before as-of - 365
  days (and before the borrower's own default) count; a flagged borrower is a
  true alarm when it defaulted within 365 days after an instant at which it
  was flagged. False-positive rate: among the borrowers seen by then that
  never defaulted, the share flagged by then. With less than 365 days of
  history nothing is measurable and the output says so.
- Workload: the visits the policy asked for and the backtest made (see
  ``_loop``), per borrower-year of performing time (first seen to default or
  as-of), in total, per team and per tier; baseline: a visit every 90 days
  over the same time; ratio = visits / baseline. With a teams file the visits
  are those the teams' capacity let them make (``_teams``), and the share
  made after their due dates, the days late and the visits still owed at the
  as-of instant (``_capacity``).
- Month ends: the borrowers monitored at each month end by effective tier
  (defaulted borrowers apart); shares averaged over the month ends after the
  first three months of history.
- Stability, over performing time: alerts (tier changes) per borrower-year,
  raises (normal to any tier), flips (a rise after an earlier fall of the same
  borrower) per borrower-year.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor._time import DAY, iso
from monitor.rules.policy import LEVEL_NAMES

__all__ = [
    "BASELINE_DAYS",
    "CURVE_DAYS",
    "FOLLOW_UP_DAYS",
    "HORIZONS",
    "LEVELS",
    "WARM_UP_DAYS",
    "Portfolio",
    "flag_stretches",
    "quartiles",
    "raised_by",
    "score_policy",
]

YEAR = 365 * DAY
HORIZONS = (30, 90, 180)
LEVELS = (("warning", 2), ("watch", 1))
CURVE_DAYS = 365
BASELINE_DAYS = 90
FOLLOW_UP_DAYS = 365
WARM_UP_DAYS = 31  # one monthly feed cycle: flags raised then may have begun before the history
SETTLE_MONTHS = 3  # month-end shares are averaged after the first three months

# an alert: (instant, from level, to level, rules listed)
AlertRow = tuple[int, int, int, tuple[str, ...]]
# visits made, counted by (team, tier, reason, counted)
VisitKey = tuple[str, int, str, bool]


@dataclass(slots=True)
class Portfolio:
    """One policy's run, merged over its parts."""

    as_of: int
    first_seen: dict[str, int] = field(default_factory=dict)
    team_time: dict[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)
    alerts: dict[str, list[AlertRow]] = field(default_factory=dict)
    visits: Counter[VisitKey] = field(default_factory=Counter)
    late: Counter[tuple[str, int]] = field(default_factory=Counter)  # teams' capacity: (team, days late) of visits
    owed: Counter[tuple[str, int]] = field(default_factory=Counter)  # (team, days overdue) of visits not made
    month_ends: dict[int, list[int]] = field(default_factory=dict)  # instant -> normal..severe, defaulted, workout

    @property
    def start(self) -> int | None:
        return min(self.first_seen.values()) if self.first_seen else None


def _r(x: float | None, digits: int) -> float | None:
    if x is None or math.isnan(x):
        return None
    v = round(x, digits)
    return 0.0 if v == 0 else v


def _rate(num: int, den: int) -> float | None:
    return _r(num / den, 4) if den else None


def quartiles(values: Sequence[float]) -> tuple[float, float, float] | None:
    """(p25, median, p75) by linear interpolation between order statistics; None when empty."""
    if not values:
        return None
    xs = sorted(values)

    def q(p: float) -> float:
        pos = p * (len(xs) - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, len(xs) - 1)
        return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)

    return q(0.25), q(0.5), q(0.75)


def flag_stretches(alerts: Sequence[AlertRow], level: int, end: int) -> list[tuple[int, int]]:
    """The stretches [start, stop) during which the effective tier was at least ``level``."""
    out: list[tuple[int, int]] = []
    tier = 0
    opened: int | None = None
    for at, _f, to, _rules in alerts:
        if tier < level <= to:
            opened = at
        elif to < level <= tier and opened is not None:
            out.append((opened, max(at, opened + 1)))
            opened = None
        tier = to
    if opened is not None:
        out.append((opened, max(end + 1, opened + 1)))
    return out


FlagFn = Callable[[str], list[tuple[int, int]]]


def _detection(flags: FlagFn, defaults: Sequence[tuple[str, int]], censor_before: int,
               point_flags: bool = False) -> tuple[dict[str, Any], list[int]]:
    """Headline and first-flag detection by horizon, lead quartiles; also the headline leads (us)."""
    n = len(defaults)
    held: list[int] = []  # lead of the stretch still open at the default (censored ones included)
    uncensored: list[int] = []
    first: list[int] = []
    censored = 0
    for bid, d in defaults:
        stretches = flags(bid)
        if not stretches or stretches[0][0] >= d:
            continue
        first.append(d - stretches[0][0])
        if point_flags:
            continue
        for s, e in stretches:
            if s < d <= e:
                held.append(d - s)
                if s < censor_before:
                    censored += 1
                else:
                    uncensored.append(d - s)
                break
    held.sort()
    first.sort()

    def counts(leads: list[int]) -> dict[str, Any]:
        out = {"flagged": {"count": len(leads), "rate": _rate(len(leads), n)}}
        for h in HORIZONS:
            c = len(leads) - bisect_left(leads, h * DAY)
            out[f"{h}d"] = {"count": c, "rate": _rate(c, n)}
        return out

    qs = quartiles([x / DAY for x in (first if point_flags else uncensored)])
    lead = {"n": len(first if point_flags else uncensored), "censored": censored,
            "p25": _r(qs[0], 1) if qs else None, "median": _r(qs[1], 1) if qs else None,
            "p75": _r(qs[2], 1) if qs else None}
    out: dict[str, Any] = {"defaults": n}
    if not point_flags:
        out["detected"] = counts(held)
    out["first_flag"] = counts(first)
    out["lead_time_days"] = lead
    return out, held


def _curve(leads: list[int], n: int) -> list[float]:
    """Share of the defaults detected (headline) at least d days before, for d = 0..CURVE_DAYS."""
    if not n:
        return []
    return [_r((len(leads) - bisect_left(leads, d * DAY)) / n, 4) or 0.0 for d in range(CURVE_DAYS + 1)]


def _base_rate(flags: FlagFn, p: Portfolio, ends: dict[str, int], flagged_defaults: int,
               n_defaults: int) -> dict[str, Any]:
    flagged = sum(1 for bid in p.alerts if bid in ends and (s := flags(bid)) and s[0][0] < ends[bid])
    total = len(p.first_seen)
    base = flagged / total if total else None
    detected = flagged_defaults / n_defaults if n_defaults else None
    return {"borrowers": total, "flagged": flagged, "base_rate": _r(base, 4),
            "lift": _r(detected / base, 3) if base and detected is not None else None}


def _negatives(p: Portfolio, all_defaults: set[str]) -> int:
    """Borrowers seen by the follow-up cutoff that never defaulted."""
    cutoff = p.as_of - FOLLOW_UP_DAYS * DAY
    return sum(1 for bid, t in p.first_seen.items() if t <= cutoff and bid not in all_defaults)


def _false_alarms(flags: FlagFn, borrowers: Iterable[str], p: Portfolio, default_at: dict[str, int],
                  all_defaults: set[str], negatives: int | None = None) -> dict[str, Any]:
    as_of, start = p.as_of, p.start
    cutoff = as_of - FOLLOW_UP_DAYS * DAY
    out: dict[str, Any] = {"follow_up_days": FOLLOW_UP_DAYS, "flags_raised_until": iso(cutoff)}
    if start is None or cutoff < start:
        days = (as_of - start) / DAY if start is not None else 0.0
        out.update(measurable=False, flagged=None, true_alarms=None, false_alarms=None, precision=None,
                   negatives=None, false_positive_rate=None,
                   note=f"not measurable: {days:.0f} days of history leave no flag with "
                        f"{FOLLOW_UP_DAYS} days of follow-up")
        return out
    flagged = true = flagged_negatives = 0
    follow = FOLLOW_UP_DAYS * DAY
    for bid in borrowers:
        stretches = flags(bid)
        if not stretches:
            continue
        d = default_at.get(bid)
        first = stretches[0][0]
        if first > cutoff or (d is not None and first >= d):
            continue
        flagged += 1
        if bid not in all_defaults:
            flagged_negatives += 1
        if d is None:
            continue
        for s, e in stretches:
            lo, hi = max(s, d - follow), min(e, d)
            if lo < hi and lo <= cutoff:
                true += 1
                break
    if negatives is None:
        negatives = _negatives(p, all_defaults)
    out.update(measurable=True, flagged=flagged, true_alarms=true, false_alarms=flagged - true,
               precision=_rate(true, flagged), negatives=negatives,
               false_positive_rate=_rate(flagged_negatives, negatives),
               note="" if flagged else "no flag with a full year of follow-up")
    return out


def _workload(p: Portfolio, ends: dict[str, int], performing_us: int) -> dict[str, Any]:
    start = p.start
    years = (p.as_of - start) / YEAR if start is not None else 0.0
    team_us: Counter[str] = Counter()
    for rows in p.team_time.values():
        for team, us in rows:
            team_us[team] += us
    counted: Counter[str] = Counter()
    by_tier: Counter[int] = Counter()
    by_reason: Counter[str] = Counter()
    uncounted = 0
    for (team, tier, reason, ok), n in p.visits.items():
        if not ok:
            uncounted += n
            continue
        counted[team] += n
        by_tier[tier] += n
        by_reason[reason] += n
    visits = sum(counted.values())
    by = performing_us / YEAR
    base = performing_us / DAY / BASELINE_DAYS

    def figures(n: int, us: float) -> dict[str, Any]:
        b = us / DAY / BASELINE_DAYS
        return {"visits": n, "visits_per_year": _r(n / years, 1) if years > 0 else None,
                "borrower_years": _r(us / YEAR, 2),
                "visits_per_borrower_year": _r(n / (us / YEAR), 3) if us > 0 else None,
                "baseline_visits_per_year": _r(b / years, 1) if years > 0 else None,
                "ratio_to_baseline": _r(n / b, 4) if b > 0 else None}

    return {
        "visits": visits, "history_years": _r(years, 4), "borrower_years": _r(by, 2),
        "visits_per_year": _r(visits / years, 1) if years > 0 else None,
        "visits_per_borrower_year": _r(visits / by, 3) if by > 0 else None,
        "baseline_visits_per_borrower_year": _r(365 / BASELINE_DAYS, 3),
        "baseline_visits_per_year": _r(base / years, 1) if years > 0 else None,
        "ratio_to_baseline": _r(visits / base, 4) if base > 0 else None,
        "before_history": uncounted,
        "by_tier": [{"tier": LEVEL_NAMES[t], "visits": by_tier.get(t, 0)} for t in range(4)],
        "by_reason": [{"reason": r, "visits": n} for r, n in sorted(by_reason.items())],
        "by_team": [{"team": t, **figures(counted.get(t, 0), team_us.get(t, 0))}
                    for t in sorted(set(team_us) | set(counted))],
    }


def _month_ends(p: Portfolio) -> dict[str, Any]:
    rows = []
    settled: list[tuple[float, float, float]] = []
    for i, at in enumerate(sorted(p.month_ends)):
        c = p.month_ends[at]
        monitored = sum(c[:4])
        watch_plus = c[1] + c[2] + c[3]
        row = {"at": iso(at), "monitored": monitored, "normal": c[0], "watch": c[1], "warning": c[2],
               "severe": c[3], "defaulted": c[4], "workout": c[5], "watch_plus_share": _rate(watch_plus, monitored),
               "warning_plus_share": _rate(c[2] + c[3], monitored), "severe_share": _rate(c[3], monitored)}
        rows.append(row)
        if i >= SETTLE_MONTHS and monitored:
            settled.append((watch_plus / monitored, (c[2] + c[3]) / monitored, c[3] / monitored))

    def mean(k: int) -> float | None:
        return _r(math.fsum(x[k] for x in settled) / len(settled), 4) if settled else None

    return {"after_months": SETTLE_MONTHS, "month_ends": len(settled), "watch_plus_share": mean(0),
            "warning_plus_share": mean(1), "severe_share": mean(2),
            "watch_plus_share_max": _r(max(x[0] for x in settled), 4) if settled else None,
            "severe_share_max": _r(max(x[2] for x in settled), 4) if settled else None, "rows": rows}


def _stability(p: Portfolio, ends: dict[str, int], performing_us: int) -> dict[str, Any]:
    alerts = raises = warnings = flips = flipping = flagged = 0
    for bid, rows in p.alerts.items():
        end = ends.get(bid)
        if end is None:
            continue
        fell = flipped = reached = False
        for at, f, to, _rules in rows:
            if at >= end:
                break
            alerts += 1
            raises += f == 0 < to
            if f < 2 <= to:
                warnings += 1
                reached = True
            if to < f:
                fell = True
            elif to > f and fell:
                flips += 1
                flipped = True
        flipping += flipped
        flagged += reached
    years = performing_us / YEAR

    def per(x: int) -> float | None:
        return _r(x / years, 4) if years > 0 else None

    return {"performing_borrower_years": _r(years, 2), "alerts": alerts, "alerts_per_borrower_year": per(alerts),
            "raises": raises, "raises_per_borrower_year": per(raises), "warning_raises": warnings,
            "flips": flips, "flips_per_borrower_year": per(flips), "borrowers_with_flips": flipping,
            "borrowers_flagged_warning": flagged}


def score_policy(p: Portfolio, defaults: Sequence[tuple[str, int]], rules: Sequence[str], *,
                 all_defaults: set[str] | None = None, warm_up_days: int = WARM_UP_DAYS,
                 per_rule: bool = True) -> dict[str, Any]:
    """Every figure of one policy; ``defaults``: the in-scope (borrower, instant) pairs, sorted."""
    default_at = dict(defaults)
    everyone_defaulted = all_defaults if all_defaults is not None else set(default_at)
    start = p.start
    censor_before = (start + warm_up_days * DAY) if start is not None else 0
    ends: dict[str, int] = {}
    performing = 0
    for bid, first in p.first_seen.items():
        end = p.as_of
        d = default_at.get(bid)
        if d is not None and d < end:
            end = max(d, first)
        ends[bid] = end
        performing += end - first
    borrowers = sorted(b for b in p.alerts if b in p.first_seen)  # only they can be flagged
    negatives = _negatives(p, everyone_defaulted)
    empty: list[AlertRow] = []
    out: dict[str, Any] = {"detection": {}, "curves": {}, "false_alarms": {}}
    cache: dict[tuple[str, int], list[tuple[int, int]]] = {}

    def policy_flags(level: int) -> FlagFn:
        def flags(bid: str) -> list[tuple[int, int]]:
            key = (bid, level)
            got = cache.get(key)
            if got is None:
                got = cache[key] = flag_stretches(p.alerts.get(bid, empty), level, p.as_of)
            return got
        return flags

    for name, level in LEVELS:
        det, held = _detection(policy_flags(level), defaults, censor_before)
        det.update(_base_rate(policy_flags(level), p, ends, det["first_flag"]["flagged"]["count"], len(defaults)))
        out["detection"][name] = det
        out["curves"][name] = _curve(held, len(defaults))
        out["false_alarms"][name] = _false_alarms(policy_flags(level), borrowers, p, default_at, everyone_defaulted,
                                                  negatives)
    out["censoring"] = {"warm_up_days": warm_up_days, "flags_starting_before": iso(censor_before)
                        if start is not None else None}
    out["workload"] = _workload(p, ends, performing)
    out["month_ends"] = _month_ends(p)
    out["stability"] = _stability(p, ends, performing)
    out["rules"] = _rules(p, defaults, rules, default_at, everyone_defaulted, ends, censor_before,
                          negatives) if per_rule else []
    return out


def raised_by(alerts: Sequence[AlertRow], level: int, end: int) -> list[tuple[int, int, tuple[str, ...]]]:
    """The stretches at ``level`` or above (as ``flag_stretches``) with the rules listed on the alert
    that opened each."""
    out: list[tuple[int, int, tuple[str, ...]]] = []
    tier = 0
    opened: tuple[int, tuple[str, ...]] | None = None
    for at, _f, to, rules in alerts:
        if tier < level <= to:
            opened = (at, rules)
        elif to < level <= tier and opened is not None:
            out.append((opened[0], max(at, opened[0] + 1), opened[1]))
            opened = None
        tier = to
    if opened is not None:
        out.append((opened[0], max(end + 1, opened[0] + 1), opened[1]))
    return out


def _rules(p: Portfolio, defaults: Sequence[tuple[str, int]], rules: Sequence[str], default_at: dict[str, int],
           all_defaults: set[str], ends: dict[str, int], censor_before: int, negatives: int) -> list[dict[str, Any]]:
    """Per rule R and level L, the flags R raised: the stretches at L or above whose opening alert lists R
    among its signals, measured as the policy's flags are (headline detection still flagged at the
    default, first flag, lead, precision and false-positive rate)."""
    listed: dict[str, int] = {}
    by_rule: dict[str, dict[int, dict[str, list[tuple[int, int]]]]] = {}  # rule -> level -> borrower -> stretches
    for bid, rows in p.alerts.items():
        end = ends.get(bid, p.as_of + 1)
        for at, _f, _to, names in rows:
            if at < end:
                for r in names:
                    listed[r] = listed.get(r, 0) + 1
        for _name, level in LEVELS:
            for start, stop, names in raised_by(rows, level, p.as_of):
                for r in names:
                    by_rule.setdefault(r, {}).setdefault(level, {}).setdefault(bid, []).append((start, stop))
    per_rule = []
    for rule in sorted(set(rules) | set(by_rule)):
        entry: dict[str, Any] = {"rule": rule, "alerts_listing": listed.get(rule, 0), "detection": {},
                                 "false_alarms": {}}
        for name, level in LEVELS:
            hits = by_rule.get(rule, {}).get(level, {})

            def flags(bid: str, hits: dict[str, list[tuple[int, int]]] = hits) -> list[tuple[int, int]]:
                return hits.get(bid, [])

            entry["detection"][name], _ = _detection(flags, defaults, censor_before)
            flagged = sorted(b for b in hits if b in p.first_seen)
            entry["false_alarms"][name] = _false_alarms(flags, flagged, p, default_at, all_defaults, negatives)
        per_rule.append(entry)
    return per_rule
