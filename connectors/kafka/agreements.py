"""Publish and revoke sharing agreements on the compacted agreements topic.

Every change is audited through the ``AuditTrail`` (who approved it, under which legal
basis). Publishing creates nothing: the partner's user, ACLs and hit topic are the
operator's (``lprx partners add``), and the share stage creates a hit topic it lacks.
A widening waiting for its second approver is published under its
own key (``schemas.keys.pending_agreement_key``) and shares nothing until approved.
"""

from __future__ import annotations

from confluent_kafka import Producer

from connectors.kafka.audit import AuditTrail
from connectors.kafka.config import KafkaConfig
from schemas import Codec
from schemas.errors import TransientError
from schemas.keys import pending_agreement_key
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


def terms(agreement: SharingAgreement) -> str:
    """The agreement's terms in words, for the audit trail."""
    excluded = ",".join(agreement.excluded_purposes)
    return (
        f"hits {','.join(c.value for c in agreement.hit_categories) or 'none'}, "
        f"reads {'yes' if agreement.share_reads else 'no'}"
        f"{', covert yes' if agreement.share_covert else ''}"
        f"{f', purposes excluded {excluded}' if excluded else ''} under {agreement.legal_basis}"
    )


def publish_agreement(
    settings: KafkaConfig, producer: Producer, codec: Codec, agreement: SharingAgreement,
    *, actor: str | None = None, change: str | None = None,
) -> None:  # fmt: skip
    """The agreement in force now; audited as ``change`` by ``actor`` (default: granted
    by its approver)."""
    _produce_and_flush(
        producer, settings.topic("agreements"), agreement.agreement_id, agreement.encode(codec)
    )
    event = _audit(
        agreement.agreement_id,
        actor or agreement.approved_by,
        agreement.owner_agency_ori,
        agreement.partner_agency_ori,
        change or f"granted {terms(agreement)}",
    )
    _audited(settings, producer, codec, event)


def publish_pending(
    settings: KafkaConfig, producer: Producer, codec: Codec, agreement: SharingAgreement,
    widens: list[str],
) -> None:  # fmt: skip
    """A widening proposed by ``agreement.proposed_by``: recorded, audited, not in force."""
    key = pending_agreement_key(agreement.agreement_id)
    _produce_and_flush(producer, settings.topic("agreements"), key, agreement.encode(codec))
    change = (f"proposed {terms(agreement)}; widens ({'; '.join(widens)}), so it waits for "
              "a second approver")  # fmt: skip
    event = _audit(agreement.agreement_id, agreement.proposed_by or agreement.approved_by,
                   agreement.owner_agency_ori, agreement.partner_agency_ori, change)  # fmt: skip
    _audited(settings, producer, codec, event)


def withdraw_pending(
    settings: KafkaConfig, producer: Producer, codec: Codec, owner: str, partner: str,
    actor: str, change: str | None,
) -> None:  # fmt: skip
    """Removes a pending widening; audited as ``change`` unless None (a step of another
    audited change: an approval, a revocation)."""
    key = agreement_id(owner, partner)
    _produce_and_flush(producer, settings.topic("agreements"), pending_agreement_key(key), None)
    if change is not None:
        _audited(settings, producer, codec, _audit(key, actor, owner, partner, change))


def revoke_agreement(
    settings: KafkaConfig, producer: Producer, codec: Codec, owner: str, partner: str,
    actor: str, *, keep_pending: bool = False,
) -> None:  # fmt: skip
    """Nothing more is shared; a widening waiting is dropped too, unless ``keep_pending``
    (the terms in force end while a new proposal waits)."""
    key = agreement_id(owner, partner)
    # A null value is a tombstone: followers drop the agreement, compaction forgets it.
    _produce_and_flush(producer, settings.topic("agreements"), key, None)
    if not keep_pending:
        pending = pending_agreement_key(key)
        _produce_and_flush(producer, settings.topic("agreements"), pending, None)
    event = _audit(key, actor, owner, partner, "revoked")
    _audited(settings, producer, codec, event)
