"""Kafka topics (names, layout, creation) and the producers and consumers of lprx.

Topics are created explicitly (the broker does not auto-create), and setup brings the
settings of existing topics in line. Topics that carry reads are transport, not
storage: they keep a read ``topic_read_retention_hours`` after it arrived (never more
than the longest retention), in segments rolled hourly, so no topic copy of a read
outlives its destruction date by more than that plus an hour. A read arrives before its
date or is refused, so its copies on topics are gone by date + retention hours + 1 h.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)

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


HOUR_MS = 3600 * 1000


def read_retention_ms(settings: KafkaConfig) -> int:
    transport = int(settings.topic_read_retention_hours * HOUR_MS)
    return min(transport, settings.longest_retention_ms())


def _carrying_reads(settings: KafkaConfig) -> dict[str, str]:
    # Retention deletes whole segments, so a segment must roll well inside it.
    retention = read_retention_ms(settings)
    return {"retention.ms": str(retention), "segment.ms": str(min(HOUR_MS, retention))}


def bounded_compacted_config(settings: KafkaConfig) -> dict[str, str]:
    """A compacted topic whose values hold reads (Faust table changelogs; a transactional
    stage's state topic): compaction keeps each key's latest value, and besides it

    - time retention (``compact,delete``) deletes every record older than the transport
      bound, so a key not written since (a pass long closed, a topic whose app id is no
      longer used) holds nothing past it: an entry must not live longer (a dedup pass
      lives minutes, a hit alert ``hit_suppression_seconds``);
    - ``max.compaction.lag.ms`` makes the cleaner take an overwritten or deleted value
      within an hour of its segment rolling, and ``delete.retention.ms`` keeps a
      tombstone an hour (a consumer reading along sees it), so a deleted entry is gone
      from the log within a few hours, and always within the retention bound."""
    retention = read_retention_ms(settings)
    return {
        "cleanup.policy": "compact,delete",
        "retention.ms": str(retention),
        "segment.ms": str(min(HOUR_MS, retention)),
        "min.compaction.lag.ms": "0",
        "max.compaction.lag.ms": str(min(HOUR_MS, retention)),
        "delete.retention.ms": str(min(HOUR_MS, retention)),
        "min.insync.replicas": str(settings.topic_min_insync_replicas),
    }


def core_topics(settings: KafkaConfig) -> list[TopicSpec]:
    """The topics every deployment has. Partner hit topics come with agreements."""
    reads = _carrying_reads(settings)
    compacted = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}
    n = settings.topic_partitions
    return [
        # Frames are whole images: a 1080p JPEG can pass Kafka's 1 MB default.
        TopicSpec(
            settings.topic("frames"),
            n,
            {**_carrying_reads(settings), "max.message.bytes": str(FRAME_MAX_BYTES)},
        ),
        TopicSpec(settings.topic("reads.raw"), n, reads),
        # Every normalised read, for matching at once; ``reads`` has a pass's best read.
        TopicSpec(settings.topic("reads.normalized"), n, reads),
        TopicSpec(settings.topic("reads"), n, reads),
        TopicSpec(settings.topic("hits"), n, reads),
        TopicSpec(settings.topic("dispositions"), n, reads),
        TopicSpec(settings.topic("hotlist"), 1, compacted),
        TopicSpec(settings.topic("agreements"), 1, compacted),
        # Audit records are kept at least a year (CJIS); Cassandra holds the long copy.
        TopicSpec(settings.topic("audit"), n, {"retention.ms": str(400 * DAY_MS)}),
        TopicSpec(settings.topic("deadletter"), n, reads),
        # Which dead letters were replayed (``lprx deadletters replay``), one key each;
        # offsets only, gone with the letters they name.
        TopicSpec(
            settings.topic("deadletter.replayed"), 1, {**reads, "cleanup.policy": "compact,delete"}
        ),
        # The dedup timer's requests to send held passes, one partition per reads.raw
        # partition; worthless after a minute. Camera ids only; segments roll every ten
        # minutes, so retention can delete them while ticks keep coming.
        TopicSpec(
            settings.topic("dedup-ticks"),
            n,
            {"retention.ms": str(HOUR_MS), "segment.ms": str(HOUR_MS // 6)},
        ),
        # Share's suppression memory, committed with its input: co-partitioned with hits.
        TopicSpec(settings.topic("hit-alerts"), n, bounded_compacted_config(settings)),
    ]


def partner_topic(settings: KafkaConfig, agency_ori: str) -> TopicSpec:
    return TopicSpec(
        settings.partner_hits_topic(agency_ori),
        settings.topic_partitions,
        _carrying_reads(settings),
    )


def base_config(settings: KafkaConfig) -> dict[str, str]:
    """Where the brokers are and how to log in: what every client of lprx starts from."""
    return {"bootstrap.servers": settings.kafka_bootstrap_servers, **client_config(settings)}


def admin_client(settings: KafkaConfig, **overrides: Any) -> AdminClient:
    return AdminClient({**base_config(settings), **overrides})


def ensure_topics(
    settings: KafkaConfig, specs: Iterable[TopicSpec], *, align: bool = True
) -> list[str]:
    """Create the topics that do not exist yet and, with ``align`` (setup, as the admin
    principal), bring the settings of those that do in line with their spec (a changed
    retention, say); returns the names created. A worker creating a missing partner
    topic does not align: its principal may not read or change topic settings."""
    specs = list(specs)
    admin = admin_client(settings)
    try:
        existing = set(admin.list_topics(timeout=15).topics)
    except KafkaException as error:
        raise ConfigurationError(
            f"Kafka at {settings.kafka_bootstrap_servers} did not answer ({error}); "
            "is it running? Try `lprx services up`."
        ) from error
    if align:
        _align_configs(admin, [s for s in specs if s.name in existing])
    wanted = [s for s in specs if s.name not in existing]
    if not wanted:
        return []
    replicas = settings.topic_replication_factor
    futures = admin.create_topics(
        [
            NewTopic(
                s.name,
                num_partitions=s.partitions,
                replication_factor=replicas,
                config={**s.config, "min.insync.replicas": str(settings.topic_min_insync_replicas)},
            )
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


def _align_configs(admin: AdminClient, specs: list[TopicSpec]) -> None:
    """Sets each config of a spec that an existing topic holds with another value."""
    if not specs:
        return
    resources = [ConfigResource(ResourceType.TOPIC, s.name) for s in specs]
    described = admin.describe_configs(resources)
    changes = []
    for spec, resource in zip(specs, resources, strict=True):
        try:
            current = described[resource].result()
        except KafkaException as error:
            raise ConfigurationError(
                f"could not read the settings of {spec.name}: {error}"
            ) from error
        stale = {k: v for k, v in spec.config.items() if k not in current or current[k].value != v}
        if stale:
            entries = [
                ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
                for k, v in stale.items()
            ]
            changes.append(
                ConfigResource(ResourceType.TOPIC, spec.name, incremental_configs=entries)
            )
            log.info("topic %s: setting %s", spec.name, stale)
    if not changes:
        return
    for resource, future in admin.incremental_alter_configs(changes).items():
        try:
            future.result()
        except KafkaException as error:
            raise ConfigurationError(f"could not update {resource.name}: {error}") from error


ClientConfig = dict[str, str | int | bool]


def producer_config(settings: KafkaConfig, client_id: str) -> ClientConfig:
    """What every producer of lprx is configured with (brokers, login, idempotence)."""
    return {
        **base_config(settings),
        "client.id": client_id,
        "enable.idempotence": True,
        "linger.ms": 5,
        "compression.type": "lz4",
        "message.max.bytes": FRAME_MAX_BYTES + 64 * 1024,
    }


def answers(producer: Producer, timeout: float, topic: str | None = None) -> str | None:
    """None when Kafka answers a metadata request (for ``topic``, else the cluster's)
    within ``timeout``; else why not, in one line (readiness)."""
    try:
        producer.list_topics(topic, timeout=timeout)
    except KafkaException as error:
        return f"Kafka does not answer: {error.args[0].name()}"
    return None


def make_producer(settings: KafkaConfig, client_id: str) -> Producer:
    return Producer(producer_config(settings, client_id))


# How long a transaction may stay open before the broker aborts it: how long a worker
# that died mid-transaction, and never came back under its transactional id, holds back
# read_committed readers of the partitions it wrote to.
TRANSACTION_TIMEOUT_MS = 30_000


def make_transactional_producer(
    settings: KafkaConfig, client_id: str, transactional_id: str
) -> Producer:
    """A producer whose records are written in transactions (``init_transactions`` first).
    ``transactional_id`` must be stable across restarts of one worker and unique among
    the running ones: a restarted worker fences its former self and aborts what it left
    open. Keys are partitioned as Java clients and Faust do (murmur2)."""
    config = producer_config(settings, client_id)
    config.update(
        {
            "transactional.id": transactional_id,
            "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS,
            "partitioner": "murmur2_random",
        }
    )
    return Producer(config)


def make_consumer(settings: KafkaConfig, group_id: str, **overrides: str | int | bool) -> Consumer:
    """A consumer that commits only when told and reads committed records only (what a
    transaction aborted, or has still open, never shows)."""
    config: ClientConfig = {
        **base_config(settings),
        "group.id": group_id,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
    }
    config.update(overrides)
    return Consumer(config)
