"""Replay benchmark: the whole ``monitor replay`` command on a realistic portfolio, against bare json.loads.

    flock /work/heavy.lock python bench/replay_bench.py --events FILE [--workers 2] [--out DIR]
    flock /work/heavy.lock python bench/replay_bench.py --borrowers 1000000 --months 12   # simulates first

Measures in one run, on the same lines:

1. a bare pass over the file that only parses each line with ``json.loads`` (one core, nothing kept);
2. ``monitor replay FILE --out DIR --workers N`` as a separate process: wall time, events per second,
   and the peak memory of the whole process tree (the command and its workers, their resident sets
   summed, sampled every 0.2 s) beside the peak of the largest single process (``ru_maxrss``);
3. the average serialised borrower state (``dump_state``) over a sample of the borrowers (those
   whose id hashes to shard 0 of 50, replayed in process with their whole history).

Prints the figures, their ratios against the goals of issue 14, and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor._replay_stream import owner  # noqa: E402
from monitor.jsonl import iter_lines  # noqa: E402
from monitor.replay import replay  # noqa: E402
from monitor.rules.loader import default_policy  # noqa: E402
from monitor.state import dump_state  # noqa: E402

GIB = 1 << 30


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            with open(f"/proc/{p}/task/{p}/children") as fh:
                todo += [int(c) for c in fh.read().split()]
        except (OSError, ValueError):
            continue
    return total


def bare_pass(path: Path) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, lines) of a pass that only parses each line with ``json.loads``."""
    loads = json.loads
    n = 0
    started, cpu = time.perf_counter(), time.process_time()
    with path.open("rb") as fh:
        for line in fh:
            loads(line)
            n += 1
    return time.perf_counter() - started, time.process_time() - cpu, n


def run_replay(path: Path, out: Path, workers: int) -> tuple[float, int, dict[str, object]]:
    cmd = [sys.executable, "-m", "monitor", "replay", str(path), "--out", str(out), "--workers", str(workers)]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(0.2)
    wall = time.perf_counter() - started
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"monitor replay failed ({proc.returncode}): {stderr[-2000:]}")
    print(stdout)
    return wall, peak, json.loads((out / "summary.json").read_text())


def state_sizes(path: Path, tmp: Path) -> list[int]:
    sample = tmp / "sample.jsonl"
    with sample.open("wb") as fh:
        for _, raw in iter_lines(path):
            if owner(raw, 50) == 0:
                fh.write(raw + b"\n")
    result = replay([sample], default_policy())
    return [len(dump_state(s)) for s in result.states.values()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=Path, help="a JSONL events file (default: simulate --borrowers x --months)")
    ap.add_argument("--borrowers", type=int, default=1_000_000)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", type=Path, help="where the replay writes (kept: the report bench reads it)")
    args = ap.parse_args()
    load0 = os.getloadavg()
    path = args.events
    if path is None:
        path = Path(tempfile.gettempdir()) / f"monitor-bench-{args.borrowers}x{args.months}-s{args.seed}.jsonl"
        if not path.exists():
            subprocess.run([sys.executable, "-m", "monitor", "simulate", "--borrowers", str(args.borrowers),
                            "--months", str(args.months), "--seed", str(args.seed), "--out", str(path)],
                           cwd=ROOT, check=True)
    out = args.out or Path(tempfile.mkdtemp(prefix="monitor-replay-bench-"))
    print(f"replay bench: {path} ({path.stat().st_size / GIB:.2f} GiB), workers {args.workers}, "
          f"os.cpu_count() {os.cpu_count()}, load average at start {load0[0]:.1f}", flush=True)

    bare_t, bare_cpu, lines = bare_pass(path)
    print(f"bare json.loads pass (one core)    {bare_t:9.1f} s  {lines / bare_t:>12,.0f} lines/s; "
          f"cpu {bare_cpu:,.1f} s ({lines / bare_cpu:,.0f} lines per cpu-s)", flush=True)
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, peak, summary = run_replay(path, out, args.workers)
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    largest = cpu1.ru_maxrss * 1024
    events = summary["events"]  # type: ignore[index]
    read = int(events["read"])  # type: ignore[index]
    print(f"monitor replay (whole command)     {wall:9.1f} s  {read / wall:>12,.0f} events/s  "
          f"{wall / bare_t:5.2f} x the bare pass; cpu {cpu:,.0f} s ({cpu / wall * 100:.0f}% of one core)")
    print(f"peak memory: process tree {peak / GIB:.2f} GiB (largest single process {largest / GIB:.2f} GiB)")
    print(f"borrowers {summary['borrowers']['total']:,}; alerts {summary['alerts']['total']:,}; "  # type: ignore[index]
          f"events read {read:,}, applied {events['applied']:,}, copies {events['duplicate']:,}, "  # type: ignore[index]
          f"rejected {events['rejected']:,}")  # type: ignore[index]
    snaps = sum(f.stat().st_size for f in (out / "snapshots").rglob("*") if f.is_file())
    print(f"snapshots on disk {snaps / GIB:.2f} GiB")
    with tempfile.TemporaryDirectory() as tmp:
        sizes = state_sizes(path, Path(tmp))
    mean = statistics.mean(sizes)
    print(f"serialised state over {len(sizes):,} borrowers (1 in 50): mean {mean:,.0f} B, "
          f"p99 {sorted(sizes)[int(len(sizes) * 0.99)]:,} B, max {max(sizes):,} B")
    load1 = os.getloadavg()
    print(f"cpu: {read / cpu:,.0f} events per cpu-s of the whole command (all its processes), "
          f"{cpu / bare_cpu:.2f} x the bare pass's cpu; on an idle {args.workers}-core machine that is about "
          f"{read / cpu * args.workers:,.0f} events/s if the processes were kept busy")

    def line(name: str, value: str, goal: str, met: bool) -> None:
        print(f"GOAL {name:<44} {value:>16}   goal {goal:<14} {'met' if met else 'NOT met'}")

    print(f"-- issue 14 goals ({read:,} events, {summary['borrowers']['total']:,} borrowers, "  # type: ignore[index]
          f"{args.workers} workers; load average {load0[0]:.1f} at start, {load1[0]:.1f} at end) --")
    line("replay peak memory (process tree)", f"{peak / GIB:.2f} GiB", "<= 4 GiB at 1M", peak <= 4 * GIB)
    line("replay throughput, whole command (wall)", f"{read / wall:,.0f} ev/s", ">= 100,000", read / wall >= 100_000)
    line("replay wall / bare json.loads wall (1 core)", f"{wall / bare_t:.2f} x", "<= 4", wall / bare_t <= 4)
    line("mean serialised borrower state", f"{mean:,.0f} B", "< 1,024 B", mean < 1024)
    print(f"outputs in {out}")


if __name__ == "__main__":
    main()
