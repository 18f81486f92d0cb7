"""Writing a report's three forms: HTML, JSON and the warning list as CSV (UTF-8 with BOM)."""

from __future__ import annotations

import csv
import ctypes
import io
import json
import marshal
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any, NamedTuple

from pydantic import TypeAdapter

from monitor._errors import InputError
from monitor._escape import clean
from monitor._gc import no_gc
from monitor.reports import _sheetxml
from monitor.reports._html import render_html
from monitor.reports._i18n import Lang
from monitor.reports._tables import SLICE, Cell, Head, Table, warning_head, warning_slices, warning_table
from monitor.reports._xlsx import ListSheet, render_xlsx
from monitor.reports.model import Report, WarningRow

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
    """Text a spreadsheet will not run as a formula and that never breaks a row: control, escape and bidi
    characters as U+FFFD, as the desk's CSV has them (names from records older than the event contract)."""
    text = clean(text)
    return "'" + text if text.startswith(_RISKY) else text


def render_json(report: Report) -> bytes:
    return report.model_dump_json().encode("utf-8") + b"\n"


def _csv_cell(v: Cell) -> Cell:
    return _safe(v) if isinstance(v, str) else "" if v is None else f"{v:.2f}" if isinstance(v, float) else v


def _csv_line(row: list[Cell]) -> str:
    """One row of cells as the csv module writes it (excel dialect, minimal quoting), less the line's end: plain
    printable text as it is (quoted where it must be), anything else as :func:`_csv_cell` has it."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow(
        [v if type(v) is str and v.isprintable() and not v.startswith(_RISKY) else _csv_cell(v) for v in row])
    return buf.getvalue()[:-2]


def _csv_field(v: Cell) -> str:
    """One cell's text in such a row (two cells written: a lone empty one would be quoted)."""
    return _csv_line([v, ""])[:-1]


def _free(v: Cell) -> bytes:
    """:func:`_csv_field` of a cell of a column whose values rarely recur (ids, names, amounts, sentences), UTF-8."""
    t = type(v)
    if t is str:
        if v.isprintable() and "," not in v and '"' not in v and not v.startswith(_RISKY):  # type: ignore[union-attr]
            return v.encode("utf-8")  # type: ignore[union-attr]
    elif t is int:
        return b"%d" % v  # type: ignore[str-bytes-safe]
    elif t is float:
        return b"%.2f" % v  # type: ignore[str-bytes-safe]
    return _csv_field(v).encode("utf-8")


class _Fields(dict[Cell, bytes]):
    """:func:`_csv_field` of each value of a column whose values recur (labels, dates), UTF-8, made once; only text
    and None are kept (1, 1.0 and True are one key, their text differs)."""

    def __missing__(self, v: Cell) -> bytes:
        got = _csv_field(v).encode("utf-8")
        if v is None or type(v) is str:
            self[v] = got
        return got


class _CsvLines:
    """The warning list's rows (:func:`warning_slices`' cells) as CSV, UTF-8, CRLF after each row: the bytes of the
    csv module's writer given :func:`_csv_cell` of each cell, made without a call per cell (a million borrowers:
    millions of cells): a column whose values recur has the bytes of each value made once, the others are checked
    one by one (plain text, an int or a float is written as it is)."""

    def __init__(self) -> None:
        self.memo = [_Fields() for _ in range(26)]

    def __call__(self, rows: list[list[Cell]]) -> bytes:
        f = _free
        (_, _, _, m3, m4, _, m6, m7, m8, m9, m10, m11, m12, _, m14, _, m16, _, m18, m19, m20, m21, m22, m23, m24,
         m25) = self.memo
        lines = []
        for r in rows:
            if len(r) != 26:  # not the list's row: by the csv module
                lines.append(_csv_line(r).encode("utf-8"))
                continue
            lines.append(b",".join([
                f(r[0]), f(r[1]), f(r[2]), m3[r[3]], m4[r[4]], f(r[5]), m6[r[6]], m7[r[7]], m8[r[8]], m9[r[9]],
                m10[r[10]], m11[r[11]], m12[r[12]], f(r[13]), m14[r[14]], f(r[15]), m16[r[16]], f(r[17]),
                m18[r[18]], m19[r[19]], m20[r[20]], m21[r[21]], m22[r[22]], m23[r[23]], m24[r[24]], m25[r[25]]]))
        lines.append(b"")
        return b"\r\n".join(lines)


def _csv_to(fh: IO[bytes], head: Head, slices: Iterable[list[list[Cell]]]) -> None:
    """The CSV (UTF-8 with BOM, CRLF) written a slice of rows at a time."""
    fh.write(b"\xef\xbb\xbf" + _csv_line([h for h, _ in head]).encode("utf-8") + b"\r\n")
    lines = _CsvLines()
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
    with tmp.open("wb") as fh:
        if callable(data):
            data(fh)
        else:
            fh.write(data)
    os.replace(tmp, path)


_ROWS = TypeAdapter(list[WarningRow])
_LIST_KEY = b'"warning_list":{'


def _write_json(fh: IO[bytes], report: Report, rows_at_once: int = 2_000) -> None:
    """:func:`render_json`'s bytes, the warning list's rows serialised a slice at a time (at a million
    borrowers the whole document is 220 MB, and serialising it at once holds it twice), each slice's text written
    as it is, not copied: small slices (2,000 rows, 3 MB of text) reuse the heap's memory where large ones (20,000)
    were mapped afresh each time (in the fork that writes the JSON: 192,000 page faults against 114,000, 0.3 s)."""
    rows = report.warning_list.rows
    if len(rows) <= rows_at_once:
        fh.write(report.model_dump_json().encode("utf-8"))
        fh.write(b"\n")
        return
    empty = report.model_copy(update={"warning_list": report.warning_list.model_copy(update={"rows": []})})
    doc = empty.model_dump_json().encode("utf-8")
    # the list's key is unique (a quote inside a string is escaped) and its rows come after its counts
    start = doc.index(_LIST_KEY)
    at = doc.index(b'"rows":[]', start) + len(b'"rows":[')
    fh.write(doc[:at])
    for lo in range(0, len(rows), rows_at_once):
        part = _ROWS.dump_json(rows[lo:lo + rows_at_once])
        if lo:
            fh.write(b",")
        fh.write(memoryview(part)[1:-1])
    fh.write(doc[at:])
    fh.write(b"\n")


class _Forked:
    """``job()`` run in a forked copy of this process (the report is shared, not copied or pickled), so that
    a second core writes one form while this process writes the others; :meth:`wait` tells the child's
    error. Only from a process with no other thread running (forking copies no
    thread, and a lock another thread holds stays held in the child)."""

    def __init__(self, job: Callable[[], None], what: str) -> None:
        self.what = what
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns into the caller's code
            code = 0
            try:
                os.close(rfd)
                job()
            except BaseException as exc:  # noqa: BLE001 (told to the parent, whatever it is)
                code = 1
                text = f"cannot write the report: {exc.strerror or exc}" if isinstance(exc, OSError) else \
                    str(exc) if isinstance(exc, InputError) else f"{type(exc).__name__}: {exc}"
                try:
                    os.write(wfd, text.encode("utf-8", "replace")[:60_000])
                except OSError:
                    pass
            finally:
                os._exit(code)
        os.close(wfd)
        self.pid, self.rfd = pid, rfd
        self.error: str | None = None

    def wait(self) -> str | None:
        """Wait for the child (once; again: the same answer); its error (None: it succeeded)."""
        if self.pid:
            with os.fdopen(self.rfd, "rb") as fh:
                said = fh.read().decode("utf-8", "replace")
            _, status = os.waitpid(self.pid, 0)
            code = os.waitstatus_to_exitcode(status)
            self.pid = 0
            self.error = None if code == 0 else f"{self.what}: {said or f'its process ended with status {code}'}"
        return self.error


def _give_back() -> None:
    """Return the heap's free pages to the system (glibc's ``malloc_trim``; nothing where there is none): after a
    build, memory it freed stays resident (a million borrowers: about 0.6 GiB), and a fork shares it, so that the
    forms' writers would start from it."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


class _Spawned:
    """The workbook's writer (:mod:`monitor.reports._sheetxml` run as a program: a fresh process, not a fork, so
    that it shares none of the report's pages), fed through its standard input; :meth:`wait` tells its error."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-I", _sheetxml.__file__], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, bufsize=1 << 20)
        self.error: str | None = None

    def send(self, data: bytes) -> bool:
        """``data`` as the next frame; False when the writer is gone (its error is told by :meth:`wait`)."""
        proc = self.proc
        if proc is None or proc.stdin is None or proc.stdin.closed:
            return False
        try:
            _sheetxml.write_frame(proc.stdin, data)
            return True
        except BrokenPipeError:
            self._close()
            return False

    def _close(self) -> None:
        stdin = self.proc.stdin if self.proc is not None else None
        if stdin is not None and not stdin.closed:
            try:
                stdin.close()
            except BrokenPipeError:  # what was left in its buffer: for a reader that is gone
                try:
                    stdin.close()
                except OSError:
                    pass

    def wait(self) -> str | None:
        """The end of the input told (if not yet), the writer waited for (once; again: the same answer); its error
        (None: it succeeded)."""
        if self.proc is not None:
            proc = self.proc
            self._close()
            self.proc = None
            said = proc.stderr.read().decode("utf-8", "replace").strip() if proc.stderr is not None else ""
            code = proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
            self.error = None if code == 0 else f"{self.what}: {said or f'its process ended with status {code}'}"
        return self.error


def _csv_and_workbook(report: Report, lang: Lang, paths: ReportPaths, children: list[Any]) -> None:
    """The CSV here and the workbook by a process of its own (:class:`_Spawned`): this one makes the warning
    list's cells a slice at a time, writes their CSV text and sends them to the writer (by :mod:`marshal`: strings,
    numbers and None, a third of the time of JSON; through a private pipe to the same interpreter, never a file), which makes their sheet XML, compresses it and writes the workbook while this one goes on. The
    same bytes as :func:`render_csv` and :func:`render_xlsx`."""
    book = ListSheet(report, lang)  # the workbook without the rows: what the rows' XML needs to know
    kid = _Spawned(paths.xlsx.name)
    children.append(kid)
    head = {"path": str(paths.xlsx), "number": book.number, "kinds": book.kinds, "count": book.count, "lang": lang}
    alive = kid.send(json.dumps(head).encode("utf-8")) and kid.send(book.data)
    del book
    tmp = paths.csv.with_name(paths.csv.name + ".tmp")
    with tmp.open("wb") as fh:
        def sent(rows: list[list[Cell]]) -> list[list[Cell]]:
            nonlocal alive
            if alive:
                alive = kid.send(marshal.dumps(rows))
            return rows

        _csv_to(fh, warning_head(lang), (sent(rows) for rows in warning_slices(report, lang, SLICE)))
    if alive:
        kid.send(b"")  # the end of the rows: the writer writes the workbook
    os.replace(tmp, paths.csv)


def _can_fork() -> bool:
    return hasattr(os, "fork") and threading.active_count() == 1


@no_gc()  # the forms' rows and cells: millions of short-lived strings and lists, no cycles
def write_report(report: Report, out_dir: str | Path, lang: Lang = "zh", *, html_rows: int = 1000,
                 jobs: int = 1) -> ReportPaths:
    """Write ``report-<period>-<date>.html``, ``.json`` and ``.xlsx`` and ``warning-list-<period>-<date>.csv``.

    ``html_rows`` limits the rows of the warning list in the HTML (0 = all); the JSON and the CSV
    hold every row. Each file is written whole or not at all (temporary file, then rename).

    ``jobs`` 2: the JSON by a forked copy of this process, the workbook by a started one (:func:`_csv_and_workbook`:
    this process makes the warning list's cells a slice at a time, writes their CSV text and sends them through a
    pipe to that process, which makes their sheet XML and compresses it), then the HTML (the heap's free pages given back
    first, so that the forks do not start from them); the bytes are the same. Only where ``os.fork`` exists and no
    other thread runs (the command line; not the desk, whose server has threads): otherwise one after the other.
    """
    out = Path(out_dir)
    html_name, json_name, csv_name, xlsx_name = file_names(report)
    try:
        out.mkdir(parents=True, exist_ok=True)
        paths = ReportPaths(out / html_name, out / json_name, out / csv_name, out / xlsx_name)
        children: list[_Forked] = []
        forked = jobs > 1 and _can_fork()
        try:
            if forked:
                _give_back()  # the build's freed memory, else resident in this process and its forks
                # the JSON by a fork of its own while this process makes the cells (it needs none of them)
                children.append(_Forked(lambda: _write(paths.json, lambda fh: _write_json(fh, report)),
                                        paths.json.name))
                _csv_and_workbook(report, lang, paths, children)  # the workbook by a started process
            else:
                head, rows = warning_table(report, lang)  # the list's cells, made once for the CSV and the workbook
                _write(paths.csv, lambda fh: _csv_to(fh, head, [rows]))
                _write(paths.json, lambda fh: _write_json(fh, report))
                _write(paths.xlsx, render_xlsx(report, lang, (head, rows)))
                del rows
            _write(paths.html, render_html(report, lang, rows_shown=html_rows, csv_name=csv_name,
                                           xlsx_name=xlsx_name).encode("utf-8"))
        except BaseException:
            for child in children:  # no orphan: each child is waited for, the first error told
                child.wait()
            raise
        failed = [err for err in (child.wait() for child in children) if err is not None]
        if failed:
            raise InputError(f"{out}: {failed[0]}")
    except OSError as exc:
        raise InputError(f"{out}: cannot write the report: {exc.strerror or exc}") from None
    return paths
