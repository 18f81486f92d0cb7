"""The signals of a day-end fold's borrowers at a day's end (``snapshots/signals.jsonl``), judged ahead.

``monitor replay --as-of`` writes the engine's signals (``engine.signals``) of every borrower at watch or above at
the as-of instant. The fold (:class:`monitor.day_ends.DayEnds`) keeps each borrower's states of its last days
(the rows of watch+ borrowers carry them), so it can judge them at any kept day's end: :func:`judged`. At a
million borrowers that is ~140,000 states loaded and judged (~30 s): the desk's fold judges them ahead
(:func:`prepare`, when a month's last day begins: :class:`monitor.desk.report_fold.ReportFold`), and a report as
of that day judges again only the borrowers with rows read since (``DayEnds._dirty``: their kept states changed).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from monitor.day_ends import _ENCODE

__all__ = ["judged", "prepare"]

Judged = tuple[str, bytes, list[str]]  # the borrower, its signals' line, their rules (sorted)


def judged(fold: Any, until: int, engine: Any) -> list[Judged]:
    """``snapshots/signals.jsonl``'s lines at the end of the day ``until``, with the borrower and the rules of
    each, by borrower: of every borrower at watch or above, from the state its last row up to that day
    carried. The borrowers judged for the same instant by :func:`prepare` are judged again only when a row of
    theirs was read since.

    Raises ``ValueError`` when a borrower has rows of two days after ``until`` (its state then is no longer
    kept: read the rows up to the cut's next day only)."""
    t = fold.days.start(until + 1) - 1
    ready = fold._judged.get(t)
    lines = dict(ready) if ready is not None else {}
    for b, v in _judge(fold, fold._states.keys() if ready is None else fold._dirty, until, engine).items():
        if v is None:
            lines.pop(b, None)
        else:
            lines[b] = v
    who = np.fromiter(lines, dtype=np.int64, count=len(lines))
    order = who[np.argsort(fold._rank()[who], kind="stable")]
    return [lines[b] for b in order.tolist()]


def prepare(fold: Any, until: int, engine: Any) -> None:
    """Judge every borrower's signals at the end of the day ``until`` now, ahead of a report as of that day:
    :func:`judged` then judges only the borrowers with rows read since (``add`` marks them). A borrower whose
    state then is not kept is left to :func:`judged` (which refuses it)."""
    t = fold.days.start(until + 1) - 1
    got = _judge(fold, fold._states.keys(), until, engine, strict=False)
    fold._judged = {t: {b: v for b, v in got.items() if v is not None}}
    fold._dirty = set(fold._states.keys() - got.keys())


def _judge(fold: Any, who: Iterable[int], until: int, engine: Any, strict: bool = True) -> dict[int, Judged | None]:
    """Per borrower (arrival index) of ``who``: its id, signals' line and rules at the end of the day ``until``
    (None: below watch, or not known then); ``ValueError`` when its state then is no longer kept (with
    ``strict``; else it is left out)."""
    from monitor.state import load_state  # the worker's own form of a state

    t = fold.days.start(until + 1) - 1
    out: dict[int, Judged | None] = {}
    states, seen = fold._states, fold._seen
    names = list(fold._ids)  # by arrival index
    for b in who:
        held = None
        for day, state in states.get(b, ()):  # the kept states, in day order
            if day <= until:
                held = (state,)
        bid = names[b]
        if held is None:
            first = seen.get(b)
            if first is not None and first <= t:  # its first event is on the day or before
                if strict:
                    raise ValueError(f"{bid}: its state at the end of day {until} is no longer kept")
                continue
            out[b] = None
            continue
        blob = held[0]
        if blob is None:
            out[b] = None
            continue
        sigs = engine.signals(load_state(blob), t)
        line = _ENCODE({"borrower_id": bid, "signals": [s.model_dump(mode="json") for s in sigs]}).encode()
        out[b] = (bid, line, sorted(s.rule for s in sigs))
    return out
