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

from pipelines.api.deps import Services, allowed
from pipelines.services.hotlists import HotlistFormat
from schemas.people import Permission, Principal
from schemas.records import HotlistCategory

router = APIRouter()

Ori = Annotated[str, Field(min_length=9, max_length=9, pattern=r"^[A-Z]{2}[A-Z0-9]{7}$")]
HotlistAdmin = Annotated[Principal, Depends(allowed(Permission.LOAD_HOTLISTS))]
AgreementAdmin = Annotated[Principal, Depends(allowed(Permission.MANAGE_AGREEMENTS))]
MAX_HOTLIST_CHARACTERS = 20_000_000


class HotlistLoadRequest(BaseModel):
    list_id: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")]
    source: Annotated[str, Field(min_length=1, max_length=200)]
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


@router.post("/v1/hotlists", tags=["administration"])
def load_hotlist(
    body: HotlistLoadRequest, principal: HotlistAdmin, api: Services
) -> HotlistLoadAnswer:
    """Loads a hotlist owned by the administrator's agency (audited)."""
    from connectors.hotlist.files import HotlistSource
    from pipelines.services import hotlists

    source = HotlistSource(body.list_id, body.source, principal.agency_ori, body.category,
                           body.priority, body.covert)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="lprx-hotlist-") as folder:
        path = Path(folder) / f"{body.list_id}.txt"
        path.write_text(body.content, encoding="utf-8")
        load = hotlists.load_hotlist(
            api.settings, path, source, user=principal.username, file_format=body.format,
            snapshot=body.snapshot, force=body.force, trail=api.trail,
        )  # fmt: skip
    return HotlistLoadAnswer(list_id=load.list_id, summary=load.summary, refused=load.refused)


class AgreementRequest(BaseModel):
    partner_agency_ori: Ori
    hit_categories: Annotated[list[HotlistCategory], Field(max_length=20)] = []
    share_reads: bool = Field(default=False, description="The partner may search our reads.")
    share_covert: bool = False
    legal_basis: Annotated[str, Field(min_length=3, max_length=300)]


class AgreementView(BaseModel):
    agreement_id: str
    owner_agency_ori: str
    partner_agency_ori: str
    hit_categories: list[HotlistCategory]
    share_reads: bool
    share_covert: bool
    effective_from: datetime
    legal_basis: str
    approved_by: str


@router.post("/v1/agreements", tags=["administration"])
def grant_agreement(
    body: AgreementRequest, principal: AgreementAdmin, api: Services
) -> AgreementView:
    """What the administrator's agency shares with a partner: hits of some categories,
    its reads, or both; in force at once, approved by the administrator (audited). Only
    the agreement is recorded: the partner's Kafka user for its hit topic is the
    consortium operator's (``lprx partners add ORI``)."""
    from pipelines.services import agreements

    if body.partner_agency_ori == principal.agency_ori:
        raise HTTPException(400, "an agency does not share with itself")
    if not body.hit_categories and not body.share_reads:
        raise HTTPException(400, "an agreement shares hits of some categories, reads, or both")
    agreement = agreements.grant(
        api.settings, owner=principal.agency_ori, partner=body.partner_agency_ori,
        categories=tuple(body.hit_categories), legal_basis=body.legal_basis,
        approved_by=principal.username, share_covert=body.share_covert,
        share_reads=body.share_reads,
    )  # fmt: skip
    api.book.put(agreement)  # in force here at once; the follower confirms it
    return _agreement_view(agreement)


def _agreement_view(a: object) -> AgreementView:
    return AgreementView.model_validate(a, from_attributes=True)


@router.get("/v1/agreements", tags=["administration"])
def list_agreements(
    principal: Annotated[
        Principal,
        Depends(
            allowed(Permission.MANAGE_AGREEMENTS, Permission.SEARCH_READS, Permission.READ_HITS)
        ),
    ],
    api: Services,
) -> list[AgreementView]:
    """The agreements of the caller's agency, as owner or as partner."""
    agency = principal.agency_ori
    mine = api.book.from_owner(agency) + api.book.to_partner(agency)
    return [_agreement_view(a) for a in sorted(mine, key=lambda a: a.agreement_id)]


@router.delete("/v1/agreements/{partner_agency_ori}", tags=["administration"])
def revoke_agreement(
    partner_agency_ori: Annotated[str, Field(max_length=9)], principal: AgreementAdmin,
    api: Services,
) -> dict[str, str]:  # fmt: skip
    """The partner receives and sees nothing more of the administrator's agency."""
    from connectors.kafka.agreements import agreement_id
    from pipelines.services import agreements

    agreements.revoke(api.settings, owner=principal.agency_ori, partner=partner_agency_ori,
                      actor=principal.username)  # fmt: skip
    api.book.revoke(agreement_id(principal.agency_ori, partner_agency_ori))
    return {"revoked": agreement_id(principal.agency_ori, partner_agency_ori)}
