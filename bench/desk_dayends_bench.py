"""The desk's side of the day-end rows (issue 14): folding what the workers published and writing the snapshots.

    flock /work/heavy.lock python bench/desk_dayends_bench.py --events FILE [--months 12] [--partitions 8]

1. The worker's part, timed apart: the events up to the end of the ``--months``-th month go through the
   worker's runtime (:class:`monitor.agents.runtime.Runtime`, event clock, in this process, no Kafka) in
   batches of ``--batch`` messages, routed as ``monitor produce`` routes them, then a watermark at the cut;
   the day-end messages it publishes are written to a file (stand-in for the ``day-ends`` topic).
2. The desk's part, measured: read those messages, fold them (:class:`monitor.day_ends.DayEnds`) and write
   the month's ``snapshots/`` (records, checkpoints, inspections, events per feed and day), as a scheduled
   build would before ``build_report``. Figures: wall and CPU time, and the memory growth (peak resident set
   during the fold and the write, VmHWM after resetting it, minus the resident set before).
Prints the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from desk_report_bench import GIB, _cpu, _reset_peak, _status, period_end

from monitor._time import iso, parse_instant
from monitor.agents.runtime import Message, Runtime, StepResult
from monitor.day_ends import DayEnds, floors_of
from monitor.engine import Engine
from monitor.reports import midnight_us
from monitor.rules.loader import default_policy
from monitor.topics import Topics, partition_for


def publish(events: Path, out: Path, cut: int, partitions: int, batch: int) -> tuple[int, int, float]:
    """Run the worker's runtime over the events up to ``cut``; write its day-end messages to ``out``.
    Returns (events, messages, seconds)."""
    policy = default_policy()
    topics = Topics("bench.")
    store: dict[str, bytes] = {}
    rt = Runtime(Engine(policy), topics, clock="event", partitions=partitions, get_state=store.get)
    rt.assign(range(partitions), [])
    offsets: dict[tuple[str, int], int] = {}
    n_events = n_rows = 0
    started = time.perf_counter()
    with events.open("rb") as fh, out.open("wb") as sink:
        def step(chunk: list[Message]) -> None:
            nonlocal n_rows
            result = StepResult()
            rt.accept(chunk, result)
            rt.step(result)
            store.update(result.states)
            for bid, value in result.day_ends:
                key = bid.encode()
                sink.write(struct.pack("<II", len(key), len(value)) + key + value)
            n_rows += len(result.day_ends)

        chunk: list[Message] = []
        for seq, raw in enumerate(fh):
            try:
                doc = json.loads(raw)
                if parse_instant(doc["occurred_at"]) > cut:
                    continue
                topic, bid = topics.feed(doc["type"]), str(doc["borrower_id"])
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
            part = partition_for(bid, partitions)
            off = offsets.get((topic, part), 0)
            offsets[(topic, part)] = off + 1
            chunk.append(Message(topic, part, off, bid.encode(), raw.rstrip(b"\n"), seq, handle=None))
            n_events += 1
            if len(chunk) >= batch:
                step(chunk)
                chunk = []
        step(chunk)
        step([Message(topics.clock, p, 0, None, json.dumps({"at": iso(cut), "offsets": {
            t: offsets.get((t, p), 0) for t in topics.inputs}}).encode()) for p in range(partitions)])
    return n_events, n_rows, time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=Path, required=True, help="a simulated events file, in time order")
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--batch", type=int, default=5000)
    args = ap.parse_args()
    policy = default_policy()
    day = period_end(args.events, args.months, policy.zone)
    cut = midnight_us(day + timedelta(days=1), policy.zone) - 1
    work = Path(tempfile.mkdtemp(prefix="desk-dayends-bench-"))
    try:
        load0 = os.getloadavg()
        n_events, n_rows, worker_s = publish(args.events, work / "day-ends.bin", cut, args.partitions, args.batch)
        size = (work / "day-ends.bin").stat().st_size
        rss_before = _status("VmRSS")
        reset = _reset_peak()
        cpu0, t0 = _cpu(), time.perf_counter()
        fold = DayEnds(policy.zone, floors_of(policy))
        with (work / "day-ends.bin").open("rb") as fh:
            while head := fh.read(8):
                klen, vlen = struct.unpack("<II", head)
                fh.read(klen)  # the borrower (in the row too)
                fold.add(fh.read(vlen))
        t_fold = time.perf_counter() - t0
        until = fold.days.of(cut)
        fold.write(work / "snapshots", until, cut, policy_version=policy.version, timezone=policy.timezone)
        wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
        peak = _status("VmHWM") if reset else 0
        load1 = os.getloadavg()
        print(f"desk day-ends bench: {args.events.name}; month ending {day}, {n_events:,} events up to the cut, "
              f"{args.partitions} partitions; os.cpu_count() = {os.cpu_count()}")
        print(f"  worker runtime in process (apart): {worker_s:.1f} s, {n_events / worker_s:,.0f} ev/s; "
              f"{n_rows:,} day-end messages ({n_rows / max(n_events, 1):.2f} an event, {size / max(n_rows, 1):.0f} B "
              f"each, {size / GIB:.2f} GiB)")
        print(f"  desk: fold {t_fold:.1f} s + write snapshots {wall - t_fold:.1f} s = {wall:.1f} s wall, {cpu:.1f} s "
              f"CPU; {len(fold.borrowers()):,} borrowers")
        print(f"  desk memory: {rss_before / GIB:.2f} GiB before, peak {peak / GIB:.2f} GiB: growth "
              f"{(peak - rss_before) / GIB:.2f} GiB")
        print(f"  load average before {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, "
              f"after {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
