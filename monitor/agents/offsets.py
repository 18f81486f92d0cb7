"""Which input offsets a worker may commit: the shell's own bookkeeping, without Faust.

Faust's own commit bookkeeping cannot be used here. The runtime applies events
in event-time order, across feeds, so it finishes the messages of one
topic-partition out of offset order, and keeps some of them buffered for a
while. Faust (faust-streaming 0.15) then commits past a message that is still
buffered: its ``Consumer._new_offset`` accepts acknowledged offsets that start
one past the committed offset (it checks ``min(acked) - committed > 1``, where
a committed offset already names the next message to read), does not check at
all while the committed offset is 0, and counts offsets it believes were never
delivered (its "gaps") as acknowledged. A worker that stops or crashes right
then hands a partition over past an event that was never applied: the event is
lost. (faust-streaming issues #216, #221 and #606 describe the same family.)

So the worker never acknowledges a message to Faust, and commits, per
topic-partition, the lowest offset it has taken but not yet finished, or one
past the highest it has taken when all are finished. Everything before the
committed offset is applied, published and written to the table.

Around a rebalance Faust also delivers messages out of offset order: copies
of messages already taken, and (seen in tests, when a message fetched for the
previous assignment arrives after the seek to the committed offset and moves
Faust's read offset past it) a message far beyond the committed offset while
the ones before it are never delivered. So each topic-partition is taken
strictly in offset order here: a copy (below the next offset) is dropped; a
message beyond the next offset is held back, and the shell asks the consumer
to read again from the next offset, until the missing messages come (or the
consumer shows, by reading again, that those offsets hold no message: the
markers of transactions, or records removed by retention).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any

__all__ = ["OffsetBook"]


class OffsetBook:
    """Per topic-partition: the committed offset, the next offset to take, what is taken and not finished,
    and what is held back behind a missing offset."""

    __slots__ = ("_committed", "_open", "_next", "_held", "_echoes", "skipped")

    def __init__(self) -> None:
        self._committed: dict[Hashable, int] = {}
        self._open: dict[Hashable, set[int]] = {}  # taken and not finished
        self._next: dict[Hashable, int] = {}  # the next offset to take
        self._held: dict[Hashable, dict[int, Any]] = {}  # offset -> item, beyond a missing offset
        self._echoes: dict[Hashable, int] = {}  # held messages delivered again since the last re-read asked
        self.skipped = 0  # offsets found to hold no message (for the log)

    def reset(self, committed: Mapping[Hashable, int]) -> None:
        """After a rebalance: the assigned topic-partitions and where the consumer starts each."""
        self._committed = {tp: max(0, int(off)) for tp, off in committed.items()}
        self._open = {tp: set() for tp in committed}
        self._next = dict(self._committed)
        self._held = {tp: {} for tp in committed}
        self._echoes = {}

    def forget(self, tps: Iterable[Hashable]) -> None:
        """Topic-partitions handed to another worker: nothing of theirs is taken or committed any more."""
        for tp in tps:
            self._committed.pop(tp, None)
            self._open.pop(tp, None)
            self._next.pop(tp, None)
            self._held.pop(tp, None)
            self._echoes.pop(tp, None)

    def owns(self, tp: Hashable) -> bool:
        return tp in self._committed

    def owned(self) -> list[Hashable]:
        return sorted(self._committed)  # type: ignore[type-var]

    def expected(self, tp: Hashable) -> int | None:
        """The next offset to take from ``tp`` (None when this worker does not own it)."""
        return self._next.get(tp)

    def take(self, tp: Hashable, offset: int, item: Any) -> list[Any]:
        """A delivered message: the items to process now, in offset order (none for a copy, for a message
        held back behind a missing offset, or for a partition this worker does not own)."""
        nxt = self._next.get(tp)
        if nxt is None or offset < nxt:
            return []
        held = self._held[tp]
        if offset > nxt:
            if offset in held:
                self._echoes[tp] = self._echoes.get(tp, 0) + 1
            else:
                held[offset] = item
            return []
        return self._run(tp, offset, item)

    def _run(self, tp: Hashable, offset: int, item: Any) -> list[Any]:
        held, open_ = self._held[tp], self._open[tp]
        out = [item]
        open_.add(offset)
        offset += 1
        while offset in held:
            out.append(held.pop(offset))
            open_.add(offset)
            offset += 1
        self._next[tp] = offset
        return out

    def missing(self) -> dict[Hashable, tuple[int, int]]:
        """Topic-partitions with messages held back: ``{tp: (next offset, lowest held offset)}``."""
        return {tp: (self._next[tp], min(held)) for tp, held in self._held.items() if held}

    def asked_again(self, tp: Hashable) -> None:
        """The consumer was asked to read ``tp`` again from its next offset."""
        self._echoes[tp] = 0

    def echoes(self, tp: Hashable) -> int:
        """How many held messages were delivered again since the consumer was last asked to read again:
        more than none means it did read past the missing offsets without finding them."""
        return self._echoes.get(tp, 0)

    def skip_to_held(self, tp: Hashable) -> list[Any]:
        """The offsets before the lowest held message hold no message: go on from it; its run is returned."""
        held = self._held.get(tp)
        if not held:
            return []
        first = min(held)
        self.skipped += first - self._next[tp]
        return self._run(tp, first, held.pop(first))

    def finish(self, tp: Hashable, offset: int) -> None:
        """The message is applied (or dead-lettered), its decisions published and its states written."""
        open_ = self._open.get(tp)
        if open_ is not None:
            open_.discard(offset)

    def describe(self) -> str:
        """``topic[partition]: committed..next (open n, held m)`` per owned topic-partition, for the log."""
        return ", ".join(f"{tp[0]}[{tp[1]}]: {c}..{self._next[tp]} (open {len(self._open[tp])}, "  # type: ignore[index]
                         f"held {len(self._held[tp])})" for tp, c in sorted(self._committed.items()))

    def to_commit(self) -> dict[Hashable, int]:
        """The offsets that may be committed now and were not yet: ``{tp: offset}``."""
        out: dict[Hashable, int] = {}
        for tp, committed in self._committed.items():
            open_ = self._open[tp]
            position = min(open_) if open_ else self._next[tp]
            if position > committed:
                out[tp] = position
        return out

    def committed(self, offsets: Mapping[Hashable, int]) -> None:
        """The broker took these offsets."""
        for tp, off in offsets.items():
            if tp in self._committed and off > self._committed[tp]:
                self._committed[tp] = off
