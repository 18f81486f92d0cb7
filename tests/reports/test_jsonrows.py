"""The warning list's JSON rows made from its columns (monitor.reports._jsonrows) are the model serialiser's bytes
(tests/reports/serialiser.py, itself the plain rows' JSON: tests/reports/test_rowlists.py), whatever the values."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.reports import build_report
from monitor.reports._jsonrows import Rows
from monitor.reports._rowlists import RowLists, lists_of

from tests.reports.serialiser import serialiser_json

@pytest.fixture(scope="module")
def lists(simulated: tuple[Path, Path]) -> RowLists:
    events, out = simulated
    report = build_report(out, [events], period="month", as_of="2025-03-31")
    got = lists_of(report.warning_list)
    assert got is not None and got.n > 20
    return got


def _same(lists: RowLists, steps: tuple[int, ...] = (1, 7, 2_000)) -> None:
    rows = Rows(lists)
    for step in steps:
        for lo in range(0, lists.n, step):
            assert rows.json(lo, lo + step) == serialiser_json(lists, lo, lo + step), (lo, step)
    assert rows.json(lists.n, lists.n + 5) == serialiser_json(lists, lists.n, lists.n + 5) == b""


def test_the_rows_json_of_a_built_list_is_the_serialisers(lists: RowLists) -> None:
    _same(lists)
    assert b'"signals":[{' in Rows(lists).json(0, lists.n)  # (the signals' texts spliced in)


_CHARS = st.characters(blacklist_categories=("Cs",))  # (a lone surrogate: no JSON of it, by either)
_TEXT = st.one_of(st.none(), st.text(_CHARS, max_size=8), st.sampled_from(
    ['a"b', "back\\slash", "tab\tx", "\x00", "\x1f", "\x7f", "\u2028", "中文", "", "é", "\U0001f600", "%s", "%"]))


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_the_rows_json_is_the_serialisers_for_any_values(lists: RowLists, data: st.DataObject) -> None:
    """Texts that need escapes (quotes, backslashes, control characters) or not (other scripts, U+2028, DEL), none,
    numbers of any size and sign, flags, lists of items: the serialiser's bytes, alone or mixed in a column."""
    n = min(lists.n, 12)
    part = replace(lists, cols={k: v[:n] for k, v in lists.cols.items()}, change=tuple(c[:n] for c in lists.change),
                   then=lists.then.take(range(n)), now=None if lists.now is None else lists.now.take(range(n)))
    cols = dict(part.cols)
    for key in ("borrower_id", "name", "case_owner", "next_visit_due", "tier_since", "case_status", "branch"):
        plain = data.draw(st.booleans())
        texts = st.text(st.characters(min_codepoint=32, blacklist_characters='"\\', blacklist_categories=("Cs",)),
                        max_size=6) if plain else _TEXT  # (plain: none needs an escape)
        values = data.draw(st.lists(texts, min_size=n, max_size=n))
        if key in ("borrower_id", "tier_since", "branch"):  # (never none)
            values = [v or "" for v in values]
        cols[key] = values
    cols["exposure"] = data.draw(st.lists(st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
        [0.0, -0.0, 1e20, 1e-7, 123.456, 5e-5]), min_size=n, max_size=n))
    cols["days_at_tier"] = data.draw(st.lists(st.integers(-10**12, 10**12), min_size=n, max_size=n))
    cols["visit_overdue"] = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    shared = ["bureau_stale"]
    cols["data_quality"] = data.draw(st.lists(st.sampled_from([[], shared, ["name_missing", 'a"b']]),
                                              min_size=n, max_size=n))
    _same(replace(part, cols=cols), (1, 5, n))
    _same(replace(part, cols=cols, now=None), (n,))  # (current signals unknown: the last change's in both places)
