"""The warning list kept as columns, its signals as the replay wrote them (monitor.reports._rowlists): the rows made
from it, its JSON and its cells are those of the plain rows; a report read from another layout (signals parsed as
objects) gives the same forms, byte for byte."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

from monitor.reports import Report, build_report, with_cases, write_report
from monitor.reports._rowlists import lists_of

from tests.reports.serialiser import serialiser_json


_EVENTS: list[Path] = []


def _built(out: Path, **kw: object) -> Report:
    return build_report(out, _EVENTS, period="month", **kw)  # type: ignore[arg-type]


def test_rows_json_and_cells_of_the_columns_are_those_of_the_plain_rows(simulated: tuple[Path, Path]) -> None:
    from monitor.reports._i18n import Text
    from monitor.reports._tables import warning_row, warning_slices
    from monitor.reports._write import _ROWS

    events, out = simulated
    _EVENTS[:] = [events]
    for started in (True, False):
        lazy = _built(out, started=started)
        lists = lists_of(lazy.warning_list)
        assert lists is not None and lists.n == lazy.warning_list.borrowers > 20  # not made
        plain = _built(out, started=started)
        rows = plain.warning_list.rows  # made (read)
        assert lists_of(plain.warning_list) is None and len(rows) == lists.n
        assert any(r["signals"] for r in rows) and any(r["signals"] != r["last_change"]["signals"] for r in rows)
        want = _ROWS.dump_json(rows)[1:-1]
        for step in (1, 7, lists.n):
            assert b",".join(serialiser_json(lists, lo, lo + step) for lo in range(0, lists.n, step)) == want
        assert lists.head(0, 5) == rows[:5] and lists.rows() == rows
        for lang in ("zh", "en"):
            made = [row for part in warning_slices(lazy, lang, 6) for row in part]  # type: ignore[arg-type]
            assert lists_of(lazy.warning_list) is lists  # (the cells did not make the rows)
            assert made == [warning_row(Text(lang), r, plain) for r in rows]  # type: ignore[arg-type]
        assert lazy.model_dump_json() == plain.model_dump_json()  # the rows made to dump them
        assert lists_of(lazy.warning_list) is None and lazy.warning_list.rows == rows


def test_equality_pickle_and_cases_of_the_columns(simulated: tuple[Path, Path]) -> None:
    events, out = simulated
    _EVENTS[:] = [events]
    lazy = _built(out)
    again = pickle.loads(pickle.dumps(lazy))
    assert lists_of(again.warning_list) is not None
    assert lazy == Report.model_validate_json(_built(out).model_dump_json()) == again
    ids = [r["borrower_id"] for r in _built(out).warning_list.rows]
    fresh = _built(out)
    assert fresh.warning_list.borrower_ids() == ids and lists_of(fresh.warning_list) is not None  # (not made)
    cases = {ids[0]: ("open", "张三"), ids[3]: ("released", None)}
    by_columns = with_cases(_built(out), cases)
    assert lists_of(by_columns.warning_list) is not None
    plain = _built(out)
    plain.warning_list.rows  # noqa: B018 (made: the plain rows' copy)
    by_rows = with_cases(plain, cases)
    assert lists_of(by_rows.warning_list) is None
    assert by_columns.disposal == by_rows.disposal and by_columns.disposal.rows[0].borrowers == 1
    assert by_columns.model_dump_json() == by_rows.model_dump_json()


def test_signals_read_as_objects_give_the_same_forms(simulated: tuple[Path, Path], tmp_path: Path) -> None:
    """signals.jsonl laid out otherwise (spaces after the separators: parsed as objects, not kept as text; the
    evidence then made objects too) gives the same four forms as the replay's own file (kept as text), in both
    writes."""
    events, out = simulated
    _EVENTS[:] = [events]
    spaced = tmp_path / "replay"
    shutil.copytree(out, spaced)
    path = spaced / "snapshots" / "signals.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines
    path.write_text("".join(json.dumps(json.loads(x), ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    as_text, as_objects = _built(out), _built(spaced)
    assert lists_of(as_text.warning_list) is not None and lists_of(as_objects.warning_list) is None
    for jobs in (1, 2):
        a = write_report(_built(out), tmp_path / f"text{jobs}", jobs=jobs)
        b = write_report(_built(spaced), tmp_path / f"objects{jobs}", jobs=jobs)
        for x, y in zip(a, b):
            assert x.read_bytes() == y.read_bytes(), x.name
