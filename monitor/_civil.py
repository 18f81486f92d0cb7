"""Calendar arithmetic on numpy arrays, shared by the readers that parse instants from text at once (the replay's
split, :func:`monitor.jsonl.plain_instants`; the report's scans, :mod:`monitor.reports._scan`). numpy only: the
report's started readers import it."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["days_from_civil"]


def days_from_civil(y: NDArray[np.int64], m: NDArray[np.int64], d: NDArray[np.int64]) -> NDArray[np.int64]:
    """Days since 1970-01-01 of proleptic Gregorian dates (vectorised)."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return (era * 146097 + doe - 719468).astype(np.int64)
