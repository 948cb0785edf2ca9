"""The plate reader's second reading of its best lines, and the crops it uses. No model."""

from __future__ import annotations

import numpy as np

from pipelines.ocr import ctc
from pipelines.ocr.engine import Image, TextLine
from pipelines.ocr.onnx_engine import grown, order_corners
from pipelines.ocr.reader import LineRereader, PlateReader, PlateReadResult

FRAME = np.full((720, 1280, 3), 127, dtype=np.uint8)


def line(text: str, x: int, y: int, w: int, h: int, *alternatives: tuple[str, float]) -> TextLine:
    polygon = ((x, y), (x + w, y), (x + w, y + h), (x, y + h))
    return TextLine(text, 0.9, polygon, tuple(alternatives))


class RereadingFake:
    """First pass: canned lines; second pass: canned alternatives per line text."""

    def __init__(self, lines: list[TextLine], second: dict[str, tuple[tuple[str, float], ...]]):
        self.lines = lines
        self.second = second
        self.reread_texts: list[str] = []

    def recognize(self, image: Image) -> list[TextLine]:
        return list(self.lines)

    def reread(self, image: Image, text_line: TextLine) -> tuple[tuple[str, float], ...]:
        self.reread_texts.append(text_line.text)
        return self.second.get(text_line.text, ())


def test_the_second_reading_decides_the_plate() -> None:
    plate = line("2DA0044", 600, 300, 120, 40, ("2DA0044", 0.6), ("2DA044", 0.3))
    fake = RereadingFake([plate], {"2DA0044": (("2DA044", 0.5), ("2DA0044", 0.2))})
    assert isinstance(fake, LineRereader)
    result = PlateReader(fake, 4096 * 4096).read_frame(FRAME)
    assert isinstance(result, PlateReadResult)
    assert result.plate == "2DA044"


def test_only_the_best_candidate_lines_are_read_again() -> None:
    lines = [
        line("ABC123", 600, 300, 120, 40, ("ABC123", 0.9)),
        line("XYZ789", 100, 100, 110, 36, ("XYZ789", 0.8)),
        line("JUN24", 900, 600, 40, 12, ("JUN24", 0.5)),
    ]
    fake = RereadingFake(lines, {})
    PlateReader(fake, 4096 * 4096).read_frame(FRAME)
    assert sorted(fake.reread_texts) == ["ABC123", "XYZ789"]


def test_an_empty_second_reading_keeps_the_first() -> None:
    fake = RereadingFake([line("ABC123", 600, 300, 120, 40, ("ABC123", 0.9))], {})
    result = PlateReader(fake, 4096 * 4096).read_frame(FRAME)
    assert isinstance(result, PlateReadResult)
    assert result.plate == "ABC123"


def test_grown_moves_each_side_along_the_line() -> None:
    quad = order_corners(np.array([[10, 20], [110, 20], [110, 60], [10, 60]]))
    wider = grown(quad, 0.1, 0.0)
    np.testing.assert_allclose(wider[:, 0], [0, 120, 120, 0])
    np.testing.assert_allclose(wider[:, 1], [20, 20, 60, 60])
    shorter = grown(quad, 0.0, -0.25)
    np.testing.assert_allclose(shorter[:, 1], [30, 30, 50, 50])


def test_fold_matches_the_full_product() -> None:
    alphabet = ("", *"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", "-", "皖", "b", "圆", " ")
    matrix = ctc.fold_matrix(alphabet)
    rng = np.random.default_rng(7)
    probabilities = rng.random((20, len(alphabet))).astype(np.float32)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(
        ctc.fold(probabilities, matrix), probabilities @ matrix, rtol=1e-5, atol=1e-6
    )
