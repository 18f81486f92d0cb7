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

Definitions
    Scope: defaults with ``defaulted_at`` at or before as-of, of borrowers the
    replay applied a profile for (others are counted apart).

    Flag: a borrower is flagged at watch+ (warning+) from the first alert whose
    new effective tier is watch (warning) or above. Only flags strictly before
    ``defaulted_at`` count; scoring never looks past the default instant.
    Per rule R: flagged by R at a level at each alert listing R among its
    signals whose new tier is at or above that level (alerts come at tier
    changes, so a rule that starts to hold while the tier stays put shows at
    the next change).

    Detection within d days (d = 30, 90, 180): the first flag came at least d
    days before the default; rate = count / defaults in scope. Lead time:
    days from the first flag to the default over the flagged defaults;
    median and quartiles by linear interpolation between order statistics.

    False alarms (warning+): only flags raised at or before as-of - 365 days
    (and before the borrower's own default) have a full year of follow-up and
    count. A flagged borrower is a true alarm when it defaulted within 365
    days after an instant at which it was flagged (policy: any instant its
    tier was warning+; rule: an alert listing the rule), else a false alarm.
    Precision = true / flagged. With under 365 days of history the output
    says "not measurable" instead of a number.

    Workload: visits integrated, not simulated. Over each borrower's
    performing time (first profile to its default, or as-of) the time in each
    stretch of constant effective tier, grade, exposure and mitigation is
    divided by ``policy.visits.interval(tier, grade, exposure, mitigation)``.
    Per year = the total over the years of history (first profile in the
    portfolio to as-of). Baseline: every borrower every 90 days over the same
    performing time. Saving = 1 - policy / baseline (negative: more visits
    than the baseline). One-off first checks after disbursement are left out
    of both; after a default the borrower goes to workout and leaves the
    count.

    Stability, over performing time: alerts (tier changes), raises (normal to
    a tier) and flips (a rise after an earlier fall of the same borrower), per
    borrower-year.

Speed and memory
    Borrowers are independent in the engine, so large inputs are split by
    borrower into parts (one per ~48 MB of JSONL, ``--shards``), each replayed
    separately to the same as-of instant: the same alerts as one replay, with
    bounded memory per replay. The replays (policies x parts) run on
    ``--jobs`` processes (spawn); each worker reads its event files and policy
    file itself and returns plain data.
"""

from __future__ import annotations

from monitor.backtest._outcomes import DefaultOutcome, load_outcomes
from monitor.backtest._run import Backtest, run_backtest

__all__ = ["Backtest", "DefaultOutcome", "load_outcomes", "run_backtest"]
