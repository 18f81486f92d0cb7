"""The replay's input digests on a thread under SCHED_IDLE until waited for (monitor._replay_digests)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from monitor._replay_digests import Digests, can_restore
from monitor.jsonl import file_digest

linux_idle = pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux's")


def _files(tmp_path: Path) -> list[Path]:
    out = []
    for i, text in enumerate([b'{"a":1}\n{"b":2}\n', b"", b"x" * 5_000_000 + b"\nlast"]):
        p = tmp_path / f"f{i}.jsonl"
        p.write_bytes(text)
        out.append(p)
    return out


@pytest.mark.parametrize("idle", [True, False])
@pytest.mark.parametrize("count_lines", [True, False])
def test_the_digests_are_file_digests_in_order(tmp_path: Path, idle: bool, count_lines: bool) -> None:
    files = _files(tmp_path)
    digests = Digests(idle=idle and can_restore())
    try:
        for f in files:
            digests.submit(f, count_lines)
        assert digests.results() == [file_digest(f, count_lines) for f in files]
    finally:
        digests.close()


def test_an_unreadable_file_raises_when_waited_for(tmp_path: Path) -> None:
    from monitor._errors import InputError

    digests = Digests()
    try:
        digests.submit(tmp_path / "missing.jsonl", False)
        with pytest.raises(InputError, match="missing.jsonl: cannot read"):
            digests.results()
    finally:
        digests.close()


def _policy_of_digest_thread(digests: Digests, started: threading.Event, release: threading.Event,
                             seen: dict[str, int]) -> None:
    def job(path: Path, count_lines: bool) -> dict[str, int]:
        seen["tid"] = threading.get_native_id()
        seen["before"] = os.sched_getscheduler(0)
        started.set()
        release.wait(10)
        seen["after"] = os.sched_getscheduler(0)
        return {}

    digests._futures.append(digests._pool.submit(job, Path("-"), False))  # (a job that reports its policy)


@linux_idle
@pytest.mark.skipif(not can_restore(), reason="needs CAP_SYS_NICE or RLIMIT_NICE >= 20 to restore the policy")
def test_the_thread_is_idle_until_waited_for_then_normal() -> None:
    digests = Digests()
    assert digests.idle
    started, release, seen = threading.Event(), threading.Event(), {}
    try:
        _policy_of_digest_thread(digests, started, release, seen)
        assert started.wait(10)
        assert seen["before"] == os.SCHED_IDLE
        assert os.sched_getscheduler(seen["tid"]) == os.SCHED_IDLE
        digests.raise_priority()  # as results() does before it waits
        assert os.sched_getscheduler(seen["tid"]) == os.SCHED_OTHER
        release.set()
        assert digests.results() == [{}]
        assert seen["after"] == os.SCHED_OTHER
    finally:
        release.set()
        digests.close()


@linux_idle
@pytest.mark.parametrize("case", ["raised before the thread starts", "without a way back"])
def test_the_thread_is_not_lowered(case: str) -> None:
    """Raised before the thread starts, or without a way back to the normal policy: never lowered."""
    digests = Digests(idle=case == "raised before the thread starts")
    if case == "raised before the thread starts":
        digests.raise_priority()
    started, release, seen = threading.Event(), threading.Event(), {}
    try:
        _policy_of_digest_thread(digests, started, release, seen)
        release.set()
        assert digests.results() == [{}]
        assert seen["before"] == os.SCHED_OTHER
    finally:
        digests.close()


@linux_idle
@pytest.mark.parametrize("workers,shards,idle", [(1, None, False), (1, 3, False), (2, 1, False), (2, 2, True)])
def test_the_replay_lowers_the_thread_only_beside_forked_processes(tmp_path: Path, monkeypatch, workers: int,
                                                                  shards: int | None, idle: bool) -> None:
    import monitor._replay_digests as digests
    from monitor._replay_stream import replay_to
    from monitor.rules.loader import default_policy

    seen: list[bool] = []
    lower = digests.Digests._lower

    def spy(self: Digests) -> None:
        seen.append(self.idle)
        lower(self)

    monkeypatch.setattr(digests.Digests, "_lower", spy)
    monkeypatch.setattr(digests, "can_restore", lambda: True)
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"event_id":"e1","type":"bureau_report"}\n')
    replay_to([src], default_policy(), tmp_path / "out", workers=workers, shards=shards)
    assert seen == [idle]
