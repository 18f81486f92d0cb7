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
from itertools import combinations
from operator import itemgetter
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

    __slots__ = ("fields", "_pos", "_groups", "facets", "all", "lists", "keep_all")

    # A list is named (group, value): group is a tuple of facet positions; value is the facet's value for a
    # single facet and the tuple of values for a pair (what ``itemgetter(*group)`` returns).

    def __init__(self, fields: tuple[str, ...], keep_all: bool = True, pairs: bool = False) -> None:
        self.fields = fields
        self.keep_all = keep_all  # False: every query names a facet, no list of all keys is kept
        self._pos = {f: i for i, f in enumerate(fields)}
        # the lists kept per key: one per facet, and with ``pairs`` one per pair of facets (a rare
        # combination of two common values is then found without scanning either common list)
        groups: list[tuple[int, ...]] = [(i,) for i in range(len(fields))]
        if pairs:
            groups += list(combinations(range(len(fields)), 2))
        self._groups = tuple((g, itemgetter(*g)) for g in groups)
        self.facets: dict[Key, tuple[Hashable, ...]] = {}
        self.all = SortedKeys()
        self.lists: dict[tuple[tuple[int, ...], Hashable], SortedKeys] = {}

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
        if old is None and self.keep_all:
            self.all.add(key)
        lists = self.lists
        for group, get in self._groups:
            new = get(values)
            if old is not None:
                before = get(old)
                if before == new:
                    continue
                lists[(group, before)].stale += 1
            lst = lists.get((group, new))
            if lst is None:
                lst = lists[(group, new)] = SortedKeys()
            lst.add(key)

    def drop(self, key: Key) -> None:
        old = self.facets.pop(key, None)
        if old is None:
            return
        if self.keep_all:
            self.all.stale += 1
        for group, get in self._groups:
            self.lists[(group, get(old))].stale += 1

    def values(self, field: str) -> list[Hashable]:
        """The values ``field`` has had (some may no longer be held by any key)."""
        i = (self._pos[field],)
        return [v for (g, v) in self.lists if g == i]

    def settle(self, full: bool = True) -> None:
        """Merge the tails in and compact lists that are mostly stale.

        ``full=False`` leaves lists with a long tail alone (a rebuild adds keys by the million: such a list
        is sorted once, when first read or by a full settle)."""
        for name, lst in list(self.lists.items()):
            if full or len(lst.tail) <= _INSERT_LIMIT:
                self._settle(lst, name)
                if not lst.items and not lst.tail:
                    del self.lists[name]
        if full or len(self.all.tail) <= _INSERT_LIMIT:
            self._settle(self.all, None)

    def _settle(self, lst: SortedKeys, name: tuple[tuple[int, ...], Hashable] | None) -> None:
        lst.settle()
        if lst.stale * 2 <= len(lst.items):
            return
        facets = self.facets
        get = itemgetter(*name[0]) if name is not None else None
        kept: list[Key] = []
        last: Key | None = None
        for key in lst.items:
            if key == last:
                continue
            cur = facets.get(key)
            if cur is None or (get is not None and name is not None and get(cur) != name[1]):
                continue
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
        if not self.keep_all and not filters:
            raise KeyError("this index answers only queries that name a facet")
        wanted = dict(checks)
        lst = self.all if self.keep_all else None
        for group, _ in self._groups:
            if all(i in wanted for i in group):
                value = wanted[group[0]] if len(group) == 1 else tuple(wanted[i] for i in group)
                cand = self.lists.get((group, value))
                if cand is None:
                    return  # no key has ever had this combination
                if lst is None or len(cand) < len(lst):
                    lst = cand
        if lst is None:
            return
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
