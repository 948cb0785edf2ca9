"""Camera-side frame producer for cameras that cannot read plates themselves.

Reads an image folder (sorted ``.jpg``/``.jpeg``/``.png``), a video file or a stream URL
(RTSP/HTTP) with OpenCV, samples frames, re-encodes them as JPEG and publishes them as
``Frame`` records with the camera's metadata. A partner camera (resident or business)
carries its owner and a consent reference. An unreadable image in a folder is skipped,
logged and counted, never fatal.

Sampling, in source time:

* ``every=N`` keeps frames 0, N, 2N, ... of the source;
* ``max_fps`` keeps at most that many frames a second: by the video's own timestamps
  for a file; by the wall clock for a stream, which is read continuously so the kept
  frames are current, not a stale buffer; a folder has no time, so it is paced (slept).

``collected_at`` is when the frame was read, which for a live stream is when it was
seen. A recording is not "now": pass ``recorded_at`` (its start) and each frame gets
``recorded_at`` + its position, so retention still counts from collection.

Each sampled frame then goes, in this order, through the camera's privacy masks
(``connectors/privacy_masks.py``: nothing after this step sees the masked pixels), the
optional motion gate (``connectors/motion.py``), the JPEG encoder and the sink.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from connectors.cameras.config import FramesConfig
from connectors.cameras.motion import MotionGate, MotionSettings, Verdict
from connectors.cameras.privacy_masks import Polygon, PrivacyMasks, validate_masks
from connectors.kafka.sink import RecordSink
from connectors.kafka.topics import FRAME_MAX_BYTES
from schemas.errors import ConfigurationError
from schemas.records import CameraKind, Frame, new_id, utcnow

log = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
# Room for the Frame record's other fields under the frames topic's message limit.
MAX_JPEG_BYTES = FRAME_MAX_BYTES - 64 * 1024


@dataclass(frozen=True)
class FrameCamera:
    camera_id: str
    agency_ori: str
    kind: CameraKind = CameraKind.FIXED
    latitude: float | None = None
    longitude: float | None = None
    owner: str | None = None
    consent_ref: str | None = None
    # Fractions of the frame (see connectors/privacy_masks.py), blacked out before sending.
    privacy_masks: Sequence[Polygon] = ()

    def __post_init__(self) -> None:
        if self.kind is CameraKind.PARTNER and not (self.owner and self.consent_ref):
            raise ValueError("a partner camera needs its owner and a consent reference")
        masks = validate_masks(self.privacy_masks, f"camera {self.camera_id} mask")
        # Frozen: stored as validated tuples, so a caller's list cannot change it later.
        object.__setattr__(self, "privacy_masks", masks)


@dataclass
class FrameSendReport:
    sent: int = 0
    skipped_by_sampling: int = 0
    skipped_unreadable: int = 0
    skipped_too_large: int = 0
    # Motion gating: frames of a still scene, and frames that taught the model at start.
    skipped_still: int = 0
    skipped_warmup: int = 0
    unreadable: list[str] = field(default_factory=list)
    undelivered: int = 0

    @property
    def frames_seen(self) -> int:
        """Frames the source gave, whatever became of them (0: it gave none we could read)."""
        sent_or_judged = self.sent + self.skipped_still + self.skipped_warmup
        return sent_or_judged + self.skipped_too_large + self.skipped_by_sampling


@dataclass(frozen=True)
class SourceFrame:
    image: Image
    index: int
    # Seconds since the source's first frame; None for folder images (they have no time).
    offset_s: float | None
    captured_at: datetime


class _Sampler:
    def __init__(self, every: int, max_fps: float | None) -> None:
        if every < 1:
            raise ValueError("every must be 1 or more")
        if max_fps is not None and not max_fps > 0:
            raise ValueError("max_fps must be more than 0")
        self.every = every
        self.max_fps = max_fps
        self._last_slot = -1

    def keep(self, index: int, offset_s: float | None) -> bool:
        if index % self.every:
            return False
        if self.max_fps is None or offset_s is None:
            return True
        # Time slots of 1/max_fps: a steady rate with no drift, whatever the jitter.
        slot = math.floor(offset_s * self.max_fps + 1e-6)
        if slot <= self._last_slot:
            return False
        self._last_slot = slot
        return True


def is_stream(source: str) -> bool:
    return source.lower().startswith(STREAM_SCHEMES)


def _decode_file(path: Path) -> Image | None:
    try:
        data = np.fromfile(path, dtype=np.uint8)
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    except (OSError, cv2.error) as error:
        log.warning("cannot read %s: %s", path.name, error)
        return None
    return None if image is None else np.asarray(image, dtype=np.uint8)


def _iter_folder(
    folder: Path, sampler: _Sampler, report: FrameSendReport, sleep: Callable[[float], None]
) -> Generator[SourceFrame, None, None]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    interval = 1.0 / sampler.max_fps if sampler.max_fps else 0.0
    next_at = time.monotonic()
    for index, file in enumerate(files):
        # Sample before decoding: a skipped file costs nothing.
        if not sampler.keep(index, None):
            report.skipped_by_sampling += 1
            continue
        image = _decode_file(file)
        if image is None:
            report.skipped_unreadable += 1
            report.unreadable.append(file.name)
            log.warning("skipped unreadable image %s", file.name)
            continue
        if interval:
            sleep(max(0.0, next_at - time.monotonic()))
            next_at = time.monotonic() + interval
        yield SourceFrame(image, index, None, utcnow())


def _iter_capture(
    source: str, sampler: _Sampler, report: FrameSendReport, live: bool
) -> Generator[SourceFrame, None, None]:
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        raise ConfigurationError(f"OpenCV cannot open {redact_url(source)} as a video or stream")
    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    started = time.monotonic()
    try:
        index = 0
        # grab() for every frame keeps a stream's buffer current; retrieve() decodes
        # only the frames we keep.
        while capture.grab():
            if live:
                offset: float = time.monotonic() - started
            elif fps > 0 and math.isfinite(fps):
                offset = index / fps
            else:
                offset = float(capture.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
            if sampler.keep(index, offset):
                ok, image = capture.retrieve()
                if ok and image is not None:
                    yield SourceFrame(np.asarray(image, dtype=np.uint8), index, offset, utcnow())
                else:
                    report.skipped_unreadable += 1
            else:
                report.skipped_by_sampling += 1
            index += 1
        if live:
            log.warning("stream %s ended after %d frames", redact_url(source), index)
    finally:
        capture.release()


def redact_url(url: str) -> str:
    # rtsp://user:password@host/...: the password must not reach a log.
    scheme, sep, rest = url.partition("://")
    if "@" in rest.split("/", 1)[0]:
        rest = "***@" + rest.split("@", 1)[1]
    return scheme + sep + rest


def iter_source_frames(
    source: str,
    *,
    every: int = 1,
    max_fps: float | None = None,
    report: FrameSendReport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Generator[SourceFrame, None, None]:
    """Sampled frames of a folder, a video file or a stream URL, with their timing."""
    sampler = _Sampler(every, max_fps)
    report = report if report is not None else FrameSendReport()
    if is_stream(source):
        return _iter_capture(source, sampler, report, live=True)
    path = Path(source)
    if path.is_dir():
        return _iter_folder(path, sampler, report, sleep)
    if path.is_file():
        return _iter_capture(source, sampler, report, live=False)
    raise ConfigurationError(f"no image folder, video file or stream URL at {source}")


def iter_frames(
    source: str,
    *,
    every: int = 1,
    max_fps: float | None = None,
    report: FrameSendReport | None = None,
) -> Iterator[Image]:
    """The sampled images of ``source`` (BGR, as OpenCV decodes them)."""
    for frame in iter_source_frames(source, every=every, max_fps=max_fps, report=report):
        yield frame.image


def encode_jpeg(
    image: Image, quality: int = 90, max_width: int | None = None, max_pixels: int | None = None
) -> tuple[bytes, int, int]:
    """JPEG bytes, width and height, downscaled to fit ``max_width`` and ``max_pixels``."""
    if not 1 <= quality <= 100:
        raise ValueError("JPEG quality must be 1-100")
    height, width = image.shape[:2]
    scale = 1.0
    if max_width and width > max_width:
        scale = max_width / width
    if max_pixels and width * height * scale * scale > max_pixels:
        scale = math.sqrt(max_pixels / (width * height))
    if scale < 1.0:
        width, height = max(1, int(width * scale)), max(1, int(height * scale))
        image = np.asarray(
            cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA), dtype=np.uint8
        )
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("OpenCV could not encode the frame as JPEG")
    return jpeg.tobytes(), width, height


def make_frame(
    camera: FrameCamera,
    jpeg: bytes,
    width: int,
    height: int,
    collected_at: datetime | None = None,
) -> Frame:
    return Frame(
        frame_id=new_id(),
        agency_ori=camera.agency_ori,
        camera_id=camera.camera_id,
        camera_kind=camera.kind,
        collected_at=collected_at or utcnow(),
        width=width,
        height=height,
        image=jpeg,
        latitude=camera.latitude,
        longitude=camera.longitude,
        owner=camera.owner,
        consent_ref=camera.consent_ref,
    )


def send_frames(
    settings: FramesConfig,
    sink: RecordSink,
    source: str,
    camera: FrameCamera,
    *,
    every: int = 1,
    max_fps: float | None = None,
    max_frames: int | None = None,
    jpeg_quality: int = 90,
    max_width: int | None = None,
    recorded_at: datetime | None = None,
    motion: MotionSettings | None = None,
    should_stop: Callable[[], bool] | None = None,
    flush_timeout: float = 30.0,
) -> FrameSendReport:
    """Publishes the sampled frames of ``source`` as ``camera``'s; flushes at the end.

    Frames are downscaled to ``max_width`` and to ``settings.ocr_max_pixels`` (the OCR
    stage refuses larger ones). ``recorded_at`` dates a recording (see module docs).
    ``motion`` turns motion gating on; ``should_stop`` is asked before every frame.
    """
    if recorded_at is not None and recorded_at.tzinfo is None:
        raise ValueError("recorded_at needs a time zone")
    report = FrameSendReport()
    masks = PrivacyMasks(camera.privacy_masks)
    gate = MotionGate(motion, masks) if motion is not None else None
    # closing(): stopping at max_frames releases the capture now, not at garbage collection.
    with closing(iter_source_frames(source, every=every, max_fps=max_fps, report=report)) as frames:
        for frame in frames:
            if max_frames is not None and report.sent >= max_frames:
                break
            if should_stop is not None and should_stop():
                break
            # Masks first: no later step, and nothing that leaves the site, sees those pixels.
            image = masks.apply(frame.image)
            verdict = gate.judge(image) if gate is not None else Verdict.MOVING
            if verdict is Verdict.STILL:
                report.skipped_still += 1
                continue
            if verdict is Verdict.WARMUP:
                report.skipped_warmup += 1
                continue
            jpeg, width, height = encode_jpeg(
                image, jpeg_quality, max_width, settings.ocr_max_pixels
            )
            if len(jpeg) > MAX_JPEG_BYTES:
                report.skipped_too_large += 1
                log.warning("skipped frame %d: %d JPEG bytes", frame.index, len(jpeg))
                continue
            collected_at = frame.captured_at
            if recorded_at is not None and not is_stream(source):
                collected_at = recorded_at + timedelta(seconds=frame.offset_s or 0.0)
            sink.publish_frame(make_frame(camera, jpeg, width, height, collected_at))
            report.sent += 1
    report.undelivered = sink.flush(flush_timeout)
    return report
