"""An agency administrator's configuration of its own agency: hotlists, sharing
agreements (what its agency shares, and with whom); its cameras are in ``cameras.py``.
Every change is audited with the administrator's login."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from pipelines.api.deps import ApiServices, Services, allowed
from pipelines.services.hotlists import HotlistFormat
from schemas.errors import AccessDenied, RequestRefused
from schemas.people import Permission, Principal
from schemas.records import (
    AuditAction,
    AuditEvent,
    AuditOutcome,
    HotlistCategory,
    SharingAgreement,
    new_id,
    utcnow,
)

router = APIRouter()

Ori = Annotated[str, Field(min_length=9, max_length=9, pattern=r"^[A-Z]{2}[A-Z0-9]{7}$")]
HotlistAdmin = Annotated[Principal, Depends(allowed(Permission.LOAD_HOTLISTS))]
AgreementAdmin = Annotated[Principal, Depends(allowed(Permission.MANAGE_AGREEMENTS))]
AgreementApprover = Annotated[Principal, Depends(allowed(Permission.APPROVE_AGREEMENTS))]
MAX_HOTLIST_CHARACTERS = 20_000_000


class HotlistLoadRequest(BaseModel):
    list_id: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")]
    source: Annotated[
        str, Field(min_length=1, max_length=200, description="Its name, e.g. MN BCA hotlist.")
    ]
    source_kind: Annotated[
        str,
        Field(
            max_length=40,
            description="state_file, ncic or investigation (13.824 subd. 2(c)); anything "
            "else is refused and audited.",
        ),
    ] = ""
    ncic_file: Annotated[
        str | None, Field(max_length=40, description="An NCIC extract's file, e.g. vehicle.")
    ] = None
    case_number: Annotated[
        str | None, Field(max_length=40, description="An investigation's case number.")
    ] = None
    purpose: Annotated[
        str | None, Field(max_length=40, description="What the list is for (ListPurpose).")
    ] = None
    content: Annotated[
        str,
        Field(
            max_length=MAX_HOTLIST_CHARACTERS,
            description="The file's text (lprx CSV, Genetec, NCIC).",
        ),
    ]
    format: HotlistFormat = HotlistFormat.LPRX
    category: HotlistCategory = HotlistCategory.STOLEN_VEHICLE
    priority: Annotated[int, Field(ge=0, le=1000)] = 50
    covert: bool = False
    snapshot: bool = False
    force: bool = False


class HotlistLoadAnswer(BaseModel):
    list_id: str
    summary: str
    refused: list[str]
    excluded: dict[str, int] = Field(description="Entries dropped by policy, per reason.")


@router.post("/v1/hotlists", tags=["administration"])
def load_hotlist(
    body: HotlistLoadRequest, principal: HotlistAdmin, api: Services
) -> HotlistLoadAnswer:
    """Loads a hotlist owned by the administrator's agency, from a source the law
    allows (audited; a refused load too); entries its jurisdiction excludes are dropped
    and counted."""
    from connectors.hotlist.files import HotlistSource
    from pipelines.services import hotlists

    source = HotlistSource(body.list_id, body.source, principal.agency_ori, body.category,
                           body.priority, body.covert)  # fmt: skip
    declaration = hotlists.Declaration(body.source_kind, body.ncic_file, body.case_number,
                                       body.purpose)  # fmt: skip
    source = hotlists.declared_source(api.settings, source, declaration,
                                      user=principal.username, trail=api.trail)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="lprx-hotlist-") as folder:
        path = Path(folder) / f"{body.list_id}.txt"
        path.write_text(body.content, encoding="utf-8")
        load = hotlists.load_hotlist(
            api.settings, path, source, user=principal.username, file_format=body.format,
            snapshot=body.snapshot, force=body.force, trail=api.trail,
        )  # fmt: skip
    return HotlistLoadAnswer(list_id=load.list_id, summary=load.summary, refused=load.refused,
                             excluded=load.excluded)  # fmt: skip


class AgreementRequest(BaseModel):
    partner_agency_ori: Ori
    hit_categories: Annotated[list[HotlistCategory], Field(max_length=20)] = []
    share_reads: bool = Field(default=False, description="The partner may search our reads.")
    share_covert: bool = False
    excluded_purposes: Annotated[
        list[Annotated[str, Field(max_length=40)]],
        Field(max_length=30, description="Purposes (of a search, or a hit's list) never shared."),
    ] = []
    legal_basis: Annotated[str, Field(min_length=3, max_length=300)]


class AgreementView(BaseModel):
    agreement_id: str
    owner_agency_ori: str
    partner_agency_ori: str
    hit_categories: list[HotlistCategory]
    share_reads: bool
    share_covert: bool
    excluded_purposes: list[str] = []
    effective_from: datetime
    legal_basis: str
    approved_by: str
    proposed_by: str | None = None
    status: str = Field(
        default="in_force", description="in_force, or pending (a widening waiting)."
    )
    widens: list[str] = Field(default=[], description="What a pending change adds.")


@router.post("/v1/agreements", tags=["administration"])
def grant_agreement(
    body: AgreementRequest, principal: AgreementAdmin, api: Services
) -> AgreementView:
    """What the administrator's agency shares with a partner: hits of some categories,
    its reads, or both, less excluded purposes. A narrowing is in force at once; a
    widening (a new partner, categories, reads or covert hits added, a purpose no
    longer excluded) waits for a second approver of the agency (audited). Only the
    agreement is recorded: the partner's Kafka user for its hit topic is the
    consortium operator's (``lprx partners add ORI``)."""
    from pipelines.services import agreements

    if body.partner_agency_ori == principal.agency_ori:
        raise HTTPException(400, "an agency does not share with itself")
    if not body.hit_categories and not body.share_reads:
        raise HTTPException(400, "an agreement shares hits of some categories, reads, or both")
    try:
        made = agreements.change(
            api.settings, api.book, owner=principal.agency_ori, partner=body.partner_agency_ori,
            categories=tuple(body.hit_categories), legal_basis=body.legal_basis,
            actor=principal.username, share_covert=body.share_covert,
            share_reads=body.share_reads,
            excluded_purposes=agreements.parse_purposes(body.excluded_purposes),
        )  # fmt: skip
    except RequestRefused as refused:  # a barred receiver, an unknown purpose
        _audit_denied(api, principal, body.partner_agency_ori, str(refused))
        raise
    if made.pending is not None:
        return _agreement_view(made.pending, "pending", made.widens)
    assert made.in_force is not None  # a change without a widening is in force
    return _agreement_view(made.in_force)


def _agreement_view(
    a: SharingAgreement, status: str = "in_force", widens: list[str] | None = None
) -> AgreementView:
    view = AgreementView.model_validate(a, from_attributes=True)
    return view.model_copy(update={"status": status, "widens": widens or []})


def agreements_of(api: ApiServices, agency: str) -> list[AgreementView]:
    """The agreements of ``agency``, as owner or partner, in force and pending."""
    from schemas.sharing import widenings

    mine = api.book.from_owner(agency) + api.book.to_partner(agency)
    views = [_agreement_view(a) for a in sorted(mine, key=lambda a: a.agreement_id)]
    for pending in sorted(api.book.pending_of(agency), key=lambda a: a.agreement_id):
        widens = widenings(api.book.agreement(pending.agreement_id), pending)
        views.append(_agreement_view(pending, "pending", widens))
    return views


@router.get("/v1/agreements", tags=["administration"])
def list_agreements(
    principal: Annotated[
        Principal,
        Depends(
            allowed(
                Permission.MANAGE_AGREEMENTS,
                Permission.APPROVE_AGREEMENTS,
                Permission.SEARCH_READS,
                Permission.READ_HITS,
            )
        ),
    ],
    api: Services,
) -> list[AgreementView]:
    """The agreements of the caller's agency, as owner or as partner: what each partner
    receives, since when, approved by whom; and the widenings waiting for approval."""
    return agreements_of(api, principal.agency_ori)


@router.post("/v1/agreements/{partner_agency_ori}/approve", tags=["administration"])
def approve_agreement(
    partner_agency_ori: Annotated[str, Field(max_length=9)], principal: AgreementApprover,
    api: Services,
) -> AgreementView:  # fmt: skip
    """Puts the widening waiting in force: a second person of the agency (an
    administrator or a supervisor) approves what another proposed (audited)."""
    from pipelines.services import agreements

    try:
        approved = agreements.approve(
            api.settings, api.book, owner=principal.agency_ori, partner=partner_agency_ori,
            approver=principal.username,
        )  # fmt: skip
    except AccessDenied as denied:
        _audit_denied(api, principal, partner_agency_ori, str(denied))
        raise
    return _agreement_view(approved)


@router.post("/v1/agreements/{partner_agency_ori}/reject", tags=["administration"])
def reject_agreement(
    partner_agency_ori: Annotated[str, Field(max_length=9)], principal: AgreementApprover,
    api: Services,
) -> dict[str, str]:  # fmt: skip
    """Drops the widening waiting; what is in force stays (audited)."""
    from pipelines.services import agreements

    agreements.reject(api.settings, api.book, owner=principal.agency_ori,
                      partner=partner_agency_ori, actor=principal.username)  # fmt: skip
    return {"rejected": f"{principal.agency_ori}->{partner_agency_ori}"}


def _audit_denied(api: ApiServices, principal: Principal, partner: str, reason: str) -> None:
    from pipelines.services.scope import audit_refusal

    audit_refusal(api.trail, AuditEvent(
        event_id=new_id(), occurred_at=utcnow(), actor=principal.username,
        actor_agency_ori=principal.agency_ori, action=AuditAction.AGREEMENT_CHANGE,
        target_kind="agreement", target_id=f"{principal.agency_ori}->{partner}",
        recipient_agency_ori=partner, outcome=AuditOutcome.DENIED, details={"reason": reason},
    ))  # fmt: skip


@router.delete("/v1/agreements/{partner_agency_ori}", tags=["administration"])
def revoke_agreement(
    partner_agency_ori: Annotated[str, Field(max_length=9)], principal: AgreementAdmin,
    api: Services,
) -> dict[str, str]:  # fmt: skip
    """The partner receives and sees nothing more of the administrator's agency; a
    widening waiting is dropped too."""
    from connectors.kafka.agreements import agreement_id
    from pipelines.services import agreements

    agreements.revoke(api.settings, owner=principal.agency_ori, partner=partner_agency_ori,
                      actor=principal.username)  # fmt: skip
    api.book.revoke(agreement_id(principal.agency_ori, partner_agency_ori))
    api.book.drop_pending(agreement_id(principal.agency_ori, partner_agency_ori))
    return {"revoked": agreement_id(principal.agency_ori, partner_agency_ori)}
