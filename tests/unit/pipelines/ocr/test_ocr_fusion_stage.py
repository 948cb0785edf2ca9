"""Fusion in the running OCR stage: frame reads grouped per camera and vehicle, closed by
a new vehicle, by a quiet camera or by a full group, and fused into one read."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from pipelines.ocr import backends
from pipelines.ocr.fusion import FusionPolicy, OnlineFusion
from pipelines.settings import Settings
from pipelines.stages.ocr import load_reader
from pipelines.stages.ocr_fusion import FusionOutcome, OcrRead, VehicleFusion, frame_read
from schemas.records import PlateCandidate, ReadSource, crop_ref
from tests.factories import NOW, a_read

SETTINGS = Settings(ocr_fusion_window_seconds=2.0, ocr_fusion_min_agreeing=1)


def frame(
    plate: str,
    seconds: float,
    confidence: float = 90.0,
    camera: str = "cam-1",
    candidates: tuple[tuple[str, float], ...] = (),
) -> OcrRead:
    read = a_read(
        plate=plate,
        camera_id=camera,
        collected_at=NOW + timedelta(seconds=seconds),
        confidence=confidence,
        source=ReadSource.SERVER_OCR,
        candidates=tuple(PlateCandidate(p, c) for p, c in (candidates or ((plate, confidence),))),
        plate_box=(int(seconds * 10), 5, 100, 30),
    )
    read = dataclasses.replace(read, image_ref=crop_ref(read.read_id))
    return OcrRead(read, f"jpeg of {read.read_id}".encode())


def feed(fusion: VehicleFusion, *reads: OcrRead, start: float = 0.0) -> list[FusionOutcome]:
    """Adds the reads one wall-clock second apart; returns what closed on the way."""
    closed: list[FusionOutcome] = []
    for i, read in enumerate(reads):
        closed += fusion.add(read, start + i)
    return closed


def test_three_frames_of_one_car_become_one_read_when_the_camera_goes_quiet() -> None:
    fusion = VehicleFusion(SETTINGS)
    assert feed(fusion, frame("KRT417", 0.0), frame("KRT417", 0.3), frame("KRT417", 0.6)) == []
    assert len(fusion) == 1
    assert fusion.expire(now=2.0 + 2.0) == [], "quiet for exactly the window: still open"
    (outcome,) = fusion.expire(now=2.0 + 2.1)
    assert outcome.read is not None
    assert (outcome.frames, outcome.agreeing, outcome.read.read.frame_count) == (3, 3, 3)
    assert outcome.read.read.plate == "KRT417"
    assert len(fusion) == 0


def test_a_frame_of_another_vehicle_closes_the_group() -> None:
    fusion = VehicleFusion(SETTINGS)
    closed = feed(fusion, frame("KRT417", 0.0), frame("KRT417", 0.2), frame("HDZ771", 0.4))
    assert [(o.read.read.plate if o.read else None, o.frames) for o in closed] == [("KRT417", 2)]
    (last,) = fusion.drain()
    assert last.read is not None and last.read.read.plate == "HDZ771"


def test_the_same_plate_after_the_window_in_camera_time_is_a_new_pass() -> None:
    fusion = VehicleFusion(SETTINGS)
    closed = feed(fusion, frame("KRT417", 0.0), frame("KRT417", 5.0))
    assert [o.frames for o in closed] == [1]


def test_groups_are_per_camera() -> None:
    fusion = VehicleFusion(SETTINGS)
    reads = [frame("KRT417", 0.1 * i, camera=f"cam-{i % 2}") for i in range(4)]
    assert feed(fusion, *reads) == [], "another camera's frame closes nothing"
    outcomes = fusion.drain()
    assert sorted((o.read.read.camera_id, o.frames) for o in outcomes if o.read) == [
        ("cam-0", 2),
        ("cam-1", 2),
    ]


def test_a_quiet_camera_closes_alone_and_not_while_its_frame_is_being_read() -> None:
    fusion = VehicleFusion(SETTINGS)
    fusion.add(frame("KRT417", 0.0, camera="quiet"), 0.0)
    fusion.add(frame("HDZ771", 0.0, camera="busy"), 1.5)
    assert [o.read.read.camera_id for o in fusion.expire(2.5) if o.read] == ["quiet"]
    fusion.reading = "busy"
    assert fusion.expire(10.0) == []
    fusion.reading = None
    assert len(fusion.expire(10.0)) == 1


def test_too_few_agreeing_frames_give_no_read_but_are_reported() -> None:
    fusion = VehicleFusion(Settings(ocr_fusion_min_agreeing=2))
    feed(fusion, frame("KRT417", 0.0), frame("KRT411", 0.3))
    (outcome,) = fusion.drain()
    assert outcome == FusionOutcome(read=None, frames=2, agreeing=1)
    feed(fusion, frame("KRT417", 0.0), frame("KRT411", 0.3), frame("KRT417", 0.6))
    (counted,) = fusion.drain()
    assert counted.read is not None and (counted.frames, counted.agreeing) == (3, 2)


def test_the_fused_read_is_the_best_agreeing_frame_with_the_voted_plate() -> None:
    frames = [
        frame("5DJ0529", 0.0, 80.0, candidates=(("5DJ0529", 80.0), ("SDJ0529", 60.0))),
        frame("BDJ0529", 0.2, 95.0, candidates=(("BDJ0529", 95.0), ("8DJ0529", 40.0))),
        frame("5DJ0529", 0.4, 90.0, candidates=(("5DJ0529", 90.0), ("SDJ0529", 70.0))),
    ]
    fusion = VehicleFusion(SETTINGS)
    feed(fusion, *frames)
    (outcome,) = fusion.drain()
    assert outcome.read is not None
    read, best = outcome.read.read, frames[2].read
    assert read.plate == "5DJ0529" and read.frame_count == 3
    # Its time, place, box, id and crop are the best agreeing frame's (0.9 > 0.8).
    assert (read.read_id, read.collected_at, read.plate_box) == (
        best.read_id,
        best.collected_at,
        best.plate_box,
    )
    assert read.image_ref == crop_ref(best.read_id)
    assert outcome.read.crop_jpeg == frames[2].crop_jpeg
    assert outcome.read.crop().read_id == read.read_id
    # 90 scaled by the vote share for 5DJ0529: (80 + 90) / (80 + 95 + 90).
    assert read.confidence == pytest.approx(90.0 * 170 / 265, abs=0.01)
    # Candidates: the fused plate first, then the others by mean confidence over frames,
    # as many as the frame that offered the most (two).
    assert [c.plate for c in read.candidates] == ["5DJ0529", "SDJ0529"]
    assert read.candidates[0].confidence == read.confidence
    assert read.candidates[1].confidence == pytest.approx((60 + 70) / 3, abs=0.01)


def test_a_single_frame_of_a_slow_camera_counts_as_it_was_read() -> None:
    fusion = VehicleFusion(SETTINGS)
    single = frame("KRT417", 0.0, 88.0)
    fusion.add(single, 0.0)
    (outcome,) = fusion.drain()
    assert outcome.read is not None
    assert outcome.read.read == single.read, "one frame: the read is unchanged"


def test_a_car_parked_in_view_is_emitted_every_max_frames() -> None:
    groups: OnlineFusion[int] = OnlineFusion(FusionPolicy(2.0, 1), max_frames=3)
    closed = []
    for i in range(7):
        closed += groups.add(frame_read(frame("KRT417", 0.5 * i).read), i, float(i))
    assert [group.payloads for group in closed] == [(0, 1, 2), (3, 4, 5)]
    assert groups.frames_held() == 1


def test_fusion_settings_are_checked() -> None:
    with pytest.raises(ValidationError):
        Settings(ocr_fusion_min_agreeing=0)
    with pytest.raises(ValidationError):
        Settings(ocr_fusion_window_seconds=0)
    with pytest.raises(ValueError, match="min_agreeing"):
        OnlineFusion(FusionPolicy(2.0, 0))


def test_the_backend_setting_is_checked_and_honoured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError):
        Settings(ocr_backend="tesseract")  # type: ignore[arg-type]
    assert Settings().ocr_backend == "onnx"
    monkeypatch.setenv("LPRX_OCR_BACKEND", "paddle")
    settings = Settings(cache_dir=tmp_path)
    assert settings.ocr_backend == "paddle"
    built: list[str] = []

    class Fake:
        def recognize(self, image: object) -> list[object]:
            return []

    def fake_build(_settings: Settings, backend: str) -> Fake:
        built.append(backend)
        return Fake()

    monkeypatch.setattr(backends, "build_recognizer", fake_build)
    load_reader(settings)
    assert built == ["paddle"], "the running stage's reader uses the setting"
