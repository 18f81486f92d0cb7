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
            gc.enable()
