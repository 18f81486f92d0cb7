"""A replay shard's outputs as sorted runs on disk (``monitor._replay_stream``): decisions, views, rejects."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from monitor._spill import LineSpill
from monitor._time import iso, to_us
from monitor.outputs import Alert, BorrowerView, ScheduleEntry, schedule_history_line
from monitor.rules.policy import LEVEL_NAMES
from monitor.state import BorrowerState

__all__ = ["FileTotals"]

_TIER_RANK = {name: i for i, name in enumerate(LEVEL_NAMES)}
_BIAS = 1 << 63  # sort_key's integers
_MAX_REJECT_TEXT = 65_536


def _reject_json(source: str, line: int, reason: str, raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    if len(text) > _MAX_REJECT_TEXT:
        text = text[:_MAX_REJECT_TEXT] + f"… [{len(text)} characters in all]"
    return json.dumps({"source": source, "line": line, "reason": reason, "text": text}, ensure_ascii=False,
                      sort_keys=True)


class _Rejects:
    """Rejected lines, per file in line order, counted by reason."""

    def __init__(self, tmp: Path, names: Sequence[str]) -> None:
        self.names = names
        self.files = [LineSpill(tmp, f"rejects-{i}") for i in range(len(names))]
        self.reasons: Counter[str] = Counter()

    def add(self, fi: int, line: int, reason: str, raw: bytes) -> None:
        self.files[fi].add((line,), _reject_json(self.names[fi], line, reason, raw))
        self.reasons[reason] += 1

    @property
    def count(self) -> int:
        return sum(self.reasons.values())


class FileTotals:
    """One shard's decisions (see :class:`monitor._replay_run.Outputs`), kept as sorted runs, and its counts."""

    def __init__(self, tmp: Path, as_of: int | None) -> None:
        self.as_of = as_of
        self.read = self.applied = self.duplicates = self.after_as_of = 0
        self.events_by_type: Counter[str] = Counter()
        self.newest_by_type: dict[str, int] = {}
        self.alerts = LineSpill(tmp, "alerts")
        self.kinds: Counter[str] = Counter()
        self.history = LineSpill(tmp, "history")
        self.views = LineSpill(tmp, "views")
        self.schedule = LineSpill(tmp, "schedule")
        self.signals = LineSpill(tmp, "signals")
        self.workout = LineSpill(tmp, "workout")  # borrowers handed over to workout
        self.tiers: Counter[str] = Counter()
        self.borrowers = 0

    def add_alerts(self, alerts: Iterable[Alert]) -> None:
        for a in alerts:  # (the keys of the spills: sort_key's, written directly when no text holds a control character)
            bid = a.borrower_id
            if bid.isprintable():
                self.alerts.add_keyed(f"{to_us(a.at) + _BIAS:016x}{bid}\x00{a.sequence + _BIAS:016x}", a.model_dump_json())
            else:
                self.alerts.add((to_us(a.at), bid, a.sequence), a.model_dump_json())
            self.kinds[a.kind.value] += 1

    def add_history(self, at: int, borrower_id: str, entry: ScheduleEntry) -> None:
        self.add_history_row(at, borrower_id, entry.model_dump_json())

    def add_history_row(self, at: int, borrower_id: str, entry: str) -> None:
        """``add_history`` with the entry's JSON (``Engine.schedule_entry_json``)."""
        if borrower_id.isprintable():  # no control character: sort_key((at, borrower_id)), written directly
            self.history.add_keyed(f"{at + _BIAS:016x}{borrower_id}\x00", schedule_history_line(at, entry))
        else:
            self.history.add((at, borrower_id), schedule_history_line(at, entry))

    def add_history_state(self, at: int, state: BorrowerState, engine: Any) -> None:
        """``add_history_row(at, state.id, engine.schedule_entry_json(state))``, the spill's record (key, order
        number, tab, the line) built in the entry's own step (``Engine.schedule_entry_json``'s ``head``)."""
        bid = state.id
        h = self.history
        if bid.__class__ is str and bid.isprintable():
            h.add_record(engine.schedule_entry_json(
                state, f'{at + _BIAS:016x}{bid}\x00{h.seq:016x}\t{{"at":"{iso(at)}",'))
        else:
            self.add_history_row(at, bid, engine.schedule_entry_json(state))

    def add_view(self, borrower_id: str, state: BorrowerState, view: BorrowerView) -> None:
        plain = borrower_id.isprintable()
        if plain:
            self.views.add_keyed(f"{borrower_id}\x00", view.model_dump_json())
        else:
            self.views.add((borrower_id,), view.model_dump_json())
        self.borrowers += 1
        self.tiers[view.tier or "no_profile"] += 1
        team, branch = view.team or "", view.branch or ""
        if view.workout:
            since = iso(state.due_at) if state.due_at is not None else ""
            row = _csv_row([view.team, view.branch, borrower_id, view.tier, since])
            if plain and team.isprintable() and branch.isprintable():
                self.workout.add_keyed(f"{team}\x00{branch}\x00{borrower_id}\x00", row)
            else:
                self.workout.add((team, branch, borrower_id), row)
        if view.next_visit_due is not None:
            due = view.next_visit_due.isoformat()
            rank = -_TIER_RANK[view.tier or "normal"]
            row = _csv_row([view.team, view.branch, borrower_id, view.tier, due], plain)
            if plain:  # (the date's text is plain)
                self.schedule.add_keyed(f"{due}\x00{rank + _BIAS:016x}{borrower_id}\x00", row)
            else:
                self.schedule.add((due, rank, borrower_id), row)

    def dump(self, directory: Path, rejects: _Rejects) -> dict[str, Any]:
        """Write the shard's sorted runs into ``directory``; return its counts."""
        for name in ("alerts", "history", "views", "schedule", "signals", "workout"):
            getattr(self, name).dump(directory / f"{name}.run")
        for fi, spill in enumerate(rejects.files):
            spill.dump(directory / f"rejects-{fi}.run")
        return {"read": self.read, "applied": self.applied, "duplicates": self.duplicates,
                "after_as_of": self.after_as_of, "by_type": dict(self.events_by_type),
                "newest": self.newest_by_type, "alerts": self.alerts.count, "kinds": dict(self.kinds),
                "borrowers": self.borrowers, "tiers": dict(self.tiers), "reasons": dict(rejects.reasons),
                "workout": self.workout.count}


_CSV_TEXT = io.StringIO()
_CSV = csv.writer(_CSV_TEXT, lineterminator="")  # one writer for every row (made for each, it cost a third more)


def _csv_row(cells: list[str | None], plain: bool = False) -> str:
    """The cells as ``csv.writer`` writes a row (without its line break); ``plain``: the caller found the
    borrower id printable (then a row whose texts hold no comma and no quote is joined directly, as the writer
    would: it quotes a text only for a comma, a quote or a line break)."""
    if plain:
        a, b, c, d, e = cells
        if a is not None and b is not None and d is not None and e is not None:
            text = f"{a},{b},{c},{d},{e}"
            if text.isprintable() and '"' not in text and text.count(",") == 4:
                return text
    _CSV_TEXT.seek(0)
    _CSV_TEXT.truncate()
    _CSV.writerow(cells)
    return _CSV_TEXT.getvalue()
