"""The warning list's rows as CSV and as SpreadsheetML, and the workbook zipped again with them. Stdlib only, so
that it also runs as a program of its own (``python -I _sheetxml.py``): the list's writer that ``write_report``
starts when it writes the forms in two processes (``write_report`` writes the CSV itself, from the same cells, with
:class:`CsvLines`). It reads from its standard input, in frames (an 8-byte big-endian length, then the bytes), the
workbook without the rows and then the rows' cells (the CSV's), and writes the workbook. A fresh process, not a
fork: it shares none of the report's pages, so that neither side's touching them copies them (a fork kept the
originals alive: the sum of PSS 1.97 against 1.63 GiB at a million borrowers).

Frames: a JSON header ``{"path", "number", "kinds", "count", "lang"}`` (the workbook's path, its list sheet's
number, the sheet's column kinds and count of rows, the language); the workbook without the rows (bytes); then each
slice of rows' cells as its columns (``_tables.warning_columns``: 26 lists, list ``j`` the ``j``-th cell of each row)
by :mod:`marshal` (the writer is the same interpreter, started by ``write_report``, the pipe private; a third of the
time of JSON); an empty frame ends the rows. The workbook is written whole or not at all (temporary file, then
rename). An error is told on standard error (one line) with exit status 1."""

from __future__ import annotations

import csv
import io
import json
import marshal
import os
import re
import sys
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from itertools import repeat
from typing import IO, Any

__all__ = ["CsvLines", "csv_line", "put_rows", "read_frame", "write_frame"]


def _trimmed(part: list[list[Any]], lang: str) -> list[list[Any]]:
    """The list's rows as the sheet has them: the CSV's cells (which it keeps) copied, without the period, as-of
    and policy (on the about sheet), the exposure in the tables' unit (``_Book.money`` in :mod:`monitor.reports._xlsx`)."""
    unit = _money_unit(lang)
    out = [row[:-3] for row in part]
    for row in out:
        row[5] = round(row[5] / unit, 6) if isinstance(row[5], float) else row[5]
    return out


def _money_unit(lang: str) -> float:
    """The exposure's unit in the sheet: 万元 (zh) or millions (en), as ``_Book.money`` writes the tables."""
    return 1e4 if lang == "zh" else 1e6


# ------------------------------------------------------------ the warning list's rows as CSV

Cell = Any  # str, int, float or None: the cells of monitor.reports._tables
_RISKY = ("=", "+", "-", "@", "\t", "\r")  # a formula's start, or a cell's control


def _safe(text: str, clean: Callable[[str], str]) -> str:
    """Text a spreadsheet will not run as a formula and that never breaks a row: ``clean``'s (control, escape and
    bidi characters as U+FFFD: :func:`monitor._escape.clean`), with a quote in front of a formula's start."""
    text = clean(text)
    return "'" + text if text.startswith(_RISKY) else text


def _csv_cell(v: Cell, clean: Callable[[str], str]) -> Cell:
    return _safe(v, clean) if isinstance(v, str) else "" if v is None else f"{v:.2f}" if isinstance(v, float) else v


def csv_line(row: list[Cell], clean: Callable[[str], str]) -> str:
    """One row of cells as the csv module writes it (excel dialect, minimal quoting), less the line's end: plain
    printable text as it is (quoted where it must be), anything else as :func:`_csv_cell` has it."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow(
        [v if type(v) is str and v.isprintable() and not v.startswith(_RISKY) else _csv_cell(v, clean) for v in row])
    return buf.getvalue()[:-2]


class _Fields(dict[Cell, bytes]):
    """:func:`csv_line`'s text of each value of a column whose values recur (labels, dates) as one cell of a row,
    UTF-8, made once; only text and None are kept (1, 1.0 and True are one key, their text differs)."""

    def __init__(self, clean: Callable[[str], str]) -> None:
        super().__init__()
        self.clean = clean

    def __missing__(self, v: Cell) -> bytes:
        got = csv_line([v, ""], self.clean)[:-1].encode("utf-8")  # (two cells: a lone empty one would be quoted)
        if v is None or type(v) is str:
            self[v] = got
        return got


_FREE = frozenset({0, 1, 2, 5, 13, 15, 17})  # the list's columns whose values rarely recur (CsvLines.free)
_SAID = frozenset({15, 17})  # the sentences of the current signals and of the last change's: the same texts recur


class _Said(dict[Cell, bytes]):
    """:meth:`CsvLines.free`'s text of each sentence of a slice, made once (a slice of 20,000 rows: 40,000 sentences
    of ~16,000 distinct texts); only text is kept (1, 1.0 and True are one key, their text differs)."""

    def __init__(self, free: Callable[[Cell], bytes]) -> None:
        super().__init__()
        self.free = free

    def __missing__(self, v: Cell) -> bytes:
        got = self.free(v)
        if type(v) is str:
            self[v] = got
        return got


class CsvLines:
    """The warning list's rows (``_tables.warning_slices``' cells) as CSV, UTF-8, CRLF after each row: the bytes of
    the csv module's writer given :func:`_csv_cell` of each cell (``clean``: :func:`monitor._escape.clean`), made
    without a call per cell (a million borrowers: millions of cells): a column whose values recur has the bytes of
    each value made once, the others are checked one by one (plain text, an int or a float is written as it is)."""

    def __init__(self, clean: Callable[[str], str]) -> None:
        self.clean = clean
        self.memo = [_Fields(clean) for _ in range(26)]

    def free(self, v: Cell) -> bytes:
        """The text of a cell of a column whose values rarely recur (ids, names, amounts, sentences), UTF-8."""
        t = type(v)
        if t is str:
            if v.isprintable() and "," not in v and '"' not in v and not v.startswith(_RISKY):
                return v.encode("utf-8")  # type: ignore[no-any-return]
        elif t is int:
            return b"%d" % v
        elif t is float:
            return b"%.2f" % v
        return csv_line([v, ""], self.clean)[:-1].encode("utf-8")

    def __call__(self, rows: list[list[Cell]]) -> bytes:
        f = self.free
        (_, _, _, m3, m4, _, m6, m7, m8, m9, m10, m11, m12, _, m14, _, m16, _, m18, m19, m20, m21, m22, m23, m24,
         m25) = self.memo
        lines = []
        for r in rows:
            if len(r) != 26:  # not the list's row: by the csv module
                lines.append(csv_line(r, self.clean).encode("utf-8"))
                continue
            lines.append(b",".join([
                f(r[0]), f(r[1]), f(r[2]), m3[r[3]], m4[r[4]], f(r[5]), m6[r[6]], m7[r[7]], m8[r[8]], m9[r[9]],
                m10[r[10]], m11[r[11]], m12[r[12]], f(r[13]), m14[r[14]], f(r[15]), m16[r[16]], f(r[17]),
                m18[r[18]], m19[r[19]], m20[r[20]], m21[r[21]], m22[r[22]], m23[r[23]], m24[r[24]], m25[r[25]]]))
        lines.append(b"")
        return b"\r\n".join(lines)

    def columns(self, columns: list[list[Cell]]) -> bytes:
        """:meth:`__call__` of rows given as their columns (26 lists: :func:`_tables.warning_columns`' slices), the
        same bytes: each column's cells' text made a column at a time, then joined a row at a time."""
        if len(columns) != 26:
            return self(list(map(list, zip(*columns))))
        f, memo = self.free, self.memo
        said = _Said(f).__getitem__  # the two sentence columns' texts, each made once in the slice
        texts = [list(map(said, c)) if j in _SAID else list(map(f, c)) if j in _FREE else
                 list(map(memo[j].__getitem__, c)) for j, c in enumerate(columns)]
        lines = list(map(b",".join, zip(*texts)))
        lines.append(b"")
        return b"\r\n".join(lines)

    def head(self, titles: list[str]) -> bytes:
        """The CSV's first bytes: the byte order mark and the row of column titles."""
        return b"\xef\xbb\xbf" + csv_line(titles, self.clean).encode("utf-8") + b"\r\n"


# ------------------------------------------------------------ the warning list's rows as SpreadsheetML

_EXCEL_EPOCH = date(1899, 12, 30).toordinal()
_ESCAPE = re.compile(r"[&<>\x00-\x08\x0b\x0c\x0e-\x1f]|_x[0-9A-Fa-f]{4}_")
_MAX_TEXT = 32_767  # characters a cell holds
_NUMBERS = ("int", "money", "pct", "pp")


def _escape_one(m: re.Match[str]) -> str:
    c = m.group(0)
    if c == "&":
        return "&amp;"
    if c == "<":
        return "&lt;"
    if c == ">":
        return "&gt;"
    if len(c) == 1:
        return f"_x{ord(c):04X}_"  # a control character, as Excel writes it
    return "_x005F" + c  # text that reads like such an escape


def _text(v: Any) -> str:
    t = v if type(v) is str else str(v)
    if len(t) > _MAX_TEXT:
        t = t[:_MAX_TEXT]
    return _ESCAPE.sub(_escape_one, t) if _ESCAPE.search(t) else t


def _column(n: int) -> str:
    name = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        name = chr(65 + r) + name
    return name


class _Cells(dict[Any, bytes]):
    """A column's cells: value -> the cell's SpreadsheetML (UTF-8) with the column's style, made once per
    distinct value. Cells carry no reference (``r``, optional in SpreadsheetML: a cell is the one after the
    previous cell of its row), so a value's cell is the same bytes in every row; an empty value is a blank
    cell of the column's style (it keeps the next cells in their columns)."""

    def __init__(self, kind: str, style: str) -> None:
        super().__init__()
        self.kind = kind
        self.blank = f"<c{style}/>".encode()
        self.num = f"<c{style}><v>"
        self.txt = f'<c{style} t="inlineStr"><is><t xml:space="preserve">'

    def __missing__(self, v: Any) -> bytes:
        kind = self.kind
        if v is None or v == "":
            got = self.blank
        elif kind in _NUMBERS:
            got = (f"{self.num}{v:.16G}</v></c>" if isinstance(v, (int, float)) else
                   f"{self.txt}{_text(v)}</t></is></c>").encode()
        elif kind == "date":
            got = f"{self.num}{date.fromisoformat(v).toordinal() - _EXCEL_EPOCH}</v></c>".encode()
        else:
            got = f"{self.txt}{_text(v)}</t></is></c>".encode()
        # kept when its cell cannot depend on the type (1, 1.0 and True are one key; their text differs)
        if type(v) is str or v is None or (kind != "text" and kind != "wrap" and type(v) in (int, float)):
            self[v] = got
        return got


_PROBE = re.compile(r'<row r="2"[^>]*>(.*?)</row>', re.S)
_STYLE = re.compile(r'<c r="([A-Z]+)2"( s="\d+")?')


class _Sheet:
    """A workbook whose list sheet (number ``number``) has the probe row in place of its ``count`` rows, and the
    rows' SpreadsheetML: :meth:`xml` makes the XML of some rows (any share of them, numbered from ``first``),
    :meth:`package` zips the workbook again with the rows' XML in order."""

    def __init__(self, data: bytes, number: int, kinds: list[str], count: int) -> None:
        self.data, self.kinds, self.count = data, kinds, count
        self.name = name = f"xl/worksheets/sheet{number}.xml"
        xml = zipfile.ZipFile(io.BytesIO(data)).read(name).decode("utf-8")
        probe = _PROBE.search(xml)
        if probe is None:
            raise RuntimeError(f"{name}: the probe row is missing (XlsxWriter's output changed)")
        styles = {m.group(1): m.group(2) or "" for m in _STYLE.finditer(probe.group(0))}
        self.order = [styles.get(_column(j), "") for j in range(len(kinds))]
        last = f"{_column(len(kinds) - 1)}{count + 1}"
        head, self.tail = xml[:probe.start()], xml[probe.end():]
        self.head = re.sub(r'<dimension ref="[^"]*"/>', f'<dimension ref="A1:{last}"/>', head, count=1)

    def xml(self, rows: list[list[Any]], first: int) -> bytes:
        """The SpreadsheetML of ``rows`` (the sheet's cells), the first numbered ``first`` (the header is row 1).

        Made a column at a time (:meth:`_column`), then joined a row at a time."""
        if not rows:
            return b""
        if set(map(len, rows)) != {len(self.kinds)}:
            return self._rows_xml(rows, first)
        return self._columns_xml(list(zip(*rows)), len(rows), first)

    def cells_xml(self, cells: list[list[Any]], first: int, lang: str) -> bytes:
        """:meth:`xml` of :func:`_trimmed` of ``cells`` (the CSV's rows), the same bytes without copying the rows:
        the sheet's columns taken from them, the exposure's in the tables' unit."""
        width = len(self.kinds)
        if not cells or set(map(len, cells)) != {width + 3}:
            return self.xml(_trimmed(cells, lang), first)
        columns = list(zip(*cells))[:width]
        unit = _money_unit(lang)  # (as _trimmed converts each row's exposure)
        columns[5] = tuple([round(v / unit, 6) if isinstance(v, float) else v for v in columns[5]])
        return self._columns_xml(columns, len(cells), first)

    def columns_xml(self, columns: list[list[Any]], first: int, lang: str) -> bytes:
        """:meth:`cells_xml` of rows given as their columns (the CSV's: :func:`_tables.warning_columns`' slices)."""
        width = len(self.kinds)
        count = len(columns[0]) if columns else 0
        if len(columns) != width + 3 or {len(c) for c in columns} != {count}:
            return self.cells_xml(list(map(list, zip(*columns))), first, lang)
        if not count:
            return b""
        columns = columns[:width]
        unit = _money_unit(lang)  # (as _trimmed converts each row's exposure)
        columns[5] = [round(v / unit, 6) if isinstance(v, float) else v for v in columns[5]]
        return self._columns_xml(columns, count, first)

    def _columns_xml(self, values: Sequence[Sequence[Any]], count: int, first: int) -> bytes:
        """The rows' SpreadsheetML from their columns' values (one tuple per column of the sheet)."""
        columns = [self._column(kind, self.order[j], column)
                   for j, (kind, column) in enumerate(zip(self.kinds, values))]
        opens = ('<row r="' + '">\n<row r="'.join(map(str, range(first, first + count))) + '">').encode()
        return b"".join([b"".join(row) for row in zip(opens.split(b"\n"), *columns, repeat(b"</row>"))])

    @staticmethod
    def _column(kind: str, style: str, values: Sequence[Any]) -> list[bytes]:
        """The cells of one column's values, :class:`_Cells`' bytes. Values that recur (labels, dates): a cell per
        distinct value; numbers or text that mostly do not (ids, names, amounts, sentences): by a few calls over
        all of them, joined by line feeds (which no cell's markup holds), the text escaped only where it must be."""
        types = set(map(type, values))
        if kind == "date" or len(set(values)) * 4 < len(values):
            pass
        elif kind in _NUMBERS:
            if types <= {int, float}:
                num, end = f"<c{style}><v>", "</v></c>"
                cells = (num + (end + "\n" + num).join(map(format, values, repeat(".16G"))) + end).encode().split(b"\n")
                if 0 in values:  # 0, 0.0 and -0.0 are one value to a cell per value: the first one's cell
                    zeros = [i for i, v in enumerate(values) if v == 0]
                    for i in zeros:
                        cells[i] = cells[zeros[0]]
                return cells
        elif types <= {str, type(None)}:
            texts = values if None not in values else tuple(v or "" for v in values)
            joined = "\n".join(texts)
            if joined.count("\n") == len(texts) - 1 and max(map(len, texts)) <= _MAX_TEXT:  # no line feed of its own
                if "&" in joined or "<" in joined or ">" in joined or "_x" in joined or \
                        not "".join(texts).isprintable():  # (what needs no escape: most text)
                    joined = _ESCAPE.sub(_escape_one, joined)  # (the pattern matches no line feed, nor across one)
                txt, end = f'<c{style} t="inlineStr"><is><t xml:space="preserve">', "</t></is></c>"
                cells = (txt + joined.replace("\n", end + "\n" + txt) + end).encode().split(b"\n")
                blank = f"<c{style}/>".encode()
                for i in [i for i, v in enumerate(texts) if not v]:  # an empty value: a blank cell
                    cells[i] = blank
                return cells
        return list(map(_Cells(kind, style).__getitem__, values))

    def _rows_xml(self, rows: list[list[Any]], first: int) -> bytes:
        """:meth:`xml` a cell at a time (rows of another width)."""
        cells = [_Cells(kind, self.order[j]) for j, kind in enumerate(self.kinds)]  # a slice's: memory bounded
        return b"".join([b'<row r="%d">%s</row>' % (n, b"".join([c[v] for c, v in zip(cells, row)]))
                         for n, row in enumerate(rows, first)])

    def package(self, chunks: Iterable[tuple[int, bytes]]) -> bytes:
        """The workbook with the rows: ``chunks`` are (number of rows, their XML), in order."""
        name = self.name
        zin = zipfile.ZipFile(io.BytesIO(self.data))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in zin.infolist():
                zi = zipfile.ZipInfo(info.filename, date_time=info.date_time)
                zi.compress_type, zi.external_attr, zi.create_system = info.compress_type, info.external_attr, \
                    info.create_system
                if info.filename != name:
                    zout.writestr(zi, zin.read(info))
                    continue
                # the sheet compressed as it is made, a slice of rows at a time (never the whole XML in memory: at
                # a million borrowers it is hundreds of MB); deflate's output does not depend on how its input is cut
                zi._compresslevel = 1  # what writestr(..., compresslevel=1) sets; open() has no such argument
                # compressed by a thread (zlib lets go of the interpreter lock) while the next slice is made
                with zout.open(zi, "w") as sheet, ThreadPoolExecutor(1, thread_name_prefix="deflate") as deflate:
                    sheet.write(self.head.encode("utf-8"))
                    pending: Future[int] | None = None
                    lo = 0
                    for n, xml in chunks:
                        lo += n
                        if pending is not None:
                            pending.result()  # one slice at a time in flight: memory bounded
                        pending = deflate.submit(sheet.write, xml)
                        del xml
                    if pending is not None:
                        pending.result()
                    if lo != self.count:
                        raise RuntimeError(f"{name}: {lo} rows written, {self.count} expected")
                    sheet.write(self.tail.encode("utf-8"))
        return out.getvalue()


def put_rows(data: bytes, number: int, kinds: list[str], count: int, slices: Iterable[list[list[Any]]],
             lang: str | None = None, columns: bool = False) -> bytes:
    """The workbook ``data`` with the ``count`` rows of ``slices`` (the sheet's cells, :func:`_trimmed`; with
    ``lang``: the CSV's cells, trimmed as they are put; ``columns`` too: the CSV's cells as columns,
    :meth:`_Sheet.columns_xml`) in sheet ``number`` (whose row 2 is the probe row)."""
    sheet = _Sheet(data, number, kinds, count)

    def chunks() -> Iterator[tuple[int, bytes]]:
        first = 2
        for rows in slices:
            if lang is None:
                n, xml = len(rows), sheet.xml(rows, first)
            elif columns:
                n, xml = len(rows[0]) if rows else 0, sheet.columns_xml(rows, first, lang)
            else:
                n, xml = len(rows), sheet.cells_xml(rows, first, lang)
            yield n, xml
            first += n

    return sheet.package(chunks())


def write_frame(fh: IO[bytes], data: bytes) -> None:
    fh.write(len(data).to_bytes(8, "big"))
    fh.write(data)


def read_frame(fh: IO[bytes]) -> bytes | None:
    """The next frame's bytes; None at the end of the input (or a frame cut short: the writer is gone)."""
    size = fh.read(8)
    if len(size) < 8:
        return None
    n = int.from_bytes(size, "big")
    data = fh.read(n)
    return data if len(data) == n else None


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _serve(src: IO[bytes]) -> None:
    head = read_frame(src)
    data = read_frame(src)
    if head is None or data is None:
        raise RuntimeError("the workbook's writer got no workbook")
    h = json.loads(head)

    def slices() -> Iterator[list[list[Any]]]:
        while (frame := read_frame(src)):  # (an empty frame: the end of the rows)
            yield marshal.loads(frame)

    # the count of rows checked: a sender gone midway is an error here
    book = put_rows(data, h["number"], h["kinds"], h["count"], slices(), h["lang"], columns=True)
    path = h["path"]
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(book)
        os.replace(tmp, path)
    except OSError as exc:
        _unlink(tmp)
        raise OSError(exc.errno, exc.strerror) from None


def main() -> int:
    try:
        with os.fdopen(sys.stdin.fileno(), "rb", buffering=1 << 20, closefd=False) as src:
            _serve(src)
    except BaseException as exc:  # noqa: BLE001 (told to the parent, whatever it is)
        text = f"cannot write the report: {exc.strerror or exc}" if isinstance(exc, OSError) else \
            f"{type(exc).__name__}: {exc}"
        sys.stderr.write(text.replace("\n", " ")[:2000] + "\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
