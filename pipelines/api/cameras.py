"""An agency administrator's cameras: their ingest credentials and their registry entry
(13.824 subd. 8: kind, install date, a fixed camera's location and moves), and the BCA
notices those make, due ten days after each installation or move. Every change is
audited with the administrator's login."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, model_validator

from pipelines.api.deps import Services, allowed
from schemas.cameras import MAX_DESCRIPTION, BcaNotice, CameraLocation, NoticeReason
from schemas.errors import ConfigurationError, NotFound, RequestRefused
from schemas.people import Permission, Principal
from schemas.records import AuditAction, AuditEvent, CameraKind, new_id, utcnow

if TYPE_CHECKING:
    from pipelines.api.deps import ApiServices
    from pipelines.services.cameras import Registry

router = APIRouter()

CameraAdmin = Annotated[Principal, Depends(allowed(Permission.MANAGE_CAMERAS))]
CameraId = Annotated[str, Field(max_length=64)]
Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]
Place = Annotated[str, Field(min_length=3, max_length=MAX_DESCRIPTION)]


def _camera_event(principal: Principal, camera_id: str, details: dict[str, str]) -> AuditEvent:
    return AuditEvent(
        event_id=new_id(), occurred_at=utcnow(), actor=principal.username,
        actor_agency_ori=principal.agency_ori, action=AuditAction.OTHER, target_kind="camera",
        target_id=camera_id, details=details,
    )  # fmt: skip


def _registry(api: ApiServices) -> Registry:
    if api.cameras is None:
        raise ConfigurationError("this API has no camera registry")
    return api.cameras


class CameraRequest(BaseModel):
    camera_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
    kind: CameraKind = CameraKind.FIXED
    rate_per_minute: Annotated[int, Field(ge=1, le=100_000)] = 600
    owner: Annotated[
        str | None, Field(min_length=1, max_length=200, description="A partner uploader's owner.")
    ] = None
    consent_ref: Annotated[
        str | None, Field(min_length=1, max_length=100, description="Its consent reference.")
    ] = None
    installed_on: date | None = Field(default=None, description="Default: today (UTC).")
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    location: Place | None = Field(default=None, description="Where a resident finds it.")

    @model_validator(mode="after")
    def _whole_location(self) -> CameraRequest:
        given = [self.latitude is not None, self.longitude is not None, self.location is not None]
        if any(given) and not all(given):
            raise ValueError("a location is a latitude, a longitude and a description")
        return self

    def place(self, since: date) -> CameraLocation | None:
        if self.latitude is None or self.longitude is None or self.location is None:
            return None
        return CameraLocation(self.latitude, self.longitude, self.location, since)


class LocationView(BaseModel):
    latitude: float
    longitude: float
    description: str
    since: date


class CameraView(BaseModel):
    camera_id: str
    kind: CameraKind
    uploader: str | None
    rate_per_minute: int
    created_at: datetime
    rotated_at: datetime | None
    revoked_at: datetime | None
    registered: bool = False
    installed_on: date | None = None
    retired_on: date | None = None
    location: LocationView | None = None


class NoticeView(BaseModel):
    notice_id: str
    camera_id: str
    camera_kind: CameraKind
    reason: NoticeReason
    event_on: date
    due_on: date
    location: LocationView | None
    created_by: str
    filed_on: date | None
    filed_by: str | None
    filing_reference: str | None
    overdue: bool


def _location_view(loc: CameraLocation | None) -> LocationView | None:
    if loc is None:
        return None
    return LocationView(latitude=loc.latitude, longitude=loc.longitude,
                        description=loc.description, since=loc.since)  # fmt: skip


def _notice_view(n: BcaNotice) -> NoticeView:
    return NoticeView(
        notice_id=n.notice_id, camera_id=n.camera_id, camera_kind=n.camera_kind,
        reason=n.reason, event_on=n.event_on, due_on=n.due_on,
        location=_location_view(n.location), created_by=n.created_by, filed_on=n.filed_on,
        filed_by=n.filed_by, filing_reference=n.filing_reference,
        overdue=n.overdue(utcnow().date()),
    )  # fmt: skip


@router.post("/v1/cameras", tags=["cameras"])
def add_camera(body: CameraRequest, principal: CameraAdmin, api: Services) -> dict[str, str]:
    """A camera of the administrator's agency, registered (kind, install date, a fixed
    one's location) with the BCA notice it makes; its ingest token is returned once."""
    from connectors.ingest.credentials import CredentialFile
    from pipelines.services import cameras

    registry = _registry(api)
    installed = body.installed_on or utcnow().date()
    planned = cameras.plan_registration(
        registry, principal, body.camera_id, body.kind, installed, body.place(installed),
        owner=body.owner,
    )  # fmt: skip
    try:
        token = CredentialFile(api.settings.camera_credentials_path).add(
            principal.agency_ori, body.camera_id, body.kind, rate_per_minute=body.rate_per_minute,
            owner=body.owner, consent_ref=body.consent_ref,
        )  # fmt: skip
    except ConfigurationError as error:  # the camera exists, say
        raise RequestRefused(str(error)) from error
    api.trail.record_acknowledged(_camera_event(principal, body.camera_id,
                                                {"change": "credential added"}))  # fmt: skip
    cameras.record_registration(registry, api.trail, principal, planned)
    notice = planned.notice
    return {"camera_id": body.camera_id, "agency_ori": principal.agency_ori, "token": token,
            "notice_id": notice.notice_id, "notice_due_on": notice.due_on.isoformat()}  # fmt: skip


class RegisterRequest(BaseModel):
    installed_on: date
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    location: Place | None = None

    @model_validator(mode="after")
    def _whole_location(self) -> RegisterRequest:
        given = [self.latitude is not None, self.longitude is not None, self.location is not None]
        if any(given) and not all(given):
            raise ValueError("a location is a latitude, a longitude and a description")
        return self


@router.post("/v1/cameras/{camera_id}/register", tags=["cameras"])
def register_camera(
    camera_id: CameraId, body: RegisterRequest, principal: CameraAdmin, api: Services
) -> NoticeView:
    """A camera with a credential from before the registry, registered with its kind (the
    credential's), install date and, a fixed one, location; the BCA notice it makes."""
    from connectors.ingest.credentials import CredentialFile
    from pipelines.services import cameras

    credentials = CredentialFile(api.settings.camera_credentials_path).load().values()
    mine = [c for c in credentials if c.active and (c.agency_ori, c.camera_id) ==
            (principal.agency_ori, camera_id)]  # fmt: skip
    if not mine:
        raise NotFound(f"no active credential for camera {camera_id} of {principal.agency_ori}")
    place = None
    if body.latitude is not None and body.longitude is not None and body.location is not None:
        place = CameraLocation(body.latitude, body.longitude, body.location, body.installed_on)
    registry = _registry(api)
    planned = cameras.plan_registration(registry, principal, camera_id, mine[0].camera_kind,
                                        body.installed_on, place, owner=mine[0].owner)  # fmt: skip
    cameras.record_registration(registry, api.trail, principal, planned)
    return _notice_view(planned.notice)


@router.delete("/v1/cameras/{camera_id}", tags=["cameras"])
def revoke_camera(camera_id: CameraId, principal: CameraAdmin, api: Services) -> dict[str, str]:
    """The camera's token stops working within seconds; in the registry, it is retired
    today (its last location's period ends)."""
    from connectors.ingest.credentials import CredentialFile
    from pipelines.services import cameras

    try:
        CredentialFile(api.settings.camera_credentials_path).revoke(principal.agency_ori, camera_id)
    except ConfigurationError as error:  # no such camera of this agency
        raise NotFound(str(error)) from error
    today = utcnow().date()
    retired = api.cameras is not None and cameras.retire(api.cameras, principal, camera_id, today)
    details = {"change": "credential revoked"}
    if retired:
        details["retired_on"] = today.isoformat()
    api.trail.record_acknowledged(_camera_event(principal, camera_id, details))
    return {"revoked": camera_id}


@router.post("/v1/cameras/{camera_id}/rotate", tags=["cameras"])
def rotate_camera(camera_id: CameraId, principal: CameraAdmin, api: Services) -> dict[str, str]:
    """A new token for the camera (returned once); the old one stops working in seconds."""
    from connectors.ingest.credentials import CredentialFile

    try:
        token = CredentialFile(api.settings.camera_credentials_path).rotate(
            principal.agency_ori, camera_id
        )
    except ConfigurationError as error:
        raise NotFound(str(error)) from error
    api.trail.record_acknowledged(_camera_event(principal, camera_id,
                                                {"change": "credential rotated"}))  # fmt: skip
    return {"camera_id": camera_id, "agency_ori": principal.agency_ori, "token": token}


class MoveRequest(BaseModel):
    latitude: Latitude
    longitude: Longitude
    location: Place
    moved_on: date | None = Field(default=None, description="Default: today (UTC).")


@router.post("/v1/cameras/{camera_id}/move", tags=["cameras"])
def move_camera(
    camera_id: CameraId, body: MoveRequest, principal: CameraAdmin, api: Services
) -> NoticeView:
    """A fixed camera at a new location (audited); the BCA notice the move makes."""
    from pipelines.services import cameras

    since = body.moved_on or utcnow().date()
    where = CameraLocation(body.latitude, body.longitude, body.location, since)
    return _notice_view(cameras.move(_registry(api), api.trail, principal, camera_id, where))


@router.get("/v1/cameras", tags=["cameras"])
def list_cameras(principal: CameraAdmin, api: Services) -> list[CameraView]:
    """The cameras of the administrator's agency: credentials (never a secret) and
    registry entries."""
    from connectors.ingest.credentials import CredentialFile

    credentials = CredentialFile(api.settings.camera_credentials_path).load().values()
    mine = sorted((c for c in credentials if c.agency_ori == principal.agency_ori),
                  key=lambda c: (c.camera_id, c.created_at))  # fmt: skip
    registry = _registry(api)
    entries = {c.camera_id: c for c in registry.cameras(principal.agency_ori)}
    places = registry.locations(principal.agency_ori)
    views = []
    for c in mine:
        entry = entries.get(c.camera_id)
        history = places.get(c.camera_id, [])
        views.append(CameraView(
            camera_id=c.camera_id, kind=c.camera_kind,
            uploader=f"{c.owner} ({c.consent_ref})" if c.uploader else None,
            rate_per_minute=c.rate_per_minute, created_at=c.created_at,
            rotated_at=c.rotated_at, revoked_at=c.revoked_at, registered=entry is not None,
            installed_on=entry.installed_on if entry else None,
            retired_on=entry.retired_on if entry else None,
            location=_location_view(max(history, key=lambda loc: loc.since, default=None)),
        ))  # fmt: skip
    return views


@router.get("/v1/camera-notices", tags=["cameras"])
def list_notices(principal: CameraAdmin, api: Services, all: bool = False) -> list[NoticeView]:
    """The BCA notices of the administrator's agency, pending ones (or all), soonest due
    first."""
    from pipelines.services import cameras

    found = cameras.notices(_registry(api), principal.agency_ori, pending_only=not all)
    return [_notice_view(n) for n in found]


class FiledRequest(BaseModel):
    filed_on: date | None = Field(default=None, description="Default: today (UTC).")
    reference: Annotated[
        str,
        Field(
            min_length=1, max_length=200, description="The BCA's receipt or the letter's reference."
        ),
    ]


@router.post("/v1/camera-notices/{notice_id}/filed", tags=["cameras"])
def notice_filed(
    notice_id: Annotated[str, Field(max_length=64)], body: FiledRequest,
    principal: CameraAdmin, api: Services,
) -> NoticeView:  # fmt: skip
    """The notice filed with the BCA (audited)."""
    from pipelines.services import cameras

    filed_on = body.filed_on or utcnow().date()
    return _notice_view(cameras.mark_filed(_registry(api), api.trail, principal, notice_id,
                                           filed_on, body.reference))  # fmt: skip
