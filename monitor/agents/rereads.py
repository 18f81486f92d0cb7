"""When to read a topic-partition again: a pure policy over the offset book and an injected clock.

The shell takes each topic-partition strictly in offset order (see offsets.py). Two things can stop
it: the consumer skips offsets (a message fetched for a previous assignment arrives after the seek
to the committed offset and moves Faust's read offset past messages it then never delivers: later
messages are held back behind the gap), or it stops delivering a partition at all although the
broker holds messages there. This module decides, from what the book shows and the time, which
partitions to read again from which offset, when a gap is shown to hold no message (the consumer,
asked again five times, reads the held messages again and nothing before them: transaction
markers, records removed by retention), and what to say in the log. It does no I/O and reads no
clock: the shell passes ``now`` in and carries the decisions out.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Decision", "Note", "RereadPolicy", "Seek"]


@dataclass(frozen=True, slots=True)
class Seek:
    """Read ``tp`` again from ``offset``."""

    tp: Any
    offset: int


@dataclass(frozen=True, slots=True)
class Note:
    """A log line: ``level`` (``info`` or ``warning``), a %-format message, its arguments and structured
    fields (topic, partition, offsets: never a message's content)."""

    level: str
    message: str
    args: tuple[Any, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Decision:
    """What to do now: seeks to make, gaps to pass (the book then hands over the held run), log lines."""

    seeks: list[Seek] = field(default_factory=list)
    skips: list[Any] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.seeks or self.skips or self.notes)


class Book(Protocol):
    """What the policy reads of the offset book."""

    def missing(self) -> dict[Hashable, tuple[int, int]]: ...
    def echoes(self, tp: Hashable) -> int: ...
    def owned(self) -> list[Hashable]: ...
    def expected(self, tp: Hashable) -> int | None: ...


class RereadPolicy:
    """The decisions of :func:`gaps` (after every batch and tick), :func:`ends` (every few seconds, with
    the end offsets the broker reported) and :func:`stall` (whether to log a stall)."""

    def __init__(self, *, wait: float = 1.0, attempts: int = 5, patience: float = 15.0, stall_after: float = 60.0,
                 every: float = 5.0) -> None:
        self.wait = wait  # a gap is read again after this long without progress
        self.attempts = attempts  # ... this many times before it is taken to hold no message
        self.patience = patience  # a partition that hands over nothing for this long is read again
        self.stall_after = stall_after
        self.every = every  # the end offsets are asked for this often
        self._gaps: dict[Any, tuple[int, float, int]] = {}  # tp -> (offset sought, when, attempts)
        self._behind: dict[Any, tuple[int, float]] = {}  # tp -> (next offset, since when) while short of its end
        self._ends_at = float("-inf")
        self._progress_at: float | None = None
        self._stall_logged_at = float("-inf")

    def waiting(self, tp: Any) -> bool:
        """Whether a gap of ``tp`` is being waited for or read again."""
        return tp in self._gaps

    def gaps(self, book: Book, now: float) -> Decision:
        """Gaps in the taken offsets: wait ``wait`` seconds for them, then read again from the gap, and
        after ``attempts`` re-reads that showed the held messages again, pass the gap."""
        out = Decision()
        missing = book.missing()
        for tp in [tp for tp in self._gaps if tp not in missing]:
            del self._gaps[tp]
        for tp, (nxt, low) in sorted(missing.items(), key=lambda kv: tuple(kv[0])):
            prev = self._gaps.get(tp)
            if prev is None:
                # routine around a rebalance (the re-read from the committed offset fills it): INFO
                out.notes.append(Note("info", "the consumer skipped offsets %d..%d of %s[%d]; waiting for them",
                                      (nxt, low - 1, tp[0], tp[1]), _fields(tp, nxt, low - 1)))
                self._gaps[tp] = (nxt, now, 0)
                continue
            if nxt != prev[0]:
                self._gaps[tp] = (nxt, now, prev[2])  # the missing messages are coming
                continue
            if now - prev[1] < self.wait:
                continue
            attempts = prev[2] + 1
            if attempts > self.attempts and book.echoes(tp):
                out.skips.append(tp)
                out.notes.append(Note("warning", "offsets %d..%d of %s[%d] hold no message (read again %d times); "
                                      "going on from %d", (nxt, low - 1, tp[0], tp[1], self.attempts, low),
                                      _fields(tp, nxt, low - 1)))
                del self._gaps[tp]
                continue
            out.notes.append(Note("info" if attempts == 1 else "warning",
                                  "reading %s[%d] again from offset %d (attempt %d)", (tp[0], tp[1], nxt, attempts),
                                  {"topic": tp[0], "partition": tp[1], "offset": nxt, "attempt": attempts}))
            self._gaps[tp] = (nxt, now, attempts)
            out.seeks.append(Seek(tp, nxt))
        return out

    def ends_due(self, now: float) -> bool:
        """Whether to ask the broker for the end offsets now (every ``every`` seconds)."""
        if now - self._ends_at < self.every:
            return False
        self._ends_at = now
        return True

    def ends(self, book: Book, ends: Mapping[Any, int], now: float) -> Decision:
        """A topic-partition whose next offset is short of its end on the broker and that has handed over
        nothing for ``patience`` seconds is read again from its next offset: Faust can stop delivering
        one after a rebalance, and nothing later arrives to show a gap."""
        out = Decision()
        behind: dict[Any, tuple[int, float]] = {}
        for tp in book.owned():
            nxt, end = book.expected(tp), ends.get(tp)
            if nxt is None or end is None or nxt >= end:
                continue
            prev = self._behind.get(tp)
            if prev is None or prev[0] != nxt:
                behind[tp] = (nxt, now)
                continue
            behind[tp] = prev
            if now - prev[1] >= self.patience and tp not in self._gaps:
                out.notes.append(Note("warning", "nothing read from %s[%d] for %.0f s although it holds offsets "
                                      "%d..%d; reading it again from %d",
                                      (tp[0], tp[1], now - prev[1], nxt, end - 1, nxt), _fields(tp, nxt, end - 1)))
                behind[tp] = (nxt, now)
                out.seeks.append(Seek(tp, nxt))
        self._behind = behind
        return out

    def progress(self, now: float) -> None:
        """Input was finished (applied, dead-lettered) at ``now``."""
        self._progress_at = now

    def stall(self, buffered: int, now: float) -> bool:
        """Whether to log, now, why buffered events wait: they have for ``stall_after`` seconds with no input
        finished, and it was not logged in the last ``stall_after`` seconds."""
        if self._progress_at is None:
            self._progress_at = now
        if not buffered or now - self._progress_at < self.stall_after or now - self._stall_logged_at < self.stall_after:
            return False
        self._stall_logged_at = now
        return True


def _fields(tp: Any, first: int, last: int) -> dict[str, Any]:
    return {"topic": tp[0], "partition": tp[1], "first_offset": first, "last_offset": last}
