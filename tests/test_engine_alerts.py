"""The engine builds its alerts and signals without validating them again (``monitor._construct.made``): each must be
the model pydantic's validation gives for the same values, field by field and byte for byte."""

from __future__ import annotations

from hypothesis import given

from monitor.engine import Engine
from monitor._construct import made
from monitor.outputs import Alert, AlertKind, Signal
from monitor.rules.loader import default_policy
from tests.factories import at, us
from tests.test_engine_properties import SETTINGS, histories, mostly_quiet

POLICY = default_policy()


def _same_as_validated(model, cls) -> None:
    validated = cls.model_validate(model.model_dump())
    assert type(model) is cls
    assert model == validated and repr(model) == repr(validated)
    assert model.model_dump_json() == validated.model_dump_json()
    assert model.model_fields_set == validated.model_fields_set == set(cls.model_fields)
    assert list(model.__dict__) == list(validated.__dict__) == list(cls.model_fields)
    for name in cls.model_fields:
        assert type(getattr(model, name)) is type(getattr(validated, name)), name


@SETTINGS
@given(histories)
def test_every_alert_and_signal_is_what_validation_gives(events):
    eng = Engine(POLICY)
    state = eng.new_state("B1")
    alerts: list[Alert] = []
    signals: list[Signal] = []
    for e in events:
        alerts += eng.apply(state, e).alerts
        signals += eng.signals(state, us(e.occurred_at))
    alerts += eng.advance(state, at(600)).alerts
    for a in alerts:
        _same_as_validated(a, Alert)
        for g in a.signals:
            _same_as_validated(g, Signal)
    for g in signals:
        _same_as_validated(g, Signal)


@SETTINGS
@given(mostly_quiet)
def test_no_two_signals_share_a_dict_or_a_list(events):
    """As validation copies them: each signal's values, thresholds and event ids are its own objects (mutating one
    alert's evidence can change no other alert nor what the engine keeps)."""
    eng = Engine(POLICY)
    state = eng.new_state("B1")
    alerts = [a for e in events for a in eng.apply(state, e).alerts] + list(eng.advance(state, at(600)).alerts)
    held = [x for a in alerts for g in a.signals for x in (g.values, g.thresholds, g.event_ids)]
    held += [a.signals for a in alerts]
    assert len({id(x) for x in held}) == len(held)


def test_made_is_the_validated_model():
    fields = dict(rule="overdue.dpd", family="overdue", level="watch", since=at(1), values={"days_past_due": 31},
                  thresholds={"band_min": 31}, event_ids=["o1"])
    _same_as_validated(made(Signal, **fields), Signal)
    assert made(Signal, **fields) == Signal(**fields)
    alert = dict(alert_id="a" * 32, borrower_id="B1", kind=AlertKind.raised, from_tier="normal", to_tier="watch",
                 computed_tier="watch", at=at(1), signals=[Signal(**fields)], policy_version="v1",
                 next_visit_due=None, team="T1", branch=None, sequence=1)
    _same_as_validated(made(Alert, **alert), Alert)
    assert made(Alert, **alert).model_dump_json() == Alert(**alert).model_dump_json()
