"""Partner video uploads: residents and businesses send recorded video files.

``POST /v1/uploads`` (see ``connectors/ingest.py`` for the route and its bearer token)
takes the raw video as the body (``Content-Type: video/*`` or
``application/octet-stream``) and these query parameters:

    camera_id     required  the partner's camera, as the agency registered it
    owner         required  who owns the camera
    consent_ref   required  the partner's consent reference
    recorded_at   required  ISO 8601 start of the recording, with a time zone; frames are
                            dated recorded_at + their position, so retention counts from
                            collection
    latitude, longitude     optional  where the camera is
    masks         optional  JSON list of privacy polygons, points as fractions (0-1) of
                            width and height, e.g. [[[0,0],[0.3,0],[0.3,0.4],[0,0.4]]]

The body is streamed to a temporary file (never held in memory) and refused past
``upload_max_bytes``; only a recognised container (MP4/MOV, AVI, Matroska/WebM, MPEG-TS/PS,
FLV, ASF) reaches OpenCV, because FFmpeg would otherwise follow a playlist's URLs on our
network. Frames are then sent as a PARTNER camera's, sampled at ``upload_max_fps``, motion
gated (``upload_motion``), at most ``upload_max_frames``; the file is deleted afterwards.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from connectors.cameras.frames import FrameCamera, FrameSendReport, send_frames
from connectors.cameras.motion import MotionSettings
from connectors.cameras.privacy_masks import Polygon, validate_masks
from connectors.ingest.config import IngestConfig
from connectors.kafka.sink import RecordSink
from schemas.errors import ConfigurationError, InvalidRecord, TransientError
from schemas.records import AuditAction, AuditEvent, CameraKind, new_id, utcnow
from schemas.retention import expires_at
from schemas.validation import MAX_CLOCK_SKEW

log = logging.getLogger(__name__)

VIDEO_CONTENT_TYPES = ("video/", "application/octet-stream")
# How many bytes of the file decide its container.
SNIFF_BYTES = 512


class UploadTooLarge(Exception):
    """The video passed ``upload_max_bytes`` while it was being received."""


class UploadRefused(Exception):
    """Why an upload was refused: HTTP status, metric outcome, and a message for the sender."""

    def __init__(self, status: int, outcome: str, error: str, retry_after: int = 0) -> None:
        super().__init__(error)
        self.status = status
        self.outcome = outcome
        self.error = error
        self.retry_after = retry_after


def _invalid(error: str) -> UploadRefused:
    return UploadRefused(422, "invalid", error)


def _busy(error: str) -> UploadRefused:
    # Frames already delivered may come twice after the retry: OCR fusion and dedup
    # absorb them.
    return UploadRefused(503, "unavailable", error, retry_after=30)


class UploadParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    camera_id: Annotated[str, Field(min_length=1, max_length=128)]
    owner: Annotated[str, Field(min_length=1, max_length=256)]
    consent_ref: Annotated[str, Field(min_length=1, max_length=256)]
    recorded_at: AwareDatetime
    latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180)] | None = None
    masks: tuple[Polygon, ...] = ()

    @field_validator("masks", mode="before")
    @classmethod
    def _valid_polygons(cls, masks: Any) -> Any:
        if isinstance(masks, str):
            try:
                masks = json.loads(masks)
            except (ValueError, RecursionError):
                raise ValueError("masks must be JSON: a list of polygons of [x, y]") from None
        return validate_masks(masks)


def parse_upload_params(query: Mapping[str, str], now: datetime) -> UploadParams:
    """The upload's parameters, checked like a read's times; raises InvalidRecord."""
    try:
        params = UploadParams.model_validate(dict(query))
    except ValidationError as error:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'query'}: "
            + str(e["msg"]).removeprefix("Value error, ")
            for e in error.errors(include_input=False, include_url=False)
        ]
        raise InvalidRecord("; ".join(problems)) from None
    if params.recorded_at > now + MAX_CLOCK_SKEW:
        raise InvalidRecord(f"recorded_at {params.recorded_at.isoformat()} is in the future")
    return params


def past_retention(params: UploadParams, retention_days: int, now: datetime) -> bool:
    """True when even the recording's first frame is past its destruction date."""
    return expires_at(params.recorded_at, retention_days) <= now


def is_video_content_type(content_type: str | None) -> bool:
    return (content_type or "").strip().lower().startswith(VIDEO_CONTENT_TYPES)


# What a video container starts with; anything else never reaches FFmpeg.
CONTAINER_SIGNATURES: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    # ISO base media (MP4, 3GP) opens with ftyp; older QuickTime files with another box.
    ("mp4", lambda head: head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free")),
    ("avi", lambda head: head[:4] == b"RIFF" and head[8:12] == b"AVI "),
    ("matroska", lambda head: head[:4] == b"\x1a\x45\xdf\xa3"),  # EBML: MKV and WebM
    # MPEG transport stream: a sync byte every 188 bytes.
    ("mpegts", lambda head: len(head) > 376 and head[0] == head[188] == head[376] == 0x47),
    ("mpegps", lambda head: head[:4] == b"\x00\x00\x01\xba"),
    ("flv", lambda head: head[:3] == b"FLV"),
    ("asf", lambda head: head[:4] == b"\x30\x26\xb2\x75"),
)


def sniff_container(head: bytes) -> str | None:
    """The name of a recognised video container, from the file's first bytes, or None."""
    return next((name for name, matches in CONTAINER_SIGNATURES if matches(head)), None)


def container_of(path: Path) -> str | None:
    with path.open("rb") as file:
        return sniff_container(file.read(SNIFF_BYTES))


async def receive_video(request: Request, limit: int, directory: Path | None) -> Path:
    """Streams the body to a new temporary file; the caller deletes it.

    Raises UploadTooLarge as soon as the body passes ``limit`` (a lying Content-Length
    too), having deleted what it wrote.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise UploadTooLarge
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="lprx-upload-", dir=directory)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as file:
            size = 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise UploadTooLarge
                # Disk writes off the event loop: other cameras' posts go on meanwhile.
                await anyio.to_thread.run_sync(file.write, chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def send_upload(
    settings: IngestConfig, sink: RecordSink, path: Path, agency: str, params: UploadParams
) -> FrameSendReport:
    """Sends the frames of the video at ``path`` as the partner camera's (blocking).

    Check ``container_of(path)`` first. Raises ConfigurationError when OpenCV cannot open
    the file; a file it opens but cannot decode sends nothing (``report.frames_seen == 0``).
    """
    camera = FrameCamera(
        params.camera_id,
        agency,
        CameraKind.PARTNER,
        params.latitude,
        params.longitude,
        params.owner,
        params.consent_ref,
        params.masks,
    )
    return send_frames(
        settings,
        sink,
        str(path),
        camera,
        max_fps=settings.upload_max_fps,
        max_frames=settings.upload_max_frames,
        recorded_at=params.recorded_at,
        # A clip is short and usually already motion-triggered: no frame of it is spent
        # on warm-up, the first teaches the background and is sent.
        motion=MotionSettings(warmup_frames=1) if settings.upload_motion else None,
    )


def report_body(upload_id: str, report: FrameSendReport) -> dict[str, Any]:
    return {
        "upload_id": upload_id,
        "frames_sent": report.sent,
        "skipped_by_sampling": report.skipped_by_sampling,
        "skipped_still": report.skipped_still,
        "skipped_warmup": report.skipped_warmup,
        "skipped_unreadable": report.skipped_unreadable,
        "skipped_too_large": report.skipped_too_large,
    }


async def handle_upload(
    request: Request,
    settings: IngestConfig,
    sink: RecordSink,
    agency: str,
    limiter: anyio.CapacityLimiter,
    bound: tuple[str, str, str] | None = None,
) -> dict[str, Any]:
    """An authenticated upload, start to end; its report, or UploadRefused. ``bound``:
    the (camera id, owner, consent_ref) of the uploader's credential, which the query
    must name (a partner never uploads as another camera, owner or consent)."""
    now = utcnow()
    try:
        params = parse_upload_params(request.query_params, now)
    except InvalidRecord as error:
        raise _invalid(str(error)) from None
    if bound is not None and (params.camera_id, params.owner, params.consent_ref) != bound:
        raise UploadRefused(
            403, "forbidden", "camera_id, owner and consent_ref must be those of the credential"
        )
    if past_retention(params, retention_days=settings.retention_for(agency), now=now):
        raise UploadRefused(422, "expired", "past retention")
    if not is_video_content_type(request.headers.get("content-type")):
        raise UploadRefused(
            415,
            "unsupported_type",
            "the body must be a video (video/* or application/octet-stream)",
        )
    try:
        path = await receive_video(request, settings.upload_max_bytes, settings.upload_dir)
    except UploadTooLarge:
        raise UploadRefused(
            413, "too_large", f"video over {settings.upload_max_bytes} bytes"
        ) from None
    try:
        container = container_of(path)
        if container is None:
            raise _invalid("the body is not a recognised video file")
        # Decoding is CPU-bound and blocking: a worker thread, a few at a time.
        report = await anyio.to_thread.run_sync(
            send_upload, settings, sink, path, agency, params, limiter=limiter
        )
    except ConfigurationError:
        raise _invalid("the video cannot be opened") from None
    except TransientError as error:
        log.warning("upload unavailable: %s", error)
        raise _busy("ingest is busy, retry") from None
    finally:
        path.unlink(missing_ok=True)
    if report.frames_seen == 0:
        raise _invalid("no frame of the video could be decoded")
    if report.undelivered:
        raise _busy("Kafka did not take every frame, retry")
    upload_id = new_id()
    sink.audit(upload_audit(params, report.sent, agency, container, upload_id, now))
    return report_body(upload_id, report)


def upload_audit(
    params: UploadParams,
    frames_sent: int,
    agency: str,
    container: str,
    upload_id: str,
    now: datetime,
) -> AuditEvent:
    """The INGEST event of an upload: who sent it, under which consent, how much."""
    return AuditEvent(
        event_id=new_id(),
        occurred_at=now,
        actor=f"camera:{params.camera_id}",
        actor_agency_ori=agency,
        action=AuditAction.INGEST,
        target_kind="upload",
        target_id=upload_id,
        details={
            "count": str(frames_sent),
            "endpoint": "uploads",
            "owner": params.owner,
            "consent_ref": params.consent_ref,
            "recorded_at": params.recorded_at.isoformat(),
            "container": container,
            "masks": str(len(params.masks)),
        },
    )
