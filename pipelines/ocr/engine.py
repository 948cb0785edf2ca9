"""The text recogniser the plate reader runs: an injected model runner.

``TextRecognizer`` is all the reader needs (an image in, text lines out), so plate logic
is tested with a fake and the model can be swapped. ``PaddleTextRecognizer`` runs
PaddleOCR's PP-OCRv4 mobile detection + recognition from the provisioned local folders;
Paddle is imported only when one is built, so importing this module stays cheap.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from pipelines.ocr.errors import ModelsUnavailable, RecognizerFailed
from pipelines.ocr.models import DET_MODEL_NAME, REC_MODEL_NAME, ModelPaths
from pipelines.ocr.vote import LineReading

Image = npt.NDArray[np.uint8]
"""An OpenCV BGR image, height x width x 3."""

Box = tuple[int, int, int, int]
"""x, y, width, height in pixels of the image the box refers to."""

# The detector sees at most this long side; recognition still crops the text lines from
# the image as given, so small plates in big frames keep their full resolution there.
DET_LIMIT_SIDE_LEN = 960


class TextLine(NamedTuple):
    """One recognised line of text and where it is.

    ``alternatives`` are the likeliest plate-alphabet readings of the line with their
    probabilities, best first, when the recogniser can tell them (the ONNX one does);
    empty otherwise, and then ``text`` is all there is. ``polygon`` is the line's
    quadrilateral, clockwise from its top-left corner.
    """

    text: str
    confidence: float
    polygon: tuple[tuple[float, float], ...]
    alternatives: tuple[tuple[str, float], ...] = ()
    readings: tuple[LineReading, ...] = ()
    """The character-level readings ``alternatives`` came from (ONNX only), so a second
    reading of the line can vote with them character by character."""

    def bounds(self) -> Box:
        xs = [point[0] for point in self.polygon]
        ys = [point[1] for point in self.polygon]
        x, y = int(min(xs)), int(min(ys))
        return x, y, max(1, round(max(xs)) - x), max(1, round(max(ys)) - y)


class TextRecognizer(Protocol):
    """Finds and reads every line of text in a BGR image. May be called from any thread."""

    def recognize(self, image: Image) -> list[TextLine]: ...


class PaddleTextRecognizer:
    """PaddleOCR (PP-OCRv4 mobile det + rec) on CPU, from local model folders.

    Loading takes seconds, so build one per process (``shared_paddle_recognizer``).
    Paddle predictors are not safe to call concurrently: calls are serialised by a lock.
    """

    def __init__(
        self,
        paths: ModelPaths,
        det_limit_side_len: int = DET_LIMIT_SIDE_LEN,
        cpu_threads: int | None = None,
    ) -> None:
        # No network check of model sources: the weights are local and hubs unreachable.
        os.environ.setdefault("PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK", "True")
        started = time.perf_counter()
        try:
            from paddleocr import PaddleOCR

            self._ocr: Any = PaddleOCR(
                text_detection_model_name=DET_MODEL_NAME,
                text_detection_model_dir=str(paths.det_dir),
                text_recognition_model_name=REC_MODEL_NAME,
                text_recognition_model_dir=str(paths.rec_dir),
                use_doc_orientation_classify=False,
                use_doc_unwarping=False,
                use_textline_orientation=False,
                text_det_limit_side_len=det_limit_side_len,
                text_det_limit_type="max",
                # Every line is returned; the plate rules judge confidence themselves.
                text_rec_score_thresh=0.0,
                # One line per batch: batching pads every line to the widest (often a
                # timestamp overlay), which costs more on CPU than it saves.
                text_recognition_batch_size=1,
                device="cpu",
                # oneDNN fails on these PIR models (ConvertPirAttribute2RuntimeAttribute).
                enable_mkldnn=False,
                # PaddleOCR defaults to 10 threads; more threads than cores only thrash.
                cpu_threads=cpu_threads or available_cores(),
            )
        except Exception as error:  # Paddle raises many kinds; all mean "cannot load"
            raise ModelsUnavailable(f"PaddleOCR could not load {paths}: {error}") from error
        self.load_seconds = time.perf_counter() - started
        self._lock = threading.Lock()

    def recognize(self, image: Image) -> list[TextLine]:
        try:
            with self._lock:
                results = self._ocr.predict(image)
        except Exception as error:  # mapped at the boundary: stages only see lprx errors
            raise RecognizerFailed(f"PaddleOCR failed on a {image.shape} image: {error}") from error
        lines: list[TextLine] = []
        for result in results:
            for text, score, polygon in zip(
                result["rec_texts"], result["rec_scores"], result["rec_polys"], strict=True
            ):
                lines.append(TextLine(str(text), float(score), _points(polygon)))
        return lines


def _points(polygon: Sequence[Sequence[float]]) -> tuple[tuple[float, float], ...]:
    return tuple((float(point[0]), float(point[1])) for point in polygon)


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


_shared: dict[ModelPaths, PaddleTextRecognizer] = {}
_shared_lock = threading.Lock()


def shared_paddle_recognizer(paths: ModelPaths) -> PaddleTextRecognizer:
    """The process's one recogniser for these models, loaded on first use."""
    with _shared_lock:
        recognizer = _shared.get(paths)
        if recognizer is None:
            recognizer = _shared[paths] = PaddleTextRecognizer(paths)
        return recognizer
