"""Records that carry reads leave the broker's disk once their topic's retention has
passed, against a real Kafka broker: the test reads the log segment files. The topics
have lprx's own settings with the transport bound scaled from a day to seconds: a
read-carrying topic (the dead letters, which keep whole original reads) and a bounded
compacted one (as a Faust changelog)."""

from __future__ import annotations

import time
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from connectors.kafka.topics import (
    TopicSpec,
    admin_client,
    base_config,
    bounded_compacted_config,
    core_topics,
    ensure_topics,
)
from connectors.servers.kafka_server import KafkaServer
from pipelines.settings import Settings
from tests.conftest import wait_for

# The local broker checks retention every 60 s (templates/kafka-server.properties).
CHECK_INTERVAL_S = 60


def files_holding(settings: Settings, topic: str, needle: bytes) -> list[str]:
    """The files of the topic's partition 0 on the broker's disk that hold ``needle``
    (segments, and segments marked .deleted that wait for removal)."""
    folder = KafkaServer(settings).data / f"{topic}-0"
    return sorted(p.name for p in folder.glob("*") if p.is_file() and needle in _read(p))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:  # removed while listed
        return b""


def remove_deleted_segments_at_once(settings: Settings, topic: str) -> None:
    # A deleted segment waits file.delete.delay.ms (1 min) before it is removed; the
    # test does not wait for that minute too.
    entry = ConfigEntry("file.delete.delay.ms", "1000", incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[entry])
    admin = admin_client(settings)
    for future in admin.incremental_alter_configs([resource]).values():
        future.result()


def test_reads_leave_the_log_files_after_the_retention(kafka_settings: Settings) -> None:
    seconds = kafka_settings.model_copy(update={"topic_read_retention_hours": 3 / 3600})
    deadletter = next(s for s in core_topics(seconds) if s.name == seconds.topic("deadletter"))
    changelog = TopicSpec(
        f"{seconds.topic_prefix}-normalize-dedup-vehicle-passes-changelog",
        1,
        bounded_compacted_config(seconds),
    )
    # The fixture made the topics with the 24 h bound; setup with the short one aligns.
    ensure_topics(seconds, [TopicSpec(deadletter.name, 1, deadletter.config), changelog])
    for topic in (deadletter.name, changelog.name):
        remove_deleted_segments_at_once(seconds, topic)

    producer = Producer({**base_config(seconds), "compression.type": "none", "linger.ms": 0})
    producer.produce(deadletter.name, key=b"cam-1", value=b"original read DLQPLT42 ...")
    producer.produce(changelog.name, key=b"cam-1/CHGPLT42", value=b'{"held": "CHGPLT42"}')
    assert producer.flush(15) == 0
    wait_for(lambda: files_holding(seconds, deadletter.name, b"DLQPLT42"), 15, "the segment")
    assert files_holding(seconds, changelog.name, b"CHGPLT42")
    written = time.monotonic()

    # Retention 3 s, checked every minute; the segment is then removed within a second.
    for topic, plate in ((deadletter.name, b"DLQPLT42"), (changelog.name, b"CHGPLT42")):
        wait_for(
            lambda topic=topic, plate=plate: not files_holding(seconds, topic, plate),
            3 + CHECK_INTERVAL_S + 30,
            f"{plate.decode()} gone from {topic}'s files",
            every=1.0,
        )
    assert time.monotonic() - written >= 3
