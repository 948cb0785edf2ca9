"""Consume, transform, produce, exactly once: input offsets, output records and state
changes committed in one Kafka transaction, or not at all.

``TransactionalLoop`` runs a consumer group member (read_committed, never auto-commits)
and one transactional producer. Per batch it asks the ``Handler`` what the records
become (``Work``: records to any topic, changes of the handler's state, effects to run
once committed) and then, in one transaction, produces them, writes the state changes
and a checkpoint to the changelog (``changelog.py``, co-partitioned with the input) and
sends the batch's offsets with the consumer's group metadata (KIP-447). A reader with
``isolation.level=read_committed`` sees each batch's output once, or not at all.

    crash (SIGKILL) mid-batch   the open transaction is aborted (at once when the
                                worker restarts under its transactional id, else
                                after ``transaction.timeout.ms``); the next owner of the
                                partition starts at the committed offsets with the
                                committed state
    abortable error             abort, restore state and positions from what was
                                committed, back off, go on
    handler raised (a bug)      the same as an abortable error: the batch is tried again
    fatal error (fenced, ...)   the clients are closed and made again (a new member of
                                the group); a zombie is fenced by the group generation
    member died mid-transaction its partitions' offsets stay unstable until its
    (never restarted)           transaction times out: the next owner keeps them paused
                                and asks again each ``ASK_AGAIN_S``, the others flowing

The handler's state lives in memory per input partition: ``restore`` (once the
partition is assigned, and after an abort, from the changelog read to the committed
checkpoint), ``revoke`` (when it goes), and ``tick`` (every ``tick_s``: what time alone
changes, say entries to forget). A partition is assigned paused and read only once its
state is restored, and that is done in the loop, never in the rebalance callback: a
restore may wait for another member's transaction to end, and what a callback raises
reaches ``consume()`` as a bare ``KafkaError``, which no ``except Exception`` catches
(it killed the share thread of a worker whose partner had been SIGKILLed). Every tick
also re-writes each partition's checkpoint, so a changelog partition keeps being
appended to and its segments roll and compact.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from connectors.kafka.changelog import CHECKPOINT_KEY, ChangelogReader, checkpoint_value
from connectors.kafka.config import KafkaConfig
from connectors.kafka.regroup import commit_offsets, offsets_to_adopt
from connectors.kafka.topics import (
    make_consumer,
    make_producer,
    make_transactional_producer,
)
from schemas.errors import ConfigurationError

log = logging.getLogger(__name__)

BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0
RETRIES = 10
ASK_COMMITTED_S = 0.5
"""How long one step waits for a partition's committed offset: unstable while another
member's transaction is open, and the other partitions wait meanwhile."""
ASK_AGAIN_S = 1.0
"""A partition whose committed offset was not answered is asked again after this."""


@dataclass(frozen=True, slots=True)
class Received:
    """One input record, as the handler sees it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def of(cls, message: Message) -> Received:
        return cls(
            topic=message.topic() or "",
            partition=message.partition() or 0,
            offset=message.offset() or 0,
            key=message.key(),
            value=message.value(),
            headers=_headers(message.headers()),
        )


def _headers(headers: object) -> dict[str, bytes]:
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or [])
    assert isinstance(pairs, Iterable)
    return {str(k): v if isinstance(v, bytes) else str(v or "").encode() for k, v in pairs}


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A record to produce; ``partition`` None: by its key."""

    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None = None


@dataclass
class Work:
    """What one batch (or tick) becomes, committed together."""

    records: list[Outgoing] = field(default_factory=list)
    state: list[tuple[int, bytes, bytes | None]] = field(default_factory=list)
    """(input partition, key, value; None forgets the key) for the changelog."""
    on_commit: list[Callable[[], None]] = field(default_factory=list)
    """Run once the transaction committed (counters), never for an aborted one."""


class Handler(Protocol):
    def restore(self, partition: int, entries: Mapping[bytes, bytes]) -> None:
        """The partition is this worker's now; its committed state."""
        ...

    def revoke(self, partition: int) -> None:
        """The partition is not this worker's any more: forget its state."""
        ...

    def process(self, batch: Sequence[Received]) -> Work: ...

    def tick(self, partitions: Sequence[int]) -> Work: ...


@dataclass(frozen=True)
class LoopConfig:
    source: str
    changelog: str
    group_id: str
    transactional_id: str
    client_id: str
    batch_size: int = 500
    poll_s: float = 0.1
    tick_s: float = 60.0
    timeout_s: float = 30.0
    session_timeout_ms: int = 10_000
    """How soon a member that died is replaced (its partitions resume elsewhere)."""


@dataclass
class Clients:
    """The Kafka clients of one session of the loop."""

    producer: Producer
    consumer: Consumer
    changelog: ChangelogReader


def kafka_clients(settings: KafkaConfig, config: LoopConfig) -> Clients:
    """The real ones: a transactional producer, a read_committed group member, and a
    changelog reader, all logging in as ``settings``' principal."""
    overrides: dict[str, str | int | bool] = {
        "client.id": config.client_id,
        "session.timeout.ms": config.session_timeout_ms,
    }
    return Clients(
        producer=make_transactional_producer(settings, config.client_id, config.transactional_id),
        consumer=make_consumer(settings, config.group_id, **overrides),
        changelog=ChangelogReader(settings, config.changelog),
    )


class TransactionalLoop:
    """Runs until ``stop`` is set; see the module docstring."""

    def __init__(
        self,
        settings: KafkaConfig,
        config: LoopConfig,
        handler: Handler,
        clients: Callable[[KafkaConfig, LoopConfig], Clients] = kafka_clients,
    ) -> None:
        self.settings = settings
        self.config = config
        self.handler = handler
        self.clients = clients
        self.aborted = 0
        self.committed = 0
        self.last_done: float | None = None
        """``time.monotonic()`` of the last step whose transaction committed (or that
        had nothing to do): what readiness reads."""
        self.last_error: str | None = None
        self.unrestored_since: float | None = None
        """``time.monotonic()`` since when some assigned partition waits to be restored."""
        self.unrestored_why: str | None = None

    def run(self, stop: threading.Event) -> None:
        delay = BACKOFF_FIRST_S
        while not stop.is_set():
            session = _Session(self)
            try:
                session.open()
                while not stop.is_set():
                    if session.step():
                        self.last_done, self.last_error = time.monotonic(), None
                        delay = BACKOFF_FIRST_S
                    else:
                        self.last_error = "transaction aborted"
                        stop.wait(delay)
                        delay = min(delay * 2, BACKOFF_MAX_S)
            except Exception as error:
                self.last_error = f"{type(error).__name__}: {error}"
                log.exception("%s: clients failed; again in %.1f s", self.config.group_id, delay)
                stop.wait(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
            finally:
                session.close()
                self.unrestored_since = None

    def stalled(self, after_s: float) -> str | None:
        """Why the loop is not getting on, if it has done nothing for ``after_s``."""
        if self.last_done is None:
            return f"starting ({self.last_error})" if self.last_error else "starting"
        since = self.unrestored_since
        if since is not None and time.monotonic() - since > after_s:
            waited = time.monotonic() - since
            why = self.unrestored_why or "waiting"
            return f"a partition not restored for {waited:.0f} s ({why})"
        idle = time.monotonic() - self.last_done
        if idle <= after_s:
            return None
        return f"nothing committed for {idle:.0f} s ({self.last_error or 'no answer'})"


def _retrying(call: Callable[[], Any]) -> Any:
    """``call()`` again while Kafka says the same call may succeed if retried."""
    for attempt in range(RETRIES):
        try:
            return call()
        except KafkaException as error:
            if not error.args[0].retriable() or attempt == RETRIES - 1:
                raise
            time.sleep(0.1 * (attempt + 1))
    return None  # not reached


def _fatal(error: KafkaException) -> bool:
    return bool(error.args[0].fatal())


class _Session:
    """One consumer and one producer, from joining the group to leaving it."""

    def __init__(self, loop: TransactionalLoop) -> None:
        self.loop = loop
        self.config = config = loop.config
        self.handler = loop.handler
        clients = loop.clients(loop.settings, config)
        self.producer = clients.producer
        self.consumer = clients.consumer
        self.changelog = clients.changelog
        self.positions: dict[int, int] = {}
        """The committed next offset of each assigned partition that has one."""
        self.assigned: set[int] = set()
        """Assigned partitions whose state is restored: the ones read."""
        self.unrestored: set[int] = set()
        """Assigned partitions, paused until their state is restored."""
        self._ask_after: dict[int, float] = {}
        """Unrestored partitions not answered: when to ask again."""
        self.callback_failed: Exception | None = None
        self._next_tick = time.monotonic() + config.tick_s

    def open(self) -> None:
        source, changelog = self.config.source, self.config.changelog
        partitions = self._partitions_of(source)
        if not partitions or self._partitions_of(changelog) < partitions:
            raise ConfigurationError(
                f"{changelog} must exist with as many partitions as {source}; run `lprx setup`"
            )
        _retrying(lambda: self.producer.init_transactions(self.config.timeout_s))
        self.consumer.subscribe(
            [self.config.source],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )

    def _partitions_of(self, topic: str) -> int:
        metadata = self.consumer.list_topics(topic, timeout=15).topics.get(topic)
        return 0 if metadata is None or metadata.error else len(metadata.partitions)

    def close(self) -> None:
        for close in (self.consumer.close, self.changelog.close):
            try:
                close()
            except Exception:
                log.exception("%s: closing", self.config.group_id)
        self.producer.flush(5)

    def step(self) -> bool:
        """One batch (and a tick when due); False if its transaction was aborted."""
        if self.callback_failed is not None:
            raise RuntimeError("the rebalance callback failed") from self.callback_failed
        if self.unrestored:
            self._restore_unrestored()
        batch: list[Received] = []
        for message in self._messages():
            error = message.error()
            if error is None:
                if message.partition() not in self.assigned:
                    continue  # fetched before its partition was paused: read again later
                batch.append(Received.of(message))
            elif error.fatal():
                raise KafkaException(error)
            else:
                log.warning("%s: %s", self.config.group_id, error)
        done = True
        if batch:
            offsets: dict[int, int] = {}
            for record in batch:
                offsets[record.partition] = max(offsets.get(record.partition, 0), record.offset + 1)
            done = self._transact(lambda: self.handler.process(batch), offsets, offsets)
        if done and self.assigned and time.monotonic() >= self._next_tick:
            self._next_tick = time.monotonic() + self.config.tick_s
            # The checkpoints again, so the changelog's segments keep rolling.
            tick = partial(self.handler.tick, sorted(self.assigned))
            done = self._transact(tick, {}, dict(self.positions))
        return done

    def _messages(self) -> list[Message]:
        """What has arrived, up to a batch; if nothing has, waits up to ``poll_s`` for
        the first record and takes what came with it. A batch is never waited for: a
        hit goes out as soon as the last transaction is done, and records that arrive
        during a transaction make the next batch (batches grow with the load)."""
        size = self.config.batch_size
        messages = self.consumer.consume(size, timeout=0)
        if messages:
            return messages
        first = self.consumer.poll(self.config.poll_s)
        if first is None:
            return []
        return [first, *self.consumer.consume(size - 1, timeout=0)]

    def _transact(
        self, make_work: Callable[[], Work], offsets: dict[int, int], checkpoints: dict[int, int]
    ) -> bool:
        """``make_work()`` produced and ``offsets`` sent in one transaction; False if
        it was aborted (output, state and positions back at the last commit)."""
        began = False
        try:
            work = make_work()
            self.producer.begin_transaction()
            began = True
            self._produce(work, checkpoints)
            if offsets:
                group = self.consumer.consumer_group_metadata()
                positions = [TopicPartition(self.config.source, p, o) for p, o in offsets.items()]
                _retrying(
                    lambda: self.producer.send_offsets_to_transaction(
                        positions, group, self.config.timeout_s
                    )
                )
            _retrying(lambda: self.producer.commit_transaction(self.config.timeout_s))
        except KafkaException as error:
            if _fatal(error):
                raise
            log.warning("%s: transaction aborted: %s", self.config.group_id, error)
            self._abort(began)
            return False
        except Exception:
            log.exception("%s: batch failed; aborted, to be tried again", self.config.group_id)
            self._abort(began)
            return False
        self.positions.update(offsets)
        self.loop.committed += 1
        for effect in work.on_commit:
            effect()
        return True

    def _produce(self, work: Work, checkpoints: Mapping[int, int]) -> None:
        changelog = self.config.changelog
        for record in work.records:
            self._send(record.topic, record.key, record.value, record.partition)
        for partition, key, value in work.state:
            self._send(changelog, key, value, partition)
        for partition, offset in checkpoints.items():
            self._send(changelog, CHECKPOINT_KEY, checkpoint_value(offset), partition)
        self.producer.poll(0)

    def _send(
        self, topic: str, key: bytes | None, value: bytes | None, partition: int | None
    ) -> None:
        while True:
            try:
                if partition is None:
                    self.producer.produce(topic, value=value, key=key)
                else:
                    self.producer.produce(topic, value=value, key=key, partition=partition)
                return
            except BufferError:
                self.producer.poll(0.1)  # the queue is full: let it drain

    def _abort(self, began: bool) -> None:
        """Back to what was committed: no output, the committed state and positions
        (restored, and read from, again by the next step)."""
        self.loop.aborted += 1
        if began:
            _retrying(lambda: self.producer.abort_transaction(self.config.timeout_s))
        assignment = self.consumer.assignment()
        self.consumer.pause(assignment)
        self._forget(assignment)
        self._unrestored({tp.partition for tp in assignment})

    def _unrestored(self, partitions: set[int]) -> None:
        self.unrestored |= partitions
        if self.unrestored and self.loop.unrestored_since is None:
            self.loop.unrestored_since = time.monotonic()

    def _restore_unrestored(self) -> None:
        """Restores each paused partition whose committed offset is stable, and reads
        it again from there; the others are asked again after ``ASK_AGAIN_S``."""
        source = self.config.source
        for partition in sorted(self.unrestored):
            if time.monotonic() < self._ask_after.get(partition, 0.0):
                continue
            # Offsets still in an open transaction are waited for (read_committed asks
            # for stable offsets), so state and offsets are read as of one commit.
            try:
                (tp,) = self.consumer.committed(
                    [TopicPartition(source, partition)], timeout=ASK_COMMITTED_S
                )
            except KafkaException as error:
                self.loop.unrestored_why = f"{source}[{partition}] committed offset: {error}"
                if partition not in self._ask_after:
                    log.warning("%s: %s; paused, asked again each %.1f s", self.config.group_id,
                                self.loop.unrestored_why, ASK_AGAIN_S)  # fmt: skip
                self._ask_after[partition] = time.monotonic() + ASK_AGAIN_S
                continue
            self._ask_after.pop(partition, None)
            offset = tp.offset if tp.offset >= 0 else None
            restored = self.changelog.restore(partition, offset)
            self.handler.restore(partition, restored.entries)
            start = TopicPartition(
                source, partition, OFFSET_BEGINNING if offset is None else offset
            )
            self.consumer.seek(start)
            self.consumer.resume([start])
            self.unrestored.discard(partition)
            self.assigned.add(partition)
            if offset is not None:
                self.positions[partition] = offset
        if not self.unrestored:
            self.loop.unrestored_since = None

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Assigned paused, at an offset never fetched from (the restore seeks)."""
        try:
            consumer.assign([TopicPartition(tp.topic, tp.partition, 0) for tp in partitions])
            consumer.pause(partitions)
            self._unrestored({tp.partition for tp in partitions})
        except Exception as error:  # never out of a callback: step raises it
            self.callback_failed = error

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        try:
            self._forget(partitions)
        except Exception as error:  # never out of a callback: step raises it
            self.callback_failed = error

    def _forget(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.handler.revoke(tp.partition)
            self.assigned.discard(tp.partition)
            self.unrestored.discard(tp.partition)
            self._ask_after.pop(tp.partition, None)
            self.positions.pop(tp.partition, None)
        if not self.unrestored:
            self.loop.unrestored_since = None


def adopt_group_offsets(
    settings: KafkaConfig, config: LoopConfig, former_group: str
) -> list[TopicPartition]:
    """Gives the loop's group the committed offsets of ``former_group`` on the source
    partitions it never committed; returns those adopted. Each adopted partition's
    checkpoint is written first (with no state: the former runtime's is not carried
    over), so the loop restores at once rather than wait for one that never comes.

    For a stage moving from one consumer group to another (share, from the worker's
    Faust group to its transactional loop): run before either group consumes, so the
    offsets taken are where the former runtime stopped, not where another agent of the
    same Faust group has read to since (a partition started past a hit never delivered
    would lose it). A partition neither group committed starts at the beginning."""
    adopted = offsets_to_adopt(settings, former_group, config.group_id, config.source)
    if adopted:
        producer = make_producer(settings, config.client_id)
        for tp in adopted:
            producer.produce(config.changelog, checkpoint_value(tp.offset),
                             CHECKPOINT_KEY, partition=tp.partition)  # fmt: skip
        if producer.flush(config.timeout_s) > 0:
            raise ConfigurationError(f"{config.changelog}: checkpoints not written")
        # A commit outside any generation: accepted while the group has no members.
        commit_offsets(settings, config.group_id, adopted)
    return adopted
