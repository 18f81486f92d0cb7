"""The event contract: the one definition of every input event.

Events are JSON objects keyed by ``borrower_id``; ``type`` selects the kind.
These pydantic models are the single source of truth for validation,
serialisation and the published JSON Schema (``monitor schema``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

__all__ = [
    "GRADES",
    "BureauReport",
    "CaseType",
    "Event",
    "EventType",
    "Grade",
    "InspectionCompleted",
    "InspectionOutcome",
    "LawsuitNotice",
    "LawsuitRole",
    "LawsuitStage",
    "LoanProfile",
    "Mitigation",
    "Overdue",
    "OverrideAction",
    "OverrideDirection",
    "RatingChange",
    "Segment",
    "TierOverride",
    "EVENT_ADAPTER",
    "EARLIEST",
    "FREE_TEXT_PATTERN",
    "LATEST",
    "NAME_PATTERN",
    "Instant",
    "Name",
    "FreeText",
    "contract_message",
    "describe_validation_error",
    "forbidden_character",
    "parse_event",
]


class Grade(StrEnum):
    """The bank's internal master scale, best to worst; one step is a notch."""

    AAA = "AAA"
    AA = "AA"
    A = "A"
    BBB = "BBB"
    BB = "BB"
    B = "B"
    CCC = "CCC"
    CC = "CC"
    C = "C"
    D = "D"


GRADES: tuple[str, ...] = tuple(g.value for g in Grade)
GRADE_INDEX: dict[str, int] = {g: i for i, g in enumerate(GRADES)}


class Segment(StrEnum):
    micro = "micro"
    small = "small"
    medium = "medium"
    retail = "retail"


class Mitigation(StrEnum):
    secured = "secured"
    guaranteed = "guaranteed"
    unsecured = "unsecured"


class LawsuitRole(StrEnum):
    defendant = "defendant"
    plaintiff = "plaintiff"
    third_party = "third_party"


class CaseType(StrEnum):
    civil = "civil"
    commercial = "commercial"
    labor = "labor"
    administrative = "administrative"
    criminal = "criminal"


class LawsuitStage(StrEnum):
    filed = "filed"
    judgment = "judgment"
    enforcement = "enforcement"
    dishonest_debtor = "dishonest_debtor"
    closed = "closed"


class InspectionOutcome(StrEnum):
    normal = "normal"
    concern = "concern"
    deteriorated = "deteriorated"


class EventType(StrEnum):
    loan_profile = "loan_profile"
    rating_change = "rating_change"
    lawsuit = "lawsuit"
    bureau_report = "bureau_report"
    overdue = "overdue"
    inspection_completed = "inspection_completed"
    tier_override = "tier_override"


class OverrideAction(StrEnum):
    set = "set"
    clear = "clear"


class OverrideDirection(StrEnum):
    floor = "floor"  # keep the borrower at least at the tier
    cap = "cap"  # keep the borrower at most at the tier (below its computed tier)


# Characters no name, id or text of the contract may hold: they break the outputs names go into (a line feed
# in an HTTP header or an iCalendar line, a NUL in CSV), or make text read differently from what it is (ANSI
# escape sequences start with ESC; the bidi controls reorder what a reader sees). Names refuse every C0 and C1
# control, DEL, the line and paragraph separators and the bidi marks, embeddings, overrides and isolates;
# free text (notes, reasons) may also hold tab, line feed and carriage return (several lines).
_BIDI = r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # regex escapes: readable in the JSON Schema
NAME_PATTERN = rf"^[^\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI}]*$"
FREE_TEXT_PATTERN = rf"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029{_BIDI}]*$"
_BIDI_CODES = frozenset([0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)])
_TEXT_CONTROLS = frozenset((0x09, 0x0A, 0x0D))

# Every instant of the contract lies in [EARLIEST, LATEST): a date outside it is a typing or system error
# (9999-12-31 as "no date"), and the dates computed from it (the first visit, an override's end) must fit.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
_BOUNDS = frozenset({EARLIEST.date().isoformat(), LATEST.date().isoformat()})

Name = Annotated[str, Field(pattern=NAME_PATTERN)]
FreeText = Annotated[str, Field(pattern=FREE_TEXT_PATTERN)]
Instant = Annotated[AwareDatetime, Field(ge=EARLIEST, lt=LATEST)]
Id = Annotated[str, Field(min_length=1, max_length=128, pattern=NAME_PATTERN)]
Text = Annotated[str, Field(min_length=1, max_length=200, pattern=NAME_PATTERN)]
Notes = Annotated[str, Field(max_length=4000, pattern=FREE_TEXT_PATTERN)]
Amount = Annotated[float, Field(ge=0, allow_inf_nan=False, description="CNY, >= 0")]
Count = Annotated[int, Field(ge=0, le=1_000_000)]
UserId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128,
                                          pattern=NAME_PATTERN)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000,
                                          pattern=FREE_TEXT_PATTERN)]


def forbidden_character(text: str, *, free_text: bool = False) -> str | None:
    """The first character ``text`` may not hold, as ``U+000A`` (None: none). ``free_text`` allows tab, LF, CR."""
    for ch in text:
        code = ord(ch)
        if code < 0x20 or 0x7F <= code <= 0x9F:
            if free_text and code in _TEXT_CONTROLS:
                continue
            return f"U+{code:04X}"
        if code in _BIDI_CODES or code in (0x2028, 0x2029):
            return f"U+{code:04X}"
    return None


OverrideTier = Literal["normal", "watch", "warning", "severe"]


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)

    event_id: Id = Field(description="Unique per event; re-sent copies are ignored as duplicates")
    borrower_id: Id = Field(description="The borrower (obligor); the Kafka message key")
    occurred_at: Instant = Field(description="ISO 8601 instant WITH a UTC offset, in the years 1900-2199")
    source: Text | None = Field(default=None, description="The upstream system")


class LoanProfile(_Event):
    """The loan's profile: who inspects it, how large, how protected."""

    type: Literal["loan_profile"] = "loan_profile"
    segment: Segment
    industry: Text
    branch: Text
    team: Text = Field(description="The inspection team responsible")
    exposure: Amount = Field(description="Outstanding amount, CNY")
    product: Text
    mitigation: Mitigation
    grade: Grade = Field(description="Initial grade; used only while no grade is known")
    disbursed_at: Instant = Field(description="When the loan was paid out; in the years 1900-2199")
    name: Text | None = Field(default=None, description="Borrower name (personal data: never logged)")


class RatingChange(_Event):
    """A change of the bank's internal rating."""

    type: Literal["rating_change"] = "rating_change"
    old_grade: Grade
    new_grade: Grade


class LawsuitNotice(_Event):
    """A court notice about one case; the latest notice of a case wins."""

    type: Literal["lawsuit"] = "lawsuit"
    case_id: Id
    role: LawsuitRole
    case_type: CaseType
    stage: LawsuitStage
    claim_amount: Amount
    court: Text | None = None


class BureauReport(_Event):
    """External credit-bureau figures."""

    type: Literal["bureau_report"] = "bureau_report"
    max_external_dpd: Count = Field(description="Worst days past due at other lenders")
    external_overdue_amount: Amount
    hard_inquiries_30d: Count
    total_external_debt: Amount
    guarantee_exposure: Amount


class Overdue(_Event):
    """Days past due of one account on any of the borrower's products."""

    type: Literal["overdue"] = "overdue"
    account_id: Id
    product: Text
    days_past_due: Count = Field(description="As of occurred_at; 0 means cured")
    overdue_amount: Amount


class InspectionCompleted(_Event):
    """An on-site inspection was carried out."""

    type: Literal["inspection_completed"] = "inspection_completed"
    team: Text
    inspector: Text
    outcome: InspectionOutcome
    notes: Notes | None = None


class TierOverride(_Event):
    """An officer bounds the borrower's effective tier until an instant, or clears such a bound.

    ``set`` needs ``tier`` and ``until`` (after ``occurred_at``); ``clear`` takes neither.
    A floor keeps the borrower at least at ``tier`` (watch, warning or severe); a cap keeps it
    at most at ``tier`` (normal, watch or warning) and needs ``approved_by``, a second officer
    other than ``requested_by`` (four eyes). A set replaces the override of its direction;
    when a floor and a cap disagree, the floor wins.
    """

    type: Literal["tier_override"] = "tier_override"
    action: OverrideAction
    direction: OverrideDirection
    tier: OverrideTier | None = Field(
        default=None, description="Required to set (floor: watch, warning or severe; cap: normal, watch or "
        "warning); must be absent to clear")
    until: Instant | None = Field(
        default=None, description="Required to set: the override ends at this instant (after occurred_at); "
        "must be absent to clear")
    reason: Reason = Field(description="Why (required, at most 2000 characters)")
    requested_by: UserId = Field(description="The officer's user id")
    approved_by: UserId | None = Field(
        default=None, description="The approving officer's user id, not requested_by; required to set a cap")

    @model_validator(mode="after")
    def _consistent(self) -> TierOverride:
        if self.action == OverrideAction.set:
            if self.tier is None:
                raise ValueError("tier: required when action is 'set'")
            if self.until is None:
                raise ValueError("until: required when action is 'set'")
            if self.until <= self.occurred_at:
                raise ValueError("until: must be after occurred_at")
            if self.direction == OverrideDirection.floor and self.tier == "normal":
                raise ValueError("tier: a floor must be watch, warning or severe (a floor at normal changes nothing)")
            if self.direction == OverrideDirection.cap:
                if self.tier == "severe":
                    raise ValueError("tier: a cap must be normal, watch or warning (a cap at severe changes nothing)")
                if self.approved_by is None:
                    raise ValueError("approved_by: required to set a cap (a second officer approves)")
        else:
            if self.tier is not None:
                raise ValueError("tier: not allowed when action is 'clear'")
            if self.until is not None:
                raise ValueError("until: not allowed when action is 'clear'")
        if self.approved_by is not None and self.approved_by.casefold() == self.requested_by.casefold():
            raise ValueError("approved_by: must be a different officer than requested_by")
        return self


Event = Annotated[
    Union[LoanProfile, RatingChange, LawsuitNotice, BureauReport, Overdue, InspectionCompleted, TierOverride],
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
EVENT_TYPES: tuple[str, ...] = tuple(t.value for t in EventType)


def _loc(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for i, item in enumerate(loc):
        if i == 0 and item in EVENT_TYPES:
            continue  # the union branch name is noise to a reader
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def _utc_text(value: Any) -> str:
    """An instant as ``9999-12-30T16:00:00Z`` (UTC), or the input as given when it has none."""
    try:
        at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return at.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
    except (ValueError, OverflowError):
        return str(value)[:40]


def contract_message(err: Any) -> str | None:
    """The message of a refused control character or out-of-range instant (one of ``exc.errors()``), or None
    when the error is of another kind. Shared with the desk's request validation."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "string_pattern_mismatch" and ctx.get("pattern") in (NAME_PATTERN, FREE_TEXT_PATTERN):
        free = ctx["pattern"] == FREE_TEXT_PATTERN
        text = err.get("input")
        found = forbidden_character(text, free_text=free) if isinstance(text, str) else None
        msg = f"control character {found} not allowed" if found else "control characters are not allowed"
        return msg + " (no control, escape or bidi-override characters" + (
            "; tab and line breaks are allowed)" if free else ")")
    if kind in ("greater_than_equal", "less_than") and str(ctx.get("ge", ctx.get("lt")))[:10] in _BOUNDS:
        return f"{_utc_text(err.get('input'))} is outside the supported years {EARLIEST.year}-{LATEST.year - 1}"
    return None


def describe_validation_error(exc: ValidationError) -> str:
    """One line a person understands, naming the field: ``days_past_due: must be >= 0``."""
    messages = []
    for err in exc.errors(include_url=False):
        kind = err["type"]
        ctx = err.get("ctx") or {}
        where = _loc(tuple(err["loc"]))
        if kind == "json_invalid":
            return "not JSON"
        if kind in ("model_type", "model_attributes_type", "dict_type") and not where:
            return "not a JSON object"
        if kind == "union_tag_invalid":
            tag = ctx.get("tag", "")
            messages.append(f"type: unknown event type '{tag}'")
            continue
        if kind == "union_tag_not_found":
            messages.append("type: required")
            continue
        special = contract_message(err)
        if special is not None:
            msg = special
        elif kind == "timezone_aware":
            msg = "timezone offset required"
        elif kind == "missing":
            msg = "required"
        elif kind == "extra_forbidden":
            msg = "unexpected field"
        elif kind == "greater_than_equal":
            msg = f"must be >= {ctx.get('ge')}"
        elif kind == "less_than_equal":
            msg = f"must be <= {ctx.get('le')}"
        elif kind == "enum":
            msg = f"must be one of {ctx.get('expected')}"
        elif kind == "literal_error":
            msg = f"must be {ctx.get('expected')}"
        elif kind == "string_too_short":
            msg = "must not be empty"
        elif kind == "string_too_long":
            msg = f"longer than {ctx.get('max_length')} characters"
        elif kind == "finite_number":
            msg = "must be a finite number"
        elif kind == "value_error":
            messages.append(str(ctx.get("error", err["msg"].removeprefix("Value error, "))))
            continue
        else:
            msg = err["msg"][0].lower() + err["msg"][1:]
        messages.append(f"{where}: {msg}" if where else msg)
    return "; ".join(messages[:3]) + ("; …" if len(messages) > 3 else "")


def parse_event(raw: bytes | str) -> Event:
    """Validate one JSON document as an event; raises ``ValidationError``."""
    return EVENT_ADAPTER.validate_json(raw)
