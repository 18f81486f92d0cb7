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

import json
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

__all__ = ["OffsetBook", "applied_records", "stored_offsets"]


class OffsetBook:
    """Per topic-partition: the committed offset, the next offset to take, what is taken and not finished,
    and what is held back behind a missing offset."""

    __slots__ = ("_committed", "_open", "_next", "_held", "_echoes", "_since", "skipped", "now")

    def __init__(self) -> None:
        self._committed: dict[Hashable, int] = {}
        self._open: dict[Hashable, set[int]] = {}  # taken and not finished
        self._next: dict[Hashable, int] = {}  # the next offset to take
        self._held: dict[Hashable, dict[int, Any]] = {}  # offset -> item, beyond a missing offset
        self._echoes: dict[Hashable, int] = {}  # held messages delivered again since the last re-read asked
        self._since: dict[Hashable, list[tuple[int, float]]] = {}  # (first offset, when taken) per run
        self.skipped = 0  # offsets found to hold no message (for the log)
        self.now = 0.0  # when the messages taken now were read (set by the shell per batch)

    def reset(self, committed: Mapping[Hashable, int]) -> None:
        """After a rebalance: the assigned topic-partitions and where the consumer starts each."""
        self._committed = {tp: max(0, int(off)) for tp, off in committed.items()}
        self._open = {tp: set() for tp in committed}
        self._next = dict(self._committed)
        self._held = {tp: {} for tp in committed}
        self._echoes = {}
        self._since = {tp: [] for tp in committed}

    def forget(self, tps: Iterable[Hashable]) -> None:
        """Topic-partitions handed to another worker: nothing of theirs is taken or committed any more."""
        for tp in tps:
            self._committed.pop(tp, None)
            self._open.pop(tp, None)
            self._next.pop(tp, None)
            self._held.pop(tp, None)
            self._echoes.pop(tp, None)
            self._since.pop(tp, None)

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
        since = self._since[tp]
        if not since or since[-1][1] != self.now:
            since.append((offset, self.now))
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

    def oldest_open(self, now: float) -> float:
        """How long ago (in the unit of :attr:`now`) the oldest message taken and not yet finished was
        read: 0 when none is open. A message held this long keeps its partition's commit behind it."""
        oldest = now
        for tp, open_ in self._open.items():
            if not open_:
                self._since[tp] = []
                continue
            low = min(open_)
            since = self._since[tp]
            while len(since) > 1 and since[1][0] <= low:
                since.pop(0)
            if since and since[0][1] < oldest:
                oldest = since[0][1]
        return now - oldest

    def describe(self) -> str:
        """``topic[partition]: committed..next (open n, held m)`` per owned topic-partition, for the log."""
        return ", ".join(f"{tp[0]}[{tp[1]}]: {c}..{self._next[tp]} (open {len(self._open[tp])}, "  # type: ignore[index]
                         f"held {len(self._held[tp])})" for tp, c in sorted(self._committed.items()))

    def positions(self) -> dict[Hashable, int]:
        """Per owned topic-partition, the offset everything before which is finished: the lowest taken
        and unfinished offset, else the next one to take (what :meth:`to_commit` commits)."""
        return {tp: (min(self._open[tp]) if self._open[tp] else self._next[tp]) for tp in self._committed}

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


def applied_records(positions: Mapping[Any, int], recorded: dict[Any, int], keys: Mapping[int, str]) -> dict[str, bytes]:
    """The table records of applied input offsets, ``{key: {topic: offset}}``, of the partitions whose
    ``positions`` (``{(topic, partition): offset}``, see :meth:`OffsetBook.positions`) moved since
    ``recorded`` (updated). Written with the states those inputs produced, they tell a restarted worker
    where to read on, whatever the group's committed offsets say."""
    moved = {tp[1] for tp, off in positions.items() if recorded.get(tp) != off}
    out: dict[str, bytes] = {}
    for p in sorted(moved):
        doc = {tp[0]: off for tp, off in positions.items() if tp[1] == p}
        out[keys[p]] = json.dumps(doc, sort_keys=True).encode()
        for tp, off in positions.items():
            if tp[1] == p:
                recorded[tp] = off
    return out


def stored_offsets(items: Iterable[tuple[str, bytes]], partitions: set[int], prefix: str) -> dict[tuple[str, int], int]:
    """The applied input offsets the table's records (keys ``prefix`` + partition + ...) hold for
    ``partitions``: ``{(topic, partition): next offset}``."""
    out: dict[tuple[str, int], int] = {}
    for key, blob in items:
        if not key.startswith(prefix):
            continue
        partition = int(key[len(prefix):].split(":", 1)[0])
        if partition in partitions:
            for topic, offset in json.loads(blob).items():
                out[(topic, partition)] = int(offset)
    return out
