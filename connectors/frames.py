"""Camera-side frame producer for cameras that cannot read plates themselves.

Reads an image folder, a video file or a stream URL (RTSP/HTTP) with OpenCV, samples
frames, re-encodes them as JPEG and publishes them as ``Frame`` records with the
camera's metadata. A partner camera (resident or business) carries its owner and a
consent reference. An unreadable image in a folder is skipped and counted, not fatal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from connectors.sink import RecordSink
from pipelines.records import CameraKind, Frame, new_id

log = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


@dataclass(frozen=True)
class FrameCamera:
    camera_id: str
    agency_ori: str
    kind: CameraKind = CameraKind.FIXED
    latitude: float | None = None
    longitude: float | None = None
    owner: str | None = None
    consent_ref: str | None = None

    def __post_init__(self) -> None:
        if self.kind is CameraKind.PARTNER and not (self.owner and self.consent_ref):
            raise ValueError("a partner camera needs its owner and a consent reference")


@dataclass
class FrameSendReport:
    sent: int = 0
    skipped_unreadable: int = 0
    skipped_by_sampling: int = 0
    unreadable: list[str] = field(default_factory=list)


def _is_stream(source: str) -> bool:
    return source.startswith(("rtsp://", "rtsps://", "http://", "https://"))


def iter_frames(
    source: str, *, every: int = 1, report: FrameSendReport | None = None
) -> Iterator[Image]:
    """Every ``every``-th frame of a folder (sorted), a video file or a stream."""
    report = report if report is not None else FrameSendReport()
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for index, file in enumerate(files):
            if index % every:
                report.skipped_by_sampling += 1
                continue
            read = cv2.imread(str(file), cv2.IMREAD_COLOR)
            if read is None:
                report.skipped_unreadable += 1
                report.unreadable.append(file.name)
                log.warning("skipped unreadable image %s", file.name)
                continue
            yield np.asarray(read, dtype=np.uint8)
        return
    if not _is_stream(source) and not path.is_file():
        raise FileNotFoundError(f"no image folder, video file or stream URL at {source}")
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        raise ValueError(f"OpenCV cannot open {source} as a video")
    try:
        index = 0
        while True:
            ok, image = capture.read()
            if not ok:
                break
            if index % every == 0:
                yield np.asarray(image, dtype=np.uint8)
            else:
                report.skipped_by_sampling += 1
            index += 1
    finally:
        capture.release()


def encode_jpeg(image: Image, quality: int, max_width: int | None) -> tuple[bytes, int, int]:
    height, width = image.shape[:2]
    if max_width and width > max_width:
        height = round(height * max_width / width)
        width = max_width
        image = np.asarray(
            cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA), dtype=np.uint8
        )
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("OpenCV could not encode the frame as JPEG")
    return jpeg.tobytes(), width, height


def make_frame(camera: FrameCamera, jpeg: bytes, width: int, height: int) -> Frame:
    return Frame(
        frame_id=new_id(),
        agency_ori=camera.agency_ori,
        camera_id=camera.camera_id,
        camera_kind=camera.kind,
        collected_at=datetime.now(UTC),
        width=width,
        height=height,
        image=jpeg,
        latitude=camera.latitude,
        longitude=camera.longitude,
        owner=camera.owner,
        consent_ref=camera.consent_ref,
    )


def send_frames(
    sink: RecordSink,
    source: str,
    camera: FrameCamera,
    *,
    every: int = 1,
    max_fps: float | None = None,
    max_frames: int | None = None,
    jpeg_quality: int = 90,
    max_width: int | None = 1920,
) -> FrameSendReport:
    """Publishes sampled frames of ``source``; ``max_fps`` paces a live camera."""
    report = FrameSendReport()
    interval = 1.0 / max_fps if max_fps else 0.0
    next_at = time.monotonic()
    for image in iter_frames(source, every=every, report=report):
        if max_frames is not None and report.sent >= max_frames:
            break
        if interval:
            time.sleep(max(0.0, next_at - time.monotonic()))
            next_at = time.monotonic() + interval
        jpeg, width, height = encode_jpeg(image, jpeg_quality, max_width)
        sink.publish_frame(make_frame(camera, jpeg, width, height))
        report.sent += 1
    sink.flush(30)
    return report
