"""Plate OCR accuracy (cross-validated) and speed on this machine. Prints one JSON object.

- ``accuracy``: the shipped reader, as configured, on each development set (US, Europe,
  Brazil; found in ``<repo>/../shared/datasets`` or ``$LPRX_DATASETS_DIR``): top-1 and
  top-N exact, and the alert threshold's precision and recall;
- ``cross_validation`` (``ocr_cv``): the photos split into ``--folds`` folds, stratified
  by set; for each fold the few tunable knobs (``GRID``: format prior weights, the
  font-family pitch, the second recogniser's vote) are chosen on the other folds, then
  the held-out fold is scored with them; the confidence model (``evidence``: the
  ``--features`` of each read, fit by logistic regression) and the alert threshold
  (precision >= 0.99) are fit on the other folds too, and their held-out precision,
  recall and Brier score given, beside those of the score-only calibration
  (``score_only``). ``chosen_on_all`` is what the same choice makes on every photo (the
  shipped constants);
- ``naive_baseline_accuracy``: whole-frame PP-OCR, the first plate-shaped line taken;
- ``onnx_frames``: frames/s of the shipped 1280x720 sample frames, read as the OCR worker
  reads them, and ``onnx_frames_every_opinion`` with the second opinion asked of every
  read (frames taken in turns; ``load_average`` after); ``onnx_recognition_alone``:
  crops/s of recognition alone on plate-line crops; ``memory``: RSS over N frames.

Recognition results are cached by crop content within the run, so each grid point
re-reads only what it changes; the first (shipped) setting runs on an empty cache, so
``accuracy`` is what ``lprx ocr eval`` gives (eval asks the second opinion only where it
could change a decision, ``second_opinion_needed`` of the reads: the same plates,
precision and recall; the confidence of a read not asked is the lower of its two).

    nice -n 15 .venv/bin/python benchmarks/ocr.py [--folds 3] [--no-cv] [--frames 200]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import pickle
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.ocr_cv import (  # noqa: E402
    SHIPPED,
    Outcome,
    Photo,
    at_alert_threshold,
    cross_validate,
    rate,
    summary,
)
from connectors.samples import sample_frames  # noqa: E402
from pipelines.ocr import confidence  # noqa: E402
from pipelines.ocr.backends import build_recognizer  # noqa: E402
from pipelines.ocr.datasets import DEV_SETS, dataset  # noqa: E402
from pipelines.ocr.engine import Image, TextRecognizer  # noqa: E402
from pipelines.ocr.evaluate import load_labels  # noqa: E402
from pipelines.ocr.evidence import FEATURES, MODEL_FEATURES, opinion_can_matter  # noqa: E402
from pipelines.ocr.formats import FormatPrior  # noqa: E402
from pipelines.ocr.onnx_engine import OnnxTextRecognizer, crop_quad  # noqa: E402
from pipelines.ocr.onnx_models import ensure_onnx_models, ensure_voter_models  # noqa: E402
from pipelines.ocr.plates import (  # noqa: E402
    canonical_plate,
    is_plausible_plate,
    normalize_plate_text,
)
from pipelines.ocr.reader import PlateReader, PlateReadResult  # noqa: E402
from pipelines.settings import get_settings  # noqa: E402


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _key(array: Image) -> tuple[str, tuple[int, ...]]:
    return hashlib.md5(np.ascontiguousarray(array).tobytes()).hexdigest(), array.shape


def cache_recognition(
    recognizer: OnnxTextRecognizer, memo: dict[str, dict[Any, Any]] | None = None
) -> OnnxTextRecognizer:
    """The same recogniser with detection and line recognition memoised by content
    (in ``memo``, which ``--memo`` keeps on disk between runs of the same models)."""
    memo = {} if memo is None else memo
    detected = memo.setdefault("detect", {})
    real_detect = recognizer.detect

    def detect(image: Image, limit_side_len: int | None = None) -> Any:
        key = (_key(image), limit_side_len)
        if key not in detected:
            detected[key] = real_detect(image, limit_side_len)
        return [quad.copy() for quad in detected[key]]

    recognizer.detect = detect  # type: ignore[method-assign]
    for name, model in (("model", recognizer.model), ("voter", recognizer.voter)):
        if model is not None:
            model.recognize_crops = _memoised(  # type: ignore[method-assign]
                model.recognize_crops, memo.setdefault(name, {})
            )
    return recognizer


def _memoised(
    read: Callable[[Sequence[Image]], list[Any]], cache: dict[Any, Any]
) -> Callable[..., list[Any]]:

    def recognize_crops(crops: Sequence[Image]) -> list[Any]:
        keys = [_key(crop) for crop in crops]
        todo: dict[Any, int] = {}
        for index, key in enumerate(keys):
            if key not in cache:
                todo.setdefault(key, index)
        if todo:
            indices = list(todo.values())
            for index, result in zip(indices, read([crops[i] for i in indices]), strict=True):
                cache[keys[index]] = result
        return [cache[key] for key in keys]

    return recognize_crops


def load_photos(sets: Sequence[str], limit: int | None) -> list[Photo]:
    photos = []
    for name in sets:
        for label in load_labels(dataset(name))[:limit]:
            frame = cv2.imread(str(label.image), cv2.IMREAD_COLOR)
            if frame is not None:
                photos.append(Photo(name, label, np.asarray(frame, dtype=np.uint8)))
    return photos


def read_all(
    recognizer: OnnxTextRecognizer, photos: Sequence[Photo], knobs: dict[str, float]
) -> list[Outcome]:
    recognizer.voter_weight = knobs["voter_weight"] if recognizer.voter is not None else 0.0
    prior = FormatPrior(
        off_format=knobs["off_format"], swap=knobs["swap"], narrow_pitch=knobs["narrow_pitch"]
    )
    reader = PlateReader(recognizer, 10**9, prior=prior)
    outcomes = []
    for photo in photos:
        result = reader.read_frame(photo.frame)
        if not isinstance(result, PlateReadResult):
            outcomes.append(Outcome(False, False, 0.0, 0.0))
            continue
        plate = photo.label.plate
        outcomes.append(
            Outcome(
                result.plate == plate,
                any(candidate.plate == plate for candidate in result.candidates),
                result.candidates[0].score,
                result.confidence,
                result.plate,
                tuple(candidate.plate for candidate in result.candidates),
                result.evidence,
            )
        )
    return outcomes


def _memo_path(folder: Path | None, *models: Any) -> Path | None:
    if folder is None:
        return None
    digest = hashlib.sha256()
    for files in filter(None, models):
        for path in sorted(str(value) for value in dataclasses.astuple(files)):
            digest.update(Path(path).read_bytes())
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"ocr-memo-{digest.hexdigest()[:16]}.pickle"


def _load_memo(path: Path | None) -> dict[str, dict[Any, Any]]:
    # Only a file this benchmark wrote on this machine (--memo) is ever loaded.
    if path is None or not path.is_file():
        return {}
    loaded: dict[str, dict[Any, Any]] = pickle.loads(path.read_bytes())
    return loaded


def naive_baseline(photos: Sequence[Photo], recognizer: TextRecognizer) -> dict[str, Any]:
    """Whole-frame OCR, first plate-shaped line (top to bottom) taken as the plate."""
    per_set: dict[str, list[bool]] = {}
    for photo in photos:
        read = None
        for line in recognizer.recognize(photo.frame):
            plate, _ = normalize_plate_text(line.text)
            if is_plausible_plate(plate):
                read = canonical_plate(plate)
                break
        per_set.setdefault(photo.set_name, []).append(read == photo.label.plate)
    return {
        name: {
            "images": len(hits),
            "top1_exact": sum(hits),
            "top1_rate": rate(sum(hits), len(hits)),
        }
        for name, hits in per_set.items()
    }


def frames_per_second(
    readers: dict[str, PlateReader], frames: list[bytes], rounds: int
) -> dict[str, dict[str, Any]]:
    """Each reader's frames/s and latency, the readers taking turns frame by frame so
    that load from other processes falls on them alike."""
    for reader in readers.values():
        reader.read(frames[0])  # warm-up: first runs allocate
    latencies: dict[str, list[float]] = {name: [] for name in readers}
    for _ in range(rounds):
        for data in frames:
            for name, reader in readers.items():
                began = time.perf_counter()
                reader.read(data)
                latencies[name].append(time.perf_counter() - began)
    return {
        name: {
            "frames": len(spent),
            "frames_per_s": round(len(spent) / sum(spent), 2),
            "median_ms": round(statistics.median(spent) * 1000, 1),
            "p95_ms": round(float(np.percentile(spent, 95)) * 1000, 1),
        }
        for name, spent in latencies.items()
    }


def crops_per_second(
    recognizer: OnnxTextRecognizer, photos: Sequence[Photo], count: int
) -> dict[str, Any]:
    """Recognition alone, one crop per call (the latency a single plate sees)."""
    crops: list[Image] = []
    for photo in photos[:count]:
        quads = recognizer.detect(photo.frame)
        crops.extend(crop_quad(photo.frame, quad) for quad in quads[:1])
    figures: dict[str, Any] = {"crops": len(crops)}
    for name, model in (("", recognizer.model), ("voter_", recognizer.voter)):
        if model is None or not crops:
            continue
        model.recognize_crops(crops[:1])
        started = time.perf_counter()
        for crop in crops:
            model.recognize_crops([crop])
        figures[f"{name}crops_per_s"] = round(len(crops) / (time.perf_counter() - started), 1)
        started = time.perf_counter()
        model.recognize_crops(crops)
        figures[f"{name}batched_per_s"] = round(len(crops) / (time.perf_counter() - started), 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sets", nargs="*", default=list(DEV_SETS), help="dataset folder names")
    parser.add_argument("--limit", type=int, default=None, help="photos per set (subsets)")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--no-cv", action="store_true", help="skip the cross-validation")
    parser.add_argument("--no-speed", action="store_true", help="skip frames/s and crops/s")
    parser.add_argument("--frames", type=int, default=200, help="frames for the RSS run")
    parser.add_argument("--paddle", action="store_true", help="also the Paddle backend's speed")
    parser.add_argument(
        "--memo", type=Path, default=None,
        help="pickle of detection/recognition results by crop content, kept between runs "
        "(same models only: the file is keyed by the model files' digests)",
    )  # fmt: skip
    parser.add_argument("--misses", action="store_true", help="list each held-out miss")
    parser.add_argument(
        "--features", nargs="*", default=list(MODEL_FEATURES), choices=FEATURES,
        help="the evidence the confidence model is fit on (cross-validation)",
    )  # fmt: skip
    args = parser.parse_args()
    settings = get_settings()
    report: dict[str, Any] = {
        "cores": len(os.sched_getaffinity(0)),
        "frame_size": "1280x720",
        "rss_mib_start": rss_mib(),
    }
    photos = load_photos([name for name in args.sets if dataset(name).is_dir()], args.limit)
    report["datasets"] = sorted({photo.set_name for photo in photos})
    if photos:
        files, voter = ensure_onnx_models(settings), ensure_voter_models(settings)
        memo_path = _memo_path(args.memo, files, voter)
        memo = _load_memo(memo_path)
        cached = cache_recognition(OnnxTextRecognizer(files, voter), memo)
        shipped = read_all(cached, photos, SHIPPED)
        report["accuracy"] = {
            name: {
                **summary([o for p, o in zip(photos, shipped, strict=True) if p.set_name == name]),
                **at_alert_threshold(
                    [o for p, o in zip(photos, shipped, strict=True) if p.set_name == name],
                    confidence.alert_threshold(),
                ),
            }
            for name in report["datasets"]
        }
        report["accuracy"]["all"] = {
            **summary(shipped),
            **at_alert_threshold(shipped, confidence.alert_threshold()),
            # Reads whose second opinion the OCR worker asks (the rest cannot change).
            "second_opinion_needed": sum(
                outcome.evidence is not None
                and opinion_can_matter(
                    outcome.evidence,
                    (settings.ocr_min_confidence, confidence.alert_threshold()),
                )
                for outcome in shipped
            ),
        }
        report["naive_baseline_accuracy"] = naive_baseline(photos, cached)
        if not args.no_cv:
            report["cross_validation"] = cross_validate(
                lambda knobs: read_all(cached, photos, knobs),
                photos,
                args.folds,
                args.misses,
                args.features,
                settings.ocr_min_confidence,
            )
        if memo_path is not None:
            memo_path.write_bytes(pickle.dumps(memo))
    if not args.no_speed:
        frames = [frame.path.read_bytes() for frame in sample_frames()]
        onnx = build_recognizer(settings, "onnx")
        assert isinstance(onnx, OnnxTextRecognizer)
        decisions = (settings.ocr_min_confidence, confidence.alert_threshold())
        # As the OCR worker reads, and with the second opinion asked of every read.
        reader = PlateReader(onnx, settings.ocr_max_pixels, decisions=decisions)
        every_opinion = PlateReader(onnx, settings.ocr_max_pixels)
        timed = frames_per_second({"": reader, "every_opinion": every_opinion}, frames, 3)
        report["onnx_frames"] = timed[""]
        report["onnx_frames_every_opinion"] = timed["every_opinion"]
        report["load_average"] = [round(value, 1) for value in os.getloadavg()]
        if photos:
            report["onnx_recognition_alone"] = crops_per_second(onnx, photos, 60)
        rss_before = rss_mib()
        rounds = max(1, args.frames // len(frames))
        memory_run = frames_per_second({"": reader}, frames, rounds)[""]
        report["memory"] = {
            "frames": memory_run["frames"],
            "rss_mib_before": rss_before,
            "rss_mib_after": rss_mib(),
        }
        if args.paddle:
            paddle_reader = PlateReader(
                build_recognizer(settings, "paddle"), settings.ocr_max_pixels
            )
            report["paddle_frames"] = frames_per_second({"": paddle_reader}, frames, 1)[""]
    report["rss_mib_end"] = rss_mib()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
