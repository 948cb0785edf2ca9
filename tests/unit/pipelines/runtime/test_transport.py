"""The worker's Faust consumer says when Faust's bookkeeping stops committing a partition."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from intervaltree import IntervalTree  # type: ignore[import-untyped]

from pipelines.runtime.transport import _ReadCommittedConsumer

TP = ("lprx.dedup-ticks", 0)


def consumer(acked: list[int], committed: int | None, pending: list[int]) -> SimpleNamespace:
    return SimpleNamespace(
        _acked={TP: acked},
        _committed_offset={TP: committed},
        _gap={TP: IntervalTree()},
        _read_offset={TP: max(acked, default=None)},
        _unacked_messages=[SimpleNamespace(tp=TP, offset=o) for o in pending],
    )


def say(state: SimpleNamespace) -> None:
    _ReadCommittedConsumer._say_if_stalled(state, TP)  # type: ignore[arg-type]


def test_a_stalled_partition_is_said_once_with_what_faust_holds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    state = consumer(acked=[14, 15, 16], committed=11, pending=[17])
    with caplog.at_level(logging.WARNING, logger="pipelines.runtime.transport"):
        say(state)
        say(state)  # the same state: not said again
        state._acked[TP].append(18)
        say(state)  # still from 14: the same stall
    (record,) = caplog.records
    message = record.getMessage()
    assert "commits wait at offset 11: acknowledged from 14 (3 offsets)" in message
    assert "not yet acknowledged [17]" in message


@pytest.mark.parametrize(
    ("acked", "committed"),
    [([11, 12], 11), ([12, 13], 11), ([], 11), ([5, 6], None)],
)
def test_a_partition_that_can_commit_is_not_said(
    caplog: pytest.LogCaptureFixture, acked: list[int], committed: int | None
) -> None:
    with caplog.at_level(logging.WARNING, logger="pipelines.runtime.transport"):
        say(consumer(acked=acked, committed=committed, pending=[]))
    assert not caplog.records
