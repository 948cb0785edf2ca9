"""The frame producer: folders, video files, sampling, partner cameras, bad files,
privacy masks, motion gating, camera configuration files and partner video uploads."""

from __future__ import annotations

import json
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
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from connectors.cameras.config_file import load_cameras, parse_cameras, run_cameras
from connectors.cameras.frames import (
    FrameCamera,
    encode_jpeg,
    iter_frames,
    iter_source_frames,
    redact_url,
    send_frames,
)
from connectors.cameras.motion import MotionGate, MotionSettings, Verdict
from connectors.cameras.privacy_masks import PrivacyMasks, rasterize, validate_polygon
from connectors.ingest.app import create_ingest_app
from connectors.ingest.uploads import sniff_container
from connectors.kafka.sink import MemorySink
from pipelines.settings import Settings
from schemas.errors import ConfigurationError
from schemas.records import AuditAction, AuditOutcome, CameraKind

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
        assert redact_url("rtsp://admin:hunter2@10.0.0.5:554/s1") == "rtsp://***@10.0.0.5:554/s1"
        assert redact_url("rtsp://10.0.0.5/s1?a=b@c") == "rtsp://10.0.0.5/s1?a=b@c"


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


# --- privacy masks --------------------------------------------------------------------------

LEFT_HALF = ((0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0))
# Above the road of passing_car(): hides a neighbour's windows, not the vehicles.
TOP_HALF = ((0.0, 0.0), (1.0, 0.0), (1.0, 0.5), (0.0, 0.5))
# Concave, with slanted edges: a fair test of any rasterizer.
ARROW = ((0.1, 0.1), (0.9, 0.3), (0.45, 0.45), (0.83, 0.91), (0.15, 0.7))


def decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


class TestPrivacyMasks:
    def test_a_mask_blacks_out_exactly_its_polygon(self) -> None:
        image = np.full((240, 320, 3), 200, np.uint8)
        masked = PrivacyMasks([LEFT_HALF]).apply(image)
        assert (masked[:, :160] == 0).all() and (masked[:, 160:] == 200).all()
        assert (image == 200).all()  # the caller's frame is not changed

    def test_a_pixel_is_masked_when_its_centre_is_inside(self) -> None:
        height, width = 48, 64
        contour = np.array([(x * width, y * height) for x, y in ARROW], np.float32)
        # OpenCV's signed distance of each pixel centre to the polygon: > 0 inside.
        distance = np.array(
            [
                [
                    cv2.pointPolygonTest(contour, (col + 0.5, row + 0.5), True)
                    for col in range(width)
                ]
                for row in range(height)
            ]
        )
        assert np.abs(distance).min() > 1e-4  # no centre on an edge: the answer is clear
        masked = PrivacyMasks([ARROW]).apply(np.full((height, width, 3), 255, np.uint8))
        assert ((masked == 0).all(axis=2) == (distance > 0)).all()
        assert 0.2 < (distance > 0).mean() < 0.5

    def test_fractions_fit_every_resolution(self) -> None:
        small, large = rasterize([ARROW], 120, 160), rasterize([ARROW], 1080, 1440)
        assert small.mean() == pytest.approx(large.mean(), abs=0.01)
        # A pixel of the small mask covers a 9x9 block of the large one.
        assert (large[::9, ::9] == small).mean() > 0.97

    def test_masks_are_applied_before_frames_are_encoded(self, tmp_path: Path) -> None:
        cv2.imwrite(str(tmp_path / "f.png"), np.full((240, 320, 3), 180, np.uint8))
        camera = FrameCamera("c1", "MN9990001", privacy_masks=[LEFT_HALF])
        sink = MemorySink()
        send_frames(SETTINGS, sink, str(tmp_path), camera)
        image = decode(sink.frames[0].image)
        # JPEG blurs the boundary; away from it the pixels are exact.
        assert image[:, :156].max() <= 2 and abs(int(image[:, 164:].mean()) - 180) <= 2

    @pytest.mark.parametrize(
        ("polygon", "error"),
        [
            ([[0, 0], [1, 1]], "3 to 256 points, got 2"),
            ([[0, 0], [1.5, 0], [1, 1]], "point 1 (1.5, 0.0) is outside 0-1"),
            ([[0, 0], [0.5, -0.1], [1, 1]], "outside 0-1"),
            ([[0, 0], [640, 0], [640, 480]], "fractions of the frame"),
            ([[0, 0], [0.5, 0.5], [1, 1]], "no area"),
            ([[0, 0], [1, 0, 0], [1, 1]], "point 1 must be two numbers"),
            ([[0, 0], ["a", 0], [1, 1]], "two numbers"),
            ([[0, 0], [float("nan"), 0], [1, 1]], "outside 0-1"),
            ("0,0 1,0 1,1", "a list of [x, y] points"),
            ([[0, 0]] * 300, "got 300"),
        ],
    )
    def test_bad_polygons_are_refused_clearly(self, polygon: Any, error: str) -> None:
        with pytest.raises(ValueError, match="mask") as raised:
            validate_polygon(polygon, "mask")
        assert error in str(raised.value)

    def test_a_camera_names_its_bad_mask(self) -> None:
        with pytest.raises(ValueError, match=r"camera c1 mask 1: .*outside 0-1"):
            FrameCamera("c1", "MN9990001", privacy_masks=[LEFT_HALF, ((0, 0), (2, 0), (0, 1))])
        with pytest.raises(ValueError, match="at most 32 masks"):
            FrameCamera("c1", "MN9990001", privacy_masks=[LEFT_HALF] * 33)
        camera = FrameCamera("c1", "MN9990001", privacy_masks=[[[0, 0], [1, 0], [1, 1]]])  # type: ignore[list-item]
        assert camera.privacy_masks == (((0.0, 0.0), (1.0, 0.0), (1.0, 1.0)),)


# --- motion gating ----------------------------------------------------------------------------

RECORDED = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def backdrop(width: int = 320, height: int = 240) -> np.ndarray:
    """A textured, still scene (a flat one would hide the noise a real camera has)."""
    noise = np.random.default_rng(3).integers(40, 220, (height, width, 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 2)


def passing_car(frames: int = 30, start: int = 10, stop: int = 20) -> list[np.ndarray]:
    """A still scene a red box crosses, left to right, in the frames start..stop-1."""
    base, images = backdrop(), []
    for i in range(frames):
        image = base.copy()
        if start <= i < stop:
            x = (i - start) * 28
            image[150:200, x : x + 60] = (20, 20, 230)
        images.append(image)
    return images


def write_clip(path: Path, images: list[np.ndarray], fps: float = 10) -> Path:
    height, width = images[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened()
    for image in images:
        writer.write(image)
    writer.release()
    return path


def sent_indexes(sink: MemorySink, fps: float = 10) -> list[int]:
    """Which source frames were sent, from their collected_at (RECORDED + position)."""
    return [round((f.collected_at - RECORDED).total_seconds() * fps) for f in sink.frames]


class TestMotionGating:
    def test_a_still_scene_sends_its_first_frame_and_then_nothing(self, tmp_path: Path) -> None:
        clip = write_clip(tmp_path / "still.avi", [backdrop()] * 25)
        sink = MemorySink()
        report = send_frames(
            SETTINGS, sink, str(clip), CAMERA, recorded_at=RECORDED, motion=MotionSettings()
        )
        assert sent_indexes(sink) == [0]
        assert (report.sent, report.skipped_warmup, report.skipped_still) == (1, 2, 22)

    def test_a_moving_vehicle_is_sent(self, tmp_path: Path) -> None:
        clip = write_clip(tmp_path / "car.avi", passing_car())
        sink = MemorySink()
        report = send_frames(
            SETTINGS, sink, str(clip), CAMERA, recorded_at=RECORDED, motion=MotionSettings()
        )
        assert sent_indexes(sink) == [0, *range(10, 20)]
        assert report.skipped_still == 30 - 11 - 2

    def test_motion_behind_a_privacy_mask_is_not_sent(self, tmp_path: Path) -> None:
        clip = write_clip(tmp_path / "car.avi", passing_car())
        # The strip the box drives along (rows 150-199 of 240), a little wider.
        road = ((0.0, 0.6), (1.0, 0.6), (1.0, 0.85), (0.0, 0.85))
        camera = FrameCamera("c1", "MN9990001", privacy_masks=[road])
        sink = MemorySink()
        report = send_frames(
            SETTINGS, sink, str(clip), camera, recorded_at=RECORDED, motion=MotionSettings()
        )
        assert sent_indexes(sink) == [0] and report.skipped_still == 27

    def test_a_parked_car_is_not_sent_forever(self, tmp_path: Path) -> None:
        base, images = backdrop(), []
        for i in range(60):
            image = base.copy()
            if i >= 10:
                image[150:200, 100:160] = (20, 20, 230)
            images.append(image)
        sink = MemorySink()
        send_frames(
            SETTINGS,
            sink,
            str(write_clip(tmp_path / "park.avi", images)),
            CAMERA,
            recorded_at=RECORDED,
            motion=MotionSettings(),
        )
        sent = sent_indexes(sink)
        assert sent[:2] == [0, 10] and len(sent) <= 8 and max(sent) < 20

    def test_the_threshold_is_a_share_of_the_unmasked_area(self) -> None:
        base = backdrop()
        # A 40x40 box is 2% of 320x240, but 8% of the quarter a mask leaves visible.
        visible = ((0.5, 0.0), (1.0, 0.0), (1.0, 0.5), (0.5, 0.5))
        hide_the_rest = [
            ((0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)),
            ((0.5, 0.5), (1.0, 0.5), (1.0, 1.0), (0.5, 1.0)),
        ]
        masks = PrivacyMasks(hide_the_rest)
        assert not rasterize([visible], 240, 320)[rasterize(hide_the_rest, 240, 320)].any()
        verdicts = {}
        for name, gate_masks in [("unmasked", PrivacyMasks(())), ("masked", masks)]:
            gate = MotionGate(MotionSettings(threshold=0.05, warmup_frames=1), gate_masks)
            gate.judge(gate_masks.apply(base))
            moved = base.copy()
            moved[20:60, 200:240] = (255, 255, 255)
            verdicts[name] = (gate.judge(gate_masks.apply(moved)), gate.last_share)
        assert verdicts["unmasked"][0] is Verdict.STILL
        assert verdicts["unmasked"][1] == pytest.approx(0.02, abs=0.01)
        assert verdicts["masked"][0] is Verdict.MOVING
        assert verdicts["masked"][1] == pytest.approx(0.08, abs=0.03)

    def test_a_new_frame_size_starts_over(self) -> None:
        gate = MotionGate(MotionSettings(warmup_frames=2))
        assert [gate.judge(backdrop()) for _ in range(3)] == [
            Verdict.FIRST,
            Verdict.WARMUP,
            Verdict.STILL,
        ]
        # The gate works on a copy GATE_WIDTH wide: only a new shape of that copy is new.
        assert gate.judge(backdrop(400, 200)) is Verdict.FIRST

    @pytest.mark.parametrize(
        "options",
        [{"threshold": 0}, {"threshold": 1}, {"warmup_frames": 0}, {"history": 1}],
        ids=["threshold-0", "threshold-1", "warmup", "history"],
    )
    def test_bad_motion_settings(self, options: dict[str, Any]) -> None:
        with pytest.raises(ValueError):
            MotionSettings(**options)


# --- camera configuration file ----------------------------------------------------------------

CAMERAS_TOML = """
[[cameras]]
id = "deli-cam"
agency = "MN9990001"
kind = "PARTNER"
source = "rtsp://admin:hunter2@10.0.0.5:554/stream1"
owner = "Main St Deli"
consent_ref = "C-2026-17"
latitude = 44.97
longitude = -93.27
max_fps = 2.0
jpeg_quality = 85
max_width = 1280
motion_threshold = 0.01
masks = [[[0.0, 0.0], [0.4, 0.0], [0.4, 0.3], [0.0, 0.3]]]

[[cameras]]
id = "gate-2"
agency = "MN9990001"
source = "{folder}"
every = 2
"""


def camera_entry(**overrides: Any) -> dict[str, Any]:
    return {"id": "cam-1", "agency": "MN9990001", "source": "/no/such/video.mp4", **overrides}


class TestCameraConfig:
    def test_a_toml_file_describes_each_camera(self, tmp_path: Path) -> None:
        path = tmp_path / "cameras.toml"
        path.write_text(CAMERAS_TOML.format(folder=tmp_path))
        deli, gate = load_cameras(path)
        camera = deli.camera()
        assert (camera.camera_id, camera.kind, camera.owner, camera.consent_ref) == (
            "deli-cam",
            CameraKind.PARTNER,
            "Main St Deli",
            "C-2026-17",
        )
        assert camera.privacy_masks == (((0.0, 0.0), (0.4, 0.0), (0.4, 0.3), (0.0, 0.3)),)
        assert (deli.max_fps, deli.jpeg_quality, deli.max_width) == (2.0, 85, 1280)
        # Motion gating defaults to on for a stream and off for a folder of stills.
        assert deli.motion_settings() == MotionSettings(threshold=0.01)
        assert gate.motion_settings() is None
        assert (gate.kind, gate.every, gate.camera().privacy_masks) == (CameraKind.FIXED, 2, ())

    def test_a_json_file_and_explicit_motion(self, tmp_path: Path) -> None:
        path = tmp_path / "cameras.json"
        cameras = [
            camera_entry(motion=False),
            camera_entry(id="cam-2", source=str(tmp_path), motion=True, motion_warmup_frames=5),
        ]
        path.write_text(json.dumps({"cameras": cameras}))
        video, folder = load_cameras(path)
        assert video.motion_settings() is None
        assert folder.motion_settings() == MotionSettings(warmup_frames=5)

    @pytest.mark.parametrize(
        ("cameras", "error"),
        [
            ([camera_entry(mask=[])], "cameras.0 (cam-1).mask: Extra inputs are not permitted"),
            ([{"id": "cam-1", "source": "x"}], "cameras.0 (cam-1).agency: Field required"),
            ([camera_entry(kind="PARTNER", owner="Deli")], "PARTNER camera needs owner and consent_ref"),
            ([camera_entry(kind="DRONE")], "cameras.0 (cam-1).kind"),
            ([camera_entry(masks=[[[0, 0], [1, 0], [1, 2]]])], "masks: mask 0: point 2 (1.0, 2.0) is outside 0-1"),
            ([camera_entry(masks=[[[0, 0], [1, 0]]])], "3 to 256 points"),
            ([camera_entry(jpeg_quality=0)], "jpeg_quality: Input should be greater than or equal to 1"),
            ([camera_entry(every=0)], "every"),
            ([camera_entry(motion_threshold=2)], "motion_threshold"),
            ([camera_entry(), camera_entry()], "camera ids must be unique: cam-1 repeated"),
            ([], "cameras: List should have at least 1 item"),
        ],
    )  # fmt: skip
    def test_errors_name_the_camera_and_field(self, cameras: list[Any], error: str) -> None:
        with pytest.raises(ConfigurationError) as raised:
            parse_cameras({"cameras": cameras})
        assert error in str(raised.value)

    def test_errors_never_echo_a_stream_password(self) -> None:
        entry = {"id": "c", "source": "rtsp://admin:hunter2@10.0.0.5/s1", "jpeg_quality": "x"}
        with pytest.raises(ConfigurationError) as raised:
            parse_cameras({"cameras": [entry]})
        assert "agency: Field required" in str(raised.value)
        assert "hunter2" not in str(raised.value)

    @pytest.mark.parametrize(
        ("name", "text", "error"),
        [
            ("cameras.toml", "[[cameras]\nid = 1", "is not valid TOML"),
            ("cameras.json", "{", "is not valid JSON"),
            ("cameras.toml", "", "cameras: Field required"),
            ("cameras.toml", "camera = []", "camera: Extra inputs are not permitted"),
        ],
    )
    def test_file_errors(self, tmp_path: Path, name: str, text: str, error: str) -> None:
        (tmp_path / name).write_text(text)
        with pytest.raises(ConfigurationError, match=name) as raised:
            load_cameras(tmp_path / name)
        assert error in str(raised.value)

    def test_a_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigurationError, match="cannot read camera configuration"):
            load_cameras(tmp_path / "nope.toml")

    def test_cameras_run_side_by_side_and_one_failure_stops_no_other(self, tmp_path: Path) -> None:
        write_images(tmp_path, 3)
        clip = write_clip(tmp_path / "car.avi", passing_car())
        configs = parse_cameras(
            {
                "cameras": [
                    camera_entry(id="folder", source=str(tmp_path)),
                    camera_entry(id="video", source=str(clip), masks=[TOP_HALF]),
                    camera_entry(id="broken", source="rtsp://u:hunter2@127.0.0.1:9/none"),
                ]
            }
        )
        sink = MemorySink()
        folder, video, broken = run_cameras(SETTINGS, sink, configs, threading.Event())
        assert folder.report is not None and folder.report.sent == 3
        assert video.report is not None and video.report.sent == 11
        assert broken.report is None and broken.error is not None
        assert "hunter2" not in broken.error and "hunter2" not in broken.source
        by_camera = {f.camera_id: f for f in sink.frames}
        assert decode(by_camera["video"].image)[:112].max() <= 2

    def test_a_set_stop_event_stops_every_camera(self, tmp_path: Path) -> None:
        clip = write_clip(tmp_path / "car.avi", passing_car())
        stop = threading.Event()
        stop.set()
        (run,) = run_cameras(
            SETTINGS,
            MemorySink(),
            parse_cameras({"cameras": [camera_entry(source=str(clip))]}),
            stop,
        )
        assert run.report is not None and run.report.sent == 0


class TestFramesCommand:
    @pytest.fixture
    def sink(self, monkeypatch: pytest.MonkeyPatch) -> MemorySink:
        sink = MemorySink()
        monkeypatch.setattr("connectors.kafka.sink.KafkaSink", lambda settings, client_id: sink)
        return sink

    def invoke(self, *args: str) -> Any:
        from pipelines.cli import app

        return CliRunner().invoke(app, ["frames", *args], env={"COLUMNS": "200"})

    def test_config_file(self, tmp_path: Path, sink: MemorySink) -> None:
        write_images(tmp_path, 4)
        path = tmp_path / "cameras.toml"
        path.write_text(CAMERAS_TOML.format(folder=tmp_path))
        result = self.invoke("--config", str(path), "--camera", "gate-2")
        assert result.exit_code == 0, result.output
        assert "gate-2: 2 frames sent, 2 skipped by sampling, 0 still" in result.output
        assert {f.camera_id for f in sink.frames} == {"gate-2"}

    def test_single_camera_options_with_a_mask_and_motion(
        self, tmp_path: Path, sink: MemorySink
    ) -> None:
        clip = write_clip(tmp_path / "car.avi", passing_car())
        result = self.invoke(
            str(clip), "--camera", "c1", "--agency", "MN9990001", "--mask", "0,0 1,0 1,0.5 0,0.5"
        )
        assert result.exit_code == 0, result.output
        assert "c1: 11 frames sent, 0 skipped by sampling, 17 still, 2 warm-up" in result.output
        assert decode(sink.frames[0].image)[:112].max() <= 2
        result = self.invoke(str(clip), "--camera", "c1", "--agency", "MN9990001", "--no-motion")
        assert "c1: 30 frames sent" in result.output

    @pytest.mark.parametrize(
        ("args", "error"),
        [
            (["x", "--config", "c.toml"], "not both"),
            (["x", "--camera", "c1"], "give SOURCE, --camera and --agency"),
            (["x", "--camera", "c1", "--agency", "A", "--mask", "0,0 1,0 1,y"], "--mask"),
            (
                ["x", "--camera", "c1", "--agency", "A", "--mask", "0,0 1,0 1"],
                "point 2 must be two",
            ),
            (["x", "--camera", "c1", "--agency", "A", "--mask", "0,0 1,0 1,2"], "outside 0-1"),
        ],
    )
    def test_usage_errors(self, sink: MemorySink, args: list[str], error: str) -> None:
        result = self.invoke(*args)
        assert result.exit_code == 1 and error in result.output and sink.frames == []


# --- partner video uploads ----------------------------------------------------------------------

OWNER_TOKEN = {"Authorization": "Bearer secret-owner"}
UPLOAD_SETTINGS = Settings(
    ingest_tokens={"MN9990001": SecretStr("secret-owner")},
    upload_max_bytes=2_000_000,
    retention_days_by_agency={"MN9990001": 60},
)
VIDEO = {"Content-Type": "video/x-msvideo", **OWNER_TOKEN}


def upload_params(**overrides: Any) -> dict[str, Any]:
    params = {
        "camera_id": "porch-7",
        "owner": "J. Resident",
        "consent_ref": "C-2026-88",
        "recorded_at": (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0).isoformat(),
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


class TestUploads:
    @pytest.fixture
    def upload_dir(self, tmp_path: Path) -> Path:
        folder = tmp_path / "uploads"
        folder.mkdir()
        return folder

    @pytest.fixture
    def sink(self) -> MemorySink:
        return MemorySink()

    @pytest.fixture
    def client(self, sink: MemorySink, upload_dir: Path) -> Iterator[TestClient]:
        settings = UPLOAD_SETTINGS.model_copy(update={"upload_dir": upload_dir})
        with TestClient(create_ingest_app(settings, sink)) as client:
            yield client

    @pytest.fixture
    def clip(self, tmp_path: Path) -> bytes:
        return write_clip(tmp_path / "car.avi", passing_car()).read_bytes()

    def test_a_good_video_becomes_partner_frames(
        self, client: TestClient, sink: MemorySink, clip: bytes, upload_dir: Path
    ) -> None:
        recorded = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
        masks = json.dumps([TOP_HALF])
        params = upload_params(recorded_at=recorded.isoformat(), masks=masks, latitude=44.9)
        response = client.post("/v1/uploads", params=params, content=clip, headers=VIDEO)
        assert response.status_code == 202, response.text
        body = response.json()
        # 30 frames at 10 fps sampled at 2 a second are frames 0, 5, ..., 25: the first
        # is sent, then those with the box (10 and 15); the still ones (5, 20, 25) are not.
        assert (body["frames_sent"], body["skipped_by_sampling"]) == (3, 24)
        assert (body["skipped_warmup"], body["skipped_still"]) == (0, 3)
        assert [f.collected_at for f in sink.frames] == [
            recorded,
            recorded + timedelta(seconds=1),
            recorded + timedelta(seconds=1.5),
        ]
        frame = sink.frames[0]
        assert (frame.agency_ori, frame.camera_id, frame.camera_kind) == (
            "MN9990001",
            "porch-7",
            CameraKind.PARTNER,
        )
        assert (frame.owner, frame.consent_ref, frame.latitude) == (
            "J. Resident",
            "C-2026-88",
            44.9,
        )
        assert all(decode(f.image)[:112].max() <= 2 for f in sink.frames)
        assert all(decode(f.image)[124:].mean() > 50 for f in sink.frames)
        (audit,) = sink.audits
        assert (audit.action, audit.actor, audit.actor_agency_ori, audit.target_id) == (
            AuditAction.INGEST,
            "camera:porch-7",
            "MN9990001",
            body["upload_id"],
        )
        assert audit.details["consent_ref"] == "C-2026-88" and audit.details["count"] == "3"
        assert list(upload_dir.iterdir()) == []  # the temporary file is gone

    @pytest.mark.parametrize(
        ("headers", "reason"),
        [({}, "no token"), ({"Authorization": "Bearer wrong"}, "invalid token")],
    )
    def test_without_a_valid_token_nothing_is_read(
        self,
        client: TestClient,
        sink: MemorySink,
        clip: bytes,
        headers: dict[str, str],
        reason: str,
    ) -> None:
        headers = {"Content-Type": "video/x-msvideo", **headers}
        response = client.post("/v1/uploads", params=upload_params(), content=clip, headers=headers)
        assert response.status_code == 401 and sink.frames == []
        (audit,) = sink.audits
        assert (audit.action, audit.outcome) == (AuditAction.ACCESS_DENIED, AuditOutcome.DENIED)
        assert audit.details == {"reason": reason}

    @pytest.mark.parametrize(
        ("overrides", "error"),
        [
            ({"consent_ref": None}, "consent_ref: Field required"),
            ({"owner": ""}, "owner: String should have at least 1 character"),
            ({"recorded_at": "2026-11-20T08:00:00"}, "recorded_at: Input should have timezone info"),
            ({"recorded_at": "yesterday"}, "recorded_at: Input should be a valid datetime"),
            ({"recorded_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}, "in the future"),
            ({"masks": "[[[0, 0], [2, 0], [1, 1]]]"}, "masks: mask 0: point 1 (2.0, 0.0) is outside 0-1"),
            ({"masks": "not json"}, "masks must be JSON"),
            ({"cam": "x"}, "cam: Extra inputs are not permitted"),
        ],
    )  # fmt: skip
    def test_bad_parameters_are_a_422(
        self,
        client: TestClient,
        sink: MemorySink,
        clip: bytes,
        overrides: dict[str, Any],
        error: str,
    ) -> None:
        response = client.post(
            "/v1/uploads", params=upload_params(**overrides), content=clip, headers=VIDEO
        )
        assert response.status_code == 422
        assert error in response.json()["error"]
        assert sink.frames == [] and sink.audits == []

    def test_a_recording_past_retention_is_refused(
        self, client: TestClient, sink: MemorySink, clip: bytes
    ) -> None:
        old = (datetime.now(UTC) - timedelta(days=61)).isoformat()
        response = client.post(
            "/v1/uploads", params=upload_params(recorded_at=old), content=clip, headers=VIDEO
        )
        assert response.status_code == 422 and response.json()["error"] == "past retention"
        assert sink.frames == []

    def test_too_large_is_a_413(
        self, client: TestClient, sink: MemorySink, upload_dir: Path
    ) -> None:
        body = b"RIFF" + b"\0" * 2_100_000
        response = client.post("/v1/uploads", params=upload_params(), content=body, headers=VIDEO)
        assert response.status_code == 413

        def chunks() -> Iterator[bytes]:
            for _ in range(30):
                yield b"\0" * 100_000  # no Content-Length: refused while streaming

        response = client.post(
            "/v1/uploads", params=upload_params(), content=chunks(), headers=VIDEO
        )
        assert response.status_code == 413
        assert sink.frames == [] and list(upload_dir.iterdir()) == []

    @pytest.mark.parametrize(
        ("body", "error"),
        [
            (b"", "not a recognised video"),
            (np.random.default_rng(1).bytes(50_000), "not a recognised video"),
            # A playlist would make FFmpeg fetch its URLs: refused before OpenCV sees it.
            (b"#EXTM3U\n#EXTINF:10,\nhttp://10.0.0.1/secret.ts\n", "not a recognised video"),
            (b"RIFF\x00\x10\x00\x00AVI LIST" + b"\x00" * 5000, "cannot be opened"),
        ],
        ids=["empty", "noise", "playlist", "broken-avi"],
    )
    def test_an_undecodable_video_is_a_422_and_sends_nothing(
        self, client: TestClient, sink: MemorySink, upload_dir: Path, body: bytes, error: str
    ) -> None:
        response = client.post("/v1/uploads", params=upload_params(), content=body, headers=VIDEO)
        assert response.status_code == 422
        assert error in response.json()["error"]
        assert sink.frames == [] and sink.audits == [] and list(upload_dir.iterdir()) == []

    def test_a_truncated_video_sends_what_it_can(
        self, client: TestClient, sink: MemorySink, clip: bytes
    ) -> None:
        # The first frames of an interrupted recording are still evidence.
        response = client.post(
            "/v1/uploads", params=upload_params(), content=clip[: len(clip) // 2], headers=VIDEO
        )
        assert response.status_code == 202 and response.json()["frames_sent"] >= 1
        assert len(sink.frames) == response.json()["frames_sent"]

    def test_only_video_bodies(self, client: TestClient, sink: MemorySink, clip: bytes) -> None:
        headers = {**OWNER_TOKEN, "Content-Type": "application/json"}
        response = client.post("/v1/uploads", params=upload_params(), content=clip, headers=headers)
        assert response.status_code == 415 and sink.frames == []

    def test_container_sniffing(self, clip: bytes, tmp_path: Path) -> None:
        mp4 = write_video(tmp_path / "clip.mp4", "mp4v").read_bytes()
        assert (sniff_container(clip[:512]), sniff_container(mp4[:512])) == ("avi", "mp4")
        assert sniff_container(b"\x1a\x45\xdf\xa3" + b"\0" * 40) == "matroska"
        assert sniff_container(b"GIF89a" + b"\0" * 40) is None
