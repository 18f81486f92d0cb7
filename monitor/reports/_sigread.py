"""The current signals (``snapshots/signals.jsonl``) read by a process of its own: run as a program
(``python -I _sigread.py PATH``) by :func:`monitor.reports._signals.current_signals` while the build reads the
rest, so that the parse runs on a second core instead of taking the interpreter lock from the build's readers.

It writes ``{borrower id: signals}`` to its standard output by :mod:`marshal` (the reader is the same interpreter
and the pipe private; marshal keeps the strings the parser shares, and loading it is a third of the parse's time),
or exits with status 1 when a batch is not as the replay writes it: the caller then reads the file itself, as
before, and its error names the line. pydantic-core and the standard library only (no import of ``monitor``)."""

from __future__ import annotations

import gc
import marshal
import sys
from typing import Any

from pydantic_core import from_json

BATCH_BYTES = 8 << 20


def parse(path: str, batch_bytes: int = BATCH_BYTES) -> dict[str, list[Any]] | None:
    """The signals per borrower, each batch parsed as one JSON array (as ``read_current_signals`` does); None when a
    batch is refused or not a list of ``{"borrower_id": str, "signals": list}``."""
    out: dict[str, list[Any]] = {}
    with open(path, "rb") as fh:
        while batch := fh.readlines(batch_bytes):
            lines = [line for line in batch if line.strip()]
            try:
                docs = from_json(b"[" + b",".join(lines) + b"]") if lines else []
            except ValueError:
                return None
            if not all(type(d) is dict and type(d.get("borrower_id")) is str and type(d.get("signals")) is list
                       for d in docs):
                return None
            out.update((d["borrower_id"], d["signals"]) for d in docs)
    return out


def main(argv: list[str]) -> int:
    gc.disable()  # hundreds of thousands of dicts and lists, no cycle: the collector's passes cost twice the parse
    try:
        got = parse(argv[1])
        data = marshal.dumps(got) if got is not None else None
    except (OSError, ValueError, RecursionError):
        data = None
    if data is None:
        return 1
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
