"""The current signals (``snapshots/signals.jsonl``) read by a process of its own: run as a program
(``python -I _sigread.py SHOWN PATH``, SHOWN the JSON of monitor._evidence.SHOWN_FIELDS) by
:func:`monitor.reports._signals.current_signals` while the build reads the rest, so that the parse runs on a second
core instead of taking the interpreter lock from the build's readers.

``python -I _sigread.py --evidence SHOWN PATH`` does the same for the warning list's evidence
(:func:`monitor.reports._signals.latest_evidence`): the alert lines at the offsets and lengths read from its
standard input (pairs of little-endian int64); it writes ``(at texts, from_tier indexes, signals' texts, rules,
sentence keys)`` by :mod:`marshal`.

The signals stay text (:data:`Listed`): each list's JSON as the replay wrote it (the report's JSON form splices it
in: checked to be what the parsed objects serialise to), and per signal its rule and a key of what its sentence
shows (:func:`sentence_keys`); the parsed objects never leave this process (at a million borrowers ~3 million of
them were loaded by the build and serialised again by the write). It writes ``{borrower id: (text, rules,
keys)}`` by :mod:`marshal` (the reader is the same interpreter and the pipe private; marshal shares the equal keys),
or exits with status 1 when a line is not as the replay writes it: the caller then reads the file itself, as
before, and its error names the line. pydantic-core and the standard library only (no import of ``monitor``)."""

from __future__ import annotations

import gc
import marshal
import os
import sys
from array import array
from typing import Any

from pydantic_core import from_json, to_json

BATCH_BYTES = 8 << 20


# a signal's keys in the order the replay writes them (monitor.outputs.Signal; monitor.reports.model.Evidence)
_SIGNAL_KEYS = ["rule", "family", "level", "since", "values", "thresholds", "event_ids"]
_SAFE_AMOUNT = frozenset((int, float, bool, type(None)))  # an amount vocabulary.money shows (never raises)
Shown = dict[str, tuple[str, str, str]]
Listed = tuple[bytes, tuple[str, ...], tuple[bytes, ...]]  # a list's JSON text, its signals' rules and sentence keys


def sentence_keys(signals: list[Any], shown: Shown, memo: dict[bytes, bytes]) -> tuple[
        tuple[str, ...], tuple[bytes, ...]] | None:
    """The rules of ``signals`` and a key per signal that decides its sentence: :mod:`marshal` (version 2: no refs,
    so equal values give equal bytes; 1, 1.0 and True told apart) of ``(rule, (value, amount, threshold))`` for a
    rule of ``shown`` (monitor._evidence.SHOWN_FIELDS: its direct sentence shows those fields only) whose fields are there
    and whose amount vocabulary.money shows, else of ``(rule, thresholds, values)``; equal keys are one bytes object
    (``memo``). None when a signal is not laid out as the replay writes it (its keys in the model's order, a text
    rule, values and thresholds objects)."""
    rules: list[str] = []
    keys: list[bytes] = []
    dumps = marshal.dumps
    for g in signals:
        if type(g) is not dict or list(g) != _SIGNAL_KEYS:
            return None
        rule, v, th = g["rule"], g["values"], g["thresholds"]
        if type(rule) is not str or type(v) is not dict or type(th) is not dict:
            return None
        names = shown.get(rule)
        if names is not None and names[0] in v and names[1] in v and names[2] in th \
                and type(v[names[1]]) in _SAFE_AMOUNT:
            key = dumps((rule, (v[names[0]], v[names[1]], th[names[2]])), 2)
        else:
            key = dumps((rule, th, v), 2)
        rules.append(rule)
        keys.append(memo.setdefault(key, key))
    return tuple(rules), tuple(keys)


_CURRENT_KEYS = ["borrower_id", "signals"]
_NONE: Listed = (b"[]", (), ())


def parse_texts(path: str, shown: Shown, batch_bytes: int = BATCH_BYTES) -> dict[str, Listed] | None:
    """The signals per borrower of ``signals.jsonl``, each batch (``batch_bytes``) parsed as one JSON array, as text:
    each borrower's list as the file has it (its JSON text: what the report's JSON form writes, checked a batch at a
    time to be what the parser's objects serialise to), its rules and sentence keys (:func:`sentence_keys`); the
    parsed objects are dropped a batch at a time. None when a batch is refused, not a list of ``{"borrower_id": str,
    "signals": list}`` as the replay writes them, or laid out otherwise (the caller then parses the file as before,
    and its error names the line)."""
    out: dict[str, Listed] = {}
    memo: dict[bytes, bytes] = {}
    with open(path, "rb") as fh:
        while batch := fh.readlines(batch_bytes):
            lines = [line[:-1] if line.endswith(b"\n") else line for line in batch if line.strip()]
            joined = b"[" + b",".join(lines) + b"]"
            try:
                docs = from_json(joined)
            except ValueError:
                return None
            if to_json(docs) != joined:  # the text is the objects' serialisation, byte for byte
                return None
            del joined
            for line, d in zip(lines, docs):
                if type(d) is not dict or list(d) != _CURRENT_KEYS or type(d["borrower_id"]) is not str \
                        or type(d["signals"]) is not list:
                    return None
                sigs = d["signals"]
                got = sentence_keys(sigs, shown, memo) if sigs else ((), ())
                if got is None:
                    return None
                # the list's text: after the first ',"signals":' (the id's text cannot hold it: a quote in a text
                # is escaped), to the object's closing brace
                out[d["borrower_id"]] = (line[line.index(b',"signals":') + 11:-1], *got) if sigs else _NONE
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


def evidence(path: str, offsets: list[int], lengths: list[int], shown: Shown,
             batch: int = EVIDENCE_BATCH) -> tuple[list[str], list[int], list[bytes], list[tuple[str, ...]],
                                                   list[tuple[bytes, ...]]] | None:
    """The instant (text), from_tier (index) and signals of the alert lines at ``offsets``, in the given order, each
    batch of lines parsed as one JSON array; the signals as text (:data:`Listed`: each line's list as it has it,
    checked to be what the parser's objects serialise to, its rules and sentence keys). None when a line is not an
    alert laid out as the replay writes it (its keys in the model's order, the kind and tiers known, the signals a
    list of signals as :func:`sentence_keys` wants them, the text canonical)."""
    ats: list[str] = []
    frm: list[int] = []
    texts: list[bytes] = []
    rules: list[tuple[str, ...]] = []
    keys: list[tuple[bytes, ...]] = []
    memo: dict[bytes, bytes] = {}
    if not offsets:
        return ats, frm, texts, rules, keys
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
            joined = b"[" + b",".join(lists) + b"]"
            try:
                docs = from_json(b"[" + b"},".join(heads) + b"}]")
                sigs_of = from_json(joined)
            except ValueError:
                return None
            # the list parsed is the signals' whole value only if it ends where "policy_version" begins (a list
            # ending before it would leave text the parser refuses, or one more element); its text is what the
            # objects serialise to (what the report's JSON form writes)
            if len(docs) != len(lines) or len(sigs_of) != len(lines) or to_json(sigs_of) != joined:
                return None
            for d, sigs, text in zip(docs, sigs_of, lists):
                if type(d) is not dict or list(d) != _HEAD_KEYS:
                    return None
                at, tier = d["at"], _TIERS.get(d["from_tier"], -1)
                if tier < 0 or d["kind"] not in _KINDS or d["to_tier"] not in _TIERS or type(at) is not str \
                        or type(sigs) is not list:
                    return None
                got = sentence_keys(sigs, shown, memo) if sigs else ((), ())
                if got is None:
                    return None
                ats.append(at)
                frm.append(tier)
                texts.append(text)
                rules.append(got[0])
                keys.append(got[1])
    return ats, frm, texts, rules, keys


def main(argv: list[str]) -> int:
    """``[--evidence] SHOWN PATH``: SHOWN is the JSON of monitor._evidence.SHOWN_FIELDS."""
    gc.disable()  # hundreds of thousands of dicts and lists, no cycle: the collector's passes cost twice the parse
    try:
        evidence_mode = argv[1] == "--evidence"
        shown_text, path = argv[1 + evidence_mode:3 + evidence_mode]
        shown = {k: tuple(v) for k, v in from_json(shown_text).items()}
        if evidence_mode:
            pairs = array("q")
            pairs.frombytes(sys.stdin.buffer.read())
            if sys.byteorder != "little":
                pairs.byteswap()
            got_ev = evidence(path, pairs[0::2].tolist(), pairs[1::2].tolist(), shown)
            data = marshal.dumps(got_ev) if got_ev is not None else None
        else:
            got = parse_texts(path, shown)
            data = marshal.dumps(got) if got is not None else None
    except (OSError, ValueError, TypeError, RecursionError, AttributeError):
        data = None
    if data is None:
        return 1
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
