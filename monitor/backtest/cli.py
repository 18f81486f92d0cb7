"""``monitor backtest``: replay history under one or more policies and score them against defaults."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from monitor.cli import parse_as_of as _as_of

__all__ = ["backtest"]


@click.command()
@click.argument("events", nargs=-1, required=True)
@click.option("--outcomes", required=True, type=str,
              help="Defaults, JSONL: {borrower_id, defaulted_at (ISO 8601 with offset), reason} per line")
@click.option("--policy", "policies", multiple=True, type=str,
              help="Policy file (TOML or JSON); repeat to compare. Default: the shipped policy")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for backtest.json and backtest.html")
@click.option("--as-of", "as_of", type=str, default=None,
              help="Replay up to this instant (ISO 8601 with offset); default: the latest event")
@click.option("--jobs", type=click.IntRange(1, 512), default=None,
              help="Worker processes; default: min(replays, CPUs)")
@click.option("--shards", type=click.IntRange(1, 4096), default=None,
              help="Run the borrowers in this many parts (default: one per ~48 MB of events, at least --jobs); "
                   "the results do not depend on it")
@click.option("--teams", type=str, default=None,
              help="Teams file (deploy/teams.example.toml format): also the share of visits the teams' capacity "
                   "cannot make by their due dates")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
              help="Language of backtest.html")
@click.option("--warm-up-days", "warm_up_days", type=click.IntRange(0, 3650), default=31, show_default=True,
              help="Flags raised this soon after the history starts may have begun before it: censored")
def backtest(events: tuple[str, ...], outcomes: str, policies: tuple[str, ...], out: Path, as_of: str | None,
             jobs: int | None, shards: int | None, teams: str | None, lang: str, warm_up_days: int) -> None:
    """Replay EVENTS under each --policy and score it against the --outcomes.

    \b
    OUTCOMES is JSON Lines, one line per defaulted borrower (as written by
    `monitor simulate` beside its events; a bank supplies its own):
      {"borrower_id": "B000123", "defaulted_at": "2025-06-01T02:13:20+08:00", "reason": "dpd90"}
    defaulted_at needs a UTC offset; reason is a short label (dpd90, grade_d,
    or the bank's own); at most one line per borrower; blank lines are
    ignored. A bad line stops the run (exit 2) naming the line.

    \b
    Each borrower's events go through the engine; the inspection teams visit
    whenever the engine asks (the recorded inspections supply the findings
    only). Per policy: detection (defaults flagged warning+ / watch+ at least
    30, 90, 180 days before the default and still flagged at it; the first
    flag ever as a secondary figure), lead time (censored flags left out),
    base rate and lift, precision and false-positive rate (12 months of
    follow-up), workload (visits per borrower-year, per team and tier against
    a visit every 90 days; with --teams the share the teams cannot make on
    time), month-end tier shares, stability, and per-rule figures. Only flags
    strictly before the default count. Writes OUT/backtest.json and
    OUT/backtest.html (self-contained, --lang); the same input gives
    byte-identical files, whatever --jobs and --shards.
    """
    from monitor.backtest._html import render_html
    from monitor.backtest._report import render_table, write_json
    from monitor.backtest._run import run_backtest

    def note(msg: str) -> None:
        click.echo(msg, err=True)

    bt = run_backtest(list(events), outcomes, list(policies), as_of=_as_of(as_of), jobs=jobs, shards=shards,
                      teams=teams, warm_up_days=warm_up_days, note=note if sys.stderr.isatty() else None)
    out.mkdir(parents=True, exist_ok=True)
    write_json(bt.report, out / "backtest.json")
    (out / "backtest.html").write_text(render_html(bt.report, lang), encoding="utf-8", newline="\n")  # type: ignore[arg-type]
    click.echo(render_table(bt.report))
    click.echo("")
    timings = ", ".join(f"{label} {sec:.1f} s" for label, sec in bt.task_seconds.items())
    click.echo(f"runs: {timings} (over {bt.parts} part(s) on {bt.jobs} process(es)); "
               f"wall {bt.wall_seconds:.1f} s")
    click.echo(f"outputs          {out / 'backtest.json'}\n                 {out / 'backtest.html'}")
