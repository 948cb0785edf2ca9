"""The camera registry's changes (13.824 subd. 8), made by an agency administrator.

Registering a reader records its kind, install date and (a fixed one) location, and
makes the BCA notice due ten days after installation; moving a fixed reader records its
new location and makes another notice; marking a notice filed records when and under
which reference. Each change is audited (Kafka acknowledged) before it is written, so no
registry change is left unaudited. ``fixed_locations`` is what the public log of use
lists: each fixed reader's current and past locations with their dates.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Protocol

from connectors.kafka.audit import AuditWriter
from schemas.cameras import (
    BcaNotice,
    CameraLocation,
    LocationPeriod,
    NoticeReason,
    RegisteredCamera,
    check_registration,
    location_periods,
    notice_for,
)
from schemas.errors import InvalidRecord, NotFound, RequestRefused, TransientError
from schemas.people import Principal
from schemas.records import AuditAction, AuditEvent, CameraKind, new_id, utcnow

MAX_REFERENCE = 200


class Registry(Protocol):
    """The registry's store (``connectors.cassandra.cameras.CameraRegistry``)."""

    def save_camera(self, camera: RegisteredCamera) -> None: ...
    def save_location(self, agency_ori: str, camera_id: str, location: CameraLocation,
                      by: str, at: datetime) -> None: ...  # fmt: skip
    def save_notice(self, notice: BcaNotice) -> None: ...
    def camera(self, agency_ori: str, camera_id: str) -> RegisteredCamera | None: ...
    def cameras(self, agency_ori: str) -> list[RegisteredCamera]: ...
    def locations(self, agency_ori: str) -> dict[str, list[CameraLocation]]: ...
    def notices(self, agency_ori: str) -> list[BcaNotice]: ...
    def notice(self, agency_ori: str, notice_id: str) -> BcaNotice | None: ...


def _where(location: CameraLocation | None) -> dict[str, str]:
    if location is None:
        return {}
    return {"latitude": f"{location.latitude:.6f}", "longitude": f"{location.longitude:.6f}",
            "location": location.description, "since": location.since.isoformat()}  # fmt: skip


def _audit(trail: AuditWriter, actor: Principal, kind: str, target: str,
           details: dict[str, str]) -> None:  # fmt: skip
    event = AuditEvent(
        event_id=new_id(), occurred_at=utcnow(), actor=actor.username,
        actor_agency_ori=actor.agency_ori, action=AuditAction.OTHER, target_kind=kind,
        target_id=target, details=details,
    )  # fmt: skip
    try:
        trail.record_acknowledged(event)
    except TransientError as error:
        raise TransientError(
            f"the audit trail could not be written, so the registry was not changed ({error})"
        ) from error


def _notice_details(notice: BcaNotice) -> dict[str, str]:
    return {"notice_id": notice.notice_id, "notice_reason": notice.reason.value,
            "notice_due_on": notice.due_on.isoformat()}  # fmt: skip


def refuse_if_registered(registry: Registry, agency_ori: str, camera_id: str) -> None:
    """Before a credential is made: a camera in service is moved, not registered again."""
    found = registry.camera(agency_ori, camera_id)
    if found is not None and found.retired_on is None:
        raise RequestRefused(f"camera {camera_id} of {agency_ori} is registered; move it instead")


@dataclass(frozen=True)
class Registration:
    """A registration checked, not yet recorded: the camera, where it stands, its notice."""

    camera: RegisteredCamera
    location: CameraLocation | None
    notice: BcaNotice


def plan_registration(
    registry: Registry,
    actor: Principal,
    camera_id: str,
    kind: CameraKind,
    installed_on: date,
    location: CameraLocation | None,
    owner: str | None = None,
    now: datetime | None = None,
) -> Registration:
    """A new reader of the administrator's agency checked (``RequestRefused`` if it may
    not be registered so), and the BCA notice it will make; nothing written yet."""
    now = now or utcnow()
    try:
        location = location.checked() if location is not None else None
        check_registration(kind, location)
    except InvalidRecord as error:
        raise RequestRefused(str(error)) from error
    if installed_on > now.date():
        raise RequestRefused("the install date is in the future: register a camera once installed")
    refuse_if_registered(registry, actor.agency_ori, camera_id)
    camera = RegisteredCamera(actor.agency_ori, camera_id, kind, installed_on, actor.username,
                              now, owner=owner)  # fmt: skip
    if location is not None:
        location = replace(location, since=installed_on)
    notice = notice_for(camera, NoticeReason.INSTALLED, installed_on, location, new_id(),
                        actor.username, now)  # fmt: skip
    return Registration(camera, location, notice)


def record_registration(registry: Registry, trail: AuditWriter, actor: Principal,
                        planned: Registration) -> None:  # fmt: skip
    """The registration audited, then written."""
    camera, location, notice = planned.camera, planned.location, planned.notice
    _audit(trail, actor, "camera", camera.camera_id, {
        "change": "registered", "kind": camera.kind.value,
        "installed_on": camera.installed_on.isoformat(), **_where(location),
        **_notice_details(notice),
    })  # fmt: skip
    registry.save_camera(camera)
    if location is not None:
        registry.save_location(actor.agency_ori, camera.camera_id, location, actor.username,
                               camera.registered_at)  # fmt: skip
    registry.save_notice(notice)


def _in_service(registry: Registry, actor: Principal, camera_id: str) -> RegisteredCamera:
    camera = registry.camera(actor.agency_ori, camera_id)
    if camera is None or camera.retired_on is not None:
        raise NotFound(f"no camera {camera_id} of {actor.agency_ori} in service in the registry")
    return camera


def move(
    registry: Registry,
    trail: AuditWriter,
    actor: Principal,
    camera_id: str,
    location: CameraLocation,
    now: datetime | None = None,
) -> BcaNotice:
    """A fixed reader at a new location from ``location.since``; the notice it makes."""
    now = now or utcnow()
    camera = _in_service(registry, actor, camera_id)
    if not camera.fixed:
        raise RequestRefused(f"camera {camera_id} is a {camera.kind.value}: only a fixed camera "
                             "has a registered location")  # fmt: skip
    try:
        location = location.checked()
    except InvalidRecord as error:
        raise RequestRefused(str(error)) from error
    history = registry.locations(actor.agency_ori).get(camera_id, [])
    latest = max((loc.since for loc in history), default=camera.installed_on)
    if not latest <= location.since <= now.date():
        raise RequestRefused(f"a move is dated from {latest.isoformat()} (the camera's last "
                             "location) to today")  # fmt: skip
    notice = notice_for(camera, NoticeReason.MOVED, location.since, location, new_id(),
                        actor.username, now)  # fmt: skip
    _audit(trail, actor, "camera", camera_id,
           {"change": "moved", **_where(location), **_notice_details(notice)})  # fmt: skip
    registry.save_location(actor.agency_ori, camera_id, location, actor.username, now)
    registry.save_notice(notice)
    return notice


def retire(registry: Registry, actor: Principal, camera_id: str, on: date) -> bool:
    """The reader out of service from ``on`` (its credential revoked; audited with that):
    its last location's period ends. False when the camera was never registered."""
    camera = registry.camera(actor.agency_ori, camera_id)
    if camera is None or camera.retired_on is not None:
        return False
    registry.save_camera(replace(camera, retired_on=on, retired_by=actor.username))
    return True


def notices(registry: Registry, agency_ori: str, *, pending_only: bool) -> list[BcaNotice]:
    """The agency's notices, the soonest due first."""
    found = [n for n in registry.notices(agency_ori) if n.pending or not pending_only]
    return sorted(found, key=lambda n: (n.due_on, n.camera_id, n.notice_id))


def mark_filed(
    registry: Registry,
    trail: AuditWriter,
    actor: Principal,
    notice_id: str,
    filed_on: date,
    reference: str,
    now: datetime | None = None,
) -> BcaNotice:
    """The notice filed with the BCA on ``filed_on``, under ``reference`` (audited)."""
    now = now or utcnow()
    notice = registry.notice(actor.agency_ori, notice_id)
    if notice is None:
        raise NotFound(f"no BCA notice {notice_id} of {actor.agency_ori}")
    if not notice.pending:
        raise RequestRefused(f"notice {notice_id} was filed on {notice.filed_on}")
    text = " ".join(reference.split())
    if not 1 <= len(text) <= MAX_REFERENCE:
        raise RequestRefused(f"the filing reference has 1-{MAX_REFERENCE} characters")
    if not notice.event_on <= filed_on <= now.date():
        raise RequestRefused("a notice is filed on or after its event, and not in the future")
    filed = replace(notice, filed_on=filed_on, filed_by=actor.username, filing_reference=text)
    _audit(trail, actor, "bca_notice", notice_id, {
        "change": "filed", "camera_id": notice.camera_id, "filed_on": filed_on.isoformat(),
        "reference": text, "late": str(filed_on > notice.due_on).lower(),
    })  # fmt: skip
    registry.save_notice(filed)
    return filed


def fixed_locations(registry: Registry, agency_ori: str) -> list[LocationPeriod]:
    """Every fixed reader's current and past locations with dates (public by law)."""
    history = registry.locations(agency_ori)
    periods: list[LocationPeriod] = []
    for camera in sorted(registry.cameras(agency_ori), key=lambda c: c.camera_id):
        if camera.fixed:
            periods += location_periods(camera, history.get(camera.camera_id, []))
    return periods
