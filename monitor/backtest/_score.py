"""Scoring one policy's replay against the outcomes. Pure: plain data in, plain data out.

Definitions (also in the package docstring and the HTML page):

- In scope: defaults with ``defaulted_at`` at or before the as-of instant, of
  borrowers the replay knows (it applied their profile). Others are counted
  apart and scored nowhere.
- A borrower is *flagged at level L* (watch+ or warning+) from the first alert
  whose new effective tier is at least L. Only flags strictly before
  ``defaulted_at`` count: never anything at or after the default.
- Per rule R: a borrower is flagged by R at level L at the instant of any
  alert that lists R among its signals and whose new tier is at least L.
  (Alerts come at tier changes: a rule that starts to hold while the tier
  stays put is seen at the next change.)
- Detection within d days: the first flag came at least d days before the
  default (d = 0: at all). Rate = count / defaults in scope.
- Lead time: days from the first flag to the default, over the defaults
  flagged; quartiles by linear interpolation between order statistics.
- False alarms (warning+): only flags with a full year of follow-up count:
  raised at or before as-of - 365 days (and before the borrower's default). A
  flagged borrower is a true alarm when it defaulted within 365 days after an
  instant at which it was flagged (policy: while its tier was warning+; rule:
  at an alert listing the rule), else a false alarm. Precision = true /
  flagged. With less than 365 days of history nothing is measurable and the
  output says so.
- Workload: the visits the policy asks for, integrated over each borrower's
  performing time (first profile to default or as-of) as time / interval for
  its tier, grade, exposure and mitigation; per year = total / years of
  history (first profile in the portfolio to as-of). Baseline: every borrower
  every 90 days over the same time. Saving = 1 - policy / baseline.
- Stability, over performing time: alerts (tier changes) per borrower-year,
  raises (normal to any tier), flips (a rise after an earlier fall of the same
  borrower) per borrower-year.
"""

from __future__ import annotations

import math
from bisect import bisect_left
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
    "Portfolio",
    "quartiles",
    "score_policy",
]

YEAR = 365 * DAY
HORIZONS = (0, 30, 90, 180)
LEVELS = (("warning", 2), ("watch", 1))
CURVE_DAYS = 365
BASELINE_DAYS = 90
FOLLOW_UP_DAYS = 365

# an alert: (instant, from level, to level, rules listed)
AlertRow = tuple[int, int, int, tuple[str, ...]]


@dataclass(slots=True)
class Portfolio:
    """One policy's replay, merged over its parts."""

    as_of: int
    first_seen: dict[str, int] = field(default_factory=dict)
    teams: dict[str, list[tuple[str, int, int, float]]] = field(default_factory=dict)  # team, tier, us, visits
    alerts: dict[str, list[AlertRow]] = field(default_factory=dict)

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


def _flag_intervals(alerts: Sequence[AlertRow], level: int, end: int) -> list[tuple[int, int]]:
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


def _detection(flags: FlagFn, defaults: Sequence[tuple[str, int]]) -> tuple[dict[str, Any], list[int]]:
    """Detection counts and rates by horizon, lead quartiles; also the leads in microseconds."""
    n = len(defaults)
    leads: list[int] = []
    for bid, d in defaults:
        stretches = flags(bid)
        if stretches and stretches[0][0] < d:
            leads.append(d - stretches[0][0])
    leads.sort()
    by_horizon: dict[str, Any] = {}
    for h in HORIZONS:
        count = len(leads) - bisect_left(leads, h * DAY) if h else len(leads)
        by_horizon["flagged" if h == 0 else f"{h}d"] = {"count": count, "rate": _rate(count, n)}
    qs = quartiles([x / DAY for x in leads])
    lead = {"n": len(leads), "p25": _r(qs[0], 1) if qs else None, "median": _r(qs[1], 1) if qs else None,
            "p75": _r(qs[2], 1) if qs else None}
    return {"defaults": n, "detected": by_horizon, "lead_time_days": lead}, leads


def _curve(leads: list[int], n: int) -> list[float]:
    """Share of the defaults flagged at least d days before, for d = 0..CURVE_DAYS."""
    if not n:
        return []
    return [_r((len(leads) - bisect_left(leads, d * DAY)) / n, 4) or 0.0 for d in range(CURVE_DAYS + 1)]


def _false_alarms(flags: FlagFn, borrowers: Iterable[str], default_at: dict[str, int], as_of: int,
                  start: int | None) -> dict[str, Any]:
    cutoff = as_of - FOLLOW_UP_DAYS * DAY
    out: dict[str, Any] = {"follow_up_days": FOLLOW_UP_DAYS, "flags_raised_until": iso(cutoff)}
    if start is None or cutoff < start:
        days = (as_of - start) / DAY if start is not None else 0.0
        out.update(measurable=False, flagged=None, true_alarms=None, false_alarms=None, precision=None,
                   note=f"not measurable: {days:.0f} days of history leave no flag with "
                        f"{FOLLOW_UP_DAYS} days of follow-up")
        return out
    flagged = true = 0
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
        if d is None:
            continue
        for s, e in stretches:
            lo, hi = max(s, d - follow), min(e, d)
            if lo < hi and lo <= cutoff:
                true += 1
                break
    out.update(measurable=True, flagged=flagged, true_alarms=true, false_alarms=flagged - true,
               precision=_rate(true, flagged),
               note="" if flagged else "no warning+ flag with a full year of follow-up")
    return out


def _workload(p: Portfolio, performing_us: int) -> dict[str, Any]:
    start = p.start
    years = (p.as_of - start) / YEAR if start is not None else 0.0
    per_team: dict[str, tuple[list[float], list[float]]] = {}
    per_tier: dict[int, tuple[list[float], list[float]]] = {level: ([], []) for level in range(4)}
    for rows in p.teams.values():
        for team, tier, us, visits in rows:
            for acc in (per_team.setdefault(team, ([], [])), per_tier[tier]):
                acc[0].append(float(us))
                acc[1].append(visits)

    def figures(us_list: list[float], visits_list: list[float]) -> dict[str, Any]:
        visits = math.fsum(visits_list)
        base = math.fsum(us_list) / DAY / BASELINE_DAYS
        return {
            "visits_per_year": _r(visits / years, 1) if years > 0 else None,
            "baseline_visits_per_year": _r(base / years, 1) if years > 0 else None,
            "saving": _r(1 - visits / base, 4) if base > 0 else None,
            "visits": _r(visits, 1), "baseline_visits": _r(base, 1),
        }

    total = figures([x for a in per_team.values() for x in a[0]], [x for a in per_team.values() for x in a[1]])
    by = performing_us / YEAR
    total["visits_per_borrower_year"] = _r(total["visits"] / by, 3) if by > 0 else None
    total["baseline_visits_per_borrower_year"] = _r(365 / BASELINE_DAYS, 3)
    total["history_years"] = _r(years, 4)
    total["by_tier"] = [{"tier": LEVEL_NAMES[level], "borrower_years": _r(math.fsum(a[0]) / YEAR, 2),
                         "visits": _r(math.fsum(a[1]), 1),
                         "visits_per_year": _r(math.fsum(a[1]) / years, 1) if years > 0 else None}
                        for level, a in sorted(per_tier.items())]
    total["by_team"] = [{"team": t, **figures(a[0], a[1])} for t, a in sorted(per_team.items())]
    return total


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


def score_policy(p: Portfolio, defaults: Sequence[tuple[str, int]], rules: Sequence[str]) -> dict[str, Any]:
    """Every figure of one policy; ``defaults``: the in-scope (borrower, instant) pairs, sorted."""
    default_at = dict(defaults)
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
    empty: list[AlertRow] = []
    out: dict[str, Any] = {"detection": {}, "curves": {}}
    interval_cache: dict[tuple[str, int], list[tuple[int, int]]] = {}

    def policy_flags(level: int) -> FlagFn:
        def flags(bid: str) -> list[tuple[int, int]]:
            key = (bid, level)
            got = interval_cache.get(key)
            if got is None:
                got = interval_cache[key] = _flag_intervals(p.alerts.get(bid, empty), level, p.as_of)
            return got
        return flags

    for name, level in LEVELS:
        det, leads = _detection(policy_flags(level), defaults)
        out["detection"][name] = det
        out["curves"][name] = _curve(leads, len(defaults))
    out["false_alarms"] = _false_alarms(policy_flags(2), borrowers, default_at, p.as_of, p.start)
    out["workload"] = _workload(p, performing)
    out["stability"] = _stability(p, ends, performing)
    listed: dict[str, int] = {}
    by_rule: dict[str, dict[str, list[tuple[int, int]]]] = {}  # rule -> borrower -> (at, to level)
    for bid, rows in p.alerts.items():
        end = ends.get(bid, p.as_of + 1)
        for at, _f, to, names in rows:
            for r in names:
                by_rule.setdefault(r, {}).setdefault(bid, []).append((at, to))
                if at < end:
                    listed[r] = listed.get(r, 0) + 1
    per_rule = []
    for rule in sorted(set(rules) | set(by_rule)):
        hits = by_rule.get(rule, {})
        entry: dict[str, Any] = {"rule": rule, "alerts_listing": listed.get(rule, 0), "detection": {}}
        for name, level in LEVELS:
            def flags(bid: str, level: int = level, hits: dict[str, list[tuple[int, int]]] = hits
                      ) -> list[tuple[int, int]]:
                return [(at, at + 1) for at, to in hits.get(bid, ()) if to >= level]
            entry["detection"][name], _ = _detection(flags, defaults)
            if level == 2:
                flagged = sorted(b for b in hits if b in p.first_seen)
                entry["false_alarms"] = _false_alarms(flags, flagged, default_at, p.as_of, p.start)
        per_rule.append(entry)
    out["rules"] = per_rule
    return out
