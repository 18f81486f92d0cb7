"""Policy backtesting: how early and how accurately a warning policy flags defaults, and what it costs.

    monitor backtest EVENTS... --outcomes OUTCOMES --policy A.toml [--policy B.toml ...] --out DIR
                     [--as-of INSTANT] [--jobs N] [--shards N]

Each policy replays the same events through ``monitor.replay.replay`` (the
engine of ``monitor replay``, not a second implementation) and is scored
against the outcomes. Results: a comparison in the terminal,
``DIR/backtest.json`` and a self-contained ``DIR/backtest.html`` (inline CSS
and SVG: detection against lead time, visits against detection). The same
input gives byte-identical files: sorted, rounded, no timestamps of the run,
independent of ``--jobs`` and ``--shards``.

Outcomes (JSON Lines, one line per defaulted borrower; the simulator writes
them beside its events as ``<name>.outcomes.jsonl``, a bank supplies its own)::

    {"borrower_id": "B000123", "defaulted_at": "2025-06-01T02:13:20+08:00", "reason": "dpd90"}

``defaulted_at`` needs a UTC offset; ``reason`` is a short label (``dpd90``
or ``grade_d`` from the simulator); no other fields; one line per borrower at
most; blank lines are ignored. A bad line stops the run with exit status 2
naming the file and line.

Definitions: see ``monitor.backtest._score`` (and ``DEFINITIONS`` in the
report). In short: each borrower's events go through the engine
(``monitor.backtest._loop``), the inspection teams visit whenever the engine
asks (the recorded inspections supply findings only), and every figure is
read from the engine's alerts, state and views. The headline detection at h
days is "flagged at least h days before the default and still flagged at
it"; the first flag ever is a secondary column; flags starting in the warm-up
at the start of the history are censored (left out of lead times); base
rate, lift, precision and false-positive rate (12 months of follow-up),
visits per borrower-year against a visit every 90 days, with a teams file the
share of visits the teams' capacity cannot make on time; month-end tier
shares; stability.

Speed and memory
    Borrowers are independent in the engine, so the input is split by
    borrower into parts (one per ~48 MB of JSONL, at least one per process;
    ``--shards``), each read once and run under every policy in turn
    (``monitor.backtest._pool``): the same figures as one part, with bounded
    memory per process. ``monitor tune`` keeps the parts in memory across its
    rounds.
"""

from __future__ import annotations

from monitor.backtest._outcomes import DefaultOutcome, load_outcomes
from monitor.backtest._pool import PartPool
from monitor.backtest._run import Backtest, merge, no_gc, prepare, run_backtest, score_runs
from monitor.backtest._worker import PolicySource

# Backtest, run_backtest, load_outcomes: the backtest; PartPool, PolicySource, prepare, score_runs, merge,
# no_gc: the loop monitor tune runs its rounds of policies with (the same code, not a copy)
__all__ = ["Backtest", "DefaultOutcome", "PartPool", "PolicySource", "load_outcomes", "merge", "no_gc", "prepare",
           "run_backtest", "score_runs"]
