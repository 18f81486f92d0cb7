"""The worker's heap and Python's cyclic garbage collector: young objects collected, old ones frozen.

A worker keeps hundreds of thousands of long-lived objects (Faust and aiokafka, the engine's policy,
up to 50,000 cached borrower states) and, on the wall clock, replaces cached states all the time.
With the collector's defaults every full (generation 2) collection walks all of them: measured with
``bench/worker_bench.py`` (e), at 2,000 events/s a full collection every 2 to 5 s took 200 to 500 ms
each, which made the p99 event-to-alert latency (and a good part of the worker's CPU).

So the worker freezes its heap (:func:`gc.freeze`, which moves every tracked object to the
permanent generation in constant time) at every timer tick: the young collections (generations 0
and 1, automatic as before) still free the cycles made within a tick (most are: a failed future, an
exception and its traceback), and a full collection walks only what survived since the last tick.
Reference counting frees frozen objects as before; only a cycle whose objects were frozen alive and
became garbage later waits for the periodic **full pass** (every ``full_every`` seconds, default one
hour, and once after the table's recovery): unfreeze, collect everything, freeze again. That pass is
the one long pause left (about the old full collection's length), once an hour instead of every few
seconds.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

__all__ = ["FULL_EVERY", "HeapKeeper"]

FULL_EVERY = 3600.0  # seconds between full passes


class HeapKeeper:
    """Freeze the heap at each :meth:`tick`; a full pass at the first tick and every ``full_every`` s."""

    def __init__(self, full_every: float = FULL_EVERY, clock: Callable[[], float] = time.monotonic) -> None:
        if full_every <= 0:
            raise ValueError(f"full_every must be positive, got {full_every!r}")
        self.full_every = full_every
        self.clock = clock
        self.full_at: float | None = None  # when the last full pass ran
        self.full_passes = 0
        self.collected = 0  # unreachable objects the full passes found

    def tick(self) -> None:
        now = self.clock()
        if self.full_at is None or now - self.full_at >= self.full_every:
            self.full(now)
        else:
            gc.freeze()

    def full(self, now: float | None = None) -> int:
        """Collect everything, frozen objects included, then freeze what is left; the objects found."""
        gc.unfreeze()
        found = gc.collect()
        gc.freeze()
        self.full_at = self.clock() if now is None else now
        self.full_passes += 1
        self.collected += found
        return found
