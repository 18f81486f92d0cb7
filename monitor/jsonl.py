"""Reading event files: JSONL, optionally gzip-compressed, or standard input."""

from __future__ import annotations

import gzip
import sys
from collections.abc import Iterator
from pathlib import Path

from monitor._errors import InputError

__all__ = ["iter_lines", "MAX_LINE_BYTES"]

MAX_LINE_BYTES = 1_048_576  # a longer line is rejected, not parsed


def iter_lines(path: str | Path) -> Iterator[tuple[int, bytes]]:
    """Yield (line number from 1, raw line without the newline) of a JSONL file, ``.gz`` or ``-``."""
    name = str(path)
    try:
        if name == "-":
            stream = sys.stdin.buffer
            close = False
        else:
            p = Path(name)
            if not p.is_file():
                raise InputError(f"{name}: no such file")
            raw = p.open("rb")
            head = raw.read(2)
            raw.seek(0)
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
