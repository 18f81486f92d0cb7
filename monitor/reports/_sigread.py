"""The current signals (``snapshots/signals.jsonl``) read by a process of its own: run as a program
(``python -I _sigread.py PATH``) by :func:`monitor.reports._signals.current_signals` while the build reads the
rest, so that the parse runs on a second core instead of taking the interpreter lock from the build's readers.

``python -I _sigread.py --evidence PATH`` does the same for the warning list's evidence
(:func:`monitor.reports._signals.latest_evidence`): the alert lines at the offsets and lengths read from its
standard input (pairs of little-endian int64), each parsed whole; it writes ``(at texts, from_tier indexes,
signals)`` by :mod:`marshal`, or exits with status 1 when a line is not an alert as the replay writes it (the
caller then reads the lines itself, and its error names the line).

It writes ``{borrower id: signals}`` to its standard output by :mod:`marshal` (the reader is the same interpreter
and the pipe private; marshal keeps the strings the parser shares, and loading it is a third of the parse's time),
or exits with status 1 when a batch is not as the replay writes it: the caller then reads the file itself, as
before, and its error names the line. pydantic-core and the standard library only (no import of ``monitor``)."""

from __future__ import annotations

import gc
import marshal
import os
import sys
from array import array
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


# the fields of an alert line up to its signals' successor, in the order the replay writes them (monitor.outputs.Alert)
_ALERT_KEYS = ["alert_id", "borrower_id", "kind", "from_tier", "to_tier", "computed_tier", "at", "signals",
               "policy_version"]
_KINDS = frozenset(("raised", "escalated", "de_escalated", "cleared"))
_TIERS = {"normal": 0, "watch": 1, "warning": 2, "severe": 3}  # monitor.reports._replay.TIERS
_HEAD_KEYS = _ALERT_KEYS[:7]  # the fields before the signals
_SIGNALS = b',"signals":['
_AFTER = b'],"policy_version":'
EVIDENCE_BATCH = 16_384


def evidence(path: str, offsets: list[int], lengths: list[int],
             batch: int = EVIDENCE_BATCH) -> tuple[list[str], list[int], list[Any]] | None:
    """The instant (text), from_tier (index) and signals of the alert lines at ``offsets``, in the given order, each
    batch of lines parsed as one JSON array; None when a line is not an alert laid out as the replay writes it (its
    keys in the model's order, the kind and tiers known, the signals a list of ``{"rule": str, ...}``)."""
    ats: list[str] = []
    frm: list[int] = []
    signals: list[Any] = []
    if not offsets:
        return ats, frm, signals
    with open(path, "rb", buffering=0) as fh:
        fd = fh.fileno()
        for lo in range(0, len(offsets), batch):
            # a read per line (not a map of the file: the lines are spread over it, and each touched page of a
            # map would count in this process's memory)
            lines = [os.pread(fd, n, o) for o, n in zip(offsets[lo:lo + batch], lengths[lo:lo + batch])]
            # each line's fields before its signals, and its signals' list, parsed apart (the fields after them,
            # never used, are not parsed): a quote inside a string is escaped, so neither mark occurs inside one
            heads, lists = [], []
            for line in lines:
                i, j = line.find(_SIGNALS), line.rfind(_AFTER)
                if i < 0 or j < i:
                    return None
                heads.append(line[:i])
                lists.append(line[i + len(_SIGNALS) - 1:j + 1])
            try:
                docs = from_json(b"[" + b"},".join(heads) + b"}]")
                sigs_of = from_json(b"[" + b",".join(lists) + b"]")
            except ValueError:
                return None
            # the list parsed is the signals' whole value only if it ends where "policy_version" begins (a list
            # ending before it would leave text the parser refuses, or one more element)
            if len(docs) != len(lines) or len(sigs_of) != len(lines):
                return None
            for d, sigs in zip(docs, sigs_of):
                if type(d) is not dict or list(d) != _HEAD_KEYS:
                    return None
                at, tier = d["at"], _TIERS.get(d["from_tier"], -1)
                if tier < 0 or d["kind"] not in _KINDS or d["to_tier"] not in _TIERS or type(at) is not str \
                        or type(sigs) is not list \
                        or not all(type(g) is dict and type(g.get("rule")) is str for g in sigs):
                    return None
                ats.append(at)
                frm.append(tier)
                signals.append(sigs)
    return ats, frm, signals


def main(argv: list[str]) -> int:
    gc.disable()  # hundreds of thousands of dicts and lists, no cycle: the collector's passes cost twice the parse
    try:
        if argv[1] == "--evidence":
            pairs = array("q")
            pairs.frombytes(sys.stdin.buffer.read())
            if sys.byteorder != "little":
                pairs.byteswap()
            got_ev = evidence(argv[2], pairs[0::2].tolist(), pairs[1::2].tolist())
            data = marshal.dumps(got_ev) if got_ev is not None else None
        else:
            got = parse(argv[1])
            data = marshal.dumps(got) if got is not None else None
    except (OSError, ValueError, TypeError, RecursionError):
        data = None
    if data is None:
        return 1
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
