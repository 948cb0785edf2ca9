"""Parse what plate-reading cameras send: OpenALPR/Rekor agent webhooks and plain reads.

* ``alpr_results`` (one message per frame): one read per result;
* ``alpr_group`` (one message per vehicle pass): one read, its frame count kept;
* a plain lprx JSON read.

Only what Minnesota Statutes 13.824 subd. 2(a) allows is kept: plate, time, place and
image references. Vehicle attributes that agents send (colour, make, body type) are
dropped here and never reach Kafka.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipelines.errors import InvalidRecord
from pipelines.records import CameraKind, PlateCandidate, PlateRead, ReadSource, new_id
from pipelines.retention import expires_at

Confidence = Annotated[float, Field(ge=0, le=100)]


class _Lenient(BaseModel):
    # Agents add fields between versions; unknown ones are ignored, not kept.
    model_config = ConfigDict(extra="ignore")


class Point(_Lenient):
    x: float
    y: float


class CandidateIn(_Lenient):
    plate: str
    confidence: Confidence
    matches_template: bool | int = False


class ResultIn(_Lenient):
    plate: str = Field(min_length=1, max_length=16)
    confidence: Confidence
    region: str | None = None
    region_confidence: Confidence = 0.0
    coordinates: list[Point] = []
    candidates: list[CandidateIn] = []


class AlprResults(_Lenient):
    data_type: Literal["alpr_results"]
    epoch_time: int = Field(gt=0, description="Milliseconds since the epoch.")
    camera_id: int | str
    uuid: str | None = None
    results: list[ResultIn]


class AlprGroup(_Lenient):
    data_type: Literal["alpr_group"]
    epoch_start: int = Field(gt=0)
    camera_id: int | str
    uuid: str | None = None
    gps_latitude: float | None = Field(default=None, ge=-90, le=90)
    gps_longitude: float | None = Field(default=None, ge=-180, le=180)
    best_plate_number: str = Field(min_length=1, max_length=16)
    best_confidence: Confidence
    best_region: str | None = None
    best_region_confidence: Confidence = 0.0
    candidates: list[CandidateIn] = []
    uuids: list[str] = []


class PlainRead(_Lenient):
    plate: str = Field(min_length=1, max_length=16)
    camera_id: str = Field(min_length=1, max_length=128)
    camera_kind: CameraKind = CameraKind.FIXED
    collected_at: datetime
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    region: str | None = None
    region_confidence: Confidence = 0.0
    confidence: Confidence
    candidates: list[CandidateIn] = []
    image_ref: str | None = None

    @field_validator("collected_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        # A time without a zone is ambiguous by hours: cameras must say UTC or offset.
        if value.tzinfo is None:
            raise ValueError("collected_at needs a time zone (e.g. 2026-11-23T10:00:00Z)")
        return value.astimezone(UTC)


def _candidates(items: list[CandidateIn]) -> tuple[PlateCandidate, ...]:
    return tuple(PlateCandidate(c.plate, c.confidence, bool(c.matches_template)) for c in items)


def _box(points: list[Point]) -> tuple[int, int, int, int] | None:
    if not points:
        return None
    xs, ys = [p.x for p in points], [p.y for p in points]
    return int(min(xs)), int(min(ys)), int(max(xs) - min(xs)), int(max(ys) - min(ys))


def _millis(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


class ReadContext(BaseModel):
    """What the endpoint knows that the payload does not: who sent it and when."""

    agency_ori: str
    camera_kind: CameraKind
    retention_days: int
    received_at: datetime


def _read(ctx: ReadContext, **fields: Any) -> PlateRead:
    collected: datetime = fields["collected_at"]
    return PlateRead(
        read_id=new_id(),
        agency_ori=ctx.agency_ori,
        received_at=ctx.received_at,
        expires_at=expires_at(collected, ctx.retention_days),
        source=ReadSource.CAMERA_ALPR,
        **fields,
    )


def reads_from_openalpr(payload: Any, ctx: ReadContext) -> list[PlateRead]:
    """Reads from one OpenALPR/Rekor webhook body; raises InvalidRecord."""
    if not isinstance(payload, dict):
        raise InvalidRecord("an OpenALPR webhook body must be a JSON object")
    data_type = payload.get("data_type")
    try:
        if data_type == "alpr_results":
            message = AlprResults.model_validate(payload)
            return [
                _read(
                    ctx,
                    camera_id=str(message.camera_id),
                    camera_kind=ctx.camera_kind,
                    collected_at=_millis(message.epoch_time),
                    plate=result.plate,
                    confidence=result.confidence,
                    region=result.region,
                    region_confidence=result.region_confidence,
                    candidates=_candidates(result.candidates),
                    plate_box=_box(result.coordinates),
                    source_ref=message.uuid,
                )
                for result in message.results
            ]
        if data_type == "alpr_group":
            group = AlprGroup.model_validate(payload)
            return [
                _read(
                    ctx,
                    camera_id=str(group.camera_id),
                    camera_kind=ctx.camera_kind,
                    collected_at=_millis(group.epoch_start),
                    latitude=group.gps_latitude,
                    longitude=group.gps_longitude,
                    plate=group.best_plate_number,
                    confidence=group.best_confidence,
                    region=group.best_region,
                    region_confidence=group.best_region_confidence,
                    candidates=_candidates(group.candidates),
                    source_ref=group.uuid or (group.uuids[0] if group.uuids else None),
                    frame_count=max(1, len(group.uuids)),
                )
            ]
    except ValidationError as error:
        raise InvalidRecord(_describe(error)) from error
    raise InvalidRecord(
        f"data_type {data_type!r} is not a read (expected alpr_results or alpr_group)"
    )


def reads_from_plain(payload: Any, ctx: ReadContext) -> list[PlateRead]:
    """Reads from a plain JSON read or a list of them; raises InvalidRecord."""
    items = payload if isinstance(payload, list) else [payload]
    try:
        parsed = [PlainRead.model_validate(item) for item in items]
    except ValidationError as error:
        raise InvalidRecord(_describe(error)) from error
    return [
        _read(
            ctx,
            camera_id=read.camera_id,
            camera_kind=read.camera_kind,
            collected_at=read.collected_at,
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


def _describe(error: ValidationError) -> str:
    problems = [
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in error.errors()[:5]
    ]
    return "; ".join(problems)
