"""A report's input directory written from what the workers publish, without replaying the feeds (issue 14).

``build_report`` reads a replay's output directory. From the topics (the workers' day-end rows folded in a
:class:`monitor.day_ends.DayEnds`, the alerts topic, the dead letters) :func:`write_inputs` writes one as of the
end of a day (the cut):

* ``snapshots/`` (records, inspections, events per feed and day), ``snapshots/signals.jsonl`` and
  ``schedule_history.jsonl``: from the fold, what ``monitor replay --as-of CUT`` writes, line for line;
* ``alerts.jsonl``: the published alerts up to the cut, each once (a restarted worker publishes some again), in
  the replay's order (instant, borrower, sequence): the same lines;
* ``rejects.jsonl``: the given rejected messages (text, reason), numbered after the accepted events as the
  desk's replay of the feeds numbers them;
* ``summary.json``: the replay's counts (events per type from the rows, borrowers by tier from the records at
  the cut, alerts by kind, rejects by reason);
* ``borrowers.jsonl``: one line per borrower known at the cut, from its record then; the report reads its tier,
  next visit due and team (the same as the replay's); the rules listed are those of its signals at the cut
  (watch or above), the other fields the record's;
* ``files.json``: in place of the event files' digests, the topics' end offsets the input was read to.

The report built on it has the sections of ``monitor replay --as-of CUT`` + ``monitor report`` on the same events
(tests/desk/test_report_topics.py); its recorded inputs name these files instead.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from json.encoder import encode_basestring as _string  # a JSON string, non-ASCII as is (as pydantic writes it)
from typing import Any, get_args

import numpy as np

from monitor._time import parse_instant
from monitor.day_ends import DayEnds
from monitor.engine import Engine
from monitor.jsonl import FILES, FILES_FORMAT, Reject, file_digest
from monitor.outputs import BorrowerView, ClassificationName
from monitor.replay import summary_of
from monitor.rules.policy import LEVEL_NAMES, Policy
from monitor.snapshots import DUE_WHY, NONE, day_date

__all__ = ["TOPICS_SOURCE", "AlertRows", "write_inputs"]

_CLASSES: tuple[str, ...] = get_args(ClassificationName)  # the floor codes 0-4, in order
TOPICS_SOURCE = "topics"  # the name a reject's source and files.json give the input read from the topics


class _Counts:
    """What ``summary_of`` reads of a replay result."""

    def __init__(self, as_of: int, read: int, applied: int, duplicates: int, by_type: Counter[str],
                 newest: dict[str, int]) -> None:
        self.as_of, self.read, self.applied, self.duplicates = as_of, read, applied, duplicates
        self.after_as_of = 0
        self.events_by_type, self.newest_by_type = by_type, newest


class AlertRows:
    """The published alerts, each once (a restarted worker publishes some again; the first read holds), parsed
    as they are added: ``(instant, borrower, sequence)``, the line, the kind."""

    def __init__(self, alerts: Iterable[bytes] = ()) -> None:
        self._rows: dict[str, tuple[tuple[int, str, int], bytes, str]] = {}
        for raw in alerts:
            self.add(raw)

    def add(self, raw: bytes) -> None:
        """One message of the alerts topic; ``ValueError`` (or ``KeyError``) when it is not an alert."""
        doc = json.loads(raw)
        aid = doc["alert_id"]
        if aid not in self._rows:
            self._rows[aid] = ((parse_instant(doc["at"]), doc["borrower_id"], int(doc["sequence"])), raw,
                               doc["kind"])

    def __len__(self) -> int:
        return len(self._rows)

    def upto(self, cut: int) -> list[tuple[tuple[int, str, int], bytes, str]]:
        """The alerts up to the instant ``cut``, in the replay's order (instant, borrower, sequence)."""
        rows = [v for v in self._rows.values() if v[0][0] <= cut]
        rows.sort(key=lambda v: v[0])
        return rows

    def ids(self, cut: int) -> frozenset[str]:
        return frozenset(aid for aid, v in self._rows.items() if v[0][0] <= cut)


def write_inputs(fold: DayEnds, alerts: AlertRows | Iterable[bytes], rejects: Sequence[tuple[str, str]], out: Path, *,
                 until: int, policy: Policy, offsets: Mapping[str, Mapping[int, int]]) -> Path:
    """Write the report's input directory ``out`` as of the end of the day ``until`` (see the module docstring).
    ``rejects``: the rejected messages' (text, reason), in the order the desk numbers them; ``offsets``: the
    topics' end offsets read (topic -> partition -> offset), recorded as the input's provenance."""
    cut = fold.days.start(until + 1) - 1
    out.mkdir(parents=True, exist_ok=True)
    snaps = out / "snapshots"
    fold.write(snaps, until, cut, policy_version=policy.version, timezone=policy.timezone, known_only=True)
    engine = Engine(policy)
    judged = fold.judged(until, engine)
    (snaps / "signals.jsonl").write_bytes(b"".join(line + b"\n" for _bid, line, _rules in judged))
    with (out / "schedule_history.jsonl").open("wb") as fb:
        fold.write_history(until, fb)
    rows = (alerts if isinstance(alerts, AlertRows) else AlertRows(alerts)).upto(cut)
    with (out / "alerts.jsonl").open("wb") as fb:  # a block at a time (8,192 lines, ~4.5 MB): not held whole
        for k in range(0, len(rows), 8_192):
            fb.write(b"\n".join([raw for _, raw, _ in rows[k:k + 8_192]]) + b"\n")
    counts, newest = fold.counts(until)
    accepted = sum(a + c for a, c in counts.values())
    with (out / "rejects.jsonl").open("w", encoding="utf-8", newline="\n") as fh:
        for i, (text, why) in enumerate(rejects):
            fh.write(Reject(TOPICS_SOURCE, accepted + i + 1, why, text).to_json())
            fh.write("\n")
    rules = {bid: r for bid, _line, r in judged}
    tiers, workout = _write_borrowers(fold, until, rules, out / "borrowers.jsonl")
    by_type = Counter({t: a for t, (a, _c) in counts.items() if a})
    result = _Counts(cut, accepted + len(rejects), sum(a for a, _ in counts.values()),
                     sum(c for _, c in counts.values()), by_type, {t: at for t, at in newest.items() if at > NONE})
    summary = summary_of(result, sum(tiers.values()), tiers, len(rows), Counter(kind for _, _, kind in rows),
                         Counter(why for _, why in rejects), len(rejects), workout)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=False, ensure_ascii=False) + "\n",
                                      encoding="utf-8")
    provenance = json.dumps({"topics": {t: {str(p): o for p, o in sorted(v.items())} for t, v in sorted(offsets.items())},
                             "until": day_date(until).isoformat()}, sort_keys=True, separators=(",", ":")).encode()
    doc = {"format": FILES_FORMAT,
           "inputs": [{"name": f"{TOPICS_SOURCE}.json", "sha256": hashlib.sha256(provenance).hexdigest(),
                       "bytes": len(provenance), "lines": accepted + len(rejects)}],
           "outputs": {name: file_digest(out / name) for name in
                       ("summary.json", "borrowers.jsonl", "alerts.jsonl", "schedule_history.jsonl", "rejects.jsonl")}}
    (out / FILES).write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return out


def _write_borrowers(fold: DayEnds, until: int, rules: Mapping[str, list[str]], path: Path) -> tuple[Counter[str], int]:
    """``borrowers.jsonl``: a line per borrower known at the end of the day ``until`` (:meth:`DayEnds.known_mask`), by
    id, from its record then: ``BorrowerView(...).model_dump_json()``'s bytes (:func:`_view`), formatted here from
    the record's columns 16,384 borrowers at a time (a model per borrower cost ~25 us: 25 s at a million; whole
    columns as lists held ~0.35 GiB at a million), the change rows released once the records are taken. Each
    field's text is taken from a table by code for the whole block (numpy's take on object arrays), the lines
    made by one format a borrower. The counts by tier (``no_profile`` without one) and of borrowers in workout."""
    cols, has = fold.last_rows(until)  # each borrower's record at the cut, by position in fold.borrowers()
    fold.release()  # (the change rows: no file of the input directory reads them after this one)
    texts = fold.texts()
    ids = fold.borrowers()
    n = len(ids)
    known = fold.known_mask(until)  # by position
    profiled = has & (cols["tier"] >= 0)
    levels = np.array([_string(x) for x in LEVEL_NAMES], dtype=object)
    classes = np.array([_string(x) for x in _CLASSES], dtype=object)
    team_text = np.array([*(_string(t) if t is not None else "null" for t in texts["team"]), "null"], dtype=object)
    branch_text = np.array([*(_string(t) if t is not None else "null" for t in texts["branch"]), "null"], dtype=object)
    listed = {bid: ",".join(map(_string, r)) for bid, r in rules.items() if r}  # the watch+ borrowers' rules
    workout_why = DUE_WHY.index("workout")
    tiers: Counter[str] = Counter()
    workout = 0
    line = ('{{"borrower_id":{},"tier":{},"computed_tier":{},"active_rules":[{}],"min_classification":{},'
            '"next_visit_due":{},"team":{},"branch":{},"exposure":{!r},"workout":{}}}\n').format
    block = 16_384  # borrowers at a time: their texts and lines (the file is not held whole)
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for lo in range(0, n, block):
            hi = min(lo + block, n)
            where = np.flatnonzero(known[lo:hi])
            if not where.size:
                continue
            pos = where + lo
            prof = profiled[pos]
            out = np.empty(where.size, dtype=object)
            bare = np.flatnonzero(~prof)
            if bare.size:
                tiers["no_profile"] += int(bare.size)
                out[bare] = [f'{{"borrower_id":{_string(ids[k])},"tier":null,"computed_tier":null,"active_rules":[],'
                             f'"min_classification":null,"next_visit_due":null,"team":null,"branch":null,'
                             f'"exposure":null,"workout":false}}\n' for k in pos[bare].tolist()]
            sel = np.flatnonzero(prof)
            p = pos[sel]
            cents = cols["exposure"][p]
            odd = np.abs(cents) >= 1 << 53  # where a float of cents / 100 may not be Python's int / 100: the model's own
            if odd.any():
                for j, k in zip(sel[odd].tolist(), p[odd].tolist()):
                    view = _view(ids[k], cols, texts, k, list(rules.get(ids[k], [])))
                    tiers[view.tier or "no_profile"] += 1
                    workout += view.workout
                    out[j] = view.model_dump_json() + "\n"
                sel, p, cents = sel[~odd], p[~odd], cents[~odd]
            tier = cols["tier"][p].astype(np.intp)
            w = cols["due_why"][p] == workout_why
            for t, c in enumerate(np.bincount(tier, minlength=len(LEVEL_NAMES)).tolist()):
                if c:
                    tiers[LEVEL_NAMES[t]] += c
            workout += int(w.sum())
            due = cols["due"][p]
            days, inverse = np.unique(due, return_inverse=True)
            due_text = np.array([f'"{day_date(d).isoformat()}"' if d >= 0 else "null" for d in days.tolist()],
                                dtype=object)[inverse.reshape(-1)]
            bids = [ids[k] for k in p.tolist()]
            out[sel] = list(map(line, map(_string, bids), levels[tier], levels[cols["computed"][p].astype(np.intp)],
                                [listed.get(b, "") for b in bids], classes[cols["cls"][p].astype(np.intp)], due_text,
                                team_text[cols["team"][p]], branch_text[cols["branch"][p]], (cents / 100).tolist(),
                                np.where(w, "true", "false").tolist()))
            fh.write("".join(out.tolist()))
    return tiers, workout


def _view(bid: str, cols: dict[str, Any], texts: dict[str, list[str | None]], k: int | None,
          rules: list[str]) -> BorrowerView:
    if k is None or int(cols["tier"][k]) < 0:
        return BorrowerView(borrower_id=bid, tier=None, computed_tier=None, active_rules=[], min_classification=None,
                            next_visit_due=None, team=None, branch=None, exposure=None, workout=False)

    def text(c: str) -> str | None:
        v = int(cols[c][k])
        return texts[c][v] if v >= 0 else None

    due = int(cols["due"][k])
    return BorrowerView(
        borrower_id=bid, tier=LEVEL_NAMES[int(cols["tier"][k])], computed_tier=LEVEL_NAMES[int(cols["computed"][k])],
        active_rules=rules, min_classification=_CLASSES[int(cols["cls"][k])],
        next_visit_due=day_date(due) if due >= 0 else None, team=text("team"), branch=text("branch"),
        exposure=int(cols["exposure"][k]) / 100, workout=int(cols["due_why"][k]) == DUE_WHY.index("workout"))
