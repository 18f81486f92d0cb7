"""Desk scheduled monthly report benchmark: time from the period's end and the desk's memory growth (issue 14).

    flock /work/heavy.lock python bench/desk_report_bench.py --events FILE [--months 12] [--partitions 8]
    flock /work/heavy.lock python bench/desk_report_bench.py --borrowers 100000 --months 12   # simulates first

Measures the desk's own build path, :meth:`monitor.desk.reporting.Reporter.ensure` for the month that
ends ``--months`` calendar months after the first event (``--settle 0``: the build starts at the
period's end), in this process, on a portfolio simulated with ``monitor simulate`` (the events after
that month are left out: at the period's end the topics hold the history up to it).

The report source stands in for :class:`monitor.desk.report_kafka.KafkaReportSource`: its
``read_inputs`` turns the events file into the feed topics' records (topic by feed, partition by
borrower as ``monitor produce`` publishes them, an offset per partition, the ``seq`` header) when the
build asks for them, so that the records are allocated inside the build, as the Kafka source does;
the time it takes is printed apart (it stands in for reading the topics from a real broker, which is
slower). Lines that are not JSON objects with a type and a borrower go to the profiles topic without
a key (the worker dead-letters them; here the desk's own check does).

Figures: wall time and CPU time of the build (``ensure``: read, judge, sort, replay as of the period's
end, build and write the report), the input read's part of it, and the desk's memory growth while
building (peak resident set during the build, VmHWM after resetting it, minus the resident set
before). Goal (issue 14, 1,000,000 borrowers): < 60 s from the period's end, < 1 GiB of growth.
Prints the load average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _portfolio import portfolio

from monitor._time import local_date, parse_instant
from monitor.desk.reporting import InputRecord, Inputs, Notice, Reporter, ReportStore
from monitor.reports import midnight_us
from monitor.rules.loader import default_policy
from monitor.topics import Topics, partition_for

GIB = 1 << 30


def _status(field: str) -> int:
    """A /proc/self/status figure in bytes (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> bool:
    """Reset VmHWM to the current resident set (Linux: clear_refs 5)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def period_end(events: Path, months: int, zone: ZoneInfo) -> date:
    """The last day of the ``months``-th calendar month of the history (from its first line)."""
    with events.open("rb") as fh:
        first = json.loads(fh.readline())
    day = local_date(parse_instant(first["occurred_at"]), zone).replace(day=1)
    for _ in range(months):
        day = (day + timedelta(days=32)).replace(day=1)
    return day - timedelta(days=1)


class FileSource:
    """The feed topics' records made from an events file when the build reads them (see the docstring)."""

    def __init__(self, events: Path, topics: Topics, partitions: int, cut: int, arrived_ms: int) -> None:
        self.events, self.topics, self.partitions, self.cut, self.arrived_ms = events, topics, partitions, cut, arrived_ms
        self.read_seconds = 0.0
        self.records = 0
        self.notices: list[Notice] = []

    async def read_inputs(self) -> Inputs:
        started = time.perf_counter()
        records: list[InputRecord] = []
        offsets: dict[tuple[str, int], int] = {}
        bad_topic = self.topics.feed("loan_profile")
        with self.events.open("rb") as fh:
            for seq, raw in enumerate(fh):
                value = raw.rstrip(b"\n")
                try:
                    doc = json.loads(value)
                    topic, key = self.topics.feed(doc["type"]), str(doc["borrower_id"])
                    if parse_instant(doc["occurred_at"]) > self.cut:
                        continue  # not on the topics yet at the period's end
                    part = partition_for(key, self.partitions)
                    kb: bytes | None = key.encode()
                except (ValueError, KeyError, TypeError, AttributeError):
                    topic, kb, part = bad_topic, None, 0
                off = offsets.get((topic, part), 0)
                offsets[(topic, part)] = off + 1
                records.append(InputRecord(topic, part, off, kb, value, self.arrived_ms, seq))
        self.records = len(records)
        self.read_seconds = time.perf_counter() - started
        return Inputs(records, {}, self.partitions)

    async def published(self) -> set[str]:
        return {n.report_id for n in self.notices}

    async def publish(self, notice: Notice) -> None:
        self.notices.append(notice)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=Path, help="a simulated events file (default: simulate --borrowers)")
    ap.add_argument("--borrowers", type=int, default=100_000)
    ap.add_argument("--sim-months", type=int, default=12, help="months simulated when no --events is given")
    ap.add_argument("--months", type=int, default=12, help="the report's month: this many months of history")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--work", type=Path, help="the desk's reports directory (default: a temporary one)")
    args = ap.parse_args()
    events, _ = portfolio(args.borrowers, args.sim_months, args.seed, args.events)
    policy = default_policy()
    topics = Topics("bench.")
    day = period_end(events, args.months, policy.zone)
    cut = midnight_us(day + timedelta(days=1), policy.zone) - 1
    load_before = os.getloadavg()
    work = args.work or Path(tempfile.mkdtemp(prefix="desk-report-bench-"))
    source = FileSource(events, topics, args.partitions, cut, arrived_ms=cut // 1000)
    reporter = Reporter(ReportStore(work / "reports"), source, policy, topics=topics, lang="zh", settle_seconds=0.0)
    rss_before = _status("VmRSS")
    peak_reset = _reset_peak()
    cpu0, t0 = _cpu(), time.perf_counter()
    notices = asyncio.run(reporter.ensure(day, ["month"]))
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    peak = _status("VmHWM") if peak_reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    growth = peak - rss_before
    load_after = os.getloadavg()
    n = notices[0]
    print(f"desk report bench: {events.name}; month {n.label} ({n.first_day} .. {n.last_day}), {args.months} months "
          f"of history, {source.records:,} feed records on {args.partitions} partitions; os.cpu_count() = "
          f"{os.cpu_count()}")
    print(f"  build (Reporter.ensure, settle 0 = time from the period's end): {wall:.1f} s wall, {cpu:.1f} s CPU; "
          f"of which the input read (stand-in for the Kafka read): {source.read_seconds:.1f} s")
    print(f"  desk memory: {rss_before / GIB:.2f} GiB before, peak {peak / GIB:.2f} GiB during the build "
          f"({'VmHWM reset' if peak_reset else 'ru_maxrss: peak of the whole process'}): growth {growth / GIB:.2f} GiB")
    print(f"  goal at 1,000,000 borrowers: < 60 s from the period's end ({wall / 60:.2f} x), < 1 GiB growth "
          f"({growth / GIB:.2f} x)")
    print(f"  report {n.report_id}: {', '.join(f'{f.form} {f.bytes:,} B' for f in n.files)}")
    print(f"  load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
          f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
