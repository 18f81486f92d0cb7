"""The case queue's table: one row per case, in numpy columns, for filtered, sorted and searched pages.

The officers' queue asks for any filter, any sort column and a search by
borrower id or name over some 100,000 open cases, with the total, in well under
50 ms. Sorted lists per column would have to follow every change of every
column; instead each case is a row of plain arrays (codes for status, tier,
team, branch and assignee; instants; calendar days as ordinals; exposure), and a
query is a handful of vectorised steps over them:

1. a boolean mask per filter, combined (the total is its count);
2. a search narrows the mask through :class:`TextIndex` (see there);
3. a sort key per matching row: one integer that orders by the column and,
   among equal values, newest opened first (the column's rank in the high bits,
   the opening second in the low bits), or the exposure as a float;
4. :func:`numpy.argpartition` picks the rows up to the page's end in linear
   time; only those are sorted, ties finally by case id (a rank per row from the
   sorted case ids, kept up to date as cases come and go), so every replica and
   every page boundary agrees.

Rows are reused (a free list); ``live`` marks the rows that hold a case. The
view updates a row whenever its case, its borrower's schedule entry or detail,
or its borrower's name changes (:class:`monitor.desk.view.DeskView`). Pure: no
clock (today is passed to queries), no I/O.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from monitor._time import local_date

__all__ = ["NO_DAY", "STATUS_CODES", "SORTS", "TIER_CODES", "AlertCounts", "CaseRow", "CaseTable", "Query", "ResponseDeadlines",
           "TextIndex", "breaches_by_tier", "counts", "mask_of", "past_deadline", "run"]

TIER_CODES = {"normal": 0, "watch": 1, "warning": 2, "severe": 3}
STATUS_CODES = {"open": 0, "acknowledged": 1, "release_requested": 2, "released": 3}
NO_DAY = np.iinfo(np.int32).max  # no date: sorts last
_NO_US = np.iinfo(np.int64).min
_BASE_S = -2_208_988_800  # 1900-01-01T00:00:00Z in seconds since the epoch
_LOW_BITS = 34  # seconds since 1900 fit in 34 bits until 2444
_LOW_MAX = (1 << _LOW_BITS) - 1
_HIGH_MAX = (1 << 28) - 1
#: the columns a queue can be sorted by
SORTS = ("opened", "last_alert", "tier", "status", "deadline", "due", "exposure", "assignee", "team", "branch",
         "borrower")


@dataclass(slots=True)
class CaseRow:
    """What the table holds of one case (the view builds it; strings, instants in microseconds)."""

    case_id: str
    borrower_id: str
    status: str
    tier: str
    team: str | None
    branch: str | None
    assignee: str | None
    opened: int
    last_alert: int
    rise: int  # the latest raised/escalated alert of the case: the response is due after it
    deadline: int | None  # the response deadline, a date ordinal in the policy's time zone
    visited: int | None  # the borrower's latest on-site visit
    due: int | None  # the borrower's next visit due, a date ordinal
    exposure: float | None
    name: str | None


class _Codes:
    """Strings as small integer codes, with their alphabetical ranks (for sorting)."""

    __slots__ = ("names", "index", "_rank")

    def __init__(self) -> None:
        self.names: list[str] = []
        self.index: dict[str, int] = {}
        self._rank: np.ndarray | None = None

    def code(self, name: str | None) -> int:
        if name is None:
            return -1
        c = self.index.get(name)
        if c is None:
            c = self.index[name] = len(self.names)
            self.names.append(name)
            self._rank = None
        return c

    def rank(self) -> np.ndarray:
        """``rank[code]`` = the name's place in alphabetical order; ``rank[-1]`` (no name) sorts last."""
        if self._rank is None or len(self._rank) != len(self.names) + 1:
            order = sorted(range(len(self.names)), key=self.names.__getitem__)
            rank = np.empty(len(self.names) + 1, np.int64)
            rank[np.asarray(order, np.int64)] = np.arange(len(order))
            rank[-1] = _HIGH_MAX
            self._rank = rank
        return self._rank


class TextIndex:
    """Substring search over one text per row (lower case), in C speed whatever the number of matches.

    Every row's text is appended, with a line feed after it, to one buffer of
    code points (uint32); ``starts`` holds where each segment begins and ``owner``
    its row (-1 once the row's text changed or the row left). A query finds the
    positions of its first code point with one vectorised comparison, keeps those
    followed by the rest of the query (one comparison per further code point, on
    the candidates only), and maps the positions to rows with ``searchsorted``.
    A query never holds a line feed, so no match spans two rows. The buffer is
    compacted when more than half of it is dead.
    """

    __slots__ = ("buf", "used", "starts", "owner", "nseg", "seg_of", "dead")

    def __init__(self) -> None:
        self.buf = np.zeros(1 << 16, np.uint32)
        self.used = 0
        self.starts = np.zeros(1024, np.int64)
        self.owner = np.zeros(1024, np.int32)
        self.nseg = 0
        self.seg_of: dict[int, int] = {}
        self.dead = 0

    def set(self, row: int, text: str | None) -> None:
        old = self.seg_of.pop(row, None)
        if old is not None:
            self.owner[old] = -1
            self.dead += 1
        if text is None:
            return
        self._append(row, np.frombuffer((text.lower().replace("\n", " ") + "\n").encode("utf-32-le"), np.uint32))
        if self.dead > 1024 and self.dead * 2 > self.nseg:
            self._compact()

    def _append(self, row: int, codes: np.ndarray) -> None:
        if self.used + len(codes) > len(self.buf):
            self.buf = np.concatenate([self.buf[:self.used], np.zeros(max(len(self.buf), len(codes)), np.uint32)])
        if self.nseg == len(self.starts):
            self.starts = np.concatenate([self.starts, np.zeros(len(self.starts), np.int64)])
            self.owner = np.concatenate([self.owner, np.zeros(len(self.owner), np.int32)])
        self.buf[self.used:self.used + len(codes)] = codes
        self.starts[self.nseg] = self.used
        self.owner[self.nseg] = row
        self.seg_of[row] = self.nseg
        self.nseg += 1
        self.used += len(codes)

    def _compact(self) -> None:
        live = sorted(self.seg_of.items(), key=lambda x: x[1])
        texts = [(row, self.buf[self.starts[seg]:self._end(seg)].copy()) for row, seg in live]
        self.buf = np.zeros(max(1 << 16, self.used), np.uint32)
        self.used = self.nseg = self.dead = 0
        self.seg_of = {}
        for row, codes in texts:
            self._append(row, codes)

    def _end(self, seg: int) -> int:
        return int(self.starts[seg + 1]) if seg + 1 < self.nseg else self.used

    def rows(self, query: str) -> np.ndarray:
        """The rows whose text holds ``query`` (case-insensitive), each once, ascending."""
        q = np.frombuffer(query.lower().encode("utf-32-le"), np.uint32)
        if not len(q) or self.used < len(q):
            return np.zeros(0, np.int64)
        hay = self.buf[:self.used]
        pos = np.flatnonzero(hay[:self.used - len(q) + 1] == q[0])
        for i in range(1, len(q)):
            if not len(pos):
                break
            pos = pos[hay[pos + i] == q[i]]
        if not len(pos):
            return np.zeros(0, np.int64)
        hit = np.zeros(self.nseg, bool)  # the segments holding a match (a scatter: no sort, no hashing)
        hit[np.searchsorted(self.starts[:self.nseg], pos, side="right") - 1] = True
        rows = self.owner[:self.nseg][hit]
        return np.sort(rows[rows >= 0]).astype(np.int64)  # a live row has one live segment: each once


class CaseTable:
    """The cases as rows of numpy columns; see the module docstring."""

    def __init__(self) -> None:
        self.cap = 0
        self.n = 0
        self.rows: list[CaseRow | None] = []
        self.row_of: dict[str, int] = {}
        self.free: list[int] = []
        self.teams, self.branches, self.assignees = _Codes(), _Codes(), _Codes()
        self.text = TextIndex()
        self._ids: list[tuple[str, str]] = []  # (borrower id, case id) of the live rows, sorted
        self._id_rank: np.ndarray | None = None
        self._cids: list[str] = []  # the case ids of the live rows, sorted (the last tie-break)
        self._cid_rank: np.ndarray | None = None
        self._grow(1024)

    def _grow(self, cap: int) -> None:
        def more(arr: np.ndarray | None, dtype: Any, fill: Any) -> np.ndarray:
            new = np.full(cap, fill, dtype)
            if arr is not None:
                new[:len(arr)] = arr
            return new

        old = self.cap
        g = (lambda name: getattr(self, name) if old else None)  # noqa: E731
        self.live = more(g("live"), bool, False)
        self.status = more(g("status"), np.int8, 0)
        self.tier = more(g("tier"), np.int8, 0)
        self.team = more(g("team"), np.int32, -1)
        self.branch = more(g("branch"), np.int32, -1)
        self.assignee = more(g("assignee"), np.int32, -1)
        self.opened = more(g("opened"), np.int64, 0)
        self.last_alert = more(g("last_alert"), np.int64, 0)
        self.rise = more(g("rise"), np.int64, 0)
        self.deadline = more(g("deadline"), np.int32, NO_DAY)
        self.visited = more(g("visited"), np.int64, _NO_US)
        self.due = more(g("due"), np.int32, NO_DAY)
        self.exposure = more(g("exposure"), np.float64, np.nan)
        self.cap = cap

    def __len__(self) -> int:
        return len(self.row_of)

    # ------------------------------------------------------------------ changes

    def put(self, r: CaseRow) -> None:
        """Add the case or change its row."""
        row = self.row_of.get(r.case_id)
        if row is None:
            if self.free:
                row = self.free.pop()
            else:
                if self.n == self.cap:
                    self._grow(self.cap * 2)
                row = self.n
                self.n += 1
                self.rows.append(None)
            self.row_of[r.case_id] = row
            _insort(self._ids, (r.borrower_id, r.case_id))
            _insort(self._cids, r.case_id)
            self._id_rank = self._cid_rank = None
        old = self.rows[row]
        self.rows[row] = r
        self.live[row] = True
        self.status[row] = STATUS_CODES[r.status]
        self.tier[row] = TIER_CODES[r.tier]
        self.team[row] = self.teams.code(r.team)
        self.branch[row] = self.branches.code(r.branch)
        self.assignee[row] = self.assignees.code(r.assignee)
        self.opened[row] = r.opened
        self.last_alert[row] = r.last_alert
        self.rise[row] = r.rise
        self.deadline[row] = NO_DAY if r.deadline is None else r.deadline
        self.visited[row] = _NO_US if r.visited is None else r.visited
        self.due[row] = NO_DAY if r.due is None else r.due
        self.exposure[row] = np.nan if r.exposure is None else r.exposure
        if old is None or old.name != r.name or old.borrower_id != r.borrower_id:
            self.text.set(row, r.borrower_id + "\x1f" + (r.name or ""))

    def drop(self, case_id: str) -> None:
        row = self.row_of.pop(case_id, None)
        if row is None:
            return
        r = self.rows[row]
        if r is not None:
            i = bisect_left(self._ids, (r.borrower_id, r.case_id))
            if i < len(self._ids) and self._ids[i] == (r.borrower_id, r.case_id):
                del self._ids[i]
            i = bisect_left(self._cids, r.case_id)
            if i < len(self._cids) and self._cids[i] == r.case_id:
                del self._cids[i]
            self._id_rank = self._cid_rank = None
        self.rows[row] = None
        self.live[row] = False
        self.text.set(row, None)
        self.free.append(row)

    def get(self, case_id: str) -> CaseRow | None:
        row = self.row_of.get(case_id)
        return None if row is None else self.rows[row]

    # ------------------------------------------------------------------ queries

    def _rank(self, case_ids: Iterable[str], count: int) -> np.ndarray:
        """``rank[row]``: the place of the row's case in ``case_ids`` (in the order wanted)."""
        rank = np.full(self.cap, _HIGH_MAX, np.int64)
        rows = np.fromiter((self.row_of[c] for c in case_ids), np.int64, count)
        rank[rows] = np.arange(len(rows))
        return rank

    def _borrower_rank(self) -> np.ndarray:
        if self._id_rank is None:
            self._id_rank = self._rank((c for _, c in self._ids), len(self._ids))
        return self._id_rank

    def _case_rank(self) -> np.ndarray:
        if self._cid_rank is None:
            self._cid_rank = self._rank(self._cids, len(self._cids))
        return self._cid_rank

    def key(self, sort: str, descending: bool, rows: np.ndarray) -> np.ndarray:
        """One sort key per row of ``rows``: ascending keys give the column's order (nulls last either way),
        newest opened first among equal values. An int64, or a float64 for the exposure."""
        if sort in ("opened", "last_alert"):
            us = (self.opened if sort == "opened" else self.last_alert)[rows]
            return -us if descending else us
        if sort == "exposure":
            x = self.exposure[rows]
            x = -x if descending else x.copy()
            x[np.isnan(x)] = np.inf
            return x
        if sort == "tier":
            high = self.tier[rows].astype(np.int64)
            null = None
        elif sort == "status":
            high = self.status[rows].astype(np.int64)
            null = None
        elif sort == "deadline":  # the cases still waiting for their response first
            high = self.deadline[rows].astype(np.int64)
            null = high == NO_DAY
            high = high + np.where(self.visited[rows] >= self.rise[rows], 1 << 22, 0)
        elif sort == "due":
            high = self.due[rows].astype(np.int64)
            null = high == NO_DAY
        elif sort in ("assignee", "team", "branch"):
            codes = {"assignee": (self.assignees, self.assignee), "team": (self.teams, self.team),
                     "branch": (self.branches, self.branch)}[sort]
            high = codes[0].rank()[codes[1][rows]]
            null = high == _HIGH_MAX
        elif sort == "borrower":
            high = self._borrower_rank()[rows]
            null = None
        else:
            raise ValueError(f"sort: one of {', '.join(SORTS)}")
        if descending:
            high = (_HIGH_MAX - 1) - high
        if null is not None:
            high = np.where(null, _HIGH_MAX, high)
        newest_first = _LOW_MAX - np.clip(self.opened[rows] // 1_000_000 - _BASE_S, 0, _LOW_MAX)
        return (high << _LOW_BITS) | newest_first

    def ordered(self, rows: np.ndarray, sort: str, descending: bool, end: int | None) -> list[int]:
        """``rows`` in the order of ``sort`` (ties: newest opened, then case id), the first ``end`` of them."""
        if not len(rows):
            return []
        keys = self.key(sort, descending, rows)
        if end is not None and len(rows) > end > 0:
            kth = np.partition(keys, end - 1)[end - 1]
            pick = keys <= kth
            rows, keys = rows[pick], keys[pick]
        elif end == 0:
            return []
        second = -self.opened[rows] if sort == "exposure" else np.zeros(len(rows), np.int64)
        order = np.lexsort((second, keys))  # a float key: the newest opened first among equal amounts
        k, s = keys[order], second[order]
        if len(k) > 1 and bool(((k[1:] == k[:-1]) & (s[1:] == s[:-1])).any()):
            # equal keys: by case id, so every replica and page agrees (vectorised: a rank per row)
            order = np.lexsort((self._case_rank()[rows], second, keys))
        out = rows[order].tolist()
        return out if end is None else out[:end]


@dataclass(frozen=True, slots=True)
class Query:
    """A queue query: filters (``None``: any), a search text, the sort, a page."""

    status: str | None = "active"  # open, acknowledged, release_requested, released, active, or None (all)
    tier: str | None = None
    team: str | None = None
    branch: str | None = None
    assignee: str | None = None
    unassigned: bool = False
    past_deadline: bool = False
    visit_overdue: bool = False
    q: str | None = None
    sort: str = "opened"
    descending: bool = True
    offset: int = 0
    limit: int | None = 50


def mask_of(t: CaseTable, query: Query, today: int) -> np.ndarray:
    """The rows matching every filter and the search, as a boolean array over ``t.n`` rows."""
    n = t.n
    m = t.live[:n].copy()
    if query.status == "active":
        m &= t.status[:n] != STATUS_CODES["released"]
    elif query.status is not None:
        m &= t.status[:n] == STATUS_CODES[query.status]
    if query.tier is not None:
        m &= t.tier[:n] == TIER_CODES[query.tier]
    for value, codes, col in ((query.team, t.teams, t.team), (query.branch, t.branches, t.branch),
                              (query.assignee, t.assignees, t.assignee)):
        if value is not None:
            code = codes.index.get(value)
            if code is None:
                return np.zeros(n, bool)
            m &= col[:n] == code
    if query.unassigned:
        m &= t.assignee[:n] == -1
    if query.past_deadline:
        m &= past_deadline(t, today)[:n]
    if query.visit_overdue:
        m &= t.due[:n] < today
    if query.q:
        found = np.zeros(n, bool)
        hits = t.text.rows(query.q)
        found[hits[hits < n]] = True
        m &= found
    return m


def past_deadline(t: CaseTable, today: int) -> np.ndarray:
    """Rows of cases not released, not responded to (no visit since the latest rise) and past the deadline."""
    n = t.n
    return (t.live[:n] & (t.status[:n] != STATUS_CODES["released"]) & (t.visited[:n] < t.rise[:n])
            & (t.deadline[:n] < today))


def run(t: CaseTable, query: Query, today: int) -> tuple[list[CaseRow], int]:
    """The page of rows and the total matching."""
    rows = np.flatnonzero(mask_of(t, query, today))
    end = None if query.limit is None else query.offset + query.limit
    ordered = t.ordered(rows, query.sort, query.descending, end)[query.offset:]
    return [t.rows[r] for r in ordered], int(len(rows))  # type: ignore[misc]


def counts(t: CaseTable, today: int, user: str | None, groups: Iterable[str] = ("tier",)) -> dict[str, Any]:
    """Counts of the cases not released: all, open, mine, unassigned, past deadline, visit overdue, by tier."""
    n = t.n
    active = t.live[:n] & (t.status[:n] != STATUS_CODES["released"])
    mine = t.assignees.index.get(user) if user is not None else None
    out: dict[str, Any] = {
        "active": int(active.sum()),
        "open": int((active & (t.status[:n] == STATUS_CODES["open"])).sum()),
        "mine": int((active & (t.assignee[:n] == mine)).sum()) if mine is not None else 0,
        "unassigned": int((active & (t.assignee[:n] == -1)).sum()),
        "past_deadline": int(past_deadline(t, today).sum()),
        "visit_overdue": int((active & (t.due[:n] < today)).sum()),
    }
    if "tier" in groups:
        tiers = np.bincount(t.tier[:n][active], minlength=4)
        out["by_tier"] = {name: int(tiers[code]) for name, code in TIER_CODES.items()}
    return out


def breaches_by_tier(t: CaseTable, today: int) -> Mapping[str, int]:
    """Cases past their response deadline, by tier (the desk's metric)."""
    tiers = np.bincount(t.tier[:t.n][past_deadline(t, today)], minlength=4)
    return {name: int(tiers[code]) for name, code in TIER_CODES.items()}


_KINDS = {"raised": 0, "escalated": 1, "de_escalated": 2, "cleared": 3}
_ALERT_STATUS = {**STATUS_CODES, "none": 4}


class AlertCounts:
    """The alerts as numpy columns, to count those matching the feed's filters (the total of its pages)."""

    def __init__(self) -> None:
        self.n = 0
        self.row_of: dict[str, int] = {}
        self.teams, self.branches = _Codes(), _Codes()
        self.tier = np.zeros(1024, np.int8)
        self.kind = np.zeros(1024, np.int8)
        self.status = np.zeros(1024, np.int8)
        self.team = np.zeros(1024, np.int32)
        self.branch = np.zeros(1024, np.int32)
        self.at = np.zeros(1024, np.int64)

    def put(self, alert_id: str, tier: str, team: str | None, branch: str | None, kind: str, status: str,
            at: int) -> None:
        row = self.row_of.get(alert_id)
        if row is None:
            row = self.row_of[alert_id] = self.n
            self.n += 1
            if self.n > len(self.tier):
                for name in ("tier", "kind", "status", "team", "branch", "at"):
                    old = getattr(self, name)
                    new = np.zeros(len(old) * 2, old.dtype)
                    new[:len(old)] = old
                    setattr(self, name, new)
        self.tier[row] = TIER_CODES[tier]
        self.kind[row] = _KINDS.get(kind, 0)
        self.status[row] = _ALERT_STATUS[status]
        self.team[row] = self.teams.code(team)
        self.branch[row] = self.branches.code(branch)
        self.at[row] = at

    def count(self, filters: Mapping[str, Any], since: int | None) -> int:
        """How many alerts match ``filters`` (tier, team, branch, kind, status, active) at or after ``since``."""
        n = self.n
        m = np.ones(n, bool)
        for name, value in filters.items():
            if name == "active":
                m &= self.status[:n] < STATUS_CODES["released"]
            elif name in ("team", "branch"):
                codes = self.teams if name == "team" else self.branches
                code = codes.index.get(value)
                if code is None:
                    return 0
                m &= getattr(self, name)[:n] == code
            else:
                table = {"tier": TIER_CODES, "kind": _KINDS, "status": _ALERT_STATUS}[name]
                m &= getattr(self, name)[:n] == table[value]
        if since is not None:
            m &= self.at[:n] >= since
        return int(m.sum())


class ResponseDeadlines:
    """The response deadline of a case: the policy's response days for the tier it rose to, counted in calendar
    days of the policy's time zone from the day it rose (the deadline is that date, inclusive)."""

    def __init__(self, days: Mapping[str, int], zone: ZoneInfo) -> None:
        self.days = dict(days)
        self.zone = zone

    def due(self, tier: str, at: int) -> int | None:
        """The deadline's date ordinal for a rise to ``tier`` at ``at`` (microseconds); None: no deadline."""
        days = self.days.get(tier)
        if days is None:
            return None
        return local_date(at, self.zone).toordinal() + days


def _insort(lst: list[tuple[str, str]], item: tuple[str, str]) -> None:
    i = bisect_left(lst, item)
    if i == len(lst) or lst[i] != item:
        lst.insert(i, item)

