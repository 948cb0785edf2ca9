"""The frame producer: folders, video files, sampling, partner cameras, bad files."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from connectors.frames import (
    FrameCamera,
    _redact,
    encode_jpeg,
    iter_frames,
    iter_source_frames,
    send_frames,
)
from connectors.sink import MemorySink
from pipelines.errors import ConfigurationError
from pipelines.records import CameraKind
from pipelines.settings import Settings

SETTINGS = Settings()
CAMERA = FrameCamera("legacy-1", "MN9990001", latitude=44.9, longitude=-93.2)


def write_images(folder: Path, n: int, suffix: str = ".jpg") -> None:
    for i in range(n):
        cv2.imwrite(str(folder / f"f{i:02d}{suffix}"), np.full((240, 320, 3), i * 10, np.uint8))


def write_video(path: Path, fourcc: str, frames: int = 20, fps: float = 10) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, (320, 240))
    if not writer.isOpened():
        pytest.skip(f"this OpenCV build cannot write {fourcc}")
    for i in range(frames):
        writer.write(np.full((240, 320, 3), i * 10, np.uint8))
    writer.release()
    return path


def brightness(jpeg: bytes) -> int:
    return int(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).mean())


@pytest.fixture(params=[("clip.mp4", "mp4v"), ("clip.avi", "MJPG")], ids=["mp4v", "mjpg"])
def video(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    name, fourcc = request.param
    return write_video(tmp_path / name, fourcc)


class TestFolders:
    def test_frames_are_published_in_order_with_camera_metadata(self, tmp_path: Path) -> None:
        write_images(tmp_path, 3)
        write_images(tmp_path, 1, ".png")  # "f00.png" sorts after "f00.jpg"
        (tmp_path / "notes.txt").write_text("not an image")
        sink = MemorySink()
        before = datetime.now(UTC)
        report = send_frames(SETTINGS, sink, str(tmp_path), CAMERA)
        assert report.sent == 4 and report.skipped_unreadable == 0
        assert [brightness(f.image) for f in sink.frames] == pytest.approx([0, 0, 10, 20], abs=2)
        frame = sink.frames[0]
        assert (frame.camera_id, frame.agency_ori, frame.camera_kind) == (
            "legacy-1",
            "MN9990001",
            CameraKind.FIXED,
        )
        assert (frame.width, frame.height, frame.image_format) == (320, 240, "jpeg")
        assert (frame.latitude, frame.longitude) == (44.9, -93.2)
        assert frame.image[:2] == b"\xff\xd8"
        assert before <= frame.collected_at <= datetime.now(UTC)
        assert len({f.frame_id for f in sink.frames}) == 4
        assert sink.flushes == 1

    def test_unreadable_files_are_skipped_and_counted(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        write_images(tmp_path, 2)
        (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
        (tmp_path / "empty.png").write_bytes(b"")
        sink = MemorySink()
        report = send_frames(SETTINGS, sink, str(tmp_path), CAMERA)
        assert report.sent == 2 and len(sink.frames) == 2
        assert report.skipped_unreadable == 2
        assert report.unreadable == ["broken.jpg", "empty.png"]
        assert "broken.jpg" in caplog.text

    def test_every_nth_image(self, tmp_path: Path) -> None:
        write_images(tmp_path, 7)
        report = send_frames(SETTINGS, MemorySink(), str(tmp_path), CAMERA, every=3)
        assert (report.sent, report.skipped_by_sampling) == (3, 4)

    def test_max_fps_paces_a_folder(self, tmp_path: Path) -> None:
        write_images(tmp_path, 3)
        slept: list[float] = []
        frames = list(iter_source_frames(str(tmp_path), max_fps=2, sleep=slept.append))
        assert len(frames) == 3
        # The first frame goes at once; each later one waits about half a second.
        assert slept[0] == 0 and all(0.4 < s <= 0.5 for s in slept[1:])

    def test_quality_and_downscale(self, tmp_path: Path) -> None:
        noise = np.random.default_rng(7).integers(0, 255, (1080, 3840, 3), dtype=np.uint8)
        cv2.imwrite(str(tmp_path / "big.png"), noise)
        high, low = MemorySink(), MemorySink()
        send_frames(SETTINGS, high, str(tmp_path), CAMERA, max_width=1920)
        send_frames(SETTINGS, low, str(tmp_path), CAMERA, max_width=1920, jpeg_quality=30)
        assert (high.frames[0].width, high.frames[0].height) == (1920, 540)
        assert len(low.frames[0].image) < len(high.frames[0].image)

    def test_frames_are_shrunk_to_what_ocr_accepts(self, tmp_path: Path) -> None:
        cv2.imwrite(str(tmp_path / "big.png"), np.zeros((1000, 2000, 3), np.uint8))
        small = SETTINGS.model_copy(update={"ocr_max_pixels": 500_000})
        sink = MemorySink()
        send_frames(small, sink, str(tmp_path), CAMERA)
        frame = sink.frames[0]
        assert frame.width * frame.height <= 500_000 and frame.width == 2 * frame.height

    def test_max_frames(self, tmp_path: Path) -> None:
        write_images(tmp_path, 5)
        assert send_frames(SETTINGS, MemorySink(), str(tmp_path), CAMERA, max_frames=2).sent == 2


class TestVideo:
    def test_every_frame(self, video: Path) -> None:
        images = list(iter_frames(str(video)))
        assert len(images) == 20 and images[0].shape == (240, 320, 3)
        assert int(images[19].mean()) == pytest.approx(190, abs=4)

    def test_every_nth_frame(self, video: Path) -> None:
        report = send_frames(SETTINGS, MemorySink(), str(video), CAMERA, every=5)
        assert (report.sent, report.skipped_by_sampling) == (4, 16)

    def test_max_fps_samples_by_the_video_s_own_time(self, video: Path) -> None:
        # 20 frames at 10 fps are 2 s of video: at most 2 a second is frames 0, 5, 10, 15.
        frames = list(iter_source_frames(str(video), max_fps=2))
        assert [f.index for f in frames] == [0, 5, 10, 15]
        assert [f.offset_s for f in frames] == [0.0, 0.5, 1.0, 1.5]
        assert [f.index for f in iter_source_frames(str(video), every=4, max_fps=3)] == [
            0,
            4,
            8,
            12,
            16,
        ]

    def test_a_recording_is_dated_by_when_it_was_recorded(self, video: Path) -> None:
        recorded = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
        sink = MemorySink()
        send_frames(SETTINGS, sink, str(video), CAMERA, every=10, recorded_at=recorded)
        assert [f.collected_at for f in sink.frames] == [recorded, recorded + timedelta(seconds=1)]

    def test_max_frames_stops_early(self, video: Path) -> None:
        sink = MemorySink()
        assert send_frames(SETTINGS, sink, str(video), CAMERA, every=2, max_frames=3).sent == 3


class TestStreams:
    @pytest.fixture
    def http_video(self, tmp_path: Path) -> Iterator[str]:
        write_video(tmp_path / "live.avi", "MJPG", frames=12)
        handler = partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_address[1]}/live.avi"
        server.shutdown()
        server.server_close()

    def test_an_http_stream_is_read_live(self, http_video: str) -> None:
        sink = MemorySink()
        before = datetime.now(UTC)
        report = send_frames(SETTINGS, sink, http_video, CAMERA, recorded_at=before)
        assert report.sent == 12
        # A live source is collected when it is read, whatever recorded_at says.
        assert all(before <= f.collected_at <= datetime.now(UTC) for f in sink.frames)
        assert [brightness(f.image) for f in sink.frames[:3]] == pytest.approx([0, 10, 20], abs=3)

    def test_passwords_in_stream_urls_are_not_logged(self) -> None:
        assert _redact("rtsp://admin:hunter2@10.0.0.5:554/s1") == "rtsp://***@10.0.0.5:554/s1"
        assert _redact("rtsp://10.0.0.5/s1?a=b@c") == "rtsp://10.0.0.5/s1?a=b@c"


class TestRefusals:
    def test_partner_camera_needs_owner_and_consent(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="consent"):
            FrameCamera("deli-cam", "MN9990001", CameraKind.PARTNER, owner="Main St Deli")
        camera = FrameCamera(
            "deli-cam",
            "MN9990001",
            CameraKind.PARTNER,
            owner="Main St Deli",
            consent_ref="C-2026-17",
        )
        write_images(tmp_path, 1)
        sink = MemorySink()
        send_frames(SETTINGS, sink, str(tmp_path), camera)
        (frame,) = sink.frames
        assert (frame.camera_kind, frame.owner, frame.consent_ref) == (
            CameraKind.PARTNER,
            "Main St Deli",
            "C-2026-17",
        )

    def test_missing_source_is_a_clear_error(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigurationError, match="no image folder"):
            send_frames(SETTINGS, MemorySink(), str(tmp_path / "nope.mp4"), CAMERA)

    def test_a_file_that_is_no_video_is_a_clear_error(self, tmp_path: Path) -> None:
        (tmp_path / "fake.mp4").write_bytes(b"not a video at all")
        with pytest.raises(ConfigurationError, match="cannot open"):
            send_frames(SETTINGS, MemorySink(), str(tmp_path / "fake.mp4"), CAMERA)

    @pytest.mark.parametrize(
        "options",
        [{"every": 0}, {"max_fps": 0}, {"jpeg_quality": 0}, {"jpeg_quality": 101}],
        ids=["every", "max-fps", "quality-low", "quality-high"],
    )
    def test_bad_options(self, tmp_path: Path, options: dict[str, Any]) -> None:
        write_images(tmp_path, 1)
        with pytest.raises(ValueError):
            send_frames(SETTINGS, MemorySink(), str(tmp_path), CAMERA, **options)

    def test_a_naive_recording_time_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="time zone"):
            send_frames(
                SETTINGS, MemorySink(), str(tmp_path), CAMERA, recorded_at=datetime(2026, 1, 1)
            )


def test_encode_jpeg_keeps_small_frames_as_they_are() -> None:
    jpeg, width, height = encode_jpeg(np.zeros((240, 320, 3), np.uint8), 90, 1920)
    assert (width, height) == (320, 240) and jpeg[:2] == b"\xff\xd8"
