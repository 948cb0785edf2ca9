"""The rules of the tamper-evident audit trail: how an event is hashed and chained.

Each agency's events form one chain (``chain_of``): event n's link hash covers the
chain's name, n, the link hash of event n-1 and the SHA-256 of the event's canonical
bytes. Changing, inserting or removing an event breaks every link after it, and a signed
checkpoint (Ed25519 over ``checkpoint_message``) pins a link so that the chain up to it
cannot be rewritten without the signing key.

The canonical bytes are sorted, compact JSON of the event's fields (times as epoch
milliseconds, as Avro and Cassandra keep them; an absent map as ``{}``), so anyone can
recompute them from a stored row, in any language, without lprx.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from schemas.records import AuditEvent

GENESIS = bytes(32)  # the link before a chain's first event
NO_AGENCY = "-"  # the chain of events without an acting agency (Cassandra keys are never empty)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LINK_DOMAIN = b"lprx-audit-link-v1\x00"
_CHECKPOINT_DOMAIN = b"lprx-audit-checkpoint-v1\x00"


def chain_of(event: AuditEvent) -> str:
    """The chain an event belongs to: its acting agency's (the audit topic's key)."""
    return event.actor_agency_ori or NO_AGENCY


def epoch_ms(when: datetime) -> int:
    """Milliseconds since the epoch, truncated as Avro's timestamp-millis and Cassandra do."""
    aware = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return (aware - _EPOCH) // timedelta(milliseconds=1)


def canonical_event(event: AuditEvent) -> bytes:
    """The event's stable bytes: sorted compact JSON, UTF-8."""
    fields = {
        "event_id": event.event_id,
        "occurred_at": epoch_ms(event.occurred_at),
        "actor": event.actor,
        "actor_agency_ori": event.actor_agency_ori,
        "action": event.action.value,
        "purpose": event.purpose,
        "target_kind": event.target_kind,
        "target_id": event.target_id,
        "recipient_agency_ori": event.recipient_agency_ori,
        "outcome": event.outcome.value,
        "details": dict(event.details or {}),
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_digest(event: AuditEvent) -> bytes:
    return hashlib.sha256(canonical_event(event)).digest()


def link_hash(chain: str, seq: int, previous: bytes, digest: bytes) -> bytes:
    """Link ``seq`` of ``chain``: covers the chain, the position, the link before it and
    the event's digest, so no event can be moved, dropped or added unnoticed."""
    if len(previous) != 32 or len(digest) != 32:
        raise ValueError("links and digests are 32-byte SHA-256 values")
    h = hashlib.sha256(_LINK_DOMAIN)
    h.update(chain.encode())
    h.update(b"\x00")
    h.update(seq.to_bytes(8, "big"))
    h.update(previous)
    h.update(digest)
    return h.digest()


@dataclass(frozen=True)
class Link:
    """One event's place in its chain."""

    chain: str
    seq: int
    event_id: str
    link_hash: bytes


def extend(chain: str, seq: int, previous: bytes, events: list[AuditEvent]) -> list[Link]:
    """The links of ``events`` after link ``seq`` (hash ``previous``) of ``chain``."""
    links = []
    for event in events:
        seq += 1
        previous = link_hash(chain, seq, previous, event_digest(event))
        links.append(Link(chain, seq, event.event_id, previous))
    return links


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: link ``seq`` of ``chain`` had hash ``link_hash`` at ``signed_at``."""

    chain: str
    chain_day: str
    seq: int
    link_hash: bytes
    signed_at: datetime
    key_id: str
    signature: bytes = b""


def checkpoint_message(checkpoint: Checkpoint) -> bytes:
    """What a checkpoint's signature covers (everything but the signature)."""
    body = {
        "chain": checkpoint.chain,
        "chain_day": checkpoint.chain_day,
        "seq": checkpoint.seq,
        "link_hash": checkpoint.link_hash.hex(),
        "signed_at": epoch_ms(checkpoint.signed_at),
        "key_id": checkpoint.key_id,
    }
    return _CHECKPOINT_DOMAIN + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
