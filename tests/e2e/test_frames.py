"""End to end, frames: a legacy camera's frame read by OCR and stored, bad frames
dead-lettered while good ones are still read, and the frames of one car fused into one
read with its plate crop."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import cv2
import numpy as np

from pipelines.demo import SAMPLES
from schemas.records import ReadSource, utcnow
from tests.conftest import wait_for
from tests.e2e.harness import CODEC, DAY_S, Running, find_letter, metric_total, rows_for


def test_frame_is_read_by_ocr_and_stored(running: Running) -> None:
    running.produce("frames", running.frame(running.frame_jpeg).encode(CODEC))
    # Other tests' frames show the same plate from other cameras.
    row = rows_for(running, running.frame_plate, timeout=180, camera_id="legacy-cam")[0]
    assert row["camera_id"] == "legacy-cam"
    assert 60 * DAY_S - 300 <= row["ttl"] <= 60 * DAY_S


def test_bad_frames_are_dead_lettered_and_good_frames_still_read(running: Running) -> None:
    # A camera of their own: no other test's frames meet these in OCR fusion or dedup.
    camera = "legacy-cam-bad"
    truncated = running.frame(running.frame_jpeg[: len(running.frame_jpeg) // 3], camera)
    noise = running.frame(b"this is not an image", camera)
    running.produce("frames", b"\x00garbage frame")
    running.produce("frames", noise.encode(CODEC))
    running.produce("frames", truncated.encode(CODEC))
    blank = cv2.imencode(".jpg", np.full((720, 1280, 3), 128, np.uint8))[1].tobytes()
    running.produce("frames", running.frame(blank, camera).encode(CODEC))
    running.produce("frames", running.frame(running.frame_jpeg, "legacy-cam-2").encode(CODEC))
    find_letter(running, lambda d: d.original_value == b"\x00garbage frame" and d.stage == "ocr")
    find_letter(running, lambda d: d.stage == "ocr" and d.original_value == noise.encode(CODEC))
    # The good frame behind the bad ones is still read and stored.
    wait_for(
        lambda: any(r["camera_id"] == "legacy-cam-2" for r in running.stored(running.frame_plate)),
        180,
        "the good frame's read",
    )


def views_of_one_car(jpeg: bytes) -> list[bytes]:
    """Three frames of a car moving through the scene: shifted and nearer each time."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    height, width = image.shape[:2]
    views = []
    for step in range(3):
        scale, shift = 1.0 + 0.03 * step, -12.0 * step
        move = np.array(
            [[scale, 0, shift + (1 - scale) * width / 2], [0, scale, (1 - scale) * height / 2]],
            np.float32,
        )
        moved = cv2.warpAffine(image, move, (width, height), borderMode=cv2.BORDER_REPLICATE)
        views.append(cv2.imencode(".jpg", moved, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    return views


def test_frames_of_one_car_are_fused_into_one_read_with_its_crop(running: Running) -> None:
    manifest = json.loads((SAMPLES / "frames" / "manifest.json").read_text())
    car = next(f for f in manifest["frames"] if not f["demo_hotlist"])
    start = utcnow()
    start -= timedelta(microseconds=start.microsecond % 1000)  # Avro keeps milliseconds
    # The worker's count: other tests' frames are in it too.
    fused_before = metric_total(running, "ocr", "fused_frames")
    frames = [
        dataclasses.replace(
            running.frame(view, "fusion-cam"), collected_at=start + timedelta(seconds=0.3 * step)
        )
        for step, view in enumerate(
            views_of_one_car((SAMPLES / "frames" / car["file"]).read_bytes())
        )
    ]
    for frame in frames:
        running.produce("frames", frame.encode(CODEC), key=b"fusion-cam")
    rows_for(running, car["plate"], timeout=180)
    # The same frames again (a camera replaying its recording): still one read of the car.
    folded_before = metric_total(running, "dedup", "duplicate")
    for frame in frames:
        running.produce("frames", frame.encode(CODEC), key=b"fusion-cam")
    wait_for(
        lambda: metric_total(running, "dedup", "duplicate") > folded_before,
        120,
        "the replayed frames' read folded into the pass",
    )
    reads = [r for r in running.store.stored_reads(car["plate"]) if r.camera_id == "fusion-cam"]
    assert len(reads) == 1
    (read,) = reads
    assert (read.frame_count, read.source) == (3, ReadSource.SERVER_OCR)
    assert start <= read.collected_at <= start + timedelta(seconds=0.7)
    assert read.candidates[0].plate == car["plate"]
    # The plate crop is stored under the read's id, expiring with it.
    assert read.image_ref == f"crop:{read.read_id}"
    crop = running.store.plate_crop(read.read_id)
    assert crop is not None and crop.jpeg.startswith(b"\xff\xd8")
    assert crop.expires_at == read.expires_at
    assert metric_total(running, "ocr", "fused_frames") - fused_before >= 6
