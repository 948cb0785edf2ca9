"""PP-OCR text detection and recognition on ONNX Runtime: PaddleOCR's weights, exported to
ONNX, run without Paddle.

Besides the ``TextRecognizer`` protocol (whole frame in, text lines out) it exposes the
halves the plate reader needs: ``detect`` (text-line quadrilaterals), ``recognize_crops``
(per-time-step character probabilities, so plate rules can weigh a character's
alternatives instead of trusting one decoded string) and ``reread`` (a line read again
from more crops, and by a second recogniser when one is given, voting per character).

The pre- and post-processing follow PaddleOCR's published PP-OCR settings: detection
input normalised with ImageNet mean/std on the BGR image, sides multiples of 32, DB
post-processing (threshold 0.3, box score 0.6, unclip 1.5); recognition in ``onnx_rec``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from pipelines.ocr.ctc import best_strings, segments
from pipelines.ocr.engine import DET_LIMIT_SIDE_LEN, Image, TextLine
from pipelines.ocr.errors import ModelsUnavailable, RecognizerFailed
from pipelines.ocr.glyphs import damp_small_glyphs
from pipelines.ocr.onnx_rec import CropRead, OnnxLineModel, OnnxRecFiles, cpu_session
from pipelines.ocr.vote import LineReading, merge, placed

__all__ = ["CropRead", "OnnxModelFiles", "OnnxRecFiles", "OnnxTextRecognizer"]

Quad = npt.NDArray[np.float32]
"""Four (x, y) corners, clockwise from top-left, in image pixels."""

# Plate readings kept per line: enough for the confusable pairs of a few characters.
ALTERNATIVES_PER_LINE = 8
# Width / height of a line: 8 plate characters with spaces are about 6 heights long.
MAX_LINE_ASPECT = 10.0
_MIN_LINE_CHARACTERS = 2
_MAX_LINE_CHARACTERS = 12
# Second-pass crops of a plate line, as growth of its box on each side in shares of its
# width (dx) and height (dy): wider (end characters the box cut) and tighter in height
# (frame edges, bolts and small print above and below the characters). The first
# recogniser's reading of the crop as detected is reused; the second reads that too.
REREAD_CROPS = ((0.06, 0.0), (0.0, -0.08))
VOTER_CROPS = ((0.0, 0.0), (0.06, 0.0))
# Share of the vote the second recogniser has in a reread (the first has the rest):
# chosen by cross-validation on the development photos (benchmarks/ocr.py).
VOTER_WEIGHT = 0.15
# The second recogniser is asked only when the first one's merged reading of a line is
# less sure than this: a line read alike from every crop gains nothing from a vote.
VOTE_BELOW = 0.9
# A frame smaller than the detector's working size is enlarged up to this much for
# detection: text a few pixels tall (a distant plate, a small frame) is found at the
# size the detector works best at. Dev photos shrunk to half size: 157 -> 173 of 218.
DET_MAX_UPSCALE = 2.0
_DET_THRESH = 0.3
_DET_BOX_THRESH = 0.6
_DET_UNCLIP = 1.5
_DET_MIN_SIDE = 3
_DET_MAX_CANDIDATES = 200
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
_DET_SCALE = (1.0 / (255.0 * _STD)).astype(np.float32)
_DET_SHIFT = (-_MEAN / _STD).astype(np.float32)


@dataclass(frozen=True)
class OnnxModelFiles:
    """A det model, a rec model and the rec model's character list (one per line)."""

    det: Path
    rec: Path
    keys: Path


class OnnxTextRecognizer:
    """PP-OCR det + rec with ONNX Runtime on CPU, and optionally a second rec model that
    votes when a line is read again. Thread-safe."""

    def __init__(
        self,
        files: OnnxModelFiles,
        voter: OnnxRecFiles | None = None,
        det_limit_side_len: int = DET_LIMIT_SIDE_LEN,
        cpu_threads: int | None = None,
        voter_weight: float = VOTER_WEIGHT,
    ) -> None:
        try:
            self._det: Any = cpu_session(files.det, cpu_threads)
        except Exception as error:  # onnxruntime raises its own untyped errors
            raise ModelsUnavailable(f"ONNX Runtime could not load {files}: {error}") from error
        # The line models on one thread each (``onnx_rec.REC_CPU_THREADS``), the detector
        # on ``cpu_threads`` (default: every core this process may use).
        self.model = OnnxLineModel(OnnxRecFiles(files.rec, files.keys))
        self.voter = OnnxLineModel(voter) if voter is not None else None
        self.voter_weight = voter_weight if voter is not None else 0.0
        self.vote_below = VOTE_BELOW
        self.alphabet = self.model.alphabet
        self.det_limit_side_len = det_limit_side_len
        # One lock per session: ORT sessions may run concurrently, but on 2 cores two
        # frames at once only double each one's latency.
        self._det_lock = threading.Lock()

    # --- TextRecognizer ---------------------------------------------------------------

    def recognize(self, image: Image) -> list[TextLine]:
        """Lines that could hold a plate, read; longer lines (slogans, timestamp overlays,
        signs) are not worth the recogniser's time."""
        return self.recognize_at(image, self.det_limit_side_len)

    def recognize_at(self, image: Image, limit_side_len: int) -> list[TextLine]:
        """``recognize`` with the detector working at ``limit_side_len`` (``Looker``)."""
        quads = [
            quad for quad in self.detect(image, limit_side_len) if aspect(quad) <= MAX_LINE_ASPECT
        ]
        crops = [crop_quad(image, quad) for quad in quads]
        lines = []
        for quad, crop, read in zip(quads, crops, self.recognize_crops(crops), strict=True):
            line = TextLine(read.text, read.confidence, _polygon(quad))
            # Only lines of plate length are worth the search; signs and slogans are not.
            characters = sum(character.isalnum() for character in read.text)
            if _MIN_LINE_CHARACTERS <= characters <= _MAX_LINE_CHARACTERS:
                reading = line_reading(read, crop, (0.0, 1.0))
                alternatives = best_strings(reading.segments, ALTERNATIVES_PER_LINE)
                line = line._replace(alternatives=tuple(alternatives), readings=(reading,))
            lines.append(line)
        return lines

    def reread(self, image: Image, line: TextLine) -> tuple[tuple[str, float], ...]:
        """A second, surer reading of one line: its plate strings from a few crops of it
        (as detected, wider, tighter in height), read by each recogniser and merged
        character by character (``vote.merge``) with the first reading.

        One crop's misreads depend on where its edges fall: a character at the end cut
        by the detector's box, a frame edge or a sticker read as a character. Crops
        with other edges, and a recogniser trained otherwise, rarely make the same
        mistake, so merging their readings votes.
        """
        quad = order_corners(np.asarray(line.polygon, dtype=np.float32))
        weight = 1.0 - self.voter_weight
        readings = [LineReading(r.segments, r.centers, r.span, weight) for r in line.readings]
        if not readings:  # a line this recogniser did not read (joined pieces)
            readings = self._readings(self.model, image, quad, ((0.0, 0.0),), weight)
        readings += self._readings(self.model, image, quad, REREAD_CROPS, weight)
        strings = best_strings(merge(readings), ALTERNATIVES_PER_LINE)
        if self.voter is None or self.voter_weight <= 0:
            return tuple(strings)
        if strings and strings[0][1] >= self.vote_below:
            return tuple(strings)  # sure without a second opinion
        readings += self._readings(self.voter, image, quad, VOTER_CROPS, self.voter_weight)
        return tuple(best_strings(merge(readings), ALTERNATIVES_PER_LINE))

    @property
    def has_second_opinion(self) -> bool:
        """Whether there is a second recogniser to give one (``second_opinion``)."""
        return self.voter is not None

    def second_opinion(self, image: Image, line: TextLine) -> tuple[tuple[str, float], ...]:
        """The second recogniser's own plate strings for a line (from the crops it reads
        in a reread), the first's reading left out: whether a model trained otherwise
        reads the same plate says how far to trust it. Empty without a second one.
        Both crops: from the crop as detected alone the opinion told less (held out,
        recall at the alert threshold 0.80 instead of 0.88; ``benchmarks/ocr.py``)."""
        if self.voter is None:
            return ()
        quad = order_corners(np.asarray(line.polygon, dtype=np.float32))
        readings = self._readings(self.voter, image, quad, VOTER_CROPS, 1.0)
        return tuple(best_strings(merge(readings), ALTERNATIVES_PER_LINE))

    def _readings(
        self,
        model: OnnxLineModel,
        image: Image,
        quad: Quad,
        specs: Sequence[tuple[float, float]],
        weight: float,
    ) -> list[LineReading]:
        crops = [crop_quad(image, grown(quad, dx, dy)) for dx, dy in specs]
        reads = model.recognize_crops(crops)
        return [
            line_reading(read, crop, (-dx, 1.0 + dx), weight)
            for (dx, _), crop, read in zip(specs, crops, reads, strict=True)
        ]

    # --- detection --------------------------------------------------------------------

    def detect(self, image: Image, limit_side_len: int | None = None) -> list[Quad]:
        """Text-line quadrilaterals in ``image`` pixels, top to bottom."""
        limit = limit_side_len or self.det_limit_side_len
        height, width = image.shape[:2]
        scale = min(DET_MAX_UPSCALE, limit / max(height, width))
        det_h = max(32, round(height * scale / 32) * 32)
        det_w = max(32, round(width * scale / 32) * 32)
        resized = cv2.resize(image, (det_w, det_h))
        # Normalised one channel at a time into a contiguous NCHW blob: a third of the
        # time of whole-image float arithmetic, and no copy inside ONNX Runtime.
        blob = np.stack(
            [resized[:, :, c].astype(np.float32) * _DET_SCALE[c] + _DET_SHIFT[c] for c in range(3)]
        )[None]
        try:
            with self._det_lock:
                probability = self._det.run(None, {self._det.get_inputs()[0].name: blob})[0]
        except Exception as error:
            raise RecognizerFailed(f"text detection failed on {image.shape}: {error}") from error
        quads = db_boxes(np.asarray(probability[0, 0], dtype=np.float32))
        ratio = np.array([width / det_w, height / det_h], dtype=np.float32)
        return sorted((quad * ratio for quad in quads), key=lambda q: (q[0, 1], q[0, 0]))

    # --- recognition ------------------------------------------------------------------

    def recognize_crops(self, crops: Sequence[Image]) -> list[CropRead]:
        """Reads each crop (one text line) with the first recogniser."""
        return self.model.recognize_crops(crops)


def line_reading(
    read: CropRead, crop: Image, span: tuple[float, float], weight: float = 1.0
) -> LineReading:
    """A crop's reading placed along its line, small print made unlikely."""
    steps = len(read.folded)
    found = damp_small_glyphs(segments(read.folded), crop, steps)
    return placed(found, steps, span, weight)


def aspect(quad: Quad) -> float:
    width = float(np.linalg.norm(quad[1] - quad[0]))
    height = float(np.linalg.norm(quad[3] - quad[0]))
    return width / max(1.0, height)


def db_boxes(probability: npt.NDArray[np.float32]) -> list[Quad]:
    """DB post-processing: threshold, contours, box score, unclip, minimum-area box."""
    bitmap = (probability > _DET_THRESH).astype(np.uint8)
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    height, width = probability.shape
    quads: list[Quad] = []
    for contour in contours[:_DET_MAX_CANDIDATES]:
        rect = cv2.minAreaRect(contour)
        if min(rect[1]) < _DET_MIN_SIDE:
            continue
        if _box_score(probability, contour) < _DET_BOX_THRESH:
            continue
        (center_x, center_y), (side_w, side_h), angle = rect
        # DB "unclip": grow the box by area * ratio / perimeter. Offsetting a rectangle
        # by d and taking the minimum-area box again gives the rectangle d larger on
        # every side, so no polygon-clipping library is needed.
        perimeter = 2.0 * (side_w + side_h)
        grow = side_w * side_h * _DET_UNCLIP / perimeter
        rect = ((center_x, center_y), (side_w + 2 * grow, side_h + 2 * grow), angle)
        if min(rect[1]) < _DET_MIN_SIDE + 2:
            continue
        quad = order_corners(cv2.boxPoints(rect))
        quad[:, 0] = np.clip(quad[:, 0], 0, width - 1)
        quad[:, 1] = np.clip(quad[:, 1], 0, height - 1)
        quads.append(quad)
    return quads


def _box_score(probability: npt.NDArray[np.float32], contour: npt.NDArray[Any]) -> float:
    x, y, w, h = cv2.boundingRect(contour)
    mask = np.zeros((h, w), dtype=np.uint8)
    polygon = (contour.reshape(-1, 2) - np.array([x, y])).astype(np.int32)
    cv2.fillPoly(mask, [polygon], (1.0,))
    return float(cv2.mean(probability[y : y + h, x : x + w], mask)[0])


def order_corners(points: npt.NDArray[Any]) -> Quad:
    """Top-left, top-right, bottom-right, bottom-left."""
    points = np.asarray(points, dtype=np.float32).reshape(4, 2)
    by_x = points[np.argsort(points[:, 0])]
    left = by_x[:2][np.argsort(by_x[:2, 1])]
    right = by_x[2:][np.argsort(by_x[2:, 1])]
    return np.array([left[0], right[0], right[1], left[1]], dtype=np.float32)


def grown(quad: Quad, dx: float, dy: float) -> Quad:
    """The quadrilateral moved out on each side by ``dx`` of its width and ``dy`` of its
    height (negative values shrink it)."""
    across = quad[1] - quad[0]
    down = quad[3] - quad[0]
    return np.array(
        [
            quad[0] - across * dx - down * dy,
            quad[1] + across * dx - down * dy,
            quad[2] + across * dx + down * dy,
            quad[3] - across * dx + down * dy,
        ],
        dtype=np.float32,
    )


def crop_quad(image: Image, quad: Quad) -> Image:
    """The quadrilateral warped to an upright rectangle (deskews a tilted line)."""
    top = float(np.linalg.norm(quad[1] - quad[0]))
    bottom = float(np.linalg.norm(quad[2] - quad[3]))
    left = float(np.linalg.norm(quad[3] - quad[0]))
    right = float(np.linalg.norm(quad[2] - quad[1]))
    width = max(1, round(max(top, bottom)))
    height = max(1, round(max(left, right)))
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    warped = cv2.warpPerspective(
        image, matrix, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )
    return np.asarray(warped, dtype=np.uint8)


def _polygon(quad: Quad) -> tuple[tuple[float, float], ...]:
    return tuple((float(x), float(y)) for x, y in quad.tolist())
