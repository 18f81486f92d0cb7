"""The worker's heap keeper (monitor/agents/heap.py) on the real collector: frozen at each tick, and a
cycle that died while frozen is still freed by the periodic full pass."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from monitor.agents.heap import HeapKeeper


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle() -> weakref.ref[_Node]:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the test run keeps the collector as it was


def test_first_tick_is_a_full_pass_then_ticks_freeze() -> None:
    now = [100.0]
    keeper = HeapKeeper(full_every=60.0, clock=lambda: now[0])
    keeper.tick()
    assert keeper.full_passes == 1 and keeper.full_at == 100.0
    assert gc.get_freeze_count() > 0
    kept = [_Node() for _ in range(1000)]  # new objects, tracked by the collector
    before = gc.get_freeze_count()
    now[0] = 130.0
    keeper.tick()
    assert keeper.full_passes == 1  # not due yet
    assert gc.get_freeze_count() >= before + len(kept)


def test_a_cycle_that_died_frozen_waits_for_the_full_pass() -> None:
    now = [0.0]
    keeper = HeapKeeper(full_every=3600.0, clock=lambda: now[0])
    keeper.tick()
    ref = _cycle()
    assert ref() is not None  # a cycle is never freed by reference counting alone
    now[0] = 1.0
    keeper.tick()  # frozen while garbage: an ordinary collection cannot see it
    gc.collect()
    assert ref() is not None
    now[0] = 3600.0
    keeper.tick()  # the full pass
    assert ref() is None
    assert keeper.full_passes == 2 and keeper.collected >= 2


def test_young_cycles_are_still_collected_between_ticks() -> None:
    keeper = HeapKeeper(full_every=3600.0, clock=lambda: 0.0)
    keeper.tick()
    ref = _cycle()
    gc.collect(1)  # the automatic young collections run between ticks as before
    assert ref() is None


def test_full_every_must_be_positive() -> None:
    with pytest.raises(ValueError, match="full_every must be positive"):
        HeapKeeper(full_every=0)
