"""``PlateReader``: from the JPEG/PNG bytes of a camera frame to the plate it shows.

Bad bytes raise an ``OcrInputError`` (see ``errors``) before any model runs; a good
frame with no readable plate returns ``NoPlate``. The text recogniser is injected, so
everything here is tested with a fake; ``from_settings`` builds the real one. A
recogniser that can also read one line again (``LineRereader``, the ONNX one) is asked
to, for the lines of the best candidates, and the plate is chosen from those readings.
A frame whose best first read is unsure gets a second look first: the
detector run again at a larger size (``Looker``), its lines competing with the first's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from pipelines.ocr import images
from pipelines.ocr.confidence import alert_threshold, calibrated
from pipelines.ocr.engine import Box, Image, TextLine, TextRecognizer
from pipelines.ocr.evidence import ReadEvidence, opinion_can_matter, probability_exact
from pipelines.ocr.formats import DEFAULT_PRIOR, FormatPrior, fits_any
from pipelines.ocr.plates import (
    DEFAULT_TOP_N,
    Candidate,
    canonical_plate,
    normalize_plate_text,
    plate_box,
    plate_candidates,
)
from pipelines.settings import Settings

# Text the detector can find is at least ~10 px tall; a frame this small holds no plate
# it can read unless enlarged first.
MIN_LONG_SIDE = 640
_CROP_JPEG_QUALITY = 90
# Lines of the best first-pass candidates read again: the plate is nearly always among
# the top two, and each second reading costs about one recognition call.
REREAD_LINES = 2
# ... the second only when its best reading scores at least this share of the first's: a
# line far behind is rarely the plate after a second reading either.
REREAD_SHARE = 0.5


# A frame whose best first-pass read is unsure (its score, calibrated alone, under this)
# is looked at again with the detector working on this long side (the full resolution
# of a 720p frame, and a little more): plates 25-35 px tall, low contrast or on a busy
# background, that the detector misses at its usual size, it often finds there. Sure
# reads never pay for it.
SECOND_LOOK_BELOW = 0.97
SECOND_LOOK_SIDE_LEN = 1600


@runtime_checkable
class Looker(Protocol):
    """A recogniser whose detector can work at another size (``OnnxTextRecognizer``)."""

    def recognize_at(self, image: Image, limit_side_len: int) -> list[TextLine]: ...


@runtime_checkable
class LineRereader(Protocol):
    """A recogniser that can read one line again more carefully (``OnnxTextRecognizer``):
    the line's plate strings with their probabilities."""

    def reread(self, image: Image, line: TextLine) -> tuple[tuple[str, float], ...]: ...


@runtime_checkable
class SecondOpinion(Protocol):
    """A recogniser with a second, independently trained model (``OnnxTextRecognizer``):
    that model's own plate strings for one line, best first (empty without one);
    ``has_second_opinion`` says whether there is one."""

    @property
    def has_second_opinion(self) -> bool: ...

    def second_opinion(self, image: Image, line: TextLine) -> tuple[tuple[str, float], ...]: ...


@dataclass(frozen=True)
class PlateReadResult:
    """The best plate read in a frame.

    ``confidence`` is the probability (0-1) that ``plate`` is exact, from ``evidence``
    by a model fit on labelled photos (``evidence``); ``candidates`` are the top-N
    distinct plates, best first (the first is ``plate``), each with the recogniser's own
    confidence; ``box`` is the estimated plate (x, y, w, h) in frame pixels and
    ``crop_jpeg`` that region as JPEG.
    """

    plate: str
    confidence: float
    candidates: tuple[Candidate, ...]
    box: Box
    crop_jpeg: bytes
    frame_size: tuple[int, int]
    evidence: ReadEvidence | None = None


@dataclass(frozen=True)
class NoPlate:
    """A frame that decoded fine but shows no readable plate (not an error)."""

    frame_size: tuple[int, int]
    text_lines: int


class PlateReader:
    """Reads plates in frames with an injected text recogniser. Thread-safe when the
    recogniser is (``PaddleTextRecognizer`` is)."""

    def __init__(
        self,
        recognizer: TextRecognizer,
        max_pixels: int,
        top_n: int = DEFAULT_TOP_N,
        prior: FormatPrior = DEFAULT_PRIOR,
        second_look: bool = True,
        decisions: Sequence[float] | None = None,
    ) -> None:
        """``decisions``: the confidences at which what is done with a read changes (the
        OCR stage's minimum, the alert threshold). Given, the second opinion is asked
        only of reads it could move across one (``evidence.opinion_can_matter``; about
        one development photo in sixteen, none of the shipped sample frames), which
        saves a recognition call on every other frame; None asks every read (the
        benchmark's cross-validation, which fits the confidence model on the answers)."""
        self.recognizer = recognizer
        self.max_pixels = max_pixels
        self.top_n = top_n
        self.prior = prior
        self.second_look = second_look
        self.decisions = None if decisions is None else tuple(decisions)

    @classmethod
    def from_settings(
        cls, settings: Settings, backend: str | None = None, regions: Sequence[str] = ()
    ) -> PlateReader:
        """The reader with the process's models (provisioned if missing), on ``backend``
        ("onnx" or "paddle"; by default ``settings.ocr_backend`` if set, else
        ``DEFAULT_BACKEND``). ``regions`` ("us", "us-ca", "eu", "sk", "br") narrow the
        plate formats to a camera's region; by default every region's count."""
        from pipelines.ocr.backends import DEFAULT_BACKEND, shared_recognizer

        chosen = backend or getattr(settings, "ocr_backend", None) or DEFAULT_BACKEND
        return cls(
            shared_recognizer(settings, chosen),
            max_pixels=settings.ocr_max_pixels,
            prior=FormatPrior.for_regions(regions),
            second_look=settings.ocr_second_look,
            decisions=None
            if settings.ocr_second_opinion_always
            else (settings.ocr_min_confidence, alert_threshold()),
        )

    def read(self, image_bytes: bytes) -> PlateReadResult | NoPlate:
        """Raises EmptyImage, UndecodableImage or ImageTooLarge for bad bytes, and
        RecognizerFailed if the model raises."""
        frame = images.decode_image(image_bytes, self.max_pixels)
        return self.read_frame(frame)

    def read_frame(self, frame: Image) -> PlateReadResult | NoPlate:
        """Reads a decoded BGR frame of any size."""
        height, width = frame.shape[:2]
        scale = enlargement(width, height)
        model_input = frame if scale == 1.0 else _resize(frame, scale)
        lines = self.recognizer.recognize(model_input)
        input_size = (model_input.shape[1], model_input.shape[0])
        candidates = plate_candidates(lines, input_size, self.top_n, self.prior)
        first_plate = candidates[0].plate if candidates else None
        unsure = not candidates or calibrated(candidates[0].score) < SECOND_LOOK_BELOW
        if unsure and self.second_look and isinstance(self.recognizer, Looker):
            lines = [*lines, *self.recognizer.recognize_at(model_input, SECOND_LOOK_SIDE_LEN)]
            candidates = plate_candidates(lines, input_size, self.top_n, self.prior)
        if candidates and isinstance(self.recognizer, LineRereader):
            lines = reread_best_lines(self.recognizer, model_input, lines, candidates)
            candidates = plate_candidates(lines, input_size, self.top_n, self.prior)
        if not candidates:
            return NoPlate(frame_size=(width, height), text_lines=len(lines))
        evidence = read_evidence(candidates, self.prior, unsure, candidates[0].plate != first_plate)
        if isinstance(self.recognizer, SecondOpinion) and self.recognizer.has_second_opinion:
            differs: bool | None = None  # not asked: it could not change what is done
            if self.decisions is None or opinion_can_matter(evidence, self.decisions):
                differs = second_opinion_disagrees(
                    self.recognizer, model_input, lines, candidates[0]
                )
            evidence = dataclasses.replace(evidence, second_opinion_differs=differs)
        if scale != 1.0:
            candidates = [_rescaled(candidate, 1.0 / scale) for candidate in candidates]
        best = candidates[0]
        box = plate_box(best.line_box, (width, height))
        return PlateReadResult(
            plate=best.plate,
            confidence=round(probability_exact(evidence), 4),
            candidates=tuple(candidates),
            box=box,
            crop_jpeg=_jpeg_crop(frame, box),
            frame_size=(width, height),
            evidence=evidence,
        )


def second_opinion_disagrees(
    recognizer: TextRecognizer, image: Image, lines: Sequence[TextLine], best: Candidate
) -> bool:
    """Whether the second recogniser's likeliest plate for the best read's line differs
    from the read (False when there is no second recogniser to ask)."""
    if not isinstance(recognizer, SecondOpinion) or not recognizer.has_second_opinion:
        return False
    line = next((line for line in lines if line.bounds() == best.line_box), None)
    if line is None:  # pieces joined into one line: their common box
        x, y, w, h = best.line_box
        line = TextLine(
            best.plate, best.confidence, ((x, y), (x + w, y), (x + w, y + h), (x, y + h))
        )
    opinion = recognizer.second_opinion(image, line)
    if not opinion:
        return False
    plate, _ = normalize_plate_text(opinion[0][0])
    return canonical_plate(plate) != best.plate


def read_evidence(
    candidates: Sequence[Candidate],
    prior: FormatPrior,
    first_unsure: bool,
    changed: bool,
    second_opinion_differs: bool = False,
) -> ReadEvidence:
    """What the confidence of the best of ``candidates`` (non-empty) is computed from."""
    best = candidates[0]
    runner_up = candidates[1].score / best.score if len(candidates) > 1 and best.score else 0.0
    return ReadEvidence(
        score=best.score,
        runner_up=runner_up,
        fits_format=fits_any(best.plate, prior.narrow | prior.wide),
        length=len(best.plate),
        first_unsure=first_unsure,
        changed=changed,
        second_opinion_differs=second_opinion_differs,
    )


def reread_best_lines(
    rereader: LineRereader, image: Image, lines: list[TextLine], candidates: list[Candidate]
) -> list[TextLine]:
    """``lines`` with those of the best ``REREAD_LINES`` candidates read again, each
    only if its best candidate scores at least ``REREAD_SHARE`` of the best one's."""
    boxes: list[Box] = []
    best = candidates[0].score if candidates else 0.0
    for candidate in candidates:
        if candidate.line_box not in boxes and candidate.score >= REREAD_SHARE * best:
            boxes.append(candidate.line_box)
    chosen = boxes[:REREAD_LINES]
    reread = []
    for line in lines:
        alternatives = rereader.reread(image, line) if line.bounds() in chosen else ()
        reread.append(line._replace(alternatives=alternatives) if alternatives else line)
    return reread


def enlargement(width: int, height: int) -> float:
    """How much to enlarge a small frame (a plate crop, a thumbnail) before detection.
    Large frames are not shrunk here: the detector bounds its own input size and the
    recogniser reads text lines from the full-resolution frame."""
    long_side = max(width, height)
    return 1.0 if long_side >= MIN_LONG_SIDE else MIN_LONG_SIDE / long_side


def _resize(frame: Image, scale: float) -> Image:
    size = (max(1, round(frame.shape[1] * scale)), max(1, round(frame.shape[0] * scale)))
    return np.asarray(cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC), dtype=np.uint8)


def _rescaled(candidate: Candidate, factor: float) -> Candidate:
    x, y, w, h = candidate.line_box
    box = (round(x * factor), round(y * factor), round(w * factor), round(h * factor))
    return Candidate(candidate.plate, candidate.confidence, box, candidate.score)


def _jpeg_crop(frame: Image, box: Box) -> bytes:
    x, y, w, h = box
    ok, encoded = cv2.imencode(
        ".jpg", frame[y : y + h, x : x + w], [cv2.IMWRITE_JPEG_QUALITY, _CROP_JPEG_QUALITY]
    )
    if not ok:  # cannot happen for a non-empty 8-bit crop; keep the read regardless
        return b""
    return bytes(np.asarray(encoded).tobytes())
