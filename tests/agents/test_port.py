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
