"""The outcomes file: which borrowers defaulted, and when.

JSON Lines, one object per defaulted borrower (the simulator writes it beside
its events as ``<name>.outcomes.jsonl``; a bank supplies its own in the same
format)::

    {"borrower_id": "B000123", "defaulted_at": "2025-06-01T02:13:20+08:00", "reason": "dpd90"}

``borrower_id`` as in the events; ``defaulted_at`` an ISO 8601 instant with a
UTC offset (the first instant the borrower counts as defaulted);
``reason`` a short label (the simulator writes ``dpd90`` or ``grade_d``; a
bank may use its own). No other fields; at most one line per borrower; blank
lines are ignored. A borrower without a line did not default. A bad line stops
the backtest with exit status 2 and a message naming the file and line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from monitor._errors import InputError
from monitor._time import to_us
from monitor.events import describe_validation_error
from monitor.jsonl import MAX_LINE_BYTES, iter_lines

__all__ = ["DefaultOutcome", "OutcomeLine", "load_outcomes"]


class OutcomeLine(BaseModel):
    """One line of the outcomes file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    borrower_id: Annotated[str, Field(min_length=1, max_length=128)]
    defaulted_at: AwareDatetime = Field(description="ISO 8601 instant WITH a UTC offset")
    reason: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description="Why: dpd90 or grade_d from the simulator, or the bank's own label")


@dataclass(frozen=True, slots=True)
class DefaultOutcome:
    """A validated default: the instant in microseconds since the epoch."""

    borrower_id: str
    defaulted_at: int
    reason: str


def load_outcomes(path: str) -> list[DefaultOutcome]:
    """Read and validate an outcomes file, sorted by borrower; raises ``InputError`` naming the line."""
    seen: dict[str, int] = {}
    out: list[DefaultOutcome] = []
    validate = OutcomeLine.model_validate_json
    for number, raw in iter_lines(path):
        if not raw.strip():
            continue
        if len(raw) > MAX_LINE_BYTES:
            raise InputError(f"{path}:{number}: line longer than {MAX_LINE_BYTES} bytes")
        try:
            line = validate(raw)
        except ValidationError as exc:
            raise InputError(f"{path}:{number}: {describe_validation_error(exc)}") from None
        first = seen.get(line.borrower_id)
        if first is not None:
            raise InputError(f"{path}:{number}: borrower {line.borrower_id} already defaulted on line {first}")
        seen[line.borrower_id] = number
        out.append(DefaultOutcome(line.borrower_id, to_us(line.defaulted_at), line.reason))
    out.sort(key=lambda o: o.borrower_id)
    return out
