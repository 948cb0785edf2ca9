"""Which model runtime reads the text: ONNX Runtime (default) or Paddle Inference.

Both run the same PaddleOCR PP-OCRv4 mobile det + rec weights; on ONNX Runtime a second
recogniser (PP-OCRv5 mobile rec) also votes when plate lines are read again. Measured on 2 cores on
the openalpr US dev photos, ONNX Runtime reads a 720p frame about 3-4 times faster than
Paddle Inference (oneDNN must stay off for these Paddle models) with the same rules, and
it exposes per-character probabilities, which the plate format rules use; so it is the
default. Paddle stays available for comparison (``backend="paddle"``).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Final

from pipelines.ocr.engine import TextRecognizer
from pipelines.ocr.errors import ModelsUnavailable
from pipelines.settings import Settings

ONNX: Final = "onnx"
PADDLE: Final = "paddle"
BACKENDS: Final = (ONNX, PADDLE)
DEFAULT_BACKEND: Final = ONNX

_shared: dict[tuple[str, str], TextRecognizer] = {}
_lock = threading.Lock()


def check_backend(backend: str) -> str:
    name = backend.strip().lower()
    if name not in BACKENDS:
        raise ModelsUnavailable(f"unknown OCR backend {backend!r}; choose one of {BACKENDS}")
    return name


def build_recognizer(settings: Settings, backend: str) -> TextRecognizer:
    """A new recogniser on ``backend``, its weights provisioned offline if missing."""
    name = check_backend(backend)
    if name == ONNX:
        from pipelines.ocr.onnx_engine import OnnxTextRecognizer
        from pipelines.ocr.onnx_models import ensure_onnx_models, ensure_voter_models

        return OnnxTextRecognizer(ensure_onnx_models(settings), ensure_voter_models(settings))
    from pipelines.ocr.engine import PaddleTextRecognizer
    from pipelines.ocr.models import ensure_models

    return PaddleTextRecognizer(ensure_models(settings))


def provision_models(settings: Settings, backend: str) -> list[Path]:
    """Fetches ``backend``'s weights into the cache now (``lprx models``) rather than at
    a worker's first frame; the folders they are in. Raises ModelsUnavailable."""
    name = check_backend(backend)
    if name == ONNX:
        from pipelines.ocr.onnx_models import ensure_onnx_models, ensure_voter_models

        first, voter = ensure_onnx_models(settings), ensure_voter_models(settings)
        return [first.det.parent, voter.rec.parent]
    from pipelines.ocr.models import ensure_models

    paths = ensure_models(settings)
    return [paths.det_dir.parent]


def shared_recognizer(settings: Settings, backend: str) -> TextRecognizer:
    """The process's one recogniser per backend and models folder (loading takes seconds)."""
    key = (check_backend(backend), str(settings.models_dir))
    with _lock:
        recognizer = _shared.get(key)
        if recognizer is None:
            recognizer = _shared[key] = build_recognizer(settings, key[0])
        return recognizer
