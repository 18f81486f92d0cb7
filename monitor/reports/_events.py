"""What the report needs besides the portfolio's records: the feeds' volumes and freshness, the visits made.

Nothing here reads the event files: every figure comes from what ``monitor replay``
wrote while the engine applied the events (``monitor.snapshots``): the code tables of
the records, the events and copies the engine applied per feed and day, the
inspections it applied (with the due date then in force), each borrower's first
event and latest bureau report. The event files are inputs of the report only as
provenance (their SHA-256 is recorded).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.reports._ids import Codes
from monitor.snapshots import NONE, Snapshot, SnapshotLog

__all__ = ["EVENT_TYPES", "OUTCOMES", "EventData", "Table", "codes_of", "read_events"]

EVENT_TYPES: tuple[str, ...] = ("loan_profile", "rating_change", "lawsuit", "bureau_report", "overdue",
                                "inspection_completed")
OUTCOMES: tuple[str, ...] = ("normal", "concern", "deteriorated")
I64 = NDArray[np.int64]
_NONE = np.iinfo(np.int64).min


def _cat(parts: list[NDArray[Any]], dtype: Any) -> NDArray[Any]:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


@dataclass(slots=True)
class Table:
    """Columns of one kind of row."""

    parts: dict[str, list[NDArray[Any]]] = field(default_factory=dict)

    def add(self, **cols: NDArray[Any]) -> None:
        for k, v in cols.items():
            self.parts.setdefault(k, []).append(v)

    def col(self, name: str, dtype: Any = np.int64) -> NDArray[Any]:
        return _cat(self.parts.get(name, []), dtype)

    def recode(self, name: str, table: NDArray[np.int32]) -> None:
        """Map a code column through ``table`` (code -> new code; -1 stays -1 as the table's last entry)."""
        self.parts[name] = [table[p] for p in self.parts.get(name, [])]


@dataclass(slots=True)
class EventData:
    """The feeds and visits as the report needs them (instants in microseconds, borrowers as indexes)."""

    teams: Codes
    segments: Codes = field(default_factory=Codes)
    industries: Codes = field(default_factory=Codes)
    branches: Codes = field(default_factory=Codes)
    names: Codes = field(default_factory=Codes)  # borrower names of the profiles
    lines: int = 0  # lines read, rejected ones included
    skipped: int = 0  # lines the replay rejected
    newest: I64 = field(default_factory=lambda: np.full(6, _NONE, dtype=np.int64))  # newest up to the cut
    after_cut: I64 = field(default_factory=lambda: np.zeros(6, dtype=np.int64))  # dated after the cut
    feed_events: I64 = field(default_factory=lambda: np.zeros(6, dtype=np.int64))  # applied in the period
    feed_copies: I64 = field(default_factory=lambda: np.zeros(6, dtype=np.int64))  # copies in the period
    inspections: Table = field(default_factory=Table)  # visits made inside the period
    first_seen: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # first event, per borrower
    last_bureau: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # latest bureau report

    def use_teams(self, teams: Codes) -> None:
        """Express the team codes in ``teams`` (shared with the schedule) instead of the snapshots' own."""
        table = np.array([teams.code(v) for v in self.teams.values] + [-1], dtype=np.int32)
        self.inspections.recode("team", table)
        self.teams = teams


def codes_of(values: list[str]) -> Codes:
    c = Codes()
    c.values = list(values)
    c.index = {v.encode("utf-8"): i for i, v in enumerate(values)}
    return c


def read_events(log: SnapshotLog, end: Snapshot, summary: dict[str, Any], start: int, cut: int,
                replay_as_of: int) -> EventData:
    """The feeds of the days ``start`` .. ``cut`` and the visits made in them, from the snapshots."""
    data = EventData(codes_of(log.codes["team"]), codes_of(log.codes["segment"]), codes_of(log.codes["industry"]),
                     codes_of(log.codes["branch"]), codes_of(log.codes["name"]))
    counts = summary.get("events", {})
    data.lines, data.skipped = int(counts.get("read", 0)), int(counts.get("rejected", 0))
    first_day, last_day = log.days.of(start), log.days.of(cut)
    feeds = log.feeds(first_day, last_day)
    later = log.feeds(last_day + 1, 10**7)
    for k, name in enumerate(EVENT_TYPES):
        data.feed_events[k] = feeds.events.get(name, 0)
        data.feed_copies[k] = feeds.copies.get(name, 0)
        data.newest[k] = feeds.newest.get(name, _NONE)
        data.after_cut[k] = later.events.get(name, 0) + later.copies.get(name, 0) + feeds.after_as_of.get(name, 0)
    v = log.visits(start, cut)
    data.inspections.add(bidx=v["borrower"].astype(np.int32), t=v["at"], order=np.arange(v["at"].size),
                         team=v["team"], outcome=v["outcome"].astype(np.int32),
                         eid=np.arange(v["at"].size).astype("S12"), due=v["due"])
    data.first_seen = np.where(end.seen_at == NONE, np.iinfo(np.int64).max, end.seen_at)
    data.last_bureau = np.where(end.bureau_at == NONE, _NONE, end.bureau_at)
    return data
