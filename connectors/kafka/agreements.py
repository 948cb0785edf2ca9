"""Publish and revoke sharing agreements on the compacted agreements topic.

Every change is audited through the ``AuditTrail`` (who approved it, under which legal
basis). Publishing creates nothing: the partner's user, ACLs and hit topic are the
operator's (``lprx partners add``), and the share stage creates a hit topic it lacks.
"""

from __future__ import annotations

from confluent_kafka import Producer

from connectors.kafka.audit import AuditTrail
from connectors.kafka.config import KafkaConfig
from schemas import Codec
from schemas.errors import TransientError
from schemas.records import AuditAction, AuditEvent, SharingAgreement, new_id, utcnow

# How long a change (and its audit event) may take to be acknowledged by Kafka.
CHANGE_TIMEOUT_S = 30.0


def agreement_id(owner_ori: str, partner_ori: str) -> str:
    return f"{owner_ori}->{partner_ori}"


def _audit(agreement_key: str, actor: str, owner: str, partner: str, change: str) -> AuditEvent:
    return AuditEvent(
        event_id=new_id(),
        occurred_at=utcnow(),
        actor=actor,
        actor_agency_ori=owner,
        action=AuditAction.AGREEMENT_CHANGE,
        target_kind="agreement",
        target_id=agreement_key,
        recipient_agency_ori=partner,
        details={"change": change},
    )


def _produce_and_flush(producer: Producer, topic: str, key: str, value: bytes | None) -> None:
    producer.produce(topic, key=key.encode(), value=value)
    if producer.flush(CHANGE_TIMEOUT_S):
        raise TransientError(f"Kafka did not take the change to {key} in time")


def _audited(settings: KafkaConfig, producer: Producer, codec: Codec, event: AuditEvent) -> None:
    AuditTrail(settings, producer=producer, codec=codec).record_acknowledged(
        event, CHANGE_TIMEOUT_S
    )


def publish_agreement(
    settings: KafkaConfig, producer: Producer, codec: Codec, agreement: SharingAgreement
) -> None:
    _produce_and_flush(
        producer, settings.topic("agreements"), agreement.agreement_id, agreement.encode(codec)
    )
    event = _audit(
        agreement.agreement_id,
        agreement.approved_by,
        agreement.owner_agency_ori,
        agreement.partner_agency_ori,
        f"granted hits {','.join(c.value for c in agreement.hit_categories) or 'none'}, "
        f"reads {'yes' if agreement.share_reads else 'no'} under {agreement.legal_basis}",
    )
    _audited(settings, producer, codec, event)


def revoke_agreement(
    settings: KafkaConfig, producer: Producer, codec: Codec, owner: str, partner: str, actor: str
) -> None:
    key = agreement_id(owner, partner)
    # A null value is a tombstone: followers drop the agreement, compaction forgets it.
    _produce_and_flush(producer, settings.topic("agreements"), key, None)
    event = _audit(key, actor, owner, partner, "revoked")
    _audited(settings, producer, codec, event)
