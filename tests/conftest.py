import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: what tools make in the repository root while the tests run (all in .gitignore)
_TOOL_CACHES = {".pytest_cache", ".hypothesis", ".ruff_cache", "__pycache__"}


@pytest.fixture(autouse=True)
def _nothing_left_in_the_repository_root() -> Iterator[None]:
    """A test writes under its tmp dir, never in the repository root (a worker's pid file, data dir or
    log once landed there): the test that leaves a new entry there fails, naming it."""
    before = set(os.listdir(ROOT))
    yield
    left = sorted(set(os.listdir(ROOT)) - before - _TOOL_CACHES)
    if left:
        pytest.fail(f"the test left {left} in the repository root {ROOT}; write under tmp_path", pytrace=False)
