"""The contract on pydantic's internals that ``monitor._construct`` relies on: what it builds is what
``model_construct`` and validation build, attribute for attribute (fails when a pydantic upgrade moves them)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from monitor._construct import constructor, made


class Plain(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    at: datetime
    values: dict[str, Any]
    ids: list[str]
    note: str | None = None


def _state(m: BaseModel) -> tuple:
    return (type(m), list(m.__dict__.items()), m.__pydantic_fields_set__, m.__pydantic_extra__,
            m.__pydantic_private__, m.model_dump_json(), repr(m))


def _values() -> dict[str, Any]:
    return {"name": "张三 \"q\"", "at": datetime(2025, 12, 31, 16, tzinfo=timezone.utc), "values": {"dpd": 30},
            "ids": ["e1", "e2"], "note": None}


def test_made_is_what_validation_and_model_construct_build():
    got = made(Plain, **_values())
    assert _state(got) == _state(Plain(**_values())) == _state(Plain.model_construct(**_values()))
    assert got == Plain(**_values())
    with pytest.raises(Exception):  # still frozen
        got.name = "other"  # type: ignore[misc]


def test_made_with_a_default_left_out_sets_only_the_fields_given():
    values = _values()
    del values["note"]
    got, want = made(Plain, **values), Plain(**values)
    assert got.model_fields_set == want.model_fields_set == {"name", "at", "values", "ids"}
    assert got.model_dump_json(exclude_unset=True) == want.model_dump_json(exclude_unset=True)


def test_constructor_is_what_model_construct_builds():
    make = constructor(Plain)
    assert _state(make(_values())) == _state(Plain.model_construct(**_values()))


def test_models_it_cannot_build_so_are_refused_by_both():
    class Aliased(BaseModel):
        x: int = Field(alias="y")

    class Extra(BaseModel, extra="allow"):
        x: int

    for cls in (Aliased, Extra):
        with pytest.raises(TypeError, match="not a plain model"):
            constructor(cls)
        with pytest.raises(TypeError, match="not a plain model"):
            made(cls, x=1)
