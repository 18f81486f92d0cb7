"""``monitor replay`` on files in bounded memory: streams in, sorted runs on disk, outputs written as they come.

Memory grows with the borrowers (their states), not with the events:

* Input files that are each in ``occurred_at`` order (as the feeds and the
  simulator write them) are read side by side and merged as streams: no event
  is held longer than it takes to apply it. The first line found out of order
  stops that attempt; the input is then sorted externally (each file validated
  once into sorted runs on disk, the runs merged) and replayed again. Either
  way the events are applied in (instant, file, line) order, which is the order
  the replay always had (a stable sort of the files read one after the other),
  so the outputs are the same bytes.
* Alerts and schedule changes go to sorted runs on disk and are merged into
  ``alerts.jsonl`` and ``schedule_history.jsonl`` at the end; ``borrowers.jsonl``
  is written while the borrowers are advanced to the as-of, in id order;
  rejected lines are kept per file in line order (``rejects.jsonl``).
* Standard input (``-``) is first copied to a file in the output directory, so
  that it can be read again when it is not in order.
"""

from __future__ import annotations

import csv
import gc
import heapq
import io
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from monitor._replay_run import Runner
from monitor._spill import EventRuns, LineSpill
from monitor._time import SECOND, iso, parse_instant, to_us
from monitor.engine import Engine
from monitor.events import EVENT_ADAPTER, Event, describe_validation_error
from monitor.jsonl import MAX_LINE_BYTES, iter_lines
from monitor.outputs import Alert, BorrowerView, ScheduleEntry
from monitor.rules.policy import LEVEL_NAMES, Policy
from monitor.snapshots import SnapshotPart, write_manifest
from monitor.state import BorrowerState

__all__ = ["FileTotals", "replay_to"]

_TIER_RANK = {name: i for i, name in enumerate(LEVEL_NAMES)}
_MAX_REJECT_TEXT = 65_536
Item = tuple[int, int, int, Event, bytes]  # instant, file index, line number, event, raw line


class _Unordered(Exception):
    """A file holds a line dated before an earlier line of the same file."""


def ahead_reason(at: int, trusted: int, skew: int, what: str) -> str | None:
    """Why an instant is refused as too far in the future (the worker's wording), or None."""
    if at - trusted <= skew:
        return None
    hours = skew / (3600 * SECOND)
    span = f"{hours / 24:g} day{'s' if hours != 24 else ''}" if hours % 24 == 0 else f"{hours:g} h"
    return f"future: {iso(at)} is more than {span} ahead of {what} ({iso(trusted)})"


def _reject_json(source: str, line: int, reason: str, raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    if len(text) > _MAX_REJECT_TEXT:
        text = text[:_MAX_REJECT_TEXT] + f"… [{len(text)} characters in all]"
    return json.dumps({"source": source, "line": line, "reason": reason, "text": text}, ensure_ascii=False,
                      sort_keys=True)


class _Rejects:
    """Rejected lines, per file in line order, counted by reason."""

    def __init__(self, tmp: Path, names: Sequence[str]) -> None:
        self.names = names
        self.files = [LineSpill(tmp, f"rejects-{i}") for i in range(len(names))]
        self.reasons: Counter[str] = Counter()

    def add(self, fi: int, line: int, reason: str, raw: bytes) -> None:
        self.files[fi].add((line,), _reject_json(self.names[fi], line, reason, raw))
        self.reasons[reason] += 1

    @property
    def count(self) -> int:
        return sum(self.reasons.values())


class FileTotals:
    """The replay's outputs as files (see :class:`monitor._replay_run.Outputs`) and its counts."""

    def __init__(self, out: Path, tmp: Path, as_of: int | None) -> None:
        self.out, self.as_of = out, as_of
        self.read = self.applied = self.duplicates = self.after_as_of = 0
        self.events_by_type: Counter[str] = Counter()
        self.newest_by_type: dict[str, int] = {}
        self.alerts = LineSpill(tmp, "alerts")
        self.kinds: Counter[str] = Counter()
        self.history = LineSpill(tmp, "history")
        self.tiers: Counter[str] = Counter()
        self.borrowers = 0
        self.rows: list[tuple[str, int, str, str | None, str | None, str]] = []
        self._views = (out / "borrowers.jsonl").open("w", encoding="utf-8", newline="\n")
        self.elapsed = 0.0
        self.rejected = 0

    def add_alerts(self, alerts: Iterable[Alert]) -> None:
        for a in alerts:
            self.alerts.add((to_us(a.at), a.borrower_id, a.sequence), a.model_dump_json())
            self.kinds[a.kind.value] += 1

    def add_history(self, at: int, borrower_id: str, entry: ScheduleEntry) -> None:
        self.history.add((at, borrower_id), f'{{"at":"{iso(at)}",{entry.model_dump_json()[1:]}')

    def add_view(self, borrower_id: str, state: BorrowerState, view: BorrowerView) -> None:
        self._views.write(view.model_dump_json())
        self._views.write("\n")
        self.borrowers += 1
        self.tiers[view.tier or "no_profile"] += 1
        if view.next_visit_due is not None:
            self.rows.append((view.next_visit_due.isoformat(), -_TIER_RANK[view.tier or "normal"], borrower_id,
                              view.team, view.branch, view.tier or ""))

    def write(self, rejects: _Rejects) -> None:
        """The files besides borrowers.jsonl (closed here)."""
        from monitor.replay import summary_of

        self._views.close()
        out = self.out
        with (out / "alerts.jsonl").open("w", encoding="utf-8", newline="\n") as fh:
            for line in self.alerts.lines():
                fh.write(line)
                fh.write("\n")
        self.rows.sort()
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["team", "branch", "borrower_id", "tier", "next_visit_due"])
        for due, _rank, bid, team, branch, tier in self.rows:
            writer.writerow([team, branch, bid, tier, due])
        (out / "schedule.csv").write_text(buf.getvalue(), encoding="utf-8", newline="")
        self.rows = []
        with (out / "schedule_history.jsonl").open("w", encoding="utf-8", newline="\n") as fh:
            for line in self.history.lines():
                fh.write(line)
                fh.write("\n")
        with (out / "rejects.jsonl").open("w", encoding="utf-8", newline="\n") as fh:
            for spill in rejects.files:
                for line in spill.lines():
                    fh.write(line)
                    fh.write("\n")
        self.rejected = rejects.count
        summary = summary_of(self, self.borrowers, self.tiers, self.alerts.count, self.kinds, rejects.reasons,
                             rejects.count)
        (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n",
                                          encoding="utf-8")
        self.summary_doc = summary

    def summary(self) -> dict[str, object]:
        return self.summary_doc


_EARLIEST = parse_instant("1900-01-01T00:00:00Z")
_LATEST = parse_instant("2200-01-01T00:00:00Z")


def _out_of_range(t: int, event: Event) -> str | None:
    """A reason when an instant of the event is outside the years 1900-2199 (the engine adds days to them)."""
    for name, at in (("occurred_at", t), ("disbursed_at", _us(getattr(event, "disbursed_at", None))),
                     ("until", _us(getattr(event, "until", None)))):
        if at is not None and not _EARLIEST <= at < _LATEST:
            return f"{name}: {iso(at)} is outside the supported years 1900-2199"
    return None


def _us(value: object) -> int | None:
    return to_us(value) if isinstance(value, datetime) else None


class _Reader:
    """Validates the lines of one file; rejects the bad ones (and those dated too far ahead)."""

    def __init__(self, rejects: _Rejects, trusted: int | None, skew: int) -> None:
        self.rejects, self.trusted, self.skew = rejects, trusted, skew
        self.lines = 0

    def parse(self, fi: int, number: int, raw: bytes) -> tuple[int, Event] | None:
        self.lines += 1
        if len(raw) > MAX_LINE_BYTES:
            self.rejects.add(fi, number, f"line longer than {MAX_LINE_BYTES} bytes", raw)
            return None
        if not raw.strip():
            self.rejects.add(fi, number, "empty line", b"")
            return None
        try:
            event = EVENT_ADAPTER.validate_json(raw)
        except ValidationError as exc:
            self.rejects.add(fi, number, describe_validation_error(exc), raw)
            return None
        t = to_us(event.occurred_at)
        why = None if self.trusted is None else ahead_reason(t, self.trusted, self.skew, "the time of the replay")
        why = why or _out_of_range(t, event)
        if why is not None:
            self.rejects.add(fi, number, why, raw)
            return None
        return t, event

    def stream(self, fi: int, path: Path) -> Iterator[Item]:
        prev = -(2**63)
        parse = self.parse
        for number, raw in iter_lines(path):
            got = parse(fi, number, raw)
            if got is None:
                continue
            t, event = got
            if t < prev:
                raise _Unordered(f"{path}: line {number} is dated before an earlier line")
            prev = t
            yield t, fi, number, event, raw

    def sorted(self, paths: Sequence[Path], tmp: Path) -> Iterator[Item]:
        runs = EventRuns(tmp)
        for fi, path in enumerate(paths):
            for number, raw in iter_lines(path):
                got = self.parse(fi, number, raw)
                if got is not None:
                    runs.add(got[0], fi, number, raw)
        validate = EVENT_ADAPTER.validate_json
        for t, fi, number, raw in runs.sorted():
            yield t, fi, number, validate(raw), raw


def replay_to(paths: Sequence[str | Path], policy: Policy, out: Path, as_of: int | None = None, *,
              now: int | None = None, future_skew: int = 86_400 * SECOND) -> FileTotals:
    """Replay event files into ``out`` (the files of ``monitor.replay.write_outputs`` and the snapshots).

    ``now``: the newest trustworthy time (the replay's start on the wall clock by default in the command);
    an event dated more than ``future_skew`` after it is rejected. Raises ``InputError`` for an unreadable
    file."""
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".replay-", dir=out))
    was_enabled = gc.isenabled()
    gc.disable()  # millions of long-lived objects and no cycles: collecting would only rescan them
    try:
        names = [str(p) for p in paths]
        files = [_spool_stdin(tmp) if n == "-" else Path(n) for n in names]
        try:
            totals = _attempt(files, names, policy, out, tmp, as_of, now, future_skew, ordered=True)
        except _Unordered:
            shutil.rmtree(tmp / "work", ignore_errors=True)
            totals = _attempt(files, names, policy, out, tmp, as_of, now, future_skew, ordered=False)
    finally:
        if was_enabled:
            gc.enable()
        shutil.rmtree(tmp, ignore_errors=True)
    totals.elapsed = time.perf_counter() - started
    return totals


def _spool_stdin(tmp: Path) -> Path:
    path = tmp / "stdin.jsonl"
    with path.open("wb") as fh:
        shutil.copyfileobj(sys.stdin.buffer, fh, 1 << 20)
    return path


def _attempt(files: list[Path], names: list[str], policy: Policy, out: Path, tmp: Path, as_of: int | None,
             now: int | None, skew: int, *, ordered: bool) -> FileTotals:
    work = tmp / "work"
    work.mkdir()
    rejects = _Rejects(work, names)
    reader = _Reader(rejects, now, skew)
    totals = FileTotals(out, work, as_of)
    snapshots = out / "snapshots"
    shutil.rmtree(snapshots, ignore_errors=True)
    part = SnapshotPart(snapshots / "part-000")

    def engine_error(fi: int, line: int, reason: str) -> None:
        rejects.add(fi, line, reason, current[4])

    runner = Runner(Engine(policy), as_of, totals, part, reject=engine_error)
    if ordered:
        streams = [reader.stream(fi, p) for fi, p in enumerate(files)]
        items: Iterable[Item] = streams[0] if len(streams) == 1 else heapq.merge(*streams)
    else:
        items = reader.sorted(files, work)
    feed = runner.feed
    current: Item = (0, 0, 0, None, b"")  # type: ignore[assignment]
    for current in items:
        feed(current[0], current[3], current[1], current[2])
    final = as_of if as_of is not None else runner.last_t
    totals.as_of = final
    totals.read = reader.lines
    runner.finish(final, snapshots / "signals.jsonl")
    write_manifest(snapshots, [part.close()], policy_version=policy.version, timezone=policy.timezone,
                   as_of=final)
    totals.write(rejects)
    return totals
