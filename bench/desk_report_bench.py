"""Desk scheduled monthly report benchmark: time from the period's end and the desk's memory growth (issue 14).

    flock /work/heavy.lock python bench/desk_report_bench.py --events FILE [--months 12] [--partitions 8]
    flock /work/heavy.lock python bench/desk_report_bench.py --borrowers 100000 --months 12   # simulates first
    flock /work/heavy.lock python bench/desk_report_bench.py --events FILE --from-topics      # no replay

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

``--from-topics``: the build from what the workers publish (:mod:`monitor.desk.report_topics`) instead. Before
the clock starts, the events up to six hours after the period's end go through the worker's own runtime
(:class:`monitor.agents.runtime.Runtime`, day-end rows on, in this process, as the workers do while the period
runs) and its day-end rows and alerts are folded (:class:`monitor.day_ends.DayEnds`), as the desk does while it
consumes the topics; the fold's time and resident memory are printed apart. Timed: writing the report's input
directory from the fold (``write_inputs``), ``build_report`` and ``write_report``.

``--from-topics --save-rows DIR`` (the workers' part alone, for ``--rows DIR`` in a fresh process): ``--jobs N``
worker processes (default 2), the partitions split among them as the workers own them (:mod:`_desk_workers`: each
partition's day-end messages byte-identical to one runtime's over all; 100,000 borrowers in minutes, not hours);
``--jobs 0``: the serial runtime above.
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
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _portfolio import portfolio

from monitor._time import iso, local_date, parse_instant
from monitor.desk.reporting import InputRecord, Inputs, Notice, Reporter, ReportStore
from monitor.reports import ReportPaths, midnight_us
from monitor.snapshots import day_date
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


def from_topics(events: Path, day: date, partitions: int, work: Path, save: Path | None = None) -> None:
    """The ``--from-topics`` measurement (see the module docstring)."""
    from monitor.agents.runtime import Message, Runtime, StepResult
    from monitor.day_ends import DayEnds, floors_of
    from monitor.desk.report_topics import write_inputs
    from monitor.engine import Engine
    from monitor.reports import build_report, write_report
    from monitor.snapshots import day_number

    policy = default_policy()
    topics = Topics("bench.")
    cut = midnight_us(day + timedelta(days=1), policy.zone) - 1
    horizon = cut + 6 * 3_600_000_000
    load_before = os.getloadavg()
    rss0 = _status("VmRSS")
    t0 = time.perf_counter()
    rows: list[tuple[int, str, int, bytes, bytes]] = []
    with events.open("rb") as fh:
        for raw in fh:
            doc = json.loads(raw)
            at = parse_instant(doc["occurred_at"])
            if at <= horizon:
                rows.append((at, topics.feed(doc["type"]), partition_for(doc["borrower_id"], partitions),
                             doc["borrower_id"].encode(), raw.rstrip(b"\n")))
    rows.sort(key=lambda r: r[0])
    offsets: dict[tuple[str, int], int] = {}
    messages = []
    for seq, (_at, topic, part, key, value) in enumerate(rows):
        off = offsets.get((topic, part), 0)
        offsets[(topic, part)] = off + 1
        messages.append(Message(topic, part, off, key, value, seq, handle=None))
    del rows
    store: dict[str, bytes] = {}
    rt = Runtime(Engine(policy), topics, clock="event", partitions=partitions, get_state=store.get)
    rt.assign(range(partitions), [])
    fold = DayEnds(policy.zone, floors_of(policy))
    alerts: list[bytes] = []
    published: list[tuple[int, bytes]] = []
    row_bytes = row_count = 0
    marks = [Message(topics.clock, p, 0, None, json.dumps({"at": iso(horizon), "offsets": {
        t: offsets.get((t, p), 0) for t in topics.inputs}}).encode()) for p in range(partitions)]
    # the feed messages 5,000 at a time, then the watermarks (a worker applies an event only once a later one or
    # a watermark passed it on every feed of its partition: without them the last days are never applied)
    for chunk in [*(messages[i:i + 5000] for i in range(0, len(messages), 5000)), marks]:
        out = StepResult()
        rt.accept(chunk, out)
        rt.step(out)
        store.update(out.states)
        alerts += [a.model_dump_json().encode() for a in out.alerts]
        for bid, value in out.day_ends:
            row_bytes += len(value)
            row_count += value.count(b"\n") + 1
            if save is not None:
                published.append((partition_for(bid, partitions), value))
            else:
                fold.add_message(value)
    n_messages = len(messages)
    del messages, rt, store
    if save is not None:  # the workers' part only: what they published, for a desk in a fresh process
        save.mkdir(parents=True, exist_ok=True)
        with (save / "day-ends.bin").open("wb") as fh:
            for part, value in published:
                fh.write(part.to_bytes(4, "little") + len(value).to_bytes(4, "little") + value)
        (save / "alerts.jsonl").write_bytes(b"".join(a + b"\n" for a in alerts))
        (save / "meta.json").write_text(json.dumps({"day": day.isoformat(), "partitions": partitions,
                                                    "messages": n_messages, "rows": row_count, "bytes": row_bytes,
                                                    "offsets": [[t, p, o] for (t, p), o in offsets.items()]}))
        print(f"saved {len(published):,} day-end messages ({row_count:,} rows), {len(alerts):,} alerts to {save} "
              f"in {time.perf_counter() - t0:.1f} s")
        return
    fold.changes(day_number(day))
    fold_wall = time.perf_counter() - t0
    rss1 = _status("VmRSS")
    peak_reset = _reset_peak()
    cpu0, t1 = _cpu(), time.perf_counter()
    tdir = write_inputs(fold, alerts, [], work / "inputs", until=day_number(day), policy=policy,
                        offsets={t: {p: o} for (t, p), o in offsets.items()})
    t_inputs = time.perf_counter() - t1
    report = build_report(tdir, [], period="month", as_of=day)
    paths = write_report(report, work / "report", "zh")
    wall, cpu = time.perf_counter() - t1, _cpu() - cpu0
    peak = _status("VmHWM") if peak_reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    load_after = os.getloadavg()
    print(f"desk report bench, from topics: {events.name}; month {report.meta.label}, {n_messages:,} feed messages "
          f"on {partitions} partitions up to 6 h after the period's end")
    print(f"  before the period's end (the workers and the desk's fold, not timed as the build): {fold_wall:.1f} s; "
          f"{row_count:,} day-end rows published, {row_bytes / max(row_count, 1):.0f} B a row; "
          f"{len(alerts):,} alerts; desk resident {rss0 / GIB:.2f} -> {rss1 / GIB:.2f} GiB (the fold and this process)")
    _print_build(wall, cpu, t_inputs, peak - rss1, peak_reset, paths, load_before, load_after)



def save_rows(events: Path, day: date, partitions: int, save: Path, jobs: int, fast: bool) -> None:
    """``--save-rows DIR --jobs N``: the workers' part in ``jobs`` processes (:mod:`_desk_workers`), saved as the
    serial ``from_topics`` saves it."""
    from _desk_workers import publish

    policy = default_policy()
    horizon = midnight_us(day + timedelta(days=1), policy.zone) - 1 + 6 * 3_600_000_000
    load_before = os.getloadavg()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    got = publish(events, horizon, partitions, "bench.", save, jobs, fast)
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_after = os.getloadavg()
    (save / "meta.json").write_text(json.dumps({"day": day.isoformat(), "partitions": partitions,
                                                "messages": got["messages"], "rows": got["rows"],
                                                "bytes": got["bytes"], "offsets": got["offsets"]}))
    child_cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    print(f"saved {got['day_end_messages']:,} day-end messages ({got['rows']:,} rows, {got['bytes'] / GIB:.2f} GiB), "
          f"{got['alerts']:,} alerts of {got['messages']:,} feed messages to {save} in {time.perf_counter() - t0:.1f} s "
          f"(scan {got['scan_s']:.1f} s, {jobs} worker processes {got['workers_s']:.1f} s wall / {child_cpu:.1f} s CPU, "
          f"merge {got['merge_s']:.1f} s; {'fast' if fast else 'exact'}); load average before {load_before[0]:.2f}, "
          f"after {load_after[0]:.2f}")


def _print_build(wall: float, cpu: float, t_inputs: float, growth: int, peak_reset: bool, paths: Any,
                 load_before: tuple[float, ...], load_after: tuple[float, ...]) -> None:
    """The figures of a build from the period's end (both modes print them alike)."""
    print(f"  build from the period's end: {wall:.1f} s wall, {cpu:.1f} s CPU (input directory {t_inputs:.1f} s, "
          f"build_report + write_report {wall - t_inputs:.1f} s); memory growth {growth / GIB:.2f} GiB "
          f"({'VmHWM reset' if peak_reset else 'ru_maxrss'})")
    print(f"  report: html {paths.html.stat().st_size:,} B, json {paths.json.stat().st_size:,} B")
    print(f"  load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
          f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")

def _fold_rows(fold: Any, saved: Path, topics: Topics) -> None:
    """What the workers published (saved by ``--save-rows``), folded as :class:`~monitor.desk.report_fold.ReportFold`
    folds the topics: the day-end messages (read a message at a time: 1.3 GiB at 100,000), then the alerts."""
    parts = set()
    with (saved / "day-ends.bin").open("rb") as fh:  # the partitions with rows (as KafkaFold takes them from the
        while head := fh.read(8):                     # topic's offsets)
            parts.add(int.from_bytes(head[:4], "little"))
            fh.seek(int.from_bytes(head[4:], "little"), 1)
    fold.partitions.update(parts)
    with (saved / "day-ends.bin").open("rb") as fh:
        k = 0
        while head := fh.read(8):
            fold.take(topics.day_ends, int.from_bytes(head[:4], "little"), k,
                      fh.read(int.from_bytes(head[4:], "little")), 0)
            k += 1
    with (saved / "alerts.jsonl").open("rb") as fh:
        for k, line in enumerate(fh):
            fold.take(topics.alerts, 0, k, line.rstrip(b"\n"), 0)


def _save_fold(fold: Any, saved: Path, out: Path) -> None:
    """``--save-fold DIR``: the folded state pickled (``fold.pkl``; the closed months' spool is in ``DIR/.fold``,
    where the fold wrote it) with the rows' ``meta.json``, for ``--fold DIR`` (the fold at a million borrowers takes
    longer than the build it precedes: fold once, time the build many times)."""
    import pickle

    engine, days, policy = fold._engine, fold.day_ends.days, fold.policy
    fold._engine = None  # made again when needed; Days and the policy hold zone caches: set again on loading
    fold.day_ends.days = None
    fold.policy = None
    with (out / "fold.pkl").open("wb") as fh:
        pickle.dump(fold, fh, protocol=5)
    fold._engine, fold.day_ends.days, fold.policy = engine, days, policy
    shutil.copy(saved / "meta.json", out / "meta.json")


def _load_fold(src: Path, work: Path) -> Any:
    """``--fold DIR``: a fold saved by ``--save-fold``, its spool copied into ``work/.fold`` (the build reads it)."""
    import pickle

    from monitor.snapshots import Days

    if src.resolve() == work.resolve():
        raise SystemExit("--fold DIR: give another --work (the saved spool is copied there)")
    shutil.rmtree(work / ".fold", ignore_errors=True)
    shutil.copytree(src / ".fold", work / ".fold")
    with (src / "fold.pkl").open("rb") as fh:
        fold = pickle.load(fh)
    fold.spool = work / ".fold"
    if fold.day_ends._base is not None:
        fold.day_ends._base.dir = work / ".fold"
    fold.policy = default_policy()
    fold.day_ends.days = Days(fold.policy.zone)
    return fold


def desk(saved: Path | None, work: Path, keep_days: int, profile: Path | None = None, save_fold: bool = False,
         loaded: Path | None = None) -> None:
    """``--rows DIR``: the desk's part in a fresh process: fold what the workers published (saved by
    ``--save-rows``) as :class:`monitor.desk.report_fold.ReportFold` folds the topics (closed months to disk),
    then build the month's report from the period's end (timed, with the memory growth). ``--save-fold``: fold and
    save the fold in ``--work`` (no build); ``--fold DIR``: the build from a saved fold (no fold).

    The build is the desk's own path, :meth:`monitor.desk.reporting.Reporter._build` for the month (the fold as its
    ``Fold``: the input directory written in a thread as ``KafkaFold.snapshot`` writes it; then ``build_one``,
    ``write_forms``, the forms' digests and the store), stored in ``--work``/reports; the input directory kept in
    ``--work``/inputs (hard links)."""
    import gc

    from monitor.desk.report_fold import ReportFold
    from monitor.desk.report_heap import lean_heap

    from _desk_memory import Tree

    policy = default_policy()
    topics = Topics("bench.")
    meta = json.loads(((loaded or saved) / "meta.json").read_text())  # type: ignore[operator]
    day = date.fromisoformat(meta["day"])
    load_before = os.getloadavg()
    rss0 = _status("VmRSS")
    t0 = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    if loaded is not None:
        fold = _load_fold(loaded, work)
    else:
        assert saved is not None
        fold = ReportFold(policy, topics, keep_days=keep_days, spool=work / ".fold")
        _fold_rows(fold, saved, topics)
        if save_fold:
            _save_fold(fold, saved, work)
            print(f"fold of {saved} saved in {work} ({time.perf_counter() - t0:.1f} s; resident "
                  f"{_status('VmRSS') / GIB:.2f} GiB)")
            return
    gc.collect()
    fold_wall = time.perf_counter() - t0
    lean_heap()  # as Reporter._build does first
    rss1 = _status("VmRSS")
    base = fold.day_ends._base
    offsets: dict[str, dict[int, int]] = {}
    for t, p, o in meta["offsets"]:
        offsets.setdefault(t, {})[p] = o
    saved_fold = _SavedFold(fold, offsets, profile, keep=work / "inputs")
    source = _Published()
    reporter = Reporter(ReportStore(work / "reports"), source, policy, topics=topics, lang="zh", settle_seconds=0.0,
                        fold=saved_fold)
    peak_reset = _reset_peak()
    tree = Tree().start()
    cpu0, t1 = _cpu(), time.perf_counter()
    saved_fold.begun(t1, cpu0, peak_reset)
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    (notice,) = asyncio.run(reporter._build(day, ["month"]))  # the desk's path: input directory, build, write, store
    wall, cpu = time.perf_counter() - t1, _cpu() - cpu0
    # (VmHWM reset again after the input directory: the peak of the rest, and the whole build's the larger)
    peak_rest = _status("VmHWM") if peak_reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    peak = max(peak_rest, saved_fold.peak)
    tree.stop()
    kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    kids_cpu = kids1.ru_utime + kids1.ru_stime - kids0.ru_utime - kids0.ru_stime
    load_after = os.getloadavg()
    got = tree.figures(rss1, peak)
    t_inputs, cpu_inputs, peak_inputs = saved_fold.wall, saved_fold.cpu, saved_fold.peak
    print(f"  input directory CPU {cpu_inputs:.2f} s (user+sys), the rest (build_report + write_report + store) "
          f"{cpu - cpu_inputs:.2f} s; started processes {kids_cpu:.2f} s")
    print(f"desk report bench, the desk from {'the saved fold ' + str(loaded) if loaded else 'the saved topics ' + str(saved)}: "
          f"month {notice.label}; {meta['messages']:,} feed messages, {meta['rows']:,} day-end rows, "
          f"{len(fold.alerts):,} alerts")
    print(f"  fold (before the period's end, not timed as the build): {fold_wall:.1f} s; desk resident "
          f"{rss0 / GIB:.2f} -> {rss1 / GIB:.2f} GiB; closed up to {day_date(base.day) if base else None} "
          f"({base.rows if base else 0:,} rows on disk), {fold.day_ends.late:,} rows of stored days read again")
    stored = reporter.store.root / notice.stored_at
    _print_build(wall, cpu, t_inputs, peak - rss1, peak_reset, ReportPaths(*(stored / notice.file(f).name  # type: ignore[union-attr]
                                                                             for f in ("html", "json", "csv", "xlsx"))),
                 load_before, load_after)
    print(f"  growth counted with the started processes (bench/_desk_memory.py): {got['counted'] / GIB:.3f} GiB "
          f"(this process {got['self'] / GIB:.3f}, of which the input directory {(peak_inputs - rss1) / GIB:.3f}, "
          f"resident after it +{(saved_fold.left - rss1) / GIB:.3f}, the report's build, write and store "
          f"{(peak_rest - rss1) / GIB:.3f}; "
          f"+ {got['started']} started processes' peaks {got['children'] / GIB:.3f}); sampled peak of this process's "
          f"resident set + their PSS: +{got['sampled'] / GIB:.3f} GiB; CPU with them {cpu + kids_cpu:.1f} s")
    print(f"  started: {tree.describe()}")
    print(f"  stored: {stored} ({', '.join(f'{f.form} {f.bytes:,} B' for f in notice.files)})")


class _SavedFold:
    """The loaded fold as the reporter's :class:`~monitor.desk.reporting.Fold` (``KafkaFold.snapshot`` without the
    broker: the saved topics' end offsets): the input directory written by ``ReportFold.write`` in a thread, as
    ``KafkaFold`` writes it; its wall, CPU and the process's peak (VmHWM) at its end noted; a copy of it kept in
    ``keep`` (hard links) for comparing builds."""

    def __init__(self, fold: Any, offsets: dict[str, dict[int, int]], profile: Path | None,
                 keep: Path | None = None) -> None:
        self.fold, self.offsets, self.profile, self.keep = fold, offsets, profile, keep
        self.wall = self.cpu = 0.0
        self.peak = self.left = 0  # the process's peak (VmHWM) at its end, and its resident set then
        self._t1, self._cpu0, self._reset = 0.0, 0.0, False

    def begun(self, t1: float, cpu0: float, peak_reset: bool) -> None:
        self._t1, self._cpu0, self._reset = t1, cpu0, peak_reset

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def snapshot(self, out: Path, *, until: int, built_at: int) -> Any:
        return await asyncio.to_thread(self._write, out, until, built_at)

    def _write(self, out: Path, until: int, built_at: int) -> Any:
        prof = None
        if self.profile is not None:  # the input directory's part only (the report is the report helper's)
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
        snap = self.fold.write(out, until=until, built_at=built_at, offsets=self.offsets)
        self.wall, self.cpu = time.perf_counter() - self._t1, _cpu() - self._cpu0
        self.peak = _status("VmHWM") if self._reset else 0
        self.left = _status("VmRSS")
        if self._reset:
            _reset_peak()
        if prof is not None:
            prof.disable()
            prof.dump_stats(str(self.profile))
        if self.keep is not None:  # (hard links: the reporter removes its working directory after the build)
            shutil.rmtree(self.keep, ignore_errors=True)
            shutil.copytree(out, self.keep, copy_function=os.link)
        return snap


class _Published:
    """The reporter's source for a build from the fold: notices kept (the inputs come from the fold)."""

    def __init__(self) -> None:
        self.notices: list[Notice] = []

    async def read_inputs(self) -> Inputs:
        raise RuntimeError("a build from the fold reads no feed")

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
    ap.add_argument("--from-topics", action="store_true", help="build from the workers' day-end rows and alerts")
    ap.add_argument("--save-rows", type=Path, help="with --from-topics: save what the workers publish here, stop")
    ap.add_argument("--jobs", type=int, default=2, help="with --save-rows: worker processes, the partitions split "
                    "among them (bench/_desk_workers.py); 0: the runtime over all partitions in this process")
    ap.add_argument("--exact", action="store_true", help="with --save-rows and --jobs: the runtime's every output "
                    "made (by default those the rows never read are not)")
    ap.add_argument("--rows", type=Path, help="the desk's part alone, from rows saved by --save-rows")
    ap.add_argument("--keep-days", type=int, default=9, help="with --rows: the fold's keep_days (catch-up + 2)")
    ap.add_argument("--profile", type=Path, help="with --rows: cProfile the input directory's writing into this file")
    ap.add_argument("--save-fold", action="store_true", help="with --rows and --work: fold, save the fold there, stop")
    ap.add_argument("--fold", type=Path, help="the desk's build alone, from a fold saved by --save-fold")
    args = ap.parse_args()
    if args.rows is not None or args.fold is not None:
        if args.save_fold and args.work is None:
            ap.error("--save-fold needs --work (where the fold is saved)")
        work = args.work or Path(tempfile.mkdtemp(prefix="desk-report-bench-"))
        desk(args.rows, work, args.keep_days, args.profile, args.save_fold, args.fold)
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
        return
    events = args.events or portfolio(args.borrowers, args.sim_months, args.seed)[0]  # (no outcomes needed)
    policy = default_policy()
    topics = Topics("bench.")
    day = period_end(events, args.months, policy.zone)
    if args.from_topics and args.save_rows is not None and args.jobs > 0:
        save_rows(events, day, args.partitions, args.save_rows, args.jobs, not args.exact)
        return
    if args.from_topics:
        work = args.work or Path(tempfile.mkdtemp(prefix="desk-report-bench-"))
        from_topics(events, day, args.partitions, work, args.save_rows)
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
        return
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
