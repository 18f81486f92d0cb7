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
* **classification floors** crossed with no event (days past due grow by themselves): the row of the day
  before holds the highest DPD and its instant, so the reader adds those rows (:func:`floor_days`), with
  the classification rule's own thresholds (the policy's).

A message holds a partition's rows of one step, one a line (:func:`messages`).

:func:`record` is the one projection of a state onto the record, used by the worker; the replay's loop
builds the same record with codes (tests/integration/test_day_ends.py compares the two on a real broker).
"""

from __future__ import annotations

import json
import shutil
from bisect import bisect_right
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from monitor.events import GRADE_INDEX
from monitor.rules.evaluate import highest_dpd
from monitor.snapshots import (
    CHECKPOINT_END,
    COLUMNS,
    DUE_WHY,
    FEEDS,
    NONE,
    TEXT_COLUMNS,
    Days,
    SnapshotPart,
    day_date,
    day_number,
    write_manifest,
)

__all__ = ["FIELDS", "DayEnds", "decode", "encode", "floor_days", "floors_of", "messages", "record"]

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
    return doc["b"], doc["d"], doc["r"], {k: doc[k] for k in ("n", "s", "f", "v", "e") if k in doc}


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
    dpd, dpd_at, cls = rec[_AT["dpd"]], rec[_AT["dpd_at"]], rec[_AT["cls"]]
    out = []
    for level in range(cls, len(floors)):
        crossing = dpd_at + (floors[level] - dpd) * _DAY  # the instant the highest DPD reaches the threshold
        d = days.of(crossing)
        if d > until:
            break
        if d > day:
            out.append((d, level + 1))
    return out


class DayEnds:
    """The change rows of every borrower, folded from the day-end messages in the order they were read.

    :meth:`add` takes each message (any order across borrowers, a borrower's own in publication order);
    :meth:`rows` gives, per borrower, the full records (``monitor.snapshots.COLUMNS`` order, texts for
    codes) of the days on which the record changed, up to a day, floor crossings included."""

    def __init__(self, zone: Any, floors: Iterable[int]) -> None:
        self.days = Days(zone)
        self.floors = sorted(floors)
        self._by: dict[str, dict[int, list[Any]]] = {}
        self._names: dict[str, list[tuple[int, str | None]]] = {}
        self._seen: dict[str, int] = {}
        self._first: dict[str, int] = {}
        self._visits: dict[str, dict[str, list[Any]]] = {}  # borrower -> inspection event id -> visit
        self._read: dict[tuple[int, int], bytearray] = {}  # (topic rank, partition) -> a bit per offset counted
        self._feeds: dict[tuple[int, int], list[int]] = {}  # (day, feed) -> [events, copies, newest]

    def add_message(self, value: bytes) -> None:
        """A message of the day-ends topic: rows, one a line."""
        for line in value.split(b"\n"):
            self.add(line)

    def add(self, line: bytes) -> None:
        """One row (:func:`encode`)."""
        borrower, day, rec, extra = decode(line)
        self._by.setdefault(borrower, {})[day] = rec
        if "n" in extra:
            self._names.setdefault(borrower, []).append((day, extra["n"]))
        if "s" in extra and borrower not in self._seen:
            self._seen[borrower] = int(extra["s"])
        if "f" in extra and borrower not in self._first:
            self._first[borrower] = int(extra["f"])
        for visit in extra.get("v", ()):  # [at, team, outcome, due day before, event id]: once per event id
            self._visits.setdefault(borrower, {})[str(visit[4])] = visit
        for feed, kind, at, rank, partition, offset in extra.get("e", ()):  # once per input message
            if self._first_read(rank, partition, offset):
                stats = self._feeds.setdefault((self.days.of(at), feed), [0, 0, at])
                stats[2] = max(stats[2], at)
                if kind < 2:
                    stats[kind] += 1

    def _first_read(self, rank: int, partition: int, offset: int) -> bool:
        bits = self._read.setdefault((rank, partition), bytearray())
        byte, bit = divmod(offset, 8)
        if byte >= len(bits):
            bits.extend(bytes(max(byte + 1 - len(bits), len(bits))))
        if bits[byte] >> bit & 1:
            return False
        bits[byte] |= 1 << bit
        return True

    def borrowers(self) -> list[str]:
        return sorted(self._by)

    def rows(self, borrower: str, until: int) -> list[tuple[int, tuple[Any, ...]]]:
        """``(day, record)`` for each day up to ``until`` on which the borrower's record changed."""
        names = sorted(self._names.get(borrower, []), key=lambda x: x[0])  # stable: same day, later wins
        seen, first = self._seen.get(borrower, NONE), self._first.get(borrower, NONE)
        out: list[tuple[int, tuple[Any, ...]]] = []
        last: tuple[Any, ...] | None = None
        k, name = 0, None
        by = self._by.get(borrower, {})
        ordered = sorted(d for d in by if d <= until)
        for i, day in enumerate(ordered):
            rec = by[day]
            while k < len(names) and names[k][0] <= day:
                name = names[k][1]
                k += 1
            full = self._full(rec, name, first if rec[0] >= 0 else NONE, seen)
            if full != last:
                out.append((day, full))
                last = full
            nxt = ordered[i + 1] - 1 if i + 1 < len(ordered) else until
            for fday, level in floor_days(rec, day, nxt, self.days, self.floors):
                moved = list(rec)
                moved[_AT["cls"]] = level
                full = self._full(moved, name, first if rec[0] >= 0 else NONE, seen)
                if full != last:
                    out.append((fday, full))
                    last = full
        return out

    @staticmethod
    def _full(rec: list[Any], name: str | None, first: int, seen: int) -> tuple[Any, ...]:
        values = dict(zip(FIELDS, rec))
        values["name"] = name if rec[0] >= 0 else None
        values["first_seen"], values["seen_at"] = first, seen
        return tuple(values[c] for c, _ in COLUMNS)

    def write(self, directory: Path, until: int, as_of: int, *, policy_version: str, timezone: str) -> None:
        """The change rows up to the day ``until`` and the checkpoints (every month end, and ``as_of``, an
        instant of that day) in ``monitor.snapshots``' format, as ``monitor replay`` writes them into
        ``snapshots/`` with the inspections applied and the events per feed and day (no signals)."""
        shutil.rmtree(directory, ignore_errors=True)
        part = SnapshotPart(directory / "part-000")
        ids = self.borrowers()
        by_day: dict[int, list[tuple[int, tuple[Any, ...]]]] = {}
        code = part.code
        last = self.days.start(until + 1) - 1
        for i, bid in enumerate(ids):
            part.add_borrower(bid)
            for day, rec in self.rows(bid, until):
                by_day.setdefault(day, []).append((i, rec))
            for at, team, outcome, due, _eid in sorted(self._visits.get(bid, {}).values(), key=lambda v: (v[0], v[4])):
                if at <= last:
                    part.visit(i, at, code("team", team), outcome, due)
        texts = [k for k, (c, _) in enumerate(COLUMNS) if c in _TEXT]
        month_ends = _month_ends(min(by_day, default=until), until)
        for day in sorted(by_day):
            while month_ends and month_ends[0] < day:
                d = month_ends.pop(0)
                part.checkpoint(d, self.days.start(d + 1) - 1, day_date(d).isoformat())
            idx, recs = [], []
            for i, rec in by_day[day]:
                values = list(rec)
                for k in texts:
                    values[k] = code(COLUMNS[k][0], values[k])
                idx.append(i)
                recs.append(tuple(values))
            part.write_day(day, idx, recs)
        for d in month_ends:
            if d < until:
                part.checkpoint(d, self.days.start(d + 1) - 1, day_date(d).isoformat())
        part.checkpoint(until, as_of, CHECKPOINT_END)
        part.feeds = [[d, FEEDS[f], *v] for (d, f), v in sorted(self._feeds.items()) if d <= until]
        write_manifest(directory, [part.close()], policy_version=policy_version, timezone=timezone, as_of=as_of)


def _month_ends(first: int, last: int) -> list[int]:
    """The day numbers of the month ends from the month holding ``first`` up to ``last`` (inclusive)."""
    out = []
    d = day_date(first).replace(day=1)
    while True:
        end = (d.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        if day_number(end) > last:
            return out
        out.append(day_number(end))
        d = end + timedelta(days=1)
