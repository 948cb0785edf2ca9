"""Audited look-ups: reads (scoped search), hits, crops, dispositions, the audit trail
and dead letters. Each returns only what the caller's agency may see."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, model_validator

from pipelines.api.deps import Services, allowed
from pipelines.services.scope import Justification
from pipelines.services.scoped import audit_of_agency, crop_of, visible_hits
from pipelines.services.search import Box, Circle, ReadQuery, search_reads
from schemas.people import Permission, Principal, Purpose
from schemas.records import Disposition

router = APIRouter()

CaseNumber = Annotated[str, Field(min_length=3, max_length=40)]
FactualBasis = Annotated[str, Field(min_length=1, max_length=2000)]


class Why(BaseModel):
    purpose: Purpose
    case_number: CaseNumber
    factual_basis: FactualBasis

    def justification(self) -> Justification:
        return Justification(self.purpose, self.case_number, self.factual_basis)


class BoxIn(BaseModel):
    south: Annotated[float, Field(ge=-90, le=90)]
    west: Annotated[float, Field(ge=-180, le=180)]
    north: Annotated[float, Field(ge=-90, le=90)]
    east: Annotated[float, Field(ge=-180, le=180)]


class CircleIn(BaseModel):
    latitude: Annotated[float, Field(ge=-90, le=90)]
    longitude: Annotated[float, Field(ge=-180, le=180)]
    radius_m: Annotated[float, Field(gt=0, le=100_000)]


class SearchRequest(Why):
    plate: Annotated[str | None, Field(max_length=20, description="Full, or with * and ?")] = None
    start: datetime
    end: datetime
    box: BoxIn | None = None
    circle: CircleIn | None = None
    agencies: Annotated[list[Annotated[str, Field(max_length=9)]], Field(max_length=50)] = []
    limit: Annotated[int, Field(ge=1, le=10_000)] = 50
    cursor: Annotated[str | None, Field(max_length=200)] = None

    @model_validator(mode="after")
    def _aware(self) -> SearchRequest:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end need a time zone")
        return self


class ReadOut(BaseModel):
    read_id: str
    plate: str
    collected_at: datetime
    agency_ori: str
    camera_id: str
    latitude: float | None
    longitude: float | None
    confidence: float
    expires_at: datetime


class SearchAnswer(BaseModel):
    reads: list[ReadOut]
    agencies: list[str]
    next_cursor: str | None
    scan_limited: bool


Investigator = Annotated[Principal, Depends(allowed(Permission.SEARCH_READS))]


@router.post("/v1/reads/search", tags=["reads"])
def search(body: SearchRequest, principal: Investigator, api: Services) -> SearchAnswer:
    """Reads of the caller's agency and of agencies sharing reads with it, by plate
    (full or partial), window and area; audited with the purpose, case number, factual
    basis, the query and the ids returned."""
    query = ReadQuery(
        start=body.start, end=body.end, plate=body.plate,
        box=Box(**body.box.model_dump()) if body.box else None,
        circle=Circle(**body.circle.model_dump()) if body.circle else None,
        agencies=tuple(body.agencies), limit=body.limit, cursor=body.cursor,
    )  # fmt: skip
    page = search_reads(api.store, api.trail, api.book, principal, query, body.justification(),
                        api.settings, policies=api.settings.jurisdiction_policies)  # fmt: skip
    return SearchAnswer(
        reads=[ReadOut.model_validate(r, from_attributes=True) for r in page.reads],
        agencies=page.agencies, next_cursor=page.next_cursor, scan_limited=page.scan_limited,
    )  # fmt: skip


def _json_value(value: Any) -> Any:
    """A driver value as JSON: times in ISO 8601 (UTC), maps as objects, sets as lists."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, set | frozenset | list | tuple):
        return [_json_value(v) for v in value]
    return value


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _json_value(v) for k, v in row.items()}


@router.get("/v1/hits", tags=["hits"])
def hits(
    principal: Annotated[Principal, Depends(allowed(Permission.READ_HITS))],
    api: Services,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """The hits of the caller's agency, and those shared with it by agreement (audited)."""
    return [_jsonable(r) for r in visible_hits(api.store, api.trail, api.book, principal, limit)]


class CropAnswer(BaseModel):
    read_id: str
    agency_ori: str
    camera_id: str
    collected_at: datetime
    expires_at: datetime
    jpeg_base64: str


@router.post("/v1/crops/{read_id}", tags=["reads"])
def crop(
    read_id: Annotated[str, Field(max_length=64)], body: Why,
    principal: Annotated[Principal, Depends(allowed(Permission.READ_CROPS))], api: Services,
) -> CropAnswer:  # fmt: skip
    """The plate crop of a read the caller may see (justified and audited)."""
    found = crop_of(api.store, api.trail, api.book, principal, read_id, body.justification())
    return CropAnswer(
        read_id=found.read_id, agency_ori=found.agency_ori, camera_id=found.camera_id,
        collected_at=found.collected_at, expires_at=found.expires_at,
        jpeg_base64=base64.b64encode(found.jpeg).decode(),
    )  # fmt: skip


class DispositionRequest(BaseModel):
    disposition: Disposition
    note: Annotated[str | None, Field(max_length=500)] = None


@router.post("/v1/hits/{hit_id}/disposition", tags=["hits"])
def dispose(
    hit_id: Annotated[str, Field(max_length=64)], body: DispositionRequest,
    principal: Annotated[Principal, Depends(allowed(Permission.DISPOSE_HITS))], api: Services,
) -> dict[str, str]:  # fmt: skip
    """Records what the caller's agency decided about a hit it holds or received (the
    dispositions stage refuses one of an agency that did not receive it)."""
    from pipelines.services.hits import dispose_hit

    record = dispose_hit(
        api.settings, api.store, hit_id=hit_id, agency=principal.agency_ori,
        user=principal.username, disposition=body.disposition, note=body.note,
    )  # fmt: skip
    return {"hit_id": record.hit_id, "disposition": record.disposition.value}


Day = Annotated[str, Query(pattern=r"^\d{4}-\d{2}-\d{2}$")]


@router.get("/v1/audit", tags=["audit"])
def audit(
    principal: Annotated[
        Principal, Depends(allowed(Permission.READ_AUDIT, Permission.REVIEW_SEARCHES))
    ],
    api: Services,
    day: Day | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """The audit events of the caller's agency on a UTC day (a supervisor: its searches)."""
    from pipelines.services.audit import utc_day

    rows = audit_of_agency(api.store, api.trail, principal, day or utc_day(), limit)
    return [_jsonable(r) for r in rows]


@router.get("/v1/deadletters", tags=["operations"])
def deadletters(
    principal: Annotated[Principal, Depends(allowed(Permission.READ_DEAD_LETTERS))],
    api: Services,
    max_messages: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    """Dead letters without their bytes: stage, reason, source (audited)."""
    from pipelines.services.deadletters import dead_letters

    letters = dead_letters(api.settings, api.trail, principal, max_messages=max_messages,
                           timeout_s=3.0)  # fmt: skip
    return [
        {"dead_letter_id": d.dead_letter_id, "occurred_at": d.occurred_at.isoformat(),
         "stage": d.stage, "error_type": d.error_type, "reason": d.reason[:200],
         "source": f"{d.source_topic}:{d.source_partition}:{d.source_offset}",
         "bytes": len(d.original_value or b"")}
        for d in letters
    ]  # fmt: skip
