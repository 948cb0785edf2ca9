"""The camera registry and the BCA notice (Minnesota Statutes 13.824 subd. 8).

An agency registers each reader it installs or uses: its kind (fixed, squad car,
trailer, partner-owned), its install date, and for a fixed reader where it stands
(latitude, longitude and a description) with the history of its moves. The agency must
notify the Bureau of Criminal Apprehension within ``NOTICE_DAYS`` of installing or using
a reader, with the location of any fixed one: a new reader of any kind, and a fixed
reader moved to a new location, each make a ``BcaNotice`` due ten days after the event,
pending until the administrator marks it filed. The public log of use lists the current
and past locations of fixed readers (``location_periods``).

The registry describes cameras, never what they read: no plate, read or person.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from schemas.errors import InvalidRecord
from schemas.records import CameraKind

NOTICE_DAYS = 10
MIN_DESCRIPTION = 3
MAX_DESCRIPTION = 200


class NoticeReason(StrEnum):
    INSTALLED = "INSTALLED"  # a new reader, of any kind
    MOVED = "MOVED"  # a fixed reader at a new location


@dataclass(frozen=True)
class CameraLocation:
    """Where a fixed reader stands from ``since`` (a UTC day) on."""

    latitude: float
    longitude: float
    description: str
    since: date

    def checked(self) -> CameraLocation:
        if not (-90 <= self.latitude <= 90 and -180 <= self.longitude <= 180):
            raise InvalidRecord("a location's latitude is -90..90 and its longitude -180..180")
        text = " ".join(self.description.split())
        if not MIN_DESCRIPTION <= len(text) <= MAX_DESCRIPTION:
            raise InvalidRecord(
                f"a location's description (where a resident would find the camera) has "
                f"{MIN_DESCRIPTION}-{MAX_DESCRIPTION} characters"
            )
        return replace(self, description=text)


@dataclass(frozen=True)
class RegisteredCamera:
    agency_ori: str
    camera_id: str
    kind: CameraKind
    installed_on: date
    registered_by: str
    registered_at: datetime
    owner: str | None = None  # a partner camera's owner
    retired_on: date | None = None
    retired_by: str | None = None

    @property
    def fixed(self) -> bool:
        return self.kind is CameraKind.FIXED


@dataclass(frozen=True)
class LocationPeriod:
    """A fixed reader at one location, from ``since`` until ``until`` (None: still there)."""

    camera_id: str
    location: CameraLocation
    until: date | None


@dataclass(frozen=True)
class BcaNotice:
    """What the agency must file with the BCA by ``due_on``; pending until ``filed_on``."""

    notice_id: str
    agency_ori: str
    camera_id: str
    camera_kind: CameraKind
    reason: NoticeReason
    event_on: date
    due_on: date
    location: CameraLocation | None
    created_at: datetime
    created_by: str
    filed_on: date | None = None
    filed_by: str | None = None
    filing_reference: str | None = None

    @property
    def pending(self) -> bool:
        return self.filed_on is None

    def overdue(self, today: date) -> bool:
        return self.pending and today > self.due_on


def check_registration(kind: CameraKind, location: CameraLocation | None) -> None:
    """A fixed reader is registered with where it stands; the others may not be placed
    (a squad car or trailer moves, a partner's camera is at a resident's home)."""
    if kind is CameraKind.FIXED and location is None:
        raise InvalidRecord("a fixed camera is registered with its latitude, longitude and place")
    if kind is not CameraKind.FIXED and location is not None:
        raise InvalidRecord(f"only a fixed camera has a registered location, not a {kind.value}")


def notice_for(
    camera: RegisteredCamera,
    reason: NoticeReason,
    event_on: date,
    location: CameraLocation | None,
    notice_id: str,
    created_by: str,
    now: datetime,
) -> BcaNotice:
    """The notice an installation or a move makes, due ``NOTICE_DAYS`` after it."""
    if reason is NoticeReason.MOVED and not camera.fixed:
        raise InvalidRecord("only a fixed camera's move is notified")
    return BcaNotice(
        notice_id=notice_id, agency_ori=camera.agency_ori, camera_id=camera.camera_id,
        camera_kind=camera.kind, reason=reason, event_on=event_on,
        due_on=event_on + timedelta(days=NOTICE_DAYS), location=location, created_at=now,
        created_by=created_by,
    )  # fmt: skip


def location_periods(
    camera: RegisteredCamera, history: list[CameraLocation]
) -> list[LocationPeriod]:
    """Each location of a fixed reader with its dates: until the next move, or until the
    reader was retired, or (the current one) open."""
    ordered = sorted(history, key=lambda loc: loc.since)
    ends: list[date | None] = [loc.since for loc in ordered[1:]]
    ends.append(camera.retired_on)
    pairs = zip(ordered, ends, strict=True)
    return [LocationPeriod(camera.camera_id, loc, until) for loc, until in pairs]
