"""Per-camera configuration of the frame producer: a TOML (or JSON) file, one table a camera.

    [[cameras]]
    id = "deli-cam"                  # required, unique in the file
    agency = "MN9990001"             # required: ORI of the agency that owns the reads
    kind = "PARTNER"                 # FIXED (default), SQUAD_CAR, TRAILER, PARTNER
    source = "rtsp://user:pass@10.0.0.5/stream1"   # folder, video file or stream URL
    owner = "Main St Deli"           # PARTNER only, required there
    consent_ref = "C-2026-17"        # PARTNER only, required there
    latitude = 44.97
    longitude = -93.27
    every = 1                        # send every Nth frame
    max_fps = 2.0                    # at most this many frames a second
    jpeg_quality = 85                # 1-100
    max_width = 1920                 # downscale wider frames
    motion = true                    # default: on for video files and streams, off for folders
    motion_threshold = 0.005         # foreground share of the unmasked frame
    # Blacked out before sending; points are fractions (0-1) of width and height.
    masks = [[[0.0, 0.0], [0.4, 0.0], [0.4, 0.3], [0.0, 0.3]]]

Unknown keys are errors (a typo must not silently turn a mask off). Error messages name
the camera and field but never echo values: a source URL may hold a password.
"""

from __future__ import annotations

import json
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from connectors.cameras.config import FramesConfig
from connectors.cameras.frames import (
    FrameCamera,
    FrameSendReport,
    is_stream,
    redact_url,
    send_frames,
)
from connectors.cameras.motion import MotionSettings
from connectors.cameras.privacy_masks import Polygon, validate_masks
from connectors.kafka.sink import RecordSink
from schemas.errors import ConfigurationError
from schemas.records import CameraKind


class CameraConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(min_length=1)]
    agency: Annotated[str, Field(min_length=1)]
    source: Annotated[str, Field(min_length=1)]
    kind: CameraKind = CameraKind.FIXED
    latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180)] | None = None
    owner: str | None = None
    consent_ref: str | None = None
    every: Annotated[int, Field(ge=1)] = 1
    max_fps: Annotated[float, Field(gt=0)] | None = None
    max_frames: Annotated[int, Field(ge=1)] | None = None
    jpeg_quality: Annotated[int, Field(ge=1, le=100)] = 90
    max_width: Annotated[int, Field(ge=16)] | None = None
    masks: tuple[Polygon, ...] = ()
    motion: bool | None = None
    motion_threshold: Annotated[float, Field(gt=0, lt=1)] = MotionSettings.threshold
    motion_warmup_frames: Annotated[int, Field(ge=1)] = MotionSettings.warmup_frames
    motion_history: Annotated[int, Field(ge=2)] = MotionSettings.history

    @field_validator("masks", mode="before")
    @classmethod
    def _valid_polygons(cls, masks: Any) -> Any:
        return validate_masks(masks)

    @model_validator(mode="after")
    def _partner_has_consent(self) -> CameraConfig:
        if self.kind is CameraKind.PARTNER and not (self.owner and self.consent_ref):
            raise ValueError("a PARTNER camera needs owner and consent_ref")
        return self

    def camera(self) -> FrameCamera:
        return FrameCamera(
            self.id,
            self.agency,
            self.kind,
            self.latitude,
            self.longitude,
            self.owner,
            self.consent_ref,
            self.masks,
        )

    def motion_settings(self) -> MotionSettings | None:
        """The gate's settings, or None when gating is off (default off for a folder)."""
        enabled = self.motion
        if enabled is None:
            # A folder of stills is usually already selected; a video or stream is not.
            enabled = is_stream(self.source) or not Path(self.source).is_dir()
        if not enabled:
            return None
        return MotionSettings(self.motion_threshold, self.motion_warmup_frames, self.motion_history)


class CameraFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cameras: Annotated[list[CameraConfig], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_ids(self) -> CameraFile:
        ids = [camera.id for camera in self.cameras]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"camera ids must be unique: {', '.join(repeated)} repeated")
        return self


def describe(error: ValidationError, cameras: list[Any] | None = None) -> str:
    """One line per problem, naming the camera and field, never the value given."""
    lines = []
    for problem in error.errors(include_input=False, include_url=False):
        location = list(problem["loc"])
        if cameras and len(location) >= 2 and location[0] == "cameras":
            index = location[1]
            name = cameras[index].get("id") if isinstance(index, int) else None
            if isinstance(name, str):
                location[1] = f"{index} ({name})"
        where = ".".join(str(part) for part in location) or "file"
        message = str(problem["msg"]).removeprefix("Value error, ")
        lines.append(f"{where}: {message}")
    return "; ".join(lines)


def parse_cameras(data: Any) -> list[CameraConfig]:
    """The cameras of an already parsed file; raises ConfigurationError."""
    try:
        return CameraFile.model_validate(data).cameras
    except ValidationError as error:
        raw = data.get("cameras") if isinstance(data, dict) else None
        raw_cameras = (
            [c if isinstance(c, dict) else {} for c in raw] if isinstance(raw, list) else None
        )
        raise ConfigurationError(
            f"invalid camera configuration: {describe(error, raw_cameras)}"
        ) from None


def load_cameras(path: Path) -> list[CameraConfig]:
    """The cameras of a ``.toml`` or ``.json`` file; raises ConfigurationError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(
            f"cannot read camera configuration {path}: {error.strerror}"
        ) from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as error:
        # Parser messages give line and column, not the line's content.
        raise ConfigurationError(
            f"{path} is not valid {path.suffix[1:].upper() or 'TOML'}: {error}"
        ) from None
    try:
        return parse_cameras(data)
    except ConfigurationError as error:
        raise ConfigurationError(f"{path}: {error}") from None


@dataclass
class CameraRun:
    camera_id: str
    source: str  # redacted, safe to print
    report: FrameSendReport | None = None
    error: str | None = None


def send_camera(
    settings: FramesConfig,
    sink: RecordSink,
    config: CameraConfig,
    should_stop: threading.Event | None = None,
) -> FrameSendReport:
    """``send_frames`` with everything the camera's configuration says."""
    return send_frames(
        settings,
        sink,
        config.source,
        config.camera(),
        every=config.every,
        max_fps=config.max_fps,
        max_frames=config.max_frames,
        jpeg_quality=config.jpeg_quality,
        max_width=config.max_width,
        motion=config.motion_settings(),
        should_stop=should_stop.is_set if should_stop is not None else None,
    )


def run_cameras(
    settings: FramesConfig, sink: RecordSink, configs: list[CameraConfig], stop: threading.Event
) -> list[CameraRun]:
    """Every camera in its own thread (streams never end) until done or ``stop`` is set.

    One camera's failure (an unreachable stream) is reported, never stops the others.
    """
    runs = [CameraRun(config.id, redact_url(config.source)) for config in configs]

    def run(config: CameraConfig, result: CameraRun) -> None:
        try:
            result.report = send_camera(settings, sink, config, stop)
        except Exception as error:
            # A camera thread must end with a report or an error, whatever went wrong; our
            # messages redact stream passwords, and driver errors never see the URL.
            result.error = f"{type(error).__name__}: {error}"

    threads = [
        threading.Thread(target=run, args=(config, result), name=f"frames-{config.id}", daemon=True)
        for config, result in zip(configs, runs, strict=True)
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            # A timeout keeps the main thread responsive to Ctrl-C.
            while thread.is_alive():
                thread.join(0.5)
    except KeyboardInterrupt:
        # Every camera stops after its current frame, flushes and reports what it sent.
        stop.set()
        for thread in threads:
            thread.join(10)
    return runs
