"""Reading the outputs of ``monitor replay`` into arrays, as known at the period's edges.

Only what the report needs is kept: for each borrower its last alert and last
visit-schedule entry before the period, and every alert and schedule entry
inside it. Both files are written sorted by instant; that is checked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor._errors import InputError
from monitor._time import parse_instant
from monitor.reports._scan import (
    I64,
    Chunk,
    Digest,
    FieldPos,
    decode_strings,
    gather,
    iter_chunks,
    parse_dates,
    parse_instants,
    seq_fields,
)

__all__ = ["TIERS", "KINDS", "Alerts", "Codes", "Schedule", "borrower_index", "first_policy_version",
           "read_alerts", "read_borrower_ids", "read_rejects", "read_schedule", "read_summary"]

TIERS: tuple[str, ...] = ("normal", "watch", "warning", "severe")
KINDS: tuple[str, ...] = ("raised", "escalated", "de_escalated", "cleared")
_NONE = np.iinfo(np.int64).min
I32 = NDArray[np.int32]
I8 = NDArray[np.int8]


class Codes:
    """Stable small integer codes for the distinct values of a text column."""

    def __init__(self) -> None:
        self.index: dict[bytes, int] = {}
        self.values: list[str] = []

    def encode(self, values: NDArray[np.bytes_]) -> I32:
        if values.size == 0:
            return np.zeros(0, dtype=np.int32)
        uniq, inverse = np.unique(values, return_inverse=True)
        table = np.empty(uniq.size, dtype=np.int32)
        for i, v in enumerate(uniq.tolist()):
            code = self.index.get(v)
            if code is None:
                code = self.index[v] = len(self.values)
                self.values.append(v.decode("utf-8"))
            table[i] = code
        return table[inverse.ravel()]

    def code(self, value: str) -> int:
        return int(self.encode(np.array([value.encode()], dtype="S"))[0])


def _lookup(values: NDArray[np.bytes_], names: tuple[str, ...]) -> I8:
    out = np.full(values.size, -1, dtype=np.int8)
    for i, name in enumerate(names):
        out[values == name.encode()] = i
    return out


def borrower_index(ids: NDArray[np.bytes_], values: NDArray[np.bytes_]) -> I32:
    """Index of each id in the sorted id array, -1 where unknown."""
    if values.size == 0 or ids.size == 0:
        return np.full(values.size, -1, dtype=np.int32)
    pos = np.searchsorted(ids, values)
    pos = np.minimum(pos, ids.size - 1)
    found = ids[pos] == values
    return np.where(found, pos, -1).astype(np.int32)


def _strings(chunk: Chunk, fp: FieldPos) -> NDArray[np.bytes_]:
    return decode_strings(chunk, fp, np.arange(chunk.lines, dtype=np.int64))


def _utc(text: str) -> int:
    try:
        return parse_instant(text)
    except ValueError:
        raise InputError(f"not an ISO 8601 instant: {text!r}") from None


def _instants(chunk: Chunk, fp: FieldPos) -> tuple[I64, NDArray[np.bool_]]:
    lengths = fp.end - fp.start
    return parse_instants(gather(chunk.buf, fp.start, 40), lengths)


def _json_lines(chunk: Chunk, rows: NDArray[np.intp], what: str) -> list[dict[str, Any]]:
    out = []
    for i in rows:
        raw = chunk.line(int(i))
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise InputError(f"{what}: line {chunk.first_line + int(i)} is not a JSON object")
        out.append(doc)
    return out


def read_borrower_ids(path: Path, digest: Digest) -> NDArray[np.bytes_]:
    """The borrower ids of ``borrowers.jsonl``, sorted (UTF-8 bytes)."""
    parts: list[NDArray[np.bytes_]] = []
    for chunk in iter_chunks(path, digest):
        fields, ok, _ = seq_fields(chunk, [("borrower_id", 24)], "tier")
        ids = _strings(chunk, fields["borrower_id"])
        bad = np.flatnonzero(~ok)
        if bad.size:
            fixed = [str(d.get("borrower_id", "")).encode() for d in _json_lines(chunk, bad, path.name)]
            ids = ids.astype(f"S{max(ids.dtype.itemsize, max(len(f) for f in fixed), 1)}")
            ids[bad] = fixed
        parts.append(ids[chunk.ends > chunk.starts])
    ids = np.concatenate(parts) if parts else np.zeros(0, dtype="S1")
    if ids.size > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        ids = np.unique(ids)
    return ids


@dataclass(slots=True)
class Alerts:
    """Per borrower: its last alert before the period; and every alert inside the period."""

    n: int
    pre_to: I8 = field(init=False)
    pre_t: I64 = field(init=False)
    pre_off: I64 = field(init=False)  # byte offset of the alert's line in alerts.jsonl
    pre_len: I64 = field(init=False)
    # alerts in the period, in file order
    bidx: I32 = field(default_factory=lambda: np.zeros(0, np.int32))
    kind: I8 = field(default_factory=lambda: np.zeros(0, np.int8))
    frm: I8 = field(default_factory=lambda: np.zeros(0, np.int8))
    to: I8 = field(default_factory=lambda: np.zeros(0, np.int8))
    t: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    off: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    length: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    total: int = 0

    def __post_init__(self) -> None:
        self.pre_to = np.full(self.n, -1, dtype=np.int8)
        self.pre_t = np.full(self.n, _NONE, dtype=np.int64)
        self.pre_off = np.full(self.n, -1, dtype=np.int64)
        self.pre_len = np.zeros(self.n, dtype=np.int64)


_ALERT_KEYS = [("alert_id", 40), ("borrower_id", 24), ("kind", 14), ("from_tier", 9), ("to_tier", 9),
               ("computed_tier", 9), ("at", 34)]


def _last_per(bidx: I32) -> NDArray[np.intp]:
    """Row of the last occurrence of each borrower in ``bidx``."""
    _, first_rev = np.unique(bidx[::-1], return_index=True)
    return np.asarray(bidx.size - 1 - first_rev)


def _check_sorted(t: I64, prev: int, name: str) -> int:
    if t.size == 0:
        return prev
    if int(t[0]) < prev or (t.size > 1 and bool(np.any(t[1:] < t[:-1]))):
        raise InputError(f"{name} is not sorted by instant: not written by monitor replay?")
    return int(t[-1])


def read_alerts(path: Path, digest: Digest, ids: NDArray[np.bytes_], start: int, cut: int) -> Alerts:
    """``start``: first instant of the period; ``cut``: its last instant (inclusive)."""
    res = Alerts(len(ids))
    parts: dict[str, list[NDArray[Any]]] = {k: [] for k in ("bidx", "kind", "frm", "to", "t", "off", "length")}
    prev = _NONE
    for chunk in iter_chunks(path, digest):
        live = chunk.ends > chunk.starts
        if prev > cut:
            res.total += int(live.sum())
            continue  # past the period: only hashed
        f, ok, _ = seq_fields(chunk, _ALERT_KEYS, "signals")
        bid = _strings(chunk, f["borrower_id"])
        kind = _lookup(_strings(chunk, f["kind"]), KINDS)
        frm = _lookup(_strings(chunk, f["from_tier"]), TIERS)
        to = _lookup(_strings(chunk, f["to_tier"]), TIERS)
        t, t_ok = _instants(chunk, f["at"])
        ok &= t_ok & (kind >= 0) & (frm >= 0) & (to >= 0)
        bad = np.flatnonzero(~ok & live)
        if bad.size:
            docs = _json_lines(chunk, bad, path.name)
            fixed = [str(d.get("borrower_id", "")).encode() for d in docs]
            bid = bid.astype(f"S{max(bid.dtype.itemsize, max(len(x) for x in fixed), 1)}")
            bid[bad] = fixed
            for j, d in zip(bad, docs):
                kind[j] = KINDS.index(d["kind"]) if d.get("kind") in KINDS else -1
                frm[j] = TIERS.index(d["from_tier"]) if d.get("from_tier") in TIERS else -1
                to[j] = TIERS.index(d["to_tier"]) if d.get("to_tier") in TIERS else -1
                t[j] = _utc(str(d.get("at", "")))
            if bool(np.any((kind[bad] < 0) | (frm[bad] < 0) | (to[bad] < 0))):
                raise InputError(f"{path.name}: line {chunk.first_line + int(bad[0])}: not an alert")
        rows = np.flatnonzero(live)
        bidx = borrower_index(ids, bid[rows])
        if bool(np.any(bidx < 0)):
            unknown = bid[rows][bidx < 0][0].decode("utf-8", "replace")
            raise InputError(f"{path.name}: borrower {unknown!r} is not in borrowers.jsonl "
                             "(the files are not from the same replay)")
        t = t[rows]
        prev = _check_sorted(t, prev, path.name)
        res.total += rows.size
        off = chunk.offset + chunk.starts[rows]
        length = chunk.ends[rows] - chunk.starts[rows]
        pre = t < start
        if bool(pre.any()):
            p = np.flatnonzero(pre)
            last = p[_last_per(bidx[p])]
            b = bidx[last]
            res.pre_to[b], res.pre_t[b], res.pre_off[b], res.pre_len[b] = to[rows][last], t[last], off[last], length[last]
        inside = np.flatnonzero(~pre & (t <= cut))
        for name, arr in (("bidx", bidx), ("kind", kind[rows]), ("frm", frm[rows]), ("to", to[rows]), ("t", t),
                          ("off", off), ("length", length)):
            parts[name].append(arr[inside])
    for name, arrs in parts.items():
        if arrs:
            setattr(res, name, np.concatenate(arrs))
    return res


@dataclass(slots=True)
class Schedule:
    """Per borrower: its last visit-schedule entry before the period; and every entry inside it."""

    n: int
    teams: Codes
    pre_due: I32 = field(init=False)  # days since the epoch; -1 none or no date
    pre_team: I32 = field(init=False)
    pre_has: NDArray[np.bool_] = field(init=False)
    pre_insp: NDArray[np.bool_] = field(init=False)
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


_SCHED_KEYS = [("at", 34), ("borrower_id", 24), ("next_visit_due", 12), ("team", 24), ("branch", 24),
               ("tier", 9)]
_INSPECTED = b'"inspected'  # the engine's reason for a due date set by an inspection


def _dates(chunk: Chunk, fp: FieldPos) -> tuple[I32, NDArray[np.bool_]]:
    days, ok = parse_dates(gather(chunk.buf, fp.start, 10), fp.end - fp.start)
    null = fp.kind == 0
    return np.where(null, -1, days).astype(np.int32), ok | null


def read_schedule(path: Path, digest: Digest, ids: NDArray[np.bytes_], start: int, cut: int,
                  teams: Codes) -> Schedule:
    res = Schedule(len(ids), teams)
    parts: dict[str, list[NDArray[Any]]] = {k: [] for k in ("bidx", "t", "due", "team", "insp")}
    prev = _NONE
    for chunk in iter_chunks(path, digest):
        live = chunk.ends > chunk.starts
        if prev > cut:
            continue
        f, ok, pos = seq_fields(chunk, _SCHED_KEYS, "reason")
        insp = np.asarray((gather(chunk.buf, pos, len(_INSPECTED)) == np.frombuffer(_INSPECTED, np.uint8)).all(1))
        bid = _strings(chunk, f["borrower_id"])
        team = _strings(chunk, f["team"])
        team_null = f["team"].kind == 0
        t, t_ok = _instants(chunk, f["at"])
        due, d_ok = _dates(chunk, f["next_visit_due"])
        ok &= t_ok & d_ok
        bad = np.flatnonzero(~ok & live)
        if bad.size:
            docs = _json_lines(chunk, bad, path.name)
            w = max(bid.dtype.itemsize, team.dtype.itemsize, *(len(str(d.get(k) or "").encode()) for d in docs
                                                               for k in ("borrower_id", "team")))
            bid, team = bid.astype(f"S{w}"), team.astype(f"S{w}")
            for j, d in zip(bad, docs):
                bid[j] = str(d.get("borrower_id", "")).encode()
                team[j] = str(d.get("team") or "").encode()
                team_null[j] = d.get("team") is None
                t[j] = _utc(str(d.get("at", "")))
                nd = d.get("next_visit_due")
                due[j] = -1 if nd is None else (date.fromisoformat(nd).toordinal() - 719163)
                insp[j] = str(d.get("reason", "")).startswith("inspected")
        rows = np.flatnonzero(live)
        bidx = borrower_index(ids, bid[rows])
        if bool(np.any(bidx < 0)):
            raise InputError(f"{path.name}: a borrower is not in borrowers.jsonl (not from the same replay)")
        t = t[rows]
        prev = _check_sorted(t, prev, path.name)
        codes = np.where(team_null[rows], -1, res.teams.encode(team[rows])).astype(np.int32)
        due_r, insp_r = due[rows], insp[rows]
        pre = t < start
        if bool(pre.any()):
            p = np.flatnonzero(pre)
            last = p[_last_per(bidx[p])]
            b = bidx[last]
            res.pre_due[b], res.pre_team[b], res.pre_insp[b] = due_r[last], codes[last], insp_r[last]
            res.pre_has[b] = True
        inside = np.flatnonzero(~pre & (t <= cut))
        for name, arr in (("bidx", bidx), ("t", t), ("due", due_r), ("team", codes), ("insp", insp_r)):
            parts[name].append(arr[inside])
    for name, arrs in parts.items():
        if arrs:
            setattr(res, name, np.concatenate(arrs))
    return res


def read_rejects(path: Path, digest: Digest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for chunk in iter_chunks(path, digest):
        rows = np.flatnonzero(chunk.ends > chunk.starts)
        out.extend(_json_lines(chunk, rows, path.name))
    return out


def read_summary(path: Path, digest: Digest) -> dict[str, Any]:
    data = b"".join(c.data for c in iter_chunks(path, digest))
    try:
        doc = json.loads(data)
    except ValueError:
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

