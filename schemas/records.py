"""Typed domain records, and the boundary between them and Avro wire records.

Stages work on these dataclasses; their fields mirror the ``*.avsc`` files field for
field, so one converter derived from the annotations (``schemas/mapping.py``) maps every
record to and from its Avro form. Times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Self

from cattrs import BaseValidationError

from schemas.codec import Codec, DecodeError, SchemaName
from schemas.mapping import from_wire, to_wire


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


_HIT_NAMESPACE = uuid.UUID("6c7072780000400080000000686974ff")


def hit_id_for(read_id: str, entry_id: str) -> str:
    """The id of the hit of one read on one entry: the same however often the read is
    matched (a replay, a restarted worker), so partners and the store can deduplicate."""
    return str(uuid.uuid5(_HIT_NAMESPACE, f"{read_id}\x00{entry_id}"))


def dissemination_id_for(hit_id: str, recipient_ori: str) -> str:
    """The audit event id of a hit's delivery to one agency: the same for every attempt
    at it, so a reader of the trail can tell one delivery recorded twice (a copy of an
    attempt that was rolled back, read uncommitted) from two deliveries."""
    return str(uuid.uuid5(_HIT_NAMESPACE, f"{hit_id}\x00to\x00{recipient_ori}"))


class CameraKind(StrEnum):
    FIXED = "FIXED"
    SQUAD_CAR = "SQUAD_CAR"
    TRAILER = "TRAILER"
    PARTNER = "PARTNER"


class ReadSource(StrEnum):
    CAMERA_ALPR = "CAMERA_ALPR"
    SERVER_OCR = "SERVER_OCR"


class Classification(StrEnum):
    NONPUBLIC = "NONPUBLIC"
    ACTIVE_INVESTIGATION = "ACTIVE_INVESTIGATION"


class HotlistCategory(StrEnum):
    STOLEN_VEHICLE = "STOLEN_VEHICLE"
    STOLEN_PLATE = "STOLEN_PLATE"
    WANTED_PERSON = "WANTED_PERSON"
    MISSING_PERSON = "MISSING_PERSON"
    AMBER_ALERT = "AMBER_ALERT"
    PROTECTION_ORDER = "PROTECTION_ORDER"
    CUSTOM = "CUSTOM"


class MatchKind(StrEnum):
    EXACT = "EXACT"
    CONFUSABLE = "CONFUSABLE"
    EDIT_DISTANCE = "EDIT_DISTANCE"
    WILDCARD = "WILDCARD"


class Disposition(StrEnum):
    CORRECT = "CORRECT"
    WRONG_STATE = "WRONG_STATE"
    MISREAD = "MISREAD"
    DISMISSED = "DISMISSED"
    ACTION_TAKEN = "ACTION_TAKEN"


class AuditAction(StrEnum):
    INGEST = "INGEST"
    STORE = "STORE"
    SEARCH = "SEARCH"
    DISSEMINATE = "DISSEMINATE"
    HOTLIST_LOAD = "HOTLIST_LOAD"
    AGREEMENT_CHANGE = "AGREEMENT_CHANGE"
    HOLD = "HOLD"
    ACCESS_DENIED = "ACCESS_DENIED"
    OTHER = "OTHER"


class AuditOutcome(StrEnum):
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    DENIED = "DENIED"


class _AvroRecord:
    """Shared wire boundary: a dataclass whose fields mirror its .avsc file."""

    SCHEMA: SchemaName

    def to_avro(self) -> dict[str, Any]:
        return to_wire(self)

    @classmethod
    def from_avro(cls, data: dict[str, Any]) -> Self:
        return from_wire(cls, data)

    def encode(self, codec: Codec) -> bytes:
        return codec.encode(self.SCHEMA, to_wire(self))

    @classmethod
    def decode(cls, codec: Codec, data: bytes | None) -> Self:
        fields = codec.decode(cls.SCHEMA, data)
        try:
            return from_wire(cls, fields)
        except (BaseValidationError, ValueError, TypeError, KeyError) as error:
            raise DecodeError(f"{cls.SCHEMA.value} does not map to its record: {error}") from error


@dataclass(frozen=True, slots=True)
class PlateCandidate:
    plate: str
    confidence: float
    matches_template: bool = False


@dataclass(frozen=True, slots=True)
class Frame(_AvroRecord):
    SCHEMA = SchemaName.FRAME

    frame_id: str
    agency_ori: str
    camera_id: str
    camera_kind: CameraKind
    collected_at: datetime
    width: int
    height: int
    image: bytes
    image_format: str = "jpeg"
    latitude: float | None = None
    longitude: float | None = None
    owner: str | None = None
    consent_ref: str | None = None


@dataclass(frozen=True, slots=True)
class PlateRead(_AvroRecord):
    SCHEMA = SchemaName.PLATE_READ

    read_id: str
    agency_ori: str
    camera_id: str
    camera_kind: CameraKind
    collected_at: datetime
    received_at: datetime
    plate: str
    confidence: float
    expires_at: datetime
    source: ReadSource = ReadSource.CAMERA_ALPR
    latitude: float | None = None
    longitude: float | None = None
    region: str | None = None
    region_confidence: float = 0.0
    candidates: tuple[PlateCandidate, ...] = ()
    plate_box: tuple[int, int, int, int] | None = None
    image_ref: str | None = None
    source_ref: str | None = None
    classification: Classification = Classification.NONPUBLIC
    frame_count: int = 1
    duplicates: int = 0


CROP_REF_PREFIX = "crop:"


def crop_ref(read_id: str) -> str:
    """The ``image_ref`` of a read whose plate crop is in the store under its read id."""
    return f"{CROP_REF_PREFIX}{read_id}"


@dataclass(frozen=True, slots=True)
class PlateCrop:
    """The plate region of the frame a server-side read came from, as JPEG. Kept in the
    store (never on Kafka) under the read's id, and expiring with the read."""

    read_id: str
    agency_ori: str
    camera_id: str
    collected_at: datetime
    expires_at: datetime
    jpeg: bytes


@dataclass(frozen=True, slots=True)
class HotlistEntry(_AvroRecord):
    SCHEMA = SchemaName.HOTLIST_ENTRY

    entry_id: str
    list_id: str
    source: str
    category: HotlistCategory
    owning_agency_ori: str
    plate: str
    priority: int = 50
    covert: bool = False
    plate_state: str | None = None
    case_number: str | None = None
    effective_at: datetime | None = None
    expires_at: datetime | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    # Declared when loaded (schemas/hotlist_policy.py): the source's kind, the entry's
    # NCIC file, and what the entry is for; None on entries loaded before they existed.
    source_kind: str | None = None
    ncic_file: str | None = None
    purpose: str | None = None

    def is_live(self, at: datetime) -> bool:
        if self.effective_at is not None and at < self.effective_at:
            return False
        return self.expires_at is None or at < self.expires_at


@dataclass(frozen=True, slots=True)
class Hit(_AvroRecord):
    SCHEMA = SchemaName.HIT

    hit_id: str
    matched_at: datetime
    read: PlateRead
    entry: HotlistEntry
    match_kind: MatchKind = MatchKind.EXACT
    state_mismatch: bool = False
    historical: bool = False
    other_entry_ids: tuple[str, ...] = ()
    needs_verification: bool = False


@dataclass(frozen=True, slots=True)
class SharingAgreement(_AvroRecord):
    SCHEMA = SchemaName.SHARING_AGREEMENT

    agreement_id: str
    owner_agency_ori: str
    partner_agency_ori: str
    hit_categories: tuple[HotlistCategory, ...]
    effective_from: datetime
    legal_basis: str
    approved_by: str
    share_covert: bool = False
    share_reads: bool = False
    effective_until: datetime | None = None
    # Purposes (schemas.people.Purpose of a search, hotlist_policy.ListPurpose of a
    # hit's entry) for which nothing is shared under this agreement.
    excluded_purposes: tuple[str, ...] = ()
    # A widening asks two people of the owner: who proposed it, and (approved_by) who
    # approved it; None when one person's change was enough (a narrowing, or older).
    proposed_by: str | None = None

    def in_force(self, at: datetime) -> bool:
        if at < self.effective_from:
            return False
        return self.effective_until is None or at < self.effective_until


@dataclass(frozen=True, slots=True)
class AuditEvent(_AvroRecord):
    SCHEMA = SchemaName.AUDIT_EVENT

    event_id: str
    occurred_at: datetime
    actor: str
    action: AuditAction
    target_kind: str
    target_id: str
    outcome: AuditOutcome = AuditOutcome.SUCCESS
    actor_agency_ori: str | None = None
    purpose: str | None = None
    recipient_agency_ori: str | None = None
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeadLetter(_AvroRecord):
    SCHEMA = SchemaName.DEAD_LETTER

    dead_letter_id: str
    occurred_at: datetime
    stage: str
    reason: str
    error_type: str
    worker: str
    source_topic: str | None = None
    source_partition: int | None = None
    source_offset: int | None = None
    original_key: bytes | None = None
    original_value: bytes | None = None
    original_headers: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HitDisposition(_AvroRecord):
    SCHEMA = SchemaName.HIT_DISPOSITION

    hit_id: str
    hit_agency_ori: str
    matched_at: datetime
    disposition: Disposition
    decided_by: str
    decided_by_agency_ori: str
    decided_at: datetime
    note: str | None = None
