"""``monitor report``: the periodic monitoring report from the outputs of ``monitor replay``."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from monitor.reports._build import build_report
from monitor.reports._i18n import LANGS
from monitor.reports._period import PERIODS
from monitor.reports._write import write_report

__all__ = ["report"]


def _date(ctx: click.Context, param: click.Parameter, value: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(f"not a date (YYYY-MM-DD): {value!r}") from None


@click.command("report")
@click.option("--period", type=click.Choice(PERIODS), required=True,
              help="day; week (the ISO week, Monday to Sunday, holding the as-of date); month (the calendar month)")
@click.option("--as-of", "as_of", required=True, callback=_date, metavar="DATE",
              help="Last day of the period (YYYY-MM-DD in the policy's time zone); the report runs to its end")
@click.option("--replay", "replay_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The --out directory of monitor replay")
@click.option("--events", "events", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="An event file the replay read (repeat for several, in the same order); none: their digests "
                   "as the replay recorded them (its files.json)")
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The replay's policy file (default: the shipped policy)")
@click.option("--lang", type=click.Choice(LANGS), default="zh", show_default=True, help="Language of HTML and CSV")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Directory for the three files")
@click.option("--capacity", "capacity_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="JSON or TOML file: team = visits per working day")
@click.option("--feeds", "feeds_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="TOML or JSON file: each feed's expected cadence (every_days, grace_days, borrower_max_days)")
@click.option("--mask-names", is_flag=True, default=False,
              help="Mask borrower names (张** / 某某公司) for reports that leave the risk department")
@click.option("--cases", "cases_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The desk's cases (case_owners.json of a desk report: borrower = [status, owner]): the disposal "
                   "of the warnings; rebuilds the desk's report byte for byte")
@click.option("--html-rows", type=click.IntRange(0, None), default=1000, show_default=True,
              help="Rows of the warning list in the HTML (0 = all; JSON and CSV hold every row)")
@click.option("--jobs", type=click.IntRange(1, 2), default=2, show_default=True,
              help="Processes writing the files (2: the workbook is written by a second process beside the "
                   "others; same bytes)")
def report(period: str, as_of: date, replay_dir: Path, events: tuple[Path, ...], policy_path: Path | None,
           lang: str, out: Path, capacity_path: Path | None, feeds_path: Path | None, mask_names: bool,
           cases_path: Path | None, html_rows: int, jobs: int) -> None:
    """Build the day, week or month report ending with --as-of: HTML, JSON, the workbook (XLSX) and the
    warning list as CSV."""
    built = build_report(replay_dir, list(events), period=period, as_of=as_of,  # type: ignore[arg-type]
                         policy_path=policy_path, capacity_path=capacity_path, feeds_path=feeds_path,
                         mask_names=mask_names, cases_path=cases_path)
    paths = write_report(built, out, lang, html_rows=html_rows, jobs=jobs)  # type: ignore[arg-type]
    click.echo(f"html   {paths.html}\njson   {paths.json}\ncsv    {paths.csv}\nxlsx   {paths.xlsx}")
