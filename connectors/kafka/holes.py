"""Whether offsets a consumer never got hold records: checked before committing past them.

A consumer group's commit says "everything before this offset is processed". Faust
commits past offsets its fetch jumped over, taking them for transaction markers or
aborted records; a jump can also come from records fetched before a seek and delivered
after it, and then committing past it loses records. So the worker asks Kafka itself:
a consumer of its own (read_committed, no group, nothing committed) reads the range.
"""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, KafkaError, TopicPartition

from connectors.kafka.config import KafkaConfig
from connectors.kafka.topics import base_config

NO_RECORD = -1
"""What ``first_record`` says of a range with no record a read_committed reader gets."""


class HoleReader:
    """Reads ranges of offsets with a read_committed consumer of its own."""

    def __init__(self, settings: KafkaConfig, timeout_s: float = 10.0) -> None:
        self._settings = settings
        self._timeout_s = timeout_s

    def first_record(self, topic: str, partition: int, start: int, end: int) -> int | None:
        """The offset of the first record in ``[start, end)``, ``NO_RECORD`` if there
        is none (transaction markers, aborted records, or records retention deleted),
        or None if it cannot tell in time: an open transaction holds the range back,
        or Kafka does not answer. Blocking: call it from a thread."""
        consumer = Consumer(
            {
                **base_config(self._settings),
                # A group id the consumer never joins nor commits under (assign only).
                "group.id": f"{self._settings.worker_id}-holes-{uuid.uuid4()}",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "isolation.level": "read_committed",
                "enable.partition.eof": True,
                # Offsets retention deleted hold nothing any more: read from the oldest.
                "auto.offset.reset": "earliest",
            }
        )
        try:
            consumer.assign([TopicPartition(topic, partition, start)])
            deadline = time.monotonic() + self._timeout_s
            while time.monotonic() < deadline:
                message = consumer.poll(0.5)
                if message is None:
                    continue
                error = message.error()
                offset = message.offset()
                if error is None and offset is not None:
                    return offset if offset < end else NO_RECORD
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    # The end a read_committed reader sees: past the range, nothing in
                    # it; short of it, an open transaction (or the range is not written).
                    if offset is not None and offset >= end:
                        return NO_RECORD
                    return None
            return None
        finally:
            consumer.close()
