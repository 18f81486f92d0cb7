"""A log filter that keeps a broker outage from flooding the log.

While the broker is away, aiokafka logs every reconnection attempt, metadata refresh and failed fetch:
about 115 lines a second from one worker (measured), which buries everything else and fills disks.
:class:`FloodFilter` lets the first line of each kind through (kind: the logger and the message
template, before its arguments are filled in), suppresses the repeats for ``interval`` seconds, and
then lets the next one through with how many were suppressed. Only the libraries' loggers are
limited (``aiokafka``, ``kafka``, ``faust``, ``mode``); the monitor's own lines are never held back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

__all__ = ["FloodFilter", "LIMITED", "install", "with_flood_filter"]

#: loggers (and their children) whose repeated lines are limited
LIMITED = ("aiokafka", "kafka", "faust", "mode")
_KINDS = 1000  # kinds remembered at most (the oldest are forgotten first)


class FloodFilter(logging.Filter):
    """At most one line per kind and ``interval`` seconds from the libraries' loggers."""

    def __init__(self, interval: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval = interval
        self.clock = clock
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}  # kind -> (let through at, suppressed since)

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        if name.split(".", 1)[0] not in LIMITED:
            return True
        kind = (name, str(record.msg))
        now = self.clock()
        seen = self._seen.get(kind)
        if seen is not None and now - seen[0] < self.interval:
            self._seen[kind] = (seen[0], seen[1] + 1)
            return False
        if seen is not None and seen[1]:
            record.msg = f"{record.msg} [{seen[1]} more like this in the last {now - seen[0]:.0f} s]"
        self._seen.pop(kind, None)
        if len(self._seen) >= _KINDS:
            self._seen.pop(next(iter(self._seen)))
        self._seen[kind] = (now, 0)
        return True


def install(flood: FloodFilter) -> None:
    """Put ``flood`` on every handler of the root logger (as configured now)."""
    for handler in logging.getLogger().handlers:
        if flood not in handler.filters:
            handler.addFilter(flood)


def with_flood_filter(config: dict[str, Any], flood: FloodFilter) -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` form with ``flood`` on every handler (for Faust's worker,
    which configures logging itself)."""
    out = dict(config)
    out["filters"] = {**config.get("filters", {}), "monitor_flood": {"()": lambda: flood}}
    out["handlers"] = {name: {**h, "filters": [*h.get("filters", []), "monitor_flood"]}
                       for name, h in config.get("handlers", {}).items()}
    return out
