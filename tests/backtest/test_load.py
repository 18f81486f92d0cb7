"""Reading a part: validated borrower by borrower (for the CPU's caches), yet each borrower's events in input order.

``load_part`` groups the raw lines by the borrower id the line shows before
validating them; what it returns must not depend on that: the same events,
digests, findings and counts as reading the lines in file order, ties at one
instant in input order, and a borrower whose id is written two ways (a JSON
escape) read in input order all the same.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from monitor.backtest._worker import Part, _load_part, load_part
from tests.factories import messy_simulation


def _plain(part: Part) -> tuple:
    return (part.read, part.rejected, part.recorded_visits, part.first, part.latest, sorted(part.visit_ids_taken),
            {b: [(t, e.event_id, e.model_dump_json(), d) for t, e, d in rows] for b, rows in part.events.items()},
            part.findings)


def _shuffled(tmp_path: Path) -> Path:
    return messy_simulation(tmp_path / "shuffled.jsonl", 30, 6, 4, duplicates=0.05, malformed=0.02, moved=8,
                            shuffle_seed=3)


def test_grouped_reading_equals_reading_in_file_order(tmp_path):
    path = _shuffled(tmp_path)
    grouped, in_order = load_part(0, [str(path)]), _load_part(0, [str(path)], grouped=False)
    assert grouped.rejected > 0 and any(d != 0 for rows in grouped.events.values() for _t, _e, d in rows)
    assert _plain(grouped) == _plain(in_order)


def test_ties_and_an_id_written_two_ways_keep_the_input_order(tmp_path):
    at = "2025-03-01T00:00:00Z"
    rows = [
        {"event_id": "p", "type": "loan_profile", "borrower_id": "B1", "occurred_at": "2025-01-01T00:00:00Z",
         "source": "core", "segment": "small", "industry": "trade", "branch": "SH", "team": "T1",
         "exposure": 1000.0, "product": "working_capital", "mitigation": "secured", "grade": "BBB",
         "disbursed_at": "2025-01-01T00:00:00Z"},
        *({"event_id": f"o{i}", "type": "overdue", "borrower_id": "B1", "occurred_at": at, "source": "core",
           "account_id": f"A{i}", "product": "working_capital", "days_past_due": i, "overdue_amount": 1.0}
          for i in range(1, 6)),
    ]
    lines = [json.dumps(r, separators=(",", ":")) for r in rows]
    lines[3] = lines[3].replace('"borrower_id":"B1"', '"borrower_id":"\\u0042\\u0031"')  # B1 written with escapes
    lines.insert(2, '{"borrower_id": "B1", "broken"')  # a bad line of the same borrower
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    part = load_part(0, [str(path)])
    assert [e.event_id for _t, e, _d in part.events["B1"]] == ["p", "o1", "o2", "o3", "o4", "o5"]
    assert (part.read, part.rejected) == (7, 1)
    assert _plain(part) == _plain(_load_part(0, [str(path)], grouped=False))
    lines[3] = lines[3].replace('"\\u0042\\u0031"', '"B1"')
    path.write_text("\n".join(reversed(lines)) + "\n", encoding="utf-8")  # ties now in reverse input order
    assert [e.event_id for _t, e, _d in load_part(0, [str(path)]).events["B1"]] == \
        ["p", "o5", "o4", "o3", "o2", "o1"]


def test_crlf_and_gzip_files_read_as_the_replay_reads_them(tmp_path):
    path = _shuffled(tmp_path)
    lines = path.read_bytes().splitlines()
    crlf = tmp_path / "crlf.jsonl"
    crlf.write_bytes(b"\r\n".join(lines))  # and no newline after the last line
    packed = tmp_path / "events.jsonl.gz"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    want = _plain(load_part(0, [str(path)]))
    assert _plain(load_part(0, [str(crlf)])) == want
    assert _plain(load_part(0, [str(packed)])) == want
