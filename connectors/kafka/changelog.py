"""A transactional stage's state on a compacted topic: one partition per input partition.

A stage that keeps state across restarts (share's suppression memory) writes each change
of it as a record to its *changelog*: a compacted topic co-partitioned with the stage's
input, the state of input partition ``p`` on changelog partition ``p``, key = the state
entry, value = its contents, a tombstone (value None) when the entry is forgotten. The
changes go in the same transaction as the input offsets (``transactions.py``), so the
committed state is always the state after exactly the committed input.

Every transaction also writes a checkpoint (``CHECKPOINT_KEY``, the next input offset as
ASCII digits) to each changelog partition it touched: a worker that takes a partition
over reads the changelog until the checkpoint has caught up with the committed input
offset, because a transaction's markers reach the offsets topic and the changelog at
slightly different moments, and state read too early would be missing the last batch.

Reads are ``read_committed``: what an aborted transaction wrote is never restored.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition

from connectors.kafka.config import KafkaConfig
from connectors.kafka.topics import make_consumer

log = logging.getLogger(__name__)

CHECKPOINT_KEY = b"\x00checkpoint"
"""The changelog key of a partition's checkpoint; a stage's own keys never start with NUL."""

RESTORE_TIMEOUT_S = 60.0
BATCH = 1000
POLL_S = 0.05
"""``consume`` waits this long for a batch: a partition's end shows no sooner."""
FETCH_WAIT_MS = 20
"""A fetch at the partition's end answers after this (Kafka's default, 500 ms, made each
partition's restore take a second: four after a rebalance held hits back four seconds;
with these two, 0.05 s a partition after the first, 2026-12-03)."""


def checkpoint_value(next_offset: int) -> bytes:
    return str(next_offset).encode("ascii")


@dataclass
class Restored:
    """One changelog partition read to its committed end: each live key's last value."""

    entries: dict[bytes, bytes] = field(default_factory=dict)
    checkpoint: int | None = None

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        if key == CHECKPOINT_KEY:
            if value is not None:
                self.checkpoint = int(value.decode("ascii"))
            return
        if value is None:
            self.entries.pop(key, None)
        else:
            self.entries[key] = value

    def covers(self, committed: int | None) -> bool:
        """Whether this state is that of input up to ``committed`` (None: nothing was
        ever committed, so any state, even none, is current)."""
        return committed is None or (self.checkpoint is not None and self.checkpoint >= committed)


class ChangelogReader:
    """Reads a changelog partition from its start, read_committed, with one consumer
    that assigns the partitions itself and never commits."""

    def __init__(self, settings: KafkaConfig, topic: str) -> None:
        self.topic = topic
        self._consumer = make_consumer(
            settings,
            f"{settings.worker_id}-changelog-{uuid.uuid4().hex}",
            **{"enable.partition.eof": True, "fetch.wait.max.ms": FETCH_WAIT_MS},
        )

    def close(self) -> None:
        self._consumer.close()

    def partitions(self) -> int:
        metadata = self._consumer.list_topics(self.topic, timeout=15).topics.get(self.topic)
        if metadata is None or metadata.error is not None:
            return 0
        return len(metadata.partitions)

    def restore(
        self, partition: int, committed: int | None, timeout_s: float = RESTORE_TIMEOUT_S
    ) -> Restored:
        """The state of ``partition`` as of input offset ``committed``: read to the end,
        and on until the checkpoint reaches ``committed`` (see the module docstring).
        A checkpoint still behind after ``timeout_s`` (the group's offsets moved by hand,
        say) is logged and the state read so far is the state: at worst a repeat hit
        alerts again."""
        restored = Restored()
        self._consumer.assign([TopicPartition(self.topic, partition, OFFSET_BEGINNING)])
        deadline = time.monotonic() + timeout_s
        at_end = False
        try:
            while not (at_end and restored.covers(committed)):
                if time.monotonic() > deadline:
                    log.warning(
                        "%s[%d]: state at checkpoint %s, input committed at %s; going on",
                        self.topic, partition, restored.checkpoint, committed,
                    )  # fmt: skip
                    break
                for message in self._consumer.consume(BATCH, timeout=POLL_S):
                    error = message.error()
                    if error is None:
                        at_end = False
                        restored.apply(message.key(), message.value())
                    elif error.code() == KafkaError._PARTITION_EOF:
                        at_end = True
                    elif not _waitable(error):
                        raise KafkaException(error)
        finally:
            self._consumer.unassign()
        log.info(
            "%s[%d]: %d entries restored (checkpoint %s)",
            self.topic, partition, len(restored.entries), restored.checkpoint,
        )  # fmt: skip
        return restored


def _waitable(error: KafkaError) -> bool:
    """Errors of a partition that will pass (a new topic's leader not elected yet)."""
    return bool(error.retriable()) or error.code() in {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
    }
