"""Simulator benchmark: generate, write and measure a calibrated portfolio, timed per stage.

    python bench/simulate_bench.py [--borrowers 20000] [--months 24] [--seed 1] [--jobs 1 2]

Prints, per ``--jobs`` value: the time to generate the portfolio (the engine run over every
borrower included), to write the events file, and, once, to measure its calibration from the
file (``monitor calibration``), with the CPU time of this process and its children, the load
average, and the calibration table. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.simulate import calibration_table, measure_calibration, simulate, write_simulation  # noqa: E402


def _cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--borrowers", type=int, default=20_000)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--no-calibration", action="store_true")
    args = ap.parse_args()
    print(f"simulate bench: {args.borrowers:,} borrowers x {args.months} months, seed {args.seed}; "
          f"os.cpu_count() = {os.cpu_count()}; load average at start {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="simbench-") as tmp:
        path = Path(tmp) / "events.jsonl.gz"
        for jobs in args.jobs:
            t, c = time.perf_counter(), _cpu()
            result = simulate(args.borrowers, args.months, args.seed, jobs=jobs)
            gen, gen_cpu = time.perf_counter() - t, _cpu() - c
            t, c = time.perf_counter(), _cpu()
            write_simulation(result, path)
            wr, wr_cpu = time.perf_counter() - t, _cpu() - c
            counts = result.counts()
            print(f"jobs {jobs}: generate {gen:6.1f} s ({gen_cpu:6.1f} cpu-s), write {wr:5.1f} s ({wr_cpu:5.1f} cpu-s), "
                  f"total {gen + wr:6.1f} s; {result.n_events:,} events ({result.n_events / (gen + wr):,.0f}/s), "
                  f"{counts['inspection_completed']:,} visits, {len(result.outcomes):,} defaults; "
                  f"{path.stat().st_size / 1e6:.0f} MB gzip; load average now {os.getloadavg()[0]:.1f}")
        if not args.no_calibration:
            t, c = time.perf_counter(), _cpu()
            measured = measure_calibration([path], start="2025-01-01", months=args.months)
            took, took_cpu = time.perf_counter() - t, _cpu() - c
            print(f"calibration measured from the file in {took:.1f} s ({took_cpu:.1f} cpu-s); "
                  f"load average now {os.getloadavg()[0]:.1f}")
            print(calibration_table(measured))


if __name__ == "__main__":
    main()
