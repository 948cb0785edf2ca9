"""Holds (13.824 subd. 3) placed, reviewed and released by a supervisor of the agency;
the audit chain verified by an auditor of the agency; the public log of use (no login,
no plate data). Every step is audited with the person's login before it is done."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field, model_validator

from pipelines.api.deps import Services, allowed
from schemas.errors import ConfigurationError, RequestRefused
from schemas.holds import Hold, HoldKind, HoldStatus
from schemas.people import Permission, Principal

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from pipelines.api.deps import ApiServices
    from pipelines.services.audit_chain import ChainStore
    from pipelines.services.holds import Holds
    from pipelines.services.transparency import UsageSource

router = APIRouter()

Supervisor = Annotated[Principal, Depends(allowed(Permission.HOLD_READS))]
Auditor = Annotated[Principal, Depends(allowed(Permission.VERIFY_AUDIT))]
HoldId = Annotated[str, Field(min_length=1, max_length=64)]
Day = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]
Note = Annotated[str, Field(min_length=1, max_length=2000)]
MAX_REPORT_DAYS = 366


def _aware(when: datetime | None) -> datetime | None:
    return None if when is None else when.replace(tzinfo=when.tzinfo or UTC)


class HoldRequest(BaseModel):
    case_number: Annotated[str, Field(min_length=1, max_length=40)]
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    plate: Annotated[str, Field(min_length=1, max_length=20)]
    read_ids: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=1000)] = []
    window_from: datetime | None = None
    window_to: datetime | None = None
    review_by: datetime | None = Field(default=None, description="Default: in 90 days.")

    def hold(self, kind: HoldKind, requester: str | None = None,
             statement: str | None = None) -> Hold:  # fmt: skip
        now = datetime.now(UTC)
        return Hold(
            hold_id="", agency_ori="", kind=kind, case_number=self.case_number,
            reason=self.reason, placed_by="", placed_at=now,
            review_by=_aware(self.review_by) or now + timedelta(days=90), plate=self.plate,
            window_from=_aware(self.window_from), window_to=_aware(self.window_to),
            read_ids=frozenset(self.read_ids), requester=requester, statement=statement,
        )  # fmt: skip


class PreserveRequest(BaseModel):
    case_number: Annotated[str, Field(min_length=1, max_length=40)]
    requester: Annotated[str, Field(min_length=1, max_length=200)]
    statement: Annotated[str, Field(min_length=1, max_length=10_000)]
    plate: Annotated[str, Field(min_length=1, max_length=20)]
    read_ids: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=1000)] = []
    window_from: datetime | None = None
    window_to: datetime | None = None
    review_by: datetime | None = None


class HoldView(BaseModel):
    hold_id: str
    agency_ori: str
    kind: HoldKind
    case_number: str
    reason: str
    plate: str
    window_from: datetime | None
    window_to: datetime | None
    read_ids: list[str]
    requester: str | None
    placed_by: str
    placed_at: datetime
    review_by: datetime
    held_until: datetime
    status: HoldStatus
    released_by: str | None
    released_at: datetime | None


class HoldAnswer(BaseModel):
    hold: HoldView
    kept: int
    restored: int
    deleted: int


def _view(h: Hold) -> HoldView:
    return HoldView(
        hold_id=h.hold_id, agency_ori=h.agency_ori, kind=h.kind, case_number=h.case_number,
        reason=h.reason, plate=h.plate, window_from=h.window_from, window_to=h.window_to,
        read_ids=sorted(h.read_ids), requester=h.requester, placed_by=h.placed_by,
        placed_at=h.placed_at, review_by=h.review_by, held_until=h.held_until, status=h.status,
        released_by=h.released_by, released_at=h.released_at,
    )  # fmt: skip


def _answer(result: object) -> HoldAnswer:
    from pipelines.services.holds import HoldResult

    assert isinstance(result, HoldResult)
    return HoldAnswer(hold=_view(result.hold), kept=result.kept, restored=result.restored,
                      deleted=result.deleted)  # fmt: skip


def _holds(api: ApiServices) -> Holds:
    if api.holds is None:
        raise ConfigurationError("this API has no hold store")
    return api.holds


@router.post("/v1/holds", tags=["holds"])
def place_hold(body: HoldRequest, principal: Supervisor, api: Services) -> HoldAnswer:
    """An investigative hold of the supervisor's agency on reads of a plate (named, or
    in a window): they are kept until the review date plus grace (audited)."""
    from pipelines.services import holds

    hold = body.hold(HoldKind.INVESTIGATIVE)
    return _answer(holds.place(_holds(api), api.trail, principal, hold))


@router.post("/v1/holds/preserve", tags=["holds"])
def preserve(body: PreserveRequest, principal: Supervisor, api: Services) -> HoldAnswer:
    """An exculpatory preservation request, recorded as received, and its data kept."""
    from pipelines.services import holds

    request = HoldRequest(
        case_number=body.case_number, reason=f"exculpatory preservation requested by "
        f"{body.requester}", plate=body.plate, read_ids=body.read_ids,
        window_from=body.window_from, window_to=body.window_to, review_by=body.review_by,
    )  # fmt: skip
    hold = request.hold(HoldKind.EXCULPATORY, body.requester, body.statement)
    return _answer(holds.place(_holds(api), api.trail, principal, hold))


@router.get("/v1/holds", tags=["holds"])
def list_holds(principal: Supervisor, api: Services, all: bool = False) -> list[HoldView]:
    """The holds of the supervisor's agency (audited: they name plates)."""
    from pipelines.services import holds

    return [_view(h) for h in holds.listing(_holds(api), api.trail, principal, active_only=not all)]


@router.get("/v1/holds/due", tags=["holds"])
def due_holds(
    principal: Supervisor, api: Services,
    within_days: Annotated[int, Query(ge=0, le=366)] = 14,
) -> list[HoldView]:  # fmt: skip
    """Active holds whose review is due within ``within_days`` (or overdue)."""
    from pipelines.services import holds

    within = timedelta(days=within_days)
    return [_view(h) for h in holds.due(_holds(api), api.trail, principal, within)]


class ReviewRequest(BaseModel):
    review_by: datetime
    note: Note


@router.post("/v1/holds/{hold_id}/review", tags=["holds"])
def review_hold(
    hold_id: HoldId, body: ReviewRequest, principal: Supervisor, api: Services
) -> HoldAnswer:
    """The hold reviewed and kept: its next review date; its reads kept until then."""
    from pipelines.services import holds

    when = _aware(body.review_by)
    assert when is not None
    return _answer(holds.review(_holds(api), api.trail, principal, hold_id, when, body.note))


class ReleaseRequest(BaseModel):
    note: Note


@router.post("/v1/holds/{hold_id}/release", tags=["holds"])
def release_hold(
    hold_id: HoldId, body: ReleaseRequest, principal: Supervisor, api: Services
) -> HoldAnswer:
    """Ends the hold: its reads expire at their original date, or now if it has passed."""
    from pipelines.services import holds

    return _answer(holds.release(_holds(api), api.trail, principal, hold_id, body.note))


class VerifyRequest(BaseModel):
    from_day: Day | None = None
    to_day: Day | None = None
    public_keys_pem: Annotated[
        list[Annotated[str, Field(max_length=2000)]],
        Field(max_length=10, description="The verifier's keys; default the published one."),
    ] = []

    @model_validator(mode="after")
    def _ordered(self) -> VerifyRequest:
        if self.from_day and self.to_day and self.from_day > self.to_day:
            raise ValueError("from_day is after to_day")
        return self


class FindingView(BaseModel):
    kind: str
    detail: str
    seq: int | None
    event_id: str | None


class VerifyAnswer(BaseModel):
    chain: str
    from_day: str
    to_day: str
    intact: bool
    anchor: str
    events_checked: int
    last_seq: int | None
    checkpoints_checked: int
    keys_used: int
    findings: list[FindingView]


def _public_keys(api: ApiServices, pems: list[str]) -> list[Ed25519PublicKey]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from connectors.security.signing import load_public_key, public_key_file

    if not pems:
        published = public_key_file(api.settings.secrets_dir)
        return [load_public_key(published)] if published.exists() else []
    keys = []
    for pem in pems:
        try:
            key = serialization.load_pem_public_key(pem.encode())
        except ValueError as error:
            raise RequestRefused(f"not a PEM public key: {error}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise RequestRefused("a checkpoint key is an Ed25519 public key")
        keys.append(key)
    return keys


def _chain(api: ApiServices) -> ChainStore:
    if api.chain is None:
        raise ConfigurationError("this API has no audit chain store")
    return api.chain


@router.post("/v1/audit/verify", tags=["audit"])
def verify_audit(body: VerifyRequest, principal: Auditor, api: Services) -> VerifyAnswer:
    """Proves an interval of the auditor's agency's chain intact, or lists the findings,
    first one first (the check is audited)."""
    from connectors.security.signing import key_id
    from pipelines.services.audit import utc_day
    from pipelines.services.audit_chain import verify_audited

    first = body.from_day or utc_day()
    last = body.to_day or body.from_day or utc_day()
    keys = _public_keys(api, body.public_keys_pem)
    result = verify_audited(_chain(api), api.trail, principal, principal.agency_ori, first, last,
                            {key_id(k): k for k in keys})  # fmt: skip
    return VerifyAnswer(
        chain=result.chain, from_day=first, to_day=last, intact=result.intact,
        anchor=result.anchor, events_checked=result.events_checked, last_seq=result.last_seq,
        checkpoints_checked=result.checkpoints_checked, keys_used=len(keys),
        findings=[FindingView(kind=f.kind, detail=f.detail, seq=f.seq, event_id=f.event_id)
                  for f in result.findings],
    )  # fmt: skip


class ReportFormat(StrEnum):
    HTML = "html"
    CSV = "csv"


def _usage(api: ApiServices) -> UsageSource:
    if api.usage is None:
        raise ConfigurationError("this API has no usage counters")
    return api.usage


@router.get("/public/transparency", tags=["public"], response_class=Response)
def transparency(
    api: Services,
    agency: Annotated[str, Query(pattern=r"^[A-Z]{2}[A-Z0-9]{7}$")],
    from_: Annotated[str, Query(alias="from", pattern=r"^\d{4}-\d{2}-\d{2}$")],
    to: Annotated[str, Query(pattern=r"^\d{4}-\d{2}-\d{2}$")],
    format: ReportFormat = ReportFormat.HTML,
) -> Response:
    """The public log of use of an agency (13.824 subd. 5): figures a resident can read,
    no plate data; no login."""
    from pipelines.services import transparency as public

    try:
        first, last = date.fromisoformat(from_), date.fromisoformat(to)
    except ValueError as error:
        raise RequestRefused(f"from and to must be YYYY-MM-DD days: {error}") from None
    if not 0 <= (last - first).days < MAX_REPORT_DAYS:
        raise RequestRefused(f"from..to: up to {MAX_REPORT_DAYS} days, from first")
    from pipelines.services.cameras import fixed_locations

    places = fixed_locations(api.cameras, agency) if api.cameras is not None else []
    found = public.report(_usage(api), _chain(api), agency, from_, to,
                          api.settings.retention_for(agency), places)  # fmt: skip
    if format is ReportFormat.CSV:
        return PlainTextResponse(public.as_csv(found), media_type="text/csv")
    return HTMLResponse(public.as_html(found))
