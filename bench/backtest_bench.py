"""Backtest benchmark: two policies over a simulated portfolio, timed end to end.

    flock /work/heavy.lock python bench/backtest_bench.py [--borrowers 100000] [--months 24] [--seed 11]
        [--jobs N] [--shards N] [--teams deploy/teams.example.toml] [--events FILE]

Takes the simulated portfolio (``bench/_portfolio.py``: simulated once with
``monitor simulate`` and cached, or ``--events``), writes a second policy (the
shipped one with the DPD warning band at 15 days instead of 30), runs
``monitor backtest`` through its library entry with both, writes the JSON and
HTML, and prints: wall time and its parts (splitting the input side by side,
the runs, scoring, writing), the CPU time of every process (and what that is
per core), per policy the CPU time of its runs and events per second, the load
average before and after, and the peak memory of the main process and of the
largest worker. Goal (issue 14): under a minute for 100,000 borrowers over 24
months on this 2-core machine.
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
from monitor.backtest import run_backtest  # noqa: E402
from monitor.backtest._html import render_html  # noqa: E402
from monitor.backtest._report import render_table, write_json  # noqa: E402
from monitor.rules.loader import DEFAULT_POLICY_PATH  # noqa: E402

GOAL_SECONDS = 60.0


def _lower_policy(directory: Path) -> Path:
    text = DEFAULT_POLICY_PATH.read_text(encoding="utf-8")
    text = text.replace('{ min = 30, level = "warning" },', '{ min = 15, level = "warning" },')
    lines = [('version = "bench-lower-dpd"' if line.startswith("version = ") else line) for line in text.splitlines()]
    path = directory / "bench-lower-dpd.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _mb(kb: int) -> str:
    return f"{kb / 1024:,.0f} MB"


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its children that have ended."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--borrowers", type=int, default=100_000)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--events", type=Path, help="a simulated events file (its outcomes beside it) instead")
    ap.add_argument("--jobs", type=int, default=None, help="worker processes (default: the CPUs)")
    ap.add_argument("--shards", type=int, default=None, help="parts (default: automatic)")
    ap.add_argument("--teams", type=Path, default=None, help="a teams file: visits as their capacity allows")
    ap.add_argument("--table", action="store_true", help="also print the comparison table")
    args = ap.parse_args()

    events, outcomes = portfolio(args.borrowers, args.months, args.seed, args.events)
    tmp = Path(tempfile.mkdtemp(prefix="monitor-backtest-bench-"))
    lower = _lower_policy(tmp)
    print(f"input: {events} ({events.stat().st_size / 1e6:,.0f} MB); policies: {DEFAULT_POLICY_PATH.name}, "
          f"{lower.name}; teams: {args.teams or '-'}; cores: {os.cpu_count()}")

    load0 = load()
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    bt = run_backtest([str(events)], str(outcomes), [str(DEFAULT_POLICY_PATH), str(lower)], jobs=args.jobs,
                      shards=args.shards, teams=str(args.teams) if args.teams else None)
    t1 = time.perf_counter()
    write_json(bt.report, tmp / "backtest.json")
    (tmp / "backtest.html").write_text(render_html(bt.report), encoding="utf-8", newline="\n")
    table = render_table(bt.report)
    wall = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0

    n = bt.events
    print(f"events: {n:,} lines; borrowers: {bt.report['borrowers']:,}; defaults in scope: "
          f"{bt.report['outcomes']['in_scope']:,}; parts: {bt.parts}; processes: {bt.jobs}")
    print(f"wall time                  {wall:8.1f} s   goal < {GOAL_SECONDS:.0f} s: "
          f"{'met' if wall < GOAL_SECONDS else 'NOT met'}")
    print(f"  split into parts         {bt.split_seconds:8.1f} s   (side by side, every process)")
    print(f"  runs (parallel)          {bt.runs_wall_seconds:8.1f} s   (reading each part once, "
          "then every policy over it)")
    print(f"  merge and score          {bt.score_seconds:8.1f} s")
    print(f"  write json, html, table  {wall - (t1 - t0):8.1f} s")
    print(f"CPU time of all processes  {cpu:8.1f} s   ({cpu / wall * 100:.0f}% of one core over the wall time; "
          f"{os.cpu_count()} cores)")
    print(f"  of which reading parts   {bt.load_cpu_seconds:8.1f} s CPU (validating and grouping {n:,} lines once "
          "for both policies)")
    months = bt.report["history"]["days"] / (365.25 / 12)
    bm = bt.report["borrowers"] * months  # borrower-months
    print(f"  per borrower-month       {bt.load_cpu_seconds / max(bm, 1) * 1e6:8.1f} us CPU reading "
          f"({bt.report['borrowers']:,} borrowers x {months:.1f} months)")
    for label in bt.task_seconds:
        ts, tc = bt.task_seconds[label], bt.task_cpu_seconds[label]
        print(f"policy {label:<18} runs {ts:6.1f} s elapsed, {tc:6.1f} s CPU ({n / tc:>7,.0f} events/s per core; "
              f"{tc / max(bm, 1) * 1e6:.1f} us CPU per borrower-month)")
    for p in bt.report["policies"]:
        w = p["workload"]
        print(f"policy {p['label']:<18} visits made {w['visits']:,} ({w['visits_per_borrower_year']} per "
              f"borrower-year)" + (f"; late {w['capacity']['late_share']}" if "capacity" in w else ""))
    load1 = load()
    print(f"load average (1/5/15 min) at start {load0}, at end {load1}")
    cores = os.cpu_count() or 1
    print(f"GOAL issue 14: backtest {bt.report['borrowers']:,} borrowers x {months:.0f} months x {len(bt.policies)} "
          f"policies: wall {wall:.1f} s (goal < {GOAL_SECONDS:.0f} s: {'met' if wall < GOAL_SECONDS else 'NOT met'}); "
          f"CPU {cpu:.1f} s / {cores} cores = {cpu / cores:.1f} s (the wall time on a quiet machine, at best); "
          f"load {load0} -> {load1}")
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"peak memory: main process {_mb(me)}; largest worker {_mb(kids) if kids else '(none: ran in-process)'}")
    print(f"outputs: {tmp}/backtest.json, {tmp}/backtest.html")
    if args.table:
        print()
        print(table)


if __name__ == "__main__":
    main()
