"""What a person's agency may see (13.824 subd. 4): its own reads and hits, and those of
an agency that shares them with it by an agreement in force. An agreement says what it
covers: reads (``share_reads``), hits (its ``hit_categories``, covert ones only with
``share_covert``), or both.

Every access through a person goes through ``open_person_access``: its justification is
checked (a purpose from the fixed list, a case or incident number, the factual basis),
and the access is audited before any data is read, with the query; ``shown`` audits the
ids returned. A refusal is audited as DENIED.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from connectors.kafka.audit import AuditWriter
from pipelines.stages.share import AgreementBook
from schemas.errors import AccessDenied, TransientError
from schemas.hotlist_policy import JurisdictionPolicy
from schemas.people import Principal, Purpose
from schemas.records import AuditAction, AuditEvent, AuditOutcome, SharingAgreement, new_id, utcnow
from schemas.sharing import shares_for

log = logging.getLogger(__name__)

MIN_FACTUAL_BASIS = 20
_CASE_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ./:_-]{2,39}")
MAX_IDS_AUDITED = 1000


@dataclass(frozen=True)
class Justification:
    """Why a person looks (13.824 subd. 7): recorded with every access."""

    purpose: Purpose
    case_number: str
    factual_basis: str

    def problem(self) -> str | None:
        if not _CASE_NUMBER.fullmatch(self.case_number.strip()):
            return "a case, complaint or incident number (3-40 letters, digits, ./:_-) is required"
        if len(self.factual_basis.strip()) < MIN_FACTUAL_BASIS:
            return (
                f"the factual basis (at least {MIN_FACTUAL_BASIS} characters) says why the "
                "data are pertinent to the investigation"
            )
        return None


def read_sharers(
    book: AgreementBook, agency_ori: str, now: datetime, purpose: str | None = None,
    policies: Mapping[str, JurisdictionPolicy] | None = None,
) -> list[SharingAgreement]:  # fmt: skip
    """The agreements in force sharing reads with ``agency_ori`` (for ``purpose``: not
    excluding it, the owner's jurisdiction not barring the agency)."""
    return [
        a for a in book.to_partner(agency_ori)
        if a.share_reads and a.in_force(now)
        and (purpose is None or shares_for(a, purpose, policies or {}))
    ]  # fmt: skip


def hit_sharers(book: AgreementBook, agency_ori: str, now: datetime) -> list[SharingAgreement]:
    return [a for a in book.to_partner(agency_ori) if a.hit_categories and a.in_force(now)]


def readable_agencies(
    book: AgreementBook, agency_ori: str, now: datetime, purpose: str | None = None,
    policies: Mapping[str, JurisdictionPolicy] | None = None,
) -> frozenset[str]:  # fmt: skip
    """The agencies whose reads a person of ``agency_ori`` may search (for ``purpose``)."""
    sharers = read_sharers(book, agency_ori, now, purpose, policies)
    return frozenset({agency_ori, *(a.owner_agency_ori for a in sharers)})


def _event(
    principal: Principal, target_kind: str, target_id: str, outcome: AuditOutcome,
    why: Justification | None, details: dict[str, str],
) -> AuditEvent:  # fmt: skip
    full = dict(details)
    if why is not None:
        full |= {"case_number": why.case_number, "factual_basis": why.factual_basis}
    return AuditEvent(
        event_id=new_id(), occurred_at=utcnow(), actor=principal.username,
        actor_agency_ori=principal.agency_ori,
        action=AuditAction.SEARCH if outcome is not AuditOutcome.DENIED
        else AuditAction.ACCESS_DENIED,
        purpose=why.purpose.value if why is not None else None, target_kind=target_kind,
        target_id=target_id, outcome=outcome, details=full,
    )  # fmt: skip


def audit_refusal(trail: AuditWriter, event: AuditEvent) -> None:
    """Records a refusal; the request is refused whether or not Kafka takes it."""
    try:
        trail.record_acknowledged(event)
    except TransientError as error:
        log.error("a refused access could not be audited: %s", error)


class PersonAccess:
    """An access whose audit event Kafka acknowledged; ``shown`` records what it shows."""

    def __init__(
        self, trail: AuditWriter, principal: Principal, target_kind: str, target_id: str,
        why: Justification | None, details: dict[str, str],
    ) -> None:  # fmt: skip
        self._trail = trail
        self._args = (principal, target_kind, target_id)
        self._why = why
        self._details = details

    def open(self, *, justified: bool = True) -> PersonAccess:
        """Audits the access before any data is read. With ``justified`` the
        justification must be complete, or the attempt is refused (``AccessDenied``,
        audited as DENIED)."""
        if justified:
            problem = "a justification is required" if self._why is None else self._why.problem()
            if problem is not None:
                raise self.deny(problem)
        event = _event(*self._args, AuditOutcome.SUCCESS, self._why,
                       self._details | {"stage": "opened"})  # fmt: skip
        _acknowledged(self._trail, event)
        return self

    def deny(self, reason: str) -> AccessDenied:
        """The refusal, audited as DENIED; raise what it returns."""
        event = _event(*self._args, AuditOutcome.DENIED, self._why,
                       self._details | {"reason": reason})  # fmt: skip
        audit_refusal(self._trail, event)
        return AccessDenied(reason)

    def shown(self, ids: Iterable[str], results: int | None = None) -> None:
        """Audits the ids the access returns (``results``: how many things it showed,
        when they are not named by ids); raises ``TransientError`` if Kafka did not
        acknowledge it (then nothing may be shown)."""
        listed = list(ids)
        details = self._details | {
            "results": str(len(listed) if results is None else results),
            "ids": ",".join(listed[:MAX_IDS_AUDITED]),
        }  # fmt: skip
        _acknowledged(self._trail, _event(*self._args, AuditOutcome.SUCCESS, self._why, details))


def _acknowledged(trail: AuditWriter, event: AuditEvent) -> None:
    try:
        trail.record_acknowledged(event)
    except TransientError as error:
        raise TransientError(
            f"the audit trail could not be written, so nothing is shown ({error})"
        ) from error


def open_person_access(
    trail: AuditWriter, principal: Principal, *, target_kind: str, target_id: str,
    why: Justification | None, details: dict[str, str] | None = None,
    justified: bool = True,
) -> PersonAccess:  # fmt: skip
    """Audits an access before any data is read. With ``justified`` the justification
    must be complete, or the attempt is refused (``AccessDenied``, audited as DENIED)."""
    return PersonAccess(trail, principal, target_kind, target_id, why, details or {}).open(
        justified=justified
    )
