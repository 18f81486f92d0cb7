"""docs/operations.md tells the truth about the worker's settings: its table lists every setting the worker
takes, by its environment variable, with the default the code has (issue 13: six settings existed only as
variables and MONITOR_REPLICATION_FACTOR was documented nowhere; MONITOR_MIN_INSYNC_REPLICAS came later
and was missing again)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from monitor.settings import Settings

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def _settings_rows() -> dict[str, tuple[str, str]]:
    """Variable -> (default cell, meaning cell) of the runbook's settings table."""
    text = RUNBOOK.read_text()
    start = text.index("| Variable | Default | Meaning |")
    rows: dict[str, tuple[str, str]] = {}
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        names = [n.strip().strip("`") for n in cells[0].split(",")]
        defaults = [d.strip() for d in cells[1].split(",")]
        for i, name in enumerate(names):
            rows[name] = (defaults[i] if len(defaults) == len(names) else cells[1], cells[2])
    return rows


def _shown(default: object) -> set[str]:
    if default is None:
        return {"none", "the shipped policy"}
    if isinstance(default, timedelta):
        return {"one day"} if default == timedelta(days=1) else {str(default.total_seconds())}
    if isinstance(default, float) and default.is_integer():
        return {str(int(default))}
    return {str(default)}


def test_the_settings_table_lists_every_worker_setting_with_its_default():
    rows = _settings_rows()
    assert len(rows) >= 15
    missing = [f"MONITOR_{n.upper()}" for n in Settings.model_fields if f"MONITOR_{n.upper()}" not in rows]
    assert not missing, f"docs/operations.md's settings table lacks {missing}"
    wrong = {}
    for name, field in Settings.model_fields.items():
        cell = rows[f"MONITOR_{name.upper()}"][0].strip("`").replace(",", "")
        if not any(s in (cell, cell.strip("`")) or cell.startswith(s) for s in _shown(field.default)):
            wrong[name] = (cell, sorted(_shown(field.default)))
    assert not wrong, f"defaults in the runbook differ from the code: {wrong}"
    # nothing documented that the worker does not take
    extra = {v for v in rows if v.removeprefix("MONITOR_").lower() not in Settings.model_fields}
    assert not extra, extra


def _section(text: str, start: str, end: str) -> str:
    return text[text.index(start):text.index(end, text.index(start))]


def test_every_user_a_command_names_was_added_before():
    """The calendar feed-key step named a user the procedure never added."""
    import re

    text = RUNBOOK.read_text()
    added: set[str] = set()
    for m in re.finditer(r"monitor users (add|feed-key)\b[^\n]*?--user (\S+)", text):
        if m.group(1) == "add":
            added.add(m.group(2))
        else:
            assert m.group(2) in added, f"'monitor users feed-key --user {m.group(2)}' before any 'users add' of it"
    assert added


def test_the_history_procedures_say_clock_watermarks_and_switching_back():
    """Recompute and more partitions: on --clock event, a watermark (alone, for a time with no events),
    back to --clock wall after; a recompute under a new policy leaves the old alerts and cases in the desk;
    --to-datetime reads record timestamps and wants an offset."""
    import re

    text = RUNBOOK.read_text()
    partitions = _section(text, "**More partitions than now**", "## Upgrade")
    recompute = _section(text, "**Recompute from scratch**", "## Feed cadences")
    for name, part in (("more partitions", partitions), ("recompute", recompute)):
        assert "--clock event" in part and "--clock wall" in part, name
        assert "monitor produce --watermark-at" in part and "/dev/null" in part, name
    assert "monitor export" in partitions
    assert "the desk then shows both" in recompute and "new set of topics" in recompute
    reset = _section(text, "## Reprocess from an offset", "**Recompute from scratch**")
    assert "record timestamp" in reset and "time zone" in reset
    for instant in re.findall(r"--to-datetime (\S+)", reset):
        assert re.search(r"[+-]\d\d:\d\d$|Z$", instant), f"--to-datetime {instant} without an offset"
