"""The cyclic garbage collector held off while a batch builds millions of small, long-lived objects."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["no_gc"]


@contextmanager
def no_gc() -> Iterator[None]:
    """Millions of small long-lived objects and no cycles: the cyclic collector would only rescan them
    (each of its passes walks every tracked object, so a batch of n objects costs O(n^2) without this).
    Also a decorator (``@no_gc()``); nests."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            _settle()
            gc.enable()


def _settle() -> None:
    """Move what the batch made to the oldest generation before the collector resumes (``gc.freeze`` then
    ``gc.unfreeze``, two list splices): left in the youngest, the first pass after :func:`gc.enable` would
    walk all of it (a million-borrower report: about a second), only to find it alive. Not when something
    is frozen already (a server's heap, :mod:`monitor.agents.heap`): unfreezing would undo that."""
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()
