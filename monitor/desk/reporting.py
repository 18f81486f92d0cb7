"""Periodic reports in the alert desk service: built on schedule from Kafka, stored, announced, served.

One code path. ``monitor report`` reads the outputs of ``monitor replay`` (summary, borrowers, alerts,
schedule history, rejects) and the event files. The service has no such directory, and two of those files
cannot be read off any topic: ``summary.json`` counts what the engine applied and recognised as a copy, and
``schedule_history.jsonl`` holds every change of a due date with its instant, while the ``visit-schedule`` and
``borrowers`` topics are compacted (only the latest value survives), carry no instant of change (schedule) or
describe each borrower at its own clock, not at the end of the period (details: the days past due keep
growing). Since the report records the SHA-256 of every input, a byte-identical report needs byte-identical
files. What the service *can* read completely is the input: the feed topics keep every event forever. So, at a
scheduled instant, the service

1. reads the input topics and the dead-letter topic to their end offsets,
2. writes the events dated up to the end of the period (``occurred_at`` <= the
   cut) to ``events.jsonl`` in the order the worker applies them (event time,
   ``monitor produce``'s ``seq``, feed, partition, offset), then the rejected
   messages; runs the engine over them with the functions ``monitor replay``
   uses (:func:`monitor.replay.replay_events`, :func:`~monitor.replay.write_outputs`)
   as of the cut, into a working directory,
3. builds each report ending that day with :func:`monitor.reports.build_report`
   and writes it with :func:`monitor.reports.write_report`.

The result is byte for byte what ``monitor replay --as-of CUT events.jsonl`` and
``monitor report`` give on that events file (tests/desk/test_reporting.py).

Input mapping (topic -> report input):

* feed topics -> ``events.jsonl``: valid events with ``occurred_at`` <= cut (a report is built once per
  period: an event arriving after the build is in the input of a rebuild only, which gets another id); a
  message the worker dead-lettered or would (invalid, wrong feed, key or partition, stale) is a rejected line.
* dead-letter topic -> ``rejects.jsonl``: the worker's reason for each rejected input message (matched by
  topic, partition, offset); rejected messages have no trustworthy event time, so those that reached the
  broker by ``built_at`` count (a rebuild counts the same ones).
* alerts topic (read by the desk's view) -> a check, not an input: the
  worker's published alerts up to the cut against the engine's, in the notice.
* audit topic (the view's cases) -> the warning list's case owners, from the records up to the end of the
  period; recorded as an input (``case_owners``) when any is set. ``monitor report`` has none, so only then do
  they differ.
* borrowers and visit-schedule topics -> not used (see above).

Replicas: every replica builds every report into its own ``reports_dir`` (same input, same bytes: storage is
idempotent, and a shared directory just holds one copy); only a report not yet stored is built, and its notice
is published on the ``reports`` topic only when that topic does not hold the report id yet. Two replicas
checking at the same instant can both publish; the notices then name the same id and files (only the notes'
alerts check, which depends on each replica's view, may differ) and readers keep one per id.

Two ways to a report's input (the desk's ``MONITOR_DAY_ENDS``, which the workers share):

* **from what the workers publish** (``MONITOR_DAY_ENDS=true``, the workers publishing their day-end rows): the
  reporter folds the day-ends, alerts and dead-letter topics as it reads them, from their beginning and for as
  long as it runs (:mod:`monitor.desk.report_fold`), and at a period's end writes the input directory from the
  fold: no replay of the feeds, every section of the report that of ``monitor replay --as-of`` + ``monitor
  report`` on the same events (its recorded inputs name the topics' offsets: no events file is written). A
  build waits until the fold names every feed message; when workers do not publish the rows it fails with a
  message saying so, logged, and is tried again (no silent fallback: a replay at a million borrowers needs
  memory a desk sized for the fold does not have);
* **from the feeds** (the default, the workers not publishing day-end rows): steps 1-3 above
  (:mod:`monitor.desk.report_feeds`), declared in each notice's notes. Nine tenths of such a build is the replay.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, ValidationError

from monitor._time import DAY, SECOND, iso, local_date, to_us
from monitor.desk.cases import derive
from monitor.desk.report_heap import lean_heap
from monitor.desk.report_feeds import (
    EVENTS,
    InputRecord,
    Inputs,
    Snapshot,
    write_snapshot,
)
from monitor.desk.view import DeskView
from monitor.reports import (
    PERIODS,
    PeriodKind,
    ReportPaths,
    build_report,
    make_period,
    midnight_us,
    with_cases,
    write_report,
)
from monitor.reports.model import InputFile, Report
from monitor.rules.policy import Policy
from monitor.snapshots import day_number
from monitor.topics import Topics

__all__ = ["CONTENT_TYPES", "EVENTS", "FileEntry", "Fold", "InputRecord", "Inputs", "Notice", "ReportStore",
           "Reporter", "Scheduler", "Snapshot", "Source", "build_one", "due", "kinds_ending", "next_after", "scheduled_at",
           "write_forms", "write_snapshot"]

log = logging.getLogger("monitor.desk.reports")
NOTICE = "notice.json"
FORMAT = "monitor-report-notice/1"
Form = Literal["html", "json", "csv", "xlsx"]
CONTENT_TYPES: dict[str, str] = {"html": "text/html; charset=utf-8", "json": "application/json",
                                 "csv": "text/csv; charset=utf-8",
                                 "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


# ---------------------------------------------------------------- the schedule (pure)

def kinds_ending(day: date) -> tuple[PeriodKind, ...]:
    """The periods that end with ``day``: always the day; the ISO week on a Sunday; the month on its last day."""
    kinds: list[PeriodKind] = ["day"]
    if day.weekday() == 6:
        kinds.append("week")
    if (day + timedelta(days=1)).day == 1:
        kinds.append("month")
    return tuple(kinds)


def scheduled_at(day: date, zone: ZoneInfo, settle_seconds: float) -> int:
    """The instant the reports ending with ``day`` are built: the next midnight in ``zone`` plus the settle delay."""
    return midnight_us(day + timedelta(days=1), zone) + round(settle_seconds * SECOND)


def due(after: int, until: int, zone: ZoneInfo, settle_seconds: float) -> list[tuple[int, date, tuple[PeriodKind, ...]]]:
    """The report instants in ``(after, until]``, oldest first: (instant, the day the periods end, their kinds)."""
    if until <= after:
        return []
    settle = round(settle_seconds * SECOND)
    first = local_date(after - settle, zone) - timedelta(days=2)
    last = local_date(until - settle, zone) + timedelta(days=1)
    out = []
    day = first
    while day <= last:
        at = scheduled_at(day, zone, settle_seconds)
        if after < at <= until:
            out.append((at, day, kinds_ending(day)))
        day += timedelta(days=1)
    return out


def next_after(now: int, zone: ZoneInfo, settle_seconds: float) -> int:
    """The first report instant after ``now``."""
    day = local_date(now - round(settle_seconds * SECOND), zone) - timedelta(days=2)
    while scheduled_at(day, zone, settle_seconds) <= now:
        day += timedelta(days=1)
    return scheduled_at(day, zone, settle_seconds)



# ---------------------------------------------------------------- notices and storage

class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FileEntry(_Frozen):
    form: Form
    name: str
    content_type: str
    sha256: str
    bytes: int


class Notice(_Frozen):
    """The notice published on the ``reports`` topic (and kept beside the files as ``notice.json``)."""

    format: Literal["monitor-report-notice/1"] = FORMAT
    report_id: str
    period: PeriodKind
    label: str
    first_day: str
    last_day: str
    timezone: str
    as_of: str
    policy_version: str
    built_at: str
    input_fingerprint: str
    lang: Literal["zh", "en"]
    files: list[FileEntry]
    stored_at: str  # relative to the service's reports_dir: <period>/<first day>/<report id>
    url: str
    notes: list[str]

    def file(self, form: str) -> FileEntry | None:
        return next((f for f in self.files if f.form == form), None)


def report_id(report: Report, fingerprint: str) -> str:
    """Deterministic: the period's kind and label, and a hash of kind, days, policy version and input."""
    m = report.meta
    h = hashlib.sha256(f"{m.period}\n{m.first_day}\n{m.last_day}\n{m.policy_version}\n{fingerprint}".encode())
    return f"{m.period}-{m.label}-{h.hexdigest()[:16]}"


def fingerprint(inputs: Sequence[InputFile]) -> str:
    text = json.dumps([i.model_dump() for i in inputs], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _sha256(path: Path) -> tuple[str, int]:
    """A file's SHA-256 and size, read a block at a time (the JSON form is ~0.22 GB at a million borrowers, and the
    report is still held when its forms are digested)."""
    with path.open("rb") as fh:
        digest = hashlib.file_digest(fh, "sha256")
        return digest.hexdigest(), fh.tell()


class ReportStore:
    """Reports on disk: ``<root>/<period>/<first day>/<report id>/`` holds the three files and ``notice.json``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._by_id: dict[str, Notice] = {}
        self._seen: set[Path] = set()

    def refresh(self) -> None:
        """Index notices written since (by this replica, or another one sharing the directory)."""
        if not self.root.is_dir():
            return
        for path in sorted(self.root.glob(f"*/*/*/{NOTICE}")):
            if path in self._seen or not self._indexable(path):
                continue
            try:
                notice = Notice.model_validate_json(path.read_bytes())
            except (OSError, ValidationError) as exc:
                log.warning("ignoring %s: %s", path, exc)
                continue
            self._seen.add(path)
            self._by_id[notice.report_id] = notice

    def get(self, rid: str) -> Notice | None:
        if rid not in self._by_id:
            self.refresh()
        return self._by_id.get(rid)

    def list(self, period: str | None = None) -> list[Notice]:
        """Newest first: by the last day, then month before week before day."""
        self.refresh()
        rows = [n for n in self._by_id.values() if period is None or n.period == period]
        rows.sort(key=lambda n: (n.last_day, PERIODS.index(n.period), n.built_at, n.report_id), reverse=True)
        return rows

    def find(self, period: str, first_day: date, policy_version: str) -> Notice | None:
        """A stored report of this period and policy (the first by id when rebuilt with other input)."""
        self.refresh()
        found = [n for n in self._by_id.values()
                 if n.period == period and n.first_day == first_day.isoformat() and n.policy_version == policy_version]
        return min(found, key=lambda n: n.report_id) if found else None

    def path(self, notice: Notice, form: str) -> Path | None:
        entry = notice.file(form)
        return None if entry is None else self.root / notice.stored_at / entry.name

    def save(self, notice: Notice, files: Path) -> Notice:
        """Move the written files (directory ``files``) into place with the notice; idempotent."""
        final = self.root / notice.stored_at
        (files / NOTICE).write_bytes(notice.model_dump_json(indent=2).encode() + b"\n")
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(files, final)
        except OSError:
            if not (final / NOTICE).is_file():  # not a copy stored meanwhile by another replica: a real error
                raise
            shutil.rmtree(files, ignore_errors=True)
        self._by_id[notice.report_id] = notice
        self._seen.add(final / NOTICE)
        return notice

    def _indexable(self, path: Path) -> bool:
        return path.relative_to(self.root).parts[0] in PERIODS


# ---------------------------------------------------------------- building: the reporter

class Fold(Protocol):
    """What the workers publish, folded as read (:class:`monitor.desk.report_kafka.KafkaFold`)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def snapshot(self, out: Path, *, until: int, built_at: int) -> Snapshot: ...


class Source(Protocol):
    """Where the reporter reads its input and publishes notices (Kafka, or a fake in tests)."""

    async def read_inputs(self) -> Inputs: ...

    async def published(self) -> set[str]: ...

    async def publish(self, notice: Notice) -> None: ...


def case_owners(view: DeskView, borrowers: Sequence[str], cut: int) -> dict[str, tuple[str, str | None]]:
    """Each borrower's latest case at ``cut`` (its alerts and audit records up to it): (status, assignee).
    Empty when no borrower has an audit record by then (the report stays as monitor report builds it)."""
    out: dict[str, tuple[str, str | None]] = {}
    recorded = False
    for bid in borrowers:
        book = view.books.get(bid)
        if book is None:
            continue
        alerts = [a for a in book.alerts if a.at <= cut]
        if not alerts:
            continue
        records = [r for r in book.records if to_us(r.at) <= cut]
        recorded = recorded or bool(records)
        cases = derive(alerts, records).cases
        if cases:
            out[bid] = (cases[-1].status, cases[-1].assignee)
    return dict(sorted(out.items())) if recorded else {}


def with_owners(report: Report, cases: Mapping[str, tuple[str, str | None]], path: Path) -> Report:
    """The report with the cases' status and owner filled in (the disposal of the warnings) and recorded as
    an input (unchanged when there are none)."""
    if not cases:
        return report
    data = json.dumps({k: list(v) for k, v in sorted(cases.items())}, ensure_ascii=False,
                      separators=(",", ":")).encode()
    path.write_bytes(data)
    entry = InputFile(role="case_owners", name=path.name, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    report = with_cases(report, cases)
    return report.model_copy(update={"meta": report.meta.model_copy(update={"inputs": [*report.meta.inputs, entry]})})


def alerts_check(view: DeskView, engine_ids: frozenset[str], cut: int) -> str:
    """Whether the worker published the alerts the engine decided from the same events, up to ``cut``."""
    published = {a.alert_id for a in view.alerts.values() if a.at <= cut}
    only_engine, only_topic = sorted(engine_ids - published), sorted(published - engine_ids)
    if not only_engine and not only_topic:
        return f"alerts checked: the {len(engine_ids)} alerts up to the end of the period are those the worker published"
    return (f"alerts differ: {len(engine_ids)} from the events, {len(published)} published by the worker up to the end "
            f"of the period; {len(only_engine)} only from the events {only_engine[:3]}, {len(only_topic)} only "
            f"published {only_topic[:3]} (the report counts those from the events)")


class Reporter:
    """Builds, stores and announces the reports ending on a day; see the module docstring."""

    def __init__(self, store: ReportStore, source: Source, policy: Policy, *, topics: Topics,
                 lang: Literal["zh", "en"] = "zh", policy_path: Path | None = None,
                 capacity: Mapping[str, float] | None = None, view: Callable[[], DeskView | None] = lambda: None,
                 settle_seconds: float = 600.0, fold: Fold | None = None) -> None:
        self.store, self.source, self.policy, self.topics = store, source, policy, topics
        self.lang, self.policy_path, self.capacity, self.view = lang, policy_path, capacity, view
        self.settle_seconds = settle_seconds
        self.fold = fold  # the workers' day-end rows folded: build from them, not from a replay of the feeds
        self.builds = 0
        self._lock = asyncio.Lock()

    async def ensure(self, day: date, kinds: Sequence[PeriodKind] | None = None) -> list[Notice]:
        """The reports of ``kinds`` (default: every period ending with ``day``): built unless stored, and
        announced unless the reports topic already holds them."""
        wanted = tuple(kinds or kinds_ending(day))
        async with self._lock:
            notices: dict[str, Notice] = {}
            for kind in wanted:
                found = self.store.find(kind, make_period(kind, day, self.policy.zone).first, self.policy.version)
                if found is not None:
                    notices[kind] = found
            missing = [k for k in wanted if k not in notices]
            if missing:
                for notice in await self._build(day, missing):
                    notices[notice.period] = notice
            done = await self.source.published()
            for kind in wanted:
                notice = notices[kind]
                if notice.report_id not in done:
                    await self.source.publish(notice)
                    done.add(notice.report_id)
                    log.info("report %s published", notice.report_id)
            return [notices[k] for k in wanted]

    async def _build(self, day: date, kinds: Sequence[PeriodKind]) -> list[Notice]:
        zone = self.policy.zone
        cut = midnight_us(day + timedelta(days=1), zone) - 1
        built_at = scheduled_at(day, zone, self.settle_seconds)
        work = self.store.root / ".work" / f"{day.isoformat()}-{os.getpid()}-{id(self):x}"
        shutil.rmtree(work, ignore_errors=True)
        lean_heap()  # (also before the build and the forms: each phase starts from what the last one kept)
        try:
            snap = await self._inputs(work / "replay", day, cut, built_at)
            out = []
            view: DeskView | None = None
            check = ""
            # one report at a time, each stored before the next is built (at a month's end the day's, the week's and
            # the month's: each holds the portfolio's warning list and its signals), the longest period first (the
            # month's report is stored one build after the input directory, not after the day's too)
            for k, kind in enumerate(sorted(kinds, key=PERIODS.index, reverse=True)):
                report = await asyncio.to_thread(build_one, snap, day, kind, policy_path=self.policy_path,
                                                 capacity=self.capacity)
                if k == 0:
                    view = self.view()  # read on the event loop, where the consumer folds into it
                    check = alerts_check(view, snap.alert_ids, cut) if view is not None else \
                        "alerts not checked (no view)"
                owners = case_owners(view, report.warning_list.borrower_ids(), cut) if view else {}
                report = with_owners(report, owners, snap.dir / "case_owners.json")
                notes = [
                    (f"input: {snap.accepted} events of the feed topics dated up to {iso(cut)}, and "
                     f"{snap.rejected} rejected messages (dead letters) that reached the broker by {iso(built_at)}, "
                     f"replayed with policy {self.policy.version} as monitor replay --as-of {iso(cut)} does: "
                     "monitor report on the same events file gives the same bytes") if snap.source == "feeds" else
                    (f"input: the workers' day-end rows, alerts and dead letters (no replay of the feeds): "
                     f"{snap.accepted} events dated up to {iso(cut)} and {snap.rejected} rejected messages (dead "
                     f"letters) that reached the broker by {iso(built_at)}, decided with policy "
                     f"{self.policy.version}: every section as monitor replay --as-of {iso(cut)} and monitor report "
                     "on the same events give it (the inputs recorded name the topics' offsets)"),
                    check,
                    (f"case owners: {sum(1 for v in owners.values() if v[1])} borrowers of the warning list have an "
                     f"assigned officer, {len(owners)} a case (audit records up to the end of the period; monitor "
                     "report has none)") if owners
                    else "case owners: none assigned at the end of the period",
                ]
                out.append(await asyncio.to_thread(self._store, report, built_at, notes, work))
                del report  # (before the next build: see above)
            self.builds += 1
            return out
        finally:
            shutil.rmtree(work, ignore_errors=True)

    async def _inputs(self, out: Path, day: date, cut: int, built_at: int) -> Snapshot:
        """The report's input directory: from the fold of what the workers publish, or a replay of the feeds."""
        if self.fold is not None:
            return await self.fold.snapshot(out, until=day_number(day), built_at=built_at)
        inputs = await self.source.read_inputs()
        return await asyncio.to_thread(write_snapshot, inputs, out, cut=cut, built_at=built_at, policy=self.policy,
                                       topics=self.topics)

    def _store(self, report: Report, built_at: int, notes: list[str], work: Path) -> Notice:
        fp = fingerprint(report.meta.inputs)
        rid = report_id(report, fp)
        paths = write_forms(report, work / rid, self.lang)
        files = []
        for form, path in zip(("html", "json", "csv", "xlsx"), (paths.html, paths.json, paths.csv, paths.xlsx),
                              strict=True):
            sha, size = _sha256(path)
            files.append(FileEntry(form=form, name=path.name, content_type=CONTENT_TYPES[form], sha256=sha,  # type: ignore[arg-type]
                                   bytes=size))
        m = report.meta
        notice = Notice(report_id=rid, period=m.period, label=m.label, first_day=m.first_day, last_day=m.last_day,
                        timezone=m.timezone, as_of=m.as_of, policy_version=m.policy_version, built_at=iso(built_at),
                        input_fingerprint=fp, lang=self.lang, files=files, stored_at=f"{m.period}/{m.first_day}/{rid}",
                        url=f"/api/v1/reports/{rid}", notes=notes)
        return self.store.save(notice, work / rid)


def build_one(snap: Snapshot, day: date, kind: PeriodKind, *, policy_path: Path | None = None,
              capacity: Mapping[str, float] | None = None) -> Report:
    """The report of ``kind`` ending with ``day`` from the input directory ``snap``, as the desk builds it: every
    file read in this process (``started=False``: no reader processes, whose memory would add to the desk's; the
    same report), the heap lean first (:func:`~monitor.desk.report_heap.lean_heap`)."""
    lean_heap()
    return build_report(snap.dir, list(snap.events), period=kind, as_of=day, policy_path=policy_path,
                        capacity=capacity, started=False)


def write_forms(report: Report, out: Path, lang: Literal["zh", "en"]) -> ReportPaths:
    """The report's four forms in ``out``, as the desk writes them (:func:`monitor.reports.write_report`'s bytes),
    the build's freed memory given back first."""
    lean_heap()
    return write_report(report, out, lang)


# ---------------------------------------------------------------- the schedule's loop

class Scheduler:
    """Builds each report after its period ends (plus the settle delay); at start, the ones missed lately.

    ``clock`` and ``sleep`` are injectable (tests drive them); a build that fails is tried again after
    ``retry_seconds``; the loop wakes at least every ``max_sleep`` seconds (a clock that jumps)."""

    def __init__(self, reporter: Reporter, *, zone: ZoneInfo, settle_seconds: float, catch_up_days: int,
                 clock: Callable[[], datetime], sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 ready: Callable[[], Awaitable[bool]] | None = None, retry_seconds: float = 60.0,
                 max_sleep: float = 3600.0) -> None:
        self.reporter, self.zone, self.settle = reporter, zone, settle_seconds
        self.catch_up_days, self.clock, self.sleep, self.ready = catch_up_days, clock, sleep, ready
        self.retry_seconds, self.max_sleep = retry_seconds, max_sleep
        self._last: int | None = None
        self._failed: list[tuple[int, date, tuple[PeriodKind, ...]]] = []
        self._task: asyncio.Task[None] | None = None

    def _now(self) -> int:
        return to_us(self.clock())

    async def tick(self) -> float:
        """Build what fell due since the last tick; return the seconds until the next instant (or retry)."""
        now = self._now()
        if self._last is None:
            self._last = now - self.catch_up_days * DAY
        todo = self._failed + due(self._last, now, self.zone, self.settle)
        self._failed, self._last = [], now
        for item in todo:
            _, day, kinds = item
            try:
                await self.reporter.ensure(day, kinds)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - logged and tried again; the schedule goes on
                log.warning("reports ending %s (%s) not done: %s: %s; trying again in %.0f s", day.isoformat(),
                            ", ".join(kinds), type(exc).__name__, exc, self.retry_seconds)
                self._failed.append(item)
        wait = (next_after(self._now(), self.zone, self.settle) - self._now()) / SECOND
        if self._failed:
            wait = min(wait, self.retry_seconds)
        return min(max(wait, 0.0), self.max_sleep)

    async def run(self) -> None:
        while self.ready is not None and not await self.ready():
            await self.sleep(1.0)
        while True:
            await self.sleep(await self.tick())

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="report-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
