"""A stage's consumer offsets and table changelog, carried from one Faust app to another.

A worker's app id (so its consumer group and its tables' changelogs) is named after the
stages it runs. Splitting a stage set (``normalize,match,share,store`` into
``normalize,match,share`` and ``store``) gives each new app a group that never committed
and empty changelogs: its workers would read every topic from the beginning (hits long
delivered would be matched and sent again) and dedup would forget the passes it holds (a
pass's reads are committed once folded, so they would never be stored). These are the
Kafka steps of moving the state over, done while no worker of either app runs (the
caller checks): committed offsets are adopted where the new group has none, and a
changelog is copied record for record, partition to partition, into a new app's own.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import cast

from confluent_kafka import OFFSET_BEGINNING, KafkaError, Message, TopicPartition

from connectors.kafka.config import KafkaConfig
from connectors.kafka.topics import (
    TopicSpec,
    admin_client,
    ensure_topics,
    make_consumer,
    make_producer,
)
from schemas.errors import ConfigurationError

TIMEOUT_S = 30.0


def topic_partitions(settings: KafkaConfig, topic: str) -> list[int] | None:
    """The topic's partitions, None if it does not exist."""
    metadata = admin_client(settings).list_topics(topic, timeout=TIMEOUT_S).topics.get(topic)
    if metadata is None or metadata.error is not None:
        return None
    return sorted(metadata.partitions)


def offsets_to_adopt(
    settings: KafkaConfig, former_group: str, group: str, topic: str
) -> list[TopicPartition]:
    """The committed offsets of ``former_group`` on the partitions of ``topic`` that
    ``group`` never committed (a partition neither committed is left out)."""
    numbers = topic_partitions(settings, topic)
    if not numbers:
        return []
    partitions = [TopicPartition(topic, p) for p in numbers]
    consumers = {name: make_consumer(settings, name) for name in (former_group, group)}
    try:
        ours = consumers[group].committed(partitions, timeout=TIMEOUT_S)
        theirs = consumers[former_group].committed(partitions, timeout=TIMEOUT_S)
    finally:
        for consumer in consumers.values():
            consumer.close()
    return [
        TopicPartition(topic, former.partition, former.offset)
        for own, former in zip(ours, theirs, strict=True)
        if own.offset < 0 <= former.offset
    ]


def commit_offsets(settings: KafkaConfig, group: str, offsets: Sequence[TopicPartition]) -> None:
    """Commits ``offsets`` for ``group`` outside any generation: Kafka accepts that only
    while the group has no members (a running member refuses it: KafkaException)."""
    if not offsets:
        return
    consumer = make_consumer(settings, group)
    try:
        consumer.commit(offsets=list(offsets), asynchronous=False)
    finally:
        consumer.close()


def records_held(settings: KafkaConfig, topic: str, partitions: Sequence[int]) -> int:
    """How many offsets the topic's partitions span (high minus low watermarks)."""
    consumer = make_consumer(settings, f"{settings.worker_id}-regroup")
    try:
        spans = [
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=TIMEOUT_S)
            for p in partitions
        ]
    finally:
        consumer.close()
    return sum(high - low for low, high in spans)


def copy_changelog(settings: KafkaConfig, source: str, target: TopicSpec) -> int | None:
    """Copies every record of ``source`` (tombstones too, headers and timestamps) to the
    same partition of ``target``, created if missing; returns the records copied, or None
    (nothing copied) if ``target`` already holds records: its app has state of its own,
    or a copy was made before. Refused if ``target`` has fewer partitions."""
    numbers = topic_partitions(settings, source)
    if numbers is None:
        return 0
    if len(numbers) > target.partitions:
        raise ConfigurationError(
            f"{source} has {len(numbers)} partitions, more than {target.name}'s {target.partitions}"
        )
    ensure_topics(settings, [target], align=True)
    if records_held(settings, target.name, range(target.partitions)):
        return None
    # Nothing writes the source meanwhile (no worker of its app runs): its end is final.
    reading: dict[str, str | int | bool] = {
        "isolation.level": "read_uncommitted",
        "enable.partition.eof": True,
    }
    consumer = make_consumer(settings, f"{settings.worker_id}-regroup", **reading)
    producer = make_producer(settings, f"{settings.worker_id}-regroup")
    failures: list[str] = []

    def delivered(error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            failures.append(str(error))

    copied = 0
    try:
        consumer.assign([TopicPartition(source, p, OFFSET_BEGINNING) for p in numbers])
        left = set(numbers)
        quiet_since = time.monotonic()
        while left:
            # consume() waits out its timeout unless the batch fills: short waits.
            batch = consumer.consume(500, timeout=0.5)
            if batch:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > TIMEOUT_S:
                raise ConfigurationError(f"{source}: no record came for {TIMEOUT_S:.0f} s")
            for message in batch:
                error = message.error()
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    left.discard(message.partition())
                elif error is not None:
                    raise ConfigurationError(f"{source}: {error}")
                else:
                    # The record's own time: the copy's time retention (the transport
                    # bound) counts from when the original was written, not from now.
                    _, written_ms = message.timestamp()
                    producer.produce(
                        target.name, message.value(), message.key(),
                        partition=cast(int, message.partition()), timestamp=written_ms,
                        headers=message.headers(), on_delivery=delivered,
                    )  # fmt: skip
                    producer.poll(0)
                    copied += 1
        if producer.flush(TIMEOUT_S) > 0 or failures:
            raise ConfigurationError(f"{target.name}: not every record was written {failures[:1]}")
    finally:
        consumer.close()
    return copied
