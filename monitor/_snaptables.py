"""The reading side of the snapshots' helpers (monitor.snapshots.SnapshotLog): the parts' code tables merged, and a
record's columns read on demand."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["OnDemand", "merged_codes"]


def merged_codes(tables: list[list[str]]) -> tuple[list[str], list[NDArray[np.int32]]]:
    """The texts of the parts' code tables, sorted and once each, and for each part its codes in that table (with
    -1 for -1 last). By numpy's sort of its fixed-width text (code point order, as ``sorted``), unless a text ends
    with NUL (numpy's text drops those: then by ``sorted`` and a dictionary)."""
    flat = [t for table in tables for t in table]
    if not flat or any(t.endswith("\x00") for t in flat):
        merged = sorted(set(flat))
        index = {t: i for i, t in enumerate(merged)}
        return merged, [np.array([index[t] for t in table] + [-1], dtype=np.int32) for table in tables]
    values, inverse = np.unique(np.array(flat, dtype=str), return_inverse=True)
    inverse = inverse.reshape(-1).astype(np.int32)
    bounds = np.cumsum([0, *(len(table) for table in tables)]).tolist()
    return values.tolist(), [np.append(inverse[lo:hi], np.int32(-1)) for lo, hi in zip(bounds[:-1], bounds[1:])]


class OnDemand(dict):  # type: ignore[type-arg]
    """A record's columns: those read, and any other column of the log read (and kept) when first looked up."""

    def __init__(self, log: Any, day: int, cols: dict[str, NDArray[Any]]) -> None:
        super().__init__(cols)
        self._log, self._day = log, day

    def __missing__(self, name: str) -> NDArray[Any]:
        if name not in self._log._dtypes:
            raise KeyError(name)
        values = self._log.at(self._day, [name]).cols[name]
        return self.setdefault(name, values)
