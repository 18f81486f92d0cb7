"""The warning list's rows as JSON made from its columns (:class:`monitor.reports._rowlists.RowLists`): the bytes of
the model's serialiser (each list of signals its text as the replay wrote it: tests/reports/serialiser.py) without
a dict per row nor the serialiser's walk over them (a million borrowers: ~146,000 rows, ~0.5 s of the write's main thread).

Each value's JSON is made by the serialiser of its field's type (pydantic's, so the same bytes): a column of numbers
at once (split at its commas: no number's text holds one), a column whose values recur (tiers, codes, dates) once
per distinct value, the others (ids, names) one by one; then each row is one ``%`` of a template made by the
serialiser from a row of placeholders (the keys, their order and the punctuation as it writes them)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import TypeAdapter

from monitor.reports._rowlists import ROW_KEYS, RowLists

__all__ = ["Rows"]

_STR = TypeAdapter(str | None)
_FLOAT = TypeAdapter(list[float])
_INT = TypeAdapter(list[int])
_BOOL = TypeAdapter(bool)
_ITEMS = TypeAdapter(list[str])
# the columns whose values recur (a value's JSON made once per distinct value), and those that mostly do not
_RECUR = ("tier", "tier_at_start", "branch", "team", "segment", "industry", "grade", "min_classification", "tier_since",
          "next_visit_due", "case_status", "case_owner")
_FREE = ("borrower_id", "name")
_CHANGE = ("day", "kind", "from_tier", "to_tier")


def _template() -> tuple[bytes, list[str]]:
    """A row's JSON with ``%s`` for each value (the model's serialiser's keys, order and punctuation), and the
    values' names in the template's order (``change.<key>`` for those of the last change)."""
    from monitor.reports._rowlists import _ROWS

    names: list[str] = []

    def mark(name: str) -> str:
        names.append(name)
        return f"\x00{len(names) - 1}\x00"

    row = {k: {c: mark(f"change.{c}") for c in (*_CHANGE, "signals")} if k == "last_change" else mark(k)
           for k in ROW_KEYS}
    text = _ROWS.dump_json([row], warnings=False)[1:-1]
    marks = [b'"\\u0000%d\\u0000"' % i for i in range(len(names))]
    at = [text.find(m) for m in marks]
    if b"%" in text or min(at) < 0 or len(set(at)) != len(at):  # (never: the keys hold no '%')
        raise RuntimeError("the warning list's row template: the model's serialiser changed")
    for m in marks:
        text = text.replace(m, b"%s", 1)
    return text, [names[i] for i in sorted(range(len(names)), key=at.__getitem__)]


class _Memo(dict[Any, bytes]):
    """A column's values' JSON, made once per distinct value (str or None: the same text for equal keys)."""

    def __init__(self, dump: Callable[[Any], bytes]) -> None:
        super().__init__()
        self.dump = dump

    def __missing__(self, value: Any) -> bytes:
        got = self.dump(value)
        if value is None or type(value) is str:
            self[value] = got
        return got


_PLAIN = re.compile(r'[\x00-\x1f"\\]')  # what a JSON string escapes: text without any is written as it is


def _texts(values: Sequence[str | None]) -> list[bytes]:
    """The JSON of each text (or None) of a column: quoted as they are when none needs an escape (checked over them
    all at once), else by the serialiser one by one."""
    if None in values:
        texts = [v for v in values if v is not None]
        if len(texts) < len(values) // 2:  # (mostly none: one by one)
            return list(map(_STR.dump_json, values))
    else:
        texts = values  # type: ignore[assignment]
    if not all(type(v) is str for v in texts) or _PLAIN.search("".join(texts)):
        return list(map(_STR.dump_json, values))
    try:
        made = ('"' + '"\n"'.join(texts) + '"').encode().split(b"\n") if texts else []
    except UnicodeEncodeError:  # (a lone surrogate: as the serialiser has it)
        return list(map(_STR.dump_json, values))
    if len(texts) != len(values):
        null, each = _STR.dump_json(None), iter(made)
        return [null if v is None else next(each) for v in values]
    return made


def _numbers(adapter: TypeAdapter[Any], values: Sequence[Any]) -> list[bytes]:
    """The JSON of each number of a column, by one call of the serialiser over them all."""
    if not values:
        return []
    return adapter.dump_json(list(values))[1:-1].split(b",")


class Rows:
    """The model's serialiser's bytes for any range of rows (:meth:`json`; tests/reports/serialiser.py), the
    templates and memos kept across calls."""

    def __init__(self, lists: RowLists) -> None:
        self.lists = lists
        self.template, self.names = _template()
        dump_str = _STR.dump_json
        self.memo = {k: _Memo(dump_str) for k in (*_RECUR, *(f"change.{c}" for c in _CHANGE))}
        self.flags = (_BOOL.dump_json(False), _BOOL.dump_json(True))
        self.items: dict[int, tuple[list[str], bytes]] = {}  # id of a shared list of items -> (it, its JSON)

    def _items(self, items: list[str]) -> bytes:
        got = self.items.get(id(items))
        if got is None or got[0] is not items:
            got = self.items[id(items)] = (items, _ITEMS.dump_json(items))
        return got[1]

    def _column(self, name: str, lo: int, hi: int) -> list[bytes] | Sequence[bytes]:
        lists = self.lists
        if name.startswith("change."):
            key = name[7:]
            if key == "signals":
                return lists.then.texts[lo:hi]
            values = lists.change[_CHANGE.index(key)][lo:hi]
            return list(map(self.memo[name].__getitem__, values))
        if name == "signals":
            return lists.then.texts[lo:hi] if lists.now is None else lists.now.texts[lo:hi]
        if name == "rank":
            return _numbers(_INT, range(lo + 1, hi + 1))
        values = lists.cols[name][lo:hi]
        if name in self.memo:
            return list(map(self.memo[name].__getitem__, values))
        if name == "exposure":
            return _numbers(_FLOAT, values)
        if name == "days_at_tier":
            return _numbers(_INT, values)
        if name == "visit_overdue":
            flags = self.flags
            return [flags[bool(v)] if type(v) is bool else _BOOL.dump_json(v) for v in values]
        if name == "data_quality":
            return list(map(self._items, values))
        if name in _FREE:
            return _texts(values)
        raise KeyError(name)  # (a key the template has and this does not know: the model changed)

    def json(self, lo: int, hi: int) -> bytes:
        """Rows ``lo`` to ``hi``, comma-separated (no brackets), as the model's serialiser writes them."""
        hi = min(hi, self.lists.n)
        if hi <= lo:
            return b""
        template = self.template
        columns = [self._column(name, lo, hi) for name in self.names]
        return b",".join([template % values for values in zip(*columns)])
