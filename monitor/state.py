"""A borrower's state: the facts the engine keeps, with a compact JSON form.

The borrower's name is not kept (personal data has no place in a changelog).
The classes are slotted dataclasses so that the engine can update them at
plain-attribute speed; pydantic (``STATE_ADAPTER``) validates and serialises
them, so the JSON form is typed and checked like every other model here.
Instants are integers (microseconds since the epoch, UTC). ``dump_state``
omits defaults; the streaming runtime keeps that form in a Faust table and its
changelog topic. The state stays bounded: facts older than the longest window
are dropped and the duplicate memory is capped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AliasChoices, AliasGenerator, ConfigDict, Field, TypeAdapter, with_config

if TYPE_CHECKING:
    from monitor.events import BureauReport, LawsuitNotice

__all__ = [
    "AccountFact",
    "BorrowerState",
    "BureauFact",
    "CaseFact",
    "InspectionFact",
    "OverrideFact",
    "PreviousReport",
    "ProfileFact",
    "RatingMove",
    "STATE_ADAPTER",
    "dump_state",
    "load_state",
    "long_form",
    "merge_bureau",
    "merge_case",
    "prune",
    "schedule_key",
    "schedule_moves",
]

STATE_VERSION = 1
_CASE_EIDS = 8  # notices remembered per lawsuit case

# The JSON form writes each field under a short key (the state is kept per borrower, in a table and its
# changelog: the long names were a third of it) and reads either key, so that states written before
# (with the long names) still load. The short keys are part of the stored format: never reuse one.
_SHORT: dict[str, dict[str, str]] = {
    "ProfileFact": {"at": "a", "eid": "e", "branch": "br", "team": "tm", "exposure": "x", "mitigation": "mi",
                    "disbursed": "ds", "segment": "sg", "industry": "in", "product": "pr"},
    "RatingMove": {"at": "a", "eid": "e", "old": "o", "new": "n", "prior": "p", "best": "b", "dg1": "d1",
                   "dg2": "d2"},
    "CaseFact": {"at": "a", "eid": "e", "first": "f", "stage_at": "sa", "role": "r", "ctype": "ct", "stage": "st",
                 "claim": "cl", "court": "co", "eids": "es"},
    "BureauFact": {"at": "a", "eid": "e", "dpd": "dp", "overdue": "od", "inq": "iq", "debt": "db", "guar": "gu"},
    "PreviousReport": {"at": "a", "eid": "e", "debt": "db", "dpd": "dp", "inq": "iq"},
    "AccountFact": {"at": "a", "eid": "e", "dpd": "dp", "amount": "am", "product": "pr"},
    "InspectionFact": {"at": "a", "eid": "e", "outcome": "oc", "team": "tm", "inspector": "ip"},
    "OverrideFact": {"at": "a", "eid": "e", "by": "by", "tier": "t", "until": "u", "asked": "as", "reason": "r",
                     "approver": "ap"},
    "BorrowerState": {"id": "id", "v": "v", "clock": "c", "profile": "p", "grade": "g", "grade_at": "ga",
                      "grade_eid": "ge", "grades": "gs", "moves": "m", "cases": "cs", "accounts": "ac",
                      "bureau": "b", "bureau_prev": "bp", "inspection": "i", "floor": "fl", "cap": "cp",
                      "computed": "cm", "tiers": "ts", "tier": "t", "tier_since": "tn", "due": "d",
                      "due_why": "dw", "due_at": "da", "due_tier": "dt", "wake": "w", "seen": "s", "alerts": "al",
                      "held": "h", "unseen": "un"},
}
_UNSTORED = frozenset({"schedule_was", "bare"})  # kept in memory only: never written, so they have no key


def _cfg(cls: str) -> ConfigDict:
    short = {**_SHORT[cls], **{name: name for name in _UNSTORED}}
    return ConfigDict(extra="forbid", alias_generator=AliasGenerator(
        validation_alias=lambda name: AliasChoices(short[name], name) if short[name] != name else name,
        serialization_alias=lambda name: short[name]))


@with_config(_cfg("ProfileFact"))
@dataclass(slots=True)
class ProfileFact:
    """The loan profile without the borrower's name (segment, industry and product are shown
    on the borrower detail; they are None in states written before they were kept)."""

    at: int
    eid: str
    branch: str
    team: str
    exposure: float
    mitigation: str
    disbursed: int
    segment: str | None = None
    industry: str | None = None
    product: str | None = None


@with_config(_cfg("RatingMove"))
@dataclass(slots=True)
class RatingMove:
    """A rating change that lowered the grade, with what it was measured against."""

    at: int
    eid: str
    old: str
    new: str
    prior: str  # the grade held just before the change
    best: str  # the best grade held in the look-back window before it
    dg1: bool = False
    dg2: bool = False


@with_config(_cfg("CaseFact"))
@dataclass(slots=True)
class CaseFact:
    """The latest notice of one lawsuit case."""

    at: int
    eid: str
    first: int
    stage_at: int
    role: str
    ctype: str
    stage: str
    claim: float
    court: str | None = None
    eids: list[str] = field(default_factory=list)


@with_config(_cfg("BureauFact"))
@dataclass(slots=True)
class BureauFact:
    at: int
    eid: str
    dpd: int
    overdue: float
    inq: int
    debt: float
    guar: float


@with_config(_cfg("PreviousReport"))
@dataclass(slots=True)
class PreviousReport:
    """What the engine keeps of the bureau report before the latest (for debt growth and persistence)."""

    at: int
    eid: str
    debt: float
    dpd: int = 0  # max_external_dpd (0 in states written before it was kept)
    inq: int = 0  # hard_inquiries_30d (0 in states written before it was kept)


@with_config(_cfg("AccountFact"))
@dataclass(slots=True)
class AccountFact:
    at: int
    eid: str
    dpd: int  # days past due as of ``at``; 0 means cured
    amount: float
    product: str


@with_config(_cfg("InspectionFact"))
@dataclass(slots=True)
class InspectionFact:
    at: int
    eid: str
    outcome: str
    team: str
    inspector: str | None = None  # the inspector's staff id (None in states written before it was kept)


@with_config(_cfg("OverrideFact"))
@dataclass(slots=True)
class OverrideFact:
    """The latest ``tier_override`` of one direction (floor or cap).

    ``tier`` None marks a clear, kept (like a cure) for the duplicate window so that a late
    copy of an older ``set`` cannot bring the override back.
    """

    at: int  # occurred_at of the event
    eid: str
    by: str  # requested_by
    tier: int | None = None  # the bound; None after a clear
    until: int | None = None  # the override ends at this instant (after any shortening by the policy)
    asked: int | None = None  # the requested ``until`` when the policy shortened it
    reason: str | None = None
    approver: str | None = None  # approved_by


@with_config(_cfg("BorrowerState"))
@dataclass(slots=True)
class BorrowerState:
    """Everything the engine knows about one borrower."""

    id: str
    v: int = STATE_VERSION
    clock: int | None = None  # the latest instant settled, in event time
    profile: ProfileFact | None = None
    grade: str | None = None
    grade_at: int | None = None
    grade_eid: str | None = None
    grades: list[tuple[int, str]] = field(default_factory=list)  # earlier grades (since, grade) still in the look-back
    moves: list[RatingMove] = field(default_factory=list)
    cases: dict[str, CaseFact] = field(default_factory=dict)
    accounts: dict[str, AccountFact] = field(default_factory=dict)
    bureau: BureauFact | None = None
    bureau_prev: PreviousReport | None = None
    inspection: InspectionFact | None = None
    floor: OverrideFact | None = None  # officer's floor on the effective tier
    cap: OverrideFact | None = None  # officer's (approved) cap on the effective tier
    computed: int = 0
    # ended computed tiers still in a cure period: (end, level), levels decreasing, ends increasing
    tiers: list[tuple[int, int]] = field(default_factory=list)
    tier: int = 0  # effective tier (the computed tier through the cure period, then bounded by overrides)
    tier_since: int | None = None
    due: int | None = None  # next visit due (instant)
    # why the due date is what it is: first_visit | inspection (a visit; the normal interval) | cadence (a
    # visit; the cadence of due_tier, shorter) | tier_raised (a rise to due_tier: its response deadline) |
    # workout (handed over to workout: no routine visit due) | workout_ended (back at due_tier: a response)
    due_why: str | None = None
    due_at: int | None = None  # when the due date was last set (the visit, the rise, the hand-over)
    due_tier: int = 0  # the effective tier then (0 in states written before it was kept)
    wake: int | None = None  # next instant a time-driven change may happen
    # event id -> (occurred_at, content digest), for duplicates; a bare occurred_at in states written
    # before digests were kept (such a copy counts as an exact duplicate); (occurred_at, digest or None,
    # ``unseen`` at its arrival) while events given as ``engine.UNSEEN`` are counted (see there)
    seen: dict[str, tuple[int, int] | tuple[int, int | None, int] | int] = field(default_factory=dict)
    alerts: int = 0  # alerts emitted so far (numbers the alert ids)
    held: int = 0  # events received before the profile
    unseen: int = 0  # events given as ``engine.UNSEEN`` while ``seen`` held ids (the places they take in its cap)
    # not stored, read or compared: the schedule key (``schedule_key``) as it was before the first change of an input
    # of the visit-schedule entry since ``Engine.schedule_moved`` last looked; None: no such change since
    schedule_was: Annotated[Any, Field(exclude=True)] = field(default=None, init=False, compare=False, repr=False)
    # not stored either: True when ``seen``, ``tiers``, ``accounts`` and ``cases`` were all empty when an own-states
    # engine last looked (whatever adds to one of them clears it), so that its bureau reports need not look at them
    bare: Annotated[bool, Field(exclude=True)] = field(default=False, init=False, compare=False, repr=False)


def schedule_key(s: BorrowerState) -> tuple[object, ...]:
    """What the visit-schedule entry depends on: compare before and after to see a change."""
    return (s.due, s.tier, s.profile, s.due_why, s.due_at, s.due_tier)


def schedule_moves(s: BorrowerState) -> None:
    """Called by the engine (and the visit rules) just before it changes an input of the schedule key: keeps
    the key as it was before the first such change (``Engine.schedule_moved`` compares with it)."""
    if s.schedule_was is None:
        s.schedule_was = schedule_key(s)


def merge_bureau(s: BorrowerState, e: BureauReport, t: int) -> None:
    """A bureau report (occurred at ``t``) into the state: the latest occurred_at wins, and the one before it is
    kept. The engine owns the states it is given (``monitor.engine``): their two reports are rewritten in place,
    not built again for every report (tests/test_engine_properties.py holds them to a fold of new facts)."""
    b, prev = s.bureau, s.bureau_prev
    if b is None:
        s.bureau = BureauFact(t, e.event_id, e.max_external_dpd, e.external_overdue_amount,
                              e.hard_inquiries_30d, e.total_external_debt, e.guarantee_exposure)
    elif t >= b.at:
        if prev is None:
            s.bureau_prev = PreviousReport(b.at, b.eid, b.debt, b.dpd, b.inq)
        else:
            prev.at, prev.eid, prev.debt, prev.dpd, prev.inq = b.at, b.eid, b.debt, b.dpd, b.inq
        b.at, b.eid, b.dpd, b.overdue = t, e.event_id, e.max_external_dpd, e.external_overdue_amount
        b.inq, b.debt, b.guar = e.hard_inquiries_30d, e.total_external_debt, e.guarantee_exposure
    elif prev is None:
        s.bureau_prev = PreviousReport(t, e.event_id, e.total_external_debt, e.max_external_dpd,
                                       e.hard_inquiries_30d)
    elif t >= prev.at:
        prev.at, prev.eid, prev.debt = t, e.event_id, e.total_external_debt
        prev.dpd, prev.inq = e.max_external_dpd, e.hard_inquiries_30d


def merge_case(s: BorrowerState, e: LawsuitNotice, t: int) -> None:
    """A lawsuit notice (occurred at ``t``) into its case: the latest notice wins; an earlier one can only move
    the first notice back. The last ``_CASE_EIDS`` notices' ids are kept."""
    c = s.cases.get(e.case_id)
    if c is None:
        s.bare = False
        s.cases[e.case_id] = CaseFact(
            at=t, eid=e.event_id, first=t, stage_at=t, role=e.role.value, ctype=e.case_type.value,
            stage=e.stage.value, claim=e.claim_amount, court=e.court, eids=[e.event_id])
    elif t >= c.at:
        if e.stage.value != c.stage:
            c.stage_at = t
        c.at, c.eid, c.role, c.ctype = t, e.event_id, e.role.value, e.case_type.value
        c.stage, c.claim, c.court = e.stage.value, e.claim_amount, e.court
        c.eids = (c.eids + [e.event_id])[-_CASE_EIDS:]
    else:
        c.first = min(c.first, t)


def prune(s: BorrowerState, now: int, account_days: int, case_days: int) -> None:
    """Forget what can no longer matter: accounts cured longer ago than ``account_days`` (microseconds: the
    engine's duplicate window; a cure is kept that long so that a late copy of an older update cannot reopen the
    account) and cases whose last notice is ``case_days`` old (the lawsuit rules' window)."""
    accounts, cases = s.accounts, s.cases
    if accounts:
        cut = now - account_days
        for a in accounts.values():
            if a.dpd == 0 and a.at <= cut:  # (a list only when there is something to forget)
                for k in [k for k, a in accounts.items() if a.dpd == 0 and a.at <= cut]:
                    del accounts[k]
                break
    if cases:
        cut = now - case_days
        for c in cases.values():
            if c.at <= cut:
                for k in [k for k, c in cases.items() if c.at <= cut]:
                    del cases[k]
                break


STATE_ADAPTER: TypeAdapter[BorrowerState] = TypeAdapter(BorrowerState)


def dump_state(state: BorrowerState) -> bytes:
    """The compact JSON form of a state (defaults omitted, fields under their short keys)."""
    return STATE_ADAPTER.dump_json(state, exclude_defaults=True, by_alias=True)


def long_form(state: BorrowerState) -> dict[str, Any]:
    """The state as a JSON document under the fields' long names (as states were written before the short
    keys; :func:`load_state` reads both)."""
    return STATE_ADAPTER.dump_python(state, mode="json", exclude_defaults=True)  # type: ignore[no-any-return]


def load_state(raw: bytes | str) -> BorrowerState:
    """Parse and validate the JSON form of a state (short keys, or the long ones of states written before)."""
    return STATE_ADAPTER.validate_json(raw)
