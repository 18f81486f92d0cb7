"""Data health against each feed's own cadence, and data-quality items per borrower.

Each feed is judged against its expected cadence (configuration, defaults
below): loan profiles arrive in a monthly batch, bureau reports every two
weeks, overdue events daily; rating changes, lawsuit notices and inspections
come when something happens and have no cadence. A feed is late when its newest
event is older than its cadence plus grace at the as-of instant.

Per borrower (at the end of the period): no bureau report at all
(``bureau_missing``, once the borrower has been monitored for longer than the
bureau limit), the latest bureau report older than the limit
(``bureau_stale``), the latest loan profile older than its limit
(``profile_stale``), and no name in the profile (``name_missing``).

A configuration file (``monitor report --feeds FILE``, TOML or JSON) gives, per
feed, ``every_days`` and ``grace_days`` (both absent: event-driven) and, for
loan_profile and bureau_report, ``borrower_max_days``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from monitor._errors import InputError
from monitor.config import parse, read_document
from monitor.reports.model import DataQuality, QualityRow

__all__ = ["FEED_DEFAULTS", "FeedConfig", "QUALITY_ITEMS", "Quality", "feed_status", "load_feeds", "quality"]

DAY = 86_400_000_000
NONE = np.iinfo(np.int64).min
QUALITY_ITEMS = ("bureau_missing", "bureau_stale", "profile_stale", "name_missing")
Days = Annotated[float, Field(gt=0, le=3660, allow_inf_nan=False)]


class FeedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    every_days: Days | None = None
    grace_days: Annotated[float, Field(ge=0, le=3660, allow_inf_nan=False)] = 0.0
    borrower_max_days: Annotated[int, Field(gt=0, le=3660)] | None = None

    @property
    def expected_days(self) -> float | None:
        return None if self.every_days is None else self.every_days + self.grace_days


_FEEDS: TypeAdapter[dict[str, FeedConfig]] = TypeAdapter(dict[str, FeedConfig])

FEED_DEFAULTS: dict[str, FeedConfig] = {
    "loan_profile": FeedConfig(every_days=31, grace_days=4, borrower_max_days=35),
    "rating_change": FeedConfig(),
    "lawsuit": FeedConfig(),
    "bureau_report": FeedConfig(every_days=14, grace_days=3, borrower_max_days=35),
    "overdue": FeedConfig(every_days=1, grace_days=1),
    "inspection_completed": FeedConfig(),
}


def load_feeds(path: str | Path | None) -> dict[str, FeedConfig]:
    """The feeds' cadences: the defaults, with the file's feeds replacing theirs."""
    if path is None:
        return dict(FEED_DEFAULTS)
    p = Path(path)
    data = read_document(p, error=InputError)  # the one loader of configuration files (monitor.config)
    if not isinstance(data, dict):
        raise InputError(f"{p}: expected a table of feeds")
    out = dict(FEED_DEFAULTS)
    for feed in data:
        if feed not in FEED_DEFAULTS:
            raise InputError(f"{p}: unknown feed {feed!r} (one of {', '.join(FEED_DEFAULTS)})")
    out.update(parse(data, _FEEDS.validate_python, str(p), error=InputError))
    return out


def feed_status(conf: FeedConfig, newest: int | None, as_of: int) -> str:
    if conf.expected_days is None:
        return "event_driven"
    if newest is None:
        return "no_data"
    return "late" if as_of - newest > conf.expected_days * DAY else "ok"


class Quality:
    """The data-quality items of every borrower at the end (bit ``i`` = ``QUALITY_ITEMS[i]``)."""

    def __init__(self, present: NDArray[np.bool_], first_profile: NDArray[np.int64],
                 last_profile: NDArray[np.int64], last_bureau: NDArray[np.int64], name: NDArray[np.int32],
                 name_texts: list[str], at: int, feeds: dict[str, FeedConfig]) -> None:
        b_max = feeds["bureau_report"].borrower_max_days or 35
        p_max = feeds["loan_profile"].borrower_max_days or 35
        self.bureau_max_days, self.profile_max_days = b_max, p_max
        blank = np.array([not t.strip() for t in name_texts] + [True], dtype=bool)
        no_name = blank[np.where(name >= 0, name, len(name_texts))]
        has_bureau = last_bureau != NONE
        bits = np.zeros(present.size, dtype=np.int64)
        bits |= (present & ~has_bureau & (at - first_profile > b_max * DAY)).astype(np.int64) << 0
        bits |= (present & has_bureau & (at - last_bureau > b_max * DAY)).astype(np.int64) << 1
        bits |= (present & (at - last_profile > p_max * DAY)).astype(np.int64) << 2
        bits |= (present & no_name).astype(np.int64) << 3
        self.bits = bits

    def items(self, i: int) -> list[str]:
        b = int(self.bits[i])
        return [name for k, name in enumerate(QUALITY_ITEMS) if b >> k & 1]


def quality(q: Quality, cents: NDArray[np.int64], listed: NDArray[np.int64]) -> DataQuality:
    on_list = np.zeros(q.bits.size, dtype=bool)
    on_list[listed] = True
    rows = []
    for k, name in enumerate(QUALITY_ITEMS):
        m = (q.bits >> k & 1).astype(bool)
        rows.append(QualityRow(item=name, borrowers=int(m.sum()), exposure=int(cents[m].sum()) / 100,
                               on_list=int(np.count_nonzero(m & on_list))))
    return DataQuality(bureau_max_days=q.bureau_max_days, profile_max_days=q.profile_max_days, rows=rows)
