"""Reading the outputs of ``monitor replay`` into arrays, as known at the edges of the period.

``alerts.jsonl`` and ``schedule_history.jsonl`` are sorted by instant, and both
can be long (every change since the first event). The report reads in full
only the lines from the start of the period on (found by binary search); the
lines before it are only scanned for their borrower, to find each borrower's
last line before the period. What a borrower's state was at an instant follows
from the first change after it (an alert's ``from_tier``), or, when there is
none, from ``borrowers.jsonl`` (the state at the replay's as-of).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor._errors import InputError
from monitor._time import parse_instant
from monitor.reports._ids import Codes, IdIndex, KeySet, borrower_index
from monitor.reports._scan import (
    I64, Chunk, FieldPos, decode_strings, gather, iter_chunks, parse_dates, parse_instants, prefixed_ids,
    seq_fields,
)
from monitor.snapshots import DUE_WHY, Snapshot

__all__ = ["KINDS", "TIERS", "Alerts", "Borrowers", "Codes", "IdIndex", "Schedule", "borrower_index",
           "first_policy_version",
           "read_alerts", "read_borrowers", "read_rejects", "read_schedule", "read_summary", "scan_schedule"]

TIERS: tuple[str, ...] = ("normal", "watch", "warning", "severe")
KINDS: tuple[str, ...] = ("raised", "escalated", "de_escalated", "cleared")
I32 = NDArray[np.int32]
I8 = NDArray[np.int8]
_EPOCH_ORD = date(1970, 1, 1).toordinal()


def _lookup(values: NDArray[np.bytes_], names: tuple[str, ...]) -> I8:
    out = np.full(values.size, -1, dtype=np.int8)
    for i, name in enumerate(names):
        out[values == name.encode()] = i
    return out


def _utc(text: object) -> int:
    try:
        return parse_instant(str(text))
    except ValueError:
        raise InputError(f"not an ISO 8601 instant: {text!r}") from None


def _day(text: object) -> int:
    if text is None:
        return -1
    try:
        return date.fromisoformat(str(text)).toordinal() - _EPOCH_ORD
    except ValueError:
        raise InputError(f"not a date: {text!r}") from None


def _instants(chunk: Chunk, fp: FieldPos) -> tuple[I64, NDArray[np.bool_]]:
    return parse_instants(gather(chunk.buf, fp.start, 40), fp.end - fp.start)


def _dates(chunk: Chunk, fp: FieldPos) -> tuple[I32, NDArray[np.bool_]]:
    days, ok = parse_dates(gather(chunk.buf, fp.start, 10), fp.end - fp.start)
    null = fp.kind == 0
    return np.where(null, -1, days).astype(np.int32), ok | null


def _docs(chunk: Chunk, rows: NDArray[np.intp], what: str) -> list[dict[str, Any]]:
    out = []
    for i in rows:
        try:
            doc = json.loads(chunk.line(int(i)))
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise InputError(f"{what}: line {chunk.first_line + int(i)} is not a JSON object")
        out.append(doc)
    return out


def _put(arr: NDArray[np.bytes_], rows: NDArray[np.intp], values: list[bytes]) -> NDArray[np.bytes_]:
    """``arr`` with ``values`` at ``rows``, widened when a value is longer than its width."""
    wide = max([arr.dtype.itemsize, *(len(v) for v in values)])
    arr = arr.astype(f"S{wide}") if wide > arr.dtype.itemsize else arr.copy()
    arr[rows] = values
    return arr


def _index(ids: IdIndex, values: NDArray[np.bytes_], what: str) -> I32:
    bidx = borrower_index(ids, values)
    if bool(np.any(bidx < 0)):
        unknown = values[bidx < 0][0].decode("utf-8", "replace")
        raise InputError(f"{what}: borrower {unknown!r} is not in borrowers.jsonl "
                         "(the files are not from the same replay)")
    return bidx


# ---------------------------------------------------------------- borrowers.jsonl

@dataclass(slots=True)
class Borrowers:
    """``borrowers.jsonl``: the state at the replay's as-of, one slot per borrower (sorted by id)."""

    ids: NDArray[np.bytes_]
    tier: I8  # -1: no profile
    due: I32  # days since the epoch, -1 none
    team: I32  # code, -1 none


_HEAD_KEYS = ("borrower_id", "tier")
_TAIL_KEYS = ("min_classification", "next_visit_due", "team")
_CLOSE = 93  # "]": the end of active_rules, a list of rule ids


def _borrower_fields(chunk: Chunk) -> tuple[dict[str, FieldPos], NDArray[np.bool_]]:
    """The fields before and after ``active_rules``, walked from the line start and from the ``]``."""
    head, ok, _ = seq_fields(chunk, _HEAD_KEYS, "computed_tier", width=96)
    close = np.flatnonzero(chunk.buf[: len(chunk.data)] == _CLOSE)
    if close.size == 0:
        close = np.zeros(1, dtype=np.int64)
    at = close[np.minimum(np.searchsorted(close, chunk.starts), close.size - 1)] + 1
    ok &= at < chunk.ends
    at = np.minimum(at, chunk.ends)
    tail, ok2, _ = seq_fields(chunk, _TAIL_KEYS, "branch", begin=at, width=128)
    return {**head, **tail}, ok & ok2


def read_borrowers(path: Path, teams: Codes) -> Borrowers:
    parts: dict[str, list[NDArray[Any]]] = {"ids": [], "tier": [], "due": [], "team": []}
    for chunk in iter_chunks(path):
        f, ok = _borrower_fields(chunk)
        every = np.arange(chunk.lines, dtype=np.int64)
        ids = decode_strings(chunk, f["borrower_id"], every)
        tier = np.where(f["tier"].kind == 0, -1, _lookup(decode_strings(chunk, f["tier"], every), TIERS))
        tier = tier.astype(np.int8)
        due, d_ok = _dates(chunk, f["next_visit_due"])
        team = decode_strings(chunk, f["team"], every)
        team_null = f["team"].kind == 0
        live = chunk.ends > chunk.starts
        bad = np.flatnonzero(~(ok & d_ok & ((tier >= 0) | (f["tier"].kind == 0))) & live)
        if bad.size:
            docs = _docs(chunk, bad, path.name)
            ids = _put(ids, bad, [str(d.get("borrower_id", "")).encode() for d in docs])
            team = _put(team, bad, [str(d.get("team") or "").encode() for d in docs])
            for j, d in zip(bad, docs):
                tier[j] = TIERS.index(d["tier"]) if d.get("tier") in TIERS else -1
                due[j] = _day(d.get("next_visit_due"))
                team_null[j] = d.get("team") is None
        rows = np.flatnonzero(live)
        parts["ids"].append(ids[rows])
        parts["tier"].append(tier[rows])
        parts["due"].append(due[rows])
        parts["team"].append(np.where(team_null[rows], -1, teams.encode(team[rows])).astype(np.int32))
    ids = np.concatenate(parts["ids"]) if parts["ids"] else np.zeros(0, dtype="S1")
    cols = {k: np.concatenate(v) if v else np.zeros(0, np.int32) for k, v in parts.items() if k != "ids"}
    if ids.size > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        order = np.argsort(ids, kind="stable")
        ids = ids[order]
        cols = {k: v[order] for k, v in cols.items()}
        if bool(np.any(ids[1:] == ids[:-1])):
            raise InputError(f"{path.name}: a borrower appears twice")
    return Borrowers(ids, cols["tier"].astype(np.int8), cols["due"].astype(np.int32), cols["team"].astype(np.int32))


# ---------------------------------------------------------------- finding the period in a sorted file

def seek_instant(path: Path, instant: int) -> int:
    """Byte offset of the first line whose ``"at"`` is at or after ``instant`` (the file is sorted)."""

    def at_of(line: bytes) -> int:
        try:
            return _utc(json.loads(line)["at"])
        except (ValueError, KeyError, TypeError):
            raise InputError(f"{path.name}: a line without an instant: {line[:80]!r}") from None

    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            def line_from(pos: int) -> tuple[int, bytes]:
                fh.seek(max(pos - 1, 0))
                if pos > 0:
                    fh.readline()
                begin = fh.tell()
                return begin, fh.readline()

            lo, hi = 0, size  # lines before lo are before the instant; the answer is in [lo, hi]
            while hi - lo > 1 << 16:
                begin, line = line_from((lo + hi) // 2)
                if begin >= hi or not line.strip():
                    break
                if at_of(line.rstrip(b"\r\n")) >= instant:
                    hi = begin
                else:
                    lo = begin + len(line)
            fh.seek(lo)
            pos = lo
            while pos < hi:
                line = fh.readline()
                if not line:
                    break
                if line.strip() and at_of(line.rstrip(b"\r\n")) >= instant:
                    return pos
                pos += len(line)
            return hi
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _last_per(bidx: I32) -> NDArray[np.intp]:
    """Row of the last occurrence of each borrower in ``bidx``."""
    _, first_rev = np.unique(bidx[::-1], return_index=True)
    return np.asarray(bidx.size - 1 - first_rev)


def _first_per(bidx: I32) -> NDArray[np.intp]:
    _, first = np.unique(bidx, return_index=True)
    return np.asarray(first)


def _check_sorted(t: I64, prev: int, name: str) -> int:
    if t.size == 0:
        return prev
    if int(t[0]) < prev or (t.size > 1 and bool(np.any(t[1:] < t[:-1]))):
        raise InputError(f"{name} is not sorted by instant: not written by monitor replay?")
    return int(t[-1])


def _scan_ids(path: Path, stop: int, ids: IdIndex, head: bytes, layouts: list[tuple[int, bytes]],
              keys: tuple[str, ...], then: str, wanted: NDArray[np.bool_] | None) -> tuple[I64, I64]:
    """Each borrower's last line before byte ``stop`` (offset and length, -1 none): only the borrower is
    read (at a fixed place, else by the field walk, else with ``json``)."""
    n = ids.n
    off = np.full(n, -1, dtype=np.int64)
    length = np.zeros(n, dtype=np.int64)
    if stop <= 0 or (wanted is not None and not bool(wanted.any())):
        return off, length
    maybe = KeySet(ids.key_of[wanted]) if wanted is not None else None
    for chunk in iter_chunks(path, stop=stop):
        values, ok = prefixed_ids(chunk, head, layouts, width=min(ids.width + 1, 4096))
        live = chunk.ends > chunk.starts
        bad = np.flatnonzero(~ok & live)
        if bad.size:
            f, ok2, _ = seq_fields(chunk, keys, then)
            walked = decode_strings(chunk, f["borrower_id"], bad)
            still = bad[~ok2[bad]]
            fixed = [str(d.get("borrower_id", "")).encode() for d in _docs(chunk, still, path.name)]
            values = _put(values, bad, walked.tolist())
            if still.size:
                values = _put(values, still, fixed)
        rows = np.flatnonzero(live)
        if maybe is not None:  # drop the lines of borrowers surely not wanted, before the exact lookup
            rows = rows[maybe.may_hold(ids.keys_of(values[rows])) | ~ok[rows]]
        bidx = _index(ids, values[rows], path.name)
        if wanted is not None:
            keep = wanted[bidx]
            rows, bidx = rows[keep], bidx[keep]
        if rows.size:  # the lines come in file order: the largest offset is the last line
            at = chunk.offset + chunk.starts[rows]
            np.maximum.at(off, bidx, at)
            last = off[bidx] == at
            length[bidx[last]] = (chunk.ends - chunk.starts)[rows[last]]
    return off, length


# ---------------------------------------------------------------- alerts.jsonl

@dataclass(slots=True)
class Alerts:
    """Every alert inside the period; for each borrower the tier just before the period and at its end
    when a later alert tells (``from_tier`` of the first alert after; -1 when none), and its last alert
    before the period (line offset and length, -1 none)."""

    n: int
    from_after_start: I8 = field(init=False)
    from_after_cut: I8 = field(init=False)
    last_to: I8 = field(init=False)  # to_tier of the borrower's last alert in the file (from the period on)
    pre_off: I64 = field(init=False)
    pre_len: I64 = field(init=False)
    bidx: I32 = field(default_factory=lambda: np.zeros(0, np.int32))
    kind: I8 = field(default_factory=lambda: np.zeros(0, np.int8))
    frm: I8 = field(default_factory=lambda: np.zeros(0, np.int8))
    to: I8 = field(default_factory=lambda: np.zeros(0, np.int8))
    t: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    off: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    length: I64 = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        self.from_after_start = np.full(self.n, -1, dtype=np.int8)
        self.from_after_cut = np.full(self.n, -1, dtype=np.int8)
        self.last_to = np.full(self.n, -1, dtype=np.int8)


_ALERT_KEYS = ("alert_id", "borrower_id", "kind", "from_tier", "to_tier", "computed_tier", "at")
_ALERT_HEAD = b'{"alert_id":"'
_ALERT_LAYOUTS = [(45, b'","borrower_id":"')]  # the replay's alert ids have 32 characters


def _strings(chunk: Chunk, fp: FieldPos) -> NDArray[np.bytes_]:
    return decode_strings(chunk, fp, np.arange(chunk.lines, dtype=np.int64))


def alert_fields(chunk: Chunk, name: str) -> tuple[NDArray[np.bytes_], I8, I8, I8, I64]:
    """Borrower, kind, from and to tier, and instant of each alert line."""
    f, ok, _ = seq_fields(chunk, _ALERT_KEYS, "signals", width=224)
    bid = _strings(chunk, f["borrower_id"])
    kind = _lookup(_strings(chunk, f["kind"]), KINDS)
    frm = _lookup(_strings(chunk, f["from_tier"]), TIERS)
    to = _lookup(_strings(chunk, f["to_tier"]), TIERS)
    t, t_ok = _instants(chunk, f["at"])
    ok &= t_ok & (kind >= 0) & (frm >= 0) & (to >= 0)
    bad = np.flatnonzero(~ok & (chunk.ends > chunk.starts))
    if bad.size:
        docs = _docs(chunk, bad, name)
        bid = _put(bid, bad, [str(d.get("borrower_id", "")).encode() for d in docs])
        for j, d in zip(bad, docs):
            kind[j] = KINDS.index(d["kind"]) if d.get("kind") in KINDS else -1
            frm[j] = TIERS.index(d["from_tier"]) if d.get("from_tier") in TIERS else -1
            to[j] = TIERS.index(d["to_tier"]) if d.get("to_tier") in TIERS else -1
            t[j] = _utc(d.get("at", ""))
        if bool(np.any((kind[bad] < 0) | (frm[bad] < 0) | (to[bad] < 0))):
            raise InputError(f"{name}: line {chunk.first_line + int(bad[0])}: not an alert")
    return bid, kind, frm, to, t


def read_alerts(path: Path, ids: IdIndex, start: int, cut: int,
                listed: Callable[[Alerts], NDArray[np.bool_]] | None = None,
                scanned: Callable[[], tuple[I64, I64]] | None = None) -> Alerts:
    """``start``: first instant of the period; ``cut``: its last instant (inclusive).

    ``listed`` picks, once the period is read, the borrowers whose last alert before the period is
    wanted (default: all). ``scanned()``: those lines of some borrowers, found beside (by another thread,
    :func:`scan_before`, while this one reads the period); only the wanted borrowers it lacks are then
    looked for here."""
    res = Alerts(ids.n)
    parts: dict[str, list[NDArray[Any]]] = {k: [] for k in ("bidx", "kind", "frm", "to", "t", "off", "length")}
    begin = seek_instant(path, start)
    prev = start
    for chunk in iter_chunks(path, start=begin):
        bid, kind, frm, to, t = alert_fields(chunk, path.name)
        rows = np.flatnonzero(chunk.ends > chunk.starts)
        bidx = _index(ids, bid[rows], path.name)
        t, kind, frm, to = t[rows], kind[rows], frm[rows], to[rows]
        prev = _check_sorted(t, prev, path.name)
        first = _first_per(bidx)
        fresh = res.from_after_start[bidx[first]] < 0
        res.from_after_start[bidx[first[fresh]]] = frm[first[fresh]]
        after = np.flatnonzero(t > cut)
        if after.size:
            first = after[_first_per(bidx[after])]
            fresh = res.from_after_cut[bidx[first]] < 0
            res.from_after_cut[bidx[first[fresh]]] = frm[first[fresh]]
        last = _last_per(bidx)
        res.last_to[bidx[last]] = to[last]
        inside = np.flatnonzero(t <= cut)
        cols = {"bidx": bidx, "kind": kind, "frm": frm, "to": to, "t": t,
                "off": chunk.offset + chunk.starts[rows], "length": chunk.ends[rows] - chunk.starts[rows]}
        for name, arr in cols.items():
            parts[name].append(arr[inside])
    for name, arrs in parts.items():
        if arrs:
            setattr(res, name, np.concatenate(arrs))
    wanted = listed(res) if listed is not None else None
    if scanned is None:
        res.pre_off, res.pre_len = _scan_before(path, begin, ids, wanted)
        return res
    off, length = scanned()
    lacking = (off < 0) if wanted is None else wanted & (off < 0)
    more_off, more_len = _scan_before(path, begin, ids, lacking)
    found = more_off >= 0
    off[found], length[found] = more_off[found], more_len[found]
    res.pre_off, res.pre_len = off, length
    return res


def _scan_before(path: Path, begin: int, ids: IdIndex, wanted: NDArray[np.bool_] | None) -> tuple[I64, I64]:
    return _scan_ids(path, begin, ids, _ALERT_HEAD, _ALERT_LAYOUTS, ("alert_id", "borrower_id"), "kind", wanted)


def scan_before(path: Path, start: int, ids: IdIndex, wanted: NDArray[np.bool_]) -> tuple[I64, I64]:
    """The last alert line before the instant ``start`` (offset and length, -1 none) of the ``wanted``
    borrowers (for :func:`read_alerts`'s ``scanned``)."""
    return _scan_before(path, seek_instant(path, start), ids, wanted)


# ---------------------------------------------------------------- schedule_history.jsonl

@dataclass(slots=True)
class Schedule:
    """For each borrower the visit-schedule entry in force at the start of the period; and every
    entry inside it."""

    n: int
    teams: Codes
    pre_due: I32 = field(init=False)  # days since the epoch; -1 none or no date
    pre_team: I32 = field(init=False)
    pre_has: NDArray[np.bool_] = field(init=False)
    pre_insp: NDArray[np.bool_] = field(init=False)
    touched: NDArray[np.bool_] = field(init=False)  # has an entry from the start of the period on
    bidx: I32 = field(default_factory=lambda: np.zeros(0, np.int32))
    t: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    due: I32 = field(default_factory=lambda: np.zeros(0, np.int32))
    team: I32 = field(default_factory=lambda: np.zeros(0, np.int32))
    insp: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))

    def __post_init__(self) -> None:
        self.pre_due = np.full(self.n, -1, dtype=np.int32)
        self.pre_team = np.full(self.n, -1, dtype=np.int32)
        self.pre_has = np.zeros(self.n, dtype=bool)
        self.pre_insp = np.zeros(self.n, dtype=bool)
        self.touched = np.zeros(self.n, dtype=bool)


_SCHED_KEYS = ("at", "borrower_id", "next_visit_due", "team", "branch", "tier")
_INSPECTED = b'"inspected'  # the engine's reason for a due date set by a visit


def _sched_fields(chunk: Chunk, name: str, teams: Codes) -> tuple[NDArray[np.bytes_], I64, I32, I32,
                                                                    NDArray[np.bool_]]:
    f, ok, pos = seq_fields(chunk, _SCHED_KEYS, "reason", width=192)
    insp = np.asarray((gather(chunk.buf, pos, len(_INSPECTED)) == np.frombuffer(_INSPECTED, np.uint8)).all(1))
    bid = _strings(chunk, f["borrower_id"])
    team = _strings(chunk, f["team"])
    team_null = f["team"].kind == 0
    t, t_ok = _instants(chunk, f["at"])
    due, d_ok = _dates(chunk, f["next_visit_due"])
    ok &= t_ok & d_ok
    bad = np.flatnonzero(~ok & (chunk.ends > chunk.starts))
    if bad.size:
        docs = _docs(chunk, bad, name)
        bid = _put(bid, bad, [str(d.get("borrower_id", "")).encode() for d in docs])
        team = _put(team, bad, [str(d.get("team") or "").encode() for d in docs])
        for j, d in zip(bad, docs):
            team_null[j] = d.get("team") is None
            t[j] = _utc(d.get("at", ""))
            due[j] = _day(d.get("next_visit_due"))
            insp[j] = str(d.get("reason", "")).startswith("inspected")
    codes = np.where(team_null, -1, teams.encode(team)).astype(np.int32)
    return bid, t, due, codes, insp


# ``due_why`` of a snapshot record whose schedule entry's reason is "inspected" (monitor.rules.visits._CODES)
_INSPECTED_WHY = np.array([DUE_WHY.index("inspection"), DUE_WHY.index("cadence")], dtype=np.int8)


@dataclass(slots=True)
class SchedRows:
    """The lines of ``schedule_history.jsonl`` from the period's start on, before the borrower lookup: every
    line's borrower (``bid``), the rest of the lines up to the cut (``team`` in the codes of a table of its own,
    whose values each chunk added are in ``added``), and the error that ended the reading (after the ids of the
    lines read before it, which are looked up first, as when each chunk's were looked up in turn)."""

    bid: NDArray[np.bytes_]
    t: I64
    due: I32
    team: I32
    insp: NDArray[np.bool_]
    added: list[list[bytes]]
    error: str | None


def scan_schedule(path: Path, start: int, cut: int) -> SchedRows:
    """The part of :func:`read_schedule` that needs neither the borrowers nor the shared team table (run by a
    started process, :mod:`monitor.reports._started`)."""
    teams = Codes()
    parts: dict[str, list[NDArray[Any]]] = {k: [] for k in ("bid", "t", "due", "team", "insp")}
    added: list[list[bytes]] = []
    error: str | None = None
    try:
        begin = seek_instant(path, start)
        prev = start
        for chunk in iter_chunks(path, start=begin):
            known = len(teams.values)
            bid, t, due, team, insp = _sched_fields(chunk, path.name, teams)
            added.append([v.encode("utf-8") for v in teams.values[known:]])
            rows = np.flatnonzero(chunk.ends > chunk.starts)
            parts["bid"].append(bid[rows])
            t = t[rows]
            prev = _check_sorted(t, prev, path.name)
            inside = rows[t <= cut]
            for name, arr in (("t", t[t <= cut]), ("due", due[inside]), ("team", team[inside]),
                              ("insp", insp[inside])):
                parts[name].append(arr)
    except InputError as exc:
        error = str(exc)
    empty = {"bid": np.zeros(0, "S1"), "t": np.zeros(0, np.int64), "due": np.zeros(0, np.int32),
             "team": np.zeros(0, np.int32), "insp": np.zeros(0, bool)}
    cols = {k: np.concatenate(v) if v else empty[k] for k, v in parts.items()}
    return SchedRows(cols["bid"], cols["t"].astype(np.int64), cols["due"].astype(np.int32),
                     cols["team"].astype(np.int32), cols["insp"].astype(bool), added, error)


def read_schedule(path: Path, ids: IdIndex, start: int, cut: int, teams: Codes,
                  borrowers: Borrowers, before: Callable[[], Snapshot], snapshot_teams: list[str],
                  rows: Callable[[], SchedRows | None] | None = None) -> Schedule:
    """The schedule entries of the period (``start`` .. ``cut``) and, for each borrower, the entry in force
    when it began: from ``before()``, the engine's records at the end of the day before (team names
    ``snapshot_teams``), as ``monitor replay --as-of`` that instant says. ``rows()``: the lines as
    :func:`scan_schedule` gives them, read elsewhere (None: read here)."""
    res = Schedule(ids.n, teams)
    got = rows() if rows is not None else None
    got = got if got is not None else scan_schedule(path, start, cut)
    # the borrowers of every line read (the first unknown one named before an error later in the file)
    bidx = _index(ids, got.bid, path.name)
    res.touched[bidx] = True
    if got.error is not None:
        raise InputError(got.error)
    # the team codes of the lines' own table in the shared one, added chunk by chunk as when read here
    shared = np.zeros(sum(len(a) for a in got.added), dtype=np.int32)
    k = 0
    for values in got.added:
        if values:
            shared[k:k + len(values)] = teams.encode(np.array(values, dtype="S"))
            k += len(values)
    res.bidx, res.t, res.due, res.insp = bidx[:got.t.size], got.t, got.due, got.insp  # sorted: a prefix
    res.team = np.where(got.team >= 0, shared[np.maximum(got.team, 0)] if shared.size else -1,
                        -1).astype(np.int32)
    # untouched since the start: the entry in force then is the one borrowers.jsonl shows
    calm = ~res.touched & (borrowers.tier >= 0)
    res.pre_has[calm] = True
    res.pre_due[calm], res.pre_team[calm] = borrowers.due[calm], borrowers.team[calm]
    # touched: the engine's own record at the end of the day before (not a scan of the earlier months)
    snap = before()
    who = np.flatnonzero(res.touched & (snap.cols["tier"] >= 0))
    if who.size:
        team = snap.cols["team"][who]
        named = np.flatnonzero(team >= 0)
        codes = np.full(who.size, -1, dtype=np.int32)
        names = np.array([snapshot_teams[int(k)].encode("utf-8") for k in team[named].tolist()], dtype="S")
        codes[named] = teams.encode(names)
        res.pre_has[who], res.pre_due[who], res.pre_team[who] = True, snap.cols["due"][who], codes
        res.pre_insp[who] = np.isin(snap.cols["due_why"][who], _INSPECTED_WHY)
    return res


# ---------------------------------------------------------------- small files

def read_rejects(path: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for chunk in iter_chunks(path):
        out.extend(_docs(chunk, np.flatnonzero(chunk.ends > chunk.starts), path.name))
    return out


def read_summary(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("events"), dict):
        raise InputError(f"{path}: not a replay summary")
    return doc


def first_policy_version(path: Path) -> str | None:
    """The policy version on the first line of a replay output (None when the file is empty)."""
    try:
        with path.open("rb") as fh:
            line = fh.readline()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not line.strip():
        return None
    try:
        doc = json.loads(line)
    except ValueError:
        raise InputError(f"{path}: line 1 is not JSON") from None
    value = doc.get("policy_version") if isinstance(doc, dict) else None
    return str(value) if value is not None else None
