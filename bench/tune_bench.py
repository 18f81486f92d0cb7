"""Tuning benchmark: a `monitor tune` search of 40 candidate policies on a simulated portfolio.

    python bench/tune_bench.py [--borrowers 20000] [--months 24] [--seed 11] [--candidates 40] [--jobs N]

Simulates the portfolio once (cached under the system temp dir, shared with
the other benches), writes a search space over six parameters of the shipped
policy (DPD warning band, cure days, the weak-grade level, the downgrade-1
active days, the bureau inquiries minimum and the BBB base interval), runs
the search through the library entry with a visit and an alert budget, and
prints the wall time, the time per candidate, the load average and the
chosen candidate. Goal (issue 11): at least 40 candidates on 20,000
borrowers x 24 months in under 10 minutes on this 2-core machine.
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

from monitor.simulate import outcomes_path, simulate, write_simulation  # noqa: E402
from monitor.tune import load_space, parse_constraint, run_tune, write_outputs  # noqa: E402
from monitor.tune._write import render_summary  # noqa: E402

GOAL_SECONDS = 600.0

SPACE = """
[search]
seed = 1
candidates = 40

[params]
"overdue.dpd.bands[1].min" = [15, 20, 30, 45]
"cure_days" = { min = 30, max = 120, step = 15 }
"rating.weak_grade.level" = ["watch", "warning"]
"rating.downgrade_1.active_days" = [90, 180]
"bureau.inquiries.min" = [4, 6, 8]
"visits.base_days.BBB" = [90, 120, 180]
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--borrowers", type=int, default=20_000)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--candidates", type=int, default=40)
    ap.add_argument("--jobs", type=int, default=None)
    args = ap.parse_args()
    tmp = Path(tempfile.gettempdir())
    events = tmp / f"monitor-bench-{args.borrowers}x{args.months}-s{args.seed}.jsonl"
    if not events.exists() or not outcomes_path(events).exists():
        t = time.perf_counter()
        write_simulation(simulate(args.borrowers, args.months, args.seed), events)
        print(f"simulated {events} in {time.perf_counter() - t:.1f} s")
    space_file = Path(tempfile.mkdtemp(prefix="monitor-tune-bench-")) / "space.toml"
    space_file.write_text(SPACE, encoding="utf-8")
    space = load_space(str(space_file), candidates=args.candidates)
    constraints = [parse_constraint("visits=1.0x", budget=True), parse_constraint("alerts=3", budget=True)]
    print(f"input: {events} ({events.stat().st_size / 1e6:,.0f} MB); {args.candidates} candidates; "
          f"cores: {os.cpu_count()}")
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    result = run_tune([str(events)], str(outcomes_path(events)), space, constraints, jobs=args.jobs)
    wall = time.perf_counter() - t0
    write_outputs(result, space_file.parent / "out")
    print(render_summary(result))
    print()
    n = len(result.candidates)
    print(f"{n} candidates in {result.rounds} rounds on {result.jobs} processes: wall {wall:.1f} s "
          f"({wall / max(1, n):.1f} s per candidate); goal < {GOAL_SECONDS:.0f} s: "
          f"{'met' if wall < GOAL_SECONDS and n >= 40 else 'NOT met'}")
    print(f"load average at start {load0:.2f}, at end {os.getloadavg()[0]:.2f}")
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"peak memory: main {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB, "
          f"largest worker {kids / 1024:,.0f} MB")
    print(f"outputs: {space_file.parent / 'out'}")


if __name__ == "__main__":
    main()
