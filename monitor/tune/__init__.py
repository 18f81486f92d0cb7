"""``monitor tune``: search the policy parameters for the policy that flags the most defaults early
within a visit budget and an alert budget.

    monitor tune EVENTS... --outcomes FILE --space SPACE.toml --budget visits=0.7x --budget alerts=1.0
                 --out DIR [--teams TEAMS.toml] [--require precision>=0.3] [--seed N] [--candidates N]
                 [--jobs N] [--holdout EVENTS2 --holdout-outcomes FILE2]

The search space names policy keys and their choices (``monitor.tune._space``).
Every candidate is a complete policy (the base policy with the chosen
values), run over the portfolio with the backtest's own loop (the engine,
the visits it asks for) and scored with the backtest's definitions: the
objective is the headline detection at 90 days (warning+ at least 90 days
before the default and still flagged at it), the price is the visits per
borrower-year (or, with ``--teams`` and ``--budget late=S``, the share of
visits the teams' capacity cannot make by their due dates) and the alerts
per borrower-year. How candidates are drawn, which is chosen and what the
frontier is: ``monitor.tune._search``.

The portfolio is split by borrower and read once into ``--jobs`` worker
processes that keep it in memory; each round sends them the candidates.
The same inputs and seed give the same candidates, figures and files, byte
for byte, whatever ``--jobs``.

Outputs in DIR: ``policy.toml`` (the chosen policy: the base file with its
comments, the chosen values and a new version, under a provenance header:
search space, SHA-256 of every input, constraints, figures, holdout
figures), ``tune.json`` (everything), ``candidates.jsonl`` (each candidate's
values and figures) and ``frontier.csv``. With ``--holdout`` the base and
the chosen policy are scored on a second portfolio the search never saw.
"""

from __future__ import annotations

from monitor.tune._run import TuneResult, run_tune
from monitor.tune._search import METRICS, parse_constraint
from monitor.tune._space import load_space
from monitor.tune._write import write_outputs

__all__ = ["METRICS", "TuneResult", "load_space", "parse_constraint", "run_tune", "write_outputs"]
