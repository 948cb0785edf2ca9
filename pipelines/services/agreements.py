"""Grant and revoke sharing agreements between agencies (each change audited)."""

from __future__ import annotations

from collections.abc import Iterable

from connectors.kafka.agreements import agreement_id, publish_agreement, revoke_agreement
from connectors.kafka.topics import make_producer
from pipelines.settings import Settings
from schemas import codec_for
from schemas.errors import RequestRefused
from schemas.records import HotlistCategory, SharingAgreement, utcnow


def parse_categories(names: Iterable[str]) -> tuple[HotlistCategory, ...]:
    """Hotlist categories by name, any case; raises ``RequestRefused`` naming the known."""
    try:
        return tuple(HotlistCategory(name.strip().upper()) for name in names if name.strip())
    except ValueError as error:
        known = ", ".join(c.value for c in HotlistCategory)
        raise RequestRefused(f"{error}; known: {known}") from error


def grant(
    settings: Settings,
    *,
    owner: str,
    partner: str,
    categories: tuple[HotlistCategory, ...],
    legal_basis: str,
    approved_by: str,
    share_covert: bool = False,
    share_reads: bool = False,
) -> SharingAgreement:
    """Publishes the agreement (in force now) and audits who approved it, and why."""
    agreement = SharingAgreement(
        agreement_id=agreement_id(owner, partner),
        owner_agency_ori=owner,
        partner_agency_ori=partner,
        hit_categories=categories,
        effective_from=utcnow(),
        legal_basis=legal_basis,
        approved_by=approved_by,
        share_covert=share_covert,
        share_reads=share_reads,
    )
    publish_agreement(
        settings, make_producer(settings, "lprx-agreements"),
        codec_for(settings.schema_registry_url), agreement,
    )  # fmt: skip
    return agreement


def revoke(settings: Settings, *, owner: str, partner: str, actor: str) -> None:
    """The partner receives nothing more from the owner; the revocation is audited."""
    revoke_agreement(
        settings, make_producer(settings, "lprx-agreements"),
        codec_for(settings.schema_registry_url), owner, partner, actor,
    )  # fmt: skip
