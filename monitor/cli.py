"""The command line: ``monitor replay | simulate | calibration | demo | schema | policy check``.

A thin shell: it parses arguments, calls the core and prints. Usage and policy
errors exit 2 with one line on stderr, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from monitor._errors import MonitorError
from monitor._time import parse_instant
from monitor.rules.loader import DEFAULT_POLICY_PATH, default_policy, load_policy
from monitor.rules.policy import Policy

__all__ = ["main", "cli"]


def _policy(path: str | None) -> Policy:
    return load_policy(path) if path else default_policy()


def _future_skew() -> int:
    """MONITOR_FUTURE_SKEW (seconds), the setting the worker shares: how far ahead an event may be dated."""
    import os

    text = os.environ.get("MONITOR_FUTURE_SKEW", "86400")
    try:
        seconds = float(text)
    except ValueError:
        raise click.BadParameter(f"MONITOR_FUTURE_SKEW: not a number of seconds: {text!r}") from None
    if not 0 <= seconds <= 366 * 86_400:
        raise click.BadParameter("MONITOR_FUTURE_SKEW: must be between 0 and 366 days")
    return round(seconds * 1_000_000)


def parse_as_of(text: str | None) -> int | None:
    """An ``--as-of`` option's value as an instant (usage error when it is not one)."""
    if text is None:
        return None
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--as-of") from None


# Commands that live with their feature, imported only when used: name -> (module, attribute).
_FEATURE_COMMANDS = {
    "worker": ("monitor.agents.cli", "worker"),
    "topics": ("monitor.agents.cli", "topics"),
    "produce": ("monitor.agents.cli", "produce"),
    "export": ("monitor.export", "export_command"),
    "report": ("monitor.reports.cli", "report"),
    "backtest": ("monitor.backtest.cli", "backtest"),
    "tune": ("monitor.tune.cli", "tune"),
    "serve": ("monitor.desk.cli", "serve"),
    "users": ("monitor.desk.cli", "users"),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_FEATURE_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in _FEATURE_COMMANDS:
            return found
        import importlib

        module, attr = _FEATURE_COMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="monitor")
def cli() -> None:
    """Post-loan early-warning monitor: tiered warnings and on-site inspection schedules."""


def print_summary(result: Any, out: Path | None) -> None:
    from monitor.rules.policy import LEVEL_NAMES

    s = result.summary()
    ev = s["events"]
    eps = result.read / result.elapsed if result.elapsed > 0 else 0.0
    lines = [
        f"as of            {s['as_of']}",
        f"events read      {ev['read']:>10,}",
        f"  applied        {ev['applied']:>10,}",
        f"  duplicate      {ev['duplicate']:>10,}",
        f"  rejected       {ev['rejected']:>10,}",
        f"  after as-of    {ev['after_as_of']:>10,}",
        f"borrowers        {s['borrowers']['total']:>10,}",
    ]
    for name in (*LEVEL_NAMES, "no_profile"):
        lines.append(f"  {name:<14} {s['borrowers']['by_tier'][name]:>10,}")
    lines.append(f"  in workout     {s['borrowers']['workout']:>10,}   (off the routine visit schedule)")
    lines.append(f"alerts           {s['alerts']['total']:>10,}")
    for kind, count in s["alerts"]["by_kind"].items():
        lines.append(f"  {kind:<14} {count:>10,}")
    lines.append(f"elapsed          {result.elapsed:>10.2f} s   ({eps:,.0f} events/s)")
    if out is not None:
        lines.append(f"outputs          {out}/")
    click.echo("\n".join(lines))


@cli.command()
@click.argument("events", nargs=-1, required=True)
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for alerts.jsonl, borrowers.jsonl, schedule.csv, workout.csv, rejects.jsonl")
@click.option("--policy", "policy_path", type=str, default=None, help="Policy file (TOML or JSON)")
@click.option("--as-of", "as_of", type=str, default=None,
              help="Instant to replay up to (ISO 8601 with offset); default: the latest event")
@click.option("--strict", is_flag=True, help="Exit 1 when any line was rejected")
@click.option("--now", "now", type=str, default=None,
              help="The newest trustworthy time (ISO 8601 with offset; default: the wall clock at the start): an "
                   "event dated more than MONITOR_FUTURE_SKEW (default one day) after it is rejected")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Processes, each replaying a share of the borrowers (default: the number of cores)")
@click.option("--shards", type=click.IntRange(1, 4096), default=None,
              help="Parts of the borrowers, each replayed on its own (a process runs its parts one after another; "
                   "memory grows with the borrowers of one part). Default: one part per GiB of input per process")
def replay(events: tuple[str, ...], out: Path, policy_path: str | None, as_of: str | None, strict: bool,
           now: str | None, workers: int | None, shards: int | None) -> None:
    """Replay EVENTS (JSONL files, .gz, or -) through the engine, as known at --as-of.

    Writes alerts, borrowers, the visit schedule and its history, rejects, a summary, and snapshots/
    (every borrower's record at each day's end: what monitor report reads). Memory grows with the
    borrowers, not the events: time-ordered files are merged as streams, others sorted on disk; a large
    input is replayed in parts of the borrowers (--shards)."""
    from monitor._replay_stream import replay_to
    from monitor._time import to_us

    policy = _policy(policy_path)
    if now is None:
        from datetime import UTC, datetime

        trusted = to_us(datetime.now(UTC))
    else:
        try:
            trusted = parse_instant(now)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--now") from None
    import os

    result = replay_to(list(events), policy, out, parse_as_of(as_of), now=trusted, future_skew=_future_skew(),
                       workers=workers or os.cpu_count() or 1, shards=shards)
    print_summary(result, out)
    if strict and result.rejected:
        click.echo(f"{result.rejected} line(s) rejected: see {out / 'rejects.jsonl'}", err=True)
        sys.exit(1)


@cli.command()
@click.option("--borrowers", type=click.IntRange(1, 10_000_000), required=True)
@click.option("--months", type=click.IntRange(1, 240), required=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Events file (.jsonl or .jsonl.gz); the ground truth goes beside it")
@click.option("--duplicates", type=click.FloatRange(0, 0.5), default=0.0, show_default=True,
              help="Share of events sent twice")
@click.option("--malformed", type=click.FloatRange(0, 0.5), default=0.0, show_default=True,
              help="Share of extra malformed lines")
@click.option("--start", type=str, default="2025-01-01", show_default=True, help="First day simulated")
@click.option("--policy", "policy_path", type=str, default=None,
              help="Policy whose due dates the simulated inspections follow (default: the shipped one)")
@click.option("--jobs", type=click.IntRange(1, 64), default=None,
              help="Processes for the engine run (default: 2 from 5,000 borrowers on 2+ cores)")
@click.option("--calibration", is_flag=True,
              help="Then measure the written file's statistics and print them beside their bands")
def simulate(borrowers: int, months: int, seed: int, out: Path, duplicates: float, malformed: float,
             start: str, policy_path: str | None, jobs: int | None, calibration: bool) -> None:
    """Write a synthetic portfolio's events and its ground truth (defaults)."""
    from monitor.simulate import outcomes_path, simulate as run, write_simulation

    pol = _policy(policy_path)
    try:
        result = run(borrowers, months, seed, start=start, duplicates=duplicates, malformed=malformed,
                     policy=pol, jobs=jobs)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    write_simulation(result, out)
    click.echo(f"events     {out}\noutcomes   {outcomes_path(out)}")
    if calibration:
        from monitor.simulate import calibration_table, measure_calibration

        click.echo("")
        click.echo(calibration_table(measure_calibration([out], pol, start=start, months=months)))


@cli.command()
@click.argument("events", nargs=-1, required=True)
@click.option("--policy", "policy_path", type=str, default=None,
              help="Policy for the inspections' due dates (default: the shipped one)")
@click.option("--start", type=str, default=None, help="First day of the horizon (default: the first event's)")
@click.option("--months", type=click.IntRange(1, 240), default=None,
              help="Months in the horizon (default: up to the month boundary after the last event)")
def calibration(events: tuple[str, ...], policy_path: str | None, start: str | None, months: int | None) -> None:
    """Measure a portfolio's statistics from its EVENTS and print them beside public bands.

    Exits 1 when a statistic falls outside its band.
    """
    from monitor.simulate import calibration_table, measure_calibration

    if start is not None:
        from datetime import date

        try:
            date.fromisoformat(start)
        except ValueError:
            raise click.BadParameter(f"not a date YYYY-MM-DD: {start!r}", param_hint="--start") from None
    measured = measure_calibration(list(events), _policy(policy_path), start=start, months=months)
    click.echo(calibration_table(measured))
    if not all(m.ok for m in measured):
        sys.exit(1)


@cli.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--borrowers", type=click.IntRange(1, 1_000_000), default=2000, show_default=True)
@click.option("--months", type=click.IntRange(1, 120), default=24, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
def demo(directory: Path | None, borrowers: int, months: int, seed: int) -> None:
    """Simulate a portfolio, replay it and show where the outputs are. Needs no server."""
    from monitor.replay import replay as run, write_outputs
    from monitor.simulate import outcomes_path, simulate as sim, write_simulation

    directory = directory or Path("demo-out")
    directory.mkdir(parents=True, exist_ok=True)
    events = directory / "events.jsonl"
    click.echo(f"simulating {borrowers:,} borrowers over {months} months (seed {seed}) ...")
    write_simulation(sim(borrowers, months, seed, duplicates=0.002, malformed=0.001), events)
    out = directory / "replay"
    result = run([events], default_policy(), snapshots=out / "snapshots")
    write_outputs(result, out)
    print_summary(result, out)
    click.echo(f"events           {events}\nground truth     {outcomes_path(events)}")
    for name in ("alerts.jsonl", "borrowers.jsonl", "schedule.csv", "workout.csv", "rejects.jsonl",
                 "summary.json"):
        click.echo(f"  {out / name}")
    from monitor.reports import build_report, write_report

    paths = write_report(build_report(out, [events], period="month"), directory / "reports")
    click.echo("monthly report")
    for path in paths:
        click.echo(f"  {path}")


@cli.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file instead of standard output")
def schema(out: Path | None) -> None:
    """Print the JSON Schema of the events and outputs (generated from the models)."""
    from monitor.schema import schema_json

    text = schema_json()
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")


@cli.group()
def policy() -> None:
    """Validate and show warning policies."""


@policy.command("check")
@click.argument("file", required=False)
def policy_check(file: str | None) -> None:
    """Validate FILE (default: the shipped policy) and print what it defines."""
    pol = _policy(file)
    v = pol.visits
    click.echo(f"policy {pol.version}  ({file or DEFAULT_POLICY_PATH})  OK")
    cure = pol.cure_days
    click.echo(f"time zone {pol.timezone}; cure period watch {cure.watch} / warning {cure.warning} / severe "
               f"{cure.severe} days; duplicates within {pol.duplicate_window_days} days")
    click.echo("rules:")
    for row in pol.rule_table():
        state = "" if row["enabled"] else "  [disabled]"
        params = ", ".join(f"{k}={v}" for k, v in row["params"].items())
        click.echo(f"  {row['rule']:<26} {str(row['level']):<34} {params}{state}")
    c = pol.classification
    click.echo(f"classification floors (DPD >=): special_mention {c.special_mention}, substandard "
               f"{c.substandard}, doubtful {c.doubtful}, loss {c.loss}")
    base = ", ".join(f"{g} {d}" for g, d in v.base_days.items())
    mit = ", ".join(f"{m.value} x{f}" for m, f in v.mitigation_factor.items())
    r, k = v.response_days, v.cadence_days
    click.echo(f"visits: first after {v.first_visit_days} days; base days {base}; mitigation {mit}; "
               f"exposure >= {v.large_exposure:,.0f} x{v.large_exposure_factor}; "
               f"clamp [{v.min_interval_days}, {v.max_interval_days}]")
    click.echo(f"  response within: watch {r.watch} / warning {r.warning} / severe {r.severe} days of a rise; "
               f"cadence at most: watch {k.watch} / warning {k.warning} / severe {k.severe} days")
    if v.workout_enabled:
        grades = ", ".join(v.workout_grades) or "none"
        click.echo(f"  workout: handed over after {v.workout_after_days} days at {v.workout_classification} or "
                   f"worse, or at grade {grades}; off the routine schedule until cured")
    else:
        click.echo("  workout: off (every borrower stays on the routine schedule)")


def main(argv: list[str] | None = None) -> int:
    """Entry point: exit 0 on success, 1 for --strict with rejects, 2 on a usage or policy error."""
    try:
        cli.main(args=argv, prog_name="monitor", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("monitor: aborted", err=True)
        return 2
    except click.UsageError as exc:
        hint = f" (see monitor {exc.ctx.info_name} --help)" if exc.ctx is not None else ""
        click.echo(f"monitor: error: {exc.format_message()}{hint}", err=True)
        return 2
    except click.ClickException as exc:
        click.echo(f"monitor: error: {exc.format_message()}", err=True)
        return 2
    except MonitorError as exc:
        click.echo(f"monitor: error: {exc}", err=True)
        return 2
    except SystemExit as exc:
        return int(exc.code or 0) if isinstance(exc.code, int) else 1
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
