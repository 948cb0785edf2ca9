"""The transactional loop's logic (``connectors/kafka/transactions.py``) with fake
clients: what a transaction commits, what an abort undoes, which errors are retried and
which end the session. The real broker: tests/integration/connectors/test_transactions.py."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import pytest
from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition

from connectors.kafka import transactions
from connectors.kafka.changelog import CHECKPOINT_KEY, Restored
from connectors.kafka.config import KafkaConfig
from connectors.kafka.transactions import (
    Clients,
    LoopConfig,
    Outgoing,
    Received,
    TransactionalLoop,
    Work,
)

SOURCE, CHANGELOG, OUT = "in", "in-state", "out"
CONFIG = LoopConfig(
    source=SOURCE, changelog=CHANGELOG, group_id="g", transactional_id="g-1", client_id="c"
)


def abortable(reason: str = "abortable") -> KafkaException:
    return KafkaException(KafkaError(KafkaError._STATE, reason, txn_requires_abort=True))


def retriable() -> KafkaException:
    return KafkaException(KafkaError(KafkaError._TIMED_OUT, "timed out", retriable=True))


def fenced() -> KafkaException:
    return KafkaException(KafkaError(KafkaError._FENCED, "fenced", fatal=True))


@dataclass
class Broker:
    """What the fakes share: the input, what was committed, the errors to raise next."""

    source: list[bytes]
    committed: list[tuple[str, int | None, bytes | None, bytes | None]] = field(
        default_factory=list
    )
    offsets: dict[int, int] = field(default_factory=dict)
    fail_commit: list[KafkaException] = field(default_factory=list)
    fail_offsets: list[KafkaException] = field(default_factory=list)
    unstable: int = 0
    """How many times the committed offset is asked for in vain (another member's
    transaction open) before it is answered."""
    inits: int = 0
    aborts: int = 0
    sessions: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def out(self) -> list[bytes]:
        return [v for topic, _p, _k, v in self.committed if topic == OUT and v is not None]


class FakeMessage:
    def __init__(self, offset: int, value: bytes) -> None:
        self._offset, self._value = offset, value

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return SOURCE

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return self._value

    def value(self) -> bytes:
        return self._value

    def headers(self) -> None:
        return None


class FakeProducer:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.open: list[tuple[str, int | None, bytes | None, bytes | None]] | None = None
        self.pending: dict[int, int] = {}

    def init_transactions(self, _timeout: float) -> None:
        self.broker.inits += 1  # fences the former producer of this transactional id

    def begin_transaction(self) -> None:
        assert self.open is None, "a transaction begun inside another"
        self.open, self.pending = [], {}

    def produce(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, **kw: Any
    ) -> None:
        assert self.open is not None, "produced outside a transaction"
        self.open.append((topic, kw.get("partition"), key, value))

    def poll(self, _timeout: float) -> int:
        return 0

    def flush(self, _timeout: float) -> int:
        return 0

    def send_offsets_to_transaction(
        self, positions: Sequence[TopicPartition], group: object, _timeout: float
    ) -> None:
        assert group == "group-metadata", "offsets sent without the group's metadata"
        if self.broker.fail_offsets:
            raise self.broker.fail_offsets.pop(0)
        self.pending = {tp.partition: tp.offset for tp in positions}

    def commit_transaction(self, _timeout: float) -> None:
        if self.broker.fail_commit:
            raise self.broker.fail_commit.pop(0)
        assert self.open is not None
        self.broker.committed += self.open
        self.broker.offsets.update(self.pending)
        self.open = None

    def abort_transaction(self, _timeout: float) -> None:
        self.broker.aborts += 1
        self.open = None


class FakeConsumer:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.position = 0
        self.on_assign: Any = None
        self.assigned: list[TopicPartition] = []
        self.paused = False

    def subscribe(self, _topics: list[str], on_assign: Any, **_callbacks: Any) -> None:
        self.on_assign = on_assign

    def list_topics(self, topic: str, timeout: float) -> Any:
        return SimpleNamespace(topics={topic: SimpleNamespace(partitions={0: None}, error=None)})

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned = partitions
        (start,) = partitions
        self.position = 0 if start.offset == OFFSET_BEGINNING else start.offset

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(SOURCE, 0)]

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused = True

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.paused = False

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        if self.broker.unstable:
            self.broker.unstable -= 1  # another member's transaction still open
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "unstable offsets"))
        return [TopicPartition(SOURCE, 0, self.broker.offsets.get(0, -1001)) for _ in partitions]

    def seek(self, start: TopicPartition) -> None:
        self.position = 0 if start.offset == OFFSET_BEGINNING else start.offset

    def consumer_group_metadata(self) -> str:
        return "group-metadata"

    def consume(self, n: int, timeout: float = 0) -> list[FakeMessage]:
        if self.on_assign is not None and not self.assigned:
            self.on_assign(self, [TopicPartition(SOURCE, 0)])
        if self.paused:
            return []
        source = self.broker.source
        batch = [FakeMessage(o, source[o]) for o in range(self.position, len(source))][:n]
        self.position += len(batch)
        if not batch and self.broker.offsets.get(0) == len(source):
            self.broker.stop.set()  # everything committed: the test is done
        return batch

    def poll(self, timeout: float) -> FakeMessage | None:
        batch = self.consume(1)
        return batch[0] if batch else None

    def close(self) -> None:
        pass


class FakeChangelog:
    """The changelog as the broker committed it (aborted records never show)."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    def restore(self, partition: int, committed: int | None) -> Restored:
        restored = Restored()
        for topic, p, key, value in self.broker.committed:
            if topic == CHANGELOG and p == partition:
                restored.apply(key, value)
        assert restored.covers(committed)
        return restored

    def close(self) -> None:
        pass


class Numbering:
    """Numbers its records (state: the count so far, on the changelog); each output
    record says its number, so a record done twice, or state lost, shows."""

    def __init__(self, fail_first_batch: bool = False) -> None:
        self.count = 0
        self.restored: list[Mapping[bytes, bytes]] = []
        self.counted_on_commit = 0
        self._fail = fail_first_batch

    def restore(self, partition: int, entries: Mapping[bytes, bytes]) -> None:
        self.restored.append(dict(entries))
        self.count = int(entries.get(b"count", b"0"))

    def revoke(self, partition: int) -> None:
        self.count = -1_000_000  # in-memory state of a partition gone must not be used

    def process(self, batch: Sequence[Received]) -> Work:
        if self._fail:
            self._fail = False
            raise RuntimeError("a bug in the handler")
        work = Work()
        for record in batch:
            self.count += 1
            work.records.append(Outgoing(OUT, record.key, b"%s:%d" % (record.value, self.count)))
        work.state.append((0, b"count", str(self.count).encode()))
        work.on_commit.append(lambda: setattr(self, "counted_on_commit", self.count))
        return work

    def tick(self, partitions: Sequence[int]) -> Work:
        return Work()


def run(broker: Broker, handler: Numbering, monkeypatch: pytest.MonkeyPatch) -> TransactionalLoop:
    monkeypatch.setattr(transactions, "BACKOFF_FIRST_S", 0.01)

    def clients(_settings: KafkaConfig, _config: LoopConfig) -> Clients:
        broker.sessions += 1
        return cast(
            Clients,
            SimpleNamespace(
                producer=FakeProducer(broker),
                consumer=FakeConsumer(broker),
                changelog=FakeChangelog(broker),
            ),
        )

    loop = TransactionalLoop(KafkaConfig(), CONFIG, handler, clients)
    worker = threading.Thread(target=loop.run, args=(broker.stop,), daemon=True)
    worker.start()
    worker.join(20)
    broker.stop.set()
    assert not worker.is_alive(), "the loop did not finish the input"
    return loop


def test_output_state_checkpoint_and_offsets_are_committed_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker = Broker(source=[b"a", b"b", b"c"])
    handler = Numbering()
    run(broker, handler, monkeypatch)
    assert broker.out() == [b"a:1", b"b:2", b"c:3"]
    assert broker.offsets == {0: 3}
    state = [(k, v) for topic, p, k, v in broker.committed if topic == CHANGELOG]
    assert (b"count", b"3") in state
    assert (CHECKPOINT_KEY, b"3") in state, "no checkpoint of the committed offset"
    assert handler.counted_on_commit == 3
    assert broker.inits == 1 and broker.aborts == 0


def test_the_loop_says_when_it_is_not_getting_on(monkeypatch: pytest.MonkeyPatch) -> None:
    assert TransactionalLoop(KafkaConfig(), CONFIG, Numbering()).stalled(60) == "starting"
    loop = run(Broker(source=[b"a"]), Numbering(), monkeypatch)
    assert loop.stalled(60) is None
    assert loop.last_done is not None
    loop.last_done -= 120  # as if the last commit were two minutes ago
    assert (loop.stalled(60) or "").startswith("nothing committed for 120 s")


def test_an_abortable_commit_is_undone_and_done_again_from_the_committed_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker = Broker(source=[b"a", b"b"], fail_commit=[abortable()])
    handler = Numbering()
    run(broker, handler, monkeypatch)
    assert broker.aborts == 1
    assert broker.out() == [b"a:1", b"b:2"], "a record counted twice, or output twice"
    assert broker.offsets == {0: 2}
    # Restored at the assignment, and again from the changelog after the abort.
    assert len(handler.restored) == 2
    assert broker.sessions == 1, "an abortable error must not end the session"


def test_a_handler_that_raises_aborts_its_batch_which_is_tried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker = Broker(source=[b"a", b"b"])
    run(broker, Numbering(fail_first_batch=True), monkeypatch)
    assert broker.out() == [b"a:1", b"b:2"]
    assert broker.offsets == {0: 2}


def test_a_retriable_error_is_retried_inside_the_transaction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker = Broker(source=[b"a"], fail_offsets=[retriable(), retriable()])
    run(broker, Numbering(), monkeypatch)
    assert broker.aborts == 0
    assert broker.out() == [b"a:1"] and broker.offsets == {0: 1}


def test_a_fenced_producer_ends_the_session_and_a_new_one_fences_in_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker = Broker(source=[b"a", b"b"], fail_commit=[fenced()])
    run(broker, Numbering(), monkeypatch)
    assert broker.sessions == 2, "a fatal error must make new clients"
    assert broker.inits == 2, "the new producer did not init (fence) its transactional id"
    assert broker.out() == [b"a:1", b"b:2"]
    assert broker.offsets == {0: 2}


def test_a_partition_whose_offsets_are_unstable_waits_paused_and_is_read_once_stable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The partition of a member that died mid-transaction: its committed offset is not
    answered until that transaction times out. The loop asks again (here each step), keeps the
    partition unread and says so to readiness meanwhile; no session is lost over it."""
    broker = Broker(source=[b"a", b"b"], offsets={}, unstable=3)
    handler = Numbering()
    waits: list[str | None] = []
    original = transactions._Session._restore_unrestored

    def restoring(session: Any) -> None:
        original(session)
        if session.loop.unrestored_since is not None:
            session.loop.unrestored_since -= 120  # as if waiting for two minutes
        waits.append(session.loop.stalled(60))

    monkeypatch.setattr(transactions._Session, "_restore_unrestored", restoring)
    monkeypatch.setattr(transactions, "ASK_AGAIN_S", 0.0)  # each step asks
    run(broker, handler, monkeypatch)
    assert broker.unstable == 0
    assert broker.out() == [b"a:1", b"b:2"], "read before its state was restored"
    assert broker.sessions == 1
    assert len(handler.restored) == 1
    # Asked in vain three times (the loop said why), then restored (ready again).
    said = [w is not None and w.startswith("a partition not restored") for w in waits]
    assert said == [True, True, True, False], waits
    assert "unstable offsets" in (waits[0] or "")
