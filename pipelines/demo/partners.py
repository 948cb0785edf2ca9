"""The demo's proof of who may read what: a partner agency reads its own hit topic with
its own credentials, and the broker refuses it another agency's topic and the reads."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from connectors.kafka.reader import read_values
from connectors.kafka.topics import make_consumer
from pipelines.access import as_partner
from pipelines.settings import Settings


@dataclass(frozen=True)
class PartnerAccess:
    partner_ori: str
    own_topic: str
    own_hits: int
    refused: dict[str, str]  # topic -> the broker's answer


def topic_access_error(settings: Settings, topic: str) -> str | None:
    """The broker's refusal of ``topic`` to this settings' principal, or None if allowed."""
    group = f"{settings.kafka_principal or 'lprx'}-probe-{uuid.uuid4().hex[:8]}"
    consumer = make_consumer(settings, group)
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
    finally:
        consumer.close()
    if metadata is None:
        return "no such topic"
    return None if metadata.error is None else metadata.error.name()


def check_partner_access(settings: Settings, partner_ori: str, other_ori: str) -> PartnerAccess:
    partner = as_partner(settings, partner_ori)
    own = partner.partner_hits_topic(partner_ori)
    hits = read_values(partner, own, 100000, 10)
    refused = {}
    for topic in (partner.partner_hits_topic(other_ori), partner.topic("reads")):
        refused[topic] = topic_access_error(partner, topic) or "ALLOWED (unexpected)"
    return PartnerAccess(partner_ori, own, len(hits), refused)
