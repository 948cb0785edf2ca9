"""Topic layout and settings against a real Kafka broker: read-carrying topics keep reads
only as long as the transport bound, and setup brings existing topics in line."""

from __future__ import annotations

from confluent_kafka.admin import ConfigResource, ResourceType

from connectors.kafka.topics import admin_client, core_topics, ensure_topics, partner_topic
from pipelines.settings import Settings
from tests.conftest import wait_for

HOUR_MS = 3600 * 1000


def retention_becomes(settings: Settings, name: str, want: int) -> None:
    """Waits for the broker to apply a changed setting (KRaft applies it asynchronously)."""
    wait_for(
        lambda: topic_configs(settings, name)["retention.ms"] == str(want) or None,
        10,
        f"{name} retention {want}",
    )


def topic_configs(settings: Settings, name: str) -> dict[str, str]:
    resource = ConfigResource(ResourceType.TOPIC, name)
    admin = admin_client(settings)  # held: a collected client cancels its futures
    described = admin.describe_configs([resource])[resource].result()
    return {key: entry.value for key, entry in described.items()}


def test_read_topics_keep_reads_a_day_and_roll_hourly(kafka_settings: Settings) -> None:
    ensure_topics(
        kafka_settings, [*core_topics(kafka_settings), partner_topic(kafka_settings, "MN1")]
    )
    names = ("reads.raw", "reads.normalized", "reads", "hits", "dispositions", "deadletter",
             "frames", "hits.MN1")  # fmt: skip
    for name in names:
        configs = topic_configs(kafka_settings, kafka_settings.topic(name))
        assert (configs["retention.ms"], configs["segment.ms"]) == (
            str(24 * HOUR_MS),
            str(HOUR_MS),
        ), name


def test_setup_brings_existing_topics_in_line(kafka_settings: Settings) -> None:
    longer = kafka_settings.model_copy(update={"topic_read_retention_hours": 48.0})
    ensure_topics(longer, core_topics(longer))  # the fixture made them: now 48 h
    retention_becomes(longer, longer.topic("reads"), 48 * HOUR_MS)

    # The operator shortens the bound; setup again changes the topics that exist.
    assert ensure_topics(kafka_settings, core_topics(kafka_settings)) == []
    for name in ("reads.raw", "reads", "hits", "deadletter"):
        retention_becomes(kafka_settings, kafka_settings.topic(name), 24 * HOUR_MS)


def test_the_transport_bound_never_exceeds_the_longest_retention(kafka_settings: Settings) -> None:
    short = kafka_settings.model_copy(
        update={"retention_days": 1, "topic_read_retention_hours": 72.0}
    )
    ensure_topics(short, core_topics(short))
    retention_becomes(short, short.topic("reads"), 24 * HOUR_MS)


def test_the_share_state_is_compacted_and_its_copies_have_a_bounded_lifetime(
    kafka_settings: Settings,
) -> None:
    configs = topic_configs(kafka_settings, kafka_settings.topic("hit-alerts"))
    # As every changelog (connectors/kafka/topics.py bounded_compacted_config): no record
    # past the 24 h transport bound, a deleted entry gone within hours.
    assert configs["cleanup.policy"] == "compact,delete"
    assert configs["retention.ms"] == str(24 * HOUR_MS)
    assert configs["max.compaction.lag.ms"] == configs["delete.retention.ms"] == str(HOUR_MS)
    assert configs["segment.ms"] == str(HOUR_MS)
