"""Kafka topics (names, layout, creation) and the producers and consumers of lprx.

Topics are created explicitly (the broker does not auto-create). Every topic that
carries plate reads keeps them no longer than the longest configured retention, so the
broker never holds a read past its legal destruction date.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from connectors.kafka.config import KafkaConfig
from connectors.kafka.security import client_config
from schemas.errors import ConfigurationError
from schemas.retention import DAY_MS

log = logging.getLogger(__name__)

FRAME_MAX_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


def read_retention_ms(settings: KafkaConfig) -> int:
    return settings.longest_retention_ms()


def core_topics(settings: KafkaConfig) -> list[TopicSpec]:
    """The topics every deployment has. Partner hit topics come with agreements."""
    reads = {"retention.ms": str(read_retention_ms(settings))}
    compacted = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}
    n = settings.topic_partitions
    return [
        # Frames are whole images: a 1080p JPEG can pass Kafka's 1 MB default.
        TopicSpec(
            settings.topic("frames"),
            n,
            {"retention.ms": str(DAY_MS), "max.message.bytes": str(FRAME_MAX_BYTES)},
        ),
        TopicSpec(settings.topic("reads.raw"), n, reads),
        TopicSpec(settings.topic("reads"), n, reads),
        TopicSpec(settings.topic("hits"), n, reads),
        TopicSpec(settings.topic("dispositions"), n, reads),
        TopicSpec(settings.topic("hotlist"), 1, compacted),
        TopicSpec(settings.topic("agreements"), 1, compacted),
        # Audit records are kept at least a year (CJIS); Cassandra holds the long copy.
        TopicSpec(settings.topic("audit"), n, {"retention.ms": str(400 * DAY_MS)}),
        TopicSpec(settings.topic("deadletter"), n, reads),
        # The dedup timer's requests to send held passes, one partition per reads.raw
        # partition; worthless after a minute.
        TopicSpec(settings.topic("dedup-ticks"), n, {"retention.ms": str(60 * 60 * 1000)}),
    ]


def partner_topic(settings: KafkaConfig, agency_ori: str) -> TopicSpec:
    return TopicSpec(
        settings.partner_hits_topic(agency_ori),
        settings.topic_partitions,
        {"retention.ms": str(read_retention_ms(settings))},
    )


def base_config(settings: KafkaConfig) -> dict[str, str]:
    """Where the brokers are and how to log in: what every client of lprx starts from."""
    return {"bootstrap.servers": settings.kafka_bootstrap_servers, **client_config(settings)}


def admin_client(settings: KafkaConfig, **overrides: Any) -> AdminClient:
    return AdminClient({**base_config(settings), **overrides})


def ensure_topics(settings: KafkaConfig, specs: Iterable[TopicSpec]) -> list[str]:
    """Create the topics that do not exist yet; returns the names created."""
    admin = admin_client(settings)
    try:
        existing = set(admin.list_topics(timeout=15).topics)
    except KafkaException as error:
        raise ConfigurationError(
            f"Kafka at {settings.kafka_bootstrap_servers} did not answer ({error}); "
            "is it running? Try `lprx services up`."
        ) from error
    wanted = [s for s in specs if s.name not in existing]
    if not wanted:
        return []
    futures = admin.create_topics(
        [
            NewTopic(s.name, num_partitions=s.partitions, replication_factor=1, config=s.config)
            for s in wanted
        ],
        operation_timeout=30,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result()
            created.append(name)
        except KafkaException as error:
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise ConfigurationError(f"could not create topic {name}: {error}") from error
    log.info("created topics %s", created)
    return created


def make_producer(settings: KafkaConfig, client_id: str) -> Producer:
    return Producer(
        {
            **base_config(settings),
            "client.id": client_id,
            "enable.idempotence": True,
            "linger.ms": 5,
            "compression.type": "lz4",
            "message.max.bytes": FRAME_MAX_BYTES + 64 * 1024,
        }
    )


def make_consumer(settings: KafkaConfig, group_id: str, **overrides: str | int | bool) -> Consumer:
    config: dict[str, str | int | bool] = {
        **base_config(settings),
        "group.id": group_id,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    }
    config.update(overrides)
    return Consumer(config)
