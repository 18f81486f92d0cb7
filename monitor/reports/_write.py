"""Writing a report's four forms: HTML, JSON, the workbook and the warning list as CSV (UTF-8 with BOM)."""

from __future__ import annotations

import ctypes
import io
import json
import marshal
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, NamedTuple

from pydantic import TypeAdapter

from monitor._errors import InputError
from monitor._escape import clean
from monitor._gc import no_gc
from monitor.reports import _sheetxml
from monitor.reports._sheetxml import CsvLines
from monitor.reports._sheetxml import _safe as _safe_by
from monitor.reports._html import render_html
from monitor.reports._i18n import Lang
from monitor.reports._jsonrows import Rows
from monitor.reports._rowlists import lists_of
from monitor.reports._tables import (
    SLICE, Cell, Head, Table, warning_columns, warning_head, warning_slices, warning_table,
)
from monitor.reports._xlsx import ListSheet, render_xlsx
from monitor.reports.model import Report, WarningRow

__all__ = ["ReportPaths", "file_names", "render_csv", "render_json", "render_xlsx", "write_report"]



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
    """Text a spreadsheet will not run as a formula and that never breaks a row: control, escape and bidi
    characters as U+FFFD, as the desk's CSV has them (names from records older than the event contract)."""
    return _safe_by(text, clean)


def render_json(report: Report) -> bytes:
    return report.model_dump_json().encode("utf-8") + b"\n"


def _CsvLines() -> CsvLines:  # noqa: N802 (the warning list's CSV text: :class:`_sheetxml.CsvLines`)
    return CsvLines(clean)


def _csv_to(fh: IO[bytes], head: Head, slices: Iterable[list[list[Cell]]]) -> None:
    """The CSV (UTF-8 with BOM, CRLF) written a slice of rows at a time."""
    lines = _CsvLines()
    fh.write(lines.head([h for h, _ in head]))
    for rows in slices:
        fh.write(lines(rows))


def render_csv(report: Report, lang: Lang = "zh", table: Table | None = None) -> bytes:
    """Every borrower of the warning list; opens in a spreadsheet (UTF-8 with BOM, CRLF)."""
    buf = io.BytesIO()
    if table is not None:
        _csv_to(buf, table[0], [table[1]])
    else:
        _csv_to(buf, warning_head(lang), warning_slices(report, lang))
    return buf.getvalue()


def _write(path: Path, data: bytes | Callable[[IO[bytes]], None]) -> None:
    """``data``, or what ``data(file)`` writes, into ``path`` whole or not at all."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("wb") as fh:
            if callable(data):
                data(fh)
            else:
                fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # (none left beside the forms)
        raise


_ROWS = TypeAdapter(list[WarningRow])
_LIST_KEY = b'"warning_list":{'


def _write_json(fh: IO[bytes], report: Report, rows_at_once: int = 2_000) -> None:
    """:func:`render_json`'s bytes, the warning list's rows serialised a slice at a time (at a million
    borrowers the whole document is 220 MB, and serialising it at once holds it twice), each slice's text written
    as it is, not copied: small slices (2,000 rows, 3 MB of text) reuse the heap's memory where large ones (20,000)
    were mapped afresh each time (in the fork that writes the JSON: 192,000 page faults against 114,000, 0.3 s)."""
    lists = lists_of(report.warning_list)  # the rows as columns, their signals as text: spliced in as they are
    rows = report.warning_list.rows if lists is None else None
    if rows is not None and len(rows) <= rows_at_once or lists is not None and lists.n <= rows_at_once:
        fh.write(report.model_dump_json().encode("utf-8"))
        fh.write(b"\n")
        return
    empty = report.model_copy(update={"warning_list": report.warning_list.model_copy(update={"rows": []})})
    doc = empty.model_dump_json().encode("utf-8")
    # the list's key is unique (a quote inside a string is escaped) and its rows come after its counts
    start = doc.index(_LIST_KEY)
    at = doc.index(b'"rows":[]', start) + len(b'"rows":[')
    fh.write(doc[:at])
    made = Rows(lists) if lists is not None else None  # the rows' JSON made from the columns
    for lo in range(0, len(rows) if rows is not None else lists.n, rows_at_once):  # type: ignore[union-attr]
        if made is not None:
            if lo:
                fh.write(b",")
            fh.write(made.json(lo, lo + rows_at_once))
            continue
        part = _ROWS.dump_json(rows[lo:lo + rows_at_once])
        if lo:
            fh.write(b",")
        fh.write(memoryview(part)[1:-1])
    fh.write(doc[at:])
    fh.write(b"\n")


def _give_back() -> None:
    """Return the heap's free pages to the system (glibc's ``malloc_trim``; nothing where there is none): after a
    build, memory it freed stays resident (a million borrowers: about 0.6 GiB) while the forms are written."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


class _Spawned:
    """The list's writer, CSV and workbook (:mod:`monitor.reports._sheetxml` run as a program: a fresh process, not
    a fork, so that it shares none of the report's pages), fed through its standard input by a thread of this
    process (:meth:`send` queues a frame and returns: this process goes on with the JSON while the writer catches
    up, instead of waiting on the pipe); :meth:`wait` tells its error."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-I", _sheetxml.__file__], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, bufsize=1 << 20)
        self.error: str | None = None
        self.gone = False  # the writer no longer reads (its error is told by wait)
        self.closed = False  # the end of the input queued
        self.queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.feeder = threading.Thread(target=self._feed, name="list-writer-feed", daemon=True)
        self.feeder.start()

    def _feed(self) -> None:
        """The queued frames written to the writer's input, then the input closed (the thread's work)."""
        stdin = self.proc.stdin if self.proc is not None else None
        try:
            while (data := self.queue.get()) is not None:
                if self.gone or stdin is None:
                    continue  # (what is left: dropped)
                try:
                    _sheetxml.write_frame(stdin, data)
                except OSError:  # the writer gone (a broken pipe)
                    self.gone = True
        finally:
            if stdin is not None and not stdin.closed:
                try:
                    stdin.close()
                except OSError:  # what was left in its buffer: for a reader that is gone
                    try:
                        stdin.close()
                    except OSError:
                        pass

    def send(self, data: bytes) -> bool:
        """``data`` queued as the next frame; False when the writer is gone (its error is told by :meth:`wait`)."""
        if self.gone or self.closed:
            return False
        self.queue.put(data)
        return True

    def close(self) -> None:
        """The end of the input queued (the input closed once what is queued is written)."""
        if not self.closed:
            self.closed = True
            self.queue.put(None)

    def wait(self) -> str | None:
        """The end of the input told (if not yet), the writer waited for (once; again: the same answer); its error
        (None: it succeeded)."""
        if self.proc is not None:
            proc = self.proc
            self.close()
            self.feeder.join()
            self.proc = None
            said = proc.stderr.read().decode("utf-8", "replace").strip() if proc.stderr is not None else ""
            code = proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
            self.error = None if code == 0 else f"{self.what}: {said or f'its process ended with status {code}'}"
        return self.error


class _CsvOut:
    """The warning list's CSV written by this process a slice at a time (a temporary file, then renamed): its first
    error kept (told after the other forms are written; nothing more written, the temporary file removed)."""

    def __init__(self, path: Path, lang: Lang) -> None:
        self.path, self.tmp = path, path.with_name(path.name + ".tmp")
        self.lines = _CsvLines()
        self.error: str | None = None
        self.fh: IO[bytes] | None = None
        try:
            self.fh = self.tmp.open("wb")
            self.fh.write(self.lines.head([h for h, _ in warning_head(lang)]))
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        self.error = f"{self.path.name}: cannot write the report: {exc.strerror or exc}"
        self.drop()

    def drop(self) -> None:
        """Nothing more written, the temporary file removed (an error, or a failure of this process)."""
        if self.fh is not None:
            fh, self.fh = self.fh, None
            try:
                fh.close()
            except OSError:
                pass
        self.tmp.unlink(missing_ok=True)

    def columns(self, columns: list[list[Cell]]) -> None:
        if self.fh is not None:
            try:
                self.fh.write(self.lines.columns(columns))
            except OSError as exc:
                self._fail(exc)

    def done(self) -> str | None:
        """The file in its place (every row written); its error (None: written)."""
        if self.fh is not None:
            fh, self.fh = self.fh, None
            try:
                fh.close()
                os.replace(self.tmp, self.path)
            except OSError as exc:
                self._fail(exc)
        return self.error


def _list_writer(report: Report, lang: Lang, paths: ReportPaths) -> tuple[_Spawned, str | None]:
    """The workbook by a process of its own (:class:`_Spawned`) and the CSV by this one: this one makes the warning
    list's cells a slice at a time, as columns (:func:`warning_columns`), sends them to the writer (by
    :mod:`marshal`: strings, numbers and None, a third of the time of JSON; through a private pipe to the same
    interpreter, never a file), which makes their sheet XML, compresses it and writes the workbook, and writes
    their CSV text here while the writer works on them (the writer was the longer of the two when it wrote the CSV
    too). The same bytes as :func:`render_csv` and :func:`render_xlsx`. Returned once the last rows are sent and the
    CSV written, with the CSV's error (None: written); when the writer is gone before (its error told by
    :meth:`_Spawned.wait`), the cells are still made for the CSV."""
    kid = _Spawned(paths.xlsx.name)  # started first: its start-up meets the workbook's making below
    csv = _CsvOut(paths.csv, lang)
    try:
        book = ListSheet(report, lang)  # the workbook without the rows: what the rows' XML needs to know
        head = {"path": str(paths.xlsx), "number": book.number, "kinds": book.kinds, "count": book.count,
                "lang": lang}
        alive = kid.send(json.dumps(head).encode("utf-8")) and kid.send(book.data)
        del book
        # a small first slice: the writer starts while the next ones are made
        for columns in warning_columns(report, lang, SLICE, first=min(SLICE, 2_000)):
            alive = alive and kid.send(marshal.dumps(columns))
            if not alive and csv.fh is None:
                break  # (nothing left to write)
            csv.columns(columns)
        else:
            if alive:
                kid.send(b"")  # the end of the rows: the writer writes the workbook
        error = csv.done()
    except BaseException:
        csv.drop()
        kid.wait()  # no orphan
        raise
    kid.close()  # the input's end told now (what the pipe's buffer holds sent), not when waited for
    return kid, error


def _html(report: Report, lang: Lang, html_rows: int, csv_name: str, xlsx_name: str) -> bytes:
    return render_html(report, lang, rows_shown=html_rows, csv_name=csv_name, xlsx_name=xlsx_name).encode("utf-8")


def _can_fork() -> bool:
    return hasattr(os, "fork") and threading.active_count() == 1


@no_gc()  # the forms' rows and cells: millions of short-lived strings and lists, no cycles
def write_report(report: Report, out_dir: str | Path, lang: Lang = "zh", *, html_rows: int = 1000,
                 jobs: int = 1) -> ReportPaths:
    """Write ``report-<period>-<date>.html``, ``.json`` and ``.xlsx`` and ``warning-list-<period>-<date>.csv``.

    ``html_rows`` limits the rows of the warning list in the HTML (0 = all); the JSON and the CSV
    hold every row. Each file is written whole or not at all (temporary file, then rename).

    ``jobs`` 2: the workbook by a started process (:func:`_list_writer`: this process makes the warning list's cells
    a slice at a time, sends them through a pipe to that process, which makes their sheet XML and compresses it, and
    writes their CSV text itself), then the JSON and the HTML here while it goes on; the bytes are the same. No
    fork: a fork that writes the JSON shared the report's pages, and each page either process then touched was
    copied (at a million borrowers ~115,000 page faults in each, ~0.8 s of CPU, and the copies in the sum of PSS).
    Only where no other thread runs (the command line; not the desk, whose server has threads): otherwise one after
    the other. When the writer fails, the other forms are still written and its error told.
    """
    out = Path(out_dir)
    html_name, json_name, csv_name, xlsx_name = file_names(report)
    try:
        out.mkdir(parents=True, exist_ok=True)
        paths = ReportPaths(out / html_name, out / json_name, out / csv_name, out / xlsx_name)
        failed: list[str] = []
        if jobs > 1 and _can_fork():
            _give_back()  # the build's freed memory, else resident while the forms are written
            kid, csv_error = _list_writer(report, lang, paths)  # the workbook by a started process, the CSV here
            try:
                if csv_error is not None:
                    failed.append(csv_error)
                try:
                    _write(paths.json, lambda fh: _write_json(fh, report))
                except OSError as exc:  # told after the others are written, as the writer's error is
                    failed.append(f"{paths.json.name}: cannot write the report: {exc.strerror or exc}")
                _write(paths.html, _html(report, lang, html_rows, csv_name, xlsx_name))
            finally:
                error = kid.wait()  # no orphan
            if error is not None:
                failed.append(error)
        else:
            head, rows = warning_table(report, lang)  # the list's cells, made once for the CSV and the workbook
            _write(paths.csv, lambda fh: _csv_to(fh, head, [rows]))
            _write(paths.json, lambda fh: _write_json(fh, report))
            _write(paths.xlsx, render_xlsx(report, lang, (head, rows)))
            del rows
            _write(paths.html, _html(report, lang, html_rows, csv_name, xlsx_name))
        if failed:
            raise InputError(f"{out}: {failed[0]}")
    except OSError as exc:
        raise InputError(f"{out}: cannot write the report: {exc.strerror or exc}") from None
    return paths
