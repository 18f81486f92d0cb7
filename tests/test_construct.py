"""The contract on pydantic's internals that ``monitor._construct`` relies on: what it builds is what
``model_construct`` and validation build, attribute for attribute (fails when a pydantic upgrade moves them)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from monitor._construct import constructor, fill, made, private, unset


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


class Deferred(BaseModel):
    """A model whose field ``items`` is made when first read, as the report's warning list makes its rows."""

    count: int
    items: list[str]
    _maker: Any = PrivateAttr(default=None)

    def __getattr__(self, name: str) -> Any:
        if name == "items":
            maker = private(self, "_maker")
            if maker is not None:
                fill(self, "items", maker())
                return self.__dict__["items"]
        return super().__getattr__(name)


def test_a_field_made_when_first_read():
    m = Deferred.model_construct(count=2)
    assert unset(m, "items") and private(m, "_maker") is None
    m._maker = lambda: ["a", "b"]
    assert private(m, "_maker")() == ["a", "b"] and unset(m, "items")
    assert m.items == ["a", "b"] and not unset(m, "items")  # made by the model's __getattr__, then kept
    assert m.model_fields_set == {"count", "items"}
    assert m.model_dump() == {"count": 2, "items": ["a", "b"]} == Deferred(count=2, items=["a", "b"]).model_dump()
    assert m.__dict__ == Deferred(count=2, items=["a", "b"]).__dict__  # (== compares the private maker too)


def test_fill_is_what_validation_sets():
    m = Deferred.model_construct(count=1)
    fill(m, "items", ["x"])
    want = Deferred(count=1, items=["x"])
    assert (list(m.__dict__.items()), m.model_fields_set, m.model_dump_json()) == \
        (list(want.__dict__.items()), want.model_fields_set, want.model_dump_json())
