"""Parse what plate-reading cameras send: OpenALPR/Rekor agent webhooks and plain reads.

* ``alpr_results`` (one message per frame): one read per result;
* ``alpr_group`` (one message per vehicle pass): one read, its frame count kept;
* a plain lprx JSON read, or a JSON list of them.

Other OpenALPR data types (``alpr_alert``, heartbeats, ...) carry no read: ask
``openalpr_data_type`` first and leave them alone. Parsers raise ``InvalidRecord`` with
a message a camera integrator can act on.

Only what Minnesota Statutes 13.824 subd. 2(a) allows is kept: plate, time, place and
image references. Vehicle attributes that agents send (colour, make, body type) and
anything else we do not know are dropped here and never reach Kafka.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
)

from schemas.errors import InvalidRecord
from schemas.records import CameraKind, PlateCandidate, PlateRead, ReadSource, new_id
from schemas.retention import expires_at
from schemas.validation import checked_time

READ_DATA_TYPES = frozenset({"alpr_results", "alpr_group"})
# Year 5138: far beyond any real clock, small enough that datetime cannot overflow.
MAX_EPOCH_MS = 10**14
MAX_CANDIDATES = 50

# Strict numbers: a camera that sends "91" or true has a bug worth hearing about.
Confidence = Annotated[float, Strict(), Field(ge=0, le=100)]
Latitude = Annotated[float, Strict(), Field(ge=-90, le=90)]
Longitude = Annotated[float, Strict(), Field(ge=-180, le=180)]
EpochMillis = Annotated[float, Strict(), Field(gt=0, lt=MAX_EPOCH_MS)]
PlateText = Annotated[str, Field(min_length=1, max_length=16)]


def _camera_id(value: object) -> object:
    # OpenALPR camera ids are numbers; ours are strings. Both become the Kafka key.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


CameraId = Annotated[str, Field(min_length=1, max_length=128), BeforeValidator(_camera_id)]


class _Lenient(BaseModel):
    # Agents add fields between versions; unknown ones are ignored, never kept.
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, frozen=True)


class Point(_Lenient):
    x: Annotated[float, Strict()]
    y: Annotated[float, Strict()]


class CandidateIn(_Lenient):
    plate: PlateText
    confidence: Confidence
    matches_template: bool | int = False


class ResultIn(_Lenient):
    plate: PlateText
    confidence: Confidence
    region: str | None = Field(default=None, max_length=16)
    region_confidence: Confidence = 0.0
    coordinates: list[Point] = Field(default=[], max_length=8)
    candidates: list[CandidateIn] = Field(default=[], max_length=MAX_CANDIDATES)


class BestPlateIn(_Lenient):
    coordinates: list[Point] = Field(default=[], max_length=8)


class AlprResults(_Lenient):
    data_type: Literal["alpr_results"]
    epoch_time: EpochMillis
    camera_id: CameraId
    camera_kind: CameraKind | None = None
    uuid: str | None = Field(default=None, max_length=256)
    results: list[ResultIn]


class AlprGroup(_Lenient):
    data_type: Literal["alpr_group"]
    epoch_start: EpochMillis
    camera_id: CameraId
    camera_kind: CameraKind | None = None
    uuid: str | None = Field(default=None, max_length=256)
    best_uuid: str | None = Field(default=None, max_length=256)
    uuids: list[str] = []
    gps_latitude: Latitude | None = None
    gps_longitude: Longitude | None = None
    best_plate_number: PlateText
    best_confidence: Confidence
    best_region: str | None = Field(default=None, max_length=16)
    best_region_confidence: Confidence = 0.0
    best_plate: BestPlateIn | None = None
    candidates: list[CandidateIn] = Field(default=[], max_length=MAX_CANDIDATES)


def _collected_at(value: object) -> object:
    # Numbers are epoch milliseconds, always: pydantic would guess seconds for small ones.
    if isinstance(value, bool):
        raise ValueError("collected_at must be ISO-8601 with a time zone or epoch milliseconds")
    if isinstance(value, int | float):
        if not 0 < value < MAX_EPOCH_MS:
            raise ValueError("collected_at epoch milliseconds out of range")
        return _millis(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                "collected_at must be ISO-8601 with a time zone or epoch milliseconds"
            ) from None
    return value


class PlainRead(_Lenient):
    plate: PlateText
    camera_id: CameraId
    camera_kind: CameraKind | None = None
    collected_at: Annotated[datetime, BeforeValidator(_collected_at)]
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    region: str | None = Field(default=None, max_length=16)
    region_confidence: Confidence = 0.0
    confidence: Confidence
    candidates: list[CandidateIn] = Field(default=[], max_length=MAX_CANDIDATES)
    image_ref: str | None = Field(default=None, max_length=1024)

    @field_validator("collected_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        # A time without a zone is ambiguous by hours: cameras must say UTC or an offset.
        if value.tzinfo is None:
            raise ValueError("collected_at needs a time zone (e.g. 2026-11-23T10:00:00Z)")
        try:
            return checked_time(value, "collected_at")
        except InvalidRecord as error:
            raise ValueError(str(error)) from None


class ReadContext(BaseModel):
    """What the endpoint knows that the payload does not: who sent it and when."""

    model_config = ConfigDict(frozen=True)

    agency_ori: str
    camera_kind: CameraKind = CameraKind.FIXED
    retention_days: int
    received_at: datetime


def _candidates(items: list[CandidateIn]) -> tuple[PlateCandidate, ...]:
    return tuple(PlateCandidate(c.plate, c.confidence, bool(c.matches_template)) for c in items)


def plate_box(points: list[Point]) -> tuple[int, int, int, int] | None:
    """(x, y, width, height) of the box around the plate's corners."""
    if not points:
        return None
    xs, ys = [p.x for p in points], [p.y for p in points]
    left, top = int(min(xs)), int(min(ys))
    return left, top, int(max(xs)) - left, int(max(ys)) - top


def _millis(value: float) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def _position(latitude: float | None, longitude: float | None) -> tuple[float | None, float | None]:
    # Agents without GPS report 0,0 (the Gulf of Guinea): that is "unknown", not a place.
    if latitude is None or longitude is None or (latitude == 0 and longitude == 0):
        return None, None
    return latitude, longitude


def _read(ctx: ReadContext, collected_at: datetime, **fields: Any) -> PlateRead:
    return PlateRead(
        read_id=new_id(),
        agency_ori=ctx.agency_ori,
        received_at=ctx.received_at,
        collected_at=collected_at,
        # Counted from collection, not from receipt (13.824 subd. 3).
        expires_at=expires_at(collected_at, ctx.retention_days),
        source=ReadSource.CAMERA_ALPR,
        **fields,
    )


def openalpr_data_type(payload: Any) -> str:
    """The message's ``data_type``; raises InvalidRecord if it is no OpenALPR message."""
    if not isinstance(payload, dict):
        raise InvalidRecord("an OpenALPR webhook body must be a JSON object")
    data_type = payload.get("data_type")
    if not isinstance(data_type, str) or not data_type:
        raise InvalidRecord("an OpenALPR webhook body needs a data_type string")
    return data_type


def reads_from_alpr_results(message: AlprResults, ctx: ReadContext) -> list[PlateRead]:
    collected_at = _millis(message.epoch_time)
    return [
        _read(
            ctx,
            collected_at,
            camera_id=message.camera_id,
            camera_kind=message.camera_kind or ctx.camera_kind,
            plate=result.plate,
            confidence=result.confidence,
            region=result.region,
            region_confidence=result.region_confidence,
            candidates=_candidates(result.candidates),
            plate_box=plate_box(result.coordinates),
            source_ref=message.uuid,
        )
        for result in message.results
    ]


def reads_from_alpr_group(group: AlprGroup, ctx: ReadContext) -> list[PlateRead]:
    latitude, longitude = _position(group.gps_latitude, group.gps_longitude)
    # The best frame's uuid finds the image the best plate came from.
    source_ref = group.best_uuid or (group.uuids[0] if group.uuids else None) or group.uuid
    return [
        _read(
            ctx,
            _millis(group.epoch_start),
            camera_id=group.camera_id,
            camera_kind=group.camera_kind or ctx.camera_kind,
            latitude=latitude,
            longitude=longitude,
            plate=group.best_plate_number,
            confidence=group.best_confidence,
            region=group.best_region,
            region_confidence=group.best_region_confidence,
            candidates=_candidates(group.candidates),
            plate_box=plate_box(group.best_plate.coordinates) if group.best_plate else None,
            source_ref=source_ref,
            frame_count=max(1, len(group.uuids)),
        )
    ]


def reads_from_openalpr(payload: Any, ctx: ReadContext) -> list[PlateRead]:
    """Reads from one ``alpr_results`` or ``alpr_group`` body; raises InvalidRecord."""
    data_type = openalpr_data_type(payload)
    try:
        if data_type == "alpr_results":
            return reads_from_alpr_results(AlprResults.model_validate(payload), ctx)
        if data_type == "alpr_group":
            return reads_from_alpr_group(AlprGroup.model_validate(payload), ctx)
    except ValidationError as error:
        raise InvalidRecord(describe(error)) from error
    raise InvalidRecord(
        f"data_type {data_type[:40]!r} is not a read (expected alpr_results or alpr_group)"
    )


def reads_from_plain(payload: Any, ctx: ReadContext) -> list[PlateRead]:
    """Reads from a plain JSON read or a list of them; raises InvalidRecord."""
    items = payload if isinstance(payload, list) else [payload]
    parsed: list[PlainRead] = []
    for index, item in enumerate(items):
        try:
            parsed.append(PlainRead.model_validate(item))
        except ValidationError as error:
            where = f"read {index}: " if isinstance(payload, list) else ""
            raise InvalidRecord(where + describe(error)) from error
    return [
        _read(
            ctx,
            read.collected_at,
            camera_id=read.camera_id,
            camera_kind=read.camera_kind or ctx.camera_kind,
            latitude=read.latitude,
            longitude=read.longitude,
            plate=read.plate,
            confidence=read.confidence,
            region=read.region,
            region_confidence=read.region_confidence,
            candidates=_candidates(read.candidates),
            image_ref=read.image_ref,
        )
        for read in parsed
    ]


def describe(error: ValidationError) -> str:
    """Field paths and messages, never the input values (they may hold plates)."""
    problems = [
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
        for e in error.errors(include_url=False, include_input=False)[:5]
    ]
    more = error.error_count() - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")
