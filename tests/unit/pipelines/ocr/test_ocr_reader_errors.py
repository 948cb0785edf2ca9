"""PlateReader on bad and good bytes, with a fake recogniser injected. No model."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest

from pipelines.ocr.engine import Image, TextLine
from pipelines.ocr.errors import (
    EmptyImage,
    ImageTooLarge,
    OcrInputError,
    RecognizerFailed,
    UndecodableImage,
)
from pipelines.ocr.evidence import probability_exact
from pipelines.ocr.images import read_header
from pipelines.ocr.reader import NoPlate, PlateReader, PlateReadResult
from schemas.errors import PermanentError

MAX_PIXELS = 4096 * 4096


class FakeRecognizer:
    """Returns canned lines and remembers the images it was given."""

    def __init__(self, lines: list[TextLine] | None = None) -> None:
        self.lines = lines or []
        self.seen: list[tuple[int, ...]] = []

    def recognize(self, image: Image) -> list[TextLine]:
        self.seen.append(image.shape)
        return list(self.lines)


class FailingRecognizer:
    def recognize(self, image: Image) -> list[TextLine]:
        raise RecognizerFailed("model exploded")


def frame_bytes(width: int = 1280, height: int = 720, ext: str = ".jpg") -> bytes:
    image = np.full((height, width, 3), 127, dtype=np.uint8)
    cv2.rectangle(image, (width // 3, height // 3), (width // 2, height // 2), (255, 255, 255), -1)
    ok, encoded = cv2.imencode(ext, image)
    assert ok
    return encoded.tobytes()


def with_jpeg_size(data: bytes, width: int, height: int) -> bytes:
    """The same JPEG with its frame header claiming another size."""
    sof = data.index(b"\xff\xc0")
    return data[: sof + 5] + struct.pack(">HH", height, width) + data[sof + 9 :]


def with_png_size(data: bytes, width: int, height: int) -> bytes:
    return data[:16] + struct.pack(">II", width, height) + data[24:]


def plate_line(x: int = 500, y: int = 400, w: int = 150, h: int = 34) -> TextLine:
    return TextLine("KRT 417", 0.93, ((x, y), (x + w, y), (x + w, y + h), (x, y + h)))


@pytest.fixture
def fake() -> FakeRecognizer:
    return FakeRecognizer()


@pytest.fixture
def reader(fake: FakeRecognizer) -> PlateReader:
    return PlateReader(fake, max_pixels=MAX_PIXELS)


def test_empty_bytes(reader: PlateReader, fake: FakeRecognizer) -> None:
    with pytest.raises(EmptyImage, match="empty"):
        reader.read(b"")
    assert fake.seen == []


@pytest.mark.parametrize(
    "data",
    [
        b"hello, not an image",
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
        b"BM" + bytes(100),  # a BMP: OpenCV could decode it, but frames are JPEG or PNG
        b"\x00" * 1024,
    ],
)
def test_non_image_bytes(reader: PlateReader, fake: FakeRecognizer, data: bytes) -> None:
    with pytest.raises(UndecodableImage, match="neither JPEG nor PNG"):
        reader.read(data)
    assert fake.seen == []


@pytest.mark.parametrize("keep", [0.5, 0.95, 0.01])
def test_truncated_jpeg(reader: PlateReader, keep: float) -> None:
    data = frame_bytes()
    with pytest.raises(UndecodableImage, match="truncated JPEG"):
        reader.read(data[: max(4, int(len(data) * keep))])


def test_truncated_png(reader: PlateReader) -> None:
    data = frame_bytes(ext=".png")
    with pytest.raises(UndecodableImage, match="truncated PNG"):
        reader.read(data[: len(data) // 2])


def test_jpeg_with_garbage_after_the_header(reader: PlateReader) -> None:
    data = frame_bytes()
    sof = data.index(b"\xff\xc0")
    with pytest.raises(UndecodableImage):
        reader.read(data[:sof] + b"\x12\x34" * 50 + b"\xff\xd9")


def test_absurd_jpeg_size_is_refused_before_decoding(
    reader: PlateReader, fake: FakeRecognizer
) -> None:
    data = with_jpeg_size(frame_bytes(64, 32), 60000, 60000)
    with pytest.raises(ImageTooLarge, match="60000x60000") as raised:
        reader.read(data)
    assert (raised.value.width, raised.value.height) == (60000, 60000)
    assert fake.seen == []


def test_absurd_png_size_is_refused_before_decoding(reader: PlateReader) -> None:
    data = with_png_size(frame_bytes(64, 32, ".png"), 100000, 100000)
    with pytest.raises(ImageTooLarge, match="LPRX_OCR_MAX_PIXELS"):
        reader.read(data)


def test_the_pixel_limit_comes_from_the_reader(fake: FakeRecognizer) -> None:
    small_limit = PlateReader(fake, max_pixels=640 * 480)
    with pytest.raises(ImageTooLarge):
        small_limit.read(frame_bytes(1280, 720))
    assert isinstance(small_limit.read(frame_bytes(640, 480)), NoPlate)


@pytest.mark.parametrize(
    "data",
    [with_jpeg_size(frame_bytes(64, 32), 0, 32), with_png_size(frame_bytes(64, 32, ".png"), 64, 0)],
)
def test_zero_sized_image(reader: PlateReader, data: bytes) -> None:
    with pytest.raises(EmptyImage, match="no pixels"):
        reader.read(data)


def test_input_errors_are_permanent() -> None:
    for error in (EmptyImage, UndecodableImage, ImageTooLarge, RecognizerFailed):
        assert issubclass(error, PermanentError)
    for error in (EmptyImage, UndecodableImage, ImageTooLarge):
        assert issubclass(error, OcrInputError)


def test_header_of_good_images() -> None:
    assert read_header(frame_bytes(1280, 720)) == read_header(frame_bytes(1280, 720))
    jpeg, png = read_header(frame_bytes(1280, 720)), read_header(frame_bytes(320, 200, ".png"))
    assert (jpeg.kind, jpeg.width, jpeg.height) == ("jpeg", 1280, 720)
    assert (png.kind, png.width, png.height) == ("png", 320, 200)


def test_a_frame_without_a_plate_is_no_plate(reader: PlateReader, fake: FakeRecognizer) -> None:
    fake.lines = [TextLine("MINNESOTA", 0.99, ((0, 0), (100, 0), (100, 20), (0, 20)))]
    result = reader.read(frame_bytes())
    assert result == NoPlate(frame_size=(1280, 720), text_lines=1)
    assert fake.seen == [(720, 1280, 3)]


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_a_plate_is_read_with_box_and_crop(fake: FakeRecognizer, ext: str) -> None:
    fake.lines = [plate_line()]
    result = PlateReader(fake, max_pixels=MAX_PIXELS).read(frame_bytes(ext=ext))
    assert isinstance(result, PlateReadResult)
    assert result.plate == "KRT417"
    assert [c.plate for c in result.candidates] == ["KRT417"]
    assert result.candidates[0].confidence == pytest.approx(0.93)  # the recogniser's
    # The read's own confidence is the modelled chance that it is exact, from its evidence.
    assert result.evidence is not None and result.evidence.score == result.candidates[0].score
    assert result.confidence == pytest.approx(probability_exact(result.evidence), abs=1e-4)
    x, y, w, h = result.box
    assert x <= 500 and y <= 400 and x + w >= 650 and y + h >= 434
    crop = cv2.imdecode(np.frombuffer(result.crop_jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert crop.shape == (h, w, 3)


def test_a_small_image_is_enlarged_and_boxes_mapped_back(fake: FakeRecognizer) -> None:
    # The fake sees the enlarged 640x320 image and answers in its coordinates.
    fake.lines = [plate_line(x=100, y=100, w=400, h=100)]
    result = PlateReader(fake, max_pixels=MAX_PIXELS).read(frame_bytes(160, 80))
    assert fake.seen == [(320, 640, 3)]
    assert isinstance(result, PlateReadResult)
    assert result.candidates[0].line_box == (25, 25, 100, 25)
    assert result.frame_size == (160, 80)
    x, y, w, h = result.box
    assert x >= 0 and y >= 0 and x + w <= 160 and y + h <= 80


def test_recognizer_failure_propagates_typed() -> None:
    with pytest.raises(RecognizerFailed):
        PlateReader(FailingRecognizer(), max_pixels=MAX_PIXELS).read(frame_bytes())
