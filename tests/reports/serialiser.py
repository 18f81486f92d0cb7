"""The warning list's rows as the model's own serialiser writes them, from the columns (the referee of
:class:`monitor.reports._jsonrows.Rows`, which makes the same bytes without pydantic): pydantic's ``dump_json`` of
the rows with empty lists of signals, each ``"signals":[]`` then replaced by the list's text as the replay wrote it.
Test code only: tests/reports/test_rowlists.py holds it to the plain rows' JSON, test_jsonrows.py holds ``Rows`` to it.
"""

from __future__ import annotations

from typing import Any

from monitor.reports._rowlists import _ROWS, RowLists

_SPLICE = b'"signals":[]'  # each row's two lists, serialised empty (a quote in a text is escaped: only a key)


def serialiser_json(lists: RowLists, lo: int, hi: int) -> bytes:
    """The JSON of rows ``lo`` to ``hi``, comma-separated (no brackets)."""
    hi = min(hi, lists.n)
    if hi <= lo:
        return b""
    empty: list[Any] = []
    made = _ROWS.dump_json(lists._rows(lo, hi, [empty] * (hi - lo), [empty] * (hi - lo)))
    parts = made[1:-1].split(_SPLICE)
    assert len(parts) == 2 * (hi - lo) + 1, "the mark is a key only"
    then = lists.then.texts[lo:hi]
    now = then if lists.now is None else lists.now.texts[lo:hi]
    out = [parts[0]]
    for k in range(hi - lo):
        out += (b'"signals":', now[k], parts[2 * k + 1], b'"signals":', then[k], parts[2 * k + 2])
    return b"".join(out)
