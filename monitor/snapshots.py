"""Every borrower as the engine knows it at the end of each day: what reports and backtests read.

The one derivation of "the borrower at instant t" is the engine. ``monitor replay``
records, from the engine's own states (never from a second reading of the events),
a compact **record** per borrower -- profile codes, exposure, grade, effective and
computed tier, regulatory classification floor, due date, the instants of the
latest profile, rating, bureau report and visit, the alert count -- and writes it
to ``<out>/snapshots/``:

* **change rows**: one row per borrower and local day (the policy's time zone) on
  which its record changed, holding the record as of the end of that day. A day's
  end is the instant before the next local midnight; the last day ends at the
  replay's as-of. The replay settles every time-driven change (a wake-up: a DPD band,
  a window or a cure period ending) and every crossing of a classification floor
  (days past due grow without events) at each day's end before it writes the rows,
  exactly as ``monitor replay --as-of <that instant>`` would, so a borrower with no
  event still gets a row on the day its tier or floor moved;
* **checkpoints**: every borrower's record at the end of each calendar month and at
  the as-of instant.

The record at any day's end is the latest checkpoint at or before that day plus the
change rows after it, up to that day (:meth:`SnapshotLog.at`): a month end is one
checkpoint read; any other day adds at most a month of change rows.

Format (``monitor-snapshots/1``): per part (one per replay shard) a directory of raw
little-endian column files (``<column>.bin``; numpy dtypes in ``manifest.json``) for
the change rows (sorted by day, then borrower) and for each checkpoint, the part's
borrower ids (``ids.bin``, fixed width) and its code tables (``codes.json``: the text
of each coded column, in code order). Why raw numpy columns rather than Parquet: the
report is numpy code already; a column file is read with one ``np.fromfile`` (or
memory-mapped) with no decoding, no new dependency and no writer version inside the
bytes, so equal inputs give equal files; each value has a fixed width, so the size
is known in advance (about 80 bytes a row). The reader merges the parts: borrowers in
id order (the order of ``borrowers.jsonl``), one code table per column, sorted.

Instants are microseconds since the epoch (UTC), ``NONE`` when absent; days are
local calendar days since 1970-01-01; codes and grades are -1 when absent. A
borrower with events but no loan profile has tier -1.

What is not in the record: the signals with their current values (a function of
the whole state and the instant). The replay keeps them at its as-of only:
``signals.jsonl`` beside the snapshots, one line per borrower at watch or above,
the engine's own ``signals(state, as_of)``.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from monitor._errors import InputError
from monitor._snaprows import changed_rows
from monitor._snaptables import OnDemand, merged_codes
from monitor._time import DAY, from_us, to_us

__all__ = ["CHECKPOINT_END", "COLUMNS", "DUE_WHY", "DYNAMIC", "FEEDS", "FORMAT", "NONE", "RECORD", "STATIC",
           "STATIC_RECORD", "TEXT_COLUMNS", "VISITS", "Days", "FeedCounts", "Snapshot", "SnapshotLog", "SnapshotPart",
           "day_date", "day_number", "write_manifest"]

FORMAT = "monitor-snapshots/1"
NONE = -(2**63)
# (name, numpy dtype); the record tuple holds the values in this order
COLUMNS: tuple[tuple[str, str], ...] = (
    ("tier", "i1"),  # effective tier 0..3 (normal .. severe); -1: no loan profile yet
    ("computed", "i1"),  # the tier the signals give (before cure period and overrides)
    ("grade", "i1"),  # index in monitor.events.GRADES (AAA = 0 .. D = 9)
    ("cls", "i1"),  # classification floor: 0 normal, 1 special mention, 2 substandard, 3 doubtful, 4 loss
    ("overdue", "i1"),  # 1 when any account is past due
    ("due_why", "i1"),  # index in DUE_WHY
    ("segment", "i4"), ("industry", "i4"), ("branch", "i4"), ("team", "i4"), ("product", "i4"),
    ("mitigation", "i4"), ("name", "i4"),  # codes (see TEXT_COLUMNS)
    ("due", "i4"),  # next visit due, local day; -1 none
    ("alerts", "i4"),  # alerts raised so far (the latest alert's sequence)
    ("dpd", "i4"),  # highest days past due at the end of the day the row was written (see ``dpd_at``)
    ("exposure", "i8"),  # fen (CNY cents)
    ("tier_since", "i8"), ("first_seen", "i8"),  # first_seen: the first loan profile applied
    ("profile_at", "i8"), ("grade_at", "i8"), ("bureau_at", "i8"), ("visit_at", "i8"),
    ("dpd_at", "i8"),  # the highest DPD is dpd + whole days since dpd_at while overdue (lower bound)
    ("seen_at", "i8"),  # the borrower's first event (of any feed)
)
VISITS: tuple[tuple[str, str], ...] = (
    ("borrower", "i4"), ("at", "i8"),
    ("team", "i4"),  # code: the borrower's team (the visit's own before the loan profile)
    ("outcome", "i1"),  # 0 normal, 1 concern, 2 deteriorated
    ("due", "i4"),  # the due date in force just before the visit (local day), -1 none
)
FEEDS = ("loan_profile", "rating_change", "lawsuit", "bureau_report", "overdue", "inspection_completed",
         "tier_override")
TEXT_COLUMNS = ("segment", "industry", "branch", "team", "product", "mitigation", "name")
DUE_WHY = ("first_visit", "inspection", "tier_raised", "cadence", "workout", "workout_ended")  # state.due_why
CHECKPOINT_END = "as_of"
_NAMES = tuple(c for c, _ in COLUMNS)
# write_day takes a record in two parts: the columns that change with the borrower's profile only (STATIC, one
# row per profile: ``SnapshotPart.static_row``), and the others (DYNAMIC, per record, with the number of its
# static row last), each packed as int64 values
STATIC = ("segment", "industry", "branch", "team", "product", "mitigation", "name", "exposure", "profile_at",
          "first_seen", "seen_at")
DYNAMIC = tuple(c for c in _NAMES if c not in STATIC)
RECORD = struct.Struct(f"<{len(DYNAMIC) + 1}q")  # the DYNAMIC values, then the static row's number
STATIC_RECORD = struct.Struct(f"<{len(STATIC)}q")
_WHERE = tuple((True, DYNAMIC.index(c)) if c in DYNAMIC else (False, STATIC.index(c)) for c in _NAMES)
_EPOCH = date(1970, 1, 1)
_HOUR = 3_600_000_000


def day_number(d: date) -> int:
    return (d - _EPOCH).days


def day_date(n: int) -> date:
    return _EPOCH + timedelta(days=int(n))


class Days:
    """Local calendar days of a time zone, as day numbers, with their first instants (cached)."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self.start = lru_cache(maxsize=8192)(self._start)
        # the UTC hour of an instant -> (first instant, end, number) of the local day that holds the hour's start:
        # an instant in that range is on that day (checked, whatever the zone's offsets)
        self._of: dict[int, tuple[int, int, int]] = {}

    def _start(self, day: int) -> int:
        from datetime import datetime, time

        return to_us(datetime.combine(day_date(day), time(0), tzinfo=self.zone))

    def of(self, us: int) -> int:
        """The local day holding the instant."""
        hour = us // _HOUR
        hit = self._of.get(hour)
        if hit is not None and hit[0] <= us < hit[1]:
            return hit[2]
        day = day_number(from_us(us).astimezone(self.zone).date())
        if len(self._of) > 200_000:
            self._of.clear()
        start, end = self.start(day), self.start(day + 1)
        if start <= hour * _HOUR < end:
            self._of[hour] = (start, end, day)
        return day


# ---------------------------------------------------------------- writing (one part per replay shard)

class SnapshotPart:
    """Writes one part: change rows day by day, checkpoints, ids and code tables."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        (directory / "changes").mkdir(parents=True, exist_ok=True)
        self.codes: dict[str, dict[str, int]] = {c: {} for c in TEXT_COLUMNS}
        self.ids: list[str] = []
        self._files = {name: (directory / "changes" / f"{name}.bin").open("wb")
                       for name in ("day", "bidx", *_NAMES)}
        self._cur: dict[str, NDArray[Any]] = {name: np.zeros(0, dtype=dt) for name, dt in COLUMNS}
        self._visits = {name: (directory / f"visits-{name}.bin").open("wb") for name, _ in VISITS}
        self._visit_rows: list[tuple[int, int, int, int, int]] = []
        self.visits = 0
        self.feeds: list[list[Any]] = []  # [day, type, events, copies, newest]
        self.after: dict[str, int] = {}
        self.rows = 0
        self._days: list[int] = []  # the days of the pending rows, with their numbers of rows
        self._counts: list[int] = []
        self._idx: list[int] = []
        self._flat: list[bytes] = []  # the pending rows' records (RECORD), one after another
        self._static: list[bytes] = []  # static rows (STATIC_RECORD) not yet in ``_statics``
        self._statics = np.zeros((0, len(STATIC)), dtype=np.int64)  # every static row, by number
        self._nstatic = 0
        self._written = np.zeros(0, dtype=np.bool_)  # per borrower: a row was written
        self._last = np.zeros((0, len(DYNAMIC) + 1), dtype=np.int64)  # ... its last, as write_day took it
        self._by_columns = False  # rows taken by write_rows (then no write_day: ``_last`` is not kept)
        self.checkpoints: list[tuple[int, int, str]] = []  # (day, instant described, directory label)

    def code(self, column: str, text: str | None) -> int:
        if text is None:
            return -1
        table = self.codes[column]
        got = table.get(text)
        if got is None:
            got = table[text] = len(table)
        return got

    def add_borrower(self, borrower_id: str) -> int:
        self.ids.append(borrower_id)
        return len(self.ids) - 1

    def static_row(self, values: Sequence[int]) -> int:
        """A static row (the values of :data:`STATIC`): its number, for this part's records."""
        self._static.append(STATIC_RECORD.pack(*values))
        self._nstatic += 1
        return self._nstatic - 1

    def write_day(self, day: int, borrowers: Sequence[int], records: bytes) -> None:
        """The records of ``borrowers`` (indexes, increasing; days in increasing order) at the end of ``day``:
        ``records`` holds them one after another, each packed with :data:`RECORD` (its static row's number
        from :meth:`static_row` last). Only the records that differ from the borrower's last written one
        become rows (the first one always does)."""
        if not borrowers:
            return
        if self._by_columns:
            raise ValueError("write_day: this part took its rows by write_rows")
        if len(records) != RECORD.size * len(borrowers):
            raise ValueError(f"write_day: {len(records)} bytes for {len(borrowers)} records of {RECORD.size}")
        self._days.append(day)
        self._counts.append(len(borrowers))
        self._idx.extend(borrowers)
        self._flat.append(records)
        if len(self._idx) >= 16_384:  # (batches that stay in the caches: ~20 % less time a row than 65,536)
            self._flush()

    def write_rows(self, days: NDArray[np.int32], borrowers: NDArray[np.int32], records: NDArray[Any]) -> None:
        """Change rows given as columns (``records``: a structured array with the fields of :data:`COLUMNS`),
        sorted by day then borrower, days after those written before: :meth:`write_day` without tuples."""
        self._flush()
        if not days.size:
            return
        self._by_columns = True
        self._grow()
        np.ascontiguousarray(days, dtype=np.int32).tofile(self._files["day"])
        bidx = np.ascontiguousarray(borrowers, dtype=np.int32)
        bidx.tofile(self._files["bidx"])
        for name, dt in COLUMNS:
            col = np.ascontiguousarray(records[name], dtype=dt)
            col.tofile(self._files[name])
            self._cur[name][bidx] = col  # rows in day order: the last of a borrower wins
        self._written[bidx] = True
        self.rows += int(days.size)

    def visit(self, borrower: int, at: int, team: int, outcome: int, due: int) -> None:
        """An inspection the engine applied (not a copy)."""
        self._visit_rows.append((borrower, at, team, outcome, due))
        if len(self._visit_rows) >= 65_536:
            self._flush_visits()

    def visit_columns(self, columns: Sequence[NDArray[Any]]) -> None:
        """Inspections given as columns (those of :data:`VISITS`, in order): :meth:`visit` without tuples."""
        self._flush_visits()
        for (name, dt), col in zip(VISITS, columns):
            np.ascontiguousarray(col, dtype=dt).tofile(self._visits[name])
        self.visits += len(columns[0])

    def _flush_visits(self) -> None:
        rows, self._visit_rows = self._visit_rows, []
        for j, (name, dt) in enumerate(VISITS):
            np.fromiter((r[j] for r in rows), dtype=dt, count=len(rows)).tofile(self._visits[name])
        self.visits += len(rows)

    def _flush(self) -> None:
        """The pending records as rows: those equal to the borrower's previous record (written, or pending
        just before) are dropped (``monitor._snaprows``), the others written column by column."""
        if not self._idx:
            return
        n = len(self._idx)
        days = np.repeat(np.array(self._days, dtype=np.int32), self._counts)
        bidx = np.array(self._idx, dtype=np.int32)
        dyn = np.frombuffer(b"".join(self._flat), dtype="<i8").reshape(n, len(DYNAMIC) + 1)
        if self._static:
            new = np.frombuffer(b"".join(self._static), dtype="<i8").reshape(len(self._static), len(STATIC))
            self._statics = np.concatenate([self._statics, new])
            self._static = []
        static = self._statics
        sid = dyn[:, -1]
        if n and (sid.min() < 0 or sid.max() >= len(static)):
            raise ValueError(f"snapshot records name static rows outside 0..{len(static) - 1}")
        self._days, self._counts, self._idx, self._flat = [], [], [], []
        self._grow()
        if len(self._last) < len(self._written):  # (grown here: a part written by write_rows keeps none)
            last = np.zeros((len(self._written), len(DYNAMIC) + 1), dtype=np.int64)
            last[:len(self._last)] = self._last
            self._last = last
        keep = changed_rows(dyn, bidx, self._last, self._written, static)
        dyn, bidx = dyn[keep], bidx[keep]
        dyn_t = np.ascontiguousarray(dyn.T)  # a column a row: each column contiguous, no copy for the int64 ones
        rows_t = np.ascontiguousarray(static[dyn[:, -1]].T)  # each row's static row, gathered once
        cols = []
        for (name, dt), (dynamic, j) in zip(COLUMNS, _WHERE):
            wide = dyn_t[j] if dynamic else rows_t[j]
            if dt == "i8":
                cols.append(wide)
                continue
            col = wide.astype(dt)
            if not np.array_equal(col, wide):  # (a record dropped equals a row kept before it: checked there)
                bad = int(wide[col != wide][0])
                raise OverflowError(f"snapshot column {name}: {bad} does not fit in {np.dtype(dt).name}")
            cols.append(col)
        days[keep].tofile(self._files["day"])
        bidx.tofile(self._files["bidx"])
        for (name, _), col in zip(COLUMNS, cols):
            col.tofile(self._files[name])
            self._cur[name][bidx] = col  # rows in day order: the last of a borrower wins
        self._last[bidx] = dyn
        self._written[bidx] = True
        self.rows += int(bidx.size)

    def _grow(self) -> None:
        n = len(self.ids)
        have = self._cur["tier"].size
        if n <= have:
            return
        size = max(n, have * 2, 1024)
        for name, dt in COLUMNS:
            new = np.full(size, _fill(name), dtype=dt)
            new[:have] = self._cur[name]
            self._cur[name] = new
        written = np.zeros(size, dtype=np.bool_)
        written[:have] = self._written[:have]
        self._written = written

    def checkpoint(self, day: int, at: int, label: str) -> None:
        """Every borrower's record now, as the record at the end of ``day`` (``at``: the instant)."""
        self._flush()
        self._grow()
        d = self.dir / f"ckpt-{label}"
        d.mkdir(exist_ok=True)
        n = len(self.ids)
        for name, _ in COLUMNS:
            self._cur[name][:n].tofile(d / f"{name}.bin")
        self.checkpoints.append((day, at, label))

    def close(self) -> dict[str, Any]:
        self._flush()
        self._flush_visits()
        for fh in (*self._files.values(), *self._visits.values()):
            fh.close()
        width = max((len(i.encode()) for i in self.ids), default=1)
        np.array([i.encode() for i in self.ids], dtype=f"S{width}").tofile(self.dir / "ids.bin")
        codes = {c: sorted(t, key=t.__getitem__) for c, t in self.codes.items()}
        (self.dir / "codes.json").write_text(json.dumps(codes, ensure_ascii=False, separators=(",", ":")),
                                            encoding="utf-8")
        return {"dir": self.dir.name, "borrowers": len(self.ids), "id_width": width, "rows": self.rows,
                "visits": self.visits, "checkpoints": [list(c) for c in self.checkpoints],
                "feeds": sorted(self.feeds), "after_as_of": dict(sorted(self.after.items()))}


def _fill(name: str) -> int:
    if name in ("alerts", "exposure", "overdue", "dpd"):
        return 0
    return NONE if dict(COLUMNS)[name] == "i8" else -1


def write_manifest(directory: Path, parts: list[dict[str, Any]], *, policy_version: str, timezone: str,
                   as_of: int | None) -> None:
    doc = {"format": FORMAT, "policy_version": policy_version, "timezone": timezone, "as_of": as_of,
           "columns": [list(c) for c in COLUMNS], "parts": parts}
    (directory / "manifest.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- reading

@dataclass(slots=True)
class Snapshot:
    """Every borrower's record at one day's end (borrowers in id order, as :attr:`SnapshotLog.ids`)."""

    day: int  # local day number
    at: int  # the instant described: the day's last microsecond, or the replay's as-of
    cols: dict[str, NDArray[Any]]

    def __getattr__(self, name: str) -> NDArray[Any]:
        try:
            return self.cols[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def present(self) -> NDArray[np.bool_]:
        """Borrowers with a loan profile (monitored) at the instant."""
        return np.asarray(self.cols["tier"] >= 0)

    def dpd_now(self) -> NDArray[np.int64]:
        """Highest days past due at the instant (0 when not overdue)."""
        since = np.where(self.cols["dpd_at"] == NONE, 0, (self.at - self.cols["dpd_at"]) // DAY)
        return np.where(self.cols["overdue"] > 0, self.cols["dpd"].astype(np.int64) + since, 0)


@dataclass(slots=True)
class _Part:
    dir: Path
    n: int
    rows: int
    checkpoints: list[tuple[int, int, str]]
    ids: NDArray[np.bytes_]
    remap: dict[str, NDArray[np.int32]]  # code -> global code, per text column
    offset: int = 0
    visits: int = 0
    feeds: list[list[Any]] | None = None
    after: dict[str, int] | None = None


@dataclass(slots=True)
class FeedCounts:
    """Events the engine applied per feed in some days (copies apart), and the newest up to the last day."""

    events: dict[str, int]
    copies: dict[str, int]
    newest: dict[str, int]  # instant of the newest event up to the last day (of any day before too)
    after_as_of: dict[str, int]  # events dated after the replay's as-of (not applied)


class SnapshotLog:
    """The snapshots a replay wrote: every borrower's record at any day's end, fast."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        try:
            doc = json.loads((self.dir / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise InputError(f"{self.dir}: no snapshots (written by monitor replay)") from None
        if doc.get("format") != FORMAT:
            raise InputError(f"{self.dir}: snapshots in format {doc.get('format')!r}, expected {FORMAT}")
        self.policy_version: str = doc["policy_version"]
        self.zone = ZoneInfo(doc["timezone"])
        self.as_of: int | None = doc["as_of"]
        self._dtypes = {name: np.dtype(dt) for name, dt in doc["columns"]}
        parts = []
        per_part_codes = []
        for p in doc["parts"]:
            d = self.dir / p["dir"]
            ids = np.fromfile(d / "ids.bin", dtype=f"S{p['id_width']}")
            codes = json.loads((d / "codes.json").read_text(encoding="utf-8"))
            per_part_codes.append(codes)
            parts.append(_Part(d, p["borrowers"], p["rows"], [tuple(x) for x in p["checkpoints"]], ids, {},
                               visits=p.get("visits", 0), feeds=p.get("feeds", []), after=p.get("after_as_of", {})))
        self.codes: dict[str, list[str]] = {}
        for c in TEXT_COLUMNS:
            self.codes[c], remaps = merged_codes([codes[c] for codes in per_part_codes])
            for part, remap in zip(parts, remaps):
                part.remap[c] = remap
        offset = 0
        for part in parts:
            part.offset = offset
            offset += part.n
        self._parts = parts
        width = max((p.ids.dtype.itemsize for p in parts), default=1)
        every = np.concatenate([p.ids.astype(f"S{width}") for p in parts]) if parts else np.zeros(0, "S1")
        self._order = np.argsort(every, kind="stable")  # position in id order -> position in the parts
        self.ids: NDArray[np.bytes_] = every[self._order]
        self._rank = np.empty(self._order.size, dtype=np.int64)
        self._rank[self._order] = np.arange(self._order.size)
        self.n = int(every.size)
        self.days = Days(self.zone)

    # -- what exists
    @property
    def last_day(self) -> int | None:
        return self.days.of(self.as_of) if self.as_of is not None else None

    def checkpoint_days(self) -> list[int]:
        return sorted({c[0] for p in self._parts for c in p.checkpoints})

    def index(self, borrower_ids: Iterable[str]) -> NDArray[np.int64]:
        """Positions of borrower ids (in id order); -1 when unknown."""
        want = np.array([b.encode() for b in borrower_ids], dtype=self.ids.dtype if self.n else "S1")
        pos = np.searchsorted(self.ids, want)
        pos = np.minimum(pos, max(self.n - 1, 0))
        ok = (self.n > 0) & (self.ids[pos] == want) if self.n else np.zeros(want.size, bool)
        return np.where(ok, pos, -1).astype(np.int64)

    # -- reading records
    def at(self, day: int | date, columns: Iterable[str] | None = None, *, more: bool = False) -> Snapshot:
        """Every borrower's record at the end of ``day`` (a local day; the as-of instant on its own day); ``columns``:
        only these columns (default: all); ``more``: with ``columns``, any other read when first looked up."""
        d, at, dtypes = self._when(day, columns)
        cols = {name: np.full(self.n, _fill(name), dtype=dt) for name, dt in dtypes.items()}
        for part in self._parts:
            self._read_part(part, d, cols, self._rank[part.offset:part.offset + part.n])
        return Snapshot(d, at, OnDemand(self, d, cols) if more and columns is not None else cols)

    def unordered_at(self, day: int | date, columns: Iterable[str] | None = None) -> Snapshot:
        """:meth:`at`'s records in the parts' order, not in id order (for sums and counts over all borrowers)."""
        d, at, dtypes = self._when(day, columns)
        parts = [{name: np.full(part.n, _fill(name), dtype=dt) for name, dt in dtypes.items()} for part in self._parts]
        for part, cols in zip(self._parts, parts):
            self._read_part(part, d, cols, None)
        return Snapshot(d, at, {name: np.concatenate([cols[name] for cols in parts] or [np.zeros(0, dt)])
                                for name, dt in dtypes.items()})

    def _when(self, day: int | date, columns: Iterable[str] | None) -> tuple[int, int, dict[str, np.dtype[Any]]]:
        d = day_number(day) if isinstance(day, date) else int(day)
        last = self.last_day
        if last is not None and d > last:
            raise InputError(f"the replay ends on {day_date(last)} (as of {self.as_of}): no state for "
                             f"{day_date(d)}")
        at = self.as_of if last == d and self.as_of is not None else self.days.start(d + 1) - 1
        return d, at, (self._dtypes if columns is None else {name: self._dtypes[name] for name in columns})

    def _read_part(self, part: _Part, d: int, cols: dict[str, NDArray[Any]], where: NDArray[np.int64] | None) -> None:
        """The part's records at day ``d``'s end into ``cols``: at the positions ``where``, or the part's own (None)."""
        base = [c for c in part.checkpoints if c[0] <= d]
        since = -(2**31)
        dtypes = {name: self._dtypes[name] for name in cols}
        if base:
            cd, _, label = max(base)
            for name, dt in dtypes.items():
                values = np.fromfile(part.dir / f"ckpt-{label}" / f"{name}.bin", dtype=dt)
                at = slice(values.size) if where is None else where[: values.size]
                cols[name][at] = self._decode(part, name, values)
            since = cd
        if part.rows == 0:
            return
        days = np.memmap(part.dir / "changes" / "day.bin", dtype=np.int32, mode="r")
        # the day as the file's own dtype: a Python int would make numpy convert the whole file first
        lo = int(np.searchsorted(days, np.int32(since), side="right"))
        hi = int(np.searchsorted(days, np.int32(d), side="right"))
        if hi <= lo:
            return
        bidx = np.fromfile(part.dir / "changes" / "bidx.bin", dtype=np.int32, count=hi - lo, offset=4 * lo)
        # the last row of each borrower in the range
        rev = bidx[::-1]
        _, first = np.unique(rev, return_index=True)
        rows = (hi - lo - 1 - first).astype(np.int64)
        target = bidx[rows] if where is None else where[bidx[rows]]
        for name, dt in dtypes.items():
            values = np.fromfile(part.dir / "changes" / f"{name}.bin", dtype=dt, count=hi - lo,
                                 offset=dt.itemsize * lo)
            cols[name][target] = self._decode(part, name, values[rows])

    def _decode(self, part: _Part, name: str, values: NDArray[Any]) -> NDArray[Any]:
        if name in part.remap:
            return part.remap[name][values]  # -1 maps to the table's last entry: -1
        return values

    def rows(self, first_day: int, last_day: int) -> dict[str, NDArray[Any]]:
        """The change rows of the days ``first_day .. last_day`` (columns ``day`` and ``borrower``, in id
        order positions, then the record), sorted by day and borrower."""
        out: dict[str, list[NDArray[Any]]] = {k: [] for k in ("day", "borrower", *self._dtypes)}
        for part in self._parts:
            if part.rows == 0:
                continue
            days = np.memmap(part.dir / "changes" / "day.bin", dtype=np.int32, mode="r")
            lo = int(np.searchsorted(days, np.int32(first_day), side="left"))  # not a Python int (see _read_part)
            hi = int(np.searchsorted(days, np.int32(last_day), side="right"))
            if hi <= lo:
                continue
            out["day"].append(np.array(days[lo:hi]))
            bidx = np.fromfile(part.dir / "changes" / "bidx.bin", dtype=np.int32, count=hi - lo, offset=4 * lo)
            out["borrower"].append(self._rank[part.offset + bidx.astype(np.int64)])
            for name, dt in self._dtypes.items():
                values = np.fromfile(part.dir / "changes" / f"{name}.bin", dtype=dt, count=hi - lo,
                                     offset=dt.itemsize * lo)
                out[name].append(self._decode(part, name, values))
        cols = {k: (np.concatenate(v) if v else np.zeros(0, dtype=np.int64 if k in ("day", "borrower")
                                                          else self._dtypes[k])) for k, v in out.items()}
        o = np.lexsort((cols["borrower"], cols["day"]))
        return {k: v[o] for k, v in cols.items()}

    def feeds(self, first_day: int, last_day: int) -> FeedCounts:
        """Per feed (event type): events and copies dated in the days, and the newest up to ``last_day``."""
        out = FeedCounts({f: 0 for f in FEEDS}, {f: 0 for f in FEEDS}, {}, {f: 0 for f in FEEDS})
        for part in self._parts:
            for day, typ, events, copies, newest in part.feeds or []:
                if first_day <= day <= last_day:
                    out.events[typ] = out.events.get(typ, 0) + events
                    out.copies[typ] = out.copies.get(typ, 0) + copies
                if day <= last_day and newest > out.newest.get(typ, NONE):
                    out.newest[typ] = newest
            for typ, n in (part.after or {}).items():
                out.after_as_of[typ] = out.after_as_of.get(typ, 0) + n
        return out

    def visits(self, since: int, until: int) -> dict[str, NDArray[Any]]:
        """The inspections the engine applied (copies not) with ``since <= at <= until``: columns of VISITS,
        ``borrower`` as a position in id order and ``team`` in the merged code table, by instant."""
        cols: dict[str, list[NDArray[Any]]] = {name: [] for name, _ in VISITS}
        for part in self._parts:
            if not part.visits:
                continue
            got = {name: np.fromfile(part.dir / f"visits-{name}.bin", dtype=dt) for name, dt in VISITS}
            keep = (got["at"] >= since) & (got["at"] <= until)
            for name, _ in VISITS:
                v = got[name][keep]
                if name == "borrower":
                    v = self._rank[part.offset + v.astype(np.int64)]
                elif name == "team":
                    v = part.remap["team"][v]
                cols[name].append(v)
        out = {name: (np.concatenate(cols[name]) if cols[name] else np.zeros(0, dtype=dt)) for name, dt in VISITS}
        o = np.lexsort((out["borrower"], out["at"]))
        return {k: v[o] for k, v in out.items()}

    def month_ends(self, last: int | date, count: int) -> list[Snapshot]:
        """The records at the ends of ``count`` months, the month holding ``last`` (at ``last``) first."""
        d = day_date(day_number(last) if isinstance(last, date) else last)
        out = [self.at(d)]
        first = d.replace(day=1)
        for _ in range(count - 1):
            end = first - timedelta(days=1)
            first = end.replace(day=1)
            out.append(self.at(end))
        return out
