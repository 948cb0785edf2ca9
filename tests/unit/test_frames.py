"""The frame producer: folders, video files, sampling, partner cameras, bad files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from connectors.frames import FrameCamera, iter_frames, send_frames
from connectors.sink import MemorySink
from pipelines.records import CameraKind

CAMERA = FrameCamera("legacy-1", "MN9990001", latitude=44.9, longitude=-93.2)


def write_images(folder: Path, n: int) -> None:
    for i in range(n):
        cv2.imwrite(str(folder / f"f{i:02d}.jpg"), np.full((240, 320, 3), i * 10, np.uint8))


def test_folder_frames_are_published_in_order_with_camera_metadata(tmp_path: Path) -> None:
    write_images(tmp_path, 3)
    sink = MemorySink()
    report = send_frames(sink, str(tmp_path), CAMERA)
    assert report.sent == 3
    assert [f.camera_id for f in sink.frames] == ["legacy-1"] * 3
    assert (sink.frames[0].width, sink.frames[0].height) == (320, 240)
    decoded = cv2.imdecode(np.frombuffer(sink.frames[2].image, np.uint8), cv2.IMREAD_COLOR)
    assert abs(int(decoded.mean()) - 20) <= 2


def test_unreadable_files_are_skipped_and_counted(tmp_path: Path) -> None:
    write_images(tmp_path, 2)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    sink = MemorySink()
    report = send_frames(sink, str(tmp_path), CAMERA)
    assert (
        report.sent == 2 and report.skipped_unreadable == 1 and report.unreadable == ["broken.jpg"]
    )


def test_video_file_is_sampled(tmp_path: Path) -> None:
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for i in range(20):
        writer.write(np.full((240, 320, 3), i * 5, np.uint8))
    writer.release()
    assert len(list(iter_frames(str(video), every=5))) == 4
    sink = MemorySink()
    report = send_frames(sink, str(video), CAMERA, every=2, max_frames=3)
    assert report.sent == 3


def test_large_frames_are_downscaled(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "big.png"), np.zeros((1080, 3840, 3), np.uint8))
    sink = MemorySink()
    send_frames(sink, str(tmp_path), CAMERA, max_width=1920)
    assert (sink.frames[0].width, sink.frames[0].height) == (1920, 540)


def test_partner_camera_needs_owner_and_consent() -> None:
    with pytest.raises(ValueError, match="consent"):
        FrameCamera("deli-cam", "MN9990001", CameraKind.PARTNER, owner="Main St Deli")
    camera = FrameCamera(
        "deli-cam", "MN9990001", CameraKind.PARTNER, owner="Main St Deli", consent_ref="C-2026-17"
    )
    assert camera.consent_ref == "C-2026-17"


def test_missing_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no image folder"):
        list(iter_frames(str(tmp_path / "nope.mp4")))
