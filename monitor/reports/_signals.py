"""The evidence of alerts: the signals (rule, level, since, values) recorded with a change of tier.

Only the alerts the report shows are read: the latest alert of each borrower on
the warning list, and the alerts inside the period (for the rule statistics).
The period's alerts are consecutive lines of ``alerts.jsonl`` (it is sorted by
instant), so they are read in one piece; their signal headers are found with
one regular expression, checked against a count of every signal, with a JSON
parse per line as the fallback.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic_core import from_json

from monitor._errors import InputError
from monitor._time import parse_instant
from monitor.reports import _sigread
from monitor.reports._child import answer
from monitor.reports._rowlists import CurrentTexts, SignalTexts
from monitor.reports._replay import alert_fields
from monitor.reports._scan import I64, make_chunk, parse_instants, read_exact

__all__ = ["PeriodSignals", "current_signals", "evidence_ahead", "latest_evidence", "period_signals",
           "read_current_signals", "read_evidence"]

_SIGNALS = re.compile(rb'"signals":')
_HEAD = re.compile(rb'\{"rule":"([^"\\]+)","family":"[^"\\]*","level":"([a-z]+)","since":"([^"\\]+)"')
_DECODER = json.JSONDecoder()


def _signals_of(line: bytes, where: str) -> list[dict[str, Any]]:
    m = _SIGNALS.search(line)
    text = line.decode("utf-8")
    value: Any = None
    if m is not None:  # parse the list only
        head = line[:m.end()]
        try:
            value, _ = _DECODER.raw_decode(text, len(head) if head.isascii() else len(head.decode("utf-8")))
        except ValueError:
            value = None
    if not isinstance(value, list):  # another layout: parse the whole line
        try:
            doc = json.loads(text)
        except ValueError:
            raise InputError(f"alerts.jsonl: {where}: cannot read the signals") from None
        value = doc.get("signals") if isinstance(doc, dict) else None
    if not isinstance(value, list) or not all(isinstance(s, dict) and isinstance(s.get("rule"), str) for s in value):
        raise InputError(f"alerts.jsonl: {where}: signals is not a list of signals")
    return value


# the signals as text (read by _sigread: the replay's layout), or as objects (read here: another layout)
Signals = SignalTexts | list[list[dict[str, Any]]]
Evidence = tuple[I64, NDArray[np.int8], Signals]


@functools.cache
def _shown() -> tuple[dict[str, tuple[str, str, str]], str]:
    """The rules whose sentence shows three fields (monitor._evidence.SHOWN_FIELDS), and its JSON (for _sigread, which does
    not import monitor); imported when first used (monitor._evidence imports the vocabulary, which imports it)."""
    from monitor._evidence import SHOWN_FIELDS
    return SHOWN_FIELDS, json.dumps(SHOWN_FIELDS)


Ahead = tuple[I64, I64, Evidence | None]


def latest_evidence(path: Path, offsets: I64, lengths: I64, batch: int = 16_384, started: bool = True,
                    ahead: Callable[[], Ahead] | None = None,
                    ahead_lines: Callable[[], tuple[I64, I64]] | None = None) -> Evidence:
    """The instant, the from_tier (index) and the signals of the alert lines at ``offsets``, in the given order:
    read by a process of its own (:mod:`monitor.reports._sigread`, on the second core, loaded here from its
    :mod:`marshal` bytes), the signals as text (:class:`~monitor.reports._rowlists.SignalTexts`: each list as the
    line has it, its rules and sentence keys); or, when that process cannot be started or refuses a line (not laid
    out as the replay writes it), read here by :func:`read_evidence` (the signals as objects; its error names the
    line). ``started`` False: no process (the text made here, ``batch`` lines at a time).

    ``ahead()``: some lines parsed beforehand (:func:`evidence_ahead`: most of them, before the lines of the period
    were known); only the others are parsed now. When either part was refused (or ``ahead()`` raises), all the lines
    are read as without it. ``ahead_lines()``: the lines ``ahead`` was asked for (:func:`evidence_ahead`'s
    ``offsets()``), known before its answer: the others are then parsed by a process started at once, beside it."""
    if bool(np.any(offsets < 0)):
        raise InputError("alerts.jsonl: a borrower under warning has no alert (not the replay of borrowers.jsonl)")
    if offsets.size and started:
        got = _with_ahead(path, offsets, lengths, ahead, ahead_lines) if ahead is not None else None
        if got is None:
            got = _evidence_by_process(path, offsets, lengths)
        if got is not None:
            return got
    elif offsets.size:  # read here, as text (the same answer as the process's)
        got = _evidence_of(_sigread.evidence(str(path), offsets.tolist(), lengths.tolist(), _shown()[0], batch))
        if got is not None:
            return got
    return read_evidence(path, offsets, lengths, batch)


def evidence_ahead(path: Path, offsets: Callable[[], tuple[I64, I64]]) -> Ahead:
    """The lines at ``offsets()`` (offsets and lengths; -1: none) parsed by a process of its own ahead of
    :func:`latest_evidence` (its ``ahead``): the offsets and lengths asked (copies) and the evidence, or None when
    refused."""
    off, length = _asked(offsets)
    return off, length, (_evidence_by_process(path, off, length) if off.size else None)


def _asked(offsets: Callable[[], tuple[I64, I64]]) -> tuple[I64, I64]:
    off, length = offsets()
    some = np.flatnonzero(off >= 0)
    return off[some], length[some]


def _matched(known_off: I64, known_len: I64, offsets: I64, lengths: I64) -> tuple[I64, NDArray[np.bool_], I64]:
    """Where each line of ``offsets`` is among the known ones (``src``), whether it is (``hit``), and the others."""
    order = np.argsort(known_off, kind="stable")
    at = np.minimum(np.searchsorted(known_off[order], offsets), max(order.size - 1, 0))
    src = order[at] if order.size else np.zeros(offsets.size, dtype=np.int64)
    hit = (known_off[src] == offsets) & (known_len[src] == lengths) if order.size else np.zeros(offsets.size, bool)
    return src, hit, np.flatnonzero(~hit)


def _with_ahead(path: Path, offsets: I64, lengths: I64, ahead: Callable[[], Ahead],
                lines: Callable[[], tuple[I64, I64]] | None = None) -> Evidence | None:
    with ThreadPoolExecutor(1, thread_name_prefix="evidence-rest") as beside:
        early: Future[Evidence | None] | None = None
        if lines is not None:  # the lines not asked ahead: parsed now, beside it
            try:
                asked = _asked(lines)
            except Exception:  # (the error of what found the lines is the caller's to raise)
                return None
            match = _matched(*asked, offsets, lengths)
            if match[2].size:
                early = beside.submit(_evidence_by_process, path, offsets[match[2]], lengths[match[2]])
        try:
            known_off, known_len, known = ahead()
        except Exception:  # (the error of what found the lines is the caller's to raise)
            return None
        if known is None or not isinstance(known[2], SignalTexts):
            return None
        if lines is None or not (np.array_equal(known_off, asked[0]) and np.array_equal(known_len, asked[1])):
            match, early = _matched(known_off, known_len, offsets, lengths), None
        src, hit, miss = match
        rest = (early.result() if early is not None else _evidence_by_process(path, offsets[miss], lengths[miss])) \
            if miss.size else None
    if miss.size and rest is None:
        return None
    ats = np.empty(offsets.size, dtype=np.int64)
    frm = np.empty(offsets.size, dtype=np.int8)
    ats[hit], frm[hit] = known[0][src[hit]], known[1][src[hit]]
    signals = known[2].take(src.tolist())
    if rest is not None:
        ats[miss], frm[miss] = rest[0], rest[1]
        got = rest[2]
        if not isinstance(got, SignalTexts):  # (never: the process answers text)
            return None
        for k, i in enumerate(miss.tolist()):
            signals.texts[i], signals.rules[i], signals.keys[i] = got.texts[k], got.rules[k], got.keys[k]
    return ats, frm, signals


def _evidence_by_process(path: Path, offsets: I64, lengths: I64) -> Evidence | None:
    pairs = np.empty((offsets.size, 2), dtype="<i8")
    pairs[:, 0], pairs[:, 1] = offsets, lengths
    try:
        proc = subprocess.Popen([sys.executable, "-I", _sigread.__file__, "--evidence", _shown()[1], str(path)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError:
        return None
    send = pairs.tobytes()
    del pairs
    got = answer(proc, send)
    del send
    if type(got) is not tuple or len(got) != 5 or not all(type(x) is list and len(x) == offsets.size for x in got):
        return None
    return _evidence_of(got)


def _evidence_of(got: Any) -> Evidence | None:
    """:func:`monitor.reports._sigread.evidence`'s answer as the evidence (None: refused)."""
    if got is None:
        return None
    texts, frm, lists, rules, keys = got
    ats, ok = _instants_of([t.encode("utf-8") for t in texts])
    if not bool(ok.all()):
        return None
    return ats, np.array(frm, dtype=np.int8), SignalTexts(lists, rules, keys)


def read_evidence(path: Path, offsets: I64, lengths: I64,
                  batch: int = 16_384) -> tuple[I64, NDArray[np.int8], list[list[dict[str, Any]]]]:
    """:func:`latest_evidence` read in this process; ``batch`` lines at a time (a million-borrower list: the lines,
    their text joined and its arrays are a few hundred MB at once)."""
    ats: list[I64] = []
    frm: list[NDArray[np.int8]] = []
    signals: list[list[dict[str, Any]]] = []
    for lo in range(0, offsets.size, batch):
        off = offsets[lo:lo + batch]
        lines = read_exact(path, off, lengths[lo:lo + batch])
        fields = alert_fields(make_chunk(b"\n".join(lines) + b"\n", lo + 1), path.name)
        ats.append(fields[4])
        frm.append(fields[2])
        signals += _all_signals(lines, off)
    if not ats:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int8), []
    return np.concatenate(ats), np.concatenate(frm), signals


def _all_signals(lines: list[bytes], offsets: I64) -> list[list[dict[str, Any]]]:
    """The signals of each alert line: their lists parsed as one JSON array by pydantic-core's parser, which
    makes each repeated key and short text once (a hundred thousand lines: about half the memory of a
    parse per line, and faster); a line it refuses, or whose signals are not a list of signals, is read
    alone by :func:`_signals_of` (which names it)."""
    parts = [_signals_part(line) for line in lines]
    try:
        docs = from_json(b"[" + b",".join(parts) + b"]")
    except ValueError:
        docs = None
    out: list[list[dict[str, Any]]] = []
    for i, (off, raw) in enumerate(zip(offsets.tolist(), lines)):
        sigs = docs[i] if docs is not None else None
        if type(sigs) is not list or not all(type(g) is dict and type(g.get("rule")) is str for g in sigs):
            sigs = _signals_of(raw, f"offset {off}")
        out.append(sigs)
    return out


_AFTER = b'],"policy_version":'  # what follows the signals in the replay's alert lines (the model's field order)


def _signals_part(line: bytes) -> bytes:
    """The ``[...]`` of an alert line's signals as the replay writes it (``"signals":[...],"policy_version":``:
    a quote inside a string is escaped, so neither mark occurs inside one), the list alone parsed instead of the
    whole line; ``null`` when the line is laid out otherwise (it is then read alone by :func:`_signals_of`)."""
    at = line.find(b'"signals":[')
    end = line.rfind(_AFTER)
    return line[at + 10:end + 1] if 0 <= at < end else b"null"


@dataclass(frozen=True, slots=True)
class PeriodSignals:
    """One row per signal of the period's alerts: the alert's position, the rule and when it began to hold."""

    alert: NDArray[np.int64]
    rule: list[str]
    since: I64


def _instants_of(values: list[bytes]) -> tuple[I64, NDArray[np.bool_]]:
    """ISO 8601 instants as microseconds, and which parsed (:func:`parse_instants`)."""
    if not values:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    width = max(32, max(len(v) for v in values))
    arr = np.array(values, dtype=f"S{width}")
    mat = np.ascontiguousarray(arr).view(np.uint8).reshape(arr.size, width)
    lengths = np.array([len(v) for v in values], dtype=np.int64)
    return parse_instants(mat, lengths)


def _since_us(values: list[bytes]) -> I64:
    if not values:
        return np.zeros(0, dtype=np.int64)
    us, ok = _instants_of(values)
    for i in np.flatnonzero(~ok):
        us[i] = parse_instant(values[int(i)].decode("utf-8"))
    return us


def period_signals(path: Path, offsets: I64, lengths: I64) -> PeriodSignals:
    """The signals of consecutive alert lines (``offsets`` ascending, one line each)."""
    if offsets.size == 0:
        return PeriodSignals(np.zeros(0, dtype=np.int64), [], np.zeros(0, dtype=np.int64))
    base = int(offsets[0])
    end = int(offsets[-1] + lengths[-1])
    (blob,) = read_exact(path, np.array([base], dtype=np.int64), np.array([end - base], dtype=np.int64))
    starts = offsets - base
    matches = list(_HEAD.finditer(blob))
    expected = blob.count(b'{"rule":')
    if len(matches) == expected and blob.count(b'"rule"') == expected:
        pos = np.array([m.start() for m in matches], dtype=np.int64)
        alert = np.searchsorted(starts, pos, side="right") - 1
        rules = [m.group(1).decode("utf-8") for m in matches]
        since = _since_us([m.group(3) for m in matches])
        return PeriodSignals(alert.astype(np.int64), rules, since)
    alerts: list[int] = []
    rules = []
    since_text: list[bytes] = []
    for i, (s, n) in enumerate(zip(starts.tolist(), lengths.tolist())):
        for sig in _signals_of(blob[s:s + n], f"offset {base + s}"):
            alerts.append(i)
            rules.append(str(sig.get("rule", "")))
            since_text.append(str(sig.get("since", "")).encode())
    return PeriodSignals(np.array(alerts, dtype=np.int64), rules, _since_us(since_text))


def read_current_signals(path: Path, batch_bytes: int = 8 << 20) -> dict[str, list[dict[str, Any]]] | None:
    """The signals that hold at the replay's as-of, per borrower (``signals.jsonl``: one line per borrower
    at watch or above, ``{"borrower_id": ..., "signals": [...]}``); none when the replay wrote none.

    The lines are parsed a batch (``batch_bytes``) at a time as one JSON array by pydantic-core's parser,
    which makes each repeated key and short text once (a line parsed alone by ``json`` has its own copy of
    every key: at a million borrowers hundreds of MB more), and never holds more than a batch of the file's
    text; a batch it refuses is read a line at a time, so that the error names the line."""
    if not path.is_file():
        return None
    out: dict[str, list[dict[str, Any]]] = {}
    number = 0
    with path.open("rb") as fh:
        while batch := fh.readlines(batch_bytes):
            lines = [line for line in batch if line.strip()]
            try:
                docs = from_json(b"[" + b",".join(lines) + b"]") if lines else []
            except ValueError:
                docs = None
            if docs is not None and all(type(d) is dict and type(d.get("borrower_id")) is str
                                        and type(d.get("signals")) is list for d in docs):
                out.update((d["borrower_id"], d["signals"]) for d in docs)
                number += len(batch)
                continue
            for line in batch:
                number += 1
                if not line.strip():
                    continue
                try:
                    doc = json.loads(line)
                except ValueError:
                    raise InputError(f"{path.name}: line {number}: not JSON") from None
                sigs = doc.get("signals") if isinstance(doc, dict) else None
                if not isinstance(doc, dict) or not isinstance(doc.get("borrower_id"), str) or not isinstance(sigs, list):
                    raise InputError(f"{path.name}: line {number}: expected borrower_id and signals")
                out[doc["borrower_id"]] = sigs
    return out


def current_signals(path: Path, started: bool = True) -> CurrentTexts | dict[str, list[dict[str, Any]]] | None:
    """The signals at the replay's as-of per borrower, as text (:class:`CurrentTexts`: each borrower's list as the
    file has it, its rules and sentence keys; :func:`monitor.reports._sigread.parse_texts`), made by a process of its
    own (a fresh process: it shares no page of the caller's; the parse on a second core while the caller's threads
    read the rest) and loaded here from its :mod:`marshal` bytes. When that process cannot be started or refuses the
    file (not laid out as the replay writes it), the file is read here by :func:`read_current_signals` (the signals
    as objects; its error names the line). ``started`` False: no process (the text made here)."""
    if not path.is_file():
        return None
    if not started:
        here = _sigread.parse_texts(str(path), _shown()[0])
        return CurrentTexts(here) if here is not None else read_current_signals(path)
    try:
        proc = subprocess.Popen([sys.executable, "-I", _sigread.__file__, _shown()[1], str(path)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError:
        return read_current_signals(path)
    got = answer(proc)
    return CurrentTexts(got) if type(got) is dict else read_current_signals(path)
