"""Hit dispositions sent back by agencies: who may dispose of a hit, and the audit."""

from __future__ import annotations

from datetime import datetime

from pipelines.stages.share import AgreementBook
from schemas.errors import InvalidRecord
from schemas.records import (
    AuditAction,
    AuditEvent,
    AuditOutcome,
    HitDisposition,
    HotlistCategory,
    new_id,
)

STAGE = "dispositions"


class NotARecipient(InvalidRecord):
    """The deciding agency never received this hit."""


def authorize(
    disposition: HitDisposition, category: HotlistCategory, book: AgreementBook, now: datetime
) -> None:
    """Only the owning agency, or a partner whose agreement in force covers the hit's
    category, may dispose of a hit."""
    decider = disposition.decided_by_agency_ori
    if decider == disposition.hit_agency_ori:
        return
    for agreement in book.from_owner(disposition.hit_agency_ori):
        if (
            agreement.partner_agency_ori == decider
            and agreement.in_force(now)
            and category in agreement.hit_categories
        ):
            return
    raise NotARecipient(
        f"agency {decider} did not receive hit {disposition.hit_id} and may not dispose of it"
    )


def disposition_audit(disposition: HitDisposition, outcome: AuditOutcome) -> AuditEvent:
    return AuditEvent(
        event_id=new_id(),
        occurred_at=disposition.decided_at,
        actor=disposition.decided_by,
        actor_agency_ori=disposition.decided_by_agency_ori,
        action=AuditAction.OTHER if outcome is AuditOutcome.SUCCESS else AuditAction.ACCESS_DENIED,
        target_kind="hit",
        target_id=disposition.hit_id,
        outcome=outcome,
        details={"disposition": disposition.disposition.value},
    )
