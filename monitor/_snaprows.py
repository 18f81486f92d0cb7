"""The writing side of the snapshots' helpers (monitor.snapshots.SnapshotPart): which pending records are rows."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["changed_rows"]


def changed_rows(dyn: NDArray[np.int64], bidx: NDArray[np.int32], last: NDArray[np.int64],
                 written: NDArray[np.bool_], static: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Which of the pending records (``dyn``: one row each, the DYNAMIC values then the number of the static row,
    in the order written; ``bidx``: their borrowers) differ from the borrower's previous record: the pending one
    just before, else the last written (``last``, the same form, of the borrowers with ``written``). A borrower's
    first record is always a row. Records are compared whole, as int64 rows; two records whose dynamic values are
    equal and whose static rows differ in number are compared by the static rows' values (``static``)."""
    n = len(bidx)
    order = np.argsort(bidx, kind="stable")
    ob = bidx[order]
    first = np.ones(n, dtype=np.bool_)
    first[1:] = ob[1:] != ob[:-1]
    od = dyn[order]
    prev = np.empty_like(od)
    prev[1:] = od[:-1]
    prev[first] = last[ob[first]]
    diff = od != prev
    changed = diff[:, :-1].any(axis=1)
    changed |= first & ~written[ob]
    same = np.flatnonzero(~changed & diff[:, -1])  # another static row: by its values
    if same.size:
        changed[same] = (static[od[same, -1]] != static[prev[same, -1]]).any(axis=1)
    keep = np.empty(n, dtype=np.bool_)
    keep[order] = changed
    return keep
