"""Provenance without rereading gigabytes: ``monitor replay`` records the digests of what it read and wrote
(``files.json``), and the report records those instead of hashing the files again."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from monitor._replay_stream import replay_to
from monitor.reports import build_report
from monitor.rules.loader import default_policy
from monitor.simulate import simulate, write_simulation


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_replay_records_digests_and_the_report_uses_them_only_when_the_size_matches(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    write_simulation(simulate(120, 2, 5, duplicates=0.01), events)
    out = tmp_path / "replay"
    replay_to([events], default_policy(), out, workers=2)
    files = json.loads((out / "files.json").read_text())
    assert files["inputs"] == [{"name": str(events), "sha256": _sha(events), "bytes": events.stat().st_size,
                                "lines": len(events.read_bytes().splitlines())}]
    for name in ("alerts.jsonl", "borrowers.jsonl", "schedule_history.jsonl", "summary.json", "rejects.jsonl"):
        assert files["outputs"][name] == {"sha256": _sha(out / name), "bytes": (out / name).stat().st_size}

    def inputs(replay_dir: Path) -> list[tuple[str, str, int]]:
        r = build_report(replay_dir, [events], period="month", as_of="2025-01-31")
        return [(i.role, i.sha256, i.bytes) for i in r.meta.inputs]

    recorded = inputs(out)
    assert recorded[5] == ("events", _sha(events), events.stat().st_size)
    assert recorded[2] == ("alerts", _sha(out / "alerts.jsonl"), (out / "alerts.jsonl").stat().st_size)
    # without the record, the same digests are computed
    bare = tmp_path / "bare"
    shutil.copytree(out, bare)
    (bare / "files.json").unlink()
    assert inputs(bare) == recorded
    # a record that no longer fits the file (another size) is not believed
    files["outputs"]["alerts.jsonl"]["sha256"] = "0" * 64
    files["outputs"]["alerts.jsonl"]["bytes"] += 1
    files["inputs"][0]["sha256"] = "1" * 64
    files["inputs"][0]["bytes"] += 1
    (bare / "files.json").write_text(json.dumps(files))
    assert inputs(bare) == recorded


def test_without_the_event_files_the_report_is_the_same_from_the_replays_record(tmp_path: Path) -> None:
    """The report reads nothing of the event files but their digests: without them (gone, or never written,
    as in the desk) it takes those from files.json and is the same report; without that record it says so."""
    import pytest

    from monitor._errors import InputError
    from monitor.cli import main

    events = tmp_path / "events.jsonl"
    write_simulation(simulate(150, 3, 9, duplicates=0.01, malformed=0.005), events)
    out = tmp_path / "replay"
    replay_to([events], default_policy(), out, workers=1)
    with_files = build_report(out, [events], period="month", as_of="2025-02-28")
    moved = tmp_path / "elsewhere.jsonl"
    events.rename(moved)  # the files are gone: only the replay's record is left
    without = build_report(out, [], period="month", as_of="2025-02-28")
    assert without.model_dump_json() == with_files.model_dump_json()
    assert [i.role for i in without.meta.inputs].count("events") == 1
    assert main(["report", "--period", "month", "--as-of", "2025-02-28", "--replay", str(out),
                 "--out", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli").is_dir() and any((tmp_path / "cli").iterdir())
    with pytest.raises(InputError, match="no such file"):
        build_report(out, [events], period="month", as_of="2025-02-28")  # named but missing: an error
    files = json.loads((out / "files.json").read_text())
    del files["inputs"][0]["lines"]
    (out / "files.json").write_text(json.dumps(files))
    with pytest.raises(InputError, match="files.json: an input without"):
        build_report(out, [], period="month", as_of="2025-02-28")
    (out / "files.json").unlink()
    with pytest.raises(InputError, match="no files.json recording the event files"):
        build_report(out, [], period="month", as_of="2025-02-28")
