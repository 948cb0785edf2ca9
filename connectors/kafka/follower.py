"""Follow a compacted topic into memory on every worker (a "global table").

Every worker needs the whole hotlist and every agreement, not just its partitions, so
the follower assigns all partitions itself (no consumer group rebalancing), reads from
the beginning, and keeps applying updates while the worker runs. Matching waits until
the follower has caught up with the topic's end as it was at start, so a restarted
worker never matches against a partial hotlist.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Generic, TypeVar

from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)

from connectors.kafka.config import KafkaConfig
from connectors.kafka.topics import base_config
from schemas import DecodeError
from schemas.errors import LprxError

log = logging.getLogger(__name__)

T = TypeVar("T")

START_TIMEOUT_S = 30.0
_NO_LEADER_YET = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._UNKNOWN_PARTITION,
}


class CompactedTopicFollower(Generic[T]):
    def __init__(
        self,
        settings: KafkaConfig,
        topic: str,
        decode: Callable[[bytes], T],
        on_put: Callable[[str, T], None],
        on_delete: Callable[[str], None],
        on_caught_up: Callable[[], None] = lambda: None,
    ) -> None:
        self.topic = topic
        self._on_caught_up = on_caught_up
        self._decode = decode
        self._on_put = on_put
        self._on_delete = on_delete
        self._consumer = Consumer(
            {
                **base_config(settings),
                # Never committed: each follower reads the whole topic on start.
                "group.id": f"{settings.worker_id}-follower-{uuid.uuid4()}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
        self._caught_up = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"follow-{topic}", daemon=True)
        self.applied = 0
        self.rejected = 0
        self.errors = 0
        self.newest_record_at: float | None = None
        """Epoch seconds of the newest record applied (its Kafka timestamp): when the
        topic last changed, e.g. the last hotlist load."""
        self._positions: dict[int, int] = {}

    def start(self) -> None:
        metadata = self._consumer.list_topics(self.topic, timeout=15)
        topic_meta = metadata.topics.get(self.topic)
        if topic_meta is None or topic_meta.error is not None:
            raise LprxError(f"topic {self.topic} does not exist; run `lprx setup` first")
        partitions = [
            TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in topic_meta.partitions
        ]
        self._ends = {tp.partition: self._end_offset(tp) for tp in partitions}
        self._consumer.assign(partitions)
        self._positions = {tp.partition: 0 for tp in partitions}
        if all(end == 0 for end in self._ends.values()):
            self._mark_caught_up()
        self._thread.start()

    def _end_offset(self, partition: TopicPartition) -> int:
        """The partition's end; a topic created moments ago may not have a leader yet,
        so leadership errors are waited out (up to START_TIMEOUT_S)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                _low, high = self._consumer.get_watermark_offsets(partition, timeout=15)
                return int(high)
            except KafkaException as error:
                code = error.args[0].code()
                if code not in _NO_LEADER_YET or time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)

    def _mark_caught_up(self) -> None:
        self._on_caught_up()
        self._caught_up.set()
        log.info("follower of %s caught up (%d records applied)", self.topic, self.applied)

    def wait_caught_up(self, timeout: float) -> bool:
        return self._caught_up.wait(timeout)

    @property
    def caught_up(self) -> bool:
        return self._caught_up.is_set()

    def positions(self) -> dict[int, int]:
        """Partition -> offset of the next record to apply (for metrics, any thread)."""
        return dict(self._positions)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._consumer.close()

    def _run(self) -> None:
        while not self._stopping.is_set():
            message = self._consumer.poll(0.5)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    self.errors += 1
                    log.warning("follower of %s: %s", self.topic, error)
                continue
            self._apply(message.key(), message.value())
            kind, millis = message.timestamp()
            if kind != TIMESTAMP_NOT_AVAILABLE:
                self.newest_record_at = max(self.newest_record_at or 0.0, millis / 1000.0)
            partition, offset = message.partition(), message.offset()
            if partition is not None and offset is not None:
                self._positions[partition] = offset + 1
            if not self._caught_up.is_set() and all(
                self._positions[p] >= end for p, end in self._ends.items()
            ):
                self._mark_caught_up()

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            self.rejected += 1
            log.error("record without key on %s ignored", self.topic)
            return
        record_key = key.decode("utf-8", errors="replace")
        if value is None:
            self._on_delete(record_key)
            self.applied += 1
            return
        try:
            record = self._decode(value)
        except (DecodeError, ValueError, TypeError, KeyError) as error:
            # A config record we cannot read must not take the worker down; the
            # loader validated it, so this means a schema mismatch worth an alarm.
            self.rejected += 1
            log.error("undecodable record %s on %s ignored: %s", record_key, self.topic, error)
            return
        self._on_put(record_key, record)
        self.applied += 1
