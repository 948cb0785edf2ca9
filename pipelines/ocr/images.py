"""Checked decoding of frame bytes: JPEG and PNG only, size refused before decoding.

The width and height are read from the file header first, so an oversized image (a
decompression bomb, a misconfigured camera) is refused without allocating its pixels,
and a file cut short in transit is refused instead of decoded into a half-grey frame,
which OpenCV would otherwise return with only a warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from pipelines.ocr.engine import Image
from pipelines.ocr.errors import EmptyImage, ImageTooLarge, UndecodableImage

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_EOI = b"\xff\xd9"
# Start-of-frame markers hold the dimensions; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_SOS = 0xDA
# Markers without a length field.
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})


@dataclass(frozen=True)
class ImageHeader:
    kind: Literal["jpeg", "png"]
    width: int
    height: int


def decode_image(data: bytes, max_pixels: int) -> Image:
    """A BGR image from JPEG or PNG bytes; raises an OcrInputError for anything else."""
    header = read_header(data)
    if header.width * header.height > max_pixels:
        raise ImageTooLarge(header.width, header.height, max_pixels)
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as error:
        raise UndecodableImage(f"OpenCV could not decode the {header.kind}: {error}") from error
    if image is None or image.size == 0:
        raise UndecodableImage(f"OpenCV could not decode the {header.kind} ({len(data)} bytes)")
    return np.asarray(image, dtype=np.uint8)


def read_header(data: bytes) -> ImageHeader:
    """Format and dimensions from the header, after checking the file is complete."""
    if not data:
        raise EmptyImage("frame image is empty (0 bytes)")
    if data.startswith(_JPEG_MAGIC):
        header = _jpeg_header(data)
    elif data.startswith(_PNG_MAGIC):
        header = _png_header(data)
    else:
        raise UndecodableImage(
            f"frame image is neither JPEG nor PNG (starts with {data[:8].hex()})"
        )
    if header.width == 0 or header.height == 0:
        raise EmptyImage(f"{header.kind} has no pixels ({header.width}x{header.height})")
    return header


def _jpeg_header(data: bytes) -> ImageHeader:
    size: tuple[int, int] | None = None
    position = 2
    while position < len(data):
        if data[position] != 0xFF:
            raise UndecodableImage(f"corrupt JPEG: no marker at byte {position}")
        while position < len(data) and data[position] == 0xFF:  # fill bytes
            position += 1
        if position + 2 >= len(data):
            break
        marker = data[position]
        position += 1
        if marker in _JPEG_STANDALONE:
            continue
        if marker == 0xD9:
            raise UndecodableImage("corrupt JPEG: it ends before any image data")
        length = int.from_bytes(data[position : position + 2], "big")
        if length < 2:
            raise UndecodableImage(f"corrupt JPEG: segment length {length} at byte {position}")
        if marker in _JPEG_SOF and position + 7 <= len(data):
            height = int.from_bytes(data[position + 3 : position + 5], "big")
            width = int.from_bytes(data[position + 5 : position + 7], "big")
            size = (width, height)
        if marker == _JPEG_SOS:
            if size is None:
                raise UndecodableImage("corrupt JPEG: image data before the frame header")
            # Entropy-coded data never holds FF D9, so an end marker after the scan
            # start means the file is complete (an EXIF thumbnail's ends earlier).
            if data.rfind(_JPEG_EOI) < position:
                raise UndecodableImage(f"truncated JPEG: no end marker ({len(data)} bytes)")
            return ImageHeader("jpeg", *size)
        position += length
    raise UndecodableImage(f"truncated JPEG: it ends in the header ({len(data)} bytes)")


def _png_header(data: bytes) -> ImageHeader:
    # The IHDR chunk must come first: length 13, type, then width and height.
    if len(data) < 33 or data[8:16] != b"\x00\x00\x00\x0dIHDR":
        raise UndecodableImage(f"corrupt PNG: no image header ({len(data)} bytes)")
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    if data.rfind(b"IEND") < 33:
        raise UndecodableImage(f"truncated PNG: no end chunk ({len(data)} bytes)")
    return ImageHeader("png", width, height)
