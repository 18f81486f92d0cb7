"""Report benchmark: the monthly report on a replay of a realistic portfolio (e.g. 1,000,000 borrowers, 12 months).

    flock /work/heavy.lock python bench/replay_bench.py --events EVENTS --out REPLAY    # first
    flock /work/heavy.lock python bench/report_bench.py --replay REPLAY --events EVENTS [--as-of 2025-12-31] [--policy P]

(``bench/report_tile.py`` makes a 1,000,000-borrower replay from a real replay of every tenth borrower, when
the whole replay does not fit the time at hand.)

The report reads the replay's outputs and its snapshots (the engine's records at each day's end), never
the events themselves (they are hashed as provenance). In a fresh process it builds the monthly report
ending ``--as-of`` (default: the replay's last full month) and writes its files, and prints the wall
time of each step and the peak resident memory (``VmHWM``). Goal (issue 14): under 10 s and 2 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

from _desk_memory import field, tree  # (bench/, this script's directory)

ROOT = Path(__file__).resolve().parent.parent


CHILD = r"""
import json, os, resource, sys, time
t0, c0 = time.perf_counter(), time.process_time()
from monitor.reports import build_report, write_report
d, events, as_of, out, policy = sys.argv[1:6]
t1 = time.perf_counter()
w1 = time.time()
report = build_report(d, [events], period="month", as_of=as_of, policy_path=policy or None)
t2 = time.perf_counter()
w2 = time.time()
c2, k2 = time.process_time(), sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2])
with open("/proc/self/status") as fh:  # what the workbook's writer (a fork) starts with, shared
    at_fork = next((int(x.split()[1]) * 1024 for x in fh if x.startswith("VmRSS:")), 0)
paths = write_report(report, out, "zh", jobs=2)  # as monitor report does (--jobs 2)
t3 = time.perf_counter()
with open("/proc/self/status") as fh:  # peak RSS of this program (ru_maxrss survives exec)
    hwm = next((int(x.split()[1]) * 1024 for x in fh if x.startswith("VmHWM:")), 0)
rss = hwm or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # the workbook's writer (a fork)
print(json.dumps({"import": t1 - t0, "build": t2 - t1, "write": t3 - t2, "total": t3 - t0, "rss": rss,
                  "child_rss": child_rss, "child_own": max(child_rss - at_fork, 0),
                  "cpu": time.process_time() - c0, "build_cpu": c2 - c0, "build_child_cpu": k2,
                  "child_cpu": sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2]),
                  "rows": report.warning_list.borrowers, "build_span": [w1, w2],
                  "alerts_in_period": report.changes.alerts,
                  "sizes": {p.name: p.stat().st_size for p in paths}}))
"""


class _PssPeak:
    """The largest sum of proportional set sizes (``/proc/PID/smaps_rollup``) of a process and its descendants,
    sampled by a thread: the memory of all of them together, each shared page counted once (the forks that
    write the forms share the report's pages until either side writes to one)."""

    EVERY = 0.1

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._done = pid, 0, threading.Event()
        self.samples: list[tuple[float, int]] = []  # (time.time(), sum of PSS)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(self.EVERY):
            total = sum(field(f"/proc/{pid}/smaps_rollup", b"Pss:") or 0 for pid in tree(self.pid))
            self.peak = max(self.peak, total)
            self.samples.append((time.time(), total))

    def peak_within(self, lo: float, hi: float) -> int:
        return max((v for t, v in self.samples if lo <= t <= hi), default=0)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--replay", type=Path, required=True, help="the --out directory of monitor replay")
    ap.add_argument("--events", type=Path, required=True, help="the events file it read")
    ap.add_argument("--as-of", default=None, help="last day of the month (default: the replay's last full month)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--policy", type=Path, default=None,
                    help="the policy file the replay ran under (default: the shipped policy)")
    args = ap.parse_args()
    summary = json.loads((args.replay / "summary.json").read_text())
    as_of = args.as_of
    if as_of is None:
        last = date.fromisoformat(summary["as_of"][:10]) + timedelta(days=1)  # local day (UTC+8) at the latest
        as_of = (last.replace(day=1) - timedelta(days=1)).isoformat()
    out = args.out or args.replay.parent / "report-bench-out"
    sizes = {p.name: p.stat().st_size for p in sorted(args.replay.iterdir()) if p.is_file()}
    snaps = sum(f.stat().st_size for f in (args.replay / "snapshots").rglob("*") if f.is_file())
    print(f"report bench: {summary['borrowers']['total']:,} borrowers, {summary['events']['read']:,} events "
          f"replayed (as of {summary['as_of']}); monthly report ending {as_of}")
    for name, size in sizes.items():
        print(f"  {name:<24} {size / 2**20:>10,.0f} MiB")
    print(f"  snapshots/               {snaps / 2**20:>10,.0f} MiB; events file {args.events.stat().st_size / 2**30:.2f} GiB")
    load = os.getloadavg()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(args.replay), str(args.events), as_of, str(out),
                             str(args.policy or "")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    pss = _PssPeak(proc.pid)
    stdout, stderr = proc.communicate()
    pss.stop()
    if proc.returncode != 0:
        print(stderr, file=sys.stderr)
        sys.exit(1)
    r = json.loads(stdout.strip().splitlines()[-1])
    print(f"monthly report: {r['alerts_in_period']:,} alerts in the month, {r['rows']:,} borrowers listed")
    print(f"  import        {r['import']:>7.2f} s")
    print(f"  build_report  {r['build']:>7.2f} s   CPU {r['build_cpu']:.2f} s this process (import included), "
          f"{r['build_child_cpu']:.2f} s its children")
    print(f"  write         {r['write']:>7.2f} s   CPU {r['cpu'] - r['build_cpu']:.2f} s this process, "
          f"{r['child_cpu'] - r['build_child_cpu']:.2f} s its children; " + ", ".join(f"{k} {v / 2**20:,.1f} MiB"
                                                        for k, v in r["sizes"].items()))
    print(f"  total         {r['total']:>7.2f} s   (goal < 10 s); CPU time of all threads {r['cpu']:.2f} s")
    # the workbook's writer is started (fork + exec) from this process: its ru_maxrss counts this process's pages
    # before its exec, so that the children's peak RSS says nothing of their own memory; the sum of PSS does
    peak = r["rss"]
    print(f"  peak RSS      {r['rss'] / 2**30:>7.2f} GiB this process; the largest of its children "
          f"{r['child_rss'] / 2**30:.2f} GiB (a started writer's counts this process's pages before its exec); "
          f"CPU of the children {r['child_cpu']:.2f} s")
    print(f"  peak PSS      {pss.peak / 2**30:>7.2f} GiB, the sum over the process and its forks (sampled every "
          f"{_PssPeak.EVERY} s: shared pages counted once, pages copied on write in each)")
    lo, hi = r["build_span"]
    print(f"                {pss.peak_within(lo, hi) / 2**30:>7.2f} GiB of it while building, "
          f"{pss.peak_within(hi, float('inf')) / 2**30:.2f} GiB while writing")
    peak = max(peak, pss.peak)
    after = os.getloadavg()[0]
    print(f"  load average  {load[0]:.2f} before, {after:.2f} after, on {os.cpu_count()} CPUs")
    met = "met" if r["total"] < 10 and peak < 2 * 2**30 else "NOT met"  # peak: the sum of PSS (or this one's RSS)
    print(f"GOAL monthly report, {summary['borrowers']['total']:,} borrowers: wall {r['total']:.1f} s, CPU "
          f"{r['cpu'] + r['child_cpu']:.1f} s (goal < 10 s); peak memory {peak / 2**30:.2f} GiB (goal < 2 GiB): {met} "
          f"(load {load[0]:.1f} -> {after:.1f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
