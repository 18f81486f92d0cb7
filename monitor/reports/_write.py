"""Writing a report's three forms: HTML, JSON and the warning list as CSV (UTF-8 with BOM)."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import NamedTuple

from monitor._errors import InputError
from monitor._gc import no_gc
from monitor.reports._html import render_html
from monitor.reports._i18n import Lang
from monitor.reports._tables import Table, warning_table
from monitor.reports._xlsx import render_xlsx
from monitor.reports.model import Report

__all__ = ["ReportPaths", "file_names", "render_csv", "render_json", "render_xlsx", "write_report"]

_RISKY = ("=", "+", "-", "@", "\t", "\r")


class ReportPaths(NamedTuple):
    html: Path
    json: Path
    csv: Path
    xlsx: Path


def file_names(report: Report) -> tuple[str, str, str, str]:
    m = report.meta
    stem = f"{m.period}-{m.last_day}"
    return f"report-{stem}.html", f"report-{stem}.json", f"warning-list-{stem}.csv", f"report-{stem}.xlsx"


def _safe(text: str) -> str:
    """Text a spreadsheet will not run as a formula."""
    return "'" + text if text.startswith(_RISKY) else text


def render_json(report: Report) -> bytes:
    return report.model_dump_json().encode("utf-8") + b"\n"


def render_csv(report: Report, lang: Lang = "zh", table: Table | None = None) -> bytes:
    """Every borrower of the warning list; opens in a spreadsheet (UTF-8 with BOM, CRLF)."""
    head, rows = table if table is not None else warning_table(report, lang)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([h for h, _ in head])
    for row in rows:
        w.writerow([_safe(v) if isinstance(v, str) else "" if v is None else f"{v:.2f}" if isinstance(v, float) else v
                    for v in row])
    return b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8")


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@no_gc()  # the forms' rows and cells: millions of short-lived strings and lists, no cycles
def write_report(report: Report, out_dir: str | Path, lang: Lang = "zh", *, html_rows: int = 1000) -> ReportPaths:
    """Write ``report-<period>-<date>.html``, ``.json`` and ``.xlsx`` and ``warning-list-<period>-<date>.csv``.

    ``html_rows`` limits the rows of the warning list in the HTML (0 = all); the JSON and the CSV
    hold every row. Each file is written whole or not at all (temporary file, then rename).
    """
    out = Path(out_dir)
    html_name, json_name, csv_name, xlsx_name = file_names(report)
    try:
        out.mkdir(parents=True, exist_ok=True)
        paths = ReportPaths(out / html_name, out / json_name, out / csv_name, out / xlsx_name)
        table = warning_table(report, lang)  # the CSV's rows and the workbook's list
        _write(paths.csv, render_csv(report, lang, table))
        _write(paths.xlsx, render_xlsx(report, lang, table))
        _write(paths.json, render_json(report))
        _write(paths.html, render_html(report, lang, rows_shown=html_rows, csv_name=csv_name, xlsx_name=xlsx_name).encode("utf-8"))
    except OSError as exc:
        raise InputError(f"{out}: cannot write the report: {exc.strerror or exc}") from None
    return paths
