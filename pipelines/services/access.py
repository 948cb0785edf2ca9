"""Audited access: no audit, no access.

A look-up names who asks (an individual login and agency) and why (a documented
purpose). A request without a purpose is refused, and the refusal is audited as
DENIED. Otherwise the access is audited, and Kafka must acknowledge that event before
any data is read; once the data is in hand, the number of results is audited too, and
only then is the data returned. The store agent copies the audit topic to Cassandra.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from connectors.kafka.audit import AuditWriter
from schemas.errors import AccessDenied, TransientError
from schemas.records import AuditAction, AuditEvent, AuditOutcome, new_id, utcnow

log = logging.getLogger(__name__)

MIN_PURPOSE_LENGTH = 10


@dataclass(frozen=True)
class Requester:
    """Who asks, and why: every audited access carries it."""

    user: str
    agency: str
    purpose: str


class AuditedAccess:
    """An access whose audit event Kafka acknowledged; ``shown`` records the results."""

    def __init__(
        self, trail: AuditWriter, requester: Requester, target_kind: str, target_id: str
    ) -> None:
        self._trail = trail
        self.requester = requester
        self.target_kind = target_kind
        self.target_id = target_id

    def event(self, outcome: AuditOutcome, results: int | None = None) -> AuditEvent:
        return AuditEvent(
            event_id=new_id(),
            occurred_at=utcnow(),
            actor=self.requester.user,
            actor_agency_ori=self.requester.agency,
            action=AuditAction.SEARCH,
            purpose=self.requester.purpose,
            target_kind=self.target_kind,
            target_id=self.target_id,
            outcome=outcome,
            details={} if results is None else {"results": str(results)},
        )

    def shown(self, results: int) -> None:
        """Audits how many results the access returns; raises ``TransientError`` if
        Kafka did not acknowledge it (then the results must not be shown)."""
        _acknowledged(self._trail, self.event(AuditOutcome.SUCCESS, results))


def _acknowledged(trail: AuditWriter, event: AuditEvent) -> None:
    try:
        trail.record_acknowledged(event)
    except TransientError as error:
        raise TransientError(
            f"the audit trail could not be written, so nothing is shown ({error})"
        ) from error


def open_access(
    trail: AuditWriter, requester: Requester, *, target_kind: str, target_id: str
) -> AuditedAccess:
    """Audits an access before any data is read. Raises ``AccessDenied`` (the attempt
    audited as DENIED) without a documented purpose, and ``TransientError`` when the
    audit trail did not acknowledge the access: nothing may be shown then."""
    access = AuditedAccess(trail, requester, target_kind, target_id)
    if len(requester.purpose.strip()) < MIN_PURPOSE_LENGTH:
        try:
            trail.record_acknowledged(access.event(AuditOutcome.DENIED))
        except TransientError as error:
            # Refused either way; the operator learns the refusal went unrecorded.
            log.error("a refused access could not be audited: %s", error)
        raise AccessDenied(
            f"a documented purpose of at least {MIN_PURPOSE_LENGTH} characters is required"
        )
    _acknowledged(trail, access.event(AuditOutcome.SUCCESS))
    return access
