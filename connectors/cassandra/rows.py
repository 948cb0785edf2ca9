"""Records to the store's rows and back.

Each table's columns are listed once here, in the order of its statements' bind markers
(``writes``) and of the columns its look-ups select (``queries``); a row is a plain tuple
in that order, so mapping one costs no dict or named tuple per row. A write row ends
with its TTL, the one value that is not a column.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from schemas.plates import confusable_key
from schemas.records import (
    AuditAction,
    AuditEvent,
    AuditOutcome,
    CameraKind,
    Classification,
    Hit,
    PlateCandidate,
    PlateCrop,
    PlateRead,
    ReadSource,
)

READ_COLUMNS = (
    "plate", "collected_at", "read_id", "agency_ori", "camera_id", "camera_kind",
    "received_at", "expires_at", "latitude", "longitude", "region", "region_confidence",
    "confidence", "candidates", "plate_box", "image_ref", "source", "source_ref",
    "classification", "frame_count", "duplicates",
)  # fmt: skip
SPELLING_COLUMNS = ("folded_plate", "plate", "collected_at", "read_id")
DAY_COLUMNS = (
    "agency_ori", "day", "collected_at", "read_id", "plate", "camera_id", "latitude",
    "longitude", "confidence", "expires_at",
)  # fmt: skip
CROP_COLUMNS = ("read_id", "agency_ori", "camera_id", "collected_at", "expires_at", "jpeg")
HIT_COLUMNS = (
    "agency_ori", "matched_at", "hit_id", "plate", "read_id", "collected_at", "expires_at",
    "camera_id", "latitude", "longitude", "region", "entry_id", "list_id", "category",
    "priority", "covert", "match_kind", "state_mismatch", "historical", "needs_verification",
)  # fmt: skip
HIT_ID_COLUMNS = ("hit_id", "agency_ori", "matched_at")
AUDIT_COLUMNS = (
    "day", "occurred_at", "event_id", "actor", "actor_agency_ori", "action", "purpose",
    "target_kind", "target_id", "recipient_agency_ori", "outcome", "details",
)  # fmt: skip


def utc(value: datetime) -> datetime:
    """``value`` as an aware UTC time: the driver returns naive datetimes in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def read_row(read: PlateRead, ttl: int) -> tuple[Any, ...]:
    """The ``reads_by_plate`` row of ``read`` (``READ_COLUMNS``), then its TTL."""
    return (
        read.plate, read.collected_at, read.read_id, read.agency_ori, read.camera_id,
        read.camera_kind.value, read.received_at, read.expires_at, read.latitude,
        read.longitude, read.region, read.region_confidence, read.confidence,
        {c.plate: c.confidence for c in read.candidates},
        list(read.plate_box) if read.plate_box else None, read.image_ref,
        read.source.value, read.source_ref, read.classification.value, read.frame_count,
        read.duplicates, ttl,
    )  # fmt: skip


def read_from_row(row: Sequence[Any]) -> PlateRead:
    """The read of a ``reads_by_plate`` row selected as ``READ_COLUMNS``. Candidates come
    back best first (a map keeps no order); a null count means the column's default."""
    (
        plate, collected_at, read_id, agency_ori, camera_id, camera_kind, received_at,
        expires_at, latitude, longitude, region, region_confidence, confidence, candidates,
        box, image_ref, source, source_ref, classification, frame_count, duplicates,
    ) = row  # fmt: skip
    return PlateRead(
        read_id=read_id,
        agency_ori=agency_ori,
        camera_id=camera_id,
        camera_kind=CameraKind(camera_kind),
        collected_at=utc(collected_at),
        received_at=utc(received_at),
        plate=plate,
        confidence=confidence,
        expires_at=utc(expires_at),
        source=ReadSource(source),
        latitude=latitude,
        longitude=longitude,
        region=region,
        region_confidence=region_confidence or 0.0,
        candidates=tuple(
            PlateCandidate(spelling, score)
            for spelling, score in sorted((candidates or {}).items(), key=lambda item: -item[1])
        ),
        plate_box=(box[0], box[1], box[2], box[3]) if box else None,
        image_ref=image_ref,
        source_ref=source_ref,
        classification=Classification(classification),
        frame_count=frame_count or 1,
        duplicates=duplicates or 0,
    )


def spelling_row(read: PlateRead, ttl: int) -> tuple[Any, ...]:
    """The ``plates_by_folded_plate`` row of ``read`` (``SPELLING_COLUMNS``), then its TTL."""
    return (confusable_key(read.plate), read.plate, read.collected_at, read.read_id, ttl)


def read_day(when: datetime) -> str:
    """The UTC day partition of ``reads_by_agency_day`` a time falls in."""
    return when.astimezone(UTC).strftime("%Y-%m-%d")


def day_row(read: PlateRead, ttl: int) -> tuple[Any, ...]:
    """The ``reads_by_agency_day`` row of ``read`` (``DAY_COLUMNS``), then its TTL."""
    return (
        read.agency_ori, read_day(read.collected_at), read.collected_at, read.read_id,
        read.plate, read.camera_id, read.latitude, read.longitude, read.confidence,
        read.expires_at, ttl,
    )  # fmt: skip


def crop_row(crop: PlateCrop, ttl: int) -> tuple[Any, ...]:
    """The ``plate_crops`` row of ``crop`` (``CROP_COLUMNS``), then its TTL."""
    return (
        crop.read_id, crop.agency_ori, crop.camera_id, crop.collected_at, crop.expires_at,
        crop.jpeg, ttl,
    )  # fmt: skip


def crop_from_row(row: Sequence[Any]) -> PlateCrop:
    """The crop of a ``plate_crops`` row selected as ``CROP_COLUMNS``."""
    read_id, agency_ori, camera_id, collected_at, expires_at, jpeg = row
    return PlateCrop(
        read_id, agency_ori, camera_id, utc(collected_at), utc(expires_at), bytes(jpeg)
    )


def hit_row(hit: Hit, ttl: int) -> tuple[Any, ...]:
    """The ``hits_by_agency`` row of ``hit`` (``HIT_COLUMNS``), then its TTL."""
    read, entry = hit.read, hit.entry
    return (
        read.agency_ori, hit.matched_at, hit.hit_id, read.plate, read.read_id,
        read.collected_at, read.expires_at, read.camera_id, read.latitude, read.longitude,
        read.region, entry.entry_id, entry.list_id, entry.category.value, entry.priority,
        entry.covert, hit.match_kind.value, hit.state_mismatch, hit.historical,
        hit.needs_verification, ttl,
    )  # fmt: skip


def hit_id_row(hit: Hit, ttl: int) -> tuple[Any, ...]:
    """The ``hits_by_id`` row of ``hit`` (``HIT_ID_COLUMNS``), then its TTL."""
    return (hit.hit_id, hit.read.agency_ori, hit.matched_at, ttl)


def audit_row(event: AuditEvent) -> tuple[Any, ...]:
    """The ``audit_events`` row of ``event`` (``AUDIT_COLUMNS``): kept, so no TTL."""
    return (
        audit_day(event.occurred_at), event.occurred_at, event.event_id,
        event.actor, event.actor_agency_ori, event.action.value, event.purpose,
        event.target_kind, event.target_id, event.recipient_agency_ori,
        event.outcome.value, event.details,
    )  # fmt: skip


def audit_day(occurred_at: datetime) -> str:
    """The ``audit_events`` partition of a time: its day, YYYY-MM-DD."""
    return occurred_at.strftime("%Y-%m-%d")


def audit_from_row(row: Sequence[Any]) -> AuditEvent:
    """The event of an ``audit_events`` row selected as ``AUDIT_COLUMNS``: an empty map
    comes back as null, and times as naive UTC."""
    (
        _day, occurred_at, event_id, actor, actor_agency_ori, action, purpose, target_kind,
        target_id, recipient_agency_ori, outcome, details,
    ) = row  # fmt: skip
    return AuditEvent(
        event_id=event_id,
        occurred_at=utc(occurred_at),
        actor=actor,
        action=AuditAction(action),
        target_kind=target_kind,
        target_id=target_id,
        outcome=AuditOutcome(outcome),
        actor_agency_ori=actor_agency_ori,
        purpose=purpose,
        recipient_agency_ori=recipient_agency_ori,
        details=dict(details or {}),
    )
