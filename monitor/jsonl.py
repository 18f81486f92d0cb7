"""Event files, the contract's file form: JSONL, optionally gzip-compressed, or standard input.

:func:`iter_lines` reads the lines; :func:`parse_lines` judges each with the event contract and keeps
the valid events, and a :class:`Reject` (file, line, reason, text) for every other line. The offline
replay, the backtest and ``monitor produce`` read event files through it alike.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence
from itertools import repeat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import ValidationError

from monitor._civil import days_from_civil
from monitor._errors import InputError
from monitor._time import to_us
from monitor.events import EVENT_ADAPTER, Event, describe_validation_error

__all__ = ["FILES", "FILES_FORMAT", "MAX_LINE_BYTES", "UNREAD", "Reject", "compressed", "file_digest", "iter_lines",
           "instants_at", "parse_lines", "plain_instants", "range_blocks", "read_files", "reject_text", "write_files"]

MAX_LINE_BYTES = 1_048_576  # a longer line is rejected, not parsed
_BLOCK = 1 << 20  # bytes read at once by range_blocks
_MAX_REJECT_TEXT = 65_536


def iter_lines(path: str | Path) -> Iterator[tuple[int, bytes]]:
    """Yield (line number from 1, raw line without the newline) of a JSONL file, ``.gz`` or ``-``."""
    name = str(path)
    try:
        if name == "-":
            stream = sys.stdin.buffer
            close = False
        else:
            p = Path(name)
            if p.is_dir():
                raise InputError(f"{name}: is a directory")
            if not p.exists():
                raise InputError(f"{name}: no such file")
            raw = p.open("rb")  # a file, /dev/null or a pipe (<(zcat ...)): peeked, never sought
            head = raw.peek(2)[:2]
            stream = gzip.GzipFile(fileobj=raw) if head == b"\x1f\x8b" else raw  # type: ignore[assignment]
            close = True
        try:
            for number, line in enumerate(stream, start=1):
                yield number, line.rstrip(b"\r\n")
        finally:
            if close:
                stream.close()
    except (OSError, EOFError) as exc:
        raise InputError(f"{name}: cannot read: {exc}") from None


def range_blocks(path: Path, lo: int, hi: int) -> Iterator[bytes]:
    """The lines of a plain file that start at a byte offset in [lo, hi), as blocks of whole lines joined by
    newlines (a line may end with carriage returns, as in the file), about ``_BLOCK`` bytes each: the lines
    ``iter_lines`` gives, with [0, size) (the replay's splitting reads each process's range so)."""
    try:
        with path.open("rb") as fh:
            start = lo
            if lo > 0:
                fh.seek(lo - 1)
                start = lo - 1 + len(fh.readline())  # the first line that starts at or after lo
            if start >= hi:
                return
            fh.seek(start)
            pos, rest = start, b""  # the file offset of ``rest``, the part of a line read before
            while True:
                block = fh.read(_BLOCK)
                data = rest + block if rest else block
                if not block:
                    if data:
                        yield data  # the last line, without a line break
                    return
                last = hi - 1 - pos  # the index in ``data`` of the range's last byte
                if last < len(data):
                    cut = data.find(b"\n", max(last, 0))  # the end of the line that holds it
                    if cut >= 0:
                        yield data[:cut]
                        return
                    rest = data
                    continue
                cut = data.rfind(b"\n")
                if cut < 0:
                    rest = data
                    continue
                yield data[:cut]
                pos += cut + 1
                rest = data[cut + 1:]
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None


UNREAD = -(2**63)  # plain_instants: an instant not read from the text
_OCC = b'"occurred_at"'
_WINDOW = np.arange(13, 13 + 28)  # from a key's first quote: ':"', the value (19 + 1 or 6 bytes) and its quote
_DATE_DIGITS = np.array([2, 3, 4, 5, 7, 8, 10, 11, 13, 14, 16, 17, 19, 20])
_OFFSET_DIGITS = np.array([22, 23, 25, 26])
_PUNCT = np.array([0, 1, 6, 9, 12, 15, 18])  # ':"', the date's two '-', 'T', the time's two ':'
_PUNCT_BYTES = np.frombuffer(b':"--T::', dtype=np.uint8)


def plain_instants(block: bytes, lines: list[bytes]) -> NDArray[np.int64]:
    """``occurred_at`` of each of ``lines`` (the lines of ``block``, as ``range_blocks`` gives it: a line may end
    with carriage returns) read from the text at once, as microseconds since the epoch, where the line holds no
    backslash (no escape: the text is what validation reads) and ``"occurred_at"`` once, written
    ``"occurred_at":"YYYY-MM-DDTHH:MM:SS`` with ``Z`` or ``±HH:MM`` and its closing quote (what the feeds and
    the simulator write); ``UNREAD`` elsewhere. For a line that is a valid event, validation gives the same
    instant (tests/test_jsonl_instants.py); a line that is not may be given any."""
    n = len(lines)
    out = np.full(n, UNREAD, dtype=np.int64)
    count = block.count(_OCC) if n else 0
    if not count:
        return out
    raw = lines if b"\r" not in block else block.split(b"\n")  # (the lines' places in the block)
    lens = np.fromiter(map(len, raw), dtype=np.int64, count=n)
    starts = np.zeros(n, dtype=np.int64)
    np.cumsum(lens[:-1] + 1, out=starts[1:])
    at = line = None
    if count == n:  # as many as lines: one in each line when each holds one (found without splitting the block)
        first = np.fromiter(map(bytes.find, raw, repeat(_OCC, n)), dtype=np.int64, count=n)
        if first.min() >= 0:
            at, line = starts + first, np.arange(n)
    if at is None:
        parts = block.split(_OCC)
        plens = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
        at = np.cumsum(plens[:-1]) + 13 * np.arange(len(parts) - 1)  # where each "occurred_at" starts
        line = np.searchsorted(starts, at, "right") - 1
        once = np.bincount(line, minlength=n) == 1
        sel = once[line]
        at, line = at[sel], line[sel]
    if b"\\" in block:  # a line with a backslash is read by validation only
        data = np.frombuffer(block, dtype=np.uint8)
        clean = np.ones(n, dtype=np.bool_)
        clean[np.searchsorted(starts, np.flatnonzero(data == 92), "right") - 1] = False
        sel = clean[line]
        at, line = at[sel], line[sel]
    if not at.size:
        return out
    data = np.frombuffer(block if int(at[-1]) + 41 <= len(block) else block + b"\n" * 41, dtype=np.uint8)
    return instants_at(data, at, line, n)


def instants_at(data: NDArray[np.uint8], at: NDArray[np.int64], line: NDArray[np.int64], n: int,
                w: NDArray[np.uint8] | None = None) -> NDArray[np.int64]:
    """``plain_instants`` of ``n`` lines from the bytes of their block (``data``, at least 41 bytes past the last of
    ``at``): ``at`` the places of the ``"occurred_at"`` keys that may be read (each the only one of its line, in
    a line without backslash), ``line`` their lines; ``w``: the bytes 13 to 40 from each of ``at``, when taken."""
    out = np.full(n, UNREAD, dtype=np.int64)
    if w is None:  # from each key's first quote, the bytes 13 to 40: ':"', the value (19 + 1 or 6 bytes), its quote
        w = data[at[:, None] + _WINDOW]
    ok = (w[:, _PUNCT] == _PUNCT_BYTES).all(axis=1) & ((w[:, _DATE_DIGITS] - 48) <= 9).all(axis=1)
    zulu = (w[:, 21] == 90) & (w[:, 22] == 34)
    signed = (((w[:, 21] == 43) | (w[:, 21] == 45)) & (w[:, 24] == 58) & (w[:, 27] == 34)
              & ((w[:, _OFFSET_DIGITS] - 48) <= 9).all(axis=1))
    d = w[:, :27].astype(np.int64) - 48
    y = d[:, 2] * 1000 + d[:, 3] * 100 + d[:, 4] * 10 + d[:, 5]
    m, day = d[:, 7] * 10 + d[:, 8], d[:, 10] * 10 + d[:, 11]
    hh, mi, ss = d[:, 13] * 10 + d[:, 14], d[:, 16] * 10 + d[:, 17], d[:, 19] * 10 + d[:, 20]
    oh, om = d[:, 22] * 10 + d[:, 23], d[:, 25] * 10 + d[:, 26]
    ok &= (zulu | (signed & (oh <= 23) & (om <= 59))) & (y >= 1) & (m >= 1) & (m <= 12) & (day >= 1) & (day <= 31)
    ok &= (hh <= 23) & (mi <= 59) & (ss <= 59)
    offset = np.where(zulu, 0, np.where(w[:, 21] == 45, -1, 1) * (oh * 3600 + om * 60))
    days = days_from_civil(y, m, day)
    out[line[ok]] = ((days * 86_400 + hh * 3600 + mi * 60 + ss - offset) * 1_000_000)[ok]
    return out


def compressed(path: Path) -> bool:
    """Whether a file is gzip-compressed (its first two bytes)."""
    with path.open("rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


@dataclass(frozen=True, slots=True)
class Reject:
    source: str
    line: int
    reason: str
    text: str

    def to_json(self) -> str:
        return json.dumps(
            {"source": self.source, "line": self.line, "reason": self.reason, "text": self.text},
            ensure_ascii=False, sort_keys=True,
        )




def reject_text(raw: bytes) -> str:
    """A rejected line's text as a reject shows it (decoded leniently, bounded)."""
    text = raw.decode("utf-8", errors="replace")
    if len(text) > _MAX_REJECT_TEXT:
        return text[:_MAX_REJECT_TEXT] + f"… [{len(text)} characters in all]"
    return text


def parse_lines(
    source: str, lines: Iterable[tuple[int, bytes]], rejects: list[Reject], raws: list[bytes] | None = None,
    numbers: array[int] | None = None,
) -> list[tuple[int, Event]]:
    """Validate lines; return (instant, event) pairs and append rejects for the bad ones.

    With ``raws``, the original bytes of each valid line are appended to it, aligned with the result;
    with ``numbers``, their line numbers.
    """
    validate = EVENT_ADAPTER.validate_json
    out: list[tuple[int, Event]] = []
    append = out.append
    for number, raw in lines:
        if len(raw) > MAX_LINE_BYTES:
            rejects.append(Reject(source, number, f"line longer than {MAX_LINE_BYTES} bytes", reject_text(raw)))
            continue
        if not raw or raw.isspace():  # as ``not raw.strip()``, without a copy of the line
            rejects.append(Reject(source, number, "empty line", ""))
            continue
        try:
            event = validate(raw)
        except ValidationError as exc:
            rejects.append(Reject(source, number, describe_validation_error(exc), reject_text(raw)))
            continue
        append((to_us(event.occurred_at), event))
        if raws is not None:
            raws.append(raw)
        if numbers is not None:
            numbers.append(number)
    return out


FILES = "files.json"
FILES_FORMAT = "monitor-replay-files/1"


def file_digest(path: str | Path, count_lines: bool = False) -> dict[str, Any]:
    """SHA-256 and size of a file as stored; with ``count_lines``, the lines of its (decompressed) text too.
    ``hashlib`` releases the interpreter lock: run it on a helper thread beside other work."""
    p = Path(path)
    digest = hashlib.sha256()
    size = newlines = 0
    last = b"\n"
    try:
        with p.open("rb") as fh:
            gz = fh.read(2) == b"\x1f\x8b"
            fh.seek(0)
            while block := fh.read(1 << 22):
                digest.update(block)
                size += len(block)
                if count_lines and not gz:
                    newlines += block.count(b"\n")
                    last = block[-1:]
        if count_lines and gz:
            with gzip.open(p, "rb") as text:
                while block := text.read(1 << 22):
                    newlines += block.count(b"\n")
                    last = block[-1:]
    except (OSError, EOFError) as exc:
        raise InputError(f"{p}: cannot read: {exc}") from None
    out: dict[str, Any] = {"sha256": digest.hexdigest(), "bytes": size}
    if count_lines:
        out["lines"] = newlines + (0 if last == b"\n" else 1)
    return out


def write_files(out: Path, inputs: Sequence[tuple[str, dict[str, Any]]], outputs: Sequence[str],
                known: dict[str, dict[str, Any]] | None = None) -> None:
    """``files.json`` beside a replay's outputs: the digest of every input (name as given, SHA-256, bytes,
    lines) and of the ``outputs`` (file names in ``out``), so that a reader (``monitor report``) records
    them as provenance without reading gigabytes again. ``known``: digests taken as the files were written
    (``file_digest``'s), by name; the other outputs are read."""
    known = known or {}
    doc = {"format": FILES_FORMAT, "inputs": [{"name": name, **d} for name, d in inputs],
           "outputs": {name: known[name] if name in known else file_digest(out / name)
                       for name in outputs if name in known or (out / name).is_file()}}
    (out / FILES).write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def read_files(out: Path) -> dict[str, Any] | None:
    """``files.json`` of a replay's outputs (None when absent or not of this format)."""
    try:
        doc = json.loads((out / FILES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == FILES_FORMAT else None
