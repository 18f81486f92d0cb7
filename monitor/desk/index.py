"""Sorted indexes for the desk's view: pages of a filtered, ordered list without a full scan.

:class:`FacetIndex` keeps every key (a sortable tuple, e.g. ``(at_us, alert_id)``)
in one sorted list, and once more in one sorted list per facet value (for
example ``("team", "T07")``). A filtered page starts from the shortest list of
the filters it names, at the cursor (bisect), and checks the other filters on
each key until the page is full: cost grows with the page and with how rare
the combination is within that list, never with the whole view.

Facet values change (a case is acknowledged; an alert's case is released).
Entries are not removed at once: a key's current facets are kept in a dict,
and an entry whose value no longer matches is skipped when read (lazy
deletion). A list is compacted when more than half of it is stale. Added keys
wait in a small tail that is merged in by :meth:`FacetIndex.settle` (the view
settles after each batch): a few keys are inserted by bisection, many are
appended and sorted once (a rebuild from Kafka adds millions).

Pure: no I/O, no clock.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any

__all__ = ["FacetIndex", "SortedKeys"]

Key = tuple[Any, ...]
_INSERT_LIMIT = 64  # up to this many new keys are inserted one by one; more are sorted in


class SortedKeys:
    """A sorted list of keys with a tail of keys not yet merged in."""

    __slots__ = ("items", "tail", "stale")

    def __init__(self) -> None:
        self.items: list[Key] = []
        self.tail: list[Key] = []
        self.stale = 0

    def add(self, key: Key) -> None:
        items = self.items
        if not self.tail and (not items or key > items[-1]):
            items.append(key)
        else:
            self.tail.append(key)

    def settle(self) -> None:
        tail = self.tail
        if not tail:
            return
        if len(tail) <= _INSERT_LIMIT:
            for key in tail:
                insort(self.items, key)
        else:
            self.items.extend(tail)
            self.items.sort()
        self.tail = []

    def __len__(self) -> int:
        return len(self.items) + len(self.tail)


class FacetIndex:
    """Keys in order, findable by any combination of facet values; see the module docstring."""

    __slots__ = ("fields", "_pos", "facets", "all", "lists")

    def __init__(self, fields: tuple[str, ...]) -> None:
        self.fields = fields
        self._pos = {f: i for i, f in enumerate(fields)}
        self.facets: dict[Key, tuple[Hashable, ...]] = {}
        self.all = SortedKeys()
        self.lists: dict[tuple[str, Hashable], SortedKeys] = {}

    def __len__(self) -> int:
        return len(self.facets)

    def __contains__(self, key: object) -> bool:
        return key in self.facets

    def put(self, key: Key, values: tuple[Hashable, ...]) -> None:
        """Add ``key`` or change its facet values (aligned with ``fields``)."""
        old = self.facets.get(key)
        if old == values:
            return
        self.facets[key] = values
        if old is None:
            self.all.add(key)
        for i, field in enumerate(self.fields):
            value = values[i]
            if old is not None:
                if old[i] == value:
                    continue
                self._list(field, old[i]).stale += 1
            self._list(field, value).add(key)

    def drop(self, key: Key) -> None:
        old = self.facets.pop(key, None)
        if old is None:
            return
        self.all.stale += 1
        for i, field in enumerate(self.fields):
            self._list(field, old[i]).stale += 1

    def _list(self, field: str, value: Hashable) -> SortedKeys:
        lst = self.lists.get((field, value))
        if lst is None:
            lst = self.lists[(field, value)] = SortedKeys()
        return lst

    def settle(self) -> None:
        """Merge the tails in and compact lists that are mostly stale."""
        for (field, value), lst in list(self.lists.items()):
            self._settle(lst, field, value)
            if not lst.items:
                del self.lists[(field, value)]
        self._settle(self.all, None, None)

    def _settle(self, lst: SortedKeys, field: str | None, value: Hashable) -> None:
        lst.settle()
        if lst.stale * 2 <= len(lst.items):
            return
        facets = self.facets
        kept: list[Key] = []
        last: Key | None = None
        if field is None:
            for key in lst.items:
                if key != last and key in facets:
                    kept.append(key)
                    last = key
        else:
            i = self._pos[field]
            for key in lst.items:
                if key != last:
                    cur = facets.get(key)
                    if cur is not None and cur[i] == value:
                        kept.append(key)
                        last = key
        lst.items = kept
        lst.stale = 0

    def count(self, filters: Mapping[str, Hashable]) -> int:
        """How many keys match ``filters`` (a scan of the shortest list)."""
        return sum(1 for _ in self.scan(filters))

    def scan(self, filters: Mapping[str, Hashable], *, start: Key | None = None, stop: Key | None = None,
             descending: bool = False, start_exclusive: bool = False) -> Iterator[Key]:
        """Keys matching every filter, in order, within ``[start, stop)`` (either bound may be None;
        ``start_exclusive`` makes it ``(start, stop)``)."""
        for name in filters:
            if name not in self._pos:
                raise KeyError(f"unknown facet {name!r}")
        checks = [(self._pos[f], v) for f, v in filters.items()]
        lst = self.all
        for f, v in filters.items():
            cand = self.lists.get((f, v))
            if cand is None:
                return
            if len(cand) < len(lst):
                lst = cand
        lst.settle()
        items = lst.items
        lo = 0 if start is None else (bisect_right if start_exclusive else bisect_left)(items, start)
        hi = len(items) if stop is None else bisect_left(items, stop)
        facets = self.facets
        last: Key | None = None
        rng = range(hi - 1, lo - 1, -1) if descending else range(lo, hi)
        for j in rng:
            key = items[j]
            if key == last:
                continue
            cur = facets.get(key)
            if cur is None:
                continue
            if all(cur[i] == v for i, v in checks):
                last = key
                yield key

    def page(self, filters: Mapping[str, Hashable], *, after: Key | None = None, floor: Key | None = None,
             limit: int = 50, descending: bool = True, accept: Callable[[Key], bool] | None = None
             ) -> tuple[list[Key], bool]:
        """Up to ``limit`` matching keys after the cursor ``after`` (exclusive), not below ``floor``.

        Returns the keys and whether more follow.
        """
        if descending:
            it = self.scan(filters, start=floor, stop=after, descending=True)
        else:
            exclusive = after is not None and (floor is None or after >= floor)
            it = self.scan(filters, start=after if exclusive else floor, start_exclusive=exclusive)
        out: list[Key] = []
        for key in it:
            if accept is not None and not accept(key):
                continue
            if len(out) == limit:
                return out, True
            out.append(key)
        return out, False
