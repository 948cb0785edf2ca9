"""The worker's Faust consumer: a partition whose commits stall is said, and read again
from its committed offset when no one is processing the records it waits for."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from intervaltree import IntervalTree  # type: ignore[import-untyped]

from pipelines.runtime import transport
from pipelines.runtime.transport import STALL_READ_AGAIN_S, _ReadCommittedConsumer

TP = ("lprx.reads.raw", 0)


class Consumer:
    """Faust's bookkeeping of one partition, with the methods under test."""

    _watch_stall = _ReadCommittedConsumer._watch_stall
    _read_again = _ReadCommittedConsumer._read_again
    _add_gap = _ReadCommittedConsumer._add_gap
    _new_offset = _ReadCommittedConsumer._new_offset  # its own part only: a stalled head

    def __init__(self, acked: list[int], committed: int | None, pending: list[int]) -> None:
        self._acked = {TP: acked}
        self._committed_offset = {TP: committed}
        self._gap = {TP: IntervalTree()}
        self._read_offset = {TP: max(acked, default=None)}
        self._unacked_messages = [SimpleNamespace(tp=TP, offset=o) for o in pending]
        self.sought: list[tuple[Any, int]] = []

    async def seek(self, tp: Any, offset: int) -> None:
        self.sought.append((tp, offset))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(transport.time, "monotonic", lambda: now[0])
    return now


def watch(consumer: Consumer, times: list[float], clock: list[float]) -> None:
    """Faust's commit timer asking for the partition's new offset at each of ``times``."""

    async def commits() -> None:
        for at in times:
            clock[0] = at
            consumer._watch_stall(TP)
            await asyncio.sleep(0)  # a read-again task runs

    asyncio.run(commits())


def test_a_stall_is_said_once_with_what_faust_holds(
    caplog: pytest.LogCaptureFixture, clock: list[float]
) -> None:
    consumer = Consumer(acked=[69, 70, 71], committed=67, pending=[72])
    with caplog.at_level(logging.WARNING, logger="pipelines.runtime.transport"):
        watch(consumer, [1000, 1003, 1006], clock)
    (record,) = caplog.records
    message = record.getMessage()
    assert "commits wait at offset 67: acknowledged from 69 (3 offsets)" in message
    assert "not yet acknowledged [72]" in message


def test_records_no_one_processes_are_read_again_once(
    caplog: pytest.LogCaptureFixture, clock: list[float]
) -> None:
    consumer = Consumer(acked=[69, 70, 71], committed=67, pending=[72])
    ticks = [1000 + 3 * i for i in range(12)]  # 33 s of commit attempts
    with caplog.at_level(logging.WARNING, logger="pipelines.runtime.transport"):
        watch(consumer, ticks, clock)
    assert consumer.sought == [(TP, 67)]
    assert any("offsets 67-68 were taken but never acknowledged" in r.getMessage()
               for r in caplog.records)  # fmt: skip


def test_nothing_is_read_again_before_its_time(clock: list[float]) -> None:
    consumer = Consumer(acked=[69, 70], committed=67, pending=[])
    watch(consumer, [1000, 1000 + STALL_READ_AGAIN_S - 1], clock)
    assert consumer.sought == []


def test_nothing_is_read_again_while_a_record_it_waits_for_is_processed(
    clock: list[float],
) -> None:
    consumer = Consumer(acked=[69, 70], committed=67, pending=[67])  # slow, not lost
    watch(consumer, [1000 + 5 * i for i in range(10)], clock)
    assert consumer.sought == []


@pytest.mark.parametrize(
    ("acked", "committed"),
    [([67, 68], 67), ([], 67), ([5, 6], None)],
)
def test_a_partition_that_can_commit_is_left_alone(
    caplog: pytest.LogCaptureFixture, clock: list[float], acked: list[int], committed: int | None
) -> None:
    consumer = Consumer(acked=acked, committed=committed, pending=[])
    with caplog.at_level(logging.WARNING, logger="pipelines.runtime.transport"):
        watch(consumer, [1000, 1020, 1040], clock)
    assert not caplog.records and consumer.sought == []


def test_the_committed_offset_alone_unacknowledged_is_not_committed_past(
    clock: list[float],
) -> None:
    """Faust would commit 70 here, past 67 (taken and dropped, or still in work)."""
    consumer = Consumer(acked=[68, 69], committed=67, pending=[])
    assert consumer._new_offset(TP) is None
    watch(consumer, [1000 + 5 * i for i in range(5)], clock)
    assert consumer.sought == [(TP, 67)]  # read again, as any other stall


def test_offsets_read_again_but_not_delivered_are_passed_over(clock: list[float]) -> None:
    """A transaction's marker at the committed offset: reading again delivers 68 (and
    its acknowledgement says so), never 67, so 67 is no record and joins the gaps."""
    consumer = Consumer(acked=[68, 69], committed=67, pending=[])
    watch(consumer, [1000, 1020], clock)
    (stall,) = consumer._stalls.values()  # type: ignore[attr-defined]
    assert stall.read_again and consumer.sought == [(TP, 67)]
    stall.read_past = True  # what ``ack`` of the copy of 68 read again sets
    watch(consumer, [1023], clock)
    assert consumer._gap[TP].overlaps(67) and not consumer._gap[TP].overlaps(68)


def test_a_gap_may_start_at_the_committed_offset() -> None:
    """Read 9, committed 10, next record 12 (10 and 11 markers): the gap is 10-11."""
    consumer = Consumer(acked=[], committed=10, pending=[])
    asyncio.run(consumer._add_gap(TP, 10, 12))
    assert sorted((i.begin, i.end) for i in consumer._gap[TP]) == [(10, 12)]
    asyncio.run(consumer._add_gap(TP, 5, 8))  # before the committed offset: done already
    assert sorted((i.begin, i.end) for i in consumer._gap[TP]) == [(10, 12)]


def test_a_gap_of_more_than_a_marker_is_said(caplog: pytest.LogCaptureFixture) -> None:
    """One offset skipped is a transaction's marker; more may be records never delivered
    (Faust commits past a gap), so the worker says so."""
    consumer = Consumer(acked=[], committed=10, pending=[])
    with caplog.at_level(logging.WARNING, logger="pipelines.runtime.transport"):
        asyncio.run(consumer._add_gap(TP, 10, 11))
        assert not caplog.records
        asyncio.run(consumer._add_gap(TP, 20, 500))
    (record,) = caplog.records
    assert "offsets 20-499 skipped by the fetch" in record.getMessage()
