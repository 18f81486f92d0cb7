"""The event contract: the one definition of every input event.

Events are JSON objects keyed by ``borrower_id``; ``type`` selects the kind.
These pydantic models are the single source of truth for validation,
serialisation and the published JSON Schema (``monitor schema``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
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
    "RatingChange",
    "Segment",
    "EVENT_ADAPTER",
    "describe_validation_error",
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


Id = Annotated[str, Field(min_length=1, max_length=128)]
Text = Annotated[str, Field(min_length=1, max_length=200)]
Notes = Annotated[str, Field(max_length=4000)]
Amount = Annotated[float, Field(ge=0, allow_inf_nan=False, description="CNY, >= 0")]
Count = Annotated[int, Field(ge=0, le=1_000_000)]


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)

    event_id: Id = Field(description="Unique per event; re-sent copies are ignored as duplicates")
    borrower_id: Id = Field(description="The borrower (obligor); the Kafka message key")
    occurred_at: AwareDatetime = Field(description="ISO 8601 instant WITH a UTC offset")
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
    disbursed_at: AwareDatetime
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


Event = Annotated[
    Union[LoanProfile, RatingChange, LawsuitNotice, BureauReport, Overdue, InspectionCompleted],
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
        if kind == "timezone_aware":
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
        else:
            msg = err["msg"][0].lower() + err["msg"][1:]
        messages.append(f"{where}: {msg}" if where else msg)
    return "; ".join(messages[:3]) + ("; …" if len(messages) > 3 else "")


def parse_event(raw: bytes | str) -> Event:
    """Validate one JSON document as an event; raises ``ValidationError``."""
    return EVENT_ADAPTER.validate_json(raw)
