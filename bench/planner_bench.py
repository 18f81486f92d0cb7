"""Planner benchmark: 100,000 due visits over 200 teams.

    python bench/planner_bench.py [--visits 100000] [--teams 200] [--horizon 90] [--seed 7] [--repeat 3]

The visits are generated with a seeded RNG: tiers skewed to the lower ones,
due dates 10% overdue (up to 30 days), the rest up to 150 days ahead (some beyond the horizon),
exposures log-normal with a few unknown, a handful of visits without a team;
team sizes vary so that some teams have spare capacity and some run short.
It prints, per placement, the wall time of ``plan`` (best of ``--repeat``),
the time of the 30- and 90-day ``forecast`` (also best of ``--repeat``), and the shape of the result.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter
from datetime import date, timedelta

from monitor.desk.planner import DueVisit, forecast, plan
from monitor.desk.teams import parse_teams

TIERS = ("normal", "watch", "warning", "severe")


def build(n: int, n_teams: int, seed: int, today: date) -> tuple[list[DueVisit], str]:
    rng = random.Random(seed)
    teams = [f"T{i:03d}" for i in range(n_teams)]
    weights = [rng.uniform(0.3, 1.7) for _ in teams]  # uneven workloads
    toml = ['version = "bench"', "[defaults]", "visits_per_day = 6",
            'holidays = ["2026-12-31", "2027-01-01", "2027-02-16", "2027-02-17", "2027-02-18"]']
    for i, t in enumerate(teams):
        if i % 5 == 0 or i % 17 == 0:
            toml.append(f"[teams.{t}]")
        if i % 5 == 0:
            toml.append(f"visits_per_day = {rng.randint(3, 9)}")
        if i % 17 == 0:
            toml.append('working_days = ["mon", "tue", "wed", "thu", "fri", "sat"]')
    visits = []
    for k in range(n):
        team = rng.choices(teams, weights)[0] if k % 1000 else None
        tier = rng.choices(TIERS, (50, 30, 15, 5))[0]
        due = today + timedelta(days=rng.randint(-30, -1) if rng.random() < 0.1 else rng.randint(0, 150))
        exposure = None if rng.random() < 0.02 else round(rng.lognormvariate(13, 1.2), 2)
        visits.append(DueVisit(borrower_id=f"B{k:07d}", team=team, tier=tier, next_visit_due=due,
                               exposure=exposure, branch=f"BR{k % 50:02d}", reason="periodic"))
    return visits, "\n".join(toml) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--visits", type=int, default=100_000)
    ap.add_argument("--teams", type=int, default=200)
    ap.add_argument("--horizon", type=int, default=90)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    today = date(2026, 11, 30)
    visits, toml = build(args.visits, args.teams, args.seed, today)
    teams = parse_teams(toml, "bench")
    print(f"{len(visits):,} visits, {args.teams} teams, horizon {args.horizon} days, today {today}")
    for placement in ("latest", "earliest"):
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            result = plan(visits, today, teams, horizon=args.horizon, placement=placement)
            best = min(best, time.perf_counter() - t0)
        status = Counter(p.status for p in result)
        print(f"plan placement={placement}: {best * 1000:.0f} ms (best of {args.repeat}); "
              + ", ".join(f"{k} {v:,}" for k, v in sorted(status.items())))
    for days in (30, 90):
        took = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            rows = forecast(visits, today, teams, days=days)
            took = min(took, time.perf_counter() - t0)
        short = sum(r.short_from is not None for r in rows)
        late = sum(r.late for r in rows)
        print(f"forecast {days} days: {took * 1000:.0f} ms (best of {args.repeat}); {len(rows)} rows, {short} teams run short, "
              f"{late:,} visits late")


if __name__ == "__main__":
    main()
