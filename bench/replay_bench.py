"""Replay benchmark: events per second on one core, against a bare json.loads pass.

    python bench/replay_bench.py [--borrowers 8000] [--months 24] [--seed 11]

Simulates a portfolio (cached under the system temp dir), then measures in one
run: (1) a bare pass that only parses the lines with ``json.loads``; (2) the
replay (validation with the event models + engine + advancing to as-of) over
the same lines in memory; (3) the whole ``monitor replay`` path with file
reading and writing the outputs. Prints the figures and their ratios, and the
average serialised borrower state size.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.engine import Engine  # noqa: E402
from monitor.replay import ReplayResult, parse_lines, replay, replay_events, write_outputs  # noqa: E402
from monitor.rules.loader import default_policy  # noqa: E402
from monitor.simulate import simulate, write_simulation  # noqa: E402
from monitor.state import dump_state  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--borrowers", type=int, default=8000)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--repeat", type=int, default=3, help="take the best of this many runs of each pass")
    args = ap.parse_args()

    cache = Path(tempfile.gettempdir()) / f"monitor-bench-{args.borrowers}x{args.months}-s{args.seed}.jsonl"
    if not cache.exists():
        t = time.perf_counter()
        write_simulation(simulate(args.borrowers, args.months, args.seed), cache)
        print(f"simulated {cache} in {time.perf_counter() - t:.1f} s")
    lines = cache.read_bytes().splitlines()
    numbered = list(enumerate(lines, start=1))
    n = len(lines)
    print(f"events: {n:,} ({args.borrowers:,} borrowers x {args.months} months), cores: {os.cpu_count()}")

    policy = default_policy()

    def bare() -> float:
        loads = json.loads
        gc.disable()  # the same conditions as the replay pass
        try:
            t = time.perf_counter()
            parsed = [loads(line) for line in lines]  # kept, as the replay keeps its events
            elapsed = time.perf_counter() - t
            del parsed
            return elapsed
        finally:
            gc.enable()

    def core() -> tuple[float, float, ReplayResult]:
        gc.disable()  # as monitor.replay.replay does
        try:
            t = time.perf_counter()
            result = ReplayResult(as_of=None)
            events = parse_lines("bench", numbered, result.rejects)
            t_parse = time.perf_counter() - t
            replay_events(Engine(policy), events, None, result)
            return time.perf_counter() - t, t_parse, result
        finally:
            gc.enable()

    gc.collect()
    bare_t = min(bare() for _ in range(args.repeat))
    runs = []
    for _ in range(args.repeat):
        gc.collect()
        runs.append(core())
    replay_t, parse_t, result = min(runs, key=lambda r: r[0])

    out = Path(tempfile.mkdtemp(prefix="monitor-bench-out-"))
    t = time.perf_counter()
    full = replay([cache], policy)
    write_outputs(full, out)
    full_t = time.perf_counter() - t

    sizes = [len(dump_state(s)) for s in result.states.values()]
    print(f"bare json.loads pass        {bare_t:8.2f} s   {n / bare_t:>12,.0f} lines/s")
    print(f"validate (pydantic) only    {parse_t:8.2f} s   {n / parse_t:>12,.0f} events/s   "
          f"{parse_t / bare_t:5.2f} x bare")
    print(f"replay (validate + engine)  {replay_t:8.2f} s   {n / replay_t:>12,.0f} events/s   "
          f"{replay_t / bare_t:5.2f} x bare")
    print(f"monitor replay with files   {full_t:8.2f} s   {n / full_t:>12,.0f} events/s   "
          f"{full_t / bare_t:5.2f} x bare")
    print(f"alerts {len(result.alerts):,}; borrowers {len(sizes):,}; serialised state: mean "
          f"{statistics.mean(sizes):,.0f} B, p99 {sorted(sizes)[int(len(sizes) * 0.99)]:,} B, "
          f"max {max(sizes):,} B")
    print(f"goal: >= 100,000 events/s: {'met' if n / replay_t >= 100_000 else 'NOT met'}; "
          f"<= 8 x bare parse: {'met' if replay_t / bare_t <= 8 else 'NOT met'}; "
          f"state < 1 KB: {'met' if statistics.mean(sizes) < 1024 else 'NOT met'}")


if __name__ == "__main__":
    main()
