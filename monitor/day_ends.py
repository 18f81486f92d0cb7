"""Day-end rows: each borrower's snapshot record at the end of a local day, as the worker publishes it.

``monitor replay`` writes, from the engine's states, one record per borrower and local day on which the
record changed (``monitor.snapshots``: the change rows). The streaming worker publishes the same record on
the retained ``{prefix}day-ends`` topic, so that a reader (the alert desk) can keep the change rows of the
whole portfolio without replaying the feeds:

* **when**: after each step, for every borrower the step touched, the record at the end of the local day
  of the borrower's last change (its clock); and within a step, before a borrower's event or time-driven
  change of a later day is applied, the record of the earlier day. Time-driven changes (wake-ups) are
  settled day by day (each to the end of its day, as the replay closes its days), which leaves the states
  and decisions exactly as before (the engine settles every wake-up at its own instant). A day's row can be
  published several times (later events of the same day, a restart re-reading uncommitted input): the
  last one of a (borrower, day) holds; an unchanged record is published too and dropped by the reader.
* **what** (:func:`encode`): the record's columns (``monitor.snapshots.COLUMNS``) with texts instead of
  codes; the borrower's name, its first event's instant and its first loan profile's instant are not in
  the engine's state, so a row carries each only when it happened in that step (``n``, ``s``, ``f``) and
  the reader carries them forward (:class:`DayEnds`).
* **inspections** the engine applied (not copies) ride on the row of their day (``v``: instant, team, outcome,
  the due date in force just before): the reader keeps one per event id.
* **events per feed and day**: each input message the engine took (``e``: feed, applied / copy / conflicting
  copy, its instant, topic rank, partition, offset); the reader counts each message once (a bit per offset).
* **the schedule history** (``h``): after an event that changed the schedule key (``Engine.schedule_key``),
  ``[position, clock, key before, key after, the schedule entry]``; after each day's settling of wake-ups,
  the same, or ``[position, clock]`` when the key did not change (``position``: the number of the row's ``e``
  entries it follows; keys as :func:`key_digest`). The reader dates and merges them as ``monitor replay``
  does (an entry after each applied event whose key differs from the key after the previous one, wake-ups of
  the day before it included, and one at the day's end; dated by the clock then): :meth:`DayEnds.history`
  gives ``schedule_history.jsonl``'s lines.
* **classification floors** crossed with no event (days past due grow by themselves): the row of the day
  before holds the highest DPD and its instant, so the reader adds those rows (:func:`floor_days`), with
  the classification rule's own thresholds (the policy's).

A message holds a partition's rows of one step, one a line (:func:`messages`).

What ``build_report`` reads of a replay's directory and where the desk takes it from instead (issue 14): see
:mod:`monitor.desk.report_topics` (the snapshots, schedule history and signals from this fold: a row at watch or
above carries the state, ``z``, and the reader keeps each borrower's last days' for :meth:`DayEnds.signals`).
Closed months go to disk (:meth:`DayEnds.close_months`, :mod:`monitor._day_ends_months`).

:func:`record` is the one projection of a state onto the record, used by the worker; the replay's loop
builds the same record with codes (tests/integration/test_day_ends.py compares the two on a real broker).
"""

from __future__ import annotations

import hashlib
import json
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.events import GRADE_INDEX
from monitor.outputs import schedule_history_line
from monitor.rules.evaluate import highest_dpd
from monitor.snapshots import (
    COLUMNS,
    DUE_WHY,
    FEEDS,
    NONE,
    TEXT_COLUMNS,
    Days,
    day_date,
)

__all__ = ["FIELDS", "DayEnds", "decode", "encode", "floor_days", "floors_of", "key_digest", "messages", "record"]

_TEXT = frozenset(TEXT_COLUMNS)
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # one encoder: json.dumps builds one a call

_DAY = 86_400_000_000
_WHY = {w: i for i, w in enumerate(DUE_WHY)}
# the record's columns a row carries, in order (the name, first_seen and seen_at apart: see the docstring)
FIELDS: tuple[str, ...] = tuple(c for c, _ in COLUMNS if c not in ("name", "first_seen", "seen_at"))
_AT = {c: i for i, c in enumerate(FIELDS)}


def floors_of(policy: Any) -> list[int]:
    """The classification thresholds (days past due) of a policy, sorted."""
    c = policy.classification
    return sorted((c.special_mention, c.substandard, c.doubtful, c.loss))


def key_digest(key: tuple[object, ...]) -> int:
    """A schedule key (``Engine.schedule_key``) as a number, the same in every process (48 bits: exact in JSON)."""
    return int.from_bytes(hashlib.blake2b(repr(key).encode(), digest_size=6).digest(), "big")


def record(s: Any, at: int, day_of: Callable[[int], int], floors: list[int]) -> list[Any]:
    """The record (:data:`FIELDS`) of state ``s`` at the instant ``at`` (a day's last microsecond); texts for
    the coded columns. ``day_of``: an instant's local day number (``Days.of``); ``floors``: the classification
    thresholds (days past due), sorted."""
    p = s.profile
    if p is None:
        return [-1, -1, -1, -1, 0, -1, None, None, None, None, None, None, -1, s.alerts, 0, 0, NONE, NONE, NONE,
                NONE if s.bureau is None else s.bureau.at, NONE if s.inspection is None else s.inspection.at, NONE]
    top, top_id = highest_dpd(s, at) if s.accounts else (0, None)
    acc = s.accounts[top_id] if top_id is not None else None
    due = s.due
    return [
        s.tier, s.computed, GRADE_INDEX.get(s.grade, -1), bisect_right(floors, top) if top else 0,
        1 if top > 0 else 0, _WHY.get(s.due_why, -1), p.segment, p.industry, p.branch, p.team, p.product,
        p.mitigation, day_of(due) if due is not None else -1, s.alerts, acc.dpd if acc is not None else 0,
        round(p.exposure * 100), s.tier_since if s.tier_since is not None else NONE, p.at,
        s.grade_at if s.grade_at is not None else NONE, s.bureau.at if s.bureau is not None else NONE,
        s.inspection.at if s.inspection is not None else NONE, acc.at if acc is not None else NONE,
    ]


def encode(borrower: str, day: int, rec: list[Any], extra: dict[str, Any] | None) -> bytes:
    """One row, a line of JSON: ``{"b": borrower, "d": local day number, "r": record, and the extras}``."""
    doc: dict[str, Any] = {"b": borrower, "d": day, "r": rec}
    if extra:
        doc.update(extra)
    return _ENCODE(doc).encode()


def decode(line: bytes) -> tuple[str, int, list[Any], dict[str, Any]]:
    """(borrower, day, record, extras) of a row; ``ValueError`` when it is not a day-end row."""
    doc = json.loads(line)
    if not isinstance(doc, dict) or not isinstance(doc.get("b"), str) or not isinstance(doc.get("d"), int) \
            or not isinstance(doc.get("r"), list) or len(doc["r"]) != len(FIELDS):
        raise ValueError(f"not a day-end row: {line[:200]!r}")
    return doc["b"], doc["d"], doc["r"], {k: doc[k] for k in ("n", "s", "f", "v", "e", "h", "z") if k in doc}


def messages(rows: Iterable[bytes], limit: int = 262_144) -> list[bytes]:
    """Rows joined into message values of at most ``limit`` bytes (a row longer than that alone): one Kafka
    record per partition and step, not one a row (a record costs the worker more than the row's JSON)."""
    out: list[bytes] = []
    cur: list[bytes] = []
    size = 0
    for row in rows:
        if cur and size + len(row) + 1 > limit:
            out.append(b"\n".join(cur))
            cur, size = [], 0
        cur.append(row)
        size += len(row) + 1
    if cur:
        out.append(b"\n".join(cur))
    return out


def floor_days(rec: list[Any], day: int, until: int, days: Days, floors: list[int]) -> list[tuple[int, int]]:
    """The days after ``day`` and up to ``until`` on which the record's classification floor rises with no
    change of the state (its highest DPD grows a day a day): ``(day, new floor)``, in order."""
    if not rec[_AT["overdue"]]:
        return []
    return _crossings(rec[_AT["dpd"]], rec[_AT["dpd_at"]], rec[_AT["cls"]], day, until, days, floors)


def _crossings(dpd: int, dpd_at: int, cls: int, day: int, until: int, days: Days,
               floors: list[int]) -> list[tuple[int, int]]:
    out = []
    for level in range(cls, len(floors)):
        crossing = dpd_at + (floors[level] - dpd) * _DAY  # the instant the highest DPD reaches the threshold
        d = days.of(crossing)
        if d > until:
            break
        if d > day:
            out.append((d, level + 1))
    return out


_ROW = np.dtype([("b", "i4"), ("d", "i4"), *((c, dt) for c, dt in COLUMNS if c in FIELDS)])
_FULL = np.dtype([("b", "i4"), ("d", "i4"), *COLUMNS])
_CODED = tuple(c for c in FIELDS if c in _TEXT)


class DayEnds:
    """The change rows of every borrower, folded from the day-end messages in the order they were read.

    :meth:`add` takes each message (any order across borrowers, a borrower's own in publication order) into
    numpy columns (about 110 bytes a row published; texts as codes); :meth:`rows` gives, per borrower, the
    full records (``monitor.snapshots.COLUMNS`` order, texts for codes) of the days on which the record
    changed, up to a day, floor crossings included; :meth:`write` writes them all in the replay's format."""

    def __init__(self, zone: Any, floors: Iterable[int], keep_days: int = 1) -> None:
        self.days = Days(zone)
        self.keep_days = keep_days  # states kept: of a borrower's rows this many days before its newest, and one more
        self.floors = sorted(floors)
        self._ids: dict[str, int] = {}  # borrower -> index, in order of first row
        self._codes: dict[str, dict[str | None, int]] = {c: {None: -1} for c in (*_CODED, "name")}
        self._pending: list[tuple[Any, ...]] = []
        self._chunks: list[NDArray[Any]] = []
        self._names: list[tuple[int, int, int]] = []  # (borrower, day, name code), in the order read
        self._seen: dict[int, int] = {}
        self._first: dict[int, int] = {}
        self._visits: dict[int, dict[str, list[Any]]] = {}  # borrower -> inspection event id -> visit
        self._read: dict[tuple[int, int], bytearray] = {}  # (topic rank, partition) -> a bit per offset counted
        self._feeds: dict[tuple[int, int], list[int]] = {}  # (day, feed) -> [events, copies, newest]
        self._done: tuple[int, dict[str, NDArray[Any]]] | None = None  # the last change rows made (until, columns)
        self._sched: dict[int, list[Any]] = {}  # borrower -> its schedule history's state (see _schedule)
        # the schedule history's entries made, dated: instants, borrowers (arrival index), lines (with their "\n")
        self._hist_at, self._hist_b, self._hist_lines = array("q"), array("q"), list[bytes]()
        self._states: dict[int, list[tuple[int, bytes | None]]] = {}  # borrower -> its last days' states (keep_days)
        self._newest: dict[tuple[int, int], int] = {}  # (day, feed) -> the newest applied event's instant
        self._sorted: list[str] = []  # the borrowers sorted (made again when one is added)
        self._ranked = np.zeros(0, dtype=np.int32)  # arrival index -> position in _sorted (see _rank)
        self._base: Any = None  # the closed months, on disk (monitor._day_ends_months.MonthStore), or None
        self._judged: dict[int, dict[int, tuple[str, bytes, list[str]]]] = {}  # instant -> lines judged (prepare)
        self._dirty: set[int] = set()  # the borrowers with rows read since (prepare)
        self.late = 0  # rows of a closed month's days read after it closed: dropped (see add)

    def add_message(self, value: bytes) -> int:
        """A message of the day-ends topic: rows, one a line; the newest day among them."""
        newest = -1
        for line in value.split(b"\n"):
            newest = max(newest, self.add(line))
        return newest

    def add(self, line: bytes) -> int:
        """One row (:func:`encode`); its day."""
        borrower, day, rec, extra = decode(line)
        b = self._ids.setdefault(borrower, len(self._ids))
        codes = self._codes
        for c in _CODED:
            k = _AT[c]
            table = codes[c]
            rec[k] = table.setdefault(rec[k], len(table) - 1)
        if self._base is not None and b < self._base.final.size and day < self._base.final[b]:
            self.late += 1  # a row of a day on disk read again (a restarted worker's): the one kept holds
        else:
            self._pending.append((b, day, *rec))
            if len(self._pending) >= 16_384:
                self._flush()
        self._done = None
        if "n" in extra:
            table = codes["name"]
            self._names.append((b, day, table.setdefault(extra["n"], len(table) - 1)))
        if "s" in extra and b not in self._seen:
            self._seen[b] = int(extra["s"])
        if "f" in extra and b not in self._first:
            self._first[b] = int(extra["f"])
        for visit in extra.get("v", ()):  # [at, team, outcome, due day before, event id]: once per event id
            self._visits.setdefault(b, {})[str(visit[4])] = visit
        blob = extra.get("z")  # the state of the row's day (watch or above)
        self._keep_state(b, day, None if blob is None else blob.encode())
        if self._judged:
            self._dirty.add(b)
        events = extra.get("e", ())
        k = 0
        for item in extra.get("h", ()):  # schedule items, each before the row's e entries from its first field on
            while k < item[0] and k < len(events):
                self._event(b, events[k])
                k += 1
            self._schedule(b, item)
        for entry in events[k:]:
            self._event(b, entry)
        return day

    def _keep_state(self, b: int, day: int, blob: bytes | None) -> None:
        """Keep the state of a borrower's row: those of the days within ``keep_days`` of its newest, and the
        last one before them (the state at the end of any of those days); the last row of a day holds."""
        states = self._states.get(b)
        if states is None:
            self._states[b] = [(day, blob)]
            return
        if day < states[0][0]:
            return  # a row read again (a restarted worker) of a day no longer kept
        k = bisect_right(states, day, key=lambda x: x[0])
        if k and states[k - 1][0] == day:
            states[k - 1] = (day, blob)
            return
        states.insert(k, (day, blob))
        horizon = states[-1][0] - self.keep_days
        first = bisect_right(states, horizon, key=lambda x: x[0]) - 1  # the last one up to the horizon
        if first > 0:
            del states[:first]

    def _event(self, b: int, entry: list[Any]) -> None:
        feed, kind, at, rank, partition, offset = entry
        if self._first_read(rank, partition, offset):  # once per input message
            stats = self._feeds.setdefault((self.days.of(at), feed), [0, 0, at])
            stats[2] = max(stats[2], at)
            if kind < 2:
                stats[kind] += 1
            if kind == 0:
                key = (self.days.of(at), feed)
                if at > self._newest.get(key, NONE):
                    self._newest[key] = at
                h = self._sched.get(b)
                if h is not None:
                    self._point(b, h, at)

    # the schedule history: the replay writes an entry when the schedule key differs after an applied event
    # from before it (wake-ups settled since count with the event), and at a day's end after its wake-ups;
    # dated by the borrower's clock then. Per borrower: [key at the last such point, key now, clock, day,
    # entry now]
    def _schedule(self, b: int, item: list[Any]) -> None:
        h = self._sched.get(b)
        at = int(item[1])
        if h is None:
            if len(item) < 5:
                return  # no key known yet: a settling before the first change is no point
            h = self._sched[b] = [item[2], item[2], at, self.days.of(at), None]
        elif self.days.of(at) > h[3]:
            self._close(b, h)
            h[3] = self.days.of(at)
        h[2] = max(h[2], at)
        if len(item) >= 5:
            h[1], h[4] = item[3], item[4]

    def _point(self, b: int, h: list[Any], at: int) -> None:
        day = self.days.of(at)
        if day > h[3]:
            self._close(b, h)
            h[3] = day
        h[2] = max(h[2], at)
        self._close(b, h)

    def _close(self, b: int, h: list[Any]) -> None:
        if h[1] != h[0]:
            self._hist_at.append(h[2])
            self._hist_b.append(b)
            self._hist_lines.append(f"{schedule_history_line(h[2], h[4])}\n".encode())
            h[0] = h[1]

    def signals(self, until: int, engine: Any) -> list[bytes]:
        """``snapshots/signals.jsonl``'s lines at the end of the day ``until``, as ``monitor replay --as-of``
        (that day's last instant) writes them (:func:`monitor._day_ends_signals.judged`); ``ValueError`` when a
        borrower has rows of two days after ``until`` (its state then is no longer kept)."""
        return [line for _bid, line, _rules in self.judged(until, engine)]

    def judged(self, until: int, engine: Any) -> list[tuple[str, bytes, list[str]]]:
        """:meth:`signals`' lines with the borrower and the rules of each (:mod:`monitor._day_ends_signals`)."""
        from monitor._day_ends_signals import judged

        return judged(self, until, engine)

    def prepare(self, until: int, engine: Any) -> None:
        """Judge the signals at the end of the day ``until`` ahead (:func:`monitor._day_ends_signals.prepare`)."""
        from monitor._day_ends_signals import prepare

        prepare(self, until, engine)
    def counts(self, until: int) -> tuple[dict[str, list[int]], dict[str, int]]:
        """Up to the day ``until``: per event type, [applied, copies]; and the newest applied instant."""
        n: dict[str, list[int]] = {}
        for (d, f), v in self._feeds.items():
            if d <= until:
                c = n.setdefault(FEEDS[f], [0, 0])
                c[0] += v[0]
                c[1] += v[1]
        newest: dict[str, int] = {}
        for (d, f), at in self._newest.items():
            if d <= until and at > newest.get(FEEDS[f], NONE):
                newest[FEEDS[f]] = at
        return n, newest

    def history(self, until: int) -> list[bytes]:
        """``schedule_history.jsonl``'s lines (:meth:`write_history`)."""
        return [line[:-1] for block in self._history_blocks(until) for line in block]

    def write_history(self, until: int, fh: Any) -> None:
        """Write ``schedule_history.jsonl`` up to the end of the day ``until`` to ``fh`` (binary), as ``monitor
        replay --as-of`` (that day's last instant) writes it: a line per entry, by instant, then borrower (a
        block of lines at a time: the file is not held whole)."""
        for block in self._history_blocks(until):
            fh.write(b"".join(block))

    def _history_blocks(self, until: int, size: int = 65_536) -> Iterator[list[bytes]]:
        last = self.days.start(until + 1) - 1
        pending = [(h[2], b, h[4]) for b, h in self._sched.items() if h[1] != h[0] and h[3] <= until]
        lines = self._hist_lines
        extra = [f"{schedule_history_line(at, entry)}\n".encode() for at, _b, entry in pending]
        at = np.r_[np.frombuffer(self._hist_at, dtype=np.int64), np.array([p[0] for p in pending], dtype=np.int64)]
        arrival = np.r_[np.frombuffer(self._hist_b, dtype=np.int64), np.array([p[1] for p in pending], dtype=np.int64)]
        who = self._rank()[arrival]
        keep = np.flatnonzero(at <= last)
        order = keep[np.lexsort((who[keep], at[keep]))]  # by instant, then borrower id (stable: as made)
        n = len(lines)
        for k in range(0, order.size, size):
            yield [lines[i] if i < n else extra[i - n] for i in order[k:k + size].tolist()]

    def _drop_rows(self, final: NDArray[np.int64]) -> None:
        """Forget each borrower's rows of the days before ``final`` (by arrival index): on disk (see
        :meth:`close_months`)."""
        self._flush()
        if self._chunks:
            t = np.concatenate(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
            self._chunks = [t[t["d"] >= final[t["b"]]]]
        self._done = None

    def _newest_days(self) -> NDArray[np.int64]:
        """Each borrower's newest row day in memory (by arrival index; -1: none)."""
        self._flush()
        out = np.full(len(self._ids), -1, dtype=np.int64)
        for t in self._chunks:
            np.maximum.at(out, t["b"], t["d"].astype(np.int64))
        return out

    def _closed(self, until: int) -> Any:
        """The closed months' store (None when none), checking that ``until`` is after them."""
        base = self._base
        if base is not None and until < base.day:
            raise ValueError(f"the day-end rows up to {day_date(base.day)} are closed (on disk, a month at a "
                             f"time): nothing ending {day_date(until)} can be written any more")
        return base

    def _flush(self) -> None:
        if self._pending:
            self._chunks.append(np.array(self._pending, dtype=_ROW))
            self._pending = []

    def _first_read(self, rank: int, partition: int, offset: int) -> bool:
        bits = self._read.setdefault((rank, partition), bytearray())
        byte, bit = divmod(offset, 8)
        if byte >= len(bits):
            bits.extend(bytes(max(byte + 1 - len(bits), len(bits))))
        if bits[byte] >> bit & 1:
            return False
        bits[byte] |= 1 << bit
        return True

    def taken(self, rank: int, partition: int) -> bytes:
        """The input messages of a partition the rows name (a bit per offset, the lowest bit first)."""
        return bytes(self._read.get((rank, partition), b""))

    def borrowers(self) -> list[str]:
        """The borrowers with rows, sorted (a list kept between calls: do not change it)."""
        if len(self._sorted) != len(self._ids):
            self._sorted = sorted(self._ids)
        return self._sorted

    def changes(self, until: int) -> dict[str, NDArray[Any]]:
        """Every borrower's change rows up to the day ``until`` (after the closed months, when some are:
        :meth:`close_months`): columns ``b`` (the borrower's index in :meth:`borrowers`), ``d`` (the day) and
        the record's (texts as codes: see :meth:`texts`), sorted by borrower and day.

        Made column by column through index vectors (no structured copy of the rows: the peak is about one
        copy of the result over the rows kept), kept until a row is added or :meth:`release`."""
        if self._done is not None and self._done[0] == until:
            return self._done[1]
        from monitor._day_ends_changes import changes

        out = changes(self, until)
        self._done = (until, out)
        return out

    def release(self) -> None:
        """Forget the change rows :meth:`changes` keeps for the next call (a report's input directory is written:
        the next one is a later day's)."""
        self._done = None

    def _rank(self) -> NDArray[np.int32]:
        """Arrival index -> position in id order (:meth:`borrowers`; kept until a borrower is added)."""
        if self._ranked.size != len(self._ids):
            ids = self._ids
            rank = np.empty(len(ids), dtype=np.int32)
            rank[np.array([ids[bid] for bid in self.borrowers()], dtype=np.int64)] = np.arange(len(ids))
            self._ranked = rank
        return self._ranked

    def last_rows(self, until: int) -> tuple[NDArray[Any], NDArray[np.bool_]]:
        """Each borrower's record at the end of the day ``until`` (by position in :meth:`borrowers`; the
        :meth:`changes` columns as one structured array), and whether it has one."""
        cols = self.changes(until)
        n = len(self._ids)
        out = np.zeros(n, dtype=_FULL)
        has = np.zeros(n, dtype=bool)
        if self._base is not None:
            had = np.flatnonzero(self._base.has)
            where = self._rank()[had]
            last = self._base.last
            if last.dtype == _FULL and last.flags["C_CONTIGUOUS"]:  # as rows of bytes (numpy's structured copy goes field by field)
                out.view(np.uint8).reshape(n, _FULL.itemsize)[where] = \
                    last.view(np.uint8).reshape(last.size, _FULL.itemsize)[had]
            else:
                out[where] = last[had]
            has[where] = True
        b = cols["b"]
        if b.size:
            k = np.flatnonzero(np.r_[b[1:] != b[:-1], True])
            at = b[k]
            for name in _FULL.names:  # (a field gathered contiguous, scattered once: its fields are unaligned)
                col = np.ascontiguousarray(out[name])
                col[at] = cols[name][k]
                out[name] = col
            has[at] = True
        return out, has

    def close_months(self, until: int, directory: Path) -> int | None:
        """Move the change rows up to the last month end before or on the day ``until`` to disk (the closed
        months, :class:`monitor._day_ends_months.MonthStore` in ``directory``), but each borrower's rows from
        the day of its newest row on (a late event of that day may still change them); rows of the days on
        disk read later are dropped (a restarted worker publishes them again). The new last closed day, or None
        when no month closes."""
        from monitor._day_ends_months import MonthStore, close

        if self._base is None:
            self._base = MonthStore(directory, _FULL)
        return close(self, self._base, until)

    def _name_at(self, b: NDArray[Any], d: NDArray[Any], rank: NDArray[Any]) -> NDArray[np.int64]:
        """The name code in force on each (borrower, day): the latest name row of a day up to it (-1: none)."""
        if not self._names:
            return np.full(b.size, -1, dtype=np.int64)
        n = np.array(self._names, dtype=np.int64)
        nb, nd = rank[n[:, 0]].astype(np.int64), n[:, 1]
        o = np.lexsort((np.arange(nb.size), nd, nb))  # stable: the same day, the later wins
        key = (nb[o] << 32) + nd[o]
        want = (b.astype(np.int64) << 32) + d.astype(np.int64)
        j = np.searchsorted(key, want, side="right") - 1
        ok = (j >= 0) & (nb[o][np.maximum(j, 0)] == b)
        return np.where(ok, n[o, 2][np.maximum(j, 0)], -1)

    def texts(self) -> dict[str, list[str | None]]:
        """Per coded column, the text of each code (code order)."""
        return {c: [t for t, _ in sorted(table.items(), key=lambda x: x[1])][1:] for c, table in self._codes.items()}

    def rows(self, borrower: str, until: int) -> list[tuple[int, tuple[Any, ...]]]:
        """``(day, record)`` for each day up to ``until`` (after the closed months) on which the borrower's
        record changed."""
        from monitor._day_ends_months import borrower_rows

        return borrower_rows(self, borrower, until)

    def known_mask(self, until: int) -> NDArray[np.bool_]:
        """By position in :meth:`borrowers` (id order): whether the borrower's first event is on the day ``until``
        or before (those ``monitor replay --as-of`` that day's end knows; a borrower without one: known)."""
        last = self.days.start(until + 1) - 1  # the day's last instant (days grow with instants)
        n = len(self._ids)
        first = np.full(n, NONE, dtype=np.int64)  # each borrower's first event, by arrival index
        if self._seen:
            first[np.fromiter(self._seen.keys(), dtype=np.int64, count=len(self._seen))] = \
                np.fromiter(self._seen.values(), dtype=np.int64, count=len(self._seen))
        arrival = np.empty(n, dtype=np.int64)  # position in id order -> arrival index
        arrival[self._rank()] = np.arange(n, dtype=np.int64)
        return first[arrival] <= last

    def write(self, directory: Path, until: int, as_of: int, *, policy_version: str, timezone: str,
              known_only: bool = False) -> None:
        """The change rows up to the day ``until`` and the checkpoints (every month end, and ``as_of``, an
        instant of that day) in ``monitor.snapshots``' format, as ``monitor replay`` writes them into
        ``snapshots/`` with the inspections applied and the events per feed and day (no signals). With
        ``known_only``, only the borrowers of :meth:`known_mask` (as a replay as of ``as_of`` writes them)."""
        from monitor._day_ends_months import write_snapshots

        write_snapshots(self, directory, until, as_of, policy_version=policy_version, timezone=timezone,
                        known_only=known_only)
