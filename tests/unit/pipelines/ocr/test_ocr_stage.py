"""The OCR stage function with an injected fake recogniser: what each frame becomes."""

from __future__ import annotations

from datetime import timedelta

import cv2
import numpy as np
import pytest

from pipelines.ocr.engine import Image, TextLine
from pipelines.ocr.errors import RecognizerFailed
from pipelines.ocr.evidence import probability_exact
from pipelines.ocr.plates import plate_candidates
from pipelines.ocr.reader import PlateReader, PlateReadResult
from pipelines.settings import Settings
from pipelines.stages.ocr import NoPlateFound, frame_to_read, try_frame_to_read
from schemas.errors import InvalidRecord, PermanentError
from schemas.records import CameraKind, Frame, ReadSource
from tests.factories import NOW

SETTINGS = Settings(retention_days_by_agency={"MN9990009": 30})


class FakeRecognizer:
    def __init__(self, lines: list[TextLine] | Exception) -> None:
        self.lines = lines

    def recognize(self, image: Image) -> list[TextLine]:
        if isinstance(self.lines, Exception):
            raise self.lines
        return self.lines


def box(x: float, y: float, w: float, h: float) -> tuple[tuple[float, float], ...]:
    return ((x, y), (x + w, y), (x + w, y + h), (x, y + h))


def jpeg(width: int = 1280, height: int = 720) -> bytes:
    return cv2.imencode(".jpg", np.full((height, width, 3), 200, np.uint8))[1].tobytes()


def a_frame(image: bytes, agency: str = "MN9990001") -> Frame:
    return Frame(
        "f-1", agency, "legacy-1", CameraKind.FIXED, NOW - timedelta(seconds=3), 1280, 720, image
    )


def reader(lines: list[TextLine] | Exception) -> PlateReader:
    return PlateReader(FakeRecognizer(lines), max_pixels=SETTINGS.ocr_max_pixels)


def read_score(lines: list[TextLine]) -> float:
    return plate_candidates(lines, (1280, 720))[0].score


def test_a_plate_becomes_a_server_ocr_read() -> None:
    lines = [
        TextLine("MINNESOTA", 0.9, box(600, 380, 80, 12)),
        TextLine("ABC-1234", 0.93, box(560, 400, 160, 40)),
    ]
    outcome = frame_to_read(a_frame(jpeg()), reader(lines), SETTINGS, NOW)
    assert not isinstance(outcome, NoPlateFound)
    read = outcome.read
    assert read.plate == "ABC1234" and read.source is ReadSource.SERVER_OCR
    # OpenALPR's 0-100 scale: the calibrated chance that the plate is exact, and each
    # candidate with the recogniser's own confidence.
    direct = reader(lines).read(jpeg())
    assert isinstance(direct, PlateReadResult) and direct.evidence is not None
    assert direct.evidence.score == read_score(lines)
    assert read.confidence == pytest.approx(100 * probability_exact(direct.evidence), abs=0.01)
    assert read.candidates[0].confidence == pytest.approx(93.0)
    assert read.collected_at == NOW - timedelta(seconds=3), "the camera's time, not ours"
    assert read.expires_at == read.collected_at + timedelta(days=60)
    assert read.image_ref == f"crop:{read.read_id}" and read.source_ref == "f-1"
    assert outcome.crop_jpeg.startswith(b"\xff\xd8"), "the plate crop, as JPEG"
    assert outcome.crop().read_id == read.read_id
    assert outcome.crop().expires_at == read.expires_at, "the crop expires with its read"
    assert read.frame_count == 1
    assert read.plate_box is not None and read.candidates[0].plate == "ABC1234"


def test_retention_of_the_frame_agency_applies() -> None:
    lines = [TextLine("XYZ789", 0.9, box(560, 400, 160, 40))]
    outcome = frame_to_read(a_frame(jpeg(), "MN9990009"), reader(lines), SETTINGS, NOW)
    assert not isinstance(outcome, NoPlateFound)
    assert outcome.read.expires_at == outcome.read.collected_at + timedelta(days=30)


def test_a_frame_without_a_plate_is_counted_not_an_error() -> None:
    assert isinstance(frame_to_read(a_frame(jpeg()), reader([]), SETTINGS, NOW), NoPlateFound)


def test_low_confidence_is_no_plate() -> None:
    lines = [TextLine("ABC1234", 0.2, box(560, 400, 160, 40))]
    assert isinstance(frame_to_read(a_frame(jpeg()), reader(lines), SETTINGS, NOW), NoPlateFound)


@pytest.mark.parametrize(
    "image",
    [b"", b"not an image at all", jpeg()[:200]],
    ids=["empty", "not-an-image", "truncated-jpeg"],
)
def test_bad_image_bytes_are_invalid_records(image: bytes) -> None:
    with pytest.raises(InvalidRecord):
        frame_to_read(a_frame(image), reader([]), SETTINGS, NOW)


def test_absurd_size_is_refused_before_decoding() -> None:
    small = Settings(ocr_max_pixels=640 * 480)
    with pytest.raises(InvalidRecord, match="pixels"):
        frame_to_read(
            a_frame(jpeg()), PlateReader(FakeRecognizer([]), small.ocr_max_pixels), small, NOW
        )


def test_model_failure_is_returned_as_data_for_the_dead_letter_topic() -> None:
    outcome = try_frame_to_read(
        a_frame(jpeg()), reader(RuntimeError("paddle exploded")), SETTINGS, NOW
    )
    # Not raised on the OCR thread (which would kill the agent): handed back as data.
    assert isinstance(outcome, RuntimeError) and str(outcome) == "paddle exploded"


def test_recognizer_failure_is_permanent() -> None:
    assert issubclass(RecognizerFailed, PermanentError)
