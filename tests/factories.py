"""Builders of valid records for tests: override only what a test is about."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.records import (
    CameraKind,
    Hit,
    HotlistCategory,
    HotlistEntry,
    PlateRead,
    SharingAgreement,
    new_id,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def a_read(**overrides: Any) -> PlateRead:
    collected = overrides.pop("collected_at", NOW - timedelta(seconds=2))
    values: dict[str, Any] = {
        "read_id": new_id(),
        "agency_ori": "MN9990001",
        "camera_id": "cam-1",
        "camera_kind": CameraKind.FIXED,
        "collected_at": collected,
        "received_at": NOW,
        "plate": "ABC123",
        "confidence": 91.5,
        "expires_at": collected + timedelta(days=60),
        "region": "us-mn",
    }
    values.update(overrides)
    return PlateRead(**values)


def an_entry(**overrides: Any) -> HotlistEntry:
    values: dict[str, Any] = {
        "entry_id": "stolen:MN:ABC123",
        "list_id": "stolen",
        "source": "NCIC",
        "category": HotlistCategory.STOLEN_VEHICLE,
        "owning_agency_ori": "MN9990001",
        "plate": "ABC123",
        "plate_state": "MN",
    }
    values.update(overrides)
    return HotlistEntry(**values)


def an_agreement(**overrides: Any) -> SharingAgreement:
    values: dict[str, Any] = {
        "agreement_id": "MN9990001->MN9990002",
        "owner_agency_ori": "MN9990001",
        "partner_agency_ori": "MN9990002",
        "hit_categories": (HotlistCategory.STOLEN_VEHICLE,),
        "effective_from": NOW - timedelta(days=1),
        "legal_basis": "JPA 2026-04",
        "approved_by": "chief.olson",
    }
    values.update(overrides)
    return SharingAgreement(**values)


def a_hit(**overrides: Any) -> Hit:
    values: dict[str, Any] = {
        "hit_id": new_id(),
        "matched_at": NOW,
        "read": a_read(),
        "entry": an_entry(),
    }
    values.update(overrides)
    return Hit(**values)
