"""Read a topic from its start: the one topic reader of tools and tests.

Workers consume as Faust agents and followers follow compacted topics; this is for a
person (or a test) who wants to see what a topic holds. A fresh consumer that never
commits assigns every partition itself, so it reads the whole topic whatever group
reads it elsewhere, and stops at the first of: ``max_messages`` read, every partition
read to its end (``to_end``; the end as it was when reading began, or later), or
``timeout_s`` passed. Without ``to_end`` it waits for messages still to come, up to
``max_messages`` or the timeout (what a test waiting for output wants).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, Message, TopicPartition

from connectors.kafka.config import KafkaConfig
from connectors.kafka.topics import make_consumer

# How many messages one consume() call may return.
BATCH = 500

# ``read_values``' shape, for services that take a reader (a fake one in unit tests).
ReadValues = Callable[[KafkaConfig, str, int, float], list[bytes]]


def read_topic(
    settings: KafkaConfig,
    topic: str,
    *,
    max_messages: int,
    timeout_s: float,
    to_end: bool = True,
) -> list[Message]:
    """Up to ``max_messages`` messages from the start of ``topic`` (named in full), each
    partition's in offset order; a topic that does not exist reads as empty."""
    overrides: dict[str, str | int | bool] = {
        "enable.partition.eof": to_end,
        # librdkafka's default, said out loud: records of aborted (or still open)
        # transactions are never shown, so a reader sees what a partner would.
        "isolation.level": "read_committed",
    }
    # A group its principal may name (a partner's groups start with its principal).
    group = f"{settings.kafka_principal or 'lprx'}-reader-{uuid.uuid4().hex}"
    consumer = make_consumer(settings, group, **overrides)
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return []
        partitions = sorted(metadata.partitions)
        pending = set(partitions)
        if to_end:
            for partition in partitions:
                try:
                    low, high = consumer.get_watermark_offsets(
                        TopicPartition(topic, partition), timeout=10
                    )
                except KafkaException:
                    continue  # no leader yet (a new topic): its end-of-partition event tells
                if high <= low:
                    pending.discard(partition)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        messages: list[Message] = []
        deadline = time.monotonic() + timeout_s
        while len(messages) < max_messages and time.monotonic() < deadline:
            if to_end and not pending:
                break
            wanted = min(BATCH, max_messages - len(messages))
            for message in consumer.consume(wanted, timeout=0.2):
                error = message.error()
                if error is None:
                    messages.append(message)
                elif error.code() == KafkaError._PARTITION_EOF:
                    pending.discard(message.partition())
        return messages
    finally:
        consumer.close()


def read_values(
    settings: KafkaConfig, topic: str, max_messages: int, timeout_s: float, *, to_end: bool = True
) -> list[bytes]:
    """``read_topic``'s values, tombstones left out."""
    messages = read_topic(
        settings, topic, max_messages=max_messages, timeout_s=timeout_s, to_end=to_end
    )
    return [value for message in messages if (value := message.value()) is not None]
