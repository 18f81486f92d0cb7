"""The warning list kept as columns, its signals as the replay wrote them (JSON text), not as a row of objects each.

At a million borrowers the list has ~146,000 rows and ~570,000 signals (the current ones and those of each row's
last change): parsed, ~3 million objects, loaded by the build and serialised again by the write. Here each list of
signals is its JSON text (what the JSON form writes: the reader checked that the parsed objects serialise to it,
:mod:`monitor.reports._sigread`), with per signal its rule (the rule statistics) and a key of what its sentence shows
(the CSV's and the workbook's cells: equal keys, equal sentences).

:class:`monitor.reports.model.WarningList` holds a :class:`RowLists` privately (``_lists``) and makes its ``rows``
(plain :class:`~monitor.reports.model.WarningRow` dicts, the signals parsed from their text) only when they are read;
the forms take what they need from :func:`lists_of` instead: the rows' JSON made from the columns, the texts
spliced in (:class:`monitor.reports._jsonrows.Rows`), :meth:`RowLists.light` (rows whose signals are their sentence
keys) and :meth:`RowLists.head` (the first rows, whole: the HTML).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pydantic import TypeAdapter
from pydantic_core import from_json

from monitor._construct import private, unset

__all__ = ["CurrentTexts", "ROW_KEYS", "RowLists", "SignalTexts", "lists_of"]

# WarningRow's keys in its order: those before the signals, then signals and last_change, then those after
_BEFORE = ("borrower_id", "name", "tier", "tier_at_start", "exposure", "branch", "team", "segment", "industry", "grade",
           "min_classification", "tier_since", "days_at_tier")
_AFTER = ("next_visit_due", "visit_overdue", "case_status", "case_owner", "data_quality")
ROW_KEYS = ("rank", *_BEFORE, "signals", "last_change", *_AFTER)


@dataclass(frozen=True, slots=True)
class SignalTexts:
    """Lists of signals: each list's JSON text, and per signal its rule and sentence key
    (:func:`monitor.reports._sigread.sentence_keys`)."""

    texts: list[bytes]
    rules: list[tuple[str, ...]]
    keys: list[tuple[bytes, ...]]

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, at: Sequence[int]) -> SignalTexts:
        texts, rules, keys = self.texts, self.rules, self.keys
        return SignalTexts([texts[i] for i in at], [rules[i] for i in at], [keys[i] for i in at])

    def parsed(self, lo: int = 0, hi: int | None = None) -> list[list[dict[str, Any]]]:
        """The lists ``lo`` to ``hi`` as objects (what the text parses to: the values the reader checked)."""
        part = self.texts[lo:hi]
        return from_json(b"[" + b",".join(part) + b"]") if part else []


@dataclass(frozen=True, slots=True)
class CurrentTexts:
    """The current signals per borrower (``signals.jsonl``), as text: borrower id -> (text, rules, keys)."""

    by_id: Mapping[str, tuple[bytes, tuple[str, ...], tuple[bytes, ...]]]

    def of(self, ids: Sequence[str]) -> SignalTexts:
        """The lists of ``ids`` (``[]`` for a borrower without a line)."""
        none = (b"[]", (), ())
        got = [self.by_id.get(b, none) for b in ids]
        return SignalTexts([g[0] for g in got], [g[1] for g in got], [g[2] for g in got])


@dataclass(frozen=True, slots=True)
class RowLists:
    """The warning list's rows as columns: ``cols`` holds every WarningRow key but the signals and the last change
    (``rank`` implied: 1, 2, ...), ``change`` the last change's day, kind, from_tier and to_tier columns; ``then`` the
    last change's signals and ``now`` the current ones (None: unknown, the last change's shown instead)."""

    cols: dict[str, list[Any]]
    change: tuple[list[Any], list[Any], list[Any], list[Any]]
    then: SignalTexts
    now: SignalTexts | None

    @property
    def n(self) -> int:
        return len(self.then)

    def _rows(self, lo: int, hi: int, now: Sequence[Any], then: Sequence[Any]) -> list[dict[str, Any]]:
        """Rows ``lo`` to ``hi`` with ``now`` and ``then`` (theirs) as the signals (the same object in both places
        when ``now`` is ``then``)."""
        cols = self.cols
        day, kind, frm, to = (c[lo:hi] for c in self.change)
        last = [{"day": d, "kind": k, "from_tier": f, "to_tier": t, "signals": s}
                for d, k, f, t, s in zip(day, kind, frm, to, then)]
        values = zip(range(lo + 1, hi + 1), *(cols[k][lo:hi] for k in _BEFORE), now, last,
                     *(cols[k][lo:hi] for k in _AFTER))
        return [dict(zip(ROW_KEYS, v)) for v in values]

    def rows(self, lo: int = 0, hi: int | None = None) -> list[dict[str, Any]]:
        """Rows ``lo`` to ``hi`` whole (WarningRow), their signals parsed from the text."""
        hi = self.n if hi is None else min(hi, self.n)
        then = self.then.parsed(lo, hi)
        return self._rows(lo, hi, then if self.now is None else self.now.parsed(lo, hi), then)

    head = rows

    def light(self, lo: int, hi: int) -> list[dict[str, Any]]:
        """Rows ``lo`` to ``hi`` whose signals (and their last change's) are the tuples of their sentence keys: what
        the cells need (the same tuple in both places when the current signals are unknown)."""
        then = self.then.keys[lo:hi]
        return self._rows(lo, hi, then if self.now is None else self.now.keys[lo:hi], then)

    def with_cases(self, cases: Mapping[str, tuple[str, str | None]]) -> RowLists:
        ids = self.cols["borrower_id"]
        cols = {**self.cols, "case_status": [cases[b][0] if b in cases else None for b in ids],
                "case_owner": [cases[b][1] if b in cases else None for b in ids]}
        return replace(self, cols=cols)


def lists_of(wl: Any) -> RowLists | None:
    """The warning list's columns (a :class:`~monitor.reports.model.WarningList` whose rows are not made yet), or None
    (its rows are plain: read them)."""
    lists = private(wl, "_lists") if unset(wl, "rows") else None
    return lists if isinstance(lists, RowLists) else None


def _rows_adapter() -> TypeAdapter[Any]:
    from monitor.reports.model import WarningRow
    return TypeAdapter(list[WarningRow])


_ROWS = _rows_adapter()
