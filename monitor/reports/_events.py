"""Reading the event files the replay read: what the replay outputs do not carry.

From the events come the borrowers' profiles (segment, industry, branch, team,
exposure, grade), the rating changes, the overdue accounts (for the regulatory
minimum classification at any instant), the visits done, and the feeds'
volumes and freshness. Lines the replay rejected (``rejects.jsonl``) are
skipped; every other line was a valid event, so a line that is not one now
means the files are not those the replay read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import ValidationError

from monitor._errors import InputError
from monitor._time import to_us
from monitor.events import (
    GRADES, BureauReport, InspectionCompleted, LawsuitNotice, LoanProfile, Overdue, RatingChange, parse_event,
)
from monitor.reports._ids import Codes, IdIndex
from monitor.reports._scan import I64, Chunk, decode_strings, flat_fields, gather, iter_chunks, parse_instants

__all__ = ["EVENT_TYPES", "OUTCOMES", "EventData", "read_events"]

EVENT_TYPES: tuple[str, ...] = ("loan_profile", "rating_change", "lawsuit", "bureau_report", "overdue",
                                "inspection_completed")
OUTCOMES: tuple[str, ...] = ("normal", "concern", "deteriorated")
PROFILE, RATING, LAWSUIT, BUREAU, OVERDUE, INSPECTION = range(6)
_KEYS = ("type", "borrower_id", "event_id", "occurred_at", "segment", "industry", "branch", "team", "exposure",
         "grade", "new_grade", "account_id", "days_past_due", "outcome", "name")
_NEEDS: dict[int, tuple[str, ...]] = {
    PROFILE: ("segment", "industry", "branch", "team", "exposure", "grade"),
    RATING: ("new_grade",),
    OVERDUE: ("account_id", "days_past_due"),
    INSPECTION: ("team", "outcome"),
}
_NUMERIC = frozenset({"exposure", "days_past_due"})
# every key a valid event line can hold (the contract forbids others)
_UNIVERSE = frozenset(name for model in (LoanProfile, RatingChange, LawsuitNotice, BureauReport, Overdue,
                                         InspectionCompleted) for name in model.model_fields)
_TEXT = ("segment", "industry", "branch", "team", "grade", "new_grade", "account_id", "outcome", "name")
_NONE = np.iinfo(np.int64).min


def _cat(parts: list[NDArray[Any]], dtype: Any) -> NDArray[Any]:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


@dataclass(slots=True)
class Table:
    """Columns of one kind of row, appended chunk by chunk."""

    parts: dict[str, list[NDArray[Any]]] = field(default_factory=dict)

    def add(self, **cols: NDArray[Any]) -> None:
        for k, v in cols.items():
            self.parts.setdefault(k, []).append(v)

    def col(self, name: str, dtype: Any = np.int64) -> NDArray[Any]:
        return _cat(self.parts.get(name, []), dtype)

    def recode(self, name: str, table: NDArray[np.int32]) -> None:
        """Map a code column through ``table`` (code -> new code)."""
        self.parts[name] = [table[p] for p in self.parts.get(name, [])]


@dataclass(slots=True)
class EventData:
    """The events as the report needs them (instants in microseconds, borrowers as indexes)."""

    teams: Codes
    segments: Codes = field(default_factory=Codes)
    industries: Codes = field(default_factory=Codes)
    branches: Codes = field(default_factory=Codes)
    accounts: Codes = field(default_factory=Codes)
    lines: int = 0  # lines read, rejected ones included
    skipped: int = 0  # lines the replay rejected
    newest: I64 = field(default_factory=lambda: np.full(6, _NONE, dtype=np.int64))  # newest up to the cut
    after_cut: I64 = field(default_factory=lambda: np.zeros(6, dtype=np.int64))
    profiles: Table = field(default_factory=Table)  # up to the cut
    ratings: Table = field(default_factory=Table)
    overdue: Table = field(default_factory=Table)
    inspections: Table = field(default_factory=Table)  # inside the period
    period: Table = field(default_factory=Table)  # every event inside the period: type, borrower, event id
    first_seen: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # per borrower, up to the cut
    names: Codes = field(default_factory=Codes)  # borrower names of the profiles ('' = none)
    last_bureau: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # per borrower, up to the cut

    def use_teams(self, teams: Codes) -> None:
        _use_teams(self, teams)


def _use_teams(data: EventData, teams: Codes) -> None:
    """Express the team codes in ``teams`` (shared with the schedule) instead of the events' own."""
    table = np.array([teams.code(v) for v in data.teams.values] + [-1], dtype=np.int32)
    for t in (data.profiles, data.inspections):
        t.recode("team", table)
    data.teams = teams


def _reject_lines(rejects: Sequence[dict[str, Any]], paths: Sequence[Path]) -> list[NDArray[np.int64]]:
    by_file: list[list[int]] = [[] for _ in paths]
    for rej in rejects:
        src = str(rej.get("source", ""))
        hits = [i for i, p in enumerate(paths) if str(p) == src]
        if not hits:
            sp = Path(src)
            hits = [i for i, p in enumerate(paths) if sp.resolve() == p.resolve()] if src != "-" else []
        if not hits:
            hits = [i for i, p in enumerate(paths) if p.name == Path(src).name]
        if len(hits) != 1:
            raise InputError(f"rejects.jsonl names {src!r}, which is not one of the --events files "
                             "(pass the files the replay read)")
        by_file[hits[0]].append(int(rej.get("line", 0)))
    return [np.unique(np.array(v, dtype=np.int64)) for v in by_file]


@dataclass(slots=True)
class _Rows:
    """Rows of a chunk read either way, as plain columns."""

    typ: NDArray[np.int8]
    t: I64
    line: I64
    bid: NDArray[np.bytes_]
    eid: NDArray[np.bytes_]
    text: dict[str, NDArray[np.bytes_]]
    num: dict[str, NDArray[np.float64]]


def _fast(chunk: Chunk, active: NDArray[np.bool_]) -> tuple[_Rows, NDArray[np.bool_]]:
    f, bad = flat_fields(chunk, active, _KEYS, _UNIVERSE)
    n = chunk.lines
    ok = active & ~bad & (f["type"].kind == 1) & (f["occurred_at"].kind == 1)
    ok &= (f["borrower_id"].kind == 1) & (f["event_id"].kind == 1)
    typ = np.full(n, -1, dtype=np.int8)
    rows = np.flatnonzero(ok)
    names = decode_strings(chunk, f["type"], rows)
    for i, name in enumerate(EVENT_TYPES):
        typ[rows[names == name.encode()]] = i
    ok &= typ >= 0
    fa = f["occurred_at"]
    t, t_ok = parse_instants(gather(chunk.buf, np.maximum(fa.start, 0), 40), fa.end - fa.start)
    ok &= t_ok
    for kind, keys in _NEEDS.items():
        for key in keys:
            has = f[key].kind == (2 if key in _NUMERIC else 1)
            if key in _NUMERIC:
                has |= f[key].kind == 1
            ok &= (typ != kind) | has
    rows = np.flatnonzero(ok)
    text = {k: decode_strings(chunk, f[k], rows) for k in _TEXT}
    num: dict[str, NDArray[np.float64]] = {}
    for k in _NUMERIC:
        raw = decode_strings(chunk, f[k], rows)
        use = f[k].kind[rows] != 0
        vals = np.zeros(rows.size, dtype=np.float64)
        try:
            vals[use] = raw[use].astype(np.float64)
        except ValueError:
            vals[use] = [float(x) for x in raw[use].tolist()]
        num[k] = vals
    out = _Rows(typ[rows], t[rows], chunk.first_line + rows.astype(np.int64),
                decode_strings(chunk, f["borrower_id"], rows), decode_strings(chunk, f["event_id"], rows), text, num)
    return out, active & ~ok


def _slow(chunk: Chunk, rows: NDArray[np.intp], name: str) -> _Rows:
    typ, ts, lines, bids, eids = [], [], [], [], []
    text: dict[str, list[bytes]] = {k: [] for k in _TEXT}
    num: dict[str, list[float]] = {k: [] for k in _NUMERIC}
    for i in rows:
        number = chunk.first_line + int(i)
        try:
            ev = parse_event(chunk.line(int(i)))
        except ValidationError:
            raise InputError(f"{name}: line {number} is not a valid event but rejects.jsonl does not list it "
                             "(the events are not the ones the replay read)") from None
        if ev.type not in EVENT_TYPES:
            continue  # an officer's tier_override: a decision, not one of the data feeds the report counts
        typ.append(EVENT_TYPES.index(ev.type))
        ts.append(to_us(ev.occurred_at))
        lines.append(number)
        bids.append(ev.borrower_id.encode())
        eids.append(ev.event_id.encode())
        vals: dict[str, Any] = {}
        if isinstance(ev, LoanProfile):
            vals = {"segment": ev.segment.value, "industry": ev.industry, "branch": ev.branch, "team": ev.team,
                    "grade": ev.grade.value, "exposure": ev.exposure, "name": ev.name or ""}
        elif isinstance(ev, RatingChange):
            vals = {"new_grade": ev.new_grade.value}
        elif isinstance(ev, Overdue):
            vals = {"account_id": ev.account_id, "days_past_due": ev.days_past_due}
        elif isinstance(ev, InspectionCompleted):
            vals = {"team": ev.team, "outcome": ev.outcome.value}
        for k in _TEXT:
            text[k].append(str(vals.get(k, "")).encode())
        for k in _NUMERIC:
            num[k].append(float(vals.get(k, 0.0)))
    return _Rows(np.array(typ, dtype=np.int8), np.array(ts, dtype=np.int64), np.array(lines, dtype=np.int64),
                 np.array(bids, dtype="S"), np.array(eids, dtype="S"),
                 {k: np.array(v, dtype="S") for k, v in text.items()},
                 {k: np.array(v, dtype=np.float64) for k, v in num.items()})


def _code(codes: Codes, values: NDArray[np.bytes_], names: Sequence[str] | None = None) -> NDArray[np.int32]:
    if names is None:
        return codes.encode(values)
    out = np.full(values.size, -1, dtype=np.int32)
    for i, name in enumerate(names):
        out[values == name.encode()] = i
    return out


def _take(data: EventData, rows: _Rows, fi: int, ids: IdIndex, start: int, cut: int,
          replay_as_of: int) -> None:
    t = rows.t
    known = t <= replay_as_of  # later events were not replayed: their borrowers may be unknown
    for k in range(6):
        data.after_cut[k] += int(np.count_nonzero((rows.typ == k) & (t > cut)))
        sel = (rows.typ == k) & (t <= cut)
        if bool(sel.any()):
            data.newest[k] = max(int(data.newest[k]), int(t[sel].max()))
    keep = np.flatnonzero(known & (t <= cut))
    if keep.size == 0:
        return
    bidx = ids.lookup(rows.bid[keep])
    if bool(np.any(bidx < 0)):
        raise InputError(f"event of borrower {rows.bid[keep][bidx < 0][0].decode('utf-8', 'replace')!r} is not in "
                         "borrowers.jsonl (the events are not the ones the replay read)")
    t, typ = t[keep], rows.typ[keep]
    np.minimum.at(data.first_seen, bidx, t)
    order = (np.int64(fi) << np.int64(40)) + rows.line[keep]
    txt = {k: v[keep] for k, v in rows.text.items()}
    num = {k: v[keep] for k, v in rows.num.items()}
    inside = t >= start
    p = np.flatnonzero(inside)
    data.period.add(typ=typ[p], bidx=bidx[p], eid=rows.eid[keep][p], t=t[p], order=order[p])
    s = np.flatnonzero(typ == PROFILE)
    if s.size:
        data.profiles.add(
            bidx=bidx[s], t=t[s], order=order[s], segment=_code(data.segments, txt["segment"][s]),
            industry=_code(data.industries, txt["industry"][s]), branch=_code(data.branches, txt["branch"][s]),
            team=_code(data.teams, txt["team"][s]), grade=_code(data.segments, txt["grade"][s], GRADES),
            cents=np.round(num["exposure"][s] * 100.0).astype(np.int64), name=_code(data.names, txt["name"][s]))
    s = np.flatnonzero(typ == BUREAU)
    if s.size:
        np.maximum.at(data.last_bureau, bidx[s], t[s])
    s = np.flatnonzero(typ == RATING)
    if s.size:
        data.ratings.add(bidx=bidx[s], t=t[s], order=order[s], grade=_code(data.segments, txt["new_grade"][s], GRADES))
    s = np.flatnonzero(typ == OVERDUE)
    if s.size:
        data.overdue.add(bidx=bidx[s], t=t[s], order=order[s], account=_code(data.accounts, txt["account_id"][s]),
                         dpd=num["days_past_due"][s].astype(np.int64))
    s = np.flatnonzero((typ == INSPECTION) & inside)
    if s.size:
        data.inspections.add(bidx=bidx[s], t=t[s], order=order[s], team=_code(data.teams, txt["team"][s]),
                             outcome=_code(data.teams, txt["outcome"][s], OUTCOMES), eid=rows.eid[keep][s])


def read_events(paths: Sequence[Path], ids: IdIndex,
                rejects: Sequence[dict[str, Any]], teams: Codes, start: int, cut: int, replay_as_of: int) -> EventData:
    """Read the event files; keep what the report needs up to ``cut`` (and inside ``[start, cut]``)."""
    data = EventData(teams)
    data.first_seen = np.full(ids.n, np.iinfo(np.int64).max, dtype=np.int64)
    data.last_bureau = np.full(ids.n, _NONE, dtype=np.int64)
    skip = _reject_lines(rejects, paths)
    for fi, path in enumerate(paths):
        for chunk in iter_chunks(path):
            data.lines += chunk.lines
            numbers = chunk.first_line + np.arange(chunk.lines, dtype=np.int64)
            rejected = np.isin(numbers, skip[fi])
            data.skipped += int(rejected.sum())
            active = ~rejected & (chunk.ends > chunk.starts)
            fast, slow = _fast(chunk, active)
            _take(data, fast, fi, ids, start, cut, replay_as_of)
            if bool(slow.any()):
                _take(data, _slow(chunk, np.flatnonzero(slow), path.name), fi, ids, start, cut, replay_as_of)
    return data
