"""The transactional loop on real Kafka (``connectors/kafka/transactions.py``): output,
state and offsets committed together; an aborted batch leaves no trace and is done again
from the committed state; the next member of the group goes on from where it stopped."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace

import pytest
from confluent_kafka import Message, TopicPartition

from connectors.kafka.reader import read_topic
from connectors.kafka.topics import (
    TopicSpec,
    bounded_compacted_config,
    ensure_topics,
    make_consumer,
    make_producer,
)
from connectors.kafka.transactions import (
    LoopConfig,
    Outgoing,
    Received,
    TransactionalLoop,
    Work,
    adopt_group_offsets,
    kafka_clients,
)
from pipelines.settings import Settings
from tests.conftest import unique_settings, wait_for

TOO_LARGE = b"x" * (9 * 1024 * 1024)  # over any producer's message.max.bytes here


class Counting:
    """Counts each key's records; each record out says which it was (``k3:2``)."""

    def __init__(self, out: str, fail_first: bool = False) -> None:
        self.out = out
        self.fail_first = fail_first
        self.counts: dict[int, Counter[bytes]] = {}
        self.restored: list[int] = []

    def restore(self, partition: int, entries: Mapping[bytes, bytes]) -> None:
        self.restored.append(partition)
        self.counts[partition] = Counter({k: int(v) for k, v in entries.items()})

    def revoke(self, partition: int) -> None:
        self.counts.pop(partition, None)

    def process(self, batch: Sequence[Received]) -> Work:
        work = Work()
        for record in batch:
            assert record.key is not None
            counts = self.counts.setdefault(record.partition, Counter())
            counts[record.key] += 1
            value = b"%s:%d" % (record.key, counts[record.key])
            work.records.append(Outgoing(self.out, record.key, value))
            work.state.append((record.partition, record.key, b"%d" % counts[record.key]))
        if self.fail_first:
            self.fail_first = False
            work.records.append(Outgoing(self.out, b"big", TOO_LARGE))  # Kafka refuses it
        return work

    def tick(self, partitions: Sequence[int]) -> Work:
        return Work()


@pytest.fixture
def topics(servers: Settings) -> Iterator[tuple[Settings, LoopConfig]]:
    settings = unique_settings(servers, topic_partitions=2)
    source, state, out = (settings.topic(n) for n in ("t-in", "t-state", "t-out"))
    ensure_topics(
        settings,
        [
            TopicSpec(source, 2),
            TopicSpec(state, 2, bounded_compacted_config(settings)),
            TopicSpec(out, 2),
        ],
    )
    config = LoopConfig(
        source=source,
        changelog=state,
        group_id=f"{settings.topic_prefix}-counting",
        transactional_id=f"{settings.topic_prefix}-counting-1",
        client_id=f"{settings.worker_id}-counting",
    )
    yield settings, config


def send(settings: Settings, config: LoopConfig, n: int) -> None:
    producer = make_producer(settings, "test-transactions")
    for i in range(n):
        producer.produce(config.source, key=b"k%d" % (i % 10), value=b"v%d" % i)
    producer.flush(10)


def out_values(settings: Settings, want: int) -> list[bytes]:
    messages = read_topic(settings, settings.topic("t-out"), max_messages=want + 100, timeout_s=5)
    return [v for m in messages if (v := m.value()) is not None]


def running(settings: Settings, config: LoopConfig, handler: Counting) -> tuple[
    TransactionalLoop, threading.Event, threading.Thread
]:  # fmt: skip
    loop = TransactionalLoop(settings, config, handler)
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    thread.start()
    return loop, stop, thread


def test_an_aborted_batch_is_done_again_from_the_committed_state_and_output_once(
    topics: tuple[Settings, LoopConfig],
) -> None:
    settings, config = topics
    send(settings, config, 50)
    handler = Counting(settings.topic("t-out"), fail_first=True)
    loop, stop, thread = running(settings, config, handler)
    try:
        wait_for(lambda: len(out_values(settings, 50)) >= 50, 60, "50 records out")
    finally:
        stop.set()
        thread.join(30)
    assert loop.aborted >= 1 and not thread.is_alive()
    values = out_values(settings, 50)
    assert sorted(values) == sorted(b"k%d:%d" % (k, n) for k in range(10) for n in range(1, 6))
    assert b"big" not in {v[:3] for v in values}
    assert Counter(handler.restored)[0] >= 2, "restored on assignment, and after the abort"

    # The next member of the group: the counts it restores go on where these stopped.
    send(settings, config, 10)
    again = Counting(settings.topic("t-out"))
    _loop, stop, thread = running(settings, config, again)
    try:
        wait_for(lambda: len(out_values(settings, 60)) >= 60, 60, "60 records out")
    finally:
        stop.set()
        thread.join(30)
    values = out_values(settings, 60)
    assert len(values) == len(set(values)) == 60
    assert sorted(v for v in values if v.endswith(b":6")) == sorted(b"k%d:6" % k for k in range(10))


def test_a_partition_never_committed_starts_where_the_former_group_stopped(
    topics: tuple[Settings, LoopConfig],
) -> None:
    settings, config = topics
    send(settings, config, 40)
    former_group = f"{settings.topic_prefix}-former"
    former = make_consumer(settings, former_group)
    ends = [former.get_watermark_offsets(TopicPartition(config.source, p))[1] for p in (0, 1)]
    # The former runtime had got through all of partition 0 but the last 2 records.
    former.commit(offsets=[TopicPartition(config.source, 0, ends[0] - 2)], asynchronous=False)
    adopted = adopt_group_offsets(settings, config, former_group)
    assert [(tp.partition, tp.offset) for tp in adopted] == [(0, ends[0] - 2)]
    _loop, stop, thread = running(settings, config, Counting(settings.topic("t-out")))
    try:
        want = 2 + ends[1]  # partition 1 was never committed by anyone: all of it
        wait_for(lambda: len(out_values(settings, want)) >= want, 60, f"{want} records out")
    finally:
        stop.set()
        thread.join(30)
    assert len(out_values(settings, 40)) == 2 + ends[1]
    # The former group reading on (as another agent of a Faust app does) moves nothing:
    # the loop's group has its own offsets now.
    former.commit(offsets=[TopicPartition(config.source, 1, ends[1])], asynchronous=False)
    former.close()
    assert adopt_group_offsets(settings, config, former_group) == []


def test_a_member_that_died_mid_transaction_is_taken_over_once_its_transaction_ends(
    topics: tuple[Settings, LoopConfig],
) -> None:
    """A member SIGKILLed with a transaction open (output written, offsets sent, not
    committed) and never restarted: its transactional id is not used again, so nothing
    aborts the transaction but its timeout. The next member is assigned the partitions
    while their offsets are still unstable, and must go on once the transaction ends."""
    settings, config = topics
    send(settings, config, 40)
    dead = replace(config, transactional_id=f"{config.transactional_id}-dead")
    clients = kafka_clients(settings, dead)
    consumer, producer = clients.consumer, clients.producer
    producer.init_transactions(30)
    consumer.subscribe([config.source])
    taken: list[Message] = []
    deadline = time.monotonic() + 60
    while len(taken) < 40 and time.monotonic() < deadline:
        taken += [m for m in consumer.consume(40, timeout=1) if m.error() is None]
    assert len(taken) == 40
    producer.begin_transaction()
    for message in taken:
        producer.produce(settings.topic("t-out"), key=message.key(), value=b"dead")
    ends: dict[int, int] = {}
    for message in taken:
        ends[message.partition() or 0] = (message.offset() or 0) + 1
    offsets = [TopicPartition(config.source, p, o) for p, o in ends.items()]
    producer.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), 30)
    producer.flush(10)
    # Dead: it leaves the group (as its session would time out) and never commits.
    consumer.close()
    clients.changelog.close()

    handler = Counting(settings.topic("t-out"))
    loop, stop, thread = running(settings, config, handler)
    waited: list[bool] = []

    def all_out() -> bool:
        waited.append(loop.unrestored_since is not None)
        assert thread.is_alive(), "the loop died"
        return len(out_values(settings, 40)) >= 40

    try:
        # The transaction times out after 30 s (TRANSACTION_TIMEOUT_MS); Kafka looks
        # for timed-out ones every 10 s.
        wait_for(all_out, 150, "40 records out")
        assert thread.is_alive(), "the loop died"
    finally:
        stop.set()
        thread.join(60)
    assert any(waited), "the partitions were never waited for: the test did not open one"
    assert loop.aborted == 0
    values = out_values(settings, 40)
    assert b"dead" not in values, "the dead member's transaction was committed"
    assert sorted(values) == sorted(b"k%d:%d" % (k, n) for k in range(10) for n in range(1, 5))
