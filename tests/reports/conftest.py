from __future__ import annotations

from pathlib import Path

import pytest

from monitor.replay import replay, write_outputs
from monitor.rules.loader import default_policy
from monitor.simulate import simulate, write_simulation
from tests.reports import portfolio


@pytest.fixture(scope="session")
def hand(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The hand-made portfolio: (events file, replay directory)."""
    return portfolio.build(tmp_path_factory.mktemp("hand"))


@pytest.fixture(scope="session")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A simulated portfolio (with duplicates and malformed lines), replayed."""
    d = tmp_path_factory.mktemp("sim")
    events = d / "events.jsonl"
    write_simulation(simulate(300, 4, 11, duplicates=0.01, malformed=0.005), events)
    out = d / "replay"
    write_outputs(replay([events], default_policy(), snapshots=out / "snapshots"), out)
    return events, out
