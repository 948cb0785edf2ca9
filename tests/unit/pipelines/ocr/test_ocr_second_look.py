"""The reader's second look at a frame it could not read surely: the detector run again
at a larger size, only then. No model."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.ocr.engine import Image, TextLine
from pipelines.ocr.reader import SECOND_LOOK_SIDE_LEN, Looker, PlateReader, PlateReadResult

FRAME = np.full((720, 1280, 3), 127, dtype=np.uint8)


def line(text: str, confidence: float, x: int = 600, y: int = 300) -> TextLine:
    polygon = ((x, y), (x + 120, y), (x + 120, y + 40), (x, y + 40))
    return TextLine(text, confidence, polygon)


class LookingFake:
    """Canned lines at the usual detector size, and others at a larger one."""

    def __init__(self, first: list[TextLine], closer: list[TextLine]) -> None:
        self.first = first
        self.closer = closer
        self.sizes: list[int] = []

    def recognize(self, image: Image) -> list[TextLine]:
        return list(self.first)

    def recognize_at(self, image: Image, limit_side_len: int) -> list[TextLine]:
        self.sizes.append(limit_side_len)
        return list(self.closer)


def test_a_frame_with_no_plate_found_is_looked_at_again_larger() -> None:
    fake = LookingFake([], [line("KRT417", 0.99)])
    assert isinstance(fake, Looker)
    result = PlateReader(fake, 4096 * 4096).read_frame(FRAME)
    assert isinstance(result, PlateReadResult) and result.plate == "KRT417"
    assert fake.sizes == [SECOND_LOOK_SIDE_LEN]


def test_an_unsure_read_competes_with_what_the_second_look_finds() -> None:
    fake = LookingFake([line("ZX7", 0.5, x=40, y=40)], [line("KRT417", 0.99)])
    result = PlateReader(fake, 4096 * 4096).read_frame(FRAME)
    assert isinstance(result, PlateReadResult) and result.plate == "KRT417"
    assert [c.plate for c in result.candidates] == ["KRT417", "ZX7"]


def test_a_sure_read_gets_no_second_look() -> None:
    fake = LookingFake([line("KRT417", 0.999)], [line("ZZZ999", 0.999)])
    result = PlateReader(fake, 4096 * 4096).read_frame(FRAME)
    assert isinstance(result, PlateReadResult) and result.plate == "KRT417"
    assert fake.sizes == []


def test_the_second_look_can_be_turned_off() -> None:
    fake = LookingFake([], [line("KRT417", 0.99)])
    assert not isinstance(
        PlateReader(fake, 4096 * 4096, second_look=False).read_frame(FRAME), PlateReadResult
    )
    assert fake.sizes == []


def test_the_setting_reaches_the_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.ocr import backends
    from pipelines.settings import Settings

    fake = LookingFake([], [line("KRT417", 0.99)])
    monkeypatch.setattr(backends, "shared_recognizer", lambda settings, backend: fake)
    assert PlateReader.from_settings(Settings()).second_look
    reader = PlateReader.from_settings(Settings(ocr_second_look=False))
    assert not isinstance(reader.read_frame(FRAME), PlateReadResult) and fake.sizes == []
