"""Errors of the OCR stage, placed in the lprx exception tree (``pipelines.errors``).

    PermanentError
    ├── OcrInputError          the frame's bytes cannot be read as a photo: dead-letter
    │   ├── EmptyImage         no bytes, or an image with no pixels
    │   ├── UndecodableImage   not a JPEG/PNG OpenCV can decode (garbage, truncated)
    │   └── ImageTooLarge      more pixels than ``settings.ocr_max_pixels``
    └── RecognizerFailed       the OCR model raised on this frame
    ConfigurationError
    └── ModelsUnavailable      the weights could not be provisioned or loaded

A frame that decodes but shows no plate is not an error: the reader returns ``NoPlate``.
Paddle and OpenCV exceptions are mapped to this tree in ``engine`` and ``reader``.
"""

from __future__ import annotations

from schemas.errors import ConfigurationError, PermanentError


class OcrInputError(PermanentError):
    """The image bytes of a frame are unusable; retrying cannot help."""


class EmptyImage(OcrInputError):
    """No bytes, or an image with zero width or height."""


class UndecodableImage(OcrInputError):
    """Bytes that are not a complete JPEG or PNG image."""


class ImageTooLarge(OcrInputError):
    """An image with more pixels than the configured limit (refused before decoding)."""

    def __init__(self, width: int, height: int, max_pixels: int) -> None:
        super().__init__(
            f"image is {width}x{height} = {width * height} pixels, "
            f"above the limit of {max_pixels} (LPRX_OCR_MAX_PIXELS)"
        )
        self.width = width
        self.height = height
        self.max_pixels = max_pixels

    def __reduce__(self) -> tuple[type[ImageTooLarge], tuple[int, int, int]]:
        # The constructor takes the sizes, not the message: pickle and copy need them.
        return type(self), (self.width, self.height, self.max_pixels)


class RecognizerFailed(PermanentError):
    """The OCR model raised on a decoded image."""


class ModelsUnavailable(ConfigurationError):
    """The OCR weights are missing and could not be provisioned, or failed to load."""
