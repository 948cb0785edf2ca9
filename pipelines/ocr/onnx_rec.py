"""One PP-OCR text-line recognition model on ONNX Runtime: crops in, CTC readings out.

Input 48 px high, scaled to [-1, 1]; output per time step a softmax over the model's
alphabet with the CTC blank at index 0 and a space as the last class (PP-OCRv4 and
PP-OCRv5 alike). Each reading keeps the greedy text over the whole alphabet (state names
and slogans are told apart by it) and the per-step probabilities folded onto the plate
alphabet (``ctc.fold``), which is all the plate rules need.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from pipelines.ocr.ctc import fold, fold_matrix
from pipelines.ocr.engine import Image, available_cores
from pipelines.ocr.errors import ModelsUnavailable, RecognizerFailed

# Lines recognised per model call (crops of one padded width only).
REC_BATCH = 8
# Crops are padded to a multiple of this many pixels (the model's time step is 8 px).
REC_WIDTH_STEP = 32
REC_PADDED_WIDTH = 320
REC_HEIGHT = 48
# PP-OCR rec models are trained on lines up to 320 px wide at 48 px high; a plate line
# is far shorter, so the cap only matters for long slogans.
REC_MAX_WIDTH = 640
# ONNX Runtime's "session.intra_op.allow_spinning" (see ``cpu_session``).
SPINNING = "0"
# A line model runs on one thread: its batches are a few 48 x 320 crops, whose many
# small operators gain less from a second thread than handing work over costs (one
# crop, 2 cores, load ~8: 14-17 ms of CPU and 15-18 ms wall on one thread; 15-19 ms and
# 15-29 ms on two, not spinning; 29-37 ms and 29-46 ms on two spinning, as before).
# The detector's large convolutions do gain from two (``OnnxTextRecognizer``).
REC_CPU_THREADS = 1


@dataclass(frozen=True)
class OnnxRecFiles:
    """A rec model and its character list (one per line)."""

    rec: Path
    keys: Path


@dataclass(frozen=True)
class CropRead:
    """A recognised crop: greedy CTC text over the model's whole alphabet, its
    confidence, and the softmax per step folded onto the plate alphabet."""

    text: str
    confidence: float
    folded: npt.NDArray[np.float32]
    """time steps x (2 + 36): no character, other symbol, 0-9, A-Z (``ctc.fold``)."""


class OnnxLineModel:
    """A PP-OCR rec model on CPU. Thread-safe; calls are serialised (2 cores)."""

    def __init__(self, files: OnnxRecFiles, cpu_threads: int | None = REC_CPU_THREADS) -> None:
        try:
            self._session: Any = cpu_session(files.rec, cpu_threads)
            keys = files.keys.read_text(encoding="utf-8").splitlines()
        except Exception as error:  # onnxruntime raises its own untyped errors
            raise ModelsUnavailable(f"ONNX Runtime could not load {files}: {error}") from error
        self.files = files
        self.alphabet: tuple[str, ...] = ("", *keys, " ")
        classes = int(self._session.get_outputs()[0].shape[-1])
        if classes != len(self.alphabet):
            raise ModelsUnavailable(
                f"{files.rec} predicts {classes} classes but {files.keys} lists "
                f"{len(keys)} characters (+ blank + space)"
            )
        self.fold = fold_matrix(self.alphabet)
        self._input = self._session.get_inputs()[0].name
        self._lock = threading.Lock()

    def recognize_crops(self, crops: Sequence[Image]) -> list[CropRead]:
        """Reads each crop (one text line). Crops are padded to a multiple of
        ``REC_WIDTH_STEP`` and batched only with crops of that padded width, so a crop
        reads the same whatever else is read with it (the model's attention sees the
        padding, so padding to a batch-mate's width would change its reading)."""
        buckets: dict[int, list[int]] = {}
        for index, crop in enumerate(crops):
            buckets.setdefault(padded_width(rec_width(crop)), []).append(index)
        reads: dict[int, CropRead] = {}
        for width, members in sorted(buckets.items()):
            for start in range(0, len(members), REC_BATCH):
                chunk = members[start : start + REC_BATCH]
                batch = self._recognize_batch([crops[i] for i in chunk], width)
                for index, read in zip(chunk, batch, strict=True):
                    reads[index] = read
        return [reads[index] for index in range(len(crops))]

    def _recognize_batch(self, crops: Sequence[Image], padded: int) -> list[CropRead]:
        if not crops:
            return []
        widths = [rec_width(crop) for crop in crops]
        batch = np.zeros((len(crops), 3, REC_HEIGHT, padded), dtype=np.float32)
        for index, (crop, width) in enumerate(zip(crops, widths, strict=True)):
            batch[index, :, :, :width] = rec_input(crop, width)
        try:
            with self._lock:
                output = self._session.run(None, {self._input: batch})[0]
        except Exception as error:
            raise RecognizerFailed(f"text recognition failed: {error}") from error
        reads = []
        for index, width in enumerate(widths):
            # Padding adds time steps of blank; keep only those over the real crop.
            steps = max(1, int(np.ceil(output.shape[1] * width / batch.shape[3])))
            probabilities = np.asarray(output[index, :steps], dtype=np.float32)
            text, confidence = greedy_decode(probabilities, self.alphabet)
            reads.append(CropRead(text, confidence, fold(probabilities, self.fold)))
        return reads


def cpu_session(model: Path, cpu_threads: int | None = None) -> Any:
    """An ONNX Runtime session on CPU for ``model`` (raises whatever ONNX Runtime does).

    Its intra-op threads sleep between runs instead of spinning (ONNX Runtime's default):
    the reader runs three sessions in turn, and on 2 cores the threads one session left
    spinning take the cores from the next one and from the Python between runs."""
    ort: Any = importlib.import_module("onnxruntime")  # ships no type hints
    options = ort.SessionOptions()
    options.intra_op_num_threads = cpu_threads or available_cores()
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", SPINNING)
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def padded_width(width: int) -> int:
    return max(REC_PADDED_WIDTH, -(-width // REC_WIDTH_STEP) * REC_WIDTH_STEP)


def rec_width(crop: Image) -> int:
    height, width = crop.shape[:2]
    return int(min(REC_MAX_WIDTH, max(8, np.ceil(REC_HEIGHT * width / max(1, height)))))


def rec_input(crop: Image, width: int) -> npt.NDArray[np.float32]:
    resized = cv2.resize(crop, (width, REC_HEIGHT), interpolation=cv2.INTER_LINEAR)
    return np.asarray((resized.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1))


def greedy_decode(
    probabilities: npt.NDArray[np.float32], alphabet: Sequence[str]
) -> tuple[str, float]:
    """CTC best path: argmax per step, repeats merged, blanks dropped; confidence is the
    mean probability of the kept characters (PaddleOCR's definition)."""
    best = probabilities.argmax(axis=1)
    scores = probabilities.max(axis=1)
    characters: list[str] = []
    kept: list[float] = []
    previous = -1
    for index, score in zip(best.tolist(), scores.tolist(), strict=True):
        if index not in (0, previous):
            characters.append(alphabet[index])
            kept.append(score)
        previous = index
    return "".join(characters), float(np.mean(kept)) if kept else 0.0
