"""The port's fixes of library behaviour, on the libraries' own objects."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import errors
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.protocol.commit import OffsetFetchRequest, OffsetFetchResponse_v3

from monitor.agents.port import check_offset_fetch_errors


class _Client:
    def __init__(self, response) -> None:  # type: ignore[no-untyped-def]
        self.response = response

    async def send(self, node_id, request, group=None):  # type: ignore[no-untyped-def]
        return self.response


class _Coordinator:
    """Just what GroupCoordinator._send_req reads."""

    def __init__(self, response) -> None:  # type: ignore[no-untyped-def]
        self.coordinator_id = 1
        self.group_id = "g"
        self._client = _Client(response)
        self.dead = 0

    async def _send_req(self, request):  # type: ignore[no-untyped-def]
        return await GroupCoordinator._send_req(self, request)

    def coordinator_dead(self) -> None:
        self.dead += 1


def _answer(error_code: int) -> OffsetFetchResponse_v3:
    # every partition "nothing committed" (-1) with no error of its own: what a broker whose group
    # coordinator is still loading answers at the top level only
    return OffsetFetchResponse_v3(0, [("t", [(0, -1, "", 0)])], error_code)


def test_a_group_wide_error_of_the_committed_offset_fetch_is_raised_not_read_as_nothing_committed():
    check_offset_fetch_errors()
    check_offset_fetch_errors()  # idempotent
    request = OffsetFetchRequest("g", [("t", [0])])

    loading = _Coordinator(_answer(errors.GroupLoadInProgressError.errno))
    with pytest.raises(errors.GroupLoadInProgressError) as err:
        asyncio.run(GroupCoordinator._send_req(loading, request))
    assert err.value.retriable  # fetch_committed_offsets waits and asks again
    moved = _Coordinator(_answer(errors.NotCoordinatorForGroupError.errno))
    with pytest.raises(errors.NotCoordinatorForGroupError):
        asyncio.run(GroupCoordinator._send_req(moved, request))
    assert moved.dead == 1  # and looks for the coordinator again
    fine = _Coordinator(_answer(0))
    assert asyncio.run(GroupCoordinator._send_req(fine, request)).error_code == 0
    assert asyncio.run(GroupCoordinator._do_fetch_commit_offsets(fine, [_tp()])) == {}  # really nothing committed
    # aiokafka's own fetch now sees the error (unpatched, it returned {}: "start from offset 0")
    with pytest.raises(errors.GroupLoadInProgressError):
        asyncio.run(GroupCoordinator._do_fetch_commit_offsets(loading, [_tp()]))


def _tp():  # type: ignore[no-untyped-def]
    from aiokafka.structs import TopicPartition

    return TopicPartition("t", 0)


class _Fetcher(_Coordinator):
    """Also what aiokafka's retry loop, GroupCoordinator.fetch_committed_offsets, reads: one answer per ask."""

    def __init__(self, *responses) -> None:  # type: ignore[no-untyped-def]
        super().__init__(None)
        self.responses = list(responses)
        self._retry_backoff_ms = 1

    async def ensure_coordinator_known(self) -> None:
        self._client.response = self.responses.pop(0)

    async def _do_fetch_commit_offsets(self, partitions):  # type: ignore[no-untyped-def]
        return await GroupCoordinator._do_fetch_commit_offsets(self, partitions)


def test_a_retried_committed_offset_fetch_logs_a_warning_naming_the_error_the_group_and_the_partition(caplog):
    check_offset_fetch_errors()
    committed = OffsetFetchResponse_v3(0, [("t", [(0, 41, "B000123 Zhang San", 0)])], 0)
    fetcher = _Fetcher(_answer(errors.GroupLoadInProgressError.errno), committed)
    with caplog.at_level("DEBUG"):
        offsets = asyncio.run(GroupCoordinator.fetch_committed_offsets(fetcher, [_tp()]))
    assert offsets[_tp()].offset == 41  # asked again and read the committed offset, not "start from 0"
    assert fetcher.responses == []
    warnings = [r for r in caplog.records if r.name == "monitor.worker" and r.levelname == "WARNING"]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
    line = warnings[0].getMessage()
    assert "GroupLoadInProgressError" in line and "asking again" in line
    assert "group g " in line and "partitions t 0" in line
    # nothing but the group, the partition and the error: no committed metadata, no offsets
    assert "B000123" not in line and "Zhang" not in line and "41" not in line
