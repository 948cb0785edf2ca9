"""The worker's Faust consumer: nothing is committed past offsets its fetch never
delivered until Kafka says they hold no record; a partition whose commits stall is said,
and Kafka is asked what it waits on: records are read again, offsets with none passed
over."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP as TopicPartition
from intervaltree import IntervalTree  # type: ignore[import-untyped]

from connectors.kafka.holes import NO_RECORD
from pipelines.runtime import transport
from pipelines.runtime.transport import STALL_READ_AGAIN_S, _ReadCommittedConsumer

TP = TopicPartition(topic="lprx.reads.raw", partition=0)


class Kafka:
    """What the hole check answers: the first record of each range asked about."""

    def __init__(self, first: int | None) -> None:
        self.first = first
        self.asked: list[tuple[int, int]] = []

    def __call__(self, topic: str, partition: int, start: int, end: int) -> int | None:
        assert (topic, partition) == (TP.topic, TP.partition)
        self.asked.append((start, end))
        return self.first


class Consumer:
    """Faust's bookkeeping of one partition, with the methods under test."""

    _watch_stall = _ReadCommittedConsumer._watch_stall
    _check_hole = _ReadCommittedConsumer._check_hole
    _settle_holes = _ReadCommittedConsumer._settle_holes
    _settle_hole = _ReadCommittedConsumer._settle_hole
    _read_again = _ReadCommittedConsumer._read_again
    _add_gap = _ReadCommittedConsumer._add_gap
    _new_offset = _ReadCommittedConsumer._new_offset  # its own part only: a stalled head
    _taken = _ReadCommittedConsumer._taken

    def __init__(
        self, acked: list[int], committed: int | None, pending: list[int], kafka: Kafka | None
    ) -> None:
        self._acked = {TP: acked}
        self._committed_offset = {TP: committed}
        self._gap = {TP: IntervalTree()}
        self._read_offset = {TP: max(acked, default=None)}
        self._unacked_messages = [SimpleNamespace(tp=TP, offset=o) for o in pending]
        self.transport = SimpleNamespace(hole_check=kafka, compacted_topics=frozenset())
        self.app = SimpleNamespace(consumer_generation_id=1)
        self.assigned = {TP}
        self.sought: list[tuple[Any, int]] = []

    def assignment(self) -> set[Any]:
        return self.assigned

    async def seek(self, tp: Any, offset: int) -> None:
        self.sought.append((tp, offset))

    def gaps(self) -> list[tuple[int, int]]:
        return sorted((i.begin, i.end) for i in self._gap[TP])


async def settled(consumer: Consumer) -> None:
    """Until the hole checks in flight are done (the clock is frozen: no timed sleep)."""
    checks = consumer.__dict__.get("_hole_checks", {})
    await asyncio.gather(*list(checks.values()))
    await asyncio.sleep(0)  # their done callbacks run


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
            await settled(consumer)

    asyncio.run(commits())


def test_a_stall_is_said_once_with_what_faust_holds(
    caplog: pytest.LogCaptureFixture, clock: list[float]
) -> None:
    consumer = Consumer(acked=[69, 70, 71], committed=67, pending=[72], kafka=Kafka(67))
    with caplog.at_level(logging.WARNING, logger="pipelines.runtime.transport"):
        watch(consumer, [1000, 1003, 1006], clock)
    (record,) = caplog.records
    message = record.getMessage()
    assert "commits wait at offset 67: acknowledged from 69 (3 offsets)" in message
    assert "not yet acknowledged [72]" in message


def test_records_no_one_processes_are_read_again_while_the_stall_lasts(
    caplog: pytest.LogCaptureFixture, clock: list[float]
) -> None:
    kafka = Kafka(first=67)  # 67 and 68 hold records: taken, never acknowledged
    consumer = Consumer(acked=[69, 70, 71], committed=67, pending=[72], kafka=kafka)
    ticks = [1000 + 3 * i for i in range(12)]  # 33 s of commit attempts
    with caplog.at_level(logging.WARNING, logger="pipelines.runtime.transport"):
        watch(consumer, ticks, clock)
    assert kafka.asked == [(67, 69), (67, 69)]  # at 15 s and at 30 s
    assert consumer.sought == [(TP, 67), (TP, 67)]
    assert consumer.gaps() == []  # never passed over
    assert any("offsets 67-68 hold records (the first at 67)" in r.getMessage()
               for r in caplog.records)  # fmt: skip


def test_nothing_is_asked_before_its_time(clock: list[float]) -> None:
    kafka = Kafka(first=67)
    consumer = Consumer(acked=[69, 70], committed=67, pending=[], kafka=kafka)
    watch(consumer, [1000, 1000 + STALL_READ_AGAIN_S - 1], clock)
    assert kafka.asked == [] and consumer.sought == []


def test_nothing_is_asked_while_a_record_it_waits_for_is_processed(
    clock: list[float],
) -> None:
    kafka = Kafka(first=67)
    consumer = Consumer(acked=[69, 70], committed=67, pending=[67], kafka=kafka)  # slow
    watch(consumer, [1000 + 5 * i for i in range(10)], clock)
    assert kafka.asked == [] and consumer.sought == []


@pytest.mark.parametrize(
    ("acked", "committed"),
    [([67, 68], 67), ([], 67), ([5, 6], None)],
)
def test_a_partition_that_can_commit_is_left_alone(
    caplog: pytest.LogCaptureFixture, clock: list[float], acked: list[int], committed: int | None
) -> None:
    consumer = Consumer(acked=acked, committed=committed, pending=[], kafka=Kafka(0))
    with caplog.at_level(logging.WARNING, logger="pipelines.runtime.transport"):
        watch(consumer, [1000, 1020, 1040], clock)
    assert not caplog.records and consumer.sought == []


def test_the_committed_offset_alone_unacknowledged_is_not_committed_past(
    clock: list[float],
) -> None:
    """Faust would commit 70 here, past 67 (taken and dropped, or still in work)."""
    consumer = Consumer(acked=[68, 69], committed=67, pending=[], kafka=Kafka(67))
    assert consumer._new_offset(TP) is None
    watch(consumer, [1000 + 5 * i for i in range(5)], clock)
    assert consumer.sought == [(TP, 67)]  # read again, as any other stall


def test_offsets_kafka_says_hold_no_record_are_passed_over(clock: list[float]) -> None:
    """A transaction's marker at the committed offset: Kafka says 67 holds no record
    a read_committed reader gets, so 67 joins the gaps and the commit goes on."""
    kafka = Kafka(first=NO_RECORD)
    consumer = Consumer(acked=[68, 69], committed=67, pending=[], kafka=kafka)
    watch(consumer, [1000, 1020], clock)
    assert kafka.asked == [(67, 68)] and consumer.sought == []
    assert consumer.gaps() == [(67, 68)]


def test_offsets_kafka_cannot_tell_about_wait_and_are_asked_again(
    caplog: pytest.LogCaptureFixture, clock: list[float]
) -> None:
    """An open transaction holds the range back, or Kafka does not answer."""
    kafka = Kafka(first=None)
    consumer = Consumer(acked=[70], committed=67, pending=[], kafka=kafka)
    with caplog.at_level(logging.WARNING, logger="pipelines.runtime.transport"):
        watch(consumer, [1000, 1016, 1032], clock)
    assert kafka.asked == [(67, 70), (67, 70)]
    assert consumer.sought == [] and consumer.gaps() == []
    assert any("could not be checked" in r.getMessage() for r in caplog.records)


def test_without_anyone_to_ask_records_are_read_again_never_passed_over(
    clock: list[float],
) -> None:
    consumer = Consumer(acked=[70], committed=67, pending=[], kafka=None)
    watch(consumer, [1000, 1016], clock)
    assert consumer.sought == [(TP, 67)] and consumer.gaps() == []


def test_one_offset_skipped_is_a_marker_and_a_gap_at_once() -> None:
    """Read 9, committed 10, next record 11: 10 is a transaction's marker."""
    kafka = Kafka(first=10)
    consumer = Consumer(acked=[], committed=10, pending=[], kafka=kafka)
    asyncio.run(consumer._add_gap(TP, 10, 11))
    assert consumer.gaps() == [(10, 11)] and kafka.asked == []
    asyncio.run(consumer._add_gap(TP, 5, 8))  # before the committed offset: done already
    assert consumer.gaps() == [(10, 11)] and kafka.asked == []


def test_a_jump_over_records_is_read_again_never_committed_past(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The lost fault run: committed 304, the first record fetched 5871 (fetched before
    the seek to 304 and delivered after it). Faust took 305-5870 for a gap."""
    kafka = Kafka(first=304)
    consumer = Consumer(acked=[], committed=304, pending=[], kafka=kafka)
    consumer._read_offset[TP] = 304  # what Faust's seek to the committed offset sets

    async def jump() -> None:
        await consumer._add_gap(TP, 305, 5871)
        await settled(consumer)

    with caplog.at_level(logging.WARNING, logger="pipelines.runtime.transport"):
        asyncio.run(jump())
    assert kafka.asked == [(304, 5871)]
    assert consumer.gaps() == []
    assert consumer.sought == [(TP, 304)]
    messages = [r.getMessage() for r in caplog.records]
    assert any("the fetch jumped over offsets 304-5870" in m for m in messages)


def test_a_jump_over_an_aborted_transaction_is_passed_over() -> None:
    kafka = Kafka(first=NO_RECORD)
    consumer = Consumer(acked=[], committed=20, pending=[], kafka=kafka)

    async def jump() -> None:
        await consumer._add_gap(TP, 21, 500)
        await settled(consumer)

    asyncio.run(jump())
    assert kafka.asked == [(21, 500)] and consumer.gaps() == [(21, 500)]
    assert consumer.sought == []


def test_an_answer_after_a_rebalance_is_not_acted_on() -> None:
    kafka = Kafka(first=NO_RECORD)
    consumer = Consumer(acked=[], committed=20, pending=[], kafka=kafka)

    async def jump_then_rebalance() -> None:
        await consumer._add_gap(TP, 21, 500)
        consumer.app.consumer_generation_id = 2  # before the thread answers
        await settled(consumer)

    asyncio.run(jump_then_rebalance())
    assert kafka.asked == [(21, 500)]
    assert consumer.gaps() == [] and consumer.sought == []


def test_questions_about_one_partition_wait_their_turn() -> None:
    kafka = Kafka(first=NO_RECORD)
    consumer = Consumer(acked=[], committed=20, pending=[], kafka=kafka)

    async def two_jumps() -> None:
        await consumer._add_gap(TP, 21, 500)
        await consumer._add_gap(TP, 600, 700)  # while the first is asked
        assert len(consumer.__dict__["_hole_checks"]) == 1
        await settled(consumer)

    asyncio.run(two_jumps())
    assert kafka.asked == [(21, 500), (600, 700)]
    assert consumer.gaps() == [(21, 500), (600, 700)]


def test_a_read_again_takes_the_questions_waiting_past_it_along() -> None:
    kafka = Kafka(first=21)
    consumer = Consumer(acked=[], committed=20, pending=[], kafka=kafka)

    async def two_jumps() -> None:
        await consumer._add_gap(TP, 21, 500)
        await consumer._add_gap(TP, 600, 700)
        await settled(consumer)

    asyncio.run(two_jumps())
    assert kafka.asked == [(21, 500)] and consumer.sought == [(TP, 21)]


def test_a_jump_on_a_compacted_topic_is_compaction_and_passed_over_unasked() -> None:
    """The hotlist: compaction removed records a later one of the same key superseded."""
    kafka = Kafka(first=30)
    consumer = Consumer(acked=[], committed=20, pending=[], kafka=kafka)
    consumer.transport.compacted_topics = frozenset({TP.topic})
    asyncio.run(consumer._add_gap(TP, 21, 500))
    assert consumer.gaps() == [(21, 500)] and kafka.asked == [] and consumer.sought == []


def test_a_jump_right_after_a_record_not_yet_committed_starts_after_it() -> None:
    """Read 20 (in work, so not committed: the committed offset is 20 too), next record
    27 after an aborted transaction: the question is 21-26, not 20, which Kafka would
    say holds a record, so that 20 would be read again and again until committed."""
    kafka = Kafka(first=NO_RECORD)
    consumer = Consumer(acked=[], committed=20, pending=[20], kafka=kafka)
    consumer._read_offset[TP] = 20

    async def jump() -> None:
        await consumer._add_gap(TP, 21, 27)
        await settled(consumer)

    asyncio.run(jump())
    assert kafka.asked == [(21, 27)] and consumer.gaps() == [(21, 27)]


def test_a_question_asked_after_a_rebalance_is_answered_in_its_own_generation() -> None:
    """A question of generation 1 in flight; the partition comes back in generation 2
    and a new jump is asked: the first answer is dropped, the second acted on."""
    kafka = Kafka(first=NO_RECORD)
    consumer = Consumer(acked=[], committed=20, pending=[], kafka=kafka)

    async def jump_rebalance_jump() -> None:
        await consumer._add_gap(TP, 21, 500)
        consumer.app.consumer_generation_id = 2
        await consumer._add_gap(TP, 600, 700)
        await settled(consumer)

    asyncio.run(jump_rebalance_jump())
    assert kafka.asked == [(21, 500), (600, 700)]
    assert consumer.gaps() == [(600, 700)]
