"""Tuning benchmark: a `monitor tune` search of 40 candidate policies on a simulated portfolio.

    flock /work/heavy.lock python bench/tune_bench.py [--borrowers 20000] [--months 24] [--seed 11]
        [--candidates 40] [--jobs N] [--events FILE]

Takes the simulated portfolio (``bench/_portfolio.py``: simulated once with
``monitor simulate`` and cached, or ``--events``), writes a search space over
eight parameters of the shipped policy (the DPD warning band, the cure periods
of watch and warning, the weak-grade level, the bureau inquiries minimum, the
BBB base interval, the watch cadence and the warning response deadline), runs
the search through the library entry with a visit and an alert budget, and
prints the chosen candidate, the wall time and its parts (reading the
portfolio into the worker processes once, the rounds), the CPU time of every
process, the time per candidate and the load average before and after. Goal
(issue 11): at least 40 candidates on 20,000 borrowers x 24 months in under
10 minutes on this 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._portfolio import portfolio  # noqa: E402
from bench.backtest_bench import cpu_seconds, load  # noqa: E402
from monitor.tune import load_space, parse_constraint, run_tune, write_outputs  # noqa: E402
from monitor.tune._write import render_summary  # noqa: E402

GOAL_SECONDS = 600.0

SPACE = """
[search]
seed = 1
candidates = 40

[params]
"overdue.dpd.bands[1].min" = [15, 20, 30, 45]
"cure_days.watch" = { min = 30, max = 120, step = 15 }
"cure_days.warning" = [60, 90, 120]
"rating.weak_grade.level" = ["watch", "warning"]
"bureau.inquiries.min" = [4, 6, 8]
"visits.base_days.BBB" = [90, 120, 180]
"visits.cadence_days.watch" = [60, 90, 120]
"visits.response_days.warning" = [7, 10, 14]
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--borrowers", type=int, default=20_000)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--events", type=Path, help="a simulated events file (its outcomes beside it) instead")
    ap.add_argument("--candidates", type=int, default=40)
    ap.add_argument("--jobs", type=int, default=None)
    args = ap.parse_args()
    events, outcomes = portfolio(args.borrowers, args.months, args.seed, args.events)
    space_file = Path(tempfile.mkdtemp(prefix="monitor-tune-bench-")) / "space.toml"
    space_file.write_text(SPACE, encoding="utf-8")
    space = load_space(str(space_file), candidates=args.candidates)
    constraints = [parse_constraint("visits=1.0x", budget=True), parse_constraint("alerts=3", budget=True)]
    print(f"input: {events} ({events.stat().st_size / 1e6:,.0f} MB); {args.candidates} candidates; "
          f"cores: {os.cpu_count()}")
    notes: list[tuple[float, str]] = []
    load0 = load()
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    result = run_tune([str(events)], str(outcomes), space, constraints, jobs=args.jobs,
                      note=lambda msg: notes.append((time.perf_counter() - t0, msg)))
    wall = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    write_outputs(result, space_file.parent / "out")
    print(render_summary(result))
    print()
    for at, msg in notes:
        print(f"  {at:7.1f} s  {msg}")
    scored = [c for c in result.candidates if c.invalid is None]
    n = len(result.candidates)
    print(f"{n} candidates ({len(scored)} valid policies scored) in {result.rounds} rounds on {result.jobs} "
          f"processes: wall {wall:.1f} s ({wall / max(1, len(scored)):.1f} s per policy scored); goal < "
          f"{GOAL_SECONDS:.0f} s: {'met' if wall < GOAL_SECONDS and n >= 40 else 'NOT met'}")
    print(f"CPU time of all processes {cpu:.1f} s ({cpu / wall * 100:.0f}% of one core over the wall time)")
    load1 = load()
    print(f"load average (1/5/15 min) at start {load0}, at end {load1}")
    cores = os.cpu_count() or 1
    port = result.inputs.get("portfolio", {})
    months = port.get("history", {}).get("days", 0.0) / (365.25 / 12)
    print(f"GOAL issue 11: monitor tune, {n} candidates on {port.get('borrowers', 0):,} borrowers x {months:.0f} months: wall "
          f"{wall:.1f} s (goal < {GOAL_SECONDS:.0f} s with >= 40 candidates: "
          f"{'met' if wall < GOAL_SECONDS and n >= 40 else 'NOT met'}); CPU {cpu:.1f} s / {cores} cores = "
          f"{cpu / cores:.1f} s (the wall time on a quiet machine, at best); load {load0} -> {load1}")
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"peak memory: main {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB, "
          f"largest worker {kids / 1024:,.0f} MB")
    print(f"outputs: {space_file.parent / 'out'}")


if __name__ == "__main__":
    main()
