"""``monitor tune``: the command."""

from __future__ import annotations

import sys
from pathlib import Path

import click

__all__ = ["tune"]


@click.command()
@click.argument("events", nargs=-1, required=True)
@click.option("--outcomes", required=True, type=str, help="Defaults of the portfolio (the backtest's format)")
@click.option("--space", "space_file", required=True, type=str, help="Search-space file (TOML)")
@click.option("--budget", "budgets", multiple=True,
              help="visits=N (per borrower-year), visits=Nx (times a visit every 90 days), alerts=N "
                   "(per borrower-year), late=S (share of visits late; needs --teams); repeat")
@click.option("--require", "requires", multiple=True,
              help="Another constraint, METRIC>=X or METRIC<=X (e.g. precision>=0.3, watch_share<=0.15); repeat")
@click.option("--teams", type=str, default=None, help="Teams file (deploy/teams.example.toml format)")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for policy.toml, tune.json, candidates.jsonl, frontier.csv")
@click.option("--seed", type=click.IntRange(0, None), default=None, help="Overrides the space file's seed")
@click.option("--candidates", type=click.IntRange(1, 100_000), default=None,
              help="Overrides the space file's number of candidates")
@click.option("--jobs", type=click.IntRange(1, 512), default=None, help="Worker processes (default: CPUs)")
@click.option("--holdout", "holdout", multiple=True, help="Events of a second portfolio to score the choice on")
@click.option("--holdout-outcomes", "holdout_outcomes", type=str, default=None, help="Its defaults")
def tune(events: tuple[str, ...], outcomes: str, space_file: str, budgets: tuple[str, ...],
         requires: tuple[str, ...], teams: str | None, out: Path, seed: int | None, candidates: int | None,
         jobs: int | None, holdout: tuple[str, ...], holdout_outcomes: str | None) -> None:
    """Search the policy parameters named in --space for the policy that flags the most
    defaults at least 90 days before (and still at the default) within the --budget.

    \b
    Every candidate is run over EVENTS with the backtest's loop and scored
    with its definitions. Prints the Pareto frontier (detection at 90 days
    against visits per borrower-year) and the chosen policy; writes
    OUT/policy.toml (with a provenance header and a new version),
    OUT/tune.json, OUT/candidates.jsonl and OUT/frontier.csv. The same
    inputs and seed give the same files, whatever --jobs.
    """
    from monitor._errors import InputError
    from monitor.tune import load_space, parse_constraint, run_tune, write_outputs
    from monitor.tune._write import render_summary

    if bool(holdout) != (holdout_outcomes is not None):
        raise InputError("--holdout and --holdout-outcomes go together")
    constraints = [parse_constraint(b, budget=True) for b in budgets]
    constraints += [parse_constraint(r, budget=False) for r in requires]
    space = load_space(space_file, seed=seed, candidates=candidates)

    def note(msg: str) -> None:
        click.echo(msg, err=True)

    result = run_tune(list(events), outcomes, space, constraints, teams=teams, jobs=jobs,
                      holdout=(list(holdout), holdout_outcomes) if holdout and holdout_outcomes else None,
                      note=note if sys.stderr.isatty() else None)
    paths = write_outputs(result, out)
    click.echo(render_summary(result))
    click.echo("")
    click.echo(f"{len(result.candidates)} candidates on {result.jobs} process(es) in {result.seconds:.1f} s")
    for p in paths:
        click.echo(f"wrote {p}")
