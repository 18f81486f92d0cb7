"""The event contract refuses what would break an output or stop the engine: control characters in names,
control, escape and bidi characters in free text, instants outside the years 1900-2199 (issue 12)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from monitor.engine import Engine
from monitor.events import describe_validation_error, forbidden_character, parse_event
from monitor.replay import replay
from monitor.rules.loader import default_policy

OCCURRED = "2026-03-01T09:00:00+08:00"
BASE: dict[str, dict[str, Any]] = {
    "loan_profile": {"segment": "small", "industry": "trade", "branch": "SH01", "team": "T1", "exposure": 1e6,
                     "product": "working_capital", "mitigation": "unsecured", "grade": "BBB",
                     "disbursed_at": OCCURRED, "name": "上海某某贸易有限公司", "source": "core-banking"},
    "lawsuit": {"case_id": "(2026)沪0101民初123号", "role": "defendant", "case_type": "civil", "stage": "filed",
                "claim_amount": 1000.0, "court": "上海市黄浦区人民法院"},
    "overdue": {"account_id": "A1", "product": "working_capital", "days_past_due": 3, "overdue_amount": 10.0},
    "inspection_completed": {"team": "T1", "inspector": "ivan", "outcome": "normal", "notes": "正常"},
    "tier_override": {"action": "set", "direction": "floor", "tier": "warning",
                      "until": "2026-04-01T00:00:00+08:00", "reason": "停产", "requested_by": "rita"},
}
# every name-like field of the contract: (event type, field)
NAMES = [("loan_profile", f) for f in ("event_id", "borrower_id", "source", "industry", "branch", "team",
                                       "product", "name")] + [
    ("lawsuit", "case_id"), ("lawsuit", "court"), ("overdue", "account_id"), ("overdue", "product"),
    ("inspection_completed", "team"), ("inspection_completed", "inspector"),
    ("tier_override", "requested_by")]
FREE_TEXT = [("inspection_completed", "notes"), ("tier_override", "reason")]
INSTANTS = [("loan_profile", "occurred_at"), ("loan_profile", "disbursed_at"), ("overdue", "occurred_at"),
            ("tier_override", "until")]
NAME_BREAKERS = {"LF": "\n", "CR": "\r", "NUL": "\x00", "TAB": "\t", "ESC": "\x1b[31m", "DEL": "\x7f",
                 "C1 NEL": "\x85", "RLO": "\u202e", "LRI": "\u2066", "LRM": "\u200e", "LS": "\u2028"}
TEXT_BREAKERS = {"NUL": "\x00", "ESC (ANSI)": "\x1b[2J", "BEL": "\x07", "RLO": "\u202e", "PDI": "\u2069",
                 "C1 CSI": "\x9b", "PS": "\u2029"}


def doc(kind: str, **changes: Any) -> dict[str, Any]:
    out = {"type": kind, "event_id": "e1", "borrower_id": "B1", "occurred_at": OCCURRED, **BASE[kind]}
    out.update(changes)
    return out


def refused(d: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        parse_event(json.dumps(d))
    return describe_validation_error(info.value)


@pytest.mark.parametrize("kind", sorted(BASE))
def test_the_base_events_are_valid(kind):
    assert parse_event(json.dumps(doc(kind))).type == kind


@pytest.mark.parametrize(("kind", "name"), NAMES)
@pytest.mark.parametrize("what", sorted(NAME_BREAKERS))
def test_every_name_refuses_control_escape_and_bidi_characters_with_the_field_and_the_character(kind, name, what):
    ch = NAME_BREAKERS[what]
    reason = refused(doc(kind, **{name: f"T{ch}1"}))
    assert reason.startswith(f"{name}: control character U+{ord(ch[0]):04X} not allowed"), reason


@pytest.mark.parametrize(("kind", "name"), NAMES)
def test_names_keep_chinese_text_spaces_and_punctuation(kind, name):
    value = "华东　一队 (SH-01)/二组"
    assert getattr(parse_event(json.dumps(doc(kind, **{name: value}))), name) == value


@pytest.mark.parametrize(("kind", "name"), FREE_TEXT)
@pytest.mark.parametrize("what", sorted(TEXT_BREAKERS))
def test_notes_and_reasons_refuse_nul_ansi_escapes_and_bidi_overrides(kind, name, what):
    ch = TEXT_BREAKERS[what]
    reason = refused(doc(kind, **{name: f"库存积压{ch}停产"}))
    assert reason.startswith(f"{name}: control character U+{ord(ch[0]):04X} not allowed"), reason
    assert "tab and line breaks are allowed" in reason


@pytest.mark.parametrize(("kind", "name"), FREE_TEXT)
def test_notes_and_reasons_keep_several_lines_and_tabs(kind, name):
    text = "第一行\n第二行\r\n\t缩进"
    assert getattr(parse_event(json.dumps(doc(kind, **{name: text}))), name) == text


@pytest.mark.parametrize(("kind", "name"), INSTANTS)
@pytest.mark.parametrize(("value", "utc"), [("9999-12-31T00:00:00+08:00", "9999-12-30T16:00:00Z"),
                                            ("2200-01-01T00:00:00Z", "2200-01-01T00:00:00Z"),
                                            ("1900-01-01T07:59:59+08:00", "1899-12-31T23:59:59Z"),
                                            ("0001-01-01T00:00:00+00:00", "0001-01-01T00:00:00Z")])
def test_every_instant_is_bounded_to_the_years_1900_through_2199(kind, name, value, utc):
    changes = {name: value}
    if name == "occurred_at" and kind == "tier_override":
        changes["until"] = "2200-06-01T00:00:00Z"
    reason = refused(doc(kind, **changes))
    assert f"{name}: {utc} is outside the supported years 1900-2199" in reason, reason


def test_a_profile_at_the_last_allowed_instant_goes_through_the_engine():
    """The latest accepted dates still give a first visit date and a detail (no overflow)."""
    last = "2199-12-31T23:59:59+00:00"
    engine = Engine(default_policy())
    state = engine.new_state("B1")
    engine.apply(state, parse_event(json.dumps(doc("loan_profile", occurred_at=last, disbursed_at=last))))
    entry = engine.schedule_entry(state)
    assert entry.next_visit_due is not None and entry.next_visit_due.year == 2200
    assert engine.detail(state).profile is not None


def test_replay_rejects_a_far_future_profile_with_its_reason_and_keeps_the_rest(tmp_path):
    good = doc("loan_profile", event_id="ok", borrower_id="B2")
    bad = doc("loan_profile", event_id="bad", borrower_id="B1", disbursed_at="9999-12-31T00:00:00+00:00")
    named = doc("loan_profile", event_id="lf", borrower_id="B3", team="T\n1")
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in (bad, good, named)))
    result = replay([path], default_policy())
    assert [(r.line, r.reason) for r in result.rejects] == [
        (1, "disbursed_at: 9999-12-31T00:00:00Z is outside the supported years 1900-2199"),
        (3, "team: control character U+000A not allowed (no control, escape or bidi-override characters)")]
    assert sorted(result.states) == ["B2"]


def test_forbidden_character_names_the_first_one():
    assert forbidden_character("ok 名称") is None
    assert forbidden_character("a\tb") == "U+0009"
    assert forbidden_character("a\tb", free_text=True) is None
    assert forbidden_character("a\u202eb\x00", free_text=True) == "U+202E"
