"""Tables for spreadsheets: CSV (UTF-8 with BOM) and real XLSX workbooks (XlsxWriter), from one column list.

A :class:`Column` names a value (``key``), its header in Chinese and English and
its kind: ``text`` (a name or code label), ``free`` (free text: tabs and line
breaks kept), ``int``, ``money`` (CNY, two decimals), ``date``, ``datetime``
(shown in the policy's time zone, named in the header) or ``bool``. Rows are
dicts of plain values, codes already labelled by the caller.

* CSV: UTF-8 with a byte-order mark (so Excel reads Chinese), CRLF, a header
  row; a text cell a spreadsheet would run as a formula gets a leading
  apostrophe; control characters become U+FFFD (:mod:`monitor.desk.safe`).
* XLSX: one sheet, the header frozen and filtered, number and date formats
  per column, widths set; strings are written as strings (never formulas,
  links or numbers), so a cell reads what the record holds. The workbook's
  creation time is ``created`` (the caller passes the export's instant): the
  same rows and instant give the same bytes.

Pure: no clock, no files.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import xlsxwriter

from monitor.desk.safe import clean, clean_text

__all__ = ["Column", "csv_bytes", "header", "xlsx_bytes"]

Kind = Literal["text", "free", "int", "money", "date", "datetime", "bool"]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_BOOL = {"zh": ("是", "否"), "en": ("yes", "no")}
_ZONE = {"zh": "（{}）", "en": " ({})"}
_FORMATS = {"int": "0", "money": "#,##0.00", "date": "yyyy-mm-dd", "datetime": "yyyy-mm-dd hh:mm"}


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    zh: str
    en: str
    kind: Kind = "text"
    width: int = 14


def header(column: Column, lang: str, zone_label: str) -> str:
    """The column's header in ``lang``; a date-time column names the time zone its values are in."""
    text = column.zh if lang == "zh" else column.en
    return text + _ZONE[lang].format(zone_label) if column.kind == "datetime" else text


def _local(value: datetime, zone: ZoneInfo) -> datetime:
    return value.astimezone(zone).replace(tzinfo=None)


def _text(value: Any, free: bool) -> str:
    text = clean_text(str(value)) if free else clean(str(value))
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv_cell(column: Column, value: Any, lang: str, zone: ZoneInfo) -> str:
    if value is None:
        return ""
    kind = column.kind
    if kind == "money":
        return f"{float(value):.2f}"
    if kind == "int":
        return str(int(value))
    if kind == "bool":
        return _BOOL[lang][0 if value else 1]
    if kind == "datetime" and isinstance(value, datetime):
        return _local(value, zone).strftime("%Y-%m-%d %H:%M:%S")
    if kind == "date" and isinstance(value, date):
        return value.isoformat()
    return _text(value, kind == "free")


def csv_bytes(columns: Sequence[Column], rows: Iterable[Mapping[str, Any]], *, lang: str, zone: ZoneInfo,
              zone_label: str) -> bytes:
    """The rows as CSV: UTF-8 with BOM, CRLF, a header row in ``lang``."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([_text(header(c, lang, zone_label), False) for c in columns])
    for row in rows:
        writer.writerow([_csv_cell(c, row.get(c.key), lang, zone) for c in columns])
    return buf.getvalue().encode("utf-8-sig")


def xlsx_bytes(columns: Sequence[Column], rows: Iterable[Mapping[str, Any]], *, lang: str, zone: ZoneInfo,
               zone_label: str, sheet: str, created: datetime) -> bytes:
    """The rows as an XLSX workbook of one sheet: frozen, filtered header; formats per column."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"constant_memory": True, "strings_to_formulas": False,
                                     "strings_to_urls": False, "strings_to_numbers": False,
                                     "default_date_format": "yyyy-mm-dd"})
    book.set_properties({"created": _local(created, zone), "author": "monitor desk"})
    ws = book.add_worksheet(clean(sheet)[:31])
    head = book.add_format({"bold": True, "bg_color": "#DCE6F0", "border": 1, "text_wrap": True, "valign": "top"})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})
    formats = {kind: book.add_format({"num_format": fmt, "valign": "top"}) for kind, fmt in _FORMATS.items()}
    for i, c in enumerate(columns):
        ws.write_string(0, i, clean(header(c, lang, zone_label)), head)
        ws.set_column(i, i, c.width)
    n = 0
    for n, row in enumerate(rows, start=1):
        for i, c in enumerate(columns):
            value = row.get(c.key)
            if value is None:
                continue
            kind = c.kind
            if kind in ("int", "money"):
                ws.write_number(n, i, float(value), formats[kind])
            elif kind == "datetime" and isinstance(value, datetime):
                ws.write_datetime(n, i, _local(value, zone), formats["datetime"])
            elif kind == "date" and isinstance(value, date):
                ws.write_datetime(n, i, datetime(value.year, value.month, value.day), formats["date"])
            elif kind == "bool":
                ws.write_string(n, i, _BOOL[lang][0 if value else 1])
            elif kind == "free":
                ws.write_string(n, i, clean_text(str(value)), wrap)
            else:
                ws.write_string(n, i, clean(str(value)))
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(n, 1), len(columns) - 1)
    book.close()
    return out.getvalue()
