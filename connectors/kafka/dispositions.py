"""Hit dispositions onto the dispositions topic, where the store agent checks and stores
them (only the owner, or a partner that received the hit, may dispose of it)."""

from __future__ import annotations

from confluent_kafka import Producer

from connectors.kafka.config import KafkaConfig
from schemas import Codec, keys
from schemas.errors import TransientError
from schemas.records import HitDisposition


def publish_disposition(
    settings: KafkaConfig,
    producer: Producer,
    codec: Codec,
    disposition: HitDisposition,
    timeout: float = 10.0,
) -> None:
    """Produces the disposition and waits until Kafka has it."""
    producer.produce(
        settings.topic("dispositions"),
        key=keys.disposition_key(disposition),
        value=disposition.encode(codec),
    )
    if producer.flush(timeout):
        raise TransientError(
            f"Kafka did not take the disposition of hit {disposition.hit_id} in time"
        )
